use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::InvalidConfig;

/// How many slots the sliding window has.
const SLOTS: usize = 10;
/// Budget units one retry costs; a request deposits `ratio × UNIT`.
const UNIT: i64 = 1000;

/// A retry budget shared by every clone of the service (and by every
/// service given a clone of it): retries may add at most a fixed share of
/// load on top of the requests, plus a small floor.
///
/// Over a sliding window of `ttl`, the budget allows
/// `min_per_sec × ttl + ratio × requests` retries. When an upstream fails
/// everything, the load it sees is bounded by `(1 + ratio) × requests`
/// instead of `max_attempts × requests`: an outage is never amplified into
/// a retry storm. When the budget is spent, [`Retry`](super::Retry) returns
/// the failed result at once (so a fallback can move on) and emits an event.
///
/// The defaults follow Finagle and tower: a 10 s window, a floor of 10
/// retries per second and a ratio of 20 %.
///
/// Lock-free and cheap on the happy path: a request adds to one of ten
/// atomic slots, each tagged with its generation (the slot's index in time)
/// so that stale slots are ignored without any rotation step. Deposits do
/// not read the clock: they go to the slot of the latest generation anyone
/// has seen, which every withdrawal, every [`remaining`](Self::remaining)
/// and every 64th deposit on a thread brings up to date. A stale generation
/// only ever errs on the safe side: deposits made during a long run of
/// successes may expire early, so right after it the budget allows fewer
/// retries (never more) than the exact window would — down to the floor.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::retry::RetryBudget;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.5).unwrap();
/// budget.deposit();
/// budget.deposit();
/// assert!(budget.withdraw()); // two requests buy one retry
/// assert!(!budget.withdraw());
/// # }
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    shared: Arc<Shared>,
}

struct Shared {
    start: Instant,
    slot_nanos: u64,
    deposit: i64,
    reserve: i64,
    // The latest generation anyone has read off the clock.
    current: AtomicU32,
    // Each slot packs (generation: u32) << 32 | (balance: i32 as u32).
    slots: [AtomicU64; SLOTS],
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(Duration::from_secs(10), 10, 0.2).expect("default budget is valid")
    }
}

impl RetryBudget {
    /// A budget over a window of `ttl` (1 s to 60 s), allowing
    /// `min_per_sec` retries per second whatever the traffic, plus `ratio`
    /// retries per request (0.0 to 1000.0).
    ///
    /// # Errors
    ///
    /// If a setting is out of range.
    pub fn new(ttl: Duration, min_per_sec: u32, ratio: f32) -> Result<Self, InvalidConfig> {
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&ttl) {
            return Err(InvalidConfig::new(
                "retry",
                "budget.ttl",
                "must be between 1s and 60s",
            ));
        }
        if !(0.0..=1000.0).contains(&ratio) {
            return Err(InvalidConfig::new(
                "retry",
                "budget.ratio",
                "must be between 0 and 1000",
            ));
        }
        let ttl_secs = ttl.as_secs_f64();
        let reserve = (f64::from(min_per_sec) * ttl_secs).min(1e9) as i64 * UNIT;
        Ok(Self {
            shared: Arc::new(Shared {
                start: Instant::now(),
                // ttl ≥ 1 s, so a slot is at least 100 ms: never zero.
                slot_nanos: (ttl.as_nanos() / SLOTS as u128) as u64,
                deposit: (f64::from(ratio) * UNIT as f64).round() as i64,
                reserve,
                current: AtomicU32::new(0),
                slots: std::array::from_fn(|_| AtomicU64::new(0)),
            }),
        })
    }

    /// Records one request (every logical call, not each attempt).
    #[inline]
    pub fn deposit(&self) {
        let shared = &*self.shared;
        if shared.deposit != 0 {
            let generation = if clock_tick() {
                shared.generation()
            } else {
                shared.current.load(Ordering::Relaxed)
            };
            shared.add(generation, shared.deposit);
        }
    }

    /// Takes the price of one retry, if the budget has it.
    pub fn withdraw(&self) -> bool {
        let shared = &*self.shared;
        let generation = shared.generation();
        if shared.reserve + shared.sum(generation) < UNIT {
            return false;
        }
        shared.add(generation, -UNIT);
        true
    }

    /// How many retries the budget allows right now.
    pub fn remaining(&self) -> u64 {
        let shared = &*self.shared;
        let balance = shared.reserve + shared.sum(shared.generation());
        u64::try_from(balance / UNIT).unwrap_or(0)
    }
}

impl Shared {
    #[inline]
    fn generation(&self) -> u32 {
        let elapsed = Instant::now().saturating_duration_since(self.start);
        // u64 nanoseconds last 584 years; the generation wraps after 2^32
        // slots (over a century at the smallest slot), which `sum` tolerates.
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let generation = (nanos / self.slot_nanos) as u32;
        self.current.fetch_max(generation, Ordering::Relaxed);
        generation
    }

    #[inline]
    fn add(&self, generation: u32, amount: i64) {
        let slot = &self.slots[generation as usize % SLOTS];
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            let (tag, value) = unpack(current);
            // Same generation (or a newer one, written by a thread that read
            // the clock since): add to it. An older one has expired: restart.
            let next = if (tag.wrapping_sub(generation) as i32) >= 0 {
                pack(tag, value.saturating_add(amount))
            } else {
                pack(generation, amount)
            };
            match slot.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    fn sum(&self, generation: u32) -> i64 {
        self.slots
            .iter()
            .map(|slot| unpack(slot.load(Ordering::Relaxed)))
            .filter(|&(tag, _)| generation.wrapping_sub(tag) < SLOTS as u32)
            .map(|(_, value)| value)
            .sum()
    }
}

/// True on the first deposit of each thread and every 64th after it.
#[inline]
fn clock_tick() -> bool {
    thread_local! {
        static DEPOSITS: Cell<u8> = const { Cell::new(0) };
    }
    DEPOSITS.with(|deposits| {
        let n = deposits.get();
        deposits.set(n.wrapping_add(1) % 64);
        n == 0
    })
}

#[inline]
fn pack(generation: u32, value: i64) -> u64 {
    let value = value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    (u64::from(generation) << 32) | u64::from(value as u32)
}

#[inline]
fn unpack(packed: u64) -> (u32, i64) {
    ((packed >> 32) as u32, i64::from(packed as u32 as i32))
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("remaining", &self.remaining())
            .finish_non_exhaustive()
    }
}
