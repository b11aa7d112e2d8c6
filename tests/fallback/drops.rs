//! Dropping a fallback call at any point leaves no tier half-called: no
//! call in flight, no response alive, no readiness reserved, no later call.

use std::time::Duration;

use tower::limit::ConcurrencyLimit;
use tower::{Layer, Service, ServiceExt};
use tower_failover::fallback::{FallbackLayer, Tier};

use crate::support::{Step, Upstream, ok, poll_once, request, status};
use crate::{Req, Res};

/// Three tiers, each slow to fail, the last slow to serve: every poll lands
/// somewhere new (a call in flight, a timer, the next tier).
fn upstreams() -> [Upstream; 3] {
    let slow = |step: Step| Upstream::new([step.after(Duration::from_millis(50))]);
    [slow(status(503)), slow(status(502)), slow(ok())]
}

fn service(
    upstreams: &[Upstream; 3],
) -> impl Service<Req, Response = Res, Error = tower_failover::BoxError> {
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
    let mut full_polls = 0;
    {
        let upstreams = upstreams();
        let mut service = service(&upstreams);
        let mut future = Box::pin(service.ready().await.unwrap().call(request()));
        loop {
            full_polls += 1;
            if let Some(result) = poll_once(&mut future).await {
                assert_eq!(result.unwrap().status(), 200);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert!(
        full_polls > 10,
        "the run spans many polls, got {full_polls}"
    );
    for cancel_after in 1..full_polls {
        let upstreams = upstreams();
        let mut service = service(&upstreams);
        let mut future = Box::pin(service.ready().await.unwrap().call(request()));
        for _ in 0..cancel_after {
            assert!(poll_once(&mut future).await.is_none());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let calls: Vec<_> = upstreams.iter().map(Upstream::call_count).collect();
        drop(future);
        for upstream in &upstreams {
            assert_eq!(
                upstream.live_futures(),
                0,
                "cancelled after {cancel_after} polls"
            );
            assert_eq!(
                upstream.live_responses(),
                0,
                "cancelled after {cancel_after} polls"
            );
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        let after: Vec<_> = upstreams.iter().map(Upstream::call_count).collect();
        assert_eq!(after, calls, "no tier called after the drop");
    }
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
