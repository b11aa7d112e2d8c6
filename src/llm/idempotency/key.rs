use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{BufMut, BytesMut};
use http::HeaderValue;

/// The idempotency key of a logical request, as sent in its header; put in
/// the request's extensions by [`Idempotency`](super::Idempotency), for
/// logging.
///
/// ```
/// use tower_failover::llm::idempotency::IdempotencyKey;
///
/// let key = IdempotencyKey::random();
/// let text = key.as_str().unwrap();
/// assert_eq!(text.len(), 36);
/// assert_eq!(&text[14..15], "4");
/// assert_ne!(IdempotencyKey::random(), key);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(HeaderValue);

impl IdempotencyKey {
    /// A fresh random key shaped like a version 4 UUID
    /// (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`, lowercase).
    ///
    /// The 122 random bits come from a fast non-cryptographic generator
    /// seeded from the standard library's per-process random keys: keys
    /// are unique with overwhelming probability, but they are **not
    /// secret**: whoever sees enough of them can predict the next. Do not
    /// use them as tokens.
    pub fn random() -> Self {
        Self::random_with_prefix(None)
    }

    pub(super) fn random_with_prefix(prefix: Option<&HeaderValue>) -> Self {
        let (high, low) = next_u128();
        let prefix = prefix.map_or(&[][..], HeaderValue::as_bytes);
        let mut text = BytesMut::with_capacity(prefix.len() + 36);
        text.put_slice(prefix);
        // Version 4, variant 10xx.
        let high = (high & !0xf000) | 0x4000;
        let low = (low & !(0xc << 60)) | (0x8 << 60);
        let digits = (u128::from(high) << 64) | u128::from(low);
        for index in 0..32 {
            if let 8 | 12 | 16 | 20 = index {
                text.put_u8(b'-');
            }
            let nibble = (digits >> (124 - 4 * index)) & 0xf;
            text.put_u8(b"0123456789abcdef"[nibble as usize]);
        }
        // The prefix is a header value and the rest is ASCII.
        match HeaderValue::from_maybe_shared(text.freeze()) {
            Ok(value) => Self(value),
            Err(_) => Self(HeaderValue::from_static("")),
        }
    }

    pub(super) fn from_header(value: HeaderValue) -> Self {
        Self(value)
    }

    /// The key as a header value.
    pub fn as_header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// The key as text, if it is visible ASCII (generated keys always are).
    pub fn as_str(&self) -> Option<&str> {
        self.0.to_str().ok()
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdempotencyKey").field(&self.0).finish()
    }
}

thread_local! {
    // This thread's two seeds and how many keys it made.
    static STATE: (u64, u64, Cell<u64>) = seeds();
}

fn seeds() -> (u64, u64, Cell<u64>) {
    // Told apart even if two threads drew the same standard library keys.
    static THREADS: AtomicU64 = AtomicU64::new(0);
    let thread = THREADS.fetch_add(1, Ordering::Relaxed);
    let seed = |salt: u64| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(thread);
        hasher.write_u64(salt);
        hasher.finish()
    };
    (seed(1), seed(2), Cell::new(0))
}

/// splitmix64's finaliser: a bijection on `u64` that mixes every bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// 128 random bits: splitmix64 over a per-thread counter, from two seeds.
fn next_u128() -> (u64, u64) {
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
    STATE.with(|(first, second, count)| {
        let n = count.get().wrapping_add(1);
        count.set(n);
        let step = n.wrapping_mul(GAMMA);
        (
            mix(first.wrapping_add(step)),
            mix(second.wrapping_add(step)),
        )
    })
}
