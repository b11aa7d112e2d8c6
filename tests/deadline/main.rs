//! TimeoutBudgetLayer, AttemptTimeoutLayer and Deadline, in paused time.

#[path = "../support/mod.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Step, Upstream, ok, request};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_failover::deadline::{
    AttemptTimedOut, AttemptTimeoutLayer, Deadline, DeadlineExceeded, HttpDeadline, TimeoutBudget,
    TimeoutBudgetLayer,
};

#[tokio::test(start_paused = true)]
async fn a_slow_call_fails_with_deadline_exceeded_at_the_deadline() {
    let upstream = Upstream::new([Step::Hang]);
    let service = TimeoutBudgetLayer::new(Duration::from_secs(3)).layer(upstream.clone());
    let start = Instant::now();
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<DeadlineExceeded>());
    assert_eq!(error.to_string(), "deadline exceeded");
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(
        upstream.live_futures(),
        0,
        "the attempt is dropped at the deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fast_call_passes_through_untouched() {
    let upstream = Upstream::new([ok().after(Duration::from_millis(2999))]);
    let service = TimeoutBudgetLayer::new(Duration::from_secs(3)).layer(upstream.clone());
    assert_eq!(service.oneshot(request()).await.unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn the_inner_service_sees_the_deadline_whatever_the_request_type() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let inner = service_fn({
        let seen = seen.clone();
        move |n: u32| {
            seen.lock()
                .unwrap()
                .push(("call", Deadline::current().map(|d| d.remaining())));
            let seen = seen.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                seen.lock()
                    .unwrap()
                    .push(("poll", Deadline::current().map(|d| d.remaining())));
                Ok::<_, std::io::Error>(n)
            }
        }
    });
    let service = TimeoutBudget::new(inner, Duration::from_secs(5));
    assert_eq!(service.oneshot(7).await.unwrap(), 7);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("call", Some(Duration::from_secs(5))),
            ("poll", Some(Duration::from_secs(4)))
        ]
    );
    assert_eq!(Deadline::current(), None, "the scope ends with the call");
}

/// Sends `request`, expects `DeadlineExceeded`, and says when it came.
async fn time_to_deadline<S, R>(service: S, request: R) -> Duration
where
    S: tower::Service<R, Error = tower_failover::BoxError>,
{
    let start = Instant::now();
    let error = service
        .oneshot(request)
        .await
        .err()
        .expect("the call must fail");
    assert!(error.is::<DeadlineExceeded>(), "{error}");
    start.elapsed()
}

/// An inner HTTP service that records what `look` saw of the last request,
/// and answers at once (or never, with `hang`).
fn recording<T: Send + 'static>(
    hang: bool,
    look: impl Fn(&http::Request<()>) -> T + Clone + Send + 'static,
) -> (
    impl tower::Service<http::Request<()>, Response = (), Error = std::io::Error, Future: Send> + Clone,
    Arc<Mutex<Option<T>>>,
) {
    let seen = Arc::new(Mutex::new(None));
    let inner = service_fn({
        let seen = seen.clone();
        move |request: http::Request<()>| {
            *seen.lock().unwrap() = Some(look(&request));
            async move {
                if hang {
                    std::future::pending::<()>().await;
                }
                Ok(())
            }
        }
    });
    (inner, seen)
}

#[tokio::test(start_paused = true)]
async fn the_earlier_of_an_outer_and_its_own_deadline_wins() {
    let upstream = Upstream::new([Step::Hang]);
    for (outer, inner) in [(2, 10), (10, 2)] {
        let service = TimeoutBudgetLayer::new(Duration::from_secs(outer))
            .layer(TimeoutBudgetLayer::new(Duration::from_secs(inner)).layer(upstream.clone()));
        let elapsed = time_to_deadline(service, request()).await;
        assert_eq!(
            elapsed,
            Duration::from_secs(2),
            "outer {outer} s, inner {inner} s"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_deadline_carried_in_the_extensions_is_honoured_and_propagated() {
    let (inner, seen) = recording(true, |request| {
        (
            request.extensions().get::<Deadline>().copied(),
            request.headers().get("x-request-timeout-ms").cloned(),
        )
    });
    let service = TimeoutBudgetLayer::new(Duration::from_secs(30))
        .propagate(HttpDeadline::new().header_millis("x-request-timeout-ms"))
        .layer(inner);
    let carried = Deadline::after(Duration::from_secs(4));
    let mut request = http::Request::new(());
    request.extensions_mut().insert(carried);
    assert_eq!(
        time_to_deadline(service, request).await,
        Duration::from_secs(4)
    );
    let (deadline, header) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(deadline, Some(carried));
    assert_eq!(header.unwrap(), "4000");
}

#[tokio::test(start_paused = true)]
async fn grpc_timeout_uses_the_grpc_format() {
    let (inner, seen) = recording(false, |request| {
        request.headers().get("grpc-timeout").cloned()
    });
    let service = TimeoutBudgetLayer::new(Duration::from_millis(1500))
        .propagate(HttpDeadline::new().grpc_timeout())
        .layer(inner);
    service.oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(seen.lock().unwrap().clone().flatten().unwrap(), "1500m");
}

#[tokio::test(start_paused = true)]
async fn an_expired_deadline_never_calls_the_inner_service() {
    let upstream = Upstream::new([ok()]);
    let service = TimeoutBudgetLayer::new(Duration::ZERO).layer(upstream.clone());
    assert!(
        service
            .oneshot(request())
            .await
            .unwrap_err()
            .is::<DeadlineExceeded>()
    );
    assert_eq!(upstream.call_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_attempt_timeout_is_distinct_from_the_deadline() {
    let upstream = Upstream::new([Step::Hang]);
    // Per-try 1 s, no deadline: AttemptTimedOut after 1 s.
    let service = AttemptTimeoutLayer::new(Duration::from_secs(1)).layer(upstream.clone());
    let start = Instant::now();
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<AttemptTimedOut>(), "{error}");
    assert_eq!(start.elapsed(), Duration::from_secs(1));

    // Per-try 5 s under a 2 s deadline: DeadlineExceeded after 2 s.
    let service = TimeoutBudgetLayer::new(Duration::from_secs(2))
        .layer(AttemptTimeoutLayer::new(Duration::from_secs(5)).layer(upstream.clone()));
    let start = Instant::now();
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<DeadlineExceeded>(), "{error}");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn the_attempt_layer_tells_the_upstream_the_attempts_own_deadline() {
    let (inner, seen) = recording(false, |request| {
        request.headers().get("x-timeout-ms").cloned()
    });
    let service = TimeoutBudgetLayer::new(Duration::from_secs(30)).layer(
        AttemptTimeoutLayer::new(Duration::from_secs(8))
            .propagate(HttpDeadline::new().header_millis("x-timeout-ms"))
            .layer(inner),
    );
    service.oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(seen.lock().unwrap().clone().flatten().unwrap(), "8000");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_drops_the_attempt_and_the_timer() {
    let upstream = Upstream::new([Step::Hang]);
    let mut service = TimeoutBudgetLayer::new(Duration::from_secs(3)).layer(upstream.clone());
    service.ready().await.unwrap();
    let future = service.call(request());
    let outcome = tokio::time::timeout(Duration::from_secs(1), future).await;
    assert!(outcome.is_err(), "the caller gave up first");
    assert_eq!(upstream.live_futures(), 0);
}

#[test]
fn absurd_budgets_saturate_instead_of_overflowing() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let deadline = Deadline::after(Duration::MAX);
        assert!(deadline.remaining() > Duration::from_secs(365 * 24 * 3600));
        assert!(!deadline.is_expired());
    });
}
