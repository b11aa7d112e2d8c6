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
