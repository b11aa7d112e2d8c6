use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::shared::Shared;

/// Reads and steers one limiter: what it would let through now, what the
/// upstream told it, how many calls waited or were refused.
///
/// Every clone of the layer and of its services shares the limiter, and so
/// does every handle.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::rate_limit::{RateLimitConfig, RateLimitLayer};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let config = RateLimitConfig::builder()
///     .requests(100, Duration::from_secs(60))
///     .build()
///     .unwrap();
/// let handle = RateLimitLayer::new(config).handle();
/// assert_eq!(handle.available_requests(), 100);
///
/// handle.pause(Duration::from_secs(5));
/// assert_eq!(handle.available_requests(), 0);
/// assert_eq!(handle.paused_for(), Some(Duration::from_secs(5)));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RateLimitHandle {
    shared: Arc<Shared>,
}

impl RateLimitHandle {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn now(&self) -> u64 {
        self.shared.since_origin(Instant::now())
    }

    /// The limiter's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// How many requests would pass now without waiting (each costing no
    /// tokens): none while a pause runs.
    pub fn available_requests(&self) -> u64 {
        let now = self.now();
        if self.shared.paused_until(now).is_some() {
            return 0;
        }
        self.shared.requests.available(now)
    }

    /// How many tokens would pass now without waiting, if there is a token
    /// bucket.
    pub fn available_tokens(&self) -> Option<u64> {
        let now = self.now();
        self.shared
            .tokens
            .as_ref()
            .map(|bucket| bucket.available(now))
    }

    /// How long until requests pass again, when the limiter is paused (a
    /// 429's `retry-after`, or [`pause`](Self::pause)) or the upstream said
    /// none is left; the longer of the two. `None` otherwise.
    pub fn paused_for(&self) -> Option<Duration> {
        let now = self.now();
        let pause = self.shared.paused_until(now);
        let none_left = match self.shared.requests.current_hold(now) {
            Some((0, until)) => Some(until),
            _ => None,
        };
        let until = pause.max(none_left)?;
        Some(Duration::from_nanos(until - now))
    }

    /// Lets no request through for `duration` (at most
    /// [`MAX_HINT`](crate::hint::MAX_HINT)), as if the upstream had said so
    /// with a 429's `retry-after`. Never shortens a pause already running
    /// (a longer one wins), and leaves what the upstream said about its
    /// remaining counts alone.
    pub fn pause(&self, duration: Duration) {
        self.shared.pause(self.now(), duration);
    }

    /// How many calls waited for their turn.
    pub fn waited(&self) -> u64 {
        self.shared.waited.load(Ordering::Relaxed)
    }

    /// How many calls the limiter refused.
    pub fn rejected(&self) -> u64 {
        self.shared.rejected.load(Ordering::Relaxed)
    }
}
