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
                Some(kind) => Outcome::Failure(
                    super::Failure::new(kind).with_hint(Hint::from_headers(response.headers())),
                ),
            },
            Err(error) => Outcome::Failure(match error.as_dyn_error() {
                Some(error) => classify_error(error),
                // An error with nothing to inspect is still an error.
                None => super::Failure::new(FailureKind::Transient),
            }),
        }
    }
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
