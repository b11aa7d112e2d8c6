//! The `llm` feature's layers: what they cost a success, and what reading a
//! provider's error body costs a failure.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::Criterion;
use http_body::Body;
use http_body_util::Full;
use tower::{Layer, Service, service_fn};
use tower_failover::classify::{Classify, DefaultClassifier};
use tower_failover::llm::ProviderError;
use tower_failover::llm::error_body::ErrorBodyLayer;
use tower_failover::llm::sse::SseGuardLayer;

const QUOTA: &str = r#"{"error": {"message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#;

type Answer = http::Response<Full<Bytes>>;

const STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-sonnet-4-5\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/// An SSE upstream that answers at once with a three-event stream in one
/// frame.
fn sse_upstream() -> impl Service<http::Request<()>, Response = Answer, Error = Infallible> + Clone
{
    service_fn(|_: http::Request<()>| {
        let mut response = http::Response::new(Full::new(Bytes::from_static(STREAM.as_bytes())));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/event-stream"),
        );
        ready(Ok(response))
    })
}

/// An HTTP upstream that answers at once with `status` and `body`.
fn http_upstream(
    status: u16,
    body: &'static str,
) -> impl Service<
    http::Request<()>,
    Response = Answer,
    Error = Infallible,
    Future = Ready<Result<Answer, Infallible>>,
> + Clone {
    service_fn(move |_: http::Request<()>| {
        let mut response = http::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
        ready(Ok(response))
    })
}

/// One call, then its body read to the end; returns the bytes read.
fn call_and_drain<S, B>(service: &mut S) -> usize
where
    S: Service<http::Request<()>, Response = http::Response<B>>,
    B: Body,
{
    let mut cx = Context::from_waker(Waker::noop());
    if !matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))) {
        return 0;
    }
    let mut future = std::pin::pin!(service.call(http::Request::new(())));
    let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
        return 0;
    };
    let mut body = std::pin::pin!(response.into_body());
    let mut read = 0;
    while let Poll::Ready(Some(Ok(frame))) = Pin::as_mut(&mut body).poll_frame(&mut cx) {
        if let Some(data) = frame.data_ref() {
            read += bytes::Buf::remaining(data);
        }
    }
    read
}

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
