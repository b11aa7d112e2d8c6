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
//!   deadline, an attempt timeout), tower's and tokio's `Elapsed`,
//!   `std::io::Error` (by [`ErrorKind`](std::io::ErrorKind)), hyper-util's
//!   client error (with the `hyper-util` feature), and, with the `llm`
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
mod http;
mod kind;
mod outcome;

pub use self::error::{AsDynError, classify_error};
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
