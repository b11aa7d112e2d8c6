use http::StatusCode;

use super::{AsDynError, Classify, FailureKind, Outcome, classify_error};
use crate::hint::Hint;

/// The classifier every layer uses unless told otherwise: HTTP statuses,
/// server hints and common transport errors (see the [module docs](super)).
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultClassifier;

impl<B, E> Classify<http::Response<B>, E> for DefaultClassifier
where
    E: AsDynError,
{
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(response) => match classify_status(response.status()) {
                None => Outcome::Success,
                Some(kind) => Outcome::Failure(classify_failed_response(response, kind)),
            },
            Err(error) => Outcome::Failure(match error.as_dyn_error() {
                Some(error) => classify_error(error),
                // An error with nothing to inspect is still an error.
                None => super::Failure::new(FailureKind::Transient),
            }),
        }
    }
}

/// A failed response: its status's kind, refined by what an error-body layer
/// found in its body (with the `llm` feature), and the server's hint from its
/// headers, or else from its body.
#[cold]
fn classify_failed_response<B>(response: &http::Response<B>, kind: FailureKind) -> super::Failure {
    classify_failed_parts(kind, response.headers(), response.extensions())
}

/// [`classify_failed_response`] from a response's parts, for response types
/// other than `http::Response` (reqwest's).
#[cold]
pub(super) fn classify_failed_parts(
    kind: FailureKind,
    headers: &http::HeaderMap,
    extensions: &http::Extensions,
) -> super::Failure {
    let hint = Hint::from_headers(headers);
    #[cfg(feature = "llm")]
    if let Some(found) = extensions.get::<crate::llm::ProviderError>() {
        let kind = found.kind().unwrap_or(kind);
        let hint = match (hint.retry_after(), found.retry_after()) {
            (None, Some(after)) => hint.with_retry_after(after),
            _ => hint,
        };
        return super::Failure::new(kind).with_hint(hint);
    }
    #[cfg(not(feature = "llm"))]
    let _ = extensions;
    super::Failure::new(kind).with_hint(hint)
}

/// The [`FailureKind`] of an HTTP status, or `None` for a success
/// (`1xx`–`3xx`). The mapping is the one in the [module docs](super).
///
/// ```
/// use http::StatusCode;
/// use tower_failover::classify::{FailureKind, classify_status};
///
/// assert_eq!(classify_status(StatusCode::OK), None);
/// assert_eq!(classify_status(StatusCode::TOO_MANY_REQUESTS), Some(FailureKind::RateLimited));
/// assert_eq!(classify_status(StatusCode::from_u16(529).unwrap()), Some(FailureKind::Overloaded));
/// ```
#[inline]
pub const fn classify_status(status: StatusCode) -> Option<FailureKind> {
    let code = status.as_u16();
    if code < 400 {
        return None;
    }
    Some(match code {
        401 | 403 => FailureKind::Auth,
        402 => FailureKind::QuotaExhausted,
        404 => FailureKind::ModelNotFound,
        408 => FailureKind::Timeout,
        409 => FailureKind::Transient,
        413 => FailureKind::ContextTooLong,
        429 => FailureKind::RateLimited,
        400..=499 => FailureKind::Invalid,
        501 | 505 => FailureKind::Invalid,
        529 => FailureKind::Overloaded,
        _ => FailureKind::Transient,
    })
}
