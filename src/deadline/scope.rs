//! The current deadline, readable by any layer for any request type.
//!
//! A deadline is installed for the duration of a closure (the inner
//! service's `call`, or one poll of its future) and restored afterwards, even
//! on panic. This is what `tokio::task_local!` does, without needing tokio's
//! `rt` feature and without a per-request allocation.

use std::cell::Cell;

use tokio::time::Instant;

thread_local! {
    static CURRENT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `f` with `deadline` as the current deadline.
#[inline]
pub(crate) fn with_current<R>(deadline: Option<Instant>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        #[inline]
        fn drop(&mut self) {
            CURRENT.set(self.0);
        }
    }
    let _restore = Restore(CURRENT.replace(deadline));
    f()
}

/// The current deadline, if any layer above installed one.
#[inline]
pub(crate) fn current() -> Option<Instant> {
    CURRENT.get()
}
