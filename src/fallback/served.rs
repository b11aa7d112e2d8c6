use crate::name::Name;
use std::fmt;

/// Which tier served a response, and after how many upstream calls.
///
/// [`Fallback`](super::Fallback) puts one in the extensions of every
/// `http::Response` it returns (see [`RecordServedBy`] for other response
/// types), whether the response is a success or the failure it gave up
/// with.
///
/// ```
/// use tower_failover::fallback::ServedBy;
///
/// # fn check(response: http::Response<()>) {
/// if let Some(served) = response.extensions().get::<ServedBy>() {
///     println!("{} (tier {}) after {} calls", served.name(), served.tier(), served.attempts());
/// }
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServedBy {
    tier: u32,
    name: Name,
    attempts: u32,
}

impl ServedBy {
    pub(super) fn new(tier: usize, name: Name, attempts: u32) -> Self {
        Self {
            // Tiers are capped at `MAX_TIERS` (plus the static response).
            tier: u32::try_from(tier).unwrap_or(u32::MAX),
            name,
            attempts,
        }
    }

    /// The tier's position: 1 for the inner service (the primary), 2 for
    /// the first fallback, and so on; the static response, if it served,
    /// comes after the last tier.
    pub fn tier(&self) -> usize {
        self.tier as usize
    }

    /// The tier's name, as configured.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// How many calls were made to the tiers' services for this request,
    /// the one that served included. Retries made by a
    /// [`Retry`](crate::retry::Retry) inside a tier count too (and the calls
    /// of a fallback layer nested in a tier), when they run in the same
    /// task (not behind a `tower::buffer`). A call a circuit breaker
    /// rejected counts, though it reached no upstream; a static response
    /// adds nothing.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether a tier other than the primary served.
    pub fn is_fallback(&self) -> bool {
        self.tier > 1
    }
}

impl fmt::Debug for ServedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServedBy")
            .field("tier", &self.tier)
            .field("name", &self.name.as_str())
            .field("attempts", &self.attempts)
            .finish()
    }
}

/// How [`Fallback`](super::Fallback) records [`ServedBy`] on the responses
/// it returns.
///
/// - [`InExtensions`] (the default) inserts it into an `http::Response`'s
///   extensions (or a `reqwest::Response`'s, with the `reqwest` feature);
/// - `()` records nothing (for response types without extensions, or to
///   skip the extension map's allocation on every response);
/// - any `Fn(&mut Res, &ServedBy)` does what it likes, e.g. sets a header.
pub trait RecordServedBy<Res> {
    /// Whether this records anything at all; `false` spares the layer
    /// making a [`ServedBy`] for each response.
    const RECORDS: bool = true;

    /// Records `served` on `response`.
    fn record(&self, response: &mut Res, served: &ServedBy);
}

/// Inserts [`ServedBy`] into an `http::Response`'s extensions. The default.
#[derive(Clone, Copy, Debug, Default)]
pub struct InExtensions;

impl<B> RecordServedBy<http::Response<B>> for InExtensions {
    #[inline]
    fn record(&self, response: &mut http::Response<B>, served: &ServedBy) {
        response.extensions_mut().insert(served.clone());
    }
}

#[cfg(feature = "reqwest")]
impl RecordServedBy<reqwest::Response> for InExtensions {
    #[inline]
    fn record(&self, response: &mut reqwest::Response, served: &ServedBy) {
        response.extensions_mut().insert(served.clone());
    }
}

impl<Res> RecordServedBy<Res> for () {
    const RECORDS: bool = false;

    #[inline]
    fn record(&self, _: &mut Res, _: &ServedBy) {}
}

impl<F, Res> RecordServedBy<Res> for F
where
    F: Fn(&mut Res, &ServedBy),
{
    #[inline]
    fn record(&self, response: &mut Res, served: &ServedBy) {
        self(response, served)
    }
}
