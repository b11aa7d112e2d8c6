//! The sliding windows: lock-free, O(1) recording; a snapshot is one load
//! (count window) or one load per bucket (time window).

use super::config::WindowKind;
use super::sync::{AtomicU8, AtomicU64, Ordering};

/// What the window says about its calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Snapshot {
    pub(super) calls: u32,
    pub(super) failures: u32,
    pub(super) slow: u32,
}

#[derive(Debug)]
pub(super) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(super) fn new(kind: WindowKind) -> Self {
        match kind {
            WindowKind::Count(calls) => Self::Count(CountWindow::new(calls)),
            WindowKind::Time { span, buckets } => {
                // `build` checked that each bucket is at least 1 ms wide.
                let width = (span.as_millis() / u128::from(buckets)).max(1);
                Self::Time(TimeWindow::new(
                    u64::try_from(width).unwrap_or(u64::MAX),
                    buckets,
                ))
            }
        }
    }

    /// Whether recording needs the current time.
    pub(super) fn needs_clock(&self) -> bool {
        matches!(self, Self::Time(_))
    }

    /// Records one counted call: O(1), whatever the window's size.
    #[inline]
    pub(super) fn record(&self, failed: bool, slow: bool, now_ms: u64) {
        match self {
            Self::Count(window) => window.record(failed, slow),
            Self::Time(window) => window.record(failed, slow, now_ms),
        }
    }

    pub(super) fn snapshot(&self, now_ms: u64) -> Snapshot {
        match self {
            Self::Count(window) => window.snapshot(),
            Self::Time(window) => window.snapshot(now_ms),
        }
    }

    pub(super) fn reset(&self, now_ms: u64) {
        match self {
            Self::Count(window) => window.reset(),
            Self::Time(window) => window.reset(now_ms),
        }
    }
}

// ---- count window ---------------------------------------------------------

// A slot: 0 when empty, else RECORDED with FAILED and SLOW as they were.
const RECORDED: u8 = 1;
const FAILED: u8 = 2;
const SLOW: u8 = 4;

// The three totals live in one word, 21 bits each, each biased by 2^19 so
// that a transiently negative total (two writers racing on one slot, their
// adjustments landing in the other order) never borrows from its
// neighbour. A snapshot is one load.
const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
const BIAS: u64 = 1 << 19;
const BIASED_ZERO: u64 = BIAS | (BIAS << FIELD_BITS) | (BIAS << (2 * FIELD_BITS));

/// The last `n` calls: a ring of one-byte slots, written at an index taken
/// with `fetch_add`, and the totals adjusted by the difference between the
/// old and the new slot. In the steady state (a success replacing a
/// success) recording is a `fetch_add` and a `swap`, nothing else.
///
/// Invariant, whatever the interleaving: once every recorder has finished,
/// the totals equal the sum of the slots. Two recorders more than a whole
/// window apart may land on one slot in either order; the window then holds
/// the older of the two outcomes, which is the only approximation.
#[derive(Debug)]
pub(super) struct CountWindow {
    head: AtomicU64,
    slots: Box<[AtomicU8]>,
    totals: AtomicU64,
    size: u32,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        Self {
            head: AtomicU64::new(0),
            slots: (0..size).map(|_| AtomicU8::new(0)).collect(),
            totals: AtomicU64::new(BIASED_ZERO),
            size,
        }
    }

    #[inline]
    fn record(&self, failed: bool, slow: bool) {
        let index = self.head.fetch_add(1, Ordering::Relaxed) % u64::from(self.size);
        let new = RECORDED | if failed { FAILED } else { 0 } | if slow { SLOW } else { 0 };
        // `index < size`, which came from a `u32`: the cast is lossless.
        let old = self.slots[index as usize].swap(new, Ordering::Relaxed);
        self.adjust(old, new)
    }

    /// Moves the totals from `old` to `new`.
    #[inline]
    fn adjust(&self, old: u8, new: u8) {
        if old == new {
            return;
        }
        let delta = field_delta(old, new, RECORDED)
            .wrapping_add(field_delta(old, new, FAILED) << FIELD_BITS)
            .wrapping_add(field_delta(old, new, SLOW) << (2 * FIELD_BITS));
        self.totals.fetch_add(delta, Ordering::Relaxed);
    }

    fn decode(&self, word: u64) -> Snapshot {
        let field = |shift: u32| {
            let biased = (word >> shift) & FIELD_MASK;
            // Clamp transient races into [0, size].
            biased.saturating_sub(BIAS).min(u64::from(self.size)) as u32
        };
        Snapshot {
            calls: field(0),
            failures: field(FIELD_BITS),
            slow: field(2 * FIELD_BITS),
        }
    }

    fn snapshot(&self) -> Snapshot {
        self.decode(self.totals.load(Ordering::Relaxed))
    }

    /// Empties every slot, adjusting the totals slot by slot, so that the
    /// invariant holds even with recorders running.
    fn reset(&self) {
        for slot in self.slots.iter() {
            let old = slot.swap(0, Ordering::Relaxed);
            if old != 0 {
                self.adjust(old, 0);
            }
        }
    }

    /// The sum of the slots (tests: compare with the totals).
    #[cfg(any(test, loom))]
    pub(super) fn recount(&self) -> Snapshot {
        let mut sum = Snapshot::default();
        for slot in self.slots.iter() {
            let value = slot.load(Ordering::Relaxed);
            sum.calls += u32::from(value & RECORDED != 0);
            sum.failures += u32::from(value & FAILED != 0);
            sum.slow += u32::from(value & SLOW != 0);
        }
        sum
    }
}

/// +1, 0 or -1 (as a wrapping `u64`) for one flag going from `old` to `new`.
#[inline]
fn field_delta(old: u8, new: u8, flag: u8) -> u64 {
    match (old & flag != 0, new & flag != 0) {
        (false, true) => 1,
        (true, false) => u64::MAX,
        _ => 0,
    }
}

// ---- time window ----------------------------------------------------------

// A bucket: its tag (the bucket's epoch, `now / width`, modulo 2^22) in the
// top 22 bits, then three 14-bit counts. One word, so that rolling a bucket
// over to a new epoch and counting in it is one compare-and-swap: no lock,
// no lost update.
const COUNT_BITS: u32 = 14;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;
const TAG_SHIFT: u32 = 3 * COUNT_BITS;
const TAG_MASK: u64 = (1 << (64 - TAG_SHIFT)) - 1;

/// The calls of the last `buckets × width` milliseconds.
///
/// A bucket whose tag is more than `buckets` epochs old is empty. Tags are
/// 22 bits: a bucket untouched for a multiple of 2^22 epochs (70 minutes
/// with 1 ms buckets, 48 days with 1 s buckets) could pass for current;
/// any call landing in it first resets it.
#[derive(Debug)]
pub(super) struct TimeWindow {
    width_ms: u64,
    buckets: Box<[AtomicU64]>,
}

impl TimeWindow {
    fn new(width_ms: u64, buckets: u32) -> Self {
        Self {
            width_ms,
            buckets: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn len(&self) -> u64 {
        self.buckets.len() as u64
    }

    #[inline]
    fn record(&self, failed: bool, slow: bool, now_ms: u64) {
        let epoch = now_ms / self.width_ms;
        let tag = epoch & TAG_MASK;
        // `epoch % len < len <= MAX_BUCKETS`: lossless.
        let bucket = &self.buckets[(epoch % self.len()) as usize];
        let add = 1 | (u64::from(failed) << COUNT_BITS) | (u64::from(slow) << (2 * COUNT_BITS));
        let mut word = bucket.load(Ordering::Relaxed);
        loop {
            let current = word >> TAG_SHIFT;
            let new = if current == tag {
                if word & COUNT_MAX == COUNT_MAX {
                    // Saturated: the bucket keeps its first calls' proportions.
                    break;
                }
                word + add
            } else if (1..=self.len()).contains(&(current.wrapping_sub(tag) & TAG_MASK)) {
                // The bucket already belongs to the next rotation: this
                // recorder read the clock a whole window ago, and its call
                // has left the window.
                break;
            } else {
                (tag << TAG_SHIFT) | add
            };
            match bucket.compare_exchange_weak(word, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(actual) => word = actual,
            }
        }
    }

    fn snapshot(&self, now_ms: u64) -> Snapshot {
        let tag = (now_ms / self.width_ms) & TAG_MASK;
        let mut sum = Snapshot::default();
        for bucket in self.buckets.iter() {
            let word = bucket.load(Ordering::Relaxed);
            let age = tag.wrapping_sub(word >> TAG_SHIFT) & TAG_MASK;
            if age < self.len() {
                sum.calls += (word & COUNT_MAX) as u32;
                sum.failures += ((word >> COUNT_BITS) & COUNT_MAX) as u32;
                sum.slow += ((word >> (2 * COUNT_BITS)) & COUNT_MAX) as u32;
            }
        }
        sum
    }

    fn reset(&self, now_ms: u64) {
        // A tag one whole window old: empty, and replaced by the next write.
        let stale = ((now_ms / self.width_ms).wrapping_sub(self.len()) & TAG_MASK) << TAG_SHIFT;
        for bucket in self.buckets.iter() {
            bucket.store(stale, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn count_window_slides() {
        let window = Window::new(WindowKind::Count(3));
        window.record(true, false, 0);
        assert_eq!(window.snapshot(0).failures, 1);
        window.record(false, true, 0);
        window.record(true, false, 0);
        let full = window.snapshot(0);
        assert_eq!((full.calls, full.failures, full.slow), (3, 2, 1));
        // The first failure slides out.
        window.record(false, false, 0);
        let slid = window.snapshot(0);
        assert_eq!((slid.calls, slid.failures, slid.slow), (3, 1, 1));
        window.reset(0);
        assert_eq!(window.snapshot(0), Snapshot::default());
        let Window::Count(inner) = &window else {
            unreachable!()
        };
        assert_eq!(inner.recount(), Snapshot::default());
    }

    #[test]
    fn time_window_expires_buckets() {
        let window = Window::new(WindowKind::Time {
            span: Duration::from_millis(100),
            buckets: 10,
        });
        window.record(true, false, 5);
        window.record(false, false, 15);
        assert_eq!(window.snapshot(99).calls, 2);
        // At 105 ms the first bucket (0..10) has left the window.
        let later = window.snapshot(105);
        assert_eq!((later.calls, later.failures), (1, 0));
        assert_eq!(window.snapshot(1_000).calls, 0);
        // A stale recorder cannot overwrite a later epoch.
        window.record(true, false, 105);
        window.record(true, false, 5);
        assert_eq!(window.snapshot(105).failures, 1);
        window.reset(1_005);
        assert_eq!(window.snapshot(1_005), Snapshot::default());
        window.record(false, false, 1_006);
        assert_eq!(window.snapshot(1_006).calls, 1);
    }

    #[test]
    fn time_window_bucket_saturates() {
        let window = TimeWindow::new(1_000, 1);
        for i in 0..(COUNT_MAX + 10) {
            window.record(i % 2 == 0, false, 0);
        }
        let snapshot = window.snapshot(0);
        assert_eq!(u64::from(snapshot.calls), COUNT_MAX);
        assert_eq!(u64::from(snapshot.failures), COUNT_MAX.div_ceil(2));
    }
}
