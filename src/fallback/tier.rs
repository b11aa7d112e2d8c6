use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::name::Name;

type Rewrite<Req> = Box<dyn Fn(&mut Req) + Send + Sync>;
type Guard<Req> = Box<dyn Fn(&Req) -> bool + Send + Sync>;

/// One fallback tier: a service to try when the tiers before it failed, with
/// a name, and optionally a request rewrite, a timeout and a guard.
///
/// - The **rewrite** is applied to the request's copy before this tier
///   sends it: set the `model` field, change the base URL or the auth
///   header.
/// - The **timeout** bounds the whole tier (waiting for it to be ready and
///   its retries included), clipped by the
///   [`Deadline`](crate::deadline::Deadline); inside the tier,
///   [`Deadline::current`](crate::deadline::Deadline::current) is the
///   tier's deadline, so a retry layer there never plans past it. When it
///   fires the tier has failed with
///   [`AttemptTimedOut`](crate::deadline::AttemptTimedOut). A deadline
///   carried in the request (see [`HttpDeadline`](crate::deadline::HttpDeadline))
///   was stamped before the first tier; to tell each upstream its own
///   deadline, put an [`AttemptTimeoutLayer`](crate::deadline::AttemptTimeoutLayer)
///   with [`propagate`](crate::deadline::AttemptTimeoutLayer::propagate)
///   inside each tier, which re-stamps every attempt.
/// - The **guard** is asked about each request (as the caller sent it)
///   before the tier is tried; `false` skips the tier, e.g. because the
///   prompt does not fit its context window. After a
///   [`ContextTooLong`](crate::classify::FailureKind::ContextTooLong)
///   failure only tiers whose guard accepts the request are tried: a tier
///   without a guard says nothing about its window.
///
/// Every tier of one layer has the same service type `T`. Tiers whose
/// services differ are boxed to one type, e.g. with
/// `tower::util::BoxCloneSyncService`.
///
/// ```
/// use std::time::Duration;
/// use tower::service_fn;
/// use tower_failover::fallback::Tier;
///
/// let mini = service_fn(|request: http::Request<String>| async move {
///     Ok::<_, std::io::Error>(http::Response::new(request.into_body()))
/// });
/// let tier = Tier::new("gpt-4o-mini", mini)
///     .timeout(Duration::from_secs(8))
///     .rewrite(|request: &mut http::Request<String>| {
///         *request.body_mut() = request.body().replace("\"gpt-4o\"", "\"gpt-4o-mini\"");
///     })
///     .guard(|request: &http::Request<String>| request.body().len() < 500_000);
/// assert_eq!(tier.name(), "gpt-4o-mini");
/// ```
pub struct Tier<T, Req> {
    pub(super) name: Name,
    pub(super) service: T,
    pub(super) timeout: Option<Duration>,
    pub(super) rewrite: Option<Rewrite<Req>>,
    pub(super) guard: Option<Guard<Req>>,
}

impl<T, Req> Tier<T, Req> {
    /// A tier named `name` served by `service`.
    pub fn new(name: impl Into<Cow<'static, str>>, service: T) -> Self {
        Self {
            name: Name::from(name.into()),
            service,
            timeout: None,
            rewrite: None,
            guard: None,
        }
    }

    /// Bounds the tier, retries included, to `timeout` (clipped by the
    /// deadline). Must not be zero.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Rewrites the request before this tier sends it.
    #[must_use]
    pub fn rewrite(mut self, rewrite: impl Fn(&mut Req) + Send + Sync + 'static) -> Self {
        self.rewrite = Some(Box::new(rewrite));
        self
    }

    /// Tries this tier only for requests `guard` accepts.
    ///
    /// The guard must be pure and cheap: it may be asked more than once
    /// about the same request (a [`Capability`](super::Capability) route
    /// asks it before the first call, and the layer asks it again on the
    /// way down after a failure), and it runs synchronously in `call` or
    /// in the response future's `poll`. It should give the same answer
    /// each time; if it does not, the later answer decides whether the
    /// tier is tried.
    #[must_use]
    pub fn guard(mut self, guard: impl Fn(&Req) -> bool + Send + Sync + 'static) -> Self {
        self.guard = Some(Box::new(guard));
        self
    }

    /// The tier's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The tier's service.
    pub fn service(&self) -> &T {
        &self.service
    }

    /// The same tier with its service passed through `f`.
    pub(super) fn map_service<U>(self, f: impl FnOnce(T) -> U) -> Tier<U, Req> {
        Tier {
            name: self.name,
            service: f(self.service),
            timeout: self.timeout,
            rewrite: self.rewrite,
            guard: self.guard,
        }
    }

    /// Whether the tier may serve `request` after a failure of the tiers
    /// before it; `needs_guard` once a tier said the request is too long.
    pub(super) fn accepts(&self, request: &Req, needs_guard: bool) -> bool {
        match &self.guard {
            Some(guard) => guard(request),
            None => !needs_guard,
        }
    }
}

impl<T: fmt::Debug, Req> fmt::Debug for Tier<T, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tier")
            .field("name", &self.name)
            .field("service", &self.service)
            .field("timeout", &self.timeout)
            .field("rewrite", &self.rewrite.is_some())
            .field("guard", &self.guard.is_some())
            .finish()
    }
}
