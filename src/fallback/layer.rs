use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::config::Chain;
use super::{Fallback, FallbackBuilder, FallbackHandle, InExtensions};
use crate::classify::DefaultClassifier;
use crate::retry::CloneReplay;

/// Applies [`Fallback`] to a service: the service becomes the primary
/// (tier 1), the layer holds the tiers after it. See the
/// [module docs](super).
///
/// Built with [`FallbackLayer::builder`]. The type parameters are the
/// tiers' service `T`, the request and response types, the classifier `C`,
/// how requests are copied `R` and how [`ServedBy`](super::ServedBy) is
/// recorded `M`.
pub struct FallbackLayer<T, Req, Res, C = DefaultClassifier, R = CloneReplay, M = InExtensions> {
    chain: Arc<Chain<T, Req, Res>>,
    classifier: C,
    replay: R,
    record: M,
}

impl<T, Req, Res> FallbackLayer<T, Req, Res> {
    /// Starts building a layer whose inner service (the primary) is named
    /// `primary`.
    pub fn builder(primary: impl Into<Cow<'static, str>>) -> FallbackBuilder<T, Req, Res> {
        FallbackBuilder::new(primary.into())
    }

    pub(super) fn from_chain(chain: Arc<Chain<T, Req, Res>>) -> Self {
        Self {
            chain,
            classifier: DefaultClassifier,
            replay: CloneReplay,
            record: InExtensions,
        }
    }
}

impl<T, Req, Res, C, R, M> FallbackLayer<T, Req, Res, C, R, M> {
    /// Classifies results with `classifier` instead of the
    /// [`DefaultClassifier`]. It sees every error as a
    /// [`BoxError`](crate::BoxError).
    pub fn classifier<C2>(self, classifier: C2) -> FallbackLayer<T, Req, Res, C2, R, M> {
        FallbackLayer {
            chain: self.chain,
            classifier,
            replay: self.replay,
            record: self.record,
        }
    }

    /// Copies requests for the tiers with `replay` (a
    /// [`Replay`](crate::retry::Replay)) instead of cloning them.
    pub fn replay<R2>(self, replay: R2) -> FallbackLayer<T, Req, Res, C, R2, M> {
        FallbackLayer {
            chain: self.chain,
            classifier: self.classifier,
            replay,
            record: self.record,
        }
    }

    /// Records [`ServedBy`](super::ServedBy) with `record` (a
    /// [`RecordServedBy`](super::RecordServedBy)) instead of in an
    /// `http::Response`'s extensions; `()` records nothing.
    pub fn record<M2>(self, record: M2) -> FallbackLayer<T, Req, Res, C, R, M2> {
        FallbackLayer {
            chain: self.chain,
            classifier: self.classifier,
            replay: self.replay,
            record,
        }
    }

    /// A handle on the counters shared by every service this layer makes.
    pub fn handle(&self) -> FallbackHandle {
        FallbackHandle::new(self.chain.stats.clone())
    }
}

impl<S, T, Req, Res, C: Clone, R: Clone, M: Clone> Layer<S>
    for FallbackLayer<T, Req, Res, C, R, M>
{
    type Service = Fallback<S, T, Req, Res, C, R, M>;

    fn layer(&self, primary: S) -> Self::Service {
        Fallback::from_parts(
            primary,
            self.chain.clone(),
            self.classifier.clone(),
            self.replay.clone(),
            self.record.clone(),
        )
    }
}

impl<T, Req, Res, C: Clone, R: Clone, M: Clone> Clone for FallbackLayer<T, Req, Res, C, R, M> {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            classifier: self.classifier.clone(),
            replay: self.replay.clone(),
            record: self.record.clone(),
        }
    }
}

impl<T: fmt::Debug, Req, Res, C: fmt::Debug, R: fmt::Debug, M: fmt::Debug> fmt::Debug
    for FallbackLayer<T, Req, Res, C, R, M>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("chain", &self.chain)
            .field("classifier", &self.classifier)
            .field("replay", &self.replay)
            .field("record", &self.record)
            .finish()
    }
}
