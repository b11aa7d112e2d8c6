use std::time::Duration;

use super::FailureKind;
use crate::hint::Hint;

/// What the classifier made of one result: a success, or a failure of some
/// [`FailureKind`] with the server's [`Hint`].
///
/// `#[non_exhaustive]` so that later releases can add variants (say, a
/// success that carries rate-limit headroom) without breaking matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The call failed.
    Failure(Failure),
}

impl Outcome {
    /// A failure of `kind` without a hint.
    #[inline]
    pub const fn failure(kind: FailureKind) -> Self {
        Self::Failure(Failure::new(kind))
    }

    /// Whether this is [`Outcome::Success`].
    #[inline]
    pub const fn is_success(&self) -> bool {
        matches!(self, Self::Success)
    }

    /// The failure, if this is one.
    #[inline]
    pub const fn as_failure(&self) -> Option<&Failure> {
        match self {
            Self::Failure(failure) => Some(failure),
            Self::Success => None,
        }
    }
}

/// A classified failure: its [`FailureKind`] and the server's [`Hint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    kind: FailureKind,
    hint: Hint,
    caller_side: bool,
}

impl Failure {
    /// A failure of `kind` without a hint.
    #[inline]
    pub const fn new(kind: FailureKind) -> Self {
        Self {
            kind,
            hint: Hint::NONE,
            caller_side: false,
        }
    }

    /// The same failure carrying `hint`.
    #[inline]
    #[must_use]
    pub const fn with_hint(mut self, hint: Hint) -> Self {
        self.hint = hint;
        self
    }

    /// The same failure, marked as made on the caller's side: the request
    /// never reached the upstream (the caller-side rate limiter refused
    /// it), so it says nothing of the upstream's health and no circuit
    /// breaker counts it, whatever its kind. Retry and fallback treat it
    /// by its kind as usual.
    #[inline]
    #[must_use]
    pub const fn caller_side(mut self) -> Self {
        self.caller_side = true;
        self
    }

    /// Whether the failure was made on the caller's side (see
    /// [`caller_side`](Self::caller_side)).
    #[inline]
    pub const fn is_caller_side(&self) -> bool {
        self.caller_side
    }

    /// The failure's kind.
    #[inline]
    pub const fn kind(&self) -> FailureKind {
        self.kind
    }

    /// The server's hint, as read from the response.
    #[inline]
    pub const fn hint(&self) -> Hint {
        self.hint
    }

    /// How long the server asked the caller to wait, if it said.
    #[inline]
    pub const fn retry_after(&self) -> Option<Duration> {
        self.hint.retry_after()
    }

    /// Whether the same request may be sent again to the same upstream: the
    /// server's explicit `x-should-retry` if it sent one, otherwise
    /// [`FailureKind::is_retryable`].
    ///
    /// Like the official OpenAI and Anthropic SDKs, an explicit
    /// `x-should-retry` overrules the status in both directions, with two
    /// exceptions that are never retried whatever the server says: this
    /// crate's own rejections ([`CircuitOpen`](FailureKind::CircuitOpen),
    /// [`BudgetExhausted`](FailureKind::BudgetExhausted)), which carry no
    /// server hint, and [`QuotaExhausted`](FailureKind::QuotaExhausted):
    /// a used-up quota does not come back within a retry's wait, and
    /// retrying it as if it were a rate limit only spends the budget.
    #[inline]
    pub const fn is_retryable(&self) -> bool {
        match (self.kind, self.hint.should_retry()) {
            (
                FailureKind::CircuitOpen
                | FailureKind::BudgetExhausted
                | FailureKind::QuotaExhausted,
                _,
            ) => false,
            (_, Some(explicit)) => explicit,
            (kind, None) => kind.is_retryable(),
        }
    }
}

impl From<Failure> for Outcome {
    #[inline]
    fn from(failure: Failure) -> Self {
        Self::Failure(failure)
    }
}
