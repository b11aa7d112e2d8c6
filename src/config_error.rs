use std::fmt;

/// A setting of a layer is out of range, or contradicts another; returned
/// when the policy or config is built, never later.
///
/// One type for every layer, so that code loading configuration can report
/// any of them the same way: which layer, which setting, and why.
///
/// ```
/// # #[cfg(feature = "retry")] {
/// use tower_failover::retry::RetryPolicy;
///
/// let error = RetryPolicy::builder().max_attempts(0).build().unwrap_err();
/// assert_eq!(error.layer(), "retry");
/// assert_eq!(error.field(), "max_attempts");
/// assert_eq!(error.to_string(), "invalid retry setting max_attempts: must be between 1 and 100");
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidConfig {
    layer: &'static str,
    field: &'static str,
    reason: &'static str,
    // What exactly is wrong, when it depends on the input (a name, a path).
    detail: Option<Box<str>>,
}

impl InvalidConfig {
    #[allow(dead_code)] // unused when no layer is enabled
    pub(crate) const fn new(
        layer: &'static str,
        field: &'static str,
        reason: &'static str,
    ) -> Self {
        Self {
            layer,
            field,
            reason,
            detail: None,
        }
    }

    /// The same error, naming what exactly is wrong (a name, a cycle).
    #[allow(dead_code)] // unused when no layer is enabled
    #[must_use]
    pub(crate) fn with_detail(mut self, detail: impl Into<Box<str>>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The layer whose settings are at fault, e.g. `"retry"` or
    /// `"circuit breaker"`.
    pub fn layer(&self) -> &'static str {
        self.layer
    }

    /// The setting at fault, as named by the builder method that sets it,
    /// e.g. `"max_attempts"`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// Why the setting is invalid.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// What exactly is wrong, when that depends on the input: the unknown
    /// name, or the models that form a cycle.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} setting {}: {}",
            self.layer, self.field, self.reason
        )?;
        match &self.detail {
            Some(detail) => write!(f, " ({detail})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for InvalidConfig {}
