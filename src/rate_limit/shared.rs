//! The limiter's state, shared by every clone of its layer and services.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::bucket::{Bucket, Reserved};
use super::config::RateLimitConfig;
use super::error::RateLimited;
use super::limits::Limits;
use crate::deadline::Deadline;
use crate::hint::MAX_HINT;

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) name: Arc<str>,
    origin: Instant,
    pub(super) requests: Bucket,
    pub(super) tokens: Option<Bucket>,
    max_wait: u64,
    pub(super) adapt: bool,
    pub(super) waited: AtomicU64,
    pub(super) rejected: AtomicU64,
}

/// What admission decided.
#[derive(Debug)]
pub(super) enum Admission {
    /// Go now.
    Now,
    /// Go at `at`; until then the reservations are held.
    At {
        at: Instant,
        reserved: [Reserved; 2],
    },
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Shared {
    pub(super) fn new(config: RateLimitConfig) -> Self {
        Self {
            origin: Instant::now(),
            requests: Bucket::new(&config.requests),
            tokens: config.tokens.as_ref().map(Bucket::new),
            max_wait: nanos(config.max_wait),
            adapt: config.adapt,
            name: config.name,
            waited: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    /// Now, in nanoseconds since the origin.
    #[inline]
    pub(super) fn since_origin(&self, now: Instant) -> u64 {
        nanos(now.saturating_duration_since(self.origin))
    }

    /// Admits a call costing `cost` tokens: one clock read and one
    /// compare-and-swap per bucket; the deadline is read only if the call
    /// has to wait.
    #[inline]
    pub(super) fn admit(&self, cost: u32) -> Result<Admission, RateLimited> {
        let instant = Instant::now();
        let now = self.since_origin(instant);
        let cost = u64::from(cost);
        if let Some(tokens) = &self.tokens {
            if cost > tokens.capacity() {
                return Err(self.over_capacity(cost));
            }
        }
        let (wait, requests) = match self.requests.reserve(now, 1, self.max_wait) {
            Ok(reserved) => reserved,
            Err(wait) => return Err(self.limited(wait)),
        };
        let (wait, tokens) = match &self.tokens {
            None => (wait, Reserved::NONE),
            Some(bucket) => match bucket.reserve(now, cost, self.max_wait) {
                Ok((tokens_wait, tokens)) => (wait.max(tokens_wait), tokens),
                Err(tokens_wait) => {
                    self.requests.refund(requests);
                    return Err(self.limited(wait.max(tokens_wait)));
                }
            },
        };
        if wait == 0 {
            return Ok(Admission::Now);
        }
        self.wait(instant, wait, [requests, tokens])
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
        tracing::debug!(
            layer = "rate_limit",
            name = &*self.name,
            outcome = "over_capacity",
            cost,
            "request cost exceeds the caller-side limiter's burst"
        );
        RateLimited::new(self.name.clone(), None)
    }

    /// Applies what the upstream said (each wait capped at
    /// [`MAX_HINT`]).
    pub(super) fn apply(&self, limits: Limits) {
        if limits.is_none() {
            return;
        }
        let now = self.since_origin(Instant::now());
        if let Some((remaining, reset)) = limits.requests() {
            self.requests.hold(now, remaining, reset.min(MAX_HINT));
        }
        if let (Some((remaining, reset)), Some(tokens)) = (limits.tokens(), &self.tokens) {
            tokens.hold(now, remaining, reset.min(MAX_HINT));
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

    /// Lets no request through for `after` from `now`.
    pub(super) fn pause(&self, now: u64, after: Duration) {
        self.requests.hold(now, 0, after.min(MAX_HINT));
    }

    /// Whether the buckets are full and the upstream said nothing that
    /// still holds: forgetting this limiter changes nothing.
    pub(super) fn is_idle(&self, now: Instant) -> bool {
        let now = self.since_origin(now);
        let idle = |bucket: &Bucket| {
            bucket.current_hold(now).is_none() && bucket.available(now) == bucket.capacity()
        };
        idle(&self.requests) && self.tokens.as_ref().is_none_or(idle)
    }

    /// The instant `nanos` after the origin.
    pub(super) fn instant(&self, nanos: u64) -> Instant {
        self.origin + Duration::from_nanos(nanos)
    }
}
