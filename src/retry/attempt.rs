use std::cell::Cell;
use std::fmt;
use std::num::NonZeroU32;

thread_local! {
    static CURRENT: Cell<Option<Attempt>> = const { Cell::new(None) };
    // Extra calls made while a layer above counts them (see `count_calls`).
    static EXTRA_CALLS: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Which attempt of a logical call this is: 1 for the first, 2 for the
/// first retry, and so on.
///
/// Inner services read it with [`Attempt::current`] while their `call` runs
/// and while their future is polled, whatever the request type; with
/// [`HttpReplay`](super::HttpReplay) it is also in each `http::Request`'s
/// extensions.
///
/// ```
/// use tower_failover::retry::Attempt;
///
/// assert_eq!(Attempt::FIRST.number(), 1);
/// assert!(!Attempt::FIRST.is_retry());
/// assert!(Attempt::FIRST.next().is_retry());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attempt(NonZeroU32);

impl Attempt {
    /// The first attempt.
    pub const FIRST: Attempt = Attempt(NonZeroU32::MIN);

    /// The attempt numbered `number`, if it is not zero.
    pub const fn new(number: u32) -> Option<Self> {
        match NonZeroU32::new(number) {
            Some(number) => Some(Self(number)),
            None => None,
        }
    }

    /// The attempt's number, from 1.
    pub const fn number(self) -> u32 {
        self.0.get()
    }

    /// Whether this attempt is a retry (not the first).
    pub const fn is_retry(self) -> bool {
        self.0.get() > 1
    }

    /// The attempt after this one (saturating).
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The attempt the current code runs in, if a [`Retry`](super::Retry)
    /// above is calling or polling it.
    #[inline]
    pub fn current() -> Option<Self> {
        CURRENT.get()
    }

    /// Runs `f` with this attempt as [`Attempt::current`].
    #[inline]
    pub(crate) fn scope<R>(self, f: impl FnOnce() -> R) -> R {
        crate::scoped::with(&CURRENT, Some(self), f)
    }

    /// Runs `f`, returning what it returned and how many extra calls (a
    /// [`Retry`](super::Retry)'s retries, a nested fallback's tiers) were
    /// made inside it meanwhile: a fallback layer counts the calls each of
    /// its tiers makes this way.
    #[allow(dead_code)] // unused without the `fallback` feature
    #[inline]
    pub(crate) fn count_calls<R>(f: impl FnOnce() -> R) -> (R, u32) {
        crate::scoped::with(&EXTRA_CALLS, Some(0), || {
            let result = f();
            (result, EXTRA_CALLS.get().unwrap_or(0))
        })
    }

    /// Tells a layer above that counts calls that `extra` more were made.
    #[inline]
    pub(crate) fn note_calls(extra: u32) {
        if let Some(calls) = EXTRA_CALLS.get() {
            EXTRA_CALLS.set(Some(calls.saturating_add(extra)));
        }
    }
}

impl fmt::Debug for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Attempt").field(&self.0.get()).finish()
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.get(), f)
    }
}
