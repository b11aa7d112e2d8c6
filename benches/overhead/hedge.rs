//! Hedge overhead (issue 8) on the happy path — the first attempt answers
//! at once, no hedge is sent — side by side with tower's `Hedge` around the
//! same `service_fn`, in one run.
//!
//! `cargo bench --bench overhead -- hedge/`

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use tower::Layer;
use tower_failover::hedge::{AlwaysHedge, HedgeConfig, HedgeDelay, HedgeLayer};

use crate::stacks::{Request, call, upstream_http};

/// tower's policy: every request may be hedged, cloned as it is.
#[derive(Clone, Copy)]
struct TowerPolicy;

impl tower::hedge::Policy<Request> for TowerPolicy {
    fn clone_request(&self, request: &Request) -> Option<Request> {
        Some(*request)
    }

    fn can_retry(&self, _: &Request) -> bool {
        true
    }
}

fn ours(
    delay: HedgeDelay,
) -> impl tower::Service<Request, Response = http::Response<()>, Error = Infallible> {
    let config = HedgeConfig::builder(delay)
        .should_hedge(AlwaysHedge)
        .build()
        .expect("a valid config");
    HedgeLayer::new(config).layer(upstream_http())
}

pub(crate) fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("hedge");

    macro_rules! bench {
        ($name:literal, $service:expr) => {{
            let mut service = $service;
            assert!(call(&mut service, 1).is_some(), "answers on the first poll");
            group.bench_function($name, |b| b.iter(|| call(&mut service, black_box(1))));
        }};
    }
    bench!("bare", upstream_http());
    bench!(
        "hedge_fixed",
        ours(HedgeDelay::Fixed(Duration::from_millis(100)))
    );
    bench!(
        "hedge_percentile",
        ours(HedgeDelay::Percentile {
            p: 95.0,
            min_samples: 10,
            fallback: Duration::from_millis(100),
        })
    );
    // tower's: the 95th percentile over a 10 s window, after 10 samples.
    bench!(
        "tower_hedge",
        tower::hedge::Hedge::new::<Request>(
            upstream_http(),
            TowerPolicy,
            10,
            95.0,
            Duration::from_secs(10),
        )
    );
    group.finish();
}
