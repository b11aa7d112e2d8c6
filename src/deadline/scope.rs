//! The current deadline, readable by any layer for any request type (see
//! [`crate::scoped`]), and where it came from.

use std::cell::Cell;

use tokio::time::Instant;

/// Where the current deadline came from: what it means when it passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The logical call's deadline (a `TimeoutBudget`, a request's carried
    /// deadline, or [`Deadline::scope`](super::Deadline::scope)): when it
    /// passes, the call's budget is spent.
    Budget,
    /// A fallback tier's own timeout, earlier than the logical deadline:
    /// when it passes, only that tier's time is spent.
    #[cfg_attr(not(feature = "fallback"), allow(dead_code))]
    Tier,
}

/// A deadline and its origin, as installed for a scope.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Current {
    pub(crate) at: Instant,
    // Read by the layers that time calls.
    #[cfg_attr(
        not(any(feature = "timeout-budget", feature = "llm")),
        allow(dead_code)
    )]
    pub(crate) origin: Origin,
}

thread_local! {
    static CURRENT: Cell<Option<Current>> = const { Cell::new(None) };
}

/// Runs `f` with `current` as the current deadline. The origin is set
/// here, once per scope: reading it costs nothing more than the instant.
#[inline]
pub(crate) fn with_current<R>(current: Option<Current>, f: impl FnOnce() -> R) -> R {
    crate::scoped::with(&CURRENT, current, f)
}

/// The current deadline, if any layer above installed one.
#[inline]
pub(crate) fn current() -> Option<Current> {
    CURRENT.get()
}
