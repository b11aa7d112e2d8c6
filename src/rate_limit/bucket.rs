//! A lock-free bucket: GCRA on one atomic word, and a "hold" learnt from
//! the upstream's headers on another.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::config::Rate;

/// How many bits of a hold word keep the count left.
const HOLD_LEFT_BITS: u32 = 27;
/// The largest count a hold keeps (27 bits: 134,217,727); a larger
/// remaining count from the upstream is read as this many (a little more
/// cautious, never less).
pub(super) const MAX_HOLD_LEFT: u64 = (1 << HOLD_LEFT_BITS) - 1;
/// The latest end of a hold, in milliseconds since the limiter's origin (37
/// bits: some four years). A hold learnt later than that ends at once.
const MAX_HOLD_UNTIL_MS: u64 = u64::MAX >> HOLD_LEFT_BITS;
const NANOS_PER_MILLI: u64 = 1_000_000;

/// The generic cell rate algorithm (GCRA), the token bucket written as one
/// number: the *theoretical arrival time* (`tat`) of the next unit, in
/// nanoseconds since the limiter's origin. A cost of `c` units at `now` is
/// admitted from `max(tat, now) + c × interval − capacity × interval` on,
/// and moves `tat` to `max(tat, now) + c × interval`. Admitting is one
/// compare-and-swap.
///
/// The *hold* is what the upstream said: at most `left` more units before
/// `until` (milliseconds since the origin), packed in one word. While a
/// hold runs, each admission takes its cost from `left`; once `left` cannot
/// pay, calls are scheduled from `until` on.
///
/// When the limiter adapts, the bucket also counts the units it admitted
/// (`admitted`): each call keeps the count just after its own admission as
/// its *stamp*, so that the remaining count of its response can be charged
/// with every unit admitted since (calls the upstream had not seen yet), and
/// a response can be told older than the one that set the running hold
/// (`hold_stamp`).
pub(super) struct Bucket {
    tat: AtomicU64,
    hold: AtomicU64,
    admitted: AtomicU64,
    hold_stamp: AtomicU64,
    interval: u64,
    limit: u64,
    capacity: u64,
}

/// A unit's reservation in a bucket: what to give back if the call is
/// dropped before its turn.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reserved {
    cost: u64,
    /// The theoretical arrival time the reservation moved the bucket to.
    tat: u64,
    /// The end (milliseconds) of the hold the cost was taken from, if it was.
    held_until: Option<u64>,
    /// The bucket's admission count just after this reservation.
    pub(super) stamp: u64,
}

impl Reserved {
    pub(super) const NONE: Reserved = Reserved {
        cost: 0,
        tat: 0,
        held_until: None,
        stamp: 0,
    };
}

fn pack(until_ms: u64, left: u64) -> u64 {
    (until_ms.min(MAX_HOLD_UNTIL_MS) << HOLD_LEFT_BITS) | left.min(MAX_HOLD_LEFT)
}

fn unpack(word: u64) -> (u64, u64) {
    (word >> HOLD_LEFT_BITS, word & MAX_HOLD_LEFT)
}

fn ms_to_nanos(ms: u64) -> u64 {
    ms.saturating_mul(NANOS_PER_MILLI)
}

impl Bucket {
    /// A full bucket for `rate`.
    pub(super) fn new(rate: &Rate) -> Self {
        let interval = rate.interval_nanos();
        let capacity = rate.capacity();
        Self {
            tat: AtomicU64::new(0),
            hold: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
            hold_stamp: AtomicU64::new(0),
            interval,
            limit: interval.saturating_mul(capacity),
            capacity,
        }
    }

    /// The most units one call may cost.
    pub(super) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// When a call costing `cost` may start as far as the hold is concerned:
    /// `start`, or the hold's end if what is left cannot pay.
    #[inline]
    fn hold_start(&self, now: u64, start: u64, cost: u64) -> u64 {
        let hold = self.hold.load(Ordering::Relaxed);
        if hold == 0 {
            return start;
        }
        let (until_ms, left) = unpack(hold);
        let until = ms_to_nanos(until_ms);
        // Nothing left stops even a call that costs nothing.
        if until > now && (left < cost || left == 0) {
            start.max(until)
        } else {
            start
        }
    }

    /// How long from `now` a call costing `cost`, not starting before
    /// `start`, would wait; reserves nothing.
    #[inline]
    pub(super) fn wait(&self, now: u64, start: u64, cost: u64) -> u64 {
        let start = self.hold_start(now, start, cost);
        let tat = self.tat.load(Ordering::Relaxed);
        let new_tat = tat
            .max(start)
            .saturating_add(cost.saturating_mul(self.interval));
        new_tat.saturating_sub(self.limit).max(start) - now
    }

    /// Reserves `cost` units at `now`, not before `start` (a pause), if the
    /// wait for them is at most `max_wait`: `Ok((wait, reservation))`, or
    /// `Err(wait)` with the wait it would have taken (nothing reserved).
    /// Every time in nanoseconds since the origin. `count`: whether to count
    /// the admission and stamp the reservation (only for a call whose
    /// response will be read: one atomic add).
    #[inline]
    pub(super) fn reserve(
        &self,
        now: u64,
        start: u64,
        cost: u64,
        max_wait: u64,
        count: bool,
    ) -> Result<(u64, Reserved), u64> {
        let mut start = start;
        let mut held = None;
        let hold = self.hold.load(Ordering::Relaxed);
        if hold != 0 {
            let (until_ms, _) = unpack(hold);
            if ms_to_nanos(until_ms) > now {
                match self.take_from_hold(hold, now, cost) {
                    Ok(taken) => held = taken,
                    Err(until) => start = start.max(until),
                }
            }
        }
        let step = cost.saturating_mul(self.interval);
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let new_tat = tat.max(start).saturating_add(step);
            let allow_at = new_tat.saturating_sub(self.limit).max(start);
            let wait = allow_at - now;
            if wait > max_wait {
                if let Some((until_ms, hold_stamp)) = held {
                    // Nothing was admitted: give back to the same hold only.
                    self.give_back_to_hold(until_ms, cost, |stamp| stamp == hold_stamp);
                }
                return Err(wait);
            }
            match self
                .tat
                .compare_exchange_weak(tat, new_tat, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    let stamp = if count {
                        self.admitted
                            .fetch_add(cost, Ordering::Relaxed)
                            .wrapping_add(cost)
                    } else {
                        0
                    };
                    return Ok((
                        wait,
                        Reserved {
                            cost,
                            tat: new_tat,
                            held_until: held.map(|(until_ms, _)| until_ms),
                            stamp,
                        },
                    ));
                }
                Err(actual) => tat = actual,
            }
        }
    }

    /// Takes `cost` from the running hold (first read as `word`):
    /// `Ok(Some((until_ms, hold_stamp)))` of the hold taken from, `Ok(None)`
    /// if it ended meanwhile, or `Err(until)` if `left` cannot pay.
    #[cold]
    fn take_from_hold(
        &self,
        mut word: u64,
        now: u64,
        cost: u64,
    ) -> Result<Option<(u64, u64)>, u64> {
        loop {
            let hold_stamp = self.hold_stamp.load(Ordering::Relaxed);
            let (until_ms, left) = unpack(word);
            let until = ms_to_nanos(until_ms);
            if until <= now {
                return Ok(None);
            }
            // Nothing left stops even a call that costs nothing.
            if left < cost || left == 0 {
                return Err(until);
            }
            let new = pack(until_ms, left - cost);
            match self
                .hold
                .compare_exchange_weak(word, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(Some((until_ms, hold_stamp))),
                Err(actual) => word = actual,
            }
        }
    }

    /// Gives `cost` back to the running hold if it still ends at `until_ms`
    /// and `same(hold_stamp)` says it still counts the cost.
    #[cold]
    fn give_back_to_hold(&self, until_ms: u64, cost: u64, same: impl Fn(u64) -> bool) {
        let mut word = self.hold.load(Ordering::Relaxed);
        loop {
            let (current, left) = unpack(word);
            if current != until_ms || !same(self.hold_stamp.load(Ordering::Relaxed)) {
                return;
            }
            let new = pack(until_ms, left.saturating_add(cost));
            match self
                .hold
                .compare_exchange_weak(word, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    /// Gives a reservation back (its call was dropped before its turn, or
    /// another bucket refused it), if it is the last one made: the next
    /// caller gets its slot. A reservation with others after it is not
    /// given back (its slot goes unused): moving the bucket back under
    /// their feet would let two calls share one slot, a burst the
    /// configuration does not allow.
    ///
    /// Its cost goes back to the running hold only if that hold counted it:
    /// the hold it was taken from, or one learnt from a response to a call
    /// admitted before it (whose remaining count was charged with it). A
    /// hold learnt from a call admitted after it never counted it (the
    /// upstream never saw it), and keeps its count.
    #[cold]
    pub(super) fn refund(&self, reserved: Reserved) {
        if reserved.cost == 0 {
            return;
        }
        let step = reserved.cost.saturating_mul(self.interval);
        let _ = self.tat.compare_exchange(
            reserved.tat,
            reserved.tat.saturating_sub(step),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        if let Some(until_ms) = reserved.held_until {
            self.give_back_to_hold(until_ms, reserved.cost, |hold_stamp| {
                hold_stamp < reserved.stamp
            });
        }
    }

    /// The upstream said, in the response to the call stamped `stamp`, that
    /// `remaining` units are left until `reset` from `now`.
    ///
    /// The count is charged with every unit admitted since that call (the
    /// upstream had not seen them). It replaces the running hold unless
    /// that one is stricter (as few left or fewer) and ends as late or
    /// later; a response older than the one that set the running hold (a
    /// smaller stamp: it arrived out of order) replaces it only if it is
    /// stricter and ends as late or later. Returns whether it took effect.
    #[cold]
    pub(super) fn hold(&self, now: u64, stamp: u64, remaining: u64, reset: Duration) -> bool {
        let reset = u64::try_from(reset.as_nanos()).unwrap_or(u64::MAX);
        let until_ms = now
            .saturating_add(reset)
            .div_ceil(NANOS_PER_MILLI)
            .min(MAX_HOLD_UNTIL_MS);
        let mut word = self.hold.load(Ordering::Relaxed);
        loop {
            let since = self.admitted.load(Ordering::Relaxed).wrapping_sub(stamp);
            // A stamp from the future (a race with the counter) charges nothing.
            let since = if since > u64::MAX / 2 { 0 } else { since };
            let left = remaining.saturating_sub(since).min(MAX_HOLD_LEFT);
            let (current_until, current_left) = unpack(word);
            if ms_to_nanos(current_until) > now {
                let current_wins = current_left <= left && current_until >= until_ms;
                let new_wins = left <= current_left && until_ms >= current_until;
                let older = stamp < self.hold_stamp.load(Ordering::Relaxed);
                if (older && !new_wins) || (!older && current_wins) {
                    return false;
                }
            }
            match self.hold.compare_exchange_weak(
                word,
                pack(until_ms, left),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.hold_stamp.store(stamp, Ordering::Relaxed);
                    return true;
                }
                Err(actual) => word = actual,
            }
        }
    }

    /// The running hold at `now`: units left and when it ends (nanoseconds).
    pub(super) fn current_hold(&self, now: u64) -> Option<(u64, u64)> {
        let (until_ms, left) = unpack(self.hold.load(Ordering::Relaxed));
        let until = ms_to_nanos(until_ms);
        (until > now).then_some((left, until))
    }

    /// How many units would pass at `now` without waiting.
    pub(super) fn available(&self, now: u64) -> u64 {
        let tat = self.tat.load(Ordering::Relaxed).max(now);
        let used = tat - now;
        let free = self.limit.saturating_sub(used) / self.interval;
        match self.current_hold(now) {
            Some((left, _)) => free.min(left),
            None => free,
        }
    }

    /// Whether the bucket is full and holds nothing the upstream said.
    pub(super) fn is_idle(&self, now: u64) -> bool {
        self.current_hold(now).is_none() && self.available(now) == self.capacity
    }

    /// How long from `now` until the bucket is full and holds nothing.
    pub(super) fn idle_in(&self, now: u64) -> u64 {
        let tat = self.tat.load(Ordering::Relaxed);
        let hold = self.current_hold(now).map_or(0, |(_, until)| until);
        tat.max(hold).saturating_sub(now)
    }
}

/// Readable: the rate as a duration per unit, the theoretical arrival time
/// and the hold as durations since the limiter's origin.
impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (until_ms, left) = unpack(self.hold.load(Ordering::Relaxed));
        let mut debug = f.debug_struct("Bucket");
        debug
            .field("per_unit", &Duration::from_nanos(self.interval))
            .field("burst", &self.capacity)
            .field(
                "next_unit_at",
                &Duration::from_nanos(self.tat.load(Ordering::Relaxed)),
            );
        if until_ms != 0 {
            debug
                .field("hold_left", &left)
                .field("hold_until", &Duration::from_millis(until_ms));
        }
        debug
            .field("admitted", &self.admitted.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(count: u64, per: Duration) -> Bucket {
        Bucket::new(&Rate {
            count,
            per,
            burst: None,
        })
    }

    const MINUTE: Duration = Duration::from_secs(60);
    const NEVER: u64 = u64::MAX;

    #[test]
    fn a_dropped_call_is_not_given_back_to_a_hold_that_never_counted_it() {
        let bucket = bucket(100, Duration::from_secs(1));
        assert!(bucket.hold(0, 0, 5, MINUTE));
        let (_, dropped) = bucket.reserve(0, 0, 1, NEVER, true).unwrap();
        let (_, later) = bucket.reserve(0, 0, 1, NEVER, true).unwrap();
        assert_eq!(bucket.current_hold(0).unwrap().0, 3);
        // The later call's response: 2 left, the same reset. The upstream
        // never saw the dropped call, and it was admitted before: the 2
        // do not count it.
        assert!(bucket.hold(0, later.stamp, 2, MINUTE));
        bucket.refund(dropped);
        assert_eq!(bucket.current_hold(0).unwrap().0, 2);
    }

    #[test]
    fn a_dropped_call_goes_back_to_the_hold_it_was_taken_from() {
        let bucket = bucket(100, Duration::from_secs(1));
        assert!(bucket.hold(0, 0, 5, MINUTE));
        let (_, first) = bucket.reserve(0, 0, 1, NEVER, true).unwrap();
        let (_, dropped) = bucket.reserve(0, 0, 1, NEVER, true).unwrap();
        // The first call's response (admitted before): 3 left, charged
        // with the dropped call in flight: 2.
        assert!(bucket.hold(0, first.stamp, 3, MINUTE));
        assert_eq!(bucket.current_hold(0).unwrap().0, 2);
        bucket.refund(dropped);
        assert_eq!(bucket.current_hold(0).unwrap().0, 3);
    }

    #[test]
    fn a_hold_ends_no_later_than_about_four_years_after_the_origin() {
        let bucket = bucket(100, Duration::from_secs(1));
        let late = ms_to_nanos(MAX_HOLD_UNTIL_MS) + 1;
        bucket.hold(late, 0, 0, MINUTE);
        // Past the field's range: the hold ends at once, the rate applies.
        assert_eq!(bucket.current_hold(late), None);
        assert_eq!(bucket.wait(late, late, 1), 0);
    }

    /// Threads racing for a hold of 300 with room to spare in the bucket:
    /// exactly 300 pass, and the admission count says so.
    #[test]
    fn racing_threads_take_exactly_what_a_hold_leaves() {
        let bucket = bucket(1 << 20, Duration::from_secs(1));
        assert!(bucket.hold(0, 0, 300, MINUTE));
        let admitted = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        if bucket.reserve(0, 0, 1, 0, true).is_ok() {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(admitted.into_inner(), 300);
        assert_eq!(bucket.admitted.load(Ordering::Relaxed), 300);
        assert_eq!(bucket.current_hold(0).map(|(left, _)| left), Some(0));
    }

    #[test]
    fn debug_is_readable() {
        let bucket = bucket(100, Duration::from_secs(1));
        bucket.hold(0, 0, 5, Duration::from_secs(2));
        let debug = format!("{bucket:?}");
        assert!(debug.contains("per_unit: 10ms"), "{debug}");
        assert!(debug.contains("hold_left: 5"), "{debug}");
        assert!(debug.contains("hold_until: 2s"), "{debug}");
    }
}
