//! The `llm` feature's layers: what they cost a success, and what reading a
//! provider's error body costs a failure.

use std::hint::black_box;
use std::task::{Context, Poll, Waker};

use criterion::Criterion;
use tower::{Layer, Service};
use tower_failover::classify::{Classify, DefaultClassifier};
use tower_failover::llm::ProviderError;
use tower_failover::llm::error_body::ErrorBodyLayer;
use tower_failover::llm::sse::SseGuardLayer;

#[path = "../support/llm.rs"]
mod upstreams;

use self::upstreams::{QUOTA, call_and_drain, http_upstream, sse_upstream};

pub(crate) fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("llm");

    let mut bare = http_upstream(200, "{\"id\":\"chatcmpl-1\"}");
    group.bench_function("bare_http_with_body", |b| {
        b.iter(|| call_and_drain(black_box(&mut bare)))
    });
    let mut error_body = ErrorBodyLayer::new().layer(http_upstream(200, "{\"id\":\"chatcmpl-1\"}"));
    group.bench_function("error_body_success", |b| {
        b.iter(|| call_and_drain(black_box(&mut error_body)))
    });

    // A 429 whose body says the quota is spent: read, parsed, classified.
    let mut quota = ErrorBodyLayer::new().layer(http_upstream(429, QUOTA));
    group.bench_function("error_body_quota_429_read_and_classified", |b| {
        b.iter(|| {
            let mut cx = Context::from_waker(Waker::noop());
            let mut future = std::pin::pin!(quota.call(http::Request::new(())));
            let Poll::Ready(result) = future.as_mut().poll(&mut cx) else {
                unreachable!("the upstream answers at once");
            };
            DefaultClassifier.classify(black_box(&result))
        })
    });
    let sse = || {
        SseGuardLayer::builder()
            .first_event_timeout(std::time::Duration::from_secs(30))
            .idle_timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap()
    };
    let mut bare_stream = sse_upstream();
    group.bench_function("bare_sse_stream", |b| {
        b.iter(|| call_and_drain(black_box(&mut bare_stream)))
    });
    let mut guarded_stream = sse().layer(sse_upstream());
    group.bench_function("sse_guard_stream", |b| {
        b.iter(|| call_and_drain(black_box(&mut guarded_stream)))
    });
    let mut guarded_json = sse().layer(http_upstream(200, "{\"id\":\"chatcmpl-1\"}"));
    group.bench_function("sse_guard_not_a_stream", |b| {
        b.iter(|| call_and_drain(black_box(&mut guarded_json)))
    });
    group.bench_function("provider_error_parse", |b| {
        b.iter(|| {
            ProviderError::parse(
                http::StatusCode::TOO_MANY_REQUESTS,
                black_box(QUOTA.as_bytes()),
            )
        })
    });
    group.finish();
}
