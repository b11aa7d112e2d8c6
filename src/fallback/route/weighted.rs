use std::sync::atomic::{AtomicU64, Ordering};

use super::{Order, Route, Tiers};
use crate::InvalidConfig;

/// Spreads first choices by weight: the tier tried first is drawn at
/// random with a chance proportional to its weight; after a failure the
/// others follow in the configured order.
///
/// One weight per tier, the primary first (the layer's
/// [`build`](crate::fallback::FallbackBuilder::build) checks the count). A
/// weight of 0 is never drawn first but still serves as a fallback in its
/// configured place. The draw uses the crate's fast per-thread random
/// source, or, once [seeded](Self::seed), a shared sequence of its own
/// (lock-free) so that tests can replay it.
///
/// ```
/// use tower_failover::fallback::{FallbackLayer, Tier, Weighted};
///
/// let backup = tower::service_fn(|_: u32| async { Ok::<_, std::io::Error>(2u32) });
/// // Three requests in four go to the primary first, one to the backup.
/// let layer = FallbackLayer::builder("primary")
///     .tier(Tier::new("backup", backup))
///     .route(Weighted::new([3, 1])?)
///     .build()?;
/// # let _ = layer;
///
/// let error = Weighted::new([0, 0]).unwrap_err();
/// assert_eq!(error.field(), "weights");
/// # Ok::<(), tower_failover::InvalidConfig>(())
/// ```
#[derive(Debug)]
pub struct Weighted {
    weights: Box<[u32]>,
    total: u64,
    seeded: Option<AtomicU64>,
}

impl Weighted {
    /// Weights by configured position, the primary first.
    ///
    /// # Errors
    ///
    /// No weight, or every weight zero (field `weights`).
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Result<Self, InvalidConfig> {
        let weights: Box<[u32]> = weights.into_iter().collect();
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if total == 0 {
            return Err(InvalidConfig::new(
                "fallback",
                "weights",
                "at least one weight must be above zero",
            ));
        }
        Ok(Self {
            weights,
            total,
            seeded: None,
        })
    }

    /// Draws from a sequence seeded with `seed`, the same on every run.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        // xorshift must never hold zero.
        self.seeded = Some(AtomicU64::new(seed | 1));
        self
    }

    fn next_u64(&self) -> u64 {
        let Some(state) = &self.seeded else {
            return crate::rng::next_u64();
        };
        let step = |mut x: u64| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x
        };
        let previous = state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
            .unwrap_or_else(|x| x);
        step(previous).wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The position drawn: `r` in `[0, total)`, then the tier whose
    /// cumulative weight passes it.
    fn draw(&self) -> usize {
        let r = ((u128::from(self.next_u64()) * u128::from(self.total)) >> 64) as u64;
        let mut sum = 0;
        for (position, &weight) in self.weights.iter().enumerate() {
            sum += u64::from(weight);
            if r < sum {
                return position;
            }
        }
        0
    }
}

impl<Req> Route<Req> for Weighted {
    fn order(&self, _: &Req, _: &Tiers<'_, Req>, order: &mut Order) {
        order.move_to_front(self.draw());
    }

    fn tiers(&self) -> Option<usize> {
        Some(self.weights.len())
    }
}
