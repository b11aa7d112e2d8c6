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
/// recorded `M`; only `T` and the request type usually need naming, and
/// rarely even those.
pub struct FallbackLayer<T, Req, Res, C = DefaultClassifier, R = CloneReplay, M = InExtensions> {
    pub(super) chain: Arc<Chain<T, Req, Res>>,
    pub(super) classifier: C,
    pub(super) replay: R,
    pub(super) record: M,
}

impl<T, Req, Res> FallbackLayer<T, Req, Res> {
    /// Starts building a layer whose inner service (the primary) is named
    /// `primary`.
    pub fn builder(primary: impl Into<Cow<'static, str>>) -> FallbackBuilder<T, Req, Res> {
        FallbackBuilder::new(primary.into())
    }
}

impl<T, Req, Res, C, R, M> FallbackLayer<T, Req, Res, C, R, M> {
    pub(super) fn from_parts(
        chain: Arc<Chain<T, Req, Res>>,
        classifier: C,
        replay: R,
        record: M,
    ) -> Self {
        Self {
            chain,
            classifier,
            replay,
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
        Fallback {
            primary,
            layer: self.clone(),
        }
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

impl<T, Req, Res, C: fmt::Debug, R: fmt::Debug, M: fmt::Debug> fmt::Debug
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
