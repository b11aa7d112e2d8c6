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
    /// tokens).
    pub fn available_requests(&self) -> u64 {
        self.shared.requests.available(self.now())
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

    /// How long until requests pass again, when the upstream said none is
    /// left (or the limiter was [paused](Self::pause)); `None` otherwise.
    pub fn paused_for(&self) -> Option<Duration> {
        let now = self.now();
        match self.shared.requests.current_hold(now) {
            Some((0, until)) => Some(
                self.shared
                    .instant(until)
                    .saturating_duration_since(self.shared.instant(now)),
            ),
            _ => None,
        }
    }

    /// Lets no request through for `duration` (at most
    /// [`MAX_HINT`](crate::hint::MAX_HINT)), as if the upstream had said so;
    /// replaces what the upstream said before.
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
