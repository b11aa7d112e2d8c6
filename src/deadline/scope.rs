//! The current deadline, readable by any layer for any request type (see
//! [`crate::scoped`]).

use std::cell::Cell;

use tokio::time::Instant;

thread_local! {
    static CURRENT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `f` with `deadline` as the current deadline.
#[inline]
pub(crate) fn with_current<R>(deadline: Option<Instant>, f: impl FnOnce() -> R) -> R {
    crate::scoped::with(&CURRENT, deadline, f)
}

/// The current deadline, if any layer above installed one.
#[inline]
pub(crate) fn current() -> Option<Instant> {
    CURRENT.get()
}
