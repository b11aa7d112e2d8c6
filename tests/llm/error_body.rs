//! `ErrorBodyLayer`: failed responses' bodies are read (within the limit) and
//! understood, and every caller still gets the upstream's bytes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_failover::classify::{Classify, DefaultClassifier, FailureKind};
use tower_failover::llm::ProviderError;
use tower_failover::llm::error_body::{ErrorBody, ErrorBodyLayer, ResponseBody};

/// A body that yields scripted frames, counts how often it was polled and
/// whether it is still alive.
struct Script {
    frames: VecDeque<Result<Frame<Bytes>, io::Error>>,
    hint: Option<SizeHint>,
    polls: Arc<AtomicUsize>,
    alive: Arc<AtomicUsize>,
    hang_at_end: bool,
}

#[derive(Clone, Default)]
struct Probe {
    polls: Arc<AtomicUsize>,
    alive: Arc<AtomicUsize>,
}

impl Probe {
    fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }

    fn alive(&self) -> usize {
        self.alive.load(Ordering::SeqCst)
    }

    fn body(&self, chunks: &[&str]) -> Script {
        self.alive.fetch_add(1, Ordering::SeqCst);
        Script {
            frames: chunks
                .iter()
                .map(|chunk| Ok(Frame::data(Bytes::copy_from_slice(chunk.as_bytes()))))
                .collect(),
            hint: None,
            polls: self.polls.clone(),
            alive: self.alive.clone(),
            hang_at_end: false,
        }
    }
}

impl Script {
    fn trailers(mut self, trailers: HeaderMap) -> Self {
        self.frames.push_back(Ok(Frame::trailers(trailers)));
        self
    }

    fn error(mut self) -> Self {
        self.frames
            .push_back(Err(io::Error::from(io::ErrorKind::ConnectionReset)));
        self
    }

    fn exact(mut self, len: u64) -> Self {
        self.hint = Some(SizeHint::with_exact(len));
        self
    }

    fn hang(mut self) -> Self {
        self.hang_at_end = true;
        self
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Body for Script {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        match self.frames.pop_front() {
            Some(frame) => Poll::Ready(Some(frame)),
            None if self.hang_at_end => Poll::Pending,
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.hint.unwrap_or_default()
    }
}

/// A service answering every call with `status` and the body `make` builds.
fn upstream(
    status: u16,
    make: impl Fn() -> Script + Clone + Send + 'static,
) -> ErrorBody<impl Service<(), Response = http::Response<Script>, Error = Infallible>> {
    ErrorBodyLayer::new().limit(16).layer(service_fn(move |()| {
        let body = make();
        async move {
            Ok::<_, Infallible>(
                http::Response::builder()
                    .status(status)
                    .body(body)
                    .unwrap(),
            )
        }
    }))
}

async fn collect(body: ResponseBody<Script>) -> (Vec<u8>, Option<HeaderMap>, Option<io::Error>) {
    let mut body = std::pin::pin!(body);
    let (mut data, mut trailers) = (Vec::new(), None);
    while let Some(frame) = body.frame().await {
        match frame {
            Err(error) => return (data, trailers, Some(error)),
            Ok(frame) => match frame.into_data() {
                Ok(chunk) => data.extend_from_slice(&chunk),
                Err(frame) => trailers = frame.into_trailers().ok(),
            },
        }
    }
    (data, trailers, None)
}

fn trailers() -> HeaderMap {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    trailers
}

#[tokio::test(start_paused = true)]
async fn a_success_is_not_read_at_all() {
    let probe = Probe::default();
    let make = {
        let probe = probe.clone();
        move || probe.body(&["{\"id\":", "1}"]).hang()
    };
    let response = upstream(200, make).oneshot(()).await.unwrap();
    assert_eq!(probe.polls(), 0, "the layer read a success's body");
    assert!(response.body().read_bytes().is_none());

    let mut body = std::pin::pin!(response.into_body());
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "{\"id\":");
    assert_eq!(probe.polls(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_error_body_within_the_limit_is_read_and_replayed_with_its_trailers() {
    let probe = Probe::default();
    let make = {
        let probe = probe.clone();
        move || {
            probe
                .body(&["{\"a\":", " 1,", "\"b\":2}"])
                .trailers(trailers())
        }
    };
    let response = upstream(503, make).oneshot(()).await.unwrap();
    // Read before the response was returned: three chunks and the trailers.
    assert_eq!(probe.polls(), 4);
    assert_eq!(probe.alive(), 0, "the read body was not released");
    assert_eq!(
        response.body().read_bytes(),
        Some(&b"{\"a\": 1,\"b\":2}"[..])
    );
    assert_eq!(response.body().size_hint().exact(), Some(14));

    let (data, got_trailers, error) = collect(response.into_body()).await;
    assert_eq!(data, b"{\"a\": 1,\"b\":2}");
    assert_eq!(got_trailers, Some(trailers()));
    assert!(error.is_none());
}

#[tokio::test(start_paused = true)]
async fn an_empty_error_body_is_read_as_empty() {
    let probe = Probe::default();
    let make = {
        let probe = probe.clone();
        move || probe.body(&[])
    };
    let response = upstream(500, make).oneshot(()).await.unwrap();
    assert_eq!(response.body().read_bytes(), Some(&b""[..]));
    assert!(response.body().is_end_stream());
    assert!(response.extensions().get::<ProviderError>().is_none());
    let (data, trailers, error) = collect(response.into_body()).await;
    assert!(data.is_empty() && trailers.is_none() && error.is_none());
}

#[tokio::test(start_paused = true)]
async fn an_error_body_found_over_the_limit_streams_on_untouched() {
    let probe = Probe::default();
    let chunks = ["0123456789", "abcdefghij", "ABCDEFGHIJ", "klmnop"];
    let make = {
        let probe = probe.clone();
        move || probe.body(&chunks)
    };
    let response = upstream(500, make).oneshot(()).await.unwrap();
    // The limit is 16: the second chunk passed it, and reading stopped there.
    assert_eq!(probe.polls(), 2);
    assert!(response.body().read_bytes().is_none());
    assert_eq!(probe.alive(), 1, "the rest of the body must still be there");

    let (data, _, error) = collect(response.into_body()).await;
    assert_eq!(data, chunks.concat().as_bytes());
    assert!(error.is_none());
    assert_eq!(probe.alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_error_body_known_to_be_too_large_is_not_read() {
    let probe = Probe::default();
    let make = {
        let probe = probe.clone();
        move || probe.body(&["0123456789abcdefghij"]).exact(20)
    };
    let response = upstream(502, make).oneshot(()).await.unwrap();
    assert_eq!(probe.polls(), 0);
    assert_eq!(response.body().size_hint().exact(), Some(20));
    let (data, _, _) = collect(response.into_body()).await;
    assert_eq!(data, b"0123456789abcdefghij");
}

#[tokio::test(start_paused = true)]
async fn an_error_body_that_fails_replays_what_arrived_then_the_error() {
    let probe = Probe::default();
    let make = {
        let probe = probe.clone();
        move || probe.body(&["{\"error\":"]).error()
    };
    let response = upstream(429, make).oneshot(()).await.unwrap();
    assert!(response.body().read_bytes().is_none());
    assert!(response.extensions().get::<ProviderError>().is_none());
    // Classified by its status.
    let result = Ok::<_, Infallible>(response);
    let outcome = DefaultClassifier.classify(&result);
    assert_eq!(
        outcome.as_failure().map(|failure| failure.kind()),
        Some(FailureKind::RateLimited)
    );

    let Ok(response) = result;
    let (data, _, error) = collect(response.into_body()).await;
    assert_eq!(data, b"{\"error\":");
    assert_eq!(
        error.map(|error| error.kind()),
        Some(io::ErrorKind::ConnectionReset)
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_while_reading_releases_the_body() {
    let probe = Probe::default();
    let make = {
        let probe = probe.clone();
        move || probe.body(&["{\"err"]).hang()
    };
    let mut future = Box::pin(upstream(500, make).oneshot(()));
    assert!(crate::support::poll_once(&mut future).await.is_none());
    assert_eq!(probe.alive(), 1);
    assert_eq!(probe.polls(), 2);
    drop(future);
    assert_eq!(probe.alive(), 0);
}

/// What the layer and the default classifier make of one provider body.
async fn classify(status: u16, body: &'static str) -> (FailureKind, http::Response<Bytes>) {
    let service = ErrorBodyLayer::new().layer(service_fn(move |()| async move {
        let response = http::Response::builder()
            .status(status)
            .body(http_body_util::Full::new(Bytes::from_static(
                body.as_bytes(),
            )))
            .unwrap();
        Ok::<_, Infallible>(response)
    }));
    let result = service.oneshot(()).await;
    let kind = DefaultClassifier
        .classify(&result)
        .as_failure()
        .map(|failure| failure.kind())
        .expect("a failure");
    let response = result.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (kind, http::Response::from_parts(parts, body))
}

#[tokio::test(start_paused = true)]
async fn the_body_refines_the_status() {
    const QUOTA: &str = r#"{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
    const CONTEXT: &str = r#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
    const OVERLOADED: &str =
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    const HTML: &str = "<html><body><h1>429 Too Many Requests</h1></body></html>";

    let (kind, response) = classify(429, QUOTA).await;
    assert_eq!(kind, FailureKind::QuotaExhausted);
    assert_eq!(response.body(), QUOTA.as_bytes());
    assert_eq!(
        response
            .extensions()
            .get::<ProviderError>()
            .and_then(ProviderError::code),
        Some("insufficient_quota")
    );

    assert_eq!(classify(400, CONTEXT).await.0, FailureKind::ContextTooLong);
    assert_eq!(classify(500, OVERLOADED).await.0, FailureKind::Overloaded);

    // Not a provider's JSON: the status decides, and nothing is attached.
    let (kind, response) = classify(429, HTML).await;
    assert_eq!(kind, FailureKind::RateLimited);
    assert!(response.extensions().get::<ProviderError>().is_none());
    assert_eq!(response.body(), HTML.as_bytes());
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "`ResponseFuture` polled after completion")]
async fn polling_after_completion_panics_without_polling_the_upstream_again() {
    let mut service = ErrorBodyLayer::new().layer(service_fn(|()| async {
        Ok::<_, Infallible>(http::Response::new(http_body_util::Empty::<Bytes>::new()))
    }));
    let mut future = Box::pin(service.call(()));
    assert!(crate::support::poll_once(&mut future).await.is_some());
    // An `async` block would panic with "resumed after completion"; the
    // layer must not get that far.
    let _ = crate::support::poll_once(&mut future).await;
}
