//! One breaker per key, bounded, with second-chance eviction.

use std::num::NonZeroUsize;

use tower::{Service, ServiceExt};
use tower_failover::circuit_breaker::{BreakerError, KeyedCircuitBreakerLayer, State};
use tower_layer::Layer;

use crate::support::*;

#[tokio::test(start_paused = true)]
async fn each_key_has_its_own_breaker() {
    let layer =
        KeyedCircuitBreakerLayer::new(base().build().unwrap(), |model: &&'static str| *model)
            .name_with(|model: &&'static str| format!("model:{model}"));
    let handle = layer.handle();
    let upstream = Upstream::new();
    let mut service = layer.layer(upstream.clone());
    upstream.then_n(4, status(500));
    for _ in 0..4 {
        service.ready().await.unwrap().call("gpt").await.unwrap();
    }
    assert_eq!(handle.get("gpt").unwrap().state(), State::Open);
    let error = service
        .ready()
        .await
        .unwrap()
        .call("gpt")
        .await
        .unwrap_err();
    let BreakerError::Open(open) = error else {
        panic!("expected a rejection")
    };
    assert_eq!(open.name(), "model:gpt");
    // Another model is unaffected.
    let response = service.ready().await.unwrap().call("claude").await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(handle.get("claude").unwrap().state(), State::Closed);
    assert_eq!(handle.len(), 2);
    assert!(handle.remove("claude"));
    assert_eq!(handle.keys(), ["gpt"]);
}

#[tokio::test(start_paused = true)]
async fn the_number_of_breakers_is_bounded_and_open_ones_are_kept() {
    let layer = KeyedCircuitBreakerLayer::new(base().build().unwrap(), |key: &u32| *key)
        .max_breakers(NonZeroUsize::new(3).unwrap());
    let handle = layer.handle();
    let upstream = Upstream::new();
    let mut service = layer.layer(upstream.clone());
    // Key 0 opens.
    upstream.then_n(4, status(500));
    for _ in 0..4 {
        service.ready().await.unwrap().call(0).await.unwrap();
    }
    for key in 1..50 {
        service.ready().await.unwrap().call(key).await.unwrap();
        assert!(handle.len() <= 3);
    }
    // The open breaker was never evicted: the outage is remembered.
    assert_eq!(handle.get(&0).unwrap().state(), State::Open);
    assert!(handle.get(&49).is_some());
}

#[tokio::test(start_paused = true)]
async fn recently_used_breakers_get_a_second_chance() {
    let layer = KeyedCircuitBreakerLayer::new(base().build().unwrap(), |key: &u32| *key)
        .max_breakers(NonZeroUsize::new(3).unwrap());
    let handle = layer.handle();
    let mut service = layer.layer(Upstream::new());
    for key in [1, 2, 3, 4] {
        service.ready().await.unwrap().call(key).await.unwrap();
    }
    // Making room for 4 swept every breaker once and evicted one of 1–3.
    let mut survivors: Vec<u32> = handle.keys().into_iter().filter(|&k| k != 4).collect();
    survivors.sort_unstable();
    let [oldest, other] = survivors[..] else {
        panic!("expected two of 1–3 to survive, got {survivors:?}");
    };
    // Use the oldest survivor again: first in, but recently used.
    service.ready().await.unwrap().call(oldest).await.unwrap();
    service.ready().await.unwrap().call(5).await.unwrap();
    let mut left = handle.keys();
    left.sort_unstable();
    // First-in-first-out would have evicted `oldest`; second chance evicts
    // the one not used since the sweep.
    assert_eq!(left, [oldest, 4, 5], "{other} should have gone");

    // When every breaker is open, one is evicted anyway: still bounded.
    for key in handle.keys() {
        handle.get(&key).unwrap().force_open();
    }
    service.ready().await.unwrap().call(6).await.unwrap();
    assert_eq!(handle.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn settings_changed_after_taking_a_handle_keep_the_handle_attached() {
    let layer = KeyedCircuitBreakerLayer::new(base().build().unwrap(), |key: &u32| *key);
    let handle = layer.handle();
    let layer = layer
        .max_breakers(NonZeroUsize::new(2).unwrap())
        .name_with(|key: &u32| format!("model-{key}"));
    let mut service = layer.layer(Upstream::new());
    for key in [1, 2, 3] {
        service.ready().await.unwrap().call(key).await.unwrap();
    }
    assert_eq!(
        handle.len(),
        2,
        "the handle sees the service's breakers, bounded"
    );
    assert_eq!(handle.get(&3).unwrap().name(), "model-3");
}
