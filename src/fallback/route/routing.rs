use super::{LeastLatency, Observed, Order, Route, Tiers, Weighted};

/// A routing policy chosen by name, as configuration chooses it: the
/// policies that need no code. [`CostAware`](super::CostAware) and
/// [`Capability`](super::Capability) take functions of the request and are
/// set up in code.
///
/// With the `serde` feature it deserializes from `"static"`,
/// `"least_latency"`, `{ least_latency = { half_life = "10s",
/// failure_penalty = "10s" } }` or `{ weighted = [3, 1] }`, checked by the
/// policies' own constructors.
///
/// ```
/// use tower_failover::fallback::{FallbackLayer, Routing, Tier, Weighted};
///
/// let backup = tower::service_fn(|_: u32| async { Ok::<_, std::io::Error>(2u32) });
/// let layer = FallbackLayer::builder("primary")
///     .tier(Tier::new("backup", backup))
///     .route(Routing::Weighted(Weighted::new([3, 1])?))
///     .build()?;
/// # let _ = layer;
/// # Ok::<(), tower_failover::InvalidConfig>(())
/// ```
#[derive(Debug, Default)]
#[non_exhaustive]
pub enum Routing {
    /// [`Static`](super::Static): the configured order, on the fast path.
    #[default]
    Static,
    /// [`LeastLatency`] (boxed: it holds an estimate per possible tier).
    LeastLatency(Box<LeastLatency>),
    /// [`Weighted`].
    Weighted(Weighted),
}

impl<Req> Route<Req> for Routing {
    fn order(&self, request: &Req, tiers: &Tiers<'_, Req>, order: &mut Order) {
        match self {
            Self::Static => {}
            Self::LeastLatency(route) => Route::<Req>::order(&**route, request, tiers, order),
            Self::Weighted(route) => route.order(request, tiers, order),
        }
    }

    fn observes(&self) -> bool {
        matches!(self, Self::LeastLatency(_))
    }

    fn observe(&self, position: usize, observed: Observed) {
        if let Self::LeastLatency(route) = self {
            Route::<Req>::observe(&**route, position, observed);
        }
    }

    fn tiers(&self) -> Option<usize> {
        match self {
            Self::Weighted(route) => Route::<Req>::tiers(route),
            _ => None,
        }
    }
}
