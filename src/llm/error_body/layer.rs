use tower_layer::Layer;

use super::ErrorBody;

/// The body size up to which [`ErrorBodyLayer::new`] reads an error body:
/// 64 KiB, far above any provider's error JSON.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// Reads the body of failed responses (up to a size limit), so that the
/// classifier can tell a quota from a rate limit; see the
/// [module docs](super).
#[derive(Clone, Copy, Debug)]
pub struct ErrorBodyLayer {
    limit: usize,
}

impl ErrorBodyLayer {
    /// Reads error bodies of up to [`DEFAULT_LIMIT`] (64 KiB).
    pub const fn new() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
        }
    }

    /// Reads error bodies of up to `limit` bytes; larger ones are passed on
    /// unread. Every limit is valid: `0` reads only empty bodies.
    ///
    /// This is also the most memory one failed response in flight holds.
    #[must_use]
    pub const fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The size limit.
    pub const fn get_limit(&self) -> usize {
        self.limit
    }
}

impl Default for ErrorBodyLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for ErrorBodyLayer {
    type Service = ErrorBody<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorBody::new(inner, self.limit)
    }
}
