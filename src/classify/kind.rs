use std::fmt;

/// What kind of failure a result is.
///
/// Every layer of this crate asks the same question of a failure — retry it on
/// the same upstream? fall back to the next tier? count it against the
/// upstream's circuit breaker? — and the answer depends only on its kind:
///
/// | kind | typical signal | retry | fall back | breaker |
/// |---|---|---|---|---|
/// | [`Transient`](Self::Transient) | 500, 502, 503, 504, connect/IO error, reset | yes | after retries | yes |
/// | [`RateLimited`](Self::RateLimited) | 429 rate limit, `RESOURCE_EXHAUSTED` | yes, after the hint | yes | yes |
/// | [`Overloaded`](Self::Overloaded) | 529, Anthropic `overloaded_error` | yes | yes | yes |
/// | [`Timeout`](Self::Timeout) | attempt timeout, 408 | yes | yes | yes |
/// | [`QuotaExhausted`](Self::QuotaExhausted) | 402, 429 `insufficient_quota`, spend limits | **no** | yes | yes, opens at once |
/// | [`Auth`](Self::Auth) | 401, 403 | no | yes | yes |
/// | [`ModelNotFound`](Self::ModelNotFound) | 404 | no | yes | yes |
/// | [`ContextTooLong`](Self::ContextTooLong) | 400 `context_length_exceeded`, 413 | no | yes, to a tier that fits | no |
/// | [`ContentFiltered`](Self::ContentFiltered) | 400 `content_filter` | no | configurable | no |
/// | [`Invalid`](Self::Invalid) | other 4xx: the caller's fault | no | no | no |
/// | [`CircuitOpen`](Self::CircuitOpen) | this crate's fast-fail | no | yes, at once | no |
/// | [`BudgetExhausted`](Self::BudgetExhausted) | deadline or retry budget spent | no | only if budget left | no |
///
/// A server can overrule the retry column for one response with
/// `x-should-retry` (see [`Hint::should_retry`](crate::hint::Hint::should_retry)).
///
/// The enum is `#[non_exhaustive]`: new kinds may be added without a breaking
/// release, so match with a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// A failure that is likely to go away on its own: a 5xx, a refused or
    /// reset connection, an I/O error.
    Transient,
    /// The upstream rate-limited this caller (429 without a quota signal).
    RateLimited,
    /// The upstream is overloaded as a whole (529, Anthropic `overloaded_error`).
    Overloaded,
    /// The attempt timed out, or the upstream answered 408.
    Timeout,
    /// The account's quota or spend limit is used up: retrying cannot help
    /// until someone pays, so it is never retried.
    QuotaExhausted,
    /// The credentials were rejected (401, 403).
    Auth,
    /// The model, deployment or resource does not exist at this upstream (404).
    ModelNotFound,
    /// The request is too large for this upstream's context window (or body
    /// limit); a tier with a larger window may serve it.
    ContextTooLong,
    /// The upstream's content filter refused the request or the response.
    ContentFiltered,
    /// The request is invalid: the caller's fault, the same everywhere.
    Invalid,
    /// This crate's circuit breaker rejected the call without sending it.
    CircuitOpen,
    /// The deadline or the retry budget is spent.
    BudgetExhausted,
}

impl FailureKind {
    /// Whether the same request is worth sending again to the same upstream.
    #[inline]
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::Transient | Self::RateLimited | Self::Overloaded | Self::Timeout
        )
    }

    /// Whether a fallback layer may move on to its next tier after this failure.
    ///
    /// `true` for every kind but [`Invalid`](Self::Invalid), which is the
    /// caller's fault and would fail everywhere. Two kinds carry a condition
    /// the fallback layer checks itself: [`ContextTooLong`](Self::ContextTooLong)
    /// moves only to tiers that accept the request, and
    /// [`BudgetExhausted`](Self::BudgetExhausted) only while the deadline has
    /// time left. [`ContentFiltered`](Self::ContentFiltered) is configurable
    /// there.
    #[inline]
    pub const fn may_fall_back(self) -> bool {
        !matches!(self, Self::Invalid)
    }

    /// Whether this failure counts against the upstream's circuit breaker.
    ///
    /// Caller faults ([`Invalid`](Self::Invalid),
    /// [`ContextTooLong`](Self::ContextTooLong),
    /// [`ContentFiltered`](Self::ContentFiltered)) and this crate's own
    /// rejections ([`CircuitOpen`](Self::CircuitOpen),
    /// [`BudgetExhausted`](Self::BudgetExhausted)) say nothing about the
    /// upstream's health and never trip a breaker.
    #[inline]
    pub const fn counts_against_breaker(self) -> bool {
        matches!(
            self,
            Self::Transient
                | Self::RateLimited
                | Self::Overloaded
                | Self::Timeout
                | Self::QuotaExhausted
                | Self::Auth
                | Self::ModelNotFound
        )
    }

    /// A stable, lowercase name for events and metrics labels
    /// (`"rate_limited"`, `"circuit_open"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
            Self::QuotaExhausted => "quota_exhausted",
            Self::Auth => "auth",
            Self::ModelNotFound => "model_not_found",
            Self::ContextTooLong => "context_too_long",
            Self::ContentFiltered => "content_filtered",
            Self::Invalid => "invalid",
            Self::CircuitOpen => "circuit_open",
            Self::BudgetExhausted => "budget_exhausted",
        }
    }

    /// Every kind, in the order of the table above (useful for tests and for
    /// pre-registering metrics).
    pub const ALL: [FailureKind; 12] = [
        Self::Transient,
        Self::RateLimited,
        Self::Overloaded,
        Self::Timeout,
        Self::QuotaExhausted,
        Self::Auth,
        Self::ModelNotFound,
        Self::ContextTooLong,
        Self::ContentFiltered,
        Self::Invalid,
        Self::CircuitOpen,
        Self::BudgetExhausted,
    ];
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
