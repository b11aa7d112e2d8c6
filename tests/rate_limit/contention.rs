//! The compare-and-swap loops under real threads: with a burst and a
//! period so long that nothing refills meanwhile, exactly the burst passes
//! however many threads race for it. No timing is asserted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tower::{Layer, Service, ServiceExt, service_fn};
use tower_failover::rate_limit::{NoLimits, RateLimitConfig, RateLimitLayer};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// `tasks` tasks each sending `calls` requests costing `cost` tokens
/// through `layer`: how many were admitted.
async fn race(
    layer: RateLimitLayer<NoLimits, fn(&u32) -> u32>,
    tasks: u64,
    calls: u64,
    cost: u32,
) -> u64 {
    let admitted = Arc::new(AtomicU64::new(0));
    let service = layer.layer(service_fn(|_: u32| async { Ok::<_, std::io::Error>(()) }));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let mut service = service.clone();
            let admitted = admitted.clone();
            tokio::spawn(async move {
                for _ in 0..calls {
                    match service.ready().await.unwrap().call(cost).await {
                        Ok(()) => {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(error) => assert!(error.is_limited(), "{error}"),
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    admitted.load(Ordering::Relaxed)
}

fn priced(cost: &u32) -> u32 {
    *cost
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_threads_take_exactly_the_burst_of_requests() {
    let config = RateLimitConfig::builder()
        .requests(1_000, DAY)
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config)
        .limits_from(NoLimits)
        .cost(priced as fn(&u32) -> u32);
    let handle = layer.handle();
    assert_eq!(race(layer, 8, 500, 0).await, 1_000);
    assert_eq!(handle.available_requests(), 0);
    assert_eq!(handle.rejected(), 3_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_threads_take_exactly_the_burst_of_tokens() {
    let config = RateLimitConfig::builder()
        .requests(100_000, DAY)
        .tokens(5_000, DAY)
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config)
        .limits_from(NoLimits)
        .cost(priced as fn(&u32) -> u32);
    let handle = layer.handle();
    // 5,000 tokens at 7 a call: 714 calls, 2 tokens left over.
    assert_eq!(race(layer, 8, 250, 7).await, 714);
    assert_eq!(handle.available_tokens(), Some(2));
}
