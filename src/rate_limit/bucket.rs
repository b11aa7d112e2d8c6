//! A lock-free bucket: GCRA on one atomic word, and a "hold" learnt from
//! the upstream's headers on another.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::config::Rate;

/// The largest count a hold keeps (22 bits); a larger remaining count from
/// the upstream is read as this many (a little more cautious, never less).
pub(super) const MAX_HOLD_LEFT: u64 = (1 << 22) - 1;
const HOLD_LEFT_BITS: u32 = 22;
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
#[derive(Debug)]
pub(super) struct Bucket {
    tat: AtomicU64,
    hold: AtomicU64,
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
    /// The hold word the cost was taken from, if one was.
    hold: Option<u64>,
}

impl Reserved {
    pub(super) const NONE: Reserved = Reserved {
        cost: 0,
        tat: 0,
        hold: None,
    };
}

fn pack(until_ms: u64, left: u64) -> u64 {
    (until_ms << HOLD_LEFT_BITS) | left.min(MAX_HOLD_LEFT)
}

fn unpack(word: u64) -> (u64, u64) {
    (word >> HOLD_LEFT_BITS, word & MAX_HOLD_LEFT)
}

impl Bucket {
    pub(super) fn new(rate: &Rate) -> Self {
        let interval = rate.interval_nanos();
        let capacity = rate.capacity();
        Self {
            tat: AtomicU64::new(0),
            hold: AtomicU64::new(0),
            interval,
            limit: interval.saturating_mul(capacity),
            capacity,
        }
    }

    /// The most units one call may cost.
    pub(super) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Reserves `cost` units at `now` if the wait for them is at most
    /// `max_wait`: `Ok((wait, reservation))`, or `Err(wait)` with the wait
    /// it would have taken (nothing reserved). Every time in nanoseconds
    /// since the origin.
    #[inline]
    pub(super) fn reserve(
        &self,
        now: u64,
        cost: u64,
        max_wait: u64,
    ) -> Result<(u64, Reserved), u64> {
        let mut start = now;
        let mut held = None;
        let hold = self.hold.load(Ordering::Relaxed);
        if hold != 0 {
            let (until_ms, _) = unpack(hold);
            if until_ms.saturating_mul(NANOS_PER_MILLI) > now {
                match self.take_from_hold(hold, now, cost) {
                    Some(word) => held = Some(word),
                    None => start = until_ms.saturating_mul(NANOS_PER_MILLI),
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
                if let Some(word) = held {
                    self.give_back_to_hold(word, cost);
                }
                return Err(wait);
            }
            match self
                .tat
                .compare_exchange_weak(tat, new_tat, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Ok((
                        wait,
                        Reserved {
                            cost,
                            tat: new_tat,
                            hold: held,
                        },
                    ));
                }
                Err(actual) => tat = actual,
            }
        }
    }

    /// Takes `cost` from the running hold (first read as `word`): the hold
    /// word taken from, or `None` if `left` cannot pay.
    #[cold]
    fn take_from_hold(&self, mut word: u64, now: u64, cost: u64) -> Option<u64> {
        loop {
            let (until_ms, left) = unpack(word);
            if until_ms.saturating_mul(NANOS_PER_MILLI) <= now {
                // Ended meanwhile: a hold word nobody takes from.
                return Some(0);
            }
            // Nothing left stops even a call that costs nothing.
            if left < cost || left == 0 {
                return None;
            }
            let new = pack(until_ms, left - cost);
            match self
                .hold
                .compare_exchange_weak(word, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(new),
                Err(actual) => word = actual,
            }
        }
    }

    /// Gives `cost` back to the hold it was taken from, if that hold is
    /// still the one running.
    #[cold]
    fn give_back_to_hold(&self, taken: u64, cost: u64) {
        if taken == 0 {
            return;
        }
        let (until, _) = unpack(taken);
        let mut word = self.hold.load(Ordering::Relaxed);
        loop {
            let (current, left) = unpack(word);
            if current != until {
                return;
            }
            let new = pack(until, left.saturating_add(cost));
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
        if let Some(word) = reserved.hold {
            self.give_back_to_hold(word, reserved.cost);
        }
    }

    /// The upstream said `remaining` units are left until `reset` from
    /// `now`: at most that many pass before then.
    #[cold]
    pub(super) fn hold(&self, now: u64, remaining: u64, reset: Duration) {
        let reset = u64::try_from(reset.as_nanos()).unwrap_or(u64::MAX);
        let until_ms = now.saturating_add(reset).div_ceil(NANOS_PER_MILLI);
        // 42 bits of milliseconds: some 139 years after the origin.
        let until_ms = until_ms.min(u64::MAX >> HOLD_LEFT_BITS);
        self.hold
            .store(pack(until_ms, remaining), Ordering::Relaxed);
    }

    /// The running hold at `now`: units left and when it ends.
    pub(super) fn current_hold(&self, now: u64) -> Option<(u64, u64)> {
        let (until_ms, left) = unpack(self.hold.load(Ordering::Relaxed));
        let until = until_ms.saturating_mul(NANOS_PER_MILLI);
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
}
