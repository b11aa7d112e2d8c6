//! A small, fast, non-cryptographic random source for jitter and
//! idempotency keys.
//!
//! One xorshift64* state per thread, seeded from the standard library's
//! per-process random keys, so that two processes (or two threads) never
//! jitter in lockstep (or make the same key). Neither needs secrecy.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_usize(&STATE as *const _ as usize);
    // xorshift must never be seeded with zero.
    hasher.finish() | 1
}

/// Seeds the calling thread's random source, which draws the retry
/// jitter, the breaker's open-period jitter, unseeded weighted routing and
/// idempotency keys.
///
/// For tests and simulations on a current-thread runtime, where the same
/// seed must give the same run. Each thread is otherwise seeded from the
/// process's random keys so that clients never jitter in lockstep; a
/// production program should not call this (two threads or processes
/// seeded alike draw the same jitter and make the same idempotency keys).
///
/// ```
/// tower_failover::seed_thread_rng(7);
/// ```
pub fn seed_thread_rng(seed: u64) {
    // xorshift must never be seeded with zero; mix the seed so that
    // neighbouring seeds do not start in neighbouring states.
    STATE.with(|state| state.set(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1));
}

/// A uniformly distributed `u64`.
pub(crate) fn next_u64() -> u64 {
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

/// A uniformly distributed `f64` in `[0, 1)`.
#[cfg(feature = "circuit-breaker")]
pub(crate) fn next_unit() -> f64 {
    (next_u64() >> 11) as f64 / (1u64 << 53) as f64
}
