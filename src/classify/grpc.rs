use http::HeaderMap;

use super::{AsDynError, Classify, DefaultClassifier, Failure, FailureKind, Outcome};
use crate::hint::{Hint, parse_grpc_pushback_ms};

/// Classifies gRPC responses by their `grpc-status`, and everything else as
/// [`DefaultClassifier`] does (see the [module docs](super#grpc)).
///
/// A gRPC server answers a failed call with HTTP 200 and the status in the
/// headers (a *trailers-only* response, which is how tonic sends a handler's
/// `Err(Status)`), so [`DefaultClassifier`] would call it a success. This
/// classifier reads `grpc-status` first ([`classify_grpc_code`] has the
/// table), then the hint (`grpc-retry-pushback-ms` with gRFC A6's rules, and
/// the HTTP hint headers); a response without `grpc-status` is classified
/// by its HTTP status, and errors by [`classify_error`](super::classify_error).
///
/// It works on `http::Response<B>` for any body and any error type that
/// implements [`AsDynError`], so it needs no tonic dependency and no feature
/// of its own. A tonic `Channel`'s error, `tonic::transport::Error`,
/// implements [`AsDynError`] only with the `tonic` feature: enable it, or
/// turn the error into a [`BoxError`](crate::BoxError) first
/// (`map_err(BoxError::from)`, e.g. with tower's `MapErrLayer`). Any other
/// client that speaks gRPC over HTTP/2 works the same way.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::classify::{Classify, FailureKind, GrpcClassifier};
///
/// // UNAVAILABLE, trailers-only, with a pushback of 250 ms.
/// let response = http::Response::builder()
///     .header("content-type", "application/grpc")
///     .header("grpc-status", "14")
///     .header("grpc-retry-pushback-ms", "250")
///     .body(())
///     .unwrap();
/// let outcome = GrpcClassifier.classify(&Ok::<_, std::io::Error>(response));
/// let failure = outcome.as_failure().unwrap();
/// assert_eq!(failure.kind(), FailureKind::Transient);
/// assert_eq!(failure.retry_after(), Some(Duration::from_millis(250)));
/// assert!(failure.is_retryable());
///
/// // A status in the trailers after a body cannot be seen here: success.
/// let streamed = http::Response::builder()
///     .header("content-type", "application/grpc")
///     .body(())
///     .unwrap();
/// assert!(GrpcClassifier.classify(&Ok::<_, std::io::Error>(streamed)).is_success());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcClassifier;

impl<B, E> Classify<http::Response<B>, E> for GrpcClassifier
where
    E: AsDynError,
{
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(response) => match response.headers().get("grpc-status") {
                Some(code) if code.as_bytes() != b"0" => {
                    classify_grpc_failure(parse_code(code.as_bytes()), response.headers())
                }
                Some(_) => Outcome::Success,
                None => DefaultClassifier.classify(result),
            },
            Err(_) => DefaultClassifier.classify(result),
        }
    }
}

/// A failed gRPC response: its code's outcome, with the hint from its
/// headers under gRFC A6's rule that a pushback that is present but not a
/// valid wait means "do not retry".
#[cold]
fn classify_grpc_failure(code: i32, headers: &HeaderMap) -> Outcome {
    let Outcome::Failure(failure) = classify_grpc_code(code) else {
        return Outcome::Success;
    };
    Outcome::Failure(failure.with_hint(grpc_hint(failure.hint(), headers)))
}

/// The hint of a failed gRPC response: what [`Hint::from_headers`] reads,
/// where a `grpc-retry-pushback-ms` that is negative *or unparseable* is a
/// refusal (gRFC A6), and a refusal already in `base` is kept.
pub(super) fn grpc_hint(base: Hint, headers: &HeaderMap) -> Hint {
    let mut hint = Hint::from_headers(headers);
    let garbled_pushback = headers
        .get("grpc-retry-pushback-ms")
        .is_some_and(|value| parse_grpc_pushback_ms(value.as_bytes()).is_none());
    if garbled_pushback || base.should_retry() == Some(false) {
        hint = hint.with_should_retry(false);
    }
    hint
}

/// Parses a `grpc-status` value: a decimal code. Anything else (empty,
/// signs, more than three digits) is UNKNOWN (2), as the gRPC spec says of
/// codes a client does not recognise.
fn parse_code(value: &[u8]) -> i32 {
    const UNKNOWN: i32 = 2;
    if value.is_empty() || value.len() > 3 {
        return UNKNOWN;
    }
    let mut code = 0;
    for &byte in value {
        if !byte.is_ascii_digit() {
            return UNKNOWN;
        }
        code = code * 10 + i32::from(byte - b'0');
    }
    code
}

/// The [`Outcome`] of a gRPC status code (`grpc-status`, or
/// `tonic::Code as i32`): the table in the [module docs](super#grpc).
///
/// `0` (OK) is [`Outcome::Success`]; a code outside 0–16 is UNKNOWN, as the
/// gRPC spec says. DATA_LOSS comes with an explicit "do not retry"
/// ([`Hint::should_retry`] is `Some(false)`), since its kind alone would be
/// retried.
///
/// ```
/// use tower_failover::classify::{FailureKind, classify_grpc_code};
///
/// let kind = |code| classify_grpc_code(code).as_failure().map(|f| f.kind());
/// assert_eq!(kind(0), None);
/// assert_eq!(kind(14), Some(FailureKind::Transient)); // UNAVAILABLE
/// assert_eq!(kind(8), Some(FailureKind::RateLimited)); // RESOURCE_EXHAUSTED
/// assert_eq!(kind(4), Some(FailureKind::Timeout)); // DEADLINE_EXCEEDED
/// assert_eq!(kind(3), Some(FailureKind::Invalid)); // INVALID_ARGUMENT
/// assert!(!classify_grpc_code(15).as_failure().unwrap().is_retryable()); // DATA_LOSS
/// ```
#[must_use]
pub const fn classify_grpc_code(code: i32) -> Outcome {
    let kind = match code {
        0 => return Outcome::Success,
        // CANCELLED, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
        // FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, UNIMPLEMENTED.
        // ABORTED is not HTTP 409's Transient: see the table in the
        // module docs.
        1 | 3 | 5 | 6 | 9 | 10 | 11 | 12 => FailureKind::Invalid,
        // DEADLINE_EXCEEDED.
        4 => FailureKind::Timeout,
        // PERMISSION_DENIED, UNAUTHENTICATED.
        7 | 16 => FailureKind::Auth,
        // RESOURCE_EXHAUSTED.
        8 => FailureKind::RateLimited,
        // DATA_LOSS: a server fault, but never retried.
        15 => {
            return Outcome::Failure(
                Failure::new(FailureKind::Transient).with_hint(Hint::NONE.with_should_retry(false)),
            );
        }
        // UNKNOWN, INTERNAL, UNAVAILABLE, and codes not in the spec (UNKNOWN).
        _ => FailureKind::Transient,
    };
    Outcome::failure(kind)
}

#[cfg(test)]
mod tests {
    use super::parse_code;

    #[test]
    fn codes_parse_and_garbage_is_unknown() {
        assert_eq!(parse_code(b"14"), 14);
        assert_eq!(parse_code(b"0"), 0);
        assert_eq!(parse_code(b"016"), 16);
        for garbage in [&b""[..], b"-1", b"+8", b"1 4", b"1234", b"abc", b"\xff"] {
            assert_eq!(parse_code(garbage), 2, "{garbage:?}");
        }
    }
}
