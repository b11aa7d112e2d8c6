//! A model of which tier serves, checked against random status scripts.

use proptest::prelude::*;
use tower::{Layer, ServiceExt};
use tower_failover::classify::{FailureKind, classify_status};
use tower_failover::fallback::{FallbackLayer, Tier};

use crate::support::{Upstream, request, status};
use crate::{Req, Res, served};

const STATUSES: [u16; 10] = [200, 201, 400, 401, 402, 404, 413, 429, 503, 529];

/// What the layer should do with these statuses, one per tier: the
/// (tier, status) returned and how many tiers were called.
fn model(statuses: &[u16]) -> ((usize, u16), usize) {
    let mut kept = None;
    for (index, &status) in statuses.iter().enumerate() {
        let tier = index + 1;
        let Some(failure) = classify_status(http::StatusCode::from_u16(status).unwrap()) else {
            return ((tier, status), tier);
        };
        // Every result here is a response, so the later one is kept.
        kept = Some((tier, status));
        match failure {
            FailureKind::Invalid => return ((tier, status), tier),
            // No tier has a guard: nothing accepts a request too long.
            FailureKind::ContextTooLong => return ((tier, status), tier),
            _ => {}
        }
    }
    (kept.unwrap(), statuses.len())
}

proptest! {
    #[test]
    fn the_served_tier_matches_the_model(
        statuses in proptest::collection::vec(proptest::sample::select(STATUSES.to_vec()), 1..6)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let upstreams: Vec<_> = statuses.iter().map(|&s| Upstream::new([status(s)])).collect();
        let layer = upstreams[1..].iter().enumerate().fold(
            FallbackLayer::<Upstream, Req, Res>::builder("t1"),
            |builder, (i, upstream)| builder.tier(Tier::new(format!("t{}", i + 2), upstream.clone())),
        );
        let service = layer.build().unwrap().layer(upstreams[0].clone());
        let response = runtime.block_on(service.oneshot(request())).unwrap();
        let (tier, name, attempts) = served(&response);
        let ((expected_tier, expected_status), called) = model(&statuses);
        prop_assert_eq!((tier, response.status().as_u16()), (expected_tier, expected_status));
        prop_assert_eq!(name, format!("t{expected_tier}"));
        prop_assert_eq!(attempts as usize, called);
        let calls: Vec<_> = upstreams.iter().map(Upstream::call_count).collect();
        let expected_calls: Vec<_> = (0..statuses.len()).map(|i| usize::from(i < called)).collect();
        prop_assert_eq!(calls, expected_calls);
        let live: usize = upstreams.iter().map(Upstream::live_responses).sum();
        prop_assert_eq!(live, 1, "only the returned response is alive");
    }
}
