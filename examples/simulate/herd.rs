//! The herd experiment of the AWS architecture blog's "Exponential Backoff
//! And Jitter": N clients each must make one write to a resource with
//! optimistic concurrency. Time is cut into slots of 10 ms (one write's
//! duration); of the calls landing in one slot, the first wins and the
//! others fail (a conflict) and back off with this crate's
//! [`Backoff::delay`] (base 10 ms, cap 10 s) before trying again. Reported:
//! total calls and the time until the last client succeeded, averaged over
//! 20 seeded trials.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use tower_failover::retry::{Backoff, Jitter};

use crate::scenarios::mix;

const SLOT: Duration = Duration::from_millis(10);

/// The jitter modes compared, in table order.
const MODES: [(Jitter, &str); 4] = [
    (Jitter::None, "no jitter"),
    (Jitter::Full, "full"),
    (Jitter::Equal, "equal"),
    (Jitter::Decorrelated, "decorrelated"),
];

/// Outcome of one trial: calls in all, and when the last client succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Trial {
    pub(crate) calls: u64,
    pub(crate) done: Duration,
}

/// One trial: `clients` clients all first calling at 0.
pub(crate) fn trial(clients: u64, jitter: Jitter, seed: u64) -> Trial {
    let backoff = Backoff::exponential(Duration::from_millis(10), Duration::from_secs(10))
        .with_jitter(jitter);
    // Pending calls: (slot, tie-break, client) → (retries so far, previous delay).
    let mut pending: BTreeMap<(u64, u64, u64), (u32, Duration)> = BTreeMap::new();
    for client in 0..clients {
        pending.insert((0, mix(&[seed, client]), client), (0, Duration::ZERO));
    }
    let slot_nanos = SLOT.as_nanos() as u64;
    let (mut calls, mut done) = (0u64, Duration::ZERO);
    while let Some(&(slot, _, client)) = pending.keys().next() {
        // The first call of the slot wins; every other call in it conflicts.
        let mut losers = Vec::new();
        while let Some(entry) = pending.first_entry() {
            if entry.key().0 != slot {
                break;
            }
            let ((_, _, other), state) = entry.remove_entry();
            if other != client {
                losers.push((other, state));
            }
        }
        calls += 1 + losers.len() as u64;
        done = Duration::from_nanos((slot + 1) * slot_nanos);
        for (loser, (retries, previous)) in losers {
            let retry = retries + 1;
            let random = mix(&[seed, loser, retry.into()]);
            let delay = backoff.delay(retry, previous, random);
            let at = (slot + 1) * slot_nanos + delay.as_nanos() as u64;
            let key = (at / slot_nanos, mix(&[seed, loser, retry.into(), 1]), loser);
            pending.insert(key, (retry, delay));
        }
    }
    Trial { calls, done }
}

/// The herd table for N in {10, 50, 100}, averaged over 20 trials.
pub(crate) fn table(seed: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| clients | jitter | total calls (mean) | calls per client | completion time (mean) |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---:|");
    for clients in [10u64, 50, 100] {
        for (jitter, name) in MODES {
            let trials = 20u64;
            let (mut calls, mut done) = (0u64, Duration::ZERO);
            for t in 0..trials {
                let one = trial(clients, jitter, mix(&[seed, clients, t]));
                calls += one.calls;
                done += one.done;
            }
            let calls = calls as f64 / trials as f64;
            let _ = writeln!(
                out,
                "| {clients} | {name} | {calls:.0} | {:.1} | {:.2} s |",
                calls / clients as f64,
                (done / trials as u32).as_secs_f64(),
            );
        }
    }
    out
}
