//! Dropping a fallback call at any point leaves no tier half-called: no
//! call in flight, no response alive, no readiness reserved, no later call.

use std::time::Duration;

use tower::limit::ConcurrencyLimit;
use tower::{Layer, Service, ServiceExt};
use tower_failover::fallback::{FallbackLayer, Tier};

use crate::support::{Step, Upstream, cancel_at_every_poll, ok, poll_once, request, status};
use crate::{Req, Res};

/// Three tiers, each slow to fail, the last slow to serve: every poll lands
/// somewhere new (a call in flight, a timer, the next tier).
fn upstreams() -> [Upstream; 3] {
    let slow = |step: Step| Upstream::new([step.after(Duration::from_millis(50))]);
    [slow(status(503)), slow(status(502)), slow(ok())]
}

fn service(
    upstreams: &[Upstream; 3],
) -> impl Service<Req, Response = Res, Error = tower_failover::BoxError> + use<> {
    FallbackLayer::builder("primary")
        .primary_timeout(Duration::from_secs(1))
        .tier(Tier::new("second", upstreams[1].clone()).timeout(Duration::from_secs(1)))
        .tier(Tier::new("third", upstreams[2].clone()))
        .build()
        .unwrap()
        .layer(upstreams[0].clone())
}

#[tokio::test(start_paused = true)]
async fn cancelling_at_every_poll_leaves_no_tier_half_called() {
    cancel_at_every_poll(|| {
        let upstreams = upstreams();
        (service(&upstreams), upstreams.to_vec())
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_releases_the_readiness_a_tier_reserved() {
    // The backup admits one call at a time. A call dropped while the backup
    // hangs, or right after it was made ready, must give its slot back.
    let primary = Upstream::new([status(503)]);
    let backup = Upstream::new([Step::Hang, ok()]);
    let mut service = FallbackLayer::builder("primary")
        .tier(Tier::new(
            "backup",
            ConcurrencyLimit::new(backup.clone(), 1),
        ))
        .build()
        .unwrap()
        .layer(primary);

    let mut future = Box::pin(service.ready().await.unwrap().call(request()));
    assert!(poll_once(&mut future).await.is_none());
    assert_eq!(backup.live_futures(), 1, "the backup hangs");
    drop(future);
    assert_eq!(backup.live_futures(), 0);

    let response = tokio::time::timeout(
        Duration::from_secs(1),
        service.ready().await.unwrap().call(request()),
    )
    .await
    .expect("the backup's only slot was released")
    .unwrap();
    assert_eq!(response.status(), 200);
}
