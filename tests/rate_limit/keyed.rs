//! One limiter per key, a bounded number of them.

use std::num::NonZeroUsize;
use std::time::Duration;

use tower::{Layer, ServiceExt, service_fn};
use tower_failover::rate_limit::{KeyedRateLimitLayer, Limits, NoLimits, RateLimitConfig};

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
async fn the_number_of_limiters_is_bounded_and_only_idle_ones_are_forgotten() {
    let layer = layer(2);
    let handle = layer.handle();
    let service = layer.layer(service_fn(|_: &'static str| async {
        Ok::<_, std::io::Error>(())
    }));
    service.clone().oneshot("a").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    service.clone().oneshot("b").await.unwrap();
    // Both are busy (a slot used, refilling): the new key is refused, not
    // given a fresh limiter in the place of one that is not full.
    let error = service.clone().oneshot("c").await.unwrap_err();
    let limited = error.as_limited().expect("refused by the keyed limiter");
    assert_eq!(
        limited.to_string(),
        "no room for a new key in the caller-side limiter: rate_limit"
    );
    // "a" is full again 500 ms after its call.
    assert_eq!(limited.retry_after(), Some(Duration::from_millis(400)));
    assert_eq!(handle.keys().len(), 2);
    assert!(handle.get("c").is_none());
    // Keys already present are served as before.
    service.clone().oneshot("b").await.unwrap();

    tokio::time::sleep(Duration::from_millis(400)).await;
    service.clone().oneshot("c").await.unwrap();
    assert_eq!(handle.len(), 2);
    assert!(handle.get("a").is_none(), "{:?}", handle.keys());
    assert!(handle.get("b").is_some() && handle.get("c").is_some());
}

#[tokio::test(start_paused = true)]
async fn a_paused_limiter_is_never_forgotten() {
    let config = RateLimitConfig::builder()
        .requests(2, Duration::from_secs(1))
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    let layer = KeyedRateLimitLayer::new(config, |(key, _): &(&'static str, Limits)| *key)
        .max_limiters(NonZeroUsize::new(2).unwrap())
        .limits_from(|limits: &Limits| *limits);
    let handle = layer.handle();
    let service = layer.layer(service_fn(
        |(_, limits): (&'static str, Limits)| async move { Ok::<_, std::io::Error>(limits) },
    ));
    let pause = Limits::NONE.with_retry_after(Duration::from_secs(60));
    service.clone().oneshot(("paused", pause)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await; // its bucket is full
    service.clone().oneshot(("x", Limits::NONE)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await; // so is "x"'s
    service.clone().oneshot(("y", Limits::NONE)).await.unwrap();
    assert!(handle.get("x").is_none(), "{:?}", handle.keys());
    // "y" is busy, "paused" waits out its pause: no room.
    let error = service
        .clone()
        .oneshot(("z", Limits::NONE))
        .await
        .unwrap_err();
    assert!(error.is_limited());
    let paused = handle.get("paused").expect("kept");
    assert_eq!(paused.paused_for(), Some(Duration::from_secs(50)));
}

#[tokio::test(start_paused = true)]
async fn max_limiters_changes_the_bound_in_place() {
    let layer = layer(16);
    let handle = layer.handle();
    let early = layer.layer(service_fn(|_: &'static str| async {
        Ok::<_, std::io::Error>(())
    }));
    early.clone().oneshot("a").await.unwrap();
    // Lowered on the layer: the handle taken and the service built before
    // still see the same limiters, and the new bound.
    let layer = layer.max_limiters(NonZeroUsize::new(1).unwrap());
    assert_eq!(handle.len(), 1);
    let late = layer.layer(service_fn(|_: &'static str| async {
        Ok::<_, std::io::Error>(())
    }));
    late.clone().oneshot("a").await.unwrap();
    assert_eq!(handle.get("a").unwrap().available_requests(), 0);
    assert!(early.clone().oneshot("b").await.unwrap_err().is_limited());
    tokio::time::sleep(Duration::from_secs(1)).await;
    early.clone().oneshot("b").await.unwrap();
    assert_eq!(handle.keys(), ["b"]);
}

#[tokio::test(start_paused = true)]
async fn a_lowered_bound_forgets_idle_limiters_until_it_holds() {
    let layer = layer(16);
    let handle = layer.handle();
    let service = layer.layer(service_fn(|_: &'static str| async {
        Ok::<_, std::io::Error>(())
    }));
    for key in ["a", "b", "c", "d"] {
        service.clone().oneshot(key).await.unwrap();
    }
    assert_eq!(handle.len(), 4);
    // Every limiter idle once its turn has come back: lowering the bound
    // to 2 and adding a key leaves 2, not 4 (one forgotten per new key).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let layer = layer.max_limiters(NonZeroUsize::new(2).unwrap());
    let service = layer.layer(service_fn(|_: &'static str| async {
        Ok::<_, std::io::Error>(())
    }));
    service.clone().oneshot("e").await.unwrap();
    assert_eq!(handle.len(), 2);
    assert!(handle.get("e").is_some());
}
