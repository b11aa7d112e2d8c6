use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_service::Service;

use super::stats::Stats;
use super::{FallbackGraph, FallbackLayer, MAX_TIERS, Tier};
use crate::InvalidConfig;
use crate::classify::Failure;
use crate::name::Name;

type Respond<Res> = Box<dyn Fn(&Failure) -> Res + Send + Sync>;

/// The name the static response goes by in [`ServedBy`](super::ServedBy)
/// and the counters.
pub const STATIC_RESPONSE: &str = "static";

/// Everything one fallback layer knows, shared by its clones and their
/// response futures.
pub(super) struct Chain<T, Req, Res> {
    pub(super) primary: Name,
    pub(super) primary_timeout: Option<Duration>,
    pub(super) tiers: Box<[Tier<T, Req>]>,
    pub(super) respond: Option<Respond<Res>>,
    pub(super) content_filtered: bool,
    pub(super) stats: Arc<Stats>,
}

impl<T, Req, Res> Chain<T, Req, Res> {
    /// The name of tier `index` (0 for the primary; one past the last tier
    /// for the static response).
    pub(super) fn name(&self, index: usize) -> &Name {
        &self.stats.tiers[index].name
    }

    /// The position of the static response.
    pub(super) fn static_index(&self) -> usize {
        self.tiers.len() + 1
    }
}

impl<T: fmt::Debug, Req, Res> fmt::Debug for Chain<T, Req, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("primary", &self.primary)
            .field("primary_timeout", &self.primary_timeout)
            .field("tiers", &self.tiers)
            .field("static_response", &self.respond.is_some())
            .field("content_filtered", &self.content_filtered)
            .finish()
    }
}

/// Builds a [`FallbackLayer`]: the primary's name and timeout, the tiers in
/// order, and what to do when they all fail. See the
/// [module docs](super).
pub struct FallbackBuilder<T, Req, Res> {
    primary: Name,
    primary_timeout: Option<Duration>,
    tiers: Vec<Tier<T, Req>>,
    respond: Option<Respond<Res>>,
    content_filtered: bool,
}

impl<T, Req, Res> FallbackBuilder<T, Req, Res> {
    pub(super) fn new(primary: Cow<'static, str>) -> Self {
        Self {
            primary: Name::from(primary),
            primary_timeout: None,
            tiers: Vec::new(),
            respond: None,
            content_filtered: false,
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

    /// Bounds the primary (the inner service, retries included) to
    /// `timeout`, clipped by the deadline. By default only the deadline
    /// bounds it.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.primary_timeout = Some(timeout);
        self
    }

    /// Adds the next tier.
    #[must_use]
    pub fn tier(mut self, tier: Tier<T, Req>) -> Self {
        self.tiers.push(tier);
        self
    }

    /// Answers with `respond(&failure)` when every tier has failed (or the
    /// deadline left no time for the rest), instead of returning the
    /// failure: a graceful, degraded answer. It is not used when the last
    /// failure may not fall back (the caller's own fault, see
    /// [`FailureKind::may_fall_back`](crate::classify::FailureKind::may_fall_back)).
    #[must_use]
    pub fn static_response(
        mut self,
        respond: impl Fn(&Failure) -> Res + Send + Sync + 'static,
    ) -> Self {
        self.respond = Some(Box::new(respond));
        self
    }

    /// Whether a [`ContentFiltered`](crate::classify::FailureKind::ContentFiltered)
    /// failure moves on to the next tier (another provider's filter may
    /// let the request through). Off by default: the request is returned
    /// as refused.
    #[must_use]
    pub fn fall_back_on_content_filter(mut self, enabled: bool) -> Self {
        self.content_filtered = enabled;
        self
    }

    /// Checks the settings and builds the layer.
    ///
    /// # Errors
    ///
    /// A tier name that is empty or used twice (`"static"` is the static
    /// response's), a zero timeout, or more than [`MAX_TIERS`] tiers (the
    /// primary included).
    pub fn build(self) -> Result<FallbackLayer<T, Req, Res>, InvalidConfig>
    where
        T: Service<Req, Response = Res>,
    {
        let invalid = |field, reason| InvalidConfig::new("fallback", field, reason);
        if self.tiers.len() + 1 > MAX_TIERS {
            return Err(invalid("tier", "more than 16 tiers, the primary included"));
        }
        if self.primary_timeout == Some(Duration::ZERO)
            || self.tiers.iter().any(|t| t.timeout == Some(Duration::ZERO))
        {
            return Err(invalid("timeout", "must not be zero"));
        }
        let mut names = HashSet::new();
        let all = std::iter::once(&self.primary).chain(self.tiers.iter().map(|t| &t.name));
        for name in all {
            if name.as_str().is_empty() {
                return Err(invalid("tier", "a tier name is empty"));
            }
            if name.as_str() == STATIC_RESPONSE || !names.insert(name.as_str()) {
                return Err(invalid("tier", "a tier name is used twice").with_detail(name.as_str()));
            }
        }
        let mut counted: Vec<Name> = std::iter::once(self.primary.clone())
            .chain(self.tiers.iter().map(|t| t.name.clone()))
            .collect();
        if self.respond.is_some() {
            counted.push(Name::Static(STATIC_RESPONSE));
        }
        let chain = Chain {
            primary: self.primary,
            primary_timeout: self.primary_timeout,
            tiers: self.tiers.into_boxed_slice(),
            respond: self.respond,
            content_filtered: self.content_filtered,
            stats: Arc::new(Stats::new(counted)),
        };
        Ok(FallbackLayer::from_chain(Arc::new(chain)))
    }
}

const _: () = assert!(MAX_TIERS == 16, "the message above names the limit");

impl<T: fmt::Debug, Req, Res> fmt::Debug for FallbackBuilder<T, Req, Res> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackBuilder")
            .field("primary", &self.primary)
            .field("primary_timeout", &self.primary_timeout)
            .field("tiers", &self.tiers)
            .field("static_response", &self.respond.is_some())
            .field("content_filtered", &self.content_filtered)
            .finish()
    }
}
