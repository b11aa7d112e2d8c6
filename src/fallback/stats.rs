use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::name::Name;

/// Counters of one tier, shared by every clone of a layer.
#[derive(Debug)]
pub(super) struct TierCounters {
    pub(super) name: Name,
    served: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    #[cfg(feature = "metrics")]
    pub(super) metrics: crate::metrics::TierMetrics,
}

impl TierCounters {
    pub(super) fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    pub(super) fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// What a [`FallbackHandle`] reads: one set of counters per tier, the
/// static response last if there is one.
#[derive(Debug)]
pub(super) struct Stats {
    pub(super) tiers: Box<[TierCounters]>,
    fell_back: AtomicU64,
}

/// Which counter of a tier to bump.
#[derive(Clone, Copy, Debug)]
pub(super) enum Count {
    Served,
    Failed,
    Skipped,
}

impl Stats {
    pub(super) fn new(names: impl IntoIterator<Item = Name>) -> Self {
        Self {
            tiers: names
                .into_iter()
                .map(|name| TierCounters {
                    // The static response takes no time: no histograms.
                    #[cfg(feature = "metrics")]
                    metrics: crate::metrics::TierMetrics::new(
                        &name,
                        name.as_str() != super::STATIC_RESPONSE,
                    ),
                    name,
                    served: AtomicU64::new(0),
                    failed: AtomicU64::new(0),
                    skipped: AtomicU64::new(0),
                })
                .collect(),
            fell_back: AtomicU64::new(0),
        }
    }

    #[inline]
    pub(super) fn count(&self, tier: usize, count: Count) {
        let Some(tier) = self.tiers.get(tier) else {
            return;
        };
        #[cfg(feature = "metrics")]
        if let Count::Served = count {
            tier.metrics.served();
        }
        let counter = match count {
            Count::Served => &tier.served,
            Count::Failed => &tier.failed,
            Count::Skipped => &tier.skipped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn fell_back(&self) {
        self.fell_back.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads a fallback layer's counters: how often each tier served, failed or
/// was skipped, and how often requests fell back at all.
///
/// Every clone of the layer and of its services shares the counters. The
/// counts are relaxed atomics: each is exact, but a snapshot taken while
/// requests run may mix moments.
#[derive(Clone)]
pub struct FallbackHandle {
    stats: Arc<Stats>,
}

impl FallbackHandle {
    pub(super) fn new(stats: Arc<Stats>) -> Self {
        Self { stats }
    }

    /// One entry per tier, the primary first and the static response (if
    /// any) last.
    pub fn tiers(&self) -> Vec<TierStats> {
        self.stats
            .tiers
            .iter()
            .map(|tier| TierStats {
                name: tier.name.clone(),
                served: tier.served.load(Ordering::Relaxed),
                failed: tier.failed.load(Ordering::Relaxed),
                skipped: tier.skipped.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// How many requests moved past the primary (to another tier or the
    /// static response), or with a [route](super::Route), past the first
    /// tier it chose: divide by the requests made for the fallback rate.
    pub fn fell_back(&self) -> u64 {
        self.stats.fell_back.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for FallbackHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackHandle")
            .field("tiers", &self.tiers())
            .field("fell_back", &self.fell_back())
            .finish()
    }
}

/// A snapshot of one tier's counters; see [`FallbackHandle::tiers`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierStats {
    name: Name,
    served: u64,
    failed: u64,
    skipped: u64,
}

impl TierStats {
    /// The tier's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// Responses this tier returned that the classifier called a success.
    pub fn served(&self) -> u64 {
        self.served
    }

    /// Results of this tier that the classifier called a failure (whether
    /// the layer then moved on or returned it).
    pub fn failed(&self) -> u64 {
        self.failed
    }

    /// Times this tier was passed over: its guard refused the request, or
    /// the request could not be copied for it.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}
