//! `reqwest::Response` under the default classifier (the `reqwest` feature).

use super::{AsDynError, Classify, DefaultClassifier, Failure, FailureKind, Outcome};

/// The same rules as for `http::Response<B>`: the status's kind (see
/// [`classify_status`](super::classify_status)) and, on a failure, the hint
/// from the headers and what an error-body layer left in the response's
/// extensions. Errors are classified through their source chain; a
/// `reqwest::Error` is recognised itself (a timeout, a connect error, an
/// `error_for_status` status, a request that could not be built).
impl<E> Classify<reqwest::Response, E> for DefaultClassifier
where
    E: AsDynError,
{
    #[inline]
    fn classify(&self, result: &Result<reqwest::Response, E>) -> Outcome {
        match result {
            Ok(response) => match super::classify_status(response.status()) {
                None => Outcome::Success,
                Some(kind) => Outcome::Failure(super::http::classify_failed_parts(
                    kind,
                    response.headers(),
                    response.extensions(),
                )),
            },
            Err(error) => Outcome::Failure(match error.as_dyn_error() {
                Some(error) => super::classify_error(error),
                None => Failure::new(FailureKind::Transient),
            }),
        }
    }
}

/// A `reqwest::Error`, found in a source chain: a timeout (reqwest's own,
/// or one found anywhere in its chain) is [`Timeout`](FailureKind::Timeout),
/// an `error_for_status` error is its status's kind, a request that could
/// not be built (a bad URL) is [`Invalid`](FailureKind::Invalid), and
/// anything else is classified by its own source chain (a refused
/// connection is [`Transient`](FailureKind::Transient)).
pub(super) fn recognise(error: &reqwest::Error) -> Failure {
    use std::error::Error as _;
    if error.is_timeout() {
        return Failure::new(FailureKind::Timeout);
    }
    if let Some(status) = error.status() {
        return Failure::new(super::classify_status(status).unwrap_or(FailureKind::Transient));
    }
    if error.is_builder() {
        return Failure::new(FailureKind::Invalid);
    }
    match error.source() {
        Some(source) => super::classify_error(source),
        None => Failure::new(FailureKind::Transient),
    }
}
