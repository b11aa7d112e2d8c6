use super::{Order, Route, Tiers};

/// The configured order: the primary, then the tiers as added. The default.
///
/// A layer built with it (or with no route at all) takes its fast path: no
/// order is computed per request and the happy path costs what it always
/// did.
///
/// ```
/// use tower_failover::fallback::{FallbackLayer, Static, Tier};
///
/// let backup = tower::service_fn(|_: u32| async { Ok::<_, std::io::Error>(2u32) });
/// let layer = FallbackLayer::builder("primary")
///     .tier(Tier::new("backup", backup))
///     .route(Static)
///     .build();
/// assert!(layer.is_ok());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Static;

impl<Req> Route<Req> for Static {
    #[inline]
    fn order(&self, _: &Req, _: &Tiers<'_, Req>, _: &mut Order) {}
}
