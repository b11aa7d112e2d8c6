use std::fmt;

use super::{Order, Route, Tiers};

type Guard<Req> = Box<dyn Fn(&Req) -> bool + Send + Sync>;

/// Leaves out, before the first call, every tier that cannot serve the
/// request (a tool call for a model without tools, a prompt longer than a
/// model's window); the rest keep their configured order.
///
/// What a tier can serve is its [guard](crate::fallback::Tier::guard):
/// there is one notion of "this tier can take this request", not two.
/// Without a route, guards are asked only on the way down, after a
/// failure, and never for the primary, which is always called first. This
/// policy asks them up front and gives the primary a guard of its own
/// ([`primary`](Self::primary)), so a request the primary cannot serve goes
/// straight to the first tier that can, with no failed call first. When no
/// tier can, the layer answers [`NoRoute`](crate::fallback::NoRoute) at
/// once.
///
/// Guards are asked up front for every tier, and the layer asks a tier's
/// guard again on the way down before trying it after a failure: keep
/// them pure and cheap (a length check, a flag in the request), never I/O
/// or counting.
///
/// ```
/// use tower_failover::fallback::{Capability, FallbackLayer, Tier};
///
/// // Requests are prompt lengths here; the primary takes up to 8 000.
/// let long = tower::service_fn(|_: u32| async { Ok::<_, std::io::Error>(2u32) });
/// let layer = FallbackLayer::builder("small")
///     .tier(Tier::new("large", long).guard(|length: &u32| *length <= 200_000))
///     .route(Capability::new().primary(|length: &u32| *length <= 8_000))
///     .build();
/// assert!(layer.is_ok());
/// ```
pub struct Capability<Req> {
    primary: Option<Guard<Req>>,
}

impl<Req> Capability<Req> {
    /// The policy, with no guard on the primary (it serves every request).
    pub fn new() -> Self {
        Self { primary: None }
    }

    /// Calls the primary only for requests `guard` accepts. Asked once
    /// per request, before the first call; pure and cheap, like a tier's
    /// [guard](crate::fallback::Tier::guard).
    #[must_use]
    pub fn primary(mut self, guard: impl Fn(&Req) -> bool + Send + Sync + 'static) -> Self {
        self.primary = Some(Box::new(guard));
        self
    }
}

impl<Req> Default for Capability<Req> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Req> Route<Req> for Capability<Req> {
    fn order(&self, request: &Req, tiers: &Tiers<'_, Req>, order: &mut Order) {
        order.retain(|position| match position {
            0 => self.primary.as_ref().is_none_or(|guard| guard(request)),
            _ => tiers.accepts(position, request).unwrap_or(true),
        });
    }
}

impl<Req> fmt::Debug for Capability<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capability")
            .field("primary", &self.primary.is_some())
            .finish()
    }
}
