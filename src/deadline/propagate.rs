use std::fmt::Write as _;

use http::{HeaderName, HeaderValue};

use super::Deadline;

/// How a deadline travels inside a request, beyond [`Deadline::current`].
///
/// [`TimeoutBudget`](super::TimeoutBudget) asks it for a deadline the request
/// already carries (an outer one: the earlier wins) and hands it the
/// logical call's deadline; [`AttemptTimeout`](super::AttemptTimeout) hands
/// it each attempt's deadline, so the upstream sees the time this attempt
/// really has.
///
/// `()` propagates nothing (the default, for any request type);
/// [`HttpDeadline`] uses an `http::Request`'s extensions and, optionally, a
/// header.
pub trait PropagateDeadline<Req> {
    /// A deadline the request already carries, if any.
    fn inherited(&self, request: &Req) -> Option<Deadline>;

    /// Records `deadline` in the request.
    fn propagate(&self, request: &mut Req, deadline: Deadline);
}

impl<Req> PropagateDeadline<Req> for () {
    #[inline]
    fn inherited(&self, _: &Req) -> Option<Deadline> {
        None
    }

    #[inline]
    fn propagate(&self, _: &mut Req, _: Deadline) {}
}

/// Carries the deadline in an `http::Request`'s extensions (as a
/// [`Deadline`]) and, if asked, tells the upstream how long it has in a
/// header.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::deadline::{HttpDeadline, TimeoutBudgetLayer};
///
/// // `x-request-timeout-ms: 29998` on the way out, and the deadline in the
/// // extensions for anything below that crosses a task boundary.
/// let layer = TimeoutBudgetLayer::new(Duration::from_secs(30))
///     .propagate(HttpDeadline::new().header_millis("x-request-timeout-ms"));
/// # let _ = layer;
/// ```
#[derive(Clone, Debug, Default)]
pub struct HttpDeadline {
    header: Option<(HeaderName, Format)>,
}

#[derive(Clone, Copy, Debug)]
enum Format {
    Millis,
    Grpc,
}

impl HttpDeadline {
    /// Extensions only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also sends the remaining time in whole milliseconds in header `name`.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid header name; it is meant to be a literal.
    /// Use [`header_millis_name`](Self::header_millis_name) with a parsed
    /// [`HeaderName`] for names that come from configuration.
    #[must_use]
    pub fn header_millis(self, name: &'static str) -> Self {
        self.header_millis_name(HeaderName::from_static(name))
    }

    /// Also sends the remaining time in whole milliseconds in header `name`.
    #[must_use]
    pub fn header_millis_name(mut self, name: HeaderName) -> Self {
        self.header = Some((name, Format::Millis));
        self
    }

    /// Also sends the remaining time as gRPC's `grpc-timeout` header.
    #[must_use]
    pub fn grpc_timeout(mut self) -> Self {
        self.header = Some((HeaderName::from_static("grpc-timeout"), Format::Grpc));
        self
    }
}

impl<B> PropagateDeadline<http::Request<B>> for HttpDeadline {
    fn inherited(&self, request: &http::Request<B>) -> Option<Deadline> {
        request.extensions().get::<Deadline>().copied()
    }

    fn propagate(&self, request: &mut http::Request<B>, deadline: Deadline) {
        request.extensions_mut().insert(deadline);
        if let Some((name, format)) = &self.header {
            let millis = deadline.remaining().as_millis();
            let mut value = String::with_capacity(12);
            let _ = match format {
                Format::Millis => write!(value, "{millis}"),
                // At most eight digits (gRFC: TimeoutValue); fall back to
                // coarser units for long budgets.
                Format::Grpc if millis < 100_000_000 => write!(value, "{millis}m"),
                Format::Grpc => write!(value, "{}S", (millis / 1000).min(99_999_999)),
            };
            if let Ok(value) = HeaderValue::try_from(value) {
                request.headers_mut().insert(name.clone(), value);
            }
        }
    }
}
