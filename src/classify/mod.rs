//! Classification: one cheap, synchronous answer to "what went wrong?",
//! shared by every layer.
//!
//! A [`Classify`] implementation turns `&Result<Response, Error>` into an
//! [`Outcome`]: a success, or a [`Failure`] of some [`FailureKind`] carrying
//! the server's [`Hint`](crate::hint::Hint). Retry, circuit breaking and
//! fallback all ask the same classifier, so "what is a failure" is decided in
//! one place, and the table on [`FailureKind`] says what each layer does with
//! each kind.
//!
//! The classifier never awaits and never reads a body. Signals that live in
//! an error *body* (quota exhausted versus rate limited, context length) are
//! read by a dedicated inner layer that buffers only non-success bodies and
//! attaches what it found to the response; the classifier then reads that
//! from the response's extensions, still synchronously.
//!
//! # The default classifier
//!
//! [`DefaultClassifier`] understands `http::Response<B>` with any error type
//! that implements [`AsDynError`]:
//!
//! - `1xx`, `2xx` and `3xx` are successes;
//! - 408 is [`Timeout`](FailureKind::Timeout), 409 is
//!   [`Transient`](FailureKind::Transient) (a conflicting concurrent request;
//!   the official SDKs retry it), 429 [`RateLimited`](FailureKind::RateLimited),
//!   402 [`QuotaExhausted`](FailureKind::QuotaExhausted), 401 and 403
//!   [`Auth`](FailureKind::Auth), 404 [`ModelNotFound`](FailureKind::ModelNotFound),
//!   413 [`ContextTooLong`](FailureKind::ContextTooLong), every other 4xx
//!   [`Invalid`](FailureKind::Invalid);
//! - 529 is [`Overloaded`](FailureKind::Overloaded), 501 and 505 (the server
//!   will never support this request) are [`Invalid`](FailureKind::Invalid),
//!   every other 5xx (and any status above 599) is
//!   [`Transient`](FailureKind::Transient);
//! - on a failure, the response headers are read for a hint
//!   ([`Hint::from_headers`](crate::hint::Hint::from_headers));
//! - errors are classified by walking their [`source`](std::error::Error::source)
//!   chain, outermost first, and taking the first error it recognises: this
//!   crate's own errors (a circuit breaker's `CircuitOpen`, an elapsed
//!   deadline, an attempt timeout, and, with `rate-limit`, the caller-side
//!   limiter's `RateLimited`, a [`RateLimited`](FailureKind::RateLimited)
//!   failure carrying its wait as the hint), tower's and tokio's `Elapsed`,
//!   `std::io::Error` (by [`ErrorKind`](std::io::ErrorKind)), hyper-util's
//!   client error (with the `hyper-util` feature), `reqwest::Error` (with
//!   `reqwest`, see [below](#reqwest)), tonic's errors (with `tonic`, see
//!   [gRPC](#grpc)), and, with the `llm`
//!   feature, the SSE guard's errors: a stream timeout
//!   (`llm::sse::StreamTimedOut`) is [`Timeout`](FailureKind::Timeout), an
//!   error event before the first event (`llm::sse::StreamErrorEvent`) is
//!   its provider error's kind (else [`Transient`](FailureKind::Transient))
//!   with that error's `retry_after` as the hint, and a stream that ended
//!   before its first event (`llm::sse::StreamEnded`) is
//!   [`Transient`](FailureKind::Transient). An error it does not
//!   recognise is [`Transient`](FailureKind::Transient): a transport failure
//!   that a retry may well cure, as the official LLM SDKs treat it.
//!
//! # gRPC
//!
//! A gRPC server answers a failed call with HTTP 200 and the status in
//! `grpc-status`, either in the response headers (a *trailers-only*
//! response: how tonic sends a handler's `Err(Status)`, and how most servers
//! and proxies send an error before any message) or in the trailers after a
//! streamed body. [`DefaultClassifier`] sees only the HTTP status and calls
//! both a success; [`GrpcClassifier`] reads `grpc-status` from the headers.
//! It has no feature of its own and no tonic dependency: it works on
//! `http::Response<B>`, which is what a tonic `Channel` returns. The
//! `Channel`'s error type, `tonic::transport::Error`, implements
//! [`AsDynError`] with the `tonic` feature; without it, classify after
//! `map_err(BoxError::from)` (a [`BoxError`](crate::BoxError) always does).
//!
//! | code | name | kind | retried | why |
//! |---|---|---|---|---|
//! | 0 | OK | success | | |
//! | 1 | CANCELLED | [`Invalid`](FailureKind::Invalid) | no | HTTP 499: a cancellation is to be honoured (AIP-194) |
//! | 2 | UNKNOWN | [`Transient`](FailureKind::Transient) | yes | HTTP 500; like an error this crate does not recognise |
//! | 3 | INVALID_ARGUMENT | [`Invalid`](FailureKind::Invalid) | no | the caller's fault, the same everywhere |
//! | 4 | DEADLINE_EXCEEDED | [`Timeout`](FailureKind::Timeout) | yes | the server's deadline, not the caller's (that is the [`Deadline`](crate::deadline::Deadline), which no retry outlives) |
//! | 5 | NOT_FOUND | [`Invalid`](FailureKind::Invalid) | no | an entity the request names; a missing method is UNIMPLEMENTED |
//! | 6 | ALREADY_EXISTS | [`Invalid`](FailureKind::Invalid) | no | will never succeed |
//! | 7 | PERMISSION_DENIED | [`Auth`](FailureKind::Auth) | no | HTTP 403 |
//! | 8 | RESOURCE_EXHAUSTED | [`RateLimited`](FailureKind::RateLimited) | yes, after the pushback | HTTP 429 |
//! | 9 | FAILED_PRECONDITION | [`Invalid`](FailureKind::Invalid) | no | the system is not in a state for this request |
//! | 10 | ABORTED | [`Invalid`](FailureKind::Invalid) | no | a conflict: retry the whole transaction, not the call (AIP-194). Unlike HTTP 409 (retried as [`Transient`](FailureKind::Transient): for an LLM API it is a concurrent request that a plain resend can clear, and the official SDKs retry it), gRPC reserves ABORTED for read-modify-write conflicts, which resending the same call cannot fix |
//! | 11 | OUT_OF_RANGE | [`Invalid`](FailureKind::Invalid) | no | the caller's fault |
//! | 12 | UNIMPLEMENTED | [`Invalid`](FailureKind::Invalid) | no | HTTP 501, as the default classifier has it |
//! | 13 | INTERNAL | [`Transient`](FailureKind::Transient) | yes | HTTP 500 |
//! | 14 | UNAVAILABLE | [`Transient`](FailureKind::Transient) | yes | the one code every gRPC guide retries |
//! | 15 | DATA_LOSS | [`Transient`](FailureKind::Transient) with "do not retry" | no | never retried (AIP-194), but counted against the breaker and falls back |
//! | 16 | UNAUTHENTICATED | [`Auth`](FailureKind::Auth) | no | HTTP 401 |
//! | other | (UNKNOWN) | [`Transient`](FailureKind::Transient) | yes | the gRPC spec reads an unknown code as UNKNOWN |
//!
//! gRPC's own retry design (gRFC A6) retries only the codes a service lists,
//! and Google's API guidance (AIP-194) lists only UNAVAILABLE, calling
//! RESOURCE_EXHAUSTED, INTERNAL and UNKNOWN "generally" not retryable. This
//! crate retries a little more, like the official LLM SDKs do for the HTTP
//! statuses these codes mirror (429, 500, 504), because its retries are
//! bounded (an attempt cap, a shared budget, the deadline, a cap on hints)
//! and because RESOURCE_EXHAUSTED and INTERNAL are what a struggling gRPC
//! upstream sends; a quota that is really used up says so in
//! `grpc-retry-pushback-ms` (negative) or is best classified by a wrapper
//! that reads `grpc-message`. Codes that say the request itself is wrong, or
//! must not be repeated, are [`Invalid`](FailureKind::Invalid): they are
//! not retried, not sent to a fallback tier, and do not trip a breaker.
//!
//! The server's hint is `grpc-retry-pushback-ms` (gRFC A6): milliseconds to
//! wait, and, when negative **or unparseable**, "do not retry"
//! ([`Hint::should_retry`](crate::hint::Hint::should_retry) is
//! `Some(false)`). The HTTP hint headers (`retry-after` and the others in
//! [`hint`](crate::hint)) are read too. A `grpc-status` that is not a number
//! is UNKNOWN. A response without `grpc-status` in its headers is classified
//! by its HTTP status (a proxy's 503 is still a 503), and errors as
//! [`DefaultClassifier`] does. With the `tonic` feature, `tonic::Status`
//! (by its code and metadata), `tonic::TimeoutExpired`,
//! `tonic::ConnectError` and `tonic::transport::Error` are recognised in a
//! source chain too.
//!
//! **A status in the trailers is not seen.** After a streamed body the
//! response has been returned to the caller already, so classification
//! (which runs when the response arrives) calls it a success; only
//! trailers-only errors are retried, fall back or trip a breaker.
//!
//! Tonic's request bodies are streams and not `Clone`: to retry them, put a
//! [`ReplayBodyLayer`](crate::retry::ReplayBodyLayer) above the retry layer
//! (with [`BodyReplay`](crate::retry::BodyReplay)) and turn the buffered
//! body back into a `tonic::body::Body` below it:
//!
//! ```
//! # #[cfg(all(feature = "retry", feature = "tonic"))]
//! # fn doc(channel: tonic::transport::Channel) {
//! use tonic::body::Body;
//! use tower::ServiceBuilder;
//! use tower_failover::classify::GrpcClassifier;
//! use tower_failover::retry::{BodyReplay, ReplayBody, ReplayBodyLayer, RetryLayer, RetryPolicy};
//!
//! let policy = RetryPolicy::builder().classifier(GrpcClassifier).build().unwrap();
//! let service = ServiceBuilder::new()
//!     .layer(ReplayBodyLayer::new(64 * 1024))
//!     .layer(RetryLayer::new(policy).replay(BodyReplay))
//!     .map_request(|request: http::Request<ReplayBody<Body>>| request.map(Body::new))
//!     .service(channel);
//! // `tonic_health::pb::health_client::HealthClient::new(service)`, or any
//! // generated client, calls through the stack.
//! # let _ = service;
//! # }
//! ```
//!
//! `examples/tonic.rs` runs this against a local `tonic-health` server.
//!
//! # reqwest
//!
//! With the `reqwest` feature, `reqwest::Client` (a
//! `Service<reqwest::Request>`) works under every layer:
//! [`DefaultClassifier`] classifies `reqwest::Response` by the same rules as
//! `http::Response` (status, hint headers), and `reqwest::Error` by what it
//! is: a timeout (`is_timeout()`, reqwest's own
//! or one deep in its chain) is [`Timeout`](FailureKind::Timeout), a
//! connect error is [`Transient`](FailureKind::Transient), an
//! `error_for_status` error is its status's kind, a request that could not
//! be built (a bad URL) is [`Invalid`](FailureKind::Invalid).
//!
//! `reqwest::Request` is not `Clone`; it replays with
//! [`TryCloneReplay`](crate::retry::TryCloneReplay) (`try_clone`). A request
//! whose body is a stream cannot be cloned, and is sent once, never retried.
//! A fallback layer needs the same replay; it records which tier served in
//! the `reqwest::Response`'s extensions as it does for `http::Response`:
//!
//! ```
//! # #[cfg(all(feature = "fallback", feature = "reqwest"))] {
//! use tower::ServiceBuilder;
//! use tower_failover::fallback::{FallbackLayer, Tier};
//! use tower_failover::retry::{RetryLayer, RetryPolicy, TryCloneReplay};
//!
//! let client = reqwest::Client::new();
//! let tier = |client: &reqwest::Client| {
//!     ServiceBuilder::new()
//!         .layer(RetryLayer::new(RetryPolicy::default()).replay(TryCloneReplay))
//!         .service(client.clone())
//! };
//! let fallback = FallbackLayer::builder("primary")
//!     .tier(Tier::new("backup", tier(&client)).rewrite(|request: &mut reqwest::Request| {
//!         request.url_mut().set_host(Some("backup.example")).unwrap();
//!     }))
//!     .replay(TryCloneReplay)
//!     .build()
//!     .unwrap();
//! let service = ServiceBuilder::new().layer(fallback).service(tier(&client));
//! # let _ = service;
//! # }
//! ```
//!
//! `examples/reqwest.rs` runs a stack like this against local servers.
//!
//! # Writing your own
//!
//! Any `Fn(&Result<Res, E>) -> Outcome` is a classifier, and so is any type
//! that implements [`Classify`]. To refine the default, call it and adjust:
//!
//! ```
//! use tower_failover::classify::{Classify, DefaultClassifier, FailureKind, Outcome};
//!
//! // A gateway that treats its upstream's 404s as the caller's fault.
//! let classifier = |result: &Result<http::Response<()>, std::io::Error>| match result {
//!     Ok(response) if response.status() == http::StatusCode::NOT_FOUND => {
//!         Outcome::failure(FailureKind::Invalid)
//!     }
//!     other => DefaultClassifier.classify(other),
//! };
//!
//! let not_found = http::Response::builder().status(404).body(()).unwrap();
//! let outcome = classifier.classify(&Ok(not_found));
//! assert_eq!(outcome.as_failure().map(|f| f.kind()), Some(FailureKind::Invalid));
//! ```

mod error;
mod grpc;
mod http;
mod kind;
mod outcome;
#[cfg(feature = "reqwest")]
mod reqwest;

pub use self::error::{AsDynError, classify_error};
pub use self::grpc::{GrpcClassifier, classify_grpc_code};
pub use self::http::{DefaultClassifier, classify_status};
pub use self::kind::FailureKind;
pub use self::outcome::{Failure, Outcome};

/// Decides what one result of a call is.
///
/// Implementations must be cheap and synchronous: they run after every
/// attempt, on the hot path, in every layer. Anything that needs I/O (reading
/// an error body) belongs in a layer that runs first and leaves its findings
/// in the response's extensions.
///
/// The trait is generic over the response and error types, so one classifier
/// type can serve many services; it is implemented for every
/// `Fn(&Result<Res, E>) -> Outcome`.
pub trait Classify<Res, E> {
    /// Classifies one result.
    fn classify(&self, result: &Result<Res, E>) -> Outcome;
}

impl<F, Res, E> Classify<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        self(result)
    }
}
