use std::fmt;

/// A retry setting was out of range; returned when the policy or budget is
/// built, never later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidRetryPolicy {
    field: &'static str,
    reason: &'static str,
}

impl InvalidRetryPolicy {
    pub(crate) const fn new(field: &'static str, reason: &'static str) -> Self {
        Self { field, reason }
    }

    /// The setting at fault, e.g. `"max_attempts"`.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

impl fmt::Display for InvalidRetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid retry policy: {} {}", self.field, self.reason)
    }
}

impl std::error::Error for InvalidRetryPolicy {}
