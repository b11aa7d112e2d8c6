use std::fmt;

use super::{Order, Route, Tiers};
use crate::InvalidConfig;

type Measure<Req> = Box<dyn Fn(&Req) -> f64 + Send + Sync>;
type Budget<Req> = Box<dyn Fn(&Req) -> Option<f64> + Send + Sync>;

/// Tries the cheapest tiers first and leaves out the ones a request cannot
/// afford.
///
/// Each tier has a cost per unit (say, dollars per thousand tokens), the
/// primary's first (the layer's [`build`](crate::fallback::FallbackBuilder::build)
/// checks the count). Per request, a user function gives its
/// [budget](Self::new) (the most it may cost, `None` for no limit) and
/// another its [size](Self::size) in units (1 by default). A tier whose
/// cost × size is over the budget is never called; the rest are tried from
/// cheapest to dearest, equal costs in their configured order. When no tier
/// fits, the layer answers [`NoRoute`](crate::fallback::NoRoute) at once,
/// without calling anyone.
///
/// A size or budget that is NaN or negative fits no tier (nothing is
/// called rather than something that may cost anything).
///
/// ```
/// use tower_failover::fallback::{CostAware, FallbackLayer, Tier};
///
/// // The request is its own token count; the budget is a flat $0.01.
/// let backup = tower::service_fn(|_: u32| async { Ok::<_, std::io::Error>(2u32) });
/// let route = CostAware::new([0.005, 0.0002], |_: &u32| Some(0.01))?
///     .size(|tokens: &u32| f64::from(*tokens) / 1000.0);
/// let layer = FallbackLayer::builder("gpt-4o")
///     .tier(Tier::new("gpt-4o-mini", backup))
///     .route(route)
///     .build()?;
/// # let _ = layer;
///
/// let error = CostAware::new([f64::NAN], |_: &u32| None).unwrap_err();
/// assert_eq!(error.field(), "costs");
/// # Ok::<(), tower_failover::InvalidConfig>(())
/// ```
pub struct CostAware<Req> {
    costs: Box<[f64]>,
    budget: Budget<Req>,
    size: Option<Measure<Req>>,
}

impl<Req> CostAware<Req> {
    /// Costs per unit by configured position (the primary first), and the
    /// budget of each request.
    ///
    /// # Errors
    ///
    /// A cost that is negative, infinite or NaN (field `costs`).
    pub fn new(
        costs: impl IntoIterator<Item = f64>,
        budget: impl Fn(&Req) -> Option<f64> + Send + Sync + 'static,
    ) -> Result<Self, InvalidConfig> {
        let costs: Box<[f64]> = costs.into_iter().collect();
        if let Some(cost) = costs.iter().find(|c| !c.is_finite() || **c < 0.0) {
            return Err(InvalidConfig::new(
                "fallback",
                "costs",
                "a cost must be finite and not negative",
            )
            .with_detail(cost.to_string()));
        }
        Ok(Self {
            costs,
            budget: Box::new(budget),
            size: None,
        })
    }

    /// How many cost units a request takes (e.g. its estimated thousands
    /// of tokens); 1 by default.
    #[must_use]
    pub fn size(mut self, size: impl Fn(&Req) -> f64 + Send + Sync + 'static) -> Self {
        self.size = Some(Box::new(size));
        self
    }

    fn cost(&self, position: usize) -> f64 {
        self.costs.get(position).copied().unwrap_or(f64::INFINITY)
    }
}

impl<Req> Route<Req> for CostAware<Req> {
    fn order(&self, request: &Req, _: &Tiers<'_, Req>, order: &mut Order) {
        if let Some(budget) = (self.budget)(request) {
            let size = self.size.as_ref().map_or(1.0, |size| size(request));
            // NaN compares false: nothing fits.
            order.retain(|position| size >= 0.0 && self.cost(position) * size <= budget);
        }
        order.sort_by(|a, b| self.cost(a).total_cmp(&self.cost(b)));
    }

    fn tiers(&self) -> Option<usize> {
        Some(self.costs.len())
    }
}

impl<Req> fmt::Debug for CostAware<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CostAware")
            .field("costs", &self.costs)
            .field("size", &self.size.is_some())
            .finish_non_exhaustive()
    }
}
