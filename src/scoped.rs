//! Values visible to inner services for the span of a closure: the current
//! [`Deadline`](crate::deadline::Deadline) and the current
//! [`Attempt`](crate::retry::Attempt).
//!
//! A value is installed in a thread-local for the duration of a closure (an
//! inner service's `call`, or one poll of its future) and the previous value
//! restored afterwards, even on panic. This is what `tokio::task_local!`
//! does, without needing tokio's `rt` feature and without a per-request
//! allocation.

use std::cell::Cell;
use std::thread::LocalKey;

/// Runs `f` with `value` in `key`, restoring the previous value afterwards.
#[inline]
pub(crate) fn with<T: Copy + 'static, R>(
    key: &'static LocalKey<Cell<T>>,
    value: T,
    f: impl FnOnce() -> R,
) -> R {
    struct Restore<T: Copy + 'static> {
        key: &'static LocalKey<Cell<T>>,
        previous: T,
    }
    impl<T: Copy + 'static> Drop for Restore<T> {
        #[inline]
        fn drop(&mut self) {
            self.key.set(self.previous);
        }
    }
    let _restore = Restore {
        key,
        previous: key.replace(value),
    };
    f()
}
