//! The limiter's state, shared by every clone of its layer and services.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::bucket::{Bucket, Reserved};
use super::config::RateLimitConfig;
use super::error::RateLimited;
use super::limits::Limits;
use crate::deadline::Deadline;
use crate::hint::MAX_HINT;

pub(super) struct Shared {
    pub(super) name: Arc<str>,
    origin: Instant,
    pub(super) requests: Bucket,
    pub(super) tokens: Option<Bucket>,
    /// No request before this (nanoseconds since the origin): a 429's
    /// `retry-after` or [`RateLimitHandle::pause`](super::RateLimitHandle::pause).
    /// Only ever raised.
    pause: AtomicU64,
    max_wait: u64,
    pub(super) adapt: bool,
    pub(super) waited: AtomicU64,
    pub(super) rejected: AtomicU64,
    /// Used since the keyed registry's last eviction sweep.
    pub(super) referenced: AtomicBool,
}

/// What admission decided.
#[derive(Debug)]
pub(super) enum Admission {
    /// Go now; the stamps of the call in the two buckets.
    Now { stamps: Stamps },
    /// Go at `at`; until then the reservations are held.
    At {
        at: Instant,
        reserved: [Reserved; 2],
    },
}

/// A call's admission stamps in the request and token buckets (see
/// [`Bucket`]).
pub(super) type Stamps = [u64; 2];

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Shared {
    pub(super) fn new(config: RateLimitConfig) -> Self {
        Self {
            origin: Instant::now(),
            requests: Bucket::new(&config.requests),
            tokens: config.tokens.as_ref().map(Bucket::new),
            pause: AtomicU64::new(0),
            max_wait: nanos(config.max_wait),
            adapt: config.adapt,
            name: config.name,
            waited: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            referenced: AtomicBool::new(true),
        }
    }

    /// Now, in nanoseconds since the origin.
    #[inline]
    pub(super) fn since_origin(&self, now: Instant) -> u64 {
        nanos(now.saturating_duration_since(self.origin))
    }

    /// When a call at `now` may start at the earliest: now, or the end of
    /// the running pause.
    #[inline]
    fn start(&self, now: u64) -> u64 {
        self.pause.load(Ordering::Relaxed).max(now)
    }

    /// Admits a call costing `cost` tokens, counting it if `count` (its
    /// response will be read): one clock read and one
    /// compare-and-swap per bucket (with a token bucket, both are first
    /// checked without writing, so that a call one bucket refuses takes
    /// nothing from the other); the deadline is read only if the call has
    /// to wait.
    #[inline]
    pub(super) fn admit(&self, cost: u32, count: bool) -> Result<Admission, RateLimited> {
        let instant = Instant::now();
        let now = self.since_origin(instant);
        let start = self.start(now);
        let cost = u64::from(cost);
        let (wait, [requests, tokens]) = match &self.tokens {
            None => match self.requests.reserve(now, start, 1, self.max_wait, count) {
                Ok((wait, requests)) => (wait, [requests, Reserved::NONE]),
                Err(wait) => return Err(self.limited(wait)),
            },
            Some(bucket) => self.reserve_both(bucket, now, start, cost, count)?,
        };
        if wait == 0 {
            return Ok(Admission::Now {
                stamps: [requests.stamp, tokens.stamp],
            });
        }
        self.wait(instant, wait, [requests, tokens])
    }

    /// Reserves one request and `cost` tokens, or neither; a refusal
    /// carries the longer of the two waits.
    #[inline]
    fn reserve_both(
        &self,
        tokens: &Bucket,
        now: u64,
        start: u64,
        cost: u64,
        count: bool,
    ) -> Result<(u64, [Reserved; 2]), RateLimited> {
        if cost > tokens.capacity() {
            return Err(self.over_capacity(cost));
        }
        let wait = self
            .requests
            .wait(now, start, 1)
            .max(tokens.wait(now, start, cost));
        if wait > self.max_wait {
            return Err(self.limited(wait));
        }
        // Another call may have come in between: then one bucket may still
        // refuse, and the other's reservation is given back (if it is the
        // last one).
        let (wait, requests) = self
            .requests
            .reserve(now, start, 1, self.max_wait, count)
            .map_err(|wait| self.limited(wait))?;
        match tokens.reserve(now, start, cost, self.max_wait, count) {
            Ok((tokens_wait, tokens)) => Ok((wait.max(tokens_wait), [requests, tokens])),
            Err(tokens_wait) => {
                self.requests.refund(requests);
                Err(self.limited(wait.max(tokens_wait)))
            }
        }
    }

    #[cold]
    fn wait(
        &self,
        now: Instant,
        wait: u64,
        reserved: [Reserved; 2],
    ) -> Result<Admission, RateLimited> {
        let wait = Duration::from_nanos(wait);
        if let Some(deadline) = Deadline::current() {
            if wait > deadline.instant().saturating_duration_since(now) {
                self.refund(reserved);
                return Err(self.limited(nanos(wait)));
            }
        }
        self.waited.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        crate::metrics::rate_limit_waited(&self.name, wait);
        Ok(Admission::At {
            at: now + wait,
            reserved,
        })
    }

    #[cold]
    pub(super) fn refund(&self, [requests, tokens]: [Reserved; 2]) {
        self.requests.refund(requests);
        if let Some(bucket) = &self.tokens {
            bucket.refund(tokens);
        }
    }

    #[cold]
    fn limited(&self, wait: u64) -> RateLimited {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        crate::metrics::rate_limit_rejected(&self.name, "limited");
        let retry_after = Duration::from_nanos(wait);
        tracing::debug!(
            layer = "rate_limit",
            name = &*self.name,
            outcome = "limited",
            retry_after_ms = retry_after.as_millis() as u64,
            "rate limited by the caller-side limiter"
        );
        RateLimited::new(self.name.clone(), Some(retry_after))
    }

    #[cold]
    fn over_capacity(&self, cost: u64) -> RateLimited {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        crate::metrics::rate_limit_rejected(&self.name, "over_capacity");
        tracing::debug!(
            layer = "rate_limit",
            name = &*self.name,
            outcome = "over_capacity",
            cost,
            "request cost exceeds the caller-side limiter's burst"
        );
        RateLimited::new(self.name.clone(), None)
    }

    /// Applies what the upstream said in the response to the call stamped
    /// `stamps` (each wait capped at [`MAX_HINT`]).
    pub(super) fn apply(&self, limits: Limits, [requests, tokens]: Stamps) {
        if limits.is_none() {
            return;
        }
        let now = self.since_origin(Instant::now());
        if let Some((remaining, reset)) = limits.requests() {
            self.requests
                .hold(now, requests, remaining, reset.min(MAX_HINT));
        }
        if let (Some((remaining, reset)), Some(bucket)) = (limits.tokens(), &self.tokens) {
            bucket.hold(now, tokens, remaining, reset.min(MAX_HINT));
        }
        if let Some(after) = limits.retry_after() {
            self.pause(now, after);
        }
        tracing::debug!(
            layer = "rate_limit",
            name = &*self.name,
            requests = ?limits.requests(),
            tokens = ?limits.tokens(),
            retry_after_ms = limits.retry_after().map(|after| after.as_millis() as u64),
            "rate limits from the upstream"
        );
    }

    /// Lets no request through for `after` (at most [`MAX_HINT`]) from
    /// `now`, unless a pause already runs longer.
    pub(super) fn pause(&self, now: u64, after: Duration) {
        let until = now.saturating_add(nanos(after.min(MAX_HINT)));
        self.pause.fetch_max(until, Ordering::Relaxed);
    }

    /// The end of the running pause, if one runs at `now`.
    pub(super) fn paused_until(&self, now: u64) -> Option<u64> {
        let until = self.pause.load(Ordering::Relaxed);
        (until > now).then_some(until)
    }

    /// Whether the buckets are full and nothing the upstream said (or a
    /// pause) still holds: forgetting this limiter changes nothing.
    pub(super) fn is_idle(&self, now: Instant) -> bool {
        let now = self.since_origin(now);
        self.paused_until(now).is_none()
            && self.requests.is_idle(now)
            && self
                .tokens
                .as_ref()
                .is_none_or(|bucket| bucket.is_idle(now))
    }

    /// How long from `now` until the limiter is idle (if no call comes).
    pub(super) fn idle_in(&self, now: Instant) -> Duration {
        let now = self.since_origin(now);
        let pause = self.pause.load(Ordering::Relaxed).saturating_sub(now);
        let tokens = self.tokens.as_ref().map_or(0, |bucket| bucket.idle_in(now));
        Duration::from_nanos(pause.max(self.requests.idle_in(now)).max(tokens))
    }
}

/// Readable: durations, not nanoseconds.
impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let now = self.since_origin(Instant::now());
        f.debug_struct("Shared")
            .field("name", &&*self.name)
            .field("requests", &self.requests)
            .field("tokens", &self.tokens)
            .field("max_wait", &Duration::from_nanos(self.max_wait))
            .field("adapt", &self.adapt)
            .field(
                "paused_for",
                &self
                    .paused_until(now)
                    .map(|until| Duration::from_nanos(until - now)),
            )
            .field("waited", &self.waited.load(Ordering::Relaxed))
            .field("rejected", &self.rejected.load(Ordering::Relaxed))
            .finish()
    }
}
