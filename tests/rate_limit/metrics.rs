//! The limiter's metrics: refusals by reason, and the waits it gives.
#![cfg(feature = "metrics")]

use std::num::NonZeroUsize;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tower::{Layer, ServiceExt, service_fn};
use tower_failover::metrics::{RATE_LIMIT_REJECTIONS, RATE_LIMIT_WAIT};
use tower_failover::rate_limit::{KeyedRateLimitLayer, NoLimits, RateLimitConfig, RateLimitLayer};

#[tokio::test(start_paused = true)]
async fn refusals_and_waits_are_recorded_with_the_limiters_name() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);

    let config = RateLimitConfig::builder()
        .name("openai")
        .requests(1, Duration::from_secs(1))
        .tokens(10, Duration::from_secs(1))
        .max_wait(Duration::from_millis(1_500))
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(config)
        .limits_from(NoLimits)
        .cost(|cost: &u32| *cost);
    let service = layer.layer(service_fn(|_: u32| async { Ok::<_, std::io::Error>(()) }));
    service.clone().oneshot(1).await.unwrap();
    service.clone().oneshot(1).await.unwrap(); // waits a second
    assert!(service.clone().oneshot(11).await.is_err()); // over capacity
    let waiting = tokio::spawn(service.clone().oneshot(1)); // waits a second
    tokio::task::yield_now().await;
    assert!(service.clone().oneshot(1).await.is_err()); // 2 s > 1.5 s
    waiting.await.unwrap().unwrap();

    let keyed = KeyedRateLimitLayer::new(
        RateLimitConfig::builder()
            .name("models")
            .max_wait(Duration::ZERO)
            .build()
            .unwrap(),
        |key: &&'static str| *key,
    )
    .max_limiters(NonZeroUsize::new(1).unwrap())
    .limits_from(NoLimits);
    let keyed = keyed.layer(service_fn(|_: &'static str| async {
        Ok::<_, std::io::Error>(())
    }));
    keyed.clone().oneshot("a").await.unwrap();
    assert!(keyed.clone().oneshot("b").await.is_err()); // no room

    let mut counters = Vec::new();
    let mut waits = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        match value {
            DebugValue::Counter(n) if key.name() == RATE_LIMIT_REJECTIONS => {
                counters.push((labels.join(","), n));
            }
            DebugValue::Histogram(values) if key.name() == RATE_LIMIT_WAIT => {
                assert_eq!(labels, ["limiter=openai"]);
                waits.extend(values.into_iter().map(|value| value.into_inner()));
            }
            _ => {}
        }
    }
    counters.sort();
    assert_eq!(
        counters,
        [
            ("limiter=models,reason=no_room".to_owned(), 1),
            ("limiter=openai,reason=limited".to_owned(), 1),
            ("limiter=openai,reason=over_capacity".to_owned(), 1),
        ]
    );
    assert_eq!(waits, [1.0, 1.0]);
}
