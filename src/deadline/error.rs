use std::fmt;

/// The logical call's deadline passed before it finished.
///
/// Returned by [`TimeoutBudget`](super::TimeoutBudget) (and by
/// [`AttemptTimeout`](super::AttemptTimeout) when the deadline, not the
/// per-attempt limit, cut the attempt short). Distinct from the caller
/// dropping the future, which returns nothing at all. Classified as
/// [`FailureKind::BudgetExhausted`](crate::classify::FailureKind::BudgetExhausted):
/// never retried.
///
/// A zero-sized value: boxing it into a [`BoxError`](crate::BoxError) does
/// not allocate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeadlineExceeded {
    _private: (),
}

impl DeadlineExceeded {
    /// A new `DeadlineExceeded`.
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

/// One attempt took longer than its per-attempt limit, while the logical
/// call still had time left.
///
/// Returned by [`AttemptTimeout`](super::AttemptTimeout). Classified as
/// [`FailureKind::Timeout`](crate::classify::FailureKind::Timeout): retryable.
/// Zero-sized, like [`DeadlineExceeded`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttemptTimedOut {
    _private: (),
}

impl AttemptTimedOut {
    /// A new `AttemptTimedOut`.
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl fmt::Display for AttemptTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("attempt timed out")
    }
}

impl std::error::Error for AttemptTimedOut {}
