//! The rate over a long window, and one budget across clones.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_failover::rate_limit::{NoLimits, RateLimitConfig, RateLimitLayer};

use crate::support::Upstream;

/// 100 requests a second for ten minutes of paused time, 50 callers
/// hammering the limiter through their own clones: the upstream sees the
/// burst plus 100 a second, within 1 %, and never more.
#[tokio::test(start_paused = true)]
async fn the_rate_over_ten_minutes_matches_the_config_within_one_percent() {
    let config = RateLimitConfig::builder()
        .requests(100, Duration::from_secs(1))
        .max_wait(Duration::from_millis(250))
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config).limits_from(NoLimits);
    let start = Instant::now();
    let end = start + Duration::from_secs(600);
    let admitted = Arc::new(AtomicU64::new(0));
    let upstream = {
        let admitted = admitted.clone();
        service_fn(move |(): ()| {
            if Instant::now() < end {
                admitted.fetch_add(1, Ordering::Relaxed);
            }
            async { Ok::<_, std::io::Error>(()) }
        })
    };
    let service = layer.layer(upstream);
    let callers: Vec<_> = (0..50)
        .map(|_| {
            let mut service = service.clone();
            tokio::spawn(async move {
                while Instant::now() < end {
                    match service.ready().await.unwrap().call(()).await {
                        Ok(()) => {}
                        Err(error) => {
                            let after = error.as_limited().unwrap().retry_after().unwrap();
                            // Come back a little before the turn: the next
                            // call waits for it.
                            tokio::time::sleep(after.saturating_sub(Duration::from_millis(100)))
                                .await;
                        }
                    }
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    let admitted = admitted.load(Ordering::Relaxed);
    let expected = 100 + 600 * 100;
    assert!(
        admitted.abs_diff(expected) <= expected / 100,
        "admitted {admitted}, expected {expected} ± 1 %"
    );
    assert!(admitted <= expected, "admitted {admitted} > {expected}");
}

/// Two clones of one service, and a second service from the same layer,
/// draw from one bucket.
#[tokio::test(start_paused = true)]
async fn clones_and_services_of_one_layer_share_one_budget() {
    let config = RateLimitConfig::builder()
        .requests(5, Duration::from_secs(1))
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config);
    let upstream = Upstream::new([]);
    let mut a = layer.layer(upstream.service());
    let mut b = a.clone();
    let mut c = layer.clone().layer(upstream.service());
    for _ in 0..2 {
        a.ready().await.unwrap().call(()).await.unwrap();
        b.ready().await.unwrap().call(()).await.unwrap();
    }
    c.ready().await.unwrap().call(()).await.unwrap();
    for service in [&mut a, &mut b, &mut c] {
        let error = service.ready().await.unwrap().call(()).await.unwrap_err();
        assert!(error.is_limited());
    }
    assert_eq!(upstream.count(), 5);
    assert_eq!(layer.handle().rejected(), 3);

    // A fifth of a second later, one more for whichever clone asks.
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.ready().await.unwrap().call(()).await.unwrap();
    assert!(a.ready().await.unwrap().call(()).await.is_err());
    assert_eq!(upstream.count(), 6);
}

/// A call that cannot pass at once waits for its turn, up to `max_wait`.
#[tokio::test(start_paused = true)]
async fn a_call_waits_for_its_turn_within_max_wait() {
    let config = RateLimitConfig::builder()
        .requests(10, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_millis(250))
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config);
    let upstream = Upstream::new([]);
    let service = layer.layer(upstream.service());
    let calls: Vec<_> = (0..4)
        .map(|_| tokio::spawn(service.clone().oneshot(())))
        .collect();
    let mut limited = 0;
    for call in calls {
        if call.await.unwrap().is_err() {
            limited += 1;
        }
    }
    // 0, 100 ms, 200 ms; the fourth would wait 300 ms > 250 ms.
    assert_eq!(
        upstream.offsets(),
        [0, 100, 200].map(Duration::from_millis).to_vec()
    );
    assert_eq!(limited, 1);
    assert_eq!(layer.handle().waited(), 2);
}

/// `ServiceBuilderExt::shared_rate_limit` adds this crate's shared limiter
/// (tower's inherent `rate_limit` would add a per-clone one).
#[cfg(feature = "full")]
#[tokio::test(start_paused = true)]
async fn the_builder_method_adds_the_shared_limiter() {
    use tower::ServiceBuilder;
    use tower_failover::ServiceBuilderExt;

    let config = RateLimitConfig::builder()
        .requests(1, Duration::from_secs(1))
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    let upstream = Upstream::new([]);
    let service = ServiceBuilder::new()
        .shared_rate_limit(config)
        .service(upstream.service());
    service.clone().oneshot(()).await.unwrap();
    let error = service.clone().oneshot(()).await.unwrap_err();
    assert!(error.is_limited());
    assert_eq!(upstream.count(), 1);
}
