//! HedgeLayer against scripted upstreams, in paused time.

#[path = "../support/mod.rs"]
mod support;

mod simulation;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{Step, Upstream, cancel_at_every_poll, io_error, ok, request, status};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_failover::ServiceBuilderExt;
use tower_failover::deadline::{DeadlineExceeded, TimeoutBudgetLayer};
use tower_failover::hedge::{
    Hedge, HedgeConfig, HedgeConfigBuilder, HedgeDelay, HedgeLayer, MAX_HEDGES_LIMIT, NoHedge,
};
use tower_failover::retry::RetryBudget;

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn fixed(delay_ms: u64) -> HedgeConfigBuilder {
    HedgeConfig::builder(HedgeDelay::Fixed(ms(delay_ms)))
}

fn hedge(upstream: &Upstream, config: HedgeConfig) -> Hedge<Upstream> {
    HedgeLayer::new(config).layer(upstream.clone())
}

/// Calls `service` once: the status it answered and when.
async fn call<S>(service: S) -> (Result<u16, String>, Duration)
where
    S: tower::Service<http::Request<String>, Response = http::Response<support::TrackedBody>>,
    S::Error: std::fmt::Display,
{
    let start = Instant::now();
    let result = service.oneshot(request()).await;
    let elapsed = start.elapsed();
    (
        result
            .map(|response| response.status().as_u16())
            .map_err(|error| error.to_string()),
        elapsed,
    )
}

#[tokio::test(start_paused = true)]
async fn no_hedge_when_the_first_attempt_answers_before_the_delay() {
    let upstream = Upstream::new([ok().after(ms(99))]);
    let config = fixed(100).build().unwrap();
    let handle = config.handle();
    let (result, elapsed) = call(hedge(&upstream, config)).await;
    assert_eq!(result, Ok(200));
    assert_eq!(elapsed, ms(99));
    tokio::time::sleep(ms(1000)).await;
    assert_eq!(upstream.call_count(), 1);
    assert_eq!((handle.calls(), handle.hedges_sent()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn the_hedge_is_sent_at_the_delay_and_its_answer_wins() {
    let upstream = Upstream::new([status(201).after(ms(10_000)), ok().after(ms(20))]);
    let config = fixed(100).build().unwrap();
    let handle = config.handle();
    let mut service = hedge(&upstream, config);
    let mut future = std::pin::pin!(service.ready().await.unwrap().call(request()));
    let response = (&mut future).await.unwrap();
    assert_eq!(response.status(), 200, "the hedge's answer");
    assert_eq!(upstream.call_offsets(), [ms(0), ms(100)]);
    assert_eq!(Instant::now() - upstream.calls()[0].at, ms(120));
    // The first attempt's future was dropped as soon as the hedge won, not
    // when the hedge's future is.
    assert_eq!(upstream.live_futures(), 0);
    assert_eq!((handle.hedges_sent(), handle.hedges_won()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn the_first_attempt_still_wins_when_it_answers_first() {
    let upstream = Upstream::new([status(201).after(ms(150)), ok().after(ms(500))]);
    let config = fixed(100).build().unwrap();
    let handle = config.handle();
    let mut service = hedge(&upstream, config);
    let mut future = std::pin::pin!(service.ready().await.unwrap().call(request()));
    let response = (&mut future).await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(upstream.call_count(), 2);
    // Dropped when the answer came, not when the future is.
    assert_eq!(upstream.live_futures(), 0, "the hedge was dropped");
    assert_eq!((handle.hedges_sent(), handle.hedges_won()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn max_hedges_are_sent_a_delay_apart_and_no_more() {
    for max in [1, 2, MAX_HEDGES_LIMIT] {
        let upstream = Upstream::new([Step::Hang]);
        let service = hedge(&upstream, fixed(100).max_hedges(max).build().unwrap());
        let future = service.oneshot(request());
        let _ = tokio::time::timeout(ms(5000), future).await;
        let expected: Vec<_> = (0..=u64::from(max)).map(|i| ms(100 * i)).collect();
        assert_eq!(upstream.call_offsets(), expected, "max_hedges {max}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_percentile_delay_uses_the_fallback_until_min_samples_then_adapts() {
    let upstream = Upstream::new([ok().after(ms(20))]);
    let config = HedgeConfig::builder(HedgeDelay::Percentile {
        p: 90.0,
        min_samples: 10,
        fallback: ms(300),
    })
    .build()
    .unwrap();
    let handle = config.handle();
    let service = hedge(&upstream, config);
    for _ in 0..9 {
        assert_eq!(call(service.clone()).await.0, Ok(200));
    }
    assert_eq!(handle.current_delay(), ms(300), "before min_samples");
    assert_eq!(call(service.clone()).await.0, Ok(200));
    let delay = handle.current_delay();
    assert!((ms(20)..=ms(25)).contains(&delay), "{delay:?}");

    // A slow call is now hedged at the learned delay, not the fallback.
    let slow = Upstream::new([Step::Hang, ok().after(ms(20))]);
    let service = HedgeLayer::new(service.config().clone()).layer(slow.clone());
    let (result, _) = call(service).await;
    assert_eq!(result, Ok(200));
    // At the learned delay (tokio's timer has millisecond ticks).
    let offsets = slow.call_offsets();
    assert_eq!(offsets.len(), 2);
    assert!(
        offsets[1] >= delay && offsets[1] <= delay + ms(1),
        "{offsets:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_budget_stops_hedges_and_counts_them() {
    // Half a hedge per call, no floor: every second call may be hedged.
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.5).unwrap();
    let upstream = Upstream::new([ok().after(ms(500))]);
    let config = fixed(100).budget(budget.clone()).build().unwrap();
    let handle = config.handle();
    let service = hedge(&upstream, config);
    for _ in 0..4 {
        assert_eq!(call(service.clone()).await.0, Ok(200));
    }
    assert_eq!(handle.calls(), 4);
    assert_eq!(handle.hedges_sent(), 2);
    assert_eq!(handle.suppressed_by_budget(), 2);
    assert_eq!(upstream.call_count(), 6);
    assert_eq!(budget.remaining(), 0, "both hedges were withdrawn");
}

#[tokio::test(start_paused = true)]
async fn a_request_marked_no_hedge_is_sent_once() {
    let upstream = Upstream::new([ok().after(ms(500))]);
    let service = hedge(&upstream, fixed(100).build().unwrap());
    let mut marked = request();
    marked.extensions_mut().insert(NoHedge);
    let response = service.oneshot(marked).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_copied_is_sent_once() {
    let upstream = Upstream::new([ok().after(ms(500))]);
    let copies = Arc::new(AtomicUsize::new(0));
    let layer = HedgeLayer::new(fixed(100).build().unwrap()).replay({
        let copies = copies.clone();
        move |_: &http::Request<String>| {
            copies.fetch_add(1, Ordering::SeqCst);
            None
        }
    });
    let (result, elapsed) = call(layer.layer(upstream.clone())).await;
    assert_eq!((result, elapsed), (Ok(200), ms(500)));
    assert_eq!(copies.load(Ordering::SeqCst), 1, "the copy was asked for");
    assert_eq!(upstream.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn no_hedge_when_the_deadline_leaves_less_than_the_delay() {
    // The deadline is before the first hedge: the request is not even copied.
    let upstream = Upstream::new([Step::Hang]);
    let copies = Arc::new(AtomicUsize::new(0));
    let layer = HedgeLayer::new(fixed(100).build().unwrap()).replay({
        let copies = copies.clone();
        move |request: &http::Request<String>| {
            copies.fetch_add(1, Ordering::SeqCst);
            Some(request.clone())
        }
    });
    let service = ServiceBuilder::new()
        .layer(TimeoutBudgetLayer::new(ms(80)))
        .layer(layer.clone())
        .service(upstream.clone());
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<DeadlineExceeded>(), "{error}");
    assert_eq!(upstream.call_count(), 1);
    assert_eq!(copies.load(Ordering::SeqCst), 0);

    // The deadline falls between the first hedge and the second.
    let upstream = Upstream::new([Step::Hang]);
    let service = ServiceBuilder::new()
        .layer(TimeoutBudgetLayer::new(ms(150)))
        .layer(HedgeLayer::new(fixed(100).max_hedges(3).build().unwrap()))
        .service(upstream.clone());
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<DeadlineExceeded>(), "{error}");
    assert_eq!(upstream.call_offsets(), [ms(0), ms(100)]);
}

#[tokio::test(start_paused = true)]
async fn when_all_fail_the_first_attempts_failure_is_returned_whatever_the_order() {
    // The hedge fails first, then the first attempt.
    let upstream = Upstream::new([status(503).after(ms(300)), status(502).after(ms(50))]);
    let (result, elapsed) = call(hedge(&upstream, fixed(100).build().unwrap())).await;
    assert_eq!((result, elapsed), (Ok(503), ms(300)));
    assert_eq!(upstream.live_responses(), 0);

    // The first attempt fails first, then the hedge.
    let upstream = Upstream::new([status(503).after(ms(150)), status(502).after(ms(200))]);
    let (result, elapsed) = call(hedge(&upstream, fixed(100).build().unwrap())).await;
    assert_eq!((result, elapsed), (Ok(503), ms(300)));
    assert_eq!(
        upstream.live_responses(),
        0,
        "the losing response was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn when_all_fail_a_response_beats_an_error() {
    let upstream = Upstream::new([
        io_error(std::io::ErrorKind::ConnectionReset).after(ms(150)),
        status(503).after(ms(100)),
    ]);
    let (result, elapsed) = call(hedge(&upstream, fixed(100).build().unwrap())).await;
    assert_eq!((result, elapsed), (Ok(503), ms(200)), "the hedge's 503");
}

#[tokio::test(start_paused = true)]
async fn a_first_attempt_that_fails_before_the_delay_is_returned_at_once() {
    let upstream = Upstream::new([status(503).after(ms(50)), ok()]);
    let (result, elapsed) = call(hedge(&upstream, fixed(100).build().unwrap())).await;
    assert_eq!((result, elapsed), (Ok(503), ms(50)));
    tokio::time::sleep(ms(1000)).await;
    assert_eq!(upstream.call_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_callers_bad_request_is_an_acceptable_answer() {
    // The hedge's 400 is final (another attempt would say the same): it is
    // returned without waiting for the first attempt.
    let upstream = Upstream::new([ok().after(ms(1000)), status(400).after(ms(10))]);
    let (result, elapsed) = call(hedge(&upstream, fixed(100).build().unwrap())).await;
    assert_eq!((result, elapsed), (Ok(400), ms(110)));
    assert_eq!(upstream.live_futures(), 0);
}

#[tokio::test(start_paused = true)]
async fn hedges_go_to_the_alternate_service() {
    let primary = Upstream::new([status(201).after(ms(1000))]);
    let backup = Upstream::new([ok().after(ms(10))]);
    let layer = HedgeLayer::new(fixed(100).build().unwrap()).alternate(backup.clone());
    let (result, elapsed) = call(layer.layer(primary.clone())).await;
    assert_eq!((result, elapsed), (Ok(200), ms(110)));
    assert_eq!(primary.call_count(), 1);
    assert_eq!(backup.call_offsets(), [ms(100)]);
    assert_eq!(primary.live_futures(), 0);
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_call_drops_every_attempt_in_flight() {
    cancel_at_every_poll(|| {
        let upstream = Upstream::new([ok().after(ms(500)), ok().after(ms(300))]);
        let service = hedge(&upstream, fixed(100).build().unwrap());
        (service, vec![upstream])
    })
    .await;
    // Two hedges in flight beside the first attempt.
    cancel_at_every_poll(|| {
        let upstream = Upstream::new([ok().after(ms(500)), Step::Hang, ok().after(ms(150))]);
        let service = hedge(&upstream, fixed(100).max_hedges(2).build().unwrap());
        (service, vec![upstream])
    })
    .await;
    cancel_at_every_poll(|| {
        let primary = Upstream::new([ok().after(ms(500))]);
        let backup = Upstream::new([ok().after(ms(300))]);
        let layer = HedgeLayer::new(fixed(100).build().unwrap()).alternate(backup.clone());
        (layer.layer(primary.clone()), vec![primary, backup])
    })
    .await;
}

#[test]
fn invalid_settings_are_rejected_naming_the_field() {
    let field = |builder: HedgeConfigBuilder| {
        let error = builder.build().unwrap_err();
        assert_eq!(error.layer(), "hedge");
        error.field()
    };
    let percentile = |p: f64, min_samples: u32, fallback: Duration| {
        HedgeConfig::builder(HedgeDelay::Percentile {
            p,
            min_samples,
            fallback,
        })
    };
    assert_eq!(field(fixed(0)), "delay");
    assert_eq!(field(fixed(3_600_001)), "delay");
    for p in [0.0, 100.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(field(percentile(p, 10, ms(100))), "delay.p", "{p}");
    }
    assert_eq!(field(percentile(99.0, 0, ms(100))), "delay.min_samples");
    assert_eq!(field(percentile(99.0, 10, ms(0))), "delay.fallback");
    assert_eq!(field(fixed(100).max_hedges(0)), "max_hedges");
    assert_eq!(
        field(fixed(100).max_hedges(MAX_HEDGES_LIMIT + 1)),
        "max_hedges"
    );
    assert_eq!(field(fixed(100).latency_window(ms(999))), "latency_window");
    assert_eq!(field(fixed(100).name("")), "name");
    assert_eq!(field(fixed(100).name(String::new())), "name");
    assert!(fixed(100).max_hedges(MAX_HEDGES_LIMIT).build().is_ok());
    assert!(percentile(99.9, 1, ms(1)).build().is_ok());
}

#[test]
fn the_name_defaults_to_hedge() {
    assert_eq!(fixed(100).build().unwrap().name(), "hedge");
    let config = fixed(100)
        .name(format!("{}-{}", "openai", 4))
        .build()
        .unwrap();
    assert_eq!(config.name(), "openai-4");
    assert_eq!(config.clone().name(), "openai-4");
    assert!(format!("{config:?}").contains("name: \"openai-4\""));
}

#[tokio::test(start_paused = true)]
async fn service_builder_ext_adds_the_layer() {
    let upstream = Upstream::new([Step::Hang, ok()]);
    let service = ServiceBuilder::new()
        .hedge(fixed(100).build().unwrap())
        .service(upstream.clone());
    let (result, elapsed) = call(service).await;
    assert_eq!((result, elapsed), (Ok(200), ms(100)));
}

/// A service that is never ready: its `poll_ready` fails.
#[derive(Clone, Debug)]
struct Broken;

impl Service<http::Request<String>> for Broken {
    type Response = http::Response<support::TrackedBody>;
    type Error = tower_failover::BoxError;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Err("hedge service broken".into()))
    }

    fn call(&mut self, _: http::Request<String>) -> Self::Future {
        unreachable!("never ready, never called")
    }
}

#[tokio::test(start_paused = true)]
async fn a_hedge_service_that_fails_to_get_ready_is_that_hedges_answer() {
    // The first attempt still answers.
    let primary = Upstream::new([ok().after(ms(300))]);
    let config = fixed(100).build().unwrap();
    let handle = config.handle();
    let layer = HedgeLayer::new(config).alternate(Broken);
    let (result, elapsed) = call(layer.layer(primary.clone())).await;
    assert_eq!((result, elapsed), (Ok(200), ms(300)));
    assert_eq!(handle.hedges_sent(), 0);

    // The first attempt fails too: its response beats the readiness error.
    let primary = Upstream::new([status(503).after(ms(300))]);
    let layer = HedgeLayer::new(fixed(100).build().unwrap()).alternate(Broken);
    let (result, elapsed) = call(layer.layer(primary.clone())).await;
    assert_eq!((result, elapsed), (Ok(503), ms(300)));

    // The first attempt fails with an error: the one kept is the first
    // attempt's (equals: the earlier attempt wins).
    let primary = Upstream::new([io_error(std::io::ErrorKind::ConnectionReset).after(ms(300))]);
    let layer = HedgeLayer::new(fixed(100).build().unwrap()).alternate(Broken);
    let (result, _) = call(layer.layer(primary.clone())).await;
    let error = result.unwrap_err();
    assert!(!error.contains("broken"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn under_a_retry_layer_each_attempt_is_hedged_from_one_budget() {
    use tower_failover::retry::{Backoff, RetryLayer, RetryPolicy};
    let budget = RetryBudget::new(Duration::from_secs(10), 10, 0.2).unwrap();
    let policy = RetryPolicy::builder()
        .backoff(Backoff::none())
        .budget(budget.clone())
        .build()
        .unwrap();
    // Attempt 1: a slow 503, its hedge (sent at 100 ms) a 503 at 400 ms;
    // attempt 2 (at 400 ms): a fast 200.
    let upstream = Upstream::new([
        status(503).after(ms(300)),
        status(503).after(ms(300)),
        ok().after(ms(10)),
    ]);
    let before = budget.remaining();
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .hedge(fixed(100).shared_budget(budget.clone()).build().unwrap())
        .service(upstream.clone());
    let (result, elapsed) = call(service).await;
    assert_eq!((result, elapsed), (Ok(200), ms(410)));
    assert_eq!(upstream.call_offsets(), [ms(0), ms(100), ms(400)]);
    // One hedge and one retry withdrawn from the one budget (the retry
    // layer's one deposit, 0.2 of a retry, does not add a whole one).
    assert_eq!(budget.remaining(), before - 2);
}

/// A service that becomes ready `after` its first `poll_ready`; each clone
/// starts over.
#[derive(Debug)]
struct SlowReady {
    inner: Upstream,
    after: Duration,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl SlowReady {
    fn new(inner: Upstream, after: Duration) -> Self {
        Self {
            inner,
            after,
            sleep: None,
        }
    }
}

impl Clone for SlowReady {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone(), self.after)
    }
}

impl Service<http::Request<String>> for SlowReady {
    type Response = http::Response<support::TrackedBody>;
    type Error = tower_failover::BoxError;
    type Future = <Upstream as Service<http::Request<String>>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        let after = self.after;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
        std::task::ready!(sleep.as_mut().poll(cx));
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<String>) -> Self::Future {
        self.inner.call(request)
    }
}

#[tokio::test(start_paused = true)]
async fn no_budget_is_spent_when_the_first_attempt_answers_while_the_hedge_gets_ready() {
    // One hedge per call, no floor: each call deposits exactly one.
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap();
    let primary = Upstream::new([status(201).after(ms(150))]);
    let backup = Upstream::new([ok()]);
    let config = fixed(100).budget(budget.clone()).build().unwrap();
    let handle = config.handle();
    // The hedge is due at 100 ms; its service is ready only at 300 ms.
    let layer = HedgeLayer::new(config).alternate(SlowReady::new(backup.clone(), ms(200)));
    let (result, elapsed) = call(layer.layer(primary.clone())).await;
    assert_eq!((result, elapsed), (Ok(201), ms(150)));
    assert_eq!(backup.call_count(), 0);
    assert_eq!(budget.remaining(), 1, "the deposit, nothing withdrawn");
    assert_eq!(
        (handle.hedges_sent(), handle.suppressed_by_budget()),
        (0, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_hedge_whose_service_gets_ready_after_the_budget_is_spent_is_suppressed() {
    // The budget allows one hedge: the first call's hedge, due at 100 ms and
    // ready at 300 ms, takes it; the second call's finds it spent.
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.5).unwrap();
    let primary = Upstream::new([status(201).after(ms(1000))]);
    let backup = Upstream::new([ok().after(ms(10))]);
    let config = fixed(100).budget(budget.clone()).build().unwrap();
    let handle = config.handle();
    let layer = HedgeLayer::new(config).alternate(SlowReady::new(backup.clone(), ms(200)));
    let service = layer.layer(primary.clone());
    let first = tokio::spawn(call(service.clone()));
    let (result, elapsed) = call(service).await;
    // The calls deposit 0.5 each: one hedge went out (at 300 ms, answered at
    // 310 ms), the other found the budget spent once its service was ready.
    let other = first.await.unwrap();
    let mut results = [(result, elapsed), other];
    results.sort();
    assert_eq!(results, [(Ok(200), ms(310)), (Ok(201), ms(1000))]);
    assert_eq!(backup.call_count(), 1);
    assert_eq!(
        (handle.hedges_sent(), handle.suppressed_by_budget()),
        (1, 1)
    );
    assert_eq!(budget.remaining(), 0);
}

#[tokio::test(start_paused = true)]
async fn no_more_hedges_once_an_attempt_has_failed() {
    // The first hedge (sent at 100 ms) fails at 110 ms: hedging is for slow
    // answers, not for retrying failed ones, so the second and third hedges
    // are not sent and the first attempt's answer is awaited.
    let upstream = Upstream::new([status(201).after(ms(1000)), status(503).after(ms(10)), ok()]);
    let config = fixed(100).max_hedges(3).build().unwrap();
    let handle = config.handle();
    let (result, elapsed) = call(hedge(&upstream, config)).await;
    assert_eq!((result, elapsed), (Ok(201), ms(1000)));
    assert_eq!(upstream.call_offsets(), [ms(0), ms(100)]);
    assert_eq!(handle.hedges_sent(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_losing_failure_is_dropped_when_another_attempt_wins() {
    // The first attempt's 503 (at 150 ms) is kept while the hedge is in
    // flight; the hedge wins at 200 ms: the 503 goes at once, not when the
    // call's future is dropped.
    let upstream = Upstream::new([status(503).after(ms(150)), ok().after(ms(100))]);
    let mut service = hedge(&upstream, fixed(100).build().unwrap());
    let mut future = std::pin::pin!(service.ready().await.unwrap().call(request()));
    let response = (&mut future).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.live_responses(), 1, "only the winner is alive");
    drop(response);
    assert_eq!(upstream.live_responses(), 0);
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "`ResponseFuture` polled after completion")]
async fn polling_after_completion_panics() {
    let upstream = Upstream::new([status(503).after(ms(150)), ok().after(ms(100))]);
    let mut service = hedge(&upstream, fixed(100).build().unwrap());
    let mut future = Box::pin(service.ready().await.unwrap().call(request()));
    let response = (&mut future).await.unwrap();
    assert_eq!(response.status(), 200);
    let _ = support::poll_once(&mut future).await;
}

#[tokio::test(start_paused = true)]
async fn a_first_attempt_error_after_the_hedge_is_sent_waits_for_the_hedges_response() {
    // The mirror of `when_all_fail_a_response_beats_an_error`: the first
    // attempt fails with an error at 150 ms, after the hedge was sent; the
    // hedge's 503 comes at 200 ms and is returned (a response beats an error).
    let upstream = Upstream::new([
        io_error(std::io::ErrorKind::ConnectionReset).after(ms(150)),
        status(503).after(ms(100)),
    ]);
    let config = fixed(100).build().unwrap();
    let handle = config.handle();
    let (result, elapsed) = call(hedge(&upstream, config)).await;
    assert_eq!((result, elapsed), (Ok(503), ms(200)));
    assert_eq!(handle.hedges_won(), 0, "a failure does not win");
}

#[tokio::test(start_paused = true)]
async fn a_hedge_that_fails_while_the_first_attempt_later_succeeds_loses() {
    let upstream = Upstream::new([status(201).after(ms(300)), status(503).after(ms(50))]);
    let config = fixed(100).build().unwrap();
    let handle = config.handle();
    let (result, elapsed) = call(hedge(&upstream, config)).await;
    assert_eq!((result, elapsed), (Ok(201), ms(300)));
    assert_eq!((handle.hedges_sent(), handle.hedges_won()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn under_a_retry_layer_a_shared_budget_is_filled_once_per_logical_call() {
    use tower_failover::retry::{Backoff, RetryLayer, RetryPolicy};
    // No floor: retries and hedges together stay within ratio × calls.
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.5).unwrap();
    let stack = |upstream: &Upstream| {
        let policy = RetryPolicy::builder()
            .max_attempts(3)
            .backoff(Backoff::none())
            .budget(budget.clone())
            .build()
            .unwrap();
        ServiceBuilder::new()
            .layer(RetryLayer::new(policy))
            .hedge(fixed(100).shared_budget(budget.clone()).build().unwrap())
            .service(upstream.clone())
    };
    // Four fast calls: the retry layer deposits 0.5 each, the hedge layer
    // nothing.
    let upstream = Upstream::new([ok()]);
    for _ in 0..4 {
        assert_eq!(call(stack(&upstream)).await.0, Ok(200));
    }
    assert_eq!(budget.remaining(), 2);

    // Eight calls to an upstream that answers every attempt with a slow
    // 503: 4 units of budget, from which hedges and retries draw.
    let budget_before = budget.remaining();
    let upstream = Upstream::new([status(503).after(ms(300))]);
    for _ in 0..8 {
        assert_eq!(call(stack(&upstream)).await.0, Ok(503));
    }
    let extra = upstream.call_count() - 8;
    assert_eq!(extra as u64, budget_before + 4, "every unit was spent");
    assert_eq!(budget.remaining(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_percentile_is_refreshed_when_it_is_older_than_a_second() {
    // Low traffic: far fewer than 64 calls per refresh.
    let upstream = Upstream::new([ok().after(ms(20))]);
    let config = HedgeConfig::builder(HedgeDelay::Percentile {
        p: 50.0,
        min_samples: 1,
        fallback: ms(300),
    })
    .latency_window(Duration::from_secs(1))
    .build()
    .unwrap();
    let handle = config.handle();
    let service = hedge(&upstream, config.clone());
    for _ in 0..5 {
        assert_eq!(call(service.clone()).await.0, Ok(200));
    }
    let fast = handle.current_delay();
    assert!((ms(20)..=ms(25)).contains(&fast), "{fast:?}");
    // Three seconds later the upstream is slower; the fast history is over
    // two windows old.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let slow = Upstream::new([ok().after(ms(200))]);
    let mut marked = request();
    marked.extensions_mut().insert(NoHedge);
    let service = hedge(&slow, config);
    assert_eq!(service.oneshot(marked).await.unwrap().status(), 200);
    let delay = handle.current_delay();
    assert!((ms(200)..=ms(250)).contains(&delay), "{delay:?}");
}
