//! One limiter per key, a bounded number of them.

use std::num::NonZeroUsize;
use std::time::Duration;

use tower::{Layer, ServiceExt, service_fn};
use tower_failover::rate_limit::{KeyedRateLimitLayer, NoLimits, RateLimitConfig};

fn layer(
    max: usize,
) -> KeyedRateLimitLayer<&'static str, fn(&&'static str) -> &'static str, NoLimits> {
    let config = RateLimitConfig::builder()
        .requests(2, Duration::from_secs(1))
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    KeyedRateLimitLayer::new(config, (|model: &&'static str| *model) as fn(&_) -> _)
        .max_limiters(NonZeroUsize::new(max).unwrap())
        .limits_from(NoLimits)
}

#[tokio::test(start_paused = true)]
async fn each_key_has_its_own_budget() {
    let layer = layer(16);
    let handle = layer.handle();
    let service = layer.layer(service_fn(|_: &'static str| async {
        Ok::<_, std::io::Error>(())
    }));
    service.clone().oneshot("gpt-4o").await.unwrap();
    service.clone().oneshot("gpt-4o").await.unwrap();
    let error = service.clone().oneshot("gpt-4o").await.unwrap_err();
    assert!(error.is_limited());
    // Another model is untouched.
    service.clone().oneshot("claude").await.unwrap();
    service.clone().oneshot("claude").await.unwrap();
    assert_eq!(handle.get("gpt-4o").unwrap().available_requests(), 0);
    assert_eq!(handle.get("claude").unwrap().rejected(), 0);
    assert_eq!(handle.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_number_of_limiters_is_bounded_and_busy_ones_are_kept() {
    let layer = layer(2);
    let handle = layer.handle();
    let service = layer.layer(service_fn(|_: &'static str| async {
        Ok::<_, std::io::Error>(())
    }));
    service.clone().oneshot("busy").await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await; // "busy" refills: idle
    service.clone().oneshot("a").await.unwrap(); // "a" is not idle
    tokio::time::sleep(Duration::from_millis(10)).await;
    service.clone().oneshot("busy").await.unwrap(); // not idle again
    // A third key: the idle one goes, and none of the others.
    tokio::time::sleep(Duration::from_secs(5)).await;
    service.clone().oneshot("busy").await.unwrap();
    service.clone().oneshot("c").await.unwrap();
    assert_eq!(handle.len(), 2);
    assert!(handle.get("busy").is_some(), "{:?}", handle.keys());
    assert!(handle.get("c").is_some());
    for key in ["d", "e", "f", "g"] {
        service.clone().oneshot(key).await.unwrap();
        assert!(handle.len() <= 2);
    }
}
