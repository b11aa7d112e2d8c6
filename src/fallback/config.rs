use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tower_service::Service;

use super::route::{Guards, Order, Route, Routing, Static, Tiers};
use super::stats::Stats;
use super::{FallbackGraph, FallbackLayer, InExtensions, MAX_TIERS, Tier};
use crate::InvalidConfig;
use crate::classify::{DefaultClassifier, Failure};
use crate::name::Name;
use crate::retry::CloneReplay;

type Respond<Res> = Box<dyn Fn(&Failure) -> Res + Send + Sync>;

/// The name the static response goes by in [`ServedBy`](super::ServedBy)
/// and the counters; no tier may take it.
pub const STATIC_RESPONSE: &str = "static";

/// Everything one fallback layer knows, shared by its clones and their
/// response futures.
///
/// Each tier's service sits behind a mutex that is only taken to clone it
/// when a request falls back to it, so that the layer is `Send` and `Sync`
/// for any `Send` tier service (`tower::util::BoxCloneService` included),
/// not only for `Sync` ones.
pub(super) struct Chain<T, Req, Res> {
    pub(super) primary_timeout: Option<Duration>,
    pub(super) tiers: Box<[Tier<Mutex<T>, Req>]>,
    pub(super) respond: Option<Respond<Res>>,
    pub(super) content_filtered: bool,
    pub(super) stats: Arc<Stats>,
    // `None` for the configured order (the fast path).
    pub(super) route: Option<Box<dyn Route<Req>>>,
    // Whether the route wants each tier timed.
    pub(super) observes: bool,
}

impl<T, Req, Res> Chain<T, Req, Res> {
    /// The order `route` gives `request`.
    pub(super) fn order(&self, route: &dyn Route<Req>, request: &Req) -> Order {
        let len = self.tiers.len() + 1;
        let mut order = Order::configured(len);
        let guards: &dyn Guards<Req> = &self.tiers;
        route.order(request, &Tiers::new(&self.stats, guards, len), &mut order);
        order
    }

    /// The name of tier `index` (0 for the primary; one past the last tier
    /// for the static response).
    pub(super) fn name(&self, index: usize) -> &Name {
        &self.stats.tiers[index].name
    }

    /// The position of the static response.
    pub(super) fn static_index(&self) -> usize {
        self.tiers.len() + 1
    }

    /// A clone of tier `index`'s service (1 for the first tier after the
    /// primary), to be made ready and called.
    pub(super) fn service(&self, index: usize) -> T
    where
        T: Clone,
    {
        // A clone that panicked leaves nothing half-changed behind.
        let service = self.tiers[index - 1].service.lock();
        service.unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl<T, Req, Res> fmt::Debug for Chain<T, Req, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("stats", &self.stats)
            .field("primary_timeout", &self.primary_timeout)
            .field("static_response", &self.respond.is_some())
            .field("content_filtered", &self.content_filtered)
            .field("routed", &self.route.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a [`FallbackLayer`]: the primary's name and timeout, the tiers in
/// order, what to do when they all fail, and how results are classified,
/// requests copied and [`ServedBy`](super::ServedBy) recorded. See the
/// [module docs](super).
#[must_use = "a builder does nothing until built"]
pub struct FallbackBuilder<T, Req, Res, C = DefaultClassifier, R = CloneReplay, M = InExtensions> {
    primary: Name,
    primary_timeout: Option<Duration>,
    tiers: Vec<Tier<T, Req>>,
    respond: Option<Respond<Res>>,
    content_filtered: bool,
    route: Option<Box<dyn Route<Req>>>,
    classifier: C,
    replay: R,
    record: M,
}

impl<T, Req, Res> FallbackBuilder<T, Req, Res> {
    pub(super) fn new(primary: Cow<'static, str>) -> Self {
        Self {
            primary: Name::from(primary),
            primary_timeout: None,
            tiers: Vec::new(),
            respond: None,
            content_filtered: false,
            route: None,
            classifier: DefaultClassifier,
            replay: CloneReplay,
            record: InExtensions,
        }
    }

    /// Builds the tiers of `model` from a [`FallbackGraph`]: the inner
    /// service is `model`, and `tier` makes the [`Tier`] of each model in
    /// its chain, in order.
    ///
    /// # Errors
    ///
    /// If `model` is not in the graph.
    pub fn from_graph(
        graph: &FallbackGraph,
        model: &str,
        mut tier: impl FnMut(&str) -> Tier<T, Req>,
    ) -> Result<Self, InvalidConfig> {
        let Some(chain) = graph.chain(model) else {
            return Err(
                InvalidConfig::new("fallback", "model", "the model is not in the graph")
                    .with_detail(model),
            );
        };
        let mut builder = Self::new(Cow::Owned(model.to_owned()));
        for name in chain {
            builder = builder.tier(tier(name));
        }
        Ok(builder)
    }
}

impl<T, Req, Res, C, R, M> FallbackBuilder<T, Req, Res, C, R, M> {
    /// Bounds the primary (the inner service, its retries included) to
    /// `timeout`, clipped by the deadline. By default only the deadline
    /// bounds it.
    pub fn primary_timeout(mut self, timeout: Duration) -> Self {
        self.primary_timeout = Some(timeout);
        self
    }

    /// Adds the next tier.
    pub fn tier(mut self, tier: Tier<T, Req>) -> Self {
        self.tiers.push(tier);
        self
    }

    /// Answers with `respond(&failure)` when every tier has failed, or the
    /// deadline was spent before one succeeded, instead of returning the
    /// failure: a graceful, degraded answer. `failure` is the last one (a
    /// spent deadline is [`BudgetExhausted`](crate::classify::FailureKind::BudgetExhausted)).
    /// It is not used when the last failure may not fall back (the caller's
    /// own fault, see
    /// [`FailureKind::may_fall_back`](crate::classify::FailureKind::may_fall_back)).
    pub fn static_response(
        mut self,
        respond: impl Fn(&Failure) -> Res + Send + Sync + 'static,
    ) -> Self {
        self.respond = Some(Box::new(respond));
        self
    }

    /// Whether a [`ContentFiltered`](crate::classify::FailureKind::ContentFiltered)
    /// failure moves on to the next tier (another provider's filter may
    /// let the request through). Off by default: the refusal is returned.
    pub fn fall_back_on_content_filter(mut self, enabled: bool) -> Self {
        self.content_filtered = enabled;
        self
    }

    /// Orders the tiers per request with `route` (see
    /// [Routing](super#routing)) instead of the configured order;
    /// [`Static`] (or [`Routing::Static`]) passed by value keeps the
    /// configured order and the fast path. Boxed or in an `Arc`, it is kept
    /// and asked like any route: the same order, at a route's cost.
    pub fn route(mut self, route: impl Route<Req> + 'static) -> Self {
        let any: &dyn std::any::Any = &route;
        let fixed = any.is::<Static>() || matches!(any.downcast_ref(), Some(Routing::Static));
        self.route = if fixed { None } else { Some(Box::new(route)) };
        self
    }

    /// Classifies results with `classifier` instead of the
    /// [`DefaultClassifier`]. It sees every error as a
    /// [`BoxError`](crate::BoxError).
    pub fn classifier<C2>(self, classifier: C2) -> FallbackBuilder<T, Req, Res, C2, R, M> {
        self.with(|_, replay, record| (classifier, replay, record))
    }

    /// Copies requests for the tiers with `replay` (a
    /// [`Replay`](crate::retry::Replay)) instead of cloning them.
    pub fn replay<R2>(self, replay: R2) -> FallbackBuilder<T, Req, Res, C, R2, M> {
        self.with(|classifier, _, record| (classifier, replay, record))
    }

    /// Records [`ServedBy`](super::ServedBy) with `record` (a
    /// [`RecordServedBy`](super::RecordServedBy)) instead of in an
    /// `http::Response`'s extensions; `()` records nothing.
    pub fn record<M2>(self, record: M2) -> FallbackBuilder<T, Req, Res, C, R, M2> {
        self.with(|classifier, replay, _| (classifier, replay, record))
    }

    /// The same settings with the classifier, replay and record `f` makes.
    fn with<C2, R2, M2>(
        self,
        f: impl FnOnce(C, R, M) -> (C2, R2, M2),
    ) -> FallbackBuilder<T, Req, Res, C2, R2, M2> {
        let (classifier, replay, record) = f(self.classifier, self.replay, self.record);
        FallbackBuilder {
            primary: self.primary,
            primary_timeout: self.primary_timeout,
            tiers: self.tiers,
            respond: self.respond,
            content_filtered: self.content_filtered,
            route: self.route,
            classifier,
            replay,
            record,
        }
    }

    /// Checks the settings and builds the layer.
    ///
    /// # Errors
    ///
    /// A tier name that is empty, used twice or [`STATIC_RESPONSE`]; a zero
    /// timeout; more than [`MAX_TIERS`] tiers (the primary included); a
    /// [route](Self::route) set up for another number of tiers (field
    /// `route`).
    pub fn build(self) -> Result<FallbackLayer<T, Req, Res, C, R, M>, InvalidConfig>
    where
        T: Service<Req, Response = Res>,
    {
        let invalid = |field, reason| InvalidConfig::new("fallback", field, reason);
        if self.tiers.len() + 1 > MAX_TIERS {
            return Err(invalid("tier", "more than 16 tiers, the primary included"));
        }
        if self.primary_timeout == Some(Duration::ZERO) {
            return Err(invalid("primary_timeout", "must not be zero"));
        }
        if let Some(tier) = self
            .tiers
            .iter()
            .find(|t| t.timeout == Some(Duration::ZERO))
        {
            return Err(invalid("timeout", "must not be zero").with_detail(tier.name.as_str()));
        }
        if let Some(expected) = self.route.as_ref().and_then(|route| route.tiers()) {
            if expected != self.tiers.len() + 1 {
                return Err(invalid(
                    "route",
                    "the route is set up for another number of tiers (one per tier, the primary first)",
                )
                .with_detail(format!("{expected} for {}", self.tiers.len() + 1)));
            }
        }
        let mut names = HashSet::new();
        let all = std::iter::once(&self.primary).chain(self.tiers.iter().map(|t| &t.name));
        for name in all {
            let name = name.as_str();
            if name.is_empty() {
                return Err(invalid("tier", "a tier name is empty"));
            }
            if name == STATIC_RESPONSE {
                return Err(
                    invalid("tier", "the name is reserved for the static response")
                        .with_detail(name),
                );
            }
            if !names.insert(name) {
                return Err(invalid("tier", "a tier name is used twice").with_detail(name));
            }
        }
        let mut counted: Vec<Name> = std::iter::once(self.primary)
            .chain(self.tiers.iter().map(|t| t.name.clone()))
            .collect();
        if self.respond.is_some() {
            counted.push(Name::Static(STATIC_RESPONSE));
        }
        let chain = Chain {
            primary_timeout: self.primary_timeout,
            tiers: self
                .tiers
                .into_iter()
                .map(|t| t.map_service(Mutex::new))
                .collect(),
            respond: self.respond,
            content_filtered: self.content_filtered,
            stats: Arc::new(Stats::new(counted)),
            observes: self.route.as_ref().is_some_and(|route| route.observes()),
            route: self.route,
        };
        Ok(FallbackLayer::from_parts(
            Arc::new(chain),
            self.classifier,
            self.replay,
            self.record,
        ))
    }
}

const _: () = assert!(MAX_TIERS == 16, "the message above names the limit");

impl<T: fmt::Debug, Req, Res, C: fmt::Debug, R: fmt::Debug, M: fmt::Debug> fmt::Debug
    for FallbackBuilder<T, Req, Res, C, R, M>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackBuilder")
            .field("primary", &self.primary)
            .field("primary_timeout", &self.primary_timeout)
            .field("tiers", &self.tiers)
            .field("static_response", &self.respond.is_some())
            .field("content_filtered", &self.content_filtered)
            .field("routed", &self.route.is_some())
            .field("classifier", &self.classifier)
            .field("replay", &self.replay)
            .field("record", &self.record)
            .finish()
    }
}
