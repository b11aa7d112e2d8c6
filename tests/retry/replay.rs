//! Replaying streaming bodies through ReplayBodyLayer.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_failover::retry::{
    Attempt, Backoff, BodyReplay, ReplayBody, ReplayBodyLayer, RetryLayer, RetryPolicy,
};

type Seen = Arc<Mutex<Vec<(u32, Bytes, bool)>>>;

/// An upstream that records each body it reads and answers 503 until the
/// third attempt.
fn upstream<B>(
    seen: Seen,
) -> impl tower::Service<
    http::Request<ReplayBody<B>>,
    Response = http::Response<()>,
    Error = tower_failover::BoxError,
    Future = impl Send,
> + Clone
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<tower_failover::BoxError>,
{
    service_fn(move |request: http::Request<ReplayBody<B>>| {
        let seen = seen.clone();
        async move {
            let attempt = request
                .extensions()
                .get::<Attempt>()
                .map_or(0, |a| a.number());
            let replayable = request.body().is_replayable();
            let body = request
                .into_body()
                .collect()
                .await
                .map_err(Into::into)?
                .to_bytes();
            seen.lock().unwrap().push((attempt, body, replayable));
            let status = if attempt < 3 { 503 } else { 200 };
            Ok(http::Response::builder().status(status).body(()).unwrap())
        }
    })
}

fn policy() -> RetryPolicy {
    RetryPolicy::builder()
        .backoff(Backoff::none())
        .no_budget()
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_buffered_body_is_replayed_byte_for_byte() {
    let seen = Seen::default();
    let service = ServiceBuilder::new()
        .layer(ReplayBodyLayer::new(1024))
        .layer(RetryLayer::new(policy()).replay(BodyReplay))
        .service(upstream(seen.clone()));
    let chunks = ["{\"model\":", "\"gpt\",", "\"messages\":[]}"];
    let body = StreamBody::new(futures_stream(&chunks));
    let response = service.oneshot(http::Request::new(body)).await.unwrap();
    assert_eq!(response.status(), 200);
    let seen = seen.lock().unwrap();
    let expected = Bytes::from(chunks.concat());
    assert_eq!(seen.len(), 3);
    for (i, (attempt, body, replayable)) in seen.iter().enumerate() {
        assert_eq!(*attempt, i as u32 + 1);
        assert_eq!(body, &expected);
        assert!(replayable);
    }
}

#[tokio::test(start_paused = true)]
async fn a_body_over_the_limit_is_sent_once_intact() {
    let seen = Seen::default();
    let service = ServiceBuilder::new()
        .layer(ReplayBodyLayer::new(8))
        .layer(RetryLayer::new(policy()).replay(BodyReplay))
        .service(upstream(seen.clone()));
    let chunks = ["0123456", "789abcdef", "ghij"];
    let body = StreamBody::new(futures_stream(&chunks));
    let response = service.oneshot(http::Request::new(body)).await.unwrap();
    assert_eq!(response.status(), 503, "not replayable, so not retried");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].1, Bytes::from(chunks.concat()));
    assert!(!seen[0].2);
}

#[tokio::test(start_paused = true)]
async fn a_body_whose_size_hint_exceeds_the_limit_is_not_read_ahead() {
    let seen = Seen::default();
    let service = ServiceBuilder::new()
        .layer(ReplayBodyLayer::new(4))
        .layer(RetryLayer::new(policy()).replay(BodyReplay))
        .service(upstream(seen.clone()));
    let body = Full::new(Bytes::from_static(b"far too long"));
    let response = service.oneshot(http::Request::new(body)).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        seen.lock().unwrap()[0].1,
        Bytes::from_static(b"far too long")
    );
}

fn futures_stream(
    chunks: &[&'static str],
) -> impl futures_core::Stream<Item = Result<http_body::Frame<Bytes>, Infallible>> + Unpin + Send + 'static
{
    let frames: Vec<_> = chunks
        .iter()
        .map(|chunk| Ok(http_body::Frame::data(Bytes::from_static(chunk.as_bytes()))))
        .collect();
    tokio_stream_iter(frames)
}

/// `futures::stream::iter` without the futures crate.
fn tokio_stream_iter<T: Unpin>(items: Vec<T>) -> Iter<T> {
    Iter(items.into_iter())
}

struct Iter<T>(std::vec::IntoIter<T>);

impl<T: Unpin> futures_core::Stream for Iter<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        std::task::Poll::Ready(self.0.next())
    }
}
