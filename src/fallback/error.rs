use std::fmt;

/// The [route](super::Route) left no tier that may serve the request (every
/// tier over its cost budget, none capable of it), so the layer called no
/// one. Returned at once, as a [`BoxError`](crate::BoxError) to downcast.
///
/// The static response does not stand in for it: it answers for tiers that
/// failed, and here none was tried; the request itself is what no tier
/// takes.
///
/// ```
/// use tower_failover::fallback::NoRoute;
///
/// # fn check(error: tower_failover::BoxError) {
/// if error.is::<NoRoute>() {
///     // Too dear or too demanding for every tier: tell the caller.
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoRoute {
    _private: (),
}

impl NoRoute {
    pub(super) fn new() -> Self {
        Self { _private: () }
    }
}

impl fmt::Display for NoRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no tier can serve the request")
    }
}

impl std::error::Error for NoRoute {}
