//! Server hints: how long the upstream asked us to wait, and whether it said
//! to retry at all.
//!
//! (Parsers pending: see issue 2.)

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// What a response said about retrying it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Hint {
    retry_after: Option<Duration>,
    should_retry: Option<bool>,
}

impl Hint {
    /// No hint at all.
    pub const NONE: Hint = Hint {
        retry_after: None,
        should_retry: None,
    };

    /// This hint, asking the caller to wait `after` before retrying.
    #[must_use]
    pub const fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// This hint, saying explicitly whether to retry.
    #[must_use]
    pub const fn with_should_retry(mut self, should_retry: bool) -> Self {
        self.should_retry = Some(should_retry);
        self
    }

    /// How long the server asked the caller to wait, if it said.
    pub const fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The server's explicit verdict on retrying (`x-should-retry`), if any.
    pub const fn should_retry(&self) -> Option<bool> {
        self.should_retry
    }

    /// Reads the hint from response headers, relative to the wall clock.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::from_headers_at(headers, SystemTime::now())
    }

    /// Reads the hint from response headers, relative to `now`.
    pub fn from_headers_at(headers: &HeaderMap, now: SystemTime) -> Self {
        let _ = (headers, now);
        Self::NONE
    }
}
