use std::error::Error;
use std::io;

use super::{Failure, FailureKind};

/// An error the classifier can look inside: it lends itself as a
/// `&(dyn Error + 'static)` so that [`classify_error`] can walk its source
/// chain and downcast.
///
/// Implemented for the boxed error types tower services return
/// ([`BoxError`](crate::BoxError) and friends), `std::io::Error`, tower's and
/// tokio's `Elapsed`, this crate's errors, hyper-util's client error (with the
/// `hyper-util` feature), `reqwest::Error` (with `reqwest`), tonic's
/// `transport::Error`, `Status`, `TimeoutExpired` and `ConnectError` (with
/// `tonic`) and [`Infallible`](std::convert::Infallible), which
/// has no value. (A blanket impl over every `E: Error` would rule out the
/// boxed types, which do not implement `Error`.) For your own error type it
/// is one line:
///
/// ```
/// use std::error::Error;
/// use tower_failover::classify::AsDynError;
///
/// #[derive(Debug)]
/// struct MyError;
/// impl std::fmt::Display for MyError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("my error")
///     }
/// }
/// impl Error for MyError {}
///
/// impl AsDynError for MyError {
///     fn as_dyn_error(&self) -> Option<&(dyn Error + 'static)> {
///         Some(self)
///     }
/// }
/// ```
pub trait AsDynError {
    /// The error as a trait object, or `None` if there is nothing to inspect
    /// (such an error is classified [`Transient`](FailureKind::Transient)).
    fn as_dyn_error(&self) -> Option<&(dyn Error + 'static)>;
}

macro_rules! as_dyn_error {
    ($($ty:ty),* $(,)?) => {$(
        impl AsDynError for $ty {
            #[inline]
            fn as_dyn_error(&self) -> Option<&(dyn Error + 'static)> {
                Some(&*self)
            }
        }
    )*};
}

macro_rules! as_dyn_error_boxed {
    ($($ty:ty),* $(,)?) => {$(
        impl AsDynError for $ty {
            #[inline]
            fn as_dyn_error(&self) -> Option<&(dyn Error + 'static)> {
                Some(&**self)
            }
        }
    )*};
}

as_dyn_error_boxed!(
    Box<dyn Error + Send + Sync>,
    Box<dyn Error + Send>,
    Box<dyn Error>,
);

as_dyn_error!(
    io::Error,
    tokio::time::error::Elapsed,
    tower::timeout::error::Elapsed,
    crate::deadline::DeadlineExceeded,
    crate::deadline::AttemptTimedOut,
);

#[cfg(feature = "circuit-breaker")]
as_dyn_error!(crate::circuit_breaker::CircuitOpen);

#[cfg(feature = "hyper-util")]
as_dyn_error!(hyper_util::client::legacy::Error);

#[cfg(feature = "reqwest")]
as_dyn_error!(reqwest::Error);

#[cfg(feature = "tonic")]
as_dyn_error!(
    tonic::transport::Error,
    tonic::Status,
    tonic::TimeoutExpired,
    tonic::ConnectError,
);

#[cfg(feature = "llm")]
as_dyn_error!(
    crate::llm::sse::StreamTimedOut,
    crate::llm::sse::StreamErrorEvent,
    crate::llm::sse::StreamEnded,
);

impl AsDynError for std::convert::Infallible {
    #[inline]
    fn as_dyn_error(&self) -> Option<&(dyn Error + 'static)> {
        match *self {}
    }
}

/// Classifies an error by walking its [`source`](Error::source) chain,
/// outermost first, and returning the first error it recognises (see the
/// [module docs](super) for the list). An error it does not recognise is
/// [`Transient`](FailureKind::Transient).
///
/// ```
/// use std::io;
/// use tower_failover::classify::{FailureKind, classify_error};
///
/// let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
/// assert_eq!(classify_error(&refused).kind(), FailureKind::Transient);
///
/// let timed_out = io::Error::from(io::ErrorKind::TimedOut);
/// assert_eq!(classify_error(&timed_out).kind(), FailureKind::Timeout);
/// ```
pub fn classify_error(error: &(dyn Error + 'static)) -> Failure {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(failure) = recognise(error) {
            return failure;
        }
        current = error.source();
    }
    Failure::new(FailureKind::Transient)
}

fn recognise(error: &(dyn Error + 'static)) -> Option<Failure> {
    #[cfg(feature = "circuit-breaker")]
    if let Some(open) = error.downcast_ref::<crate::circuit_breaker::CircuitOpen>() {
        let hint = match open.retry_after() {
            Some(after) => crate::hint::Hint::NONE.with_retry_after(after),
            None => crate::hint::Hint::NONE,
        };
        return Some(Failure::new(FailureKind::CircuitOpen).with_hint(hint));
    }
    #[cfg(feature = "rate-limit")]
    if let Some(limited) = error.downcast_ref::<crate::rate_limit::RateLimited>() {
        // Like a 429 with its `retry-after`; a cost that can never pass is
        // not worth retrying here (a fallback tier may take it).
        let hint = match limited.retry_after() {
            Some(after) => crate::hint::Hint::NONE.with_retry_after(after),
            None => crate::hint::Hint::NONE.with_should_retry(false),
        };
        // The upstream was never called: no breaker counts it.
        return Some(
            Failure::new(FailureKind::RateLimited)
                .with_hint(hint)
                .caller_side(),
        );
    }
    if error.is::<crate::deadline::DeadlineExceeded>() {
        return Some(Failure::new(FailureKind::BudgetExhausted));
    }
    if error.is::<crate::deadline::AttemptTimedOut>()
        || error.is::<tokio::time::error::Elapsed>()
        || error.is::<tower::timeout::error::Elapsed>()
    {
        return Some(Failure::new(FailureKind::Timeout));
    }
    #[cfg(feature = "llm")]
    if let Some(failure) = recognise_sse(error) {
        return Some(failure);
    }
    if let Some(io) = error.downcast_ref::<io::Error>() {
        // An io::Error may wrap a more telling error (hyper, a TLS stack):
        // look inside it first.
        if let Some(inner) = io.get_ref() {
            if let Some(failure) = recognise(inner) {
                return Some(failure);
            }
        }
        return Some(Failure::new(match io.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => FailureKind::Timeout,
            _ => FailureKind::Transient,
        }));
    }
    #[cfg(feature = "reqwest")]
    if let Some(error) = error.downcast_ref::<reqwest::Error>() {
        return Some(super::reqwest::recognise(error));
    }
    #[cfg(feature = "tonic")]
    if let Some(failure) = recognise_tonic(error) {
        return Some(failure);
    }
    #[cfg(feature = "hyper-util")]
    if let Some(client) = error.downcast_ref::<hyper_util::client::legacy::Error>() {
        // Connect errors never reached the upstream; other client errors are
        // transport failures after the request was (maybe) sent. Both are
        // transient. Look for a more specific cause first.
        if let Some(source) = client.source() {
            if let Some(failure) = recognise(source) {
                return Some(failure);
            }
        }
        return Some(Failure::new(FailureKind::Transient));
    }
    None
}

/// tonic's errors: a `Status` is its code's outcome (with the hint in its
/// metadata), tonic's own timeout is a timeout. A `transport::Error` or a
/// `ConnectError` is not recognised itself: the walk goes on to its source
/// (an I/O error, hyper's), and ends at [`Transient`](FailureKind::Transient).
#[cfg(feature = "tonic")]
fn recognise_tonic(error: &(dyn Error + 'static)) -> Option<Failure> {
    if let Some(status) = error.downcast_ref::<tonic::Status>() {
        let super::Outcome::Failure(failure) = super::classify_grpc_code(i32::from(status.code()))
        else {
            // An OK status as an error: nothing says what went wrong.
            return Some(Failure::new(FailureKind::Transient));
        };
        let hint = super::grpc::grpc_hint(failure.hint(), status.metadata().as_ref());
        return Some(failure.with_hint(hint));
    }
    if error.is::<tonic::TimeoutExpired>() {
        return Some(Failure::new(FailureKind::Timeout));
    }
    None
}

/// The SSE guard's errors: a stream that stalled, reported an error first,
/// or ended before its first event.
#[cfg(feature = "llm")]
fn recognise_sse(error: &(dyn Error + 'static)) -> Option<Failure> {
    use crate::llm::sse::{StreamEnded, StreamErrorEvent, StreamTimedOut};
    if error.is::<StreamTimedOut>() {
        return Some(Failure::new(FailureKind::Timeout));
    }
    if let Some(event) = error.downcast_ref::<StreamErrorEvent>() {
        let provider = event.provider_error();
        let kind = provider
            .and_then(|e| e.kind())
            .unwrap_or(FailureKind::Transient);
        let hint = match provider.and_then(|e| e.retry_after()) {
            Some(after) => crate::hint::Hint::NONE.with_retry_after(after),
            None => crate::hint::Hint::NONE,
        };
        return Some(Failure::new(kind).with_hint(hint));
    }
    if error.is::<StreamEnded>() {
        return Some(Failure::new(FailureKind::Transient));
    }
    None
}
