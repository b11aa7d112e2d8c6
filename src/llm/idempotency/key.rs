use std::fmt;

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
    /// (xorshift64\*, one per thread) seeded from the standard library's
    /// per-process random keys: keys
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

/// 128 random bits from the crate's per-thread generator.
fn next_u128() -> (u64, u64) {
    (crate::rng::next_u64(), crate::rng::next_u64())
}
