//! FallbackLayer against scripted upstreams, in paused time: which tier
//! serves, what moves on, timeouts, the static response, readiness.

#[path = "../support/mod.rs"]
mod support;

mod chain_model;
mod drops;
mod graph;
mod routing;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use support::{Step, TrackedBody, Upstream, io_error, ok, request, status};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};
use tower_failover::BoxError;
use tower_failover::circuit_breaker::{BreakerConfig, CircuitBreaker};
use tower_failover::classify::{Classify, DefaultClassifier, FailureKind, Outcome};
use tower_failover::deadline::{AttemptTimedOut, DeadlineExceeded, TimeoutBudgetLayer};
use tower_failover::fallback::{
    Fallback, FallbackBuilder, FallbackHandle, FallbackLayer, InExtensions, RecordServedBy,
    ServedBy, Tier,
};
use tower_failover::retry::{Backoff, CloneReplay, Replay, RetryLayer, RetryPolicy};

type Req = http::Request<String>;
type Res = http::Response<TrackedBody>;

/// A builder whose primary is named "primary" and whose tiers are the
/// given upstreams, named as given.
fn builder(tiers: &[(&'static str, &Upstream)]) -> FallbackBuilder<Upstream, Req, Res> {
    tiers.iter().fold(
        FallbackLayer::builder("primary"),
        |builder, (name, upstream)| builder.tier(Tier::new(*name, (*upstream).clone())),
    )
}

fn fallback(
    primary: &Upstream,
    tiers: &[(&'static str, &Upstream)],
) -> Fallback<Upstream, Upstream, Req, Res, DefaultClassifier, CloneReplay, InExtensions> {
    builder(tiers).build().unwrap().layer(primary.clone())
}

/// Sends one request through `layer` around `primary`: the response, and
/// the layer's counters.
async fn send<C, R, M>(
    layer: FallbackLayer<Upstream, Req, Res, C, R, M>,
    primary: &Upstream,
) -> (Res, FallbackHandle)
where
    C: Classify<Res, BoxError> + Clone,
    R: Replay<Req> + Clone,
    M: RecordServedBy<Res> + Clone,
{
    let handle = layer.handle();
    let response = layer
        .layer(primary.clone())
        .oneshot(request())
        .await
        .unwrap();
    (response, handle)
}

/// Who served: (tier, name, attempts).
fn served(response: &Res) -> (usize, String, u32) {
    let served = response
        .extensions()
        .get::<ServedBy>()
        .expect("every response says who served it");
    (served.tier(), served.name().to_owned(), served.attempts())
}

#[tokio::test(start_paused = true)]
async fn a_503_from_the_primary_is_served_by_tier_2() {
    let primary = Upstream::new([status(503)]);
    let backup = Upstream::new([ok()]);
    let layer = builder(&[("backup", &backup)]).build().unwrap();
    let (response, handle) = send(layer, &primary).await;
    assert_eq!(response.status(), 200);
    assert_eq!(served(&response), (2, "backup".to_owned(), 2));
    assert!(
        response
            .extensions()
            .get::<ServedBy>()
            .unwrap()
            .is_fallback()
    );
    assert_eq!((primary.call_count(), backup.call_count()), (1, 1));
    assert_eq!(
        primary.live_responses(),
        0,
        "the 503 is not kept after success"
    );

    let stats = handle.tiers();
    let counts: Vec<_> = stats
        .iter()
        .map(|t| (t.name(), t.served(), t.failed(), t.skipped()))
        .collect();
    assert_eq!(counts, [("primary", 0, 1, 0), ("backup", 1, 0, 0)]);
    assert_eq!(handle.fell_back(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_primary_serves_when_it_can_and_says_so() {
    let primary = Upstream::new([ok()]);
    let backup = Upstream::new([ok()]);
    let response = fallback(&primary, &[("backup", &backup)])
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(served(&response), (1, "primary".to_owned(), 1));
    assert_eq!(backup.call_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn each_tier_is_tried_in_order_until_one_serves() {
    let primary = Upstream::new([status(500)]);
    let second = Upstream::new([io_error(std::io::ErrorKind::ConnectionRefused)]);
    let third = Upstream::new([status(429)]);
    let fourth = Upstream::new([ok()]);
    let response = fallback(
        &primary,
        &[("second", &second), ("third", &third), ("fourth", &fourth)],
    )
    .oneshot(request())
    .await
    .unwrap();
    assert_eq!(served(&response), (4, "fourth".to_owned(), 4));
    for upstream in [&primary, &second, &third, &fourth] {
        assert_eq!(upstream.call_count(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_moves_on_at_once() {
    let upstream = Upstream::new([ok()]);
    let primary = CircuitBreaker::new(upstream.clone(), BreakerConfig::default());
    primary.handle().force_open();
    let backup = Upstream::new([ok()]);
    let service = builder(&[("backup", &backup)])
        .build()
        .unwrap()
        .layer(primary);

    let started = Instant::now();
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(served(&response).0, 2);
    assert_eq!(upstream.call_count(), 0, "the open breaker called no one");
    assert_eq!(
        backup.call_offsets(),
        [Duration::ZERO],
        "no wait before tier 2"
    );
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_400_never_falls_back() {
    let primary = Upstream::new([status(400)]);
    let backup = Upstream::new([ok()]);
    let layer = builder(&[("backup", &backup)]).build().unwrap();
    let (response, handle) = send(layer, &primary).await;
    assert_eq!(response.status(), 400);
    assert_eq!(served(&response), (1, "primary".to_owned(), 1));
    assert_eq!(backup.call_count(), 0);
    assert_eq!(handle.fell_back(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_400_from_a_later_tier_is_its_answer() {
    let primary = Upstream::new([status(503)]);
    let second = Upstream::new([status(400)]);
    let third = Upstream::new([ok()]);
    let response = fallback(&primary, &[("second", &second), ("third", &third)])
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(served(&response), (2, "second".to_owned(), 2));
    assert_eq!(third.call_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn when_every_tier_fails_the_most_telling_failure_is_returned() {
    // A response beats an error, whatever the order.
    let primary = Upstream::new([status(503)]);
    let backup = Upstream::new([io_error(std::io::ErrorKind::ConnectionReset)]);
    let response = fallback(&primary, &[("backup", &backup)])
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(served(&response), (1, "primary".to_owned(), 2));

    // Between responses, the later one.
    let primary = Upstream::new([status(503)]);
    let backup = Upstream::new([status(502)]);
    let response = fallback(&primary, &[("backup", &backup)])
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(primary.live_responses(), 0, "the earlier 503 was dropped");

    // An upstream's error beats this crate's own rejection.
    let primary = Upstream::new([io_error(std::io::ErrorKind::ConnectionReset)]);
    let open = Upstream::new([ok()]);
    let backup = CircuitBreaker::new(open.clone(), BreakerConfig::default());
    backup.handle().force_open();
    let service = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", backup))
        .build()
        .unwrap()
        .layer(primary.clone());
    let error = service.oneshot(request()).await.unwrap_err();
    let io = error
        .downcast_ref::<std::io::Error>()
        .expect("the upstream's error");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test(start_paused = true)]
async fn tier_timeouts_are_honoured_and_clipped_by_the_deadline() {
    let tiers = || {
        let hang = || Upstream::new([Step::Hang]);
        let (primary, second, third) = (hang(), hang(), hang());
        let layer = FallbackLayer::builder("primary")
            .primary_timeout(Duration::from_secs(20))
            .tier(Tier::new("second", second.clone()).timeout(Duration::from_secs(12)))
            .tier(Tier::new("third", third.clone()).timeout(Duration::from_secs(8)))
            .build()
            .unwrap();
        (layer.layer(primary.clone()), [primary, second, third])
    };

    // Without a deadline: 20 s, then 12 s, then 8 s.
    let (service, upstreams) = tiers();
    let started = Instant::now();
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<AttemptTimedOut>(), "{error}");
    assert_eq!(started.elapsed(), Duration::from_secs(40));
    let offsets: Vec<_> = upstreams.iter().map(Upstream::call_offsets).collect();
    assert_eq!(
        offsets,
        [
            [Duration::ZERO],
            [Duration::from_secs(20)],
            [Duration::from_secs(32)]
        ]
    );
    assert!(upstreams.iter().all(|u| u.live_futures() == 0));

    // With a 30 s deadline: tier 2 gets the 10 s left, tier 3 nothing.
    let (service, upstreams) = tiers();
    let service = TimeoutBudgetLayer::new(Duration::from_secs(30)).layer(service);
    let started = Instant::now();
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<DeadlineExceeded>(), "{error}");
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    let counts: Vec<_> = upstreams.iter().map(Upstream::call_count).collect();
    assert_eq!(counts, [1, 1, 0]);
    assert_eq!(upstreams[1].call_offsets(), [Duration::from_secs(20)]);
}

#[tokio::test(start_paused = true)]
async fn a_tier_sees_its_timeout_as_its_deadline() {
    use tower_failover::deadline::Deadline;
    let seen = Arc::new(std::sync::Mutex::new(None));
    let backup = tower::service_fn({
        let seen = seen.clone();
        move |_: Req| {
            *seen.lock().unwrap() = Deadline::current().map(|d| d.remaining());
            async { Ok::<_, BoxError>(http::Response::new(String::new())) }
        }
    });
    let primary = tower::service_fn(|_: Req| async {
        Ok::<_, BoxError>(
            http::Response::builder()
                .status(503)
                .body(String::new())
                .unwrap(),
        )
    });
    let service = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", backup).timeout(Duration::from_secs(12)))
        .build()
        .unwrap()
        .layer(primary);
    let service = TimeoutBudgetLayer::new(Duration::from_secs(30)).layer(service);
    service.oneshot(request()).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(Duration::from_secs(12)));
}

#[tokio::test(start_paused = true)]
async fn a_spent_deadline_returns_the_best_response_so_far() {
    let primary = Upstream::new([status(503).after(Duration::from_secs(5))]);
    let backup = Upstream::new([ok()]);
    let service = TimeoutBudgetLayer::new(Duration::from_secs(5))
        .layer(fallback(&primary, &[("backup", &backup)]));
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(backup.call_count(), 0, "no tier starts after the deadline");
}

#[tokio::test(start_paused = true)]
async fn the_static_response_comes_last() {
    let primary = Upstream::new([status(503)]);
    let backup = Upstream::new([status(529)]);
    let live = Arc::new(AtomicUsize::new(0));
    let layer = builder(&[("backup", &backup)])
        .static_response({
            let live = live.clone();
            move |failure| {
                assert_eq!(failure.kind(), FailureKind::Overloaded, "the last failure");
                live.fetch_add(1, Ordering::SeqCst);
                let mut response = Res::new(TrackedBody::counted(live.clone()));
                *response.status_mut() = http::StatusCode::OK;
                response
            }
        })
        .build()
        .unwrap();
    let (response, handle) = send(layer, &primary).await;
    assert_eq!(served(&response), (3, "static".to_owned(), 2));
    assert_eq!((primary.call_count(), backup.call_count()), (1, 1));
    assert_eq!(primary.live_responses() + backup.live_responses(), 0);
    let stats = handle.tiers();
    assert_eq!(stats[2].name(), "static");
    assert_eq!(stats[2].served(), 1);
    assert_eq!(handle.fell_back(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_static_response_is_not_an_answer_to_a_bad_request() {
    let primary = Upstream::new([status(422)]);
    let service = FallbackLayer::<Upstream, Req, Res>::builder("primary")
        .static_response(|_| panic!("a 422 is the caller's fault"))
        .build()
        .unwrap()
        .layer(primary.clone());
    assert_eq!(service.oneshot(request()).await.unwrap().status(), 422);
}

#[tokio::test(start_paused = true)]
async fn a_context_length_failure_goes_only_to_tiers_that_accept_the_request() {
    // 413 is ContextTooLong. "small" has no guard, "refuses" refuses,
    // "large" accepts.
    let primary = Upstream::new([status(413)]);
    let small = Upstream::new([ok()]);
    let refuses = Upstream::new([ok()]);
    let large = Upstream::new([ok()]);
    let layer = FallbackLayer::builder("primary")
        .tier(Tier::new("small", small.clone()))
        .tier(Tier::new("refuses", refuses.clone()).guard(|_: &Req| false))
        .tier(Tier::new("large", large.clone()).guard(|r: &Req| r.body().len() < 1_000))
        .build()
        .unwrap();
    let (response, handle) = send(layer, &primary).await;
    assert_eq!(served(&response), (4, "large".to_owned(), 2));
    assert_eq!((small.call_count(), refuses.call_count()), (0, 0));
    let skipped: Vec<_> = handle.tiers().iter().map(|t| t.skipped()).collect();
    assert_eq!(skipped, [0, 1, 1, 0]);
}

#[tokio::test(start_paused = true)]
async fn a_guard_skips_its_tier_for_any_failure() {
    let primary = Upstream::new([status(503)]);
    let refuses = Upstream::new([ok()]);
    let unguarded = Upstream::new([ok()]);
    let service = FallbackLayer::builder("primary")
        .tier(Tier::new("refuses", refuses.clone()).guard(|_: &Req| false))
        .tier(Tier::new("unguarded", unguarded.clone()))
        .build()
        .unwrap()
        .layer(primary);
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(served(&response).1, "unguarded");
    assert_eq!(refuses.call_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn content_filtering_falls_back_only_when_configured() {
    let classifier = |result: &Result<Res, BoxError>| match result {
        Ok(r) if r.status() == 400 => Outcome::failure(FailureKind::ContentFiltered),
        other => DefaultClassifier.classify(other),
    };
    for enabled in [false, true] {
        let primary = Upstream::new([status(400)]);
        let backup = Upstream::new([ok()]);
        let service = builder(&[("backup", &backup)])
            .fall_back_on_content_filter(enabled)
            .classifier(classifier)
            .build()
            .unwrap()
            .layer(primary);
        let response = service.oneshot(request()).await.unwrap();
        assert_eq!(response.status(), if enabled { 200 } else { 400 });
        assert_eq!(backup.call_count(), usize::from(enabled));
    }
}

#[tokio::test(start_paused = true)]
async fn each_tier_sends_its_own_rewrite_of_the_callers_request() {
    let primary = Upstream::new([status(503)]);
    let second = Upstream::new([status(503)]);
    let third = Upstream::new([ok()]);
    let service = FallbackLayer::builder("primary")
        .tier(
            Tier::new("second", second.clone())
                .rewrite(|r: &mut Req| *r.body_mut() = r.body().replace("gpt", "claude")),
        )
        .tier(Tier::new("third", third.clone()).rewrite(|r: &mut Req| r.body_mut().push('!')))
        .build()
        .unwrap()
        .layer(primary.clone());
    service.oneshot(request()).await.unwrap();
    let body = |u: &Upstream| u.calls()[0].body.clone();
    assert_eq!(body(&primary), r#"{"model":"gpt"}"#);
    assert_eq!(body(&second), r#"{"model":"claude"}"#);
    assert_eq!(
        body(&third),
        r#"{"model":"gpt"}!"#,
        "rewrites do not pile up"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_copied_is_served_by_the_primary_alone() {
    let primary = Upstream::new([status(503)]);
    let backup = Upstream::new([ok()]);
    let service = builder(&[("backup", &backup)])
        .replay(|_: &Req| -> Option<Req> { None })
        .build()
        .unwrap()
        .layer(primary);
    assert_eq!(service.oneshot(request()).await.unwrap().status(), 503);
    assert_eq!(backup.call_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn no_copy_is_made_without_tiers_and_none_for_the_last_tier() {
    let copies = Arc::new(AtomicUsize::new(0));
    let counting = {
        let copies = copies.clone();
        move |r: &Req| {
            copies.fetch_add(1, Ordering::SeqCst);
            Some(r.clone())
        }
    };
    let primary = Upstream::new([status(503)]);
    FallbackLayer::<Upstream, Req, Res>::builder("primary")
        .replay(counting.clone())
        .build()
        .unwrap()
        .layer(primary)
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(copies.load(Ordering::SeqCst), 0);

    let (primary, a, b) = (
        Upstream::new([status(503)]),
        Upstream::new([status(503)]),
        Upstream::new([ok()]),
    );
    builder(&[("a", &a), ("b", &b)])
        .replay(counting)
        .build()
        .unwrap()
        .layer(primary)
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(copies.load(Ordering::SeqCst), 2, "one kept, one for tier 2");
}

#[tokio::test(start_paused = true)]
async fn retries_inside_a_tier_count_as_attempts() {
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .no_budget()
        .build()
        .unwrap();
    let upstream = Upstream::new([status(503)]);
    let primary = RetryLayer::new(policy.clone()).layer(upstream.clone());
    let backup = Upstream::new([status(503), ok()]);
    let service = FallbackLayer::builder("primary")
        .tier(Tier::new(
            "backup",
            RetryLayer::new(policy).layer(backup.clone()),
        ))
        .build()
        .unwrap()
        .layer(primary);
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(served(&response), (2, "backup".to_owned(), 5));
    assert_eq!(upstream.call_count() + backup.call_count(), 5);
}

/// A service that is never ready, and counts how often it was asked.
#[derive(Clone)]
struct NeverReady {
    polled: Arc<AtomicUsize>,
}

impl Service<Req> for NeverReady {
    type Response = Res;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Res, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.polled.fetch_add(1, Ordering::SeqCst);
        Poll::Pending
    }

    fn call(&mut self, _: Req) -> Self::Future {
        unreachable!("never ready, never called")
    }
}

#[tokio::test(start_paused = true)]
async fn a_backup_is_made_ready_only_when_needed() {
    let polled = Arc::new(AtomicUsize::new(0));
    let backup = NeverReady {
        polled: polled.clone(),
    };
    let primary = Upstream::new([ok(), status(503)]);
    let mut service = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", backup))
        .build()
        .unwrap()
        .layer(primary);

    // A backup that is not ready does not delay the primary.
    let response = service
        .ready()
        .await
        .unwrap()
        .call(request())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(polled.load(Ordering::SeqCst), 0, "not asked while unneeded");

    // When it is needed, it is asked (and waited for).
    let pending = tokio::time::timeout(
        Duration::from_secs(1),
        service.ready().await.unwrap().call(request()),
    )
    .await;
    assert!(pending.is_err(), "the call waits for the backup");
    assert!(polled.load(Ordering::SeqCst) > 0, "asked once needed");
}

/// A service whose `poll_ready` fails.
#[derive(Clone)]
struct Broken;

impl Service<Req> for Broken {
    type Response = Res;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Res, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Err("broken".into()))
    }

    fn call(&mut self, _: Req) -> Self::Future {
        unreachable!("never ready, never called")
    }
}

#[tokio::test(start_paused = true)]
async fn a_tier_that_fails_to_get_ready_has_failed() {
    use tower::util::BoxCloneSyncService;
    let primary = Upstream::new([status(503)]);
    let last = Upstream::new([ok()]);
    let service = FallbackLayer::builder("primary")
        .tier(Tier::new("broken", BoxCloneSyncService::new(Broken)))
        .tier(Tier::new("last", BoxCloneSyncService::new(last.clone())))
        .build()
        .unwrap()
        .layer(primary);
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(served(&response), (3, "last".to_owned(), 2));
}

#[test]
fn invalid_settings_are_rejected_with_the_field_named() {
    let upstream = Upstream::new([ok()]);
    let cases = [
        (
            FallbackLayer::builder("a").tier(Tier::new("a", upstream.clone())),
            "tier",
        ),
        (
            FallbackLayer::builder("a").tier(Tier::new("static", upstream.clone())),
            "tier",
        ),
        (
            FallbackLayer::builder("").tier(Tier::new("b", upstream.clone())),
            "tier",
        ),
        (
            FallbackLayer::builder("a").primary_timeout(Duration::ZERO),
            "primary_timeout",
        ),
        (
            FallbackLayer::builder("a")
                .tier(Tier::new("b", upstream.clone()).timeout(Duration::ZERO)),
            "timeout",
        ),
        (
            (0..16).fold(FallbackLayer::builder("a"), |b, i| {
                b.tier(Tier::new(format!("t{i}"), upstream.clone()))
            }),
            "tier",
        ),
    ];
    for (builder, field) in cases {
        let builder: FallbackBuilder<Upstream, Req, Res> = builder;
        let error = builder.build().unwrap_err();
        assert_eq!(
            (error.layer(), error.field()),
            ("fallback", field),
            "{error}"
        );
    }
    let error = FallbackLayer::<Upstream, Req, Res>::builder("a")
        .tier(Tier::new("b", upstream.clone()))
        .tier(Tier::new("b", upstream.clone()))
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid fallback setting tier: a tier name is used twice (b)"
    );
    // Fifteen tiers after the primary is the most there can be.
    let most = (0..15).fold(FallbackLayer::builder("a"), |b, i| {
        b.tier(Tier::new(format!("t{i}"), upstream.clone()))
    });
    let _: FallbackLayer<Upstream, Req, Res> = most.build().unwrap();
}

#[tokio::test(start_paused = true)]
async fn tiers_built_from_a_graph_follow_its_chain() {
    use std::collections::HashMap;
    use tower_failover::fallback::FallbackGraph;
    let graph = FallbackGraph::builder()
        .route("gpt-4o", ["claude-sonnet", "gpt-4o-mini"])
        .route("claude-sonnet", ["claude-haiku"])
        .model("claude-haiku")
        .model("gpt-4o-mini")
        .build()
        .unwrap();
    let upstreams: HashMap<&str, Upstream> = [
        ("gpt-4o", status(503)),
        ("claude-sonnet", status(529)),
        ("claude-haiku", status(429)),
        ("gpt-4o-mini", ok()),
    ]
    .into_iter()
    .map(|(name, step)| (name, Upstream::new([step])))
    .collect();
    let layer = FallbackBuilder::from_graph(&graph, "gpt-4o", |model| {
        Tier::new(model.to_owned(), upstreams[model].clone())
    })
    .unwrap()
    .build()
    .unwrap();
    let names: Vec<_> = layer
        .handle()
        .tiers()
        .iter()
        .map(|t| t.name().to_owned())
        .collect();
    assert_eq!(
        names,
        ["gpt-4o", "claude-sonnet", "claude-haiku", "gpt-4o-mini"]
    );
    let response = layer
        .layer(upstreams["gpt-4o"].clone())
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(served(&response), (4, "gpt-4o-mini".to_owned(), 4));

    let error = FallbackBuilder::<Upstream, Req, Res>::from_graph(&graph, "gemini", |_| {
        unreachable!("no tier is made for an unknown model")
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid fallback setting model: the model is not in the graph (gemini)"
    );
}

#[test]
fn a_cyclic_configuration_is_rejected_naming_the_cycle() {
    use tower_failover::fallback::FallbackGraph;
    let error = FallbackGraph::builder()
        .route("gpt-4o", ["claude-sonnet"])
        .route("claude-sonnet", ["gpt-4o-mini"])
        .route("gpt-4o-mini", ["gpt-4o"])
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid fallback setting route: the fallback lists form a cycle \
         (gpt-4o → claude-sonnet → gpt-4o-mini → gpt-4o)"
    );
}

#[test]
fn the_service_and_its_future_are_send_and_sync_enough_to_spawn() {
    fn send<T: Send + 'static>(_: &T) {}
    fn sync<T: Sync>(_: &T) {}
    let primary = Upstream::new([ok()]);
    let mut service = fallback(&primary, &[("backup", &Upstream::new([ok()]))]);
    sync(&service);
    send(&service);
    let future = service.call(request());
    send(&future);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_spent_in_a_tier_without_a_timeout_returns_the_best_so_far() {
    let primary = Upstream::new([status(503).after(Duration::from_secs(1))]);
    let backup = Upstream::new([Step::Hang]);
    let service = TimeoutBudgetLayer::new(Duration::from_secs(5))
        .layer(fallback(&primary, &[("backup", &backup)]));
    let started = Instant::now();
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert_eq!(response.status(), 503);
    assert_eq!(served(&response), (1, "primary".to_owned(), 2));
    assert_eq!(backup.live_futures(), 0, "the hanging call was dropped");
}

#[tokio::test(start_paused = true)]
async fn a_deadline_spent_anywhere_serves_the_static_response() {
    // The primary itself hangs past the deadline.
    let primary = Upstream::new([Step::Hang]);
    let layer = FallbackLayer::<Upstream, Req, Res>::builder("primary")
        .static_response(|failure| {
            assert_eq!(failure.kind(), FailureKind::BudgetExhausted);
            let mut response = Res::new(TrackedBody::counted(Arc::default()));
            *response.status_mut() = http::StatusCode::NON_AUTHORITATIVE_INFORMATION;
            response
        })
        .build()
        .unwrap();
    let handle = layer.handle();
    let service =
        TimeoutBudgetLayer::new(Duration::from_secs(5)).layer(layer.layer(primary.clone()));
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 203);
    assert_eq!(served(&response), (2, "static".to_owned(), 1));
    assert_eq!(primary.live_futures(), 0);
    assert_eq!(handle.fell_back(), 1);

    // Without a static response and nothing kept, the deadline is the answer.
    let primary = Upstream::new([Step::Hang]);
    let service = TimeoutBudgetLayer::new(Duration::from_secs(5)).layer(fallback(&primary, &[]));
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<DeadlineExceeded>(), "{error}");
}

#[tokio::test(start_paused = true)]
async fn the_primary_timeout_is_clipped_by_the_deadline() {
    let primary = Upstream::new([Step::Hang]);
    let backup = Upstream::new([ok()]);
    let service = builder(&[("backup", &backup)])
        .primary_timeout(Duration::from_secs(20))
        .build()
        .unwrap()
        .layer(primary.clone());
    let service = TimeoutBudgetLayer::new(Duration::from_secs(5)).layer(service);
    let started = Instant::now();
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<DeadlineExceeded>(), "{error}");
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert_eq!(backup.call_count(), 0, "no time was left for the backup");
}

#[tokio::test(start_paused = true)]
async fn a_tier_timeout_also_bounds_waiting_for_the_tier_to_be_ready() {
    use tower::util::BoxCloneService;
    let polled = Arc::new(AtomicUsize::new(0));
    let primary = Upstream::new([status(503)]);
    let last = Upstream::new([ok()]);
    let service = FallbackLayer::builder("primary")
        .tier(
            Tier::new(
                "stuck",
                BoxCloneService::new(NeverReady {
                    polled: polled.clone(),
                }),
            )
            .timeout(Duration::from_secs(1)),
        )
        .tier(Tier::new("last", BoxCloneService::new(last.clone())))
        .build()
        .unwrap()
        .layer(primary);
    let started = Instant::now();
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(served(&response), (3, "last".to_owned(), 2));
    assert!(polled.load(Ordering::SeqCst) > 0);
}

#[tokio::test(start_paused = true)]
async fn once_a_request_is_too_long_only_guarded_tiers_are_tried() {
    let primary = Upstream::new([status(413)]);
    let large = Upstream::new([status(503)]);
    let small = Upstream::new([ok()]);
    let service = FallbackLayer::builder("primary")
        .tier(Tier::new("large", large.clone()).guard(|_: &Req| true))
        .tier(Tier::new("small", small.clone()))
        .build()
        .unwrap()
        .layer(primary);
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(small.call_count(), 0, "the small window was never tried");
    assert_eq!(response.status(), 503);
    assert_eq!(served(&response).1, "large");
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_copied_skips_the_tiers_to_the_static_response() {
    let primary = Upstream::new([status(503)]);
    let backup = Upstream::new([ok()]);
    let layer = builder(&[("backup", &backup)])
        .replay(|_: &Req| -> Option<Req> { None })
        .static_response(|_| Res::new(TrackedBody::counted(Arc::default())))
        .build()
        .unwrap();
    let (response, handle) = send(layer, &primary).await;
    assert_eq!(served(&response).1, "static");
    let skipped: Vec<_> = handle.tiers().iter().map(|t| t.skipped()).collect();
    assert_eq!(skipped, [0, 1, 0]);
    assert_eq!(handle.fell_back(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_primary_that_fails_to_get_ready_fails_the_service() {
    let mut service = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", Upstream::new([ok()])))
        .build()
        .unwrap()
        .layer(Broken);
    let error = service.ready().await.err().expect("the primary's error");
    assert_eq!(error.to_string(), "broken");
}

#[tokio::test(start_paused = true)]
async fn a_nested_fallback_counts_its_calls_in_the_outer_one() {
    let (primary, inner_primary, inner_backup) = (
        Upstream::new([status(503)]),
        Upstream::new([status(503)]),
        Upstream::new([ok()]),
    );
    let inner = fallback(&inner_primary, &[("inner-backup", &inner_backup)]);
    let service = FallbackLayer::builder("primary")
        .tier(Tier::new("inner", inner))
        .build()
        .unwrap()
        .layer(primary);
    let response = service.oneshot(request()).await.unwrap();
    // The outer layer records last: tier 2 ("inner"), after three calls.
    assert_eq!(served(&response), (2, "inner".to_owned(), 3));
}

#[test]
fn a_layer_with_tiers_that_are_send_but_not_sync_is_send_and_sync() {
    use tower::util::BoxCloneService;
    fn send<T: Send + 'static>(_: &T) {}
    fn sync<T: Sync>(_: &T) {}
    let backup: BoxCloneService<Req, Res, BoxError> = BoxCloneService::new(Upstream::new([ok()]));
    let mut service = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", backup))
        .build()
        .unwrap()
        .layer(Upstream::new([ok()]));
    send(&service);
    sync(&service);
    send(&service.call(request()));
}

#[tokio::test(start_paused = true)]
async fn who_served_is_recorded_where_the_recorder_says() {
    // A closure: in a header instead of the extensions.
    let primary = Upstream::new([status(503)]);
    let backup = Upstream::new([ok()]);
    let layer = builder(&[("backup", &backup)])
        .record(|response: &mut Res, served: &ServedBy| {
            let value = format!("{};{}", served.name(), served.attempts());
            response
                .headers_mut()
                .insert("x-served-by", value.parse().unwrap());
        })
        .build()
        .unwrap();
    let (response, _) = send(layer, &primary).await;
    assert_eq!(response.headers()["x-served-by"], "backup;2");
    assert!(response.extensions().get::<ServedBy>().is_none());

    // `()`: nowhere.
    let primary = Upstream::new([ok()]);
    let layer = builder(&[]).record(()).build().unwrap();
    let (response, handle) = send(layer, &primary).await;
    assert!(response.extensions().get::<ServedBy>().is_none());
    assert_eq!(handle.tiers()[0].served(), 1, "counted all the same");
}
