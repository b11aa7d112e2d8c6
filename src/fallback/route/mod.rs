//! Routing: which tiers a request tries, and in which order.
//!
//! See the [`Route`] trait and the `# Routing` section of the
//! [module docs](super).

mod capability;
mod cost;
mod least_latency;
mod order;
mod routing;
mod static_order;
mod weighted;

use std::fmt;
use std::time::Duration;

pub use self::capability::Capability;
pub use self::cost::CostAware;
pub use self::least_latency::{LeastLatency, LeastLatencyBuilder};
pub use self::order::Order;
pub use self::routing::Routing;
pub use self::static_order::Static;
pub use self::weighted::Weighted;
use super::Tier;
use super::stats::Stats;

/// Decides, per request, the order in which a [`Fallback`](super::Fallback)
/// tries its tiers, and may leave tiers out. Set with
/// [`FallbackBuilder::route`](super::FallbackBuilder::route).
///
/// [`order`](Self::order) receives the [`Order`] filled with the configured
/// order (the primary at position 0, then the tiers as added) and changes
/// it in place: reorders it, drops positions, or clears it and pushes its
/// own. The layer then calls the first position, and on a failure that may
/// fall back moves to the next one in that order (guards and
/// [`ContextTooLong`](crate::classify::FailureKind::ContextTooLong) still
/// apply as they do without a route). The static response, if any, stays
/// last whatever the order. An order left empty answers
/// [`NoRoute`](super::NoRoute) at once.
///
/// It runs on every request, synchronously, before any tier is called: keep
/// it cheap (no allocation, no lock, no I/O). The trait is object-safe; the
/// layer keeps the policy as an `Arc<dyn Route<Req>>`.
///
/// A policy that learns from results (like [`LeastLatency`]) returns `true`
/// from [`observes`](Self::observes): the layer then reads the clock when
/// it enters each tier and when the tier finishes, and reports the tier's
/// outcome to [`observe`](Self::observe) (see [`Observed`] for which
/// outcomes, and what the latency counts).
///
/// ```
/// use tower_failover::fallback::{FallbackLayer, Order, Route, Tier, Tiers};
///
/// /// Tries the primary last.
/// struct PrimaryLast;
///
/// impl<Req> Route<Req> for PrimaryLast {
///     fn order(&self, _: &Req, _: &Tiers<'_, Req>, order: &mut Order) {
///         order.retain(|position| position != 0);
///         order.push(0);
///     }
/// }
///
/// let backup = tower::service_fn(|_: u32| async { Ok::<_, std::io::Error>(2u32) });
/// let layer = FallbackLayer::builder("primary")
///     .tier(Tier::new("backup", backup))
///     .route(PrimaryLast)
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
pub trait Route<Req>: Send + Sync {
    /// Writes the order of the tiers `request` tries into `order`, which
    /// holds the configured order when called.
    fn order(&self, request: &Req, tiers: &Tiers<'_, Req>, order: &mut Order);

    /// Whether the layer should time each tier and report it to
    /// [`observe`](Self::observe). `false` by default: no clock read.
    fn observes(&self) -> bool {
        false
    }

    /// A tier at `position` finished: it served, or failed in a way that
    /// says something about its health (see [`Observed`]). Called only if
    /// [`observes`](Self::observes) returns `true`, at most once per tier
    /// entered, and never for a tier whose call was dropped with the
    /// response future.
    fn observe(&self, position: usize, observed: Observed) {
        let _ = (position, observed);
    }

    /// The number of tiers (the primary included) the policy was set up
    /// for, if it holds per-tier settings; the layer's
    /// [`build`](super::FallbackBuilder::build) rejects a policy set up for
    /// another number. `None` by default.
    fn tiers(&self) -> Option<usize> {
        None
    }
}

/// A boxed route, e.g. one chosen at run time.
impl<Req, R: Route<Req> + ?Sized> Route<Req> for Box<R> {
    fn order(&self, request: &Req, tiers: &Tiers<'_, Req>, order: &mut Order) {
        (**self).order(request, tiers, order);
    }

    fn observes(&self) -> bool {
        (**self).observes()
    }

    fn observe(&self, position: usize, observed: Observed) {
        (**self).observe(position, observed);
    }

    fn tiers(&self) -> Option<usize> {
        (**self).tiers()
    }
}

/// A shared route: keep a clone to read what it learned (e.g.
/// [`LeastLatency::estimate`]).
impl<Req, R: Route<Req> + ?Sized> Route<Req> for std::sync::Arc<R> {
    fn order(&self, request: &Req, tiers: &Tiers<'_, Req>, order: &mut Order) {
        (**self).order(request, tiers, order);
    }

    fn observes(&self) -> bool {
        (**self).observes()
    }

    fn observe(&self, position: usize, observed: Observed) {
        (**self).observe(position, observed);
    }

    fn tiers(&self) -> Option<usize> {
        (**self).tiers()
    }
}

/// What a tier's call came to, as reported to [`Route::observe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observed {
    /// The tier served (the classifier called its result a success) after
    /// `latency`.
    ///
    /// A latency runs from entering the tier to its result. For a tier
    /// reached after another, and for any tier a route put before the
    /// primary, entering is before its `poll_ready`, so the wait for
    /// readiness is included. For the primary tried first, entering is
    /// the layer's `call`, after the caller's `poll_ready` returned ready:
    /// the wait for the primary's readiness is not included.
    Served {
        /// From entering the tier to its result.
        latency: Duration,
    },
    /// The tier failed in a way that counts against it: a failure that
    /// [counts against a breaker](crate::classify::FailureKind::counts_against_breaker),
    /// its timeout, an open circuit, a spent budget reported from below
    /// ([`BudgetExhausted`](crate::classify::FailureKind::BudgetExhausted)),
    /// or the logical call's deadline passing while the tier was still at
    /// work. The caller's own faults (a 400, a context too long, a content
    /// filter) are not reported, nor is a call the caller cancelled by
    /// dropping the future: that is not the tier's fault, and the tier may
    /// have been about to answer.
    Failed {
        /// From entering the tier (as for [`Served`](Self::Served)) to its
        /// failure, or to the deadline that stopped it.
        latency: Duration,
    },
}

/// A read-only view of a layer's tiers for a [`Route`]: their names,
/// guards and counters, by configured position (0 for the primary).
pub struct Tiers<'a, Req> {
    stats: &'a Stats,
    guards: &'a dyn Guards<Req>,
    len: usize,
}

impl<'a, Req> Tiers<'a, Req> {
    pub(in crate::fallback) fn new(
        stats: &'a Stats,
        guards: &'a dyn Guards<Req>,
        len: usize,
    ) -> Self {
        Self { stats, guards, len }
    }

    /// How many tiers there are, the primary included (the static response
    /// is not one).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: there is at least the primary.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The name of the tier at `position`.
    pub fn name(&self, position: usize) -> Option<&'a str> {
        self.counters(position).map(|tier| tier.name.as_str())
    }

    /// What the [guard](Tier::guard) of the tier at `position` says about
    /// `request`; `None` if it has none (the primary never has one).
    pub fn accepts(&self, position: usize, request: &Req) -> Option<bool> {
        if position >= self.len {
            return None;
        }
        self.guards.accepts(position, request)
    }

    /// How many responses the tier at `position` served so far (see
    /// [`TierStats::served`](super::TierStats::served)).
    pub fn served(&self, position: usize) -> u64 {
        self.counters(position).map_or(0, |tier| tier.served())
    }

    /// How many of the tier's results were failures so far (see
    /// [`TierStats::failed`](super::TierStats::failed)).
    pub fn failed(&self, position: usize) -> u64 {
        self.counters(position).map_or(0, |tier| tier.failed())
    }

    fn counters(&self, position: usize) -> Option<&'a super::stats::TierCounters> {
        if position >= self.len {
            return None;
        }
        self.stats.tiers.get(position)
    }
}

impl<Req> fmt::Debug for Tiers<'_, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries((0..self.len).filter_map(|position| self.name(position)))
            .finish()
    }
}

/// The tiers' guards, by configured position.
pub(in crate::fallback) trait Guards<Req> {
    fn accepts(&self, position: usize, request: &Req) -> Option<bool>;
}

impl<T, Req> Guards<Req> for Box<[Tier<T, Req>]> {
    fn accepts(&self, position: usize, request: &Req) -> Option<bool> {
        let tier = self.get(position.checked_sub(1)?)?;
        tier.guard.as_ref().map(|guard| guard(request))
    }
}
