//! Server-sent event streams that fail loudly: a stream is not a success
//! until its first event has arrived, and a stream that stalls or breaks
//! after that ends with an error, never with a clean-looking end.
//!
//! LLM APIs stream answers as `text/event-stream` after a `200 OK`, and the
//! status says little: Anthropic sends `event: error` with an
//! `overloaded_error` after the 200, OpenAI and OpenRouter send
//! `data: {"error": {…}}`, a provider may keep the connection open with
//! comments (OpenRouter's `: OPENROUTER PROCESSING`) and never answer, or
//! close it before a single event. Retry, circuit breaking and fallback only
//! see the response future, so the [`SseGuard`] holds it back until the
//! stream has shown what it is.
//!
//! # What is guarded
//!
//! Only responses with a success status (2xx) and
//! `content-type: text/event-stream` (case-insensitive, parameters such as
//! `; charset=utf-8` allowed). Every other response passes through
//! untouched, in [`SseBody`]'s pass-through form: same body, no timer, no
//! parsing (a few branches per frame).
//!
//! # Before the first event: not committed
//!
//! For a guarded response the [`ResponseFuture`] does not resolve on the
//! headers. It reads the body, feeding an [`EventReader`], until the first
//! event is *dispatched* (a block with `data`, ended by a blank line;
//! comments and blocks without `data` do not count). Then:
//!
//! - the first event is an error — its type is `error`, or its data is a
//!   JSON object with a top-level `"error"` key — → `Err(`[`StreamErrorEvent`]`)`,
//!   carrying what [`ProviderError::parse_event`](crate::llm::ProviderError::parse_event)
//!   made of the data; it is classified as that error's kind (Anthropic's
//!   `overloaded_error` is [`Overloaded`](crate::classify::FailureKind::Overloaded)),
//!   or [`Transient`](crate::classify::FailureKind::Transient);
//! - the first-event timeout elapses → `Err(`[`StreamTimedOut`]`)`
//!   ([`Timeout`](crate::classify::FailureKind::Timeout)). It counts from
//!   `call`, so it covers the wait for the headers too (not time in
//!   `poll_ready`). If the current [`Deadline`](crate::deadline::Deadline)
//!   is earlier, the timer fires at the deadline instead, with
//!   [`DeadlineExceeded`](crate::deadline::DeadlineExceeded) (not retried,
//!   like an attempt timeout clipped by the deadline);
//! - the body fails → `Err(that error)`, boxed with its source chain
//!   intact (an `io::Error` stays an `io::Error` to the classifier);
//! - the body ends before any event → `Err(`[`StreamEnded`]`)`
//!   ([`Transient`](crate::classify::FailureKind::Transient)): an LLM
//!   stream with no event is a truncated answer;
//! - otherwise the call **commits**: `Ok(response)`, whose [`SseBody`]
//!   yields first every byte read so far — byte for byte, nothing
//!   re-serialised, including a partial next event — then the rest of the
//!   inner body.
//!
//! If the bytes read before the first event grow beyond
//! [`max_first_event_bytes`](SseGuardLayerBuilder::max_first_event_bytes)
//! (64 KiB by default; comments count), the guard cannot judge the stream:
//! it commits and passes everything through, so memory stays bounded (the
//! bound plus one frame). In every failure case the inner body (or future)
//! is dropped at once, releasing the connection, and a `tracing` event is
//! emitted (`layer = "sse"`, `outcome` = `error_event`, `timeout`, `ended`
//! or `transport_error`, `kind`, …).
//!
//! # After the first event: errors, never a silent end
//!
//! Once committed, the body is watched, not parsed: an O(1)-state scan for
//! blank lines (LF, CRLF or CR line ends, split across frames), no per-event
//! JSON, no allocation beyond the inner body's.
//!
//! - The **idle timeout** restarts at the commit and whenever an event
//!   block ends (a blank line). Comment-only blocks and pings count: they
//!   show the connection is alive. If it fires, the body yields
//!   `Err(`[`StreamTimedOut`]`)` once, drops the inner body and then ends.
//! - A transport error is passed on as the body's error (boxed, chain
//!   intact), and the body ends.
//! - In-band error events after the commit are passed through as data: the
//!   caller's SSE client sees them. The response was already handed out, so
//!   no layer above can retry or fall back any more.
//!
//! Nothing bounds a committed stream's total length except the idle
//! timeout.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tower_failover::BoxError> {
//! use std::time::Duration;
//! use http_body_util::BodyExt;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_failover::llm::sse::{SseGuardLayer, StreamErrorEvent};
//!
//! let guard = SseGuardLayer::builder()
//!     .first_event_timeout(Duration::from_secs(10))
//!     .idle_timeout(Duration::from_secs(30))
//!     .build()?;
//!
//! // An upstream that answers 200 and then reports an error in the stream.
//! let overloaded = service_fn(|_: http::Request<String>| async {
//!     let body = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
//!     let response = http::Response::builder()
//!         .header("content-type", "text/event-stream")
//!         .body(http_body_util::Full::new(bytes::Bytes::from(body)))?;
//!     Ok::<_, tower_failover::BoxError>(response)
//! });
//! let service = ServiceBuilder::new().layer(guard).service(overloaded);
//! let error = service.oneshot(http::Request::new(String::new())).await.unwrap_err();
//! let event = error.downcast_ref::<StreamErrorEvent>().unwrap();
//! assert_eq!(event.event_type(), "error");
//!
//! // A healthy stream commits on its first event and is delivered whole.
//! let healthy = service_fn(|_: http::Request<String>| async {
//!     let body = ": ping\n\ndata: {\"delta\":\"Hel\"}\n\ndata: {\"delta\":\"lo\"}\n\n";
//!     let response = http::Response::builder()
//!         .header("content-type", "text/event-stream; charset=utf-8")
//!         .body(http_body_util::Full::new(bytes::Bytes::from(body)))?;
//!     Ok::<_, tower_failover::BoxError>(response)
//! });
//! let service = ServiceBuilder::new().layer(guard).service(healthy);
//! let response = service.oneshot(http::Request::new(String::new())).await?;
//! let bytes = response.into_body().collect().await?.to_bytes();
//! assert!(bytes.starts_with(b": ping\n\ndata: {\"delta\":\"Hel\"}"));
//! # Ok(())
//! # }
//! ```
//!
//! # Order
//!
//! Inside each tier, below retry, the circuit breaker and the attempt
//! timeout, so that its failures are classified, retried, counted and fall
//! back like any other:
//!
//! ```text
//! TimeoutBudgetLayer
//!   FallbackLayer
//!     per tier: RetryLayer → CircuitBreakerLayer → AttemptTimeoutLayer → SseGuardLayer → client
//! ```
//!
//! An attempt timeout above the guard then covers the headers *and* the
//! first event (the response future only resolves after it). Once the
//! stream is committed, only the idle timeout watches it: no layer above
//! sees the body.
//!
//! # Errors
//!
//! Errors are [`BoxError`]s: [`StreamErrorEvent`], [`StreamTimedOut`],
//! [`StreamEnded`], [`DeadlineExceeded`](crate::deadline::DeadlineExceeded),
//! or the inner service's or body's error unchanged inside the box. The
//! [default classifier](crate::classify::DefaultClassifier) recognises
//! all of them.
//!
//! # Body types
//!
//! The inner response body must be `Unpin` (hyper's `Incoming`, reqwest's
//! body and the boxed bodies of `http-body-util` are), because the guard
//! moves it into the [`SseBody`] after reading from it. Box a body that is
//! not.

mod body;
#[cfg(feature = "serde")]
mod de;
mod error;
mod future;
mod layer;
mod reader;

use std::task::{Context, Poll};

use http_body::Body;
use tokio::time::Instant;
use tower_service::Service;

pub use self::body::SseBody;
pub use self::error::{StreamEnded, StreamErrorEvent, StreamTimedOut};
pub use self::future::ResponseFuture;
use self::layer::Config;
pub use self::layer::{
    DEFAULT_MAX_FIRST_EVENT_BYTES, MAX_FIRST_EVENT_BYTES, SseGuardLayer, SseGuardLayerBuilder,
};
pub use self::reader::{Event, EventReader, EventTooLarge};
use crate::BoxError;

/// Holds back a streamed response until its first server-sent event, and
/// makes a stream that stalls or breaks afterwards end with an error. See
/// the [module docs](self).
#[derive(Clone, Debug)]
pub struct SseGuard<S> {
    inner: S,
    config: Config,
}

impl<S> SseGuard<S> {
    fn from_parts(inner: S, config: Config) -> Self {
        Self { inner, config }
    }

    /// A reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// A mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, B> Service<http::Request<ReqB>> for SseGuard<S>
where
    S: Service<http::Request<ReqB>, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<SseBody<B>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, B>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<ReqB>) -> Self::Future {
        // Read the clock only when a timer needs it.
        let now = self.config.first_event_timeout.map(|_| Instant::now());
        ResponseFuture::new(self.inner.call(request), self.config, now)
    }
}
