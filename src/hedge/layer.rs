use std::sync::Arc;

use tower_layer::Layer;

use super::{Hedge, HedgeConfig, HedgeHandle, Shared};
use crate::classify::DefaultClassifier;
use crate::retry::CloneReplay;

use super::DefaultShouldHedge;

/// Where hedges go when no [alternate](HedgeLayer::alternate) is given: a
/// clone of the wrapped service.
#[derive(Clone, Copy, Debug, Default)]
pub struct SameService;

/// Where hedges go with [`HedgeLayer::alternate`]: another service (the
/// next tier).
#[derive(Clone, Debug)]
pub struct Alternate<A>(A);

/// Applies [`Hedge`] to a service. See the [module docs](super).
#[derive(Clone, Debug)]
pub struct HedgeLayer<
    C = DefaultClassifier,
    R = CloneReplay,
    P = DefaultShouldHedge,
    T = SameService,
> {
    config: HedgeConfig<C, P>,
    replay: R,
    target: T,
}

impl<C, P> HedgeLayer<C, CloneReplay, P> {
    /// Hedges with `config`, to a clone of the wrapped service, copying
    /// requests by cloning them.
    pub fn new(config: HedgeConfig<C, P>) -> Self {
        Self {
            config,
            replay: CloneReplay,
            target: SameService,
        }
    }
}

impl<C, R, P, T> HedgeLayer<C, R, P, T> {
    /// Copies requests for the hedges with `replay` instead: a
    /// [`Replay`](crate::retry::Replay) such as
    /// [`HttpReplay`](crate::retry::HttpReplay) or a `Fn(&Req) -> Option<Req>`.
    pub fn replay<R2>(self, replay: R2) -> HedgeLayer<C, R2, P, T> {
        HedgeLayer {
            config: self.config,
            replay,
            target: self.target,
        }
    }

    /// Sends hedges to `service` (another provider, the next tier) instead
    /// of the wrapped service. It takes the same requests and gives the same
    /// responses and errors; it is cloned for each call that may be hedged,
    /// and made ready only when a hedge is due.
    pub fn alternate<A>(self, service: A) -> HedgeLayer<C, R, P, Alternate<A>> {
        HedgeLayer {
            config: self.config,
            replay: self.replay,
            target: Alternate(service),
        }
    }

    /// The config.
    pub fn config(&self) -> &HedgeConfig<C, P> {
        &self.config
    }

    /// A handle on the counters of every service this layer wraps.
    pub fn handle(&self) -> HedgeHandle {
        self.config.handle()
    }
}

impl<S: Clone, C: Clone, R: Clone, P: Clone> Layer<S> for HedgeLayer<C, R, P, SameService> {
    type Service = Hedge<S, S, C, R, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Hedge::from_parts(
            inner.clone(),
            inner,
            Arc::new(Shared {
                config: self.config.clone(),
                replay: self.replay.clone(),
            }),
        )
    }
}

impl<S, A: Clone, C: Clone, R: Clone, P: Clone> Layer<S> for HedgeLayer<C, R, P, Alternate<A>> {
    type Service = Hedge<S, A, C, R, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Hedge::from_parts(
            inner,
            self.target.0.clone(),
            Arc::new(Shared {
                config: self.config.clone(),
                replay: self.replay.clone(),
            }),
        )
    }
}
