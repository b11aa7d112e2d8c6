//! Routing policies: each orders (and filters) the tiers as documented, and
//! falling back follows that order.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tower::{Layer, Service, ServiceExt};
use tower_failover::BoxError;
use tower_failover::deadline::{DeadlineExceeded, TimeoutBudgetLayer};
use tower_failover::fallback::{
    Capability, CostAware, FallbackBuilder, FallbackHandle, FallbackLayer, LeastLatency, NoRoute,
    Order, Route, Routing, ServedBy, Static, Tier, Tiers, Weighted,
};

use crate::support::{Step, TrackedBody, Upstream, cancel_at_every_poll, ok, request, status};
use crate::{Req, Res};

/// Who called whom, in order, across every upstream of one test.
type Log = Arc<Mutex<Vec<&'static str>>>;

/// An upstream that writes its name into the shared log when called.
#[derive(Clone, Debug)]
struct Logged {
    name: &'static str,
    inner: Upstream,
    log: Log,
}

impl Service<Req> for Logged {
    type Response = Res;
    type Error = BoxError;
    type Future = <Upstream as Service<Req>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        self.log.lock().unwrap().push(self.name);
        self.inner.call(request)
    }
}

/// Three upstreams (`primary`, `second`, `third`) with these scripts, and
/// the log of their calls.
struct Three {
    log: Log,
    upstreams: [Upstream; 3],
}

impl Three {
    fn new(scripts: [Vec<Step>; 3]) -> Self {
        Self {
            log: Log::default(),
            upstreams: scripts.map(Upstream::new),
        }
    }

    fn logged(&self, position: usize) -> Logged {
        Logged {
            name: ["primary", "second", "third"][position],
            inner: self.upstreams[position].clone(),
            log: self.log.clone(),
        }
    }

    fn builder(&self) -> FallbackBuilder<Logged, Req, Res> {
        FallbackLayer::builder("primary")
            .tier(Tier::new("second", self.logged(1)))
            .tier(Tier::new("third", self.logged(2)))
    }

    /// Sends `request` through `layer`: the result, and the calls it made.
    async fn send(
        &self,
        layer: &FallbackLayer<Logged, Req, Res>,
        request: Req,
    ) -> (Result<Res, BoxError>, Vec<&'static str>) {
        self.log.lock().unwrap().clear();
        let result = layer.layer(self.logged(0)).oneshot(request).await;
        (result, self.log.lock().unwrap().clone())
    }
}

fn served(response: &Res) -> (usize, &str) {
    let served = response.extensions().get::<ServedBy>().unwrap();
    (served.tier(), served.name())
}

fn counts(handle: &FallbackHandle) -> Vec<(String, u64, u64)> {
    handle
        .tiers()
        .iter()
        .map(|t| (t.name().to_owned(), t.served(), t.failed()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn static_keeps_the_configured_order() {
    let three = Three::new([vec![status(503)], vec![status(502)], vec![ok()]]);
    let layer = three.builder().route(Static).build().unwrap();
    let (response, calls) = three.send(&layer, request()).await;
    assert_eq!(calls, ["primary", "second", "third"]);
    assert_eq!(served(&response.unwrap()), (3, "third"));
}

#[test]
fn static_routing_takes_the_fast_path() {
    // `Static` is not kept: no order computed, no clone, no lock per call.
    let three = Three::new([vec![], vec![], vec![]]);
    for layer in [
        three.builder().build().unwrap(),
        three.builder().route(Static).build().unwrap(),
        three.builder().route(Routing::Static).build().unwrap(),
    ] {
        let debug = format!("{layer:?}");
        assert!(debug.contains("routed: false"), "{debug}");
    }
    let layer = three.builder().route(PrimaryLast).build().unwrap();
    assert!(format!("{layer:?}").contains("routed: true"));
}

/// Tries the primary last, the rest in configured order.
struct PrimaryLast;

impl<Req> Route<Req> for PrimaryLast {
    fn order(&self, _: &Req, tiers: &Tiers<'_, Req>, order: &mut Order) {
        assert_eq!(tiers.len(), 3);
        assert_eq!(tiers.name(0), Some("primary"));
        order.retain(|position| position != 0);
        assert!(order.push(0));
    }
}

#[tokio::test(start_paused = true)]
async fn a_custom_route_puts_the_primary_last_and_served_by_keeps_positions() {
    let three = Three::new([vec![ok()], vec![status(503)], vec![status(502)]]);
    let layer = three.builder().route(PrimaryLast).build().unwrap();
    let handle = layer.handle();
    let (response, calls) = three.send(&layer, request()).await;
    assert_eq!(calls, ["second", "third", "primary"]);
    let response = response.unwrap();
    assert_eq!(served(&response), (1, "primary"));
    assert_eq!(
        response.extensions().get::<ServedBy>().unwrap().attempts(),
        3
    );
    assert_eq!(
        counts(&handle),
        [
            ("primary".to_owned(), 1, 0),
            ("second".to_owned(), 0, 1),
            ("third".to_owned(), 0, 1)
        ]
    );
    assert_eq!(handle.fell_back(), 1, "moved past the first tier tried");
    let calls = three.upstreams[0].calls();
    assert_eq!(calls[0].body, "{\"model\":\"gpt\"}", "the request as sent");
}

#[tokio::test(start_paused = true)]
async fn the_static_response_stays_last_whatever_the_order() {
    let three = Three::new([vec![status(503)], vec![status(502)], vec![status(500)]]);
    let layer = three
        .builder()
        .route(PrimaryLast)
        .static_response(|_| {
            let mut response = Res::new(TrackedBody::counted(Arc::default()));
            *response.status_mut() = http::StatusCode::OK;
            response
        })
        .build()
        .unwrap();
    let (response, calls) = three.send(&layer, request()).await;
    assert_eq!(calls, ["second", "third", "primary"]);
    assert_eq!(served(&response.unwrap()), (4, "static"));
}

#[tokio::test(start_paused = true)]
async fn weighted_first_choices_match_the_weights() {
    let three = Three::new([vec![ok()], vec![ok()], vec![ok()]]);
    let layer = three
        .builder()
        .route(Weighted::new([6, 3, 1]).unwrap().seed(7))
        .build()
        .unwrap();
    let handle = layer.handle();
    let service = layer.layer(three.logged(0));
    // Seeded, so this is one fixed sequence of draws and the test cannot
    // flake: it checks that this sequence follows the weights, not that
    // every seed does. The bound is loose on purpose: over 10 000 draws a
    // share's standard deviation is at most 0.005, so ±0.02 is about four
    // of them, which a fair draw meets for nearly any seed, and which a
    // wrong mapping from draw to tier (uniform shares, or the weights
    // reversed) misses by far.
    const REQUESTS: u64 = 10_000;
    for _ in 0..REQUESTS {
        service.clone().oneshot(request()).await.unwrap();
    }
    let shares: Vec<f64> = handle
        .tiers()
        .iter()
        .map(|t| t.served() as f64 / REQUESTS as f64)
        .collect();
    for (share, expected) in shares.iter().zip([0.6, 0.3, 0.1]) {
        assert!(
            (share - expected).abs() <= 0.02,
            "shares {shares:?} against 0.6, 0.3, 0.1"
        );
    }
    assert_eq!(handle.fell_back(), 0);
}

#[tokio::test(start_paused = true)]
async fn weighted_falls_back_in_configured_order_and_a_zero_weight_is_never_first() {
    // Only `third` can be drawn first; after it, the configured order.
    let three = Three::new([vec![status(503)], vec![ok()], vec![status(502)]]);
    let layer = three
        .builder()
        .route(Weighted::new([0, 0, 1]).unwrap())
        .build()
        .unwrap();
    for _ in 0..20 {
        let (response, calls) = three.send(&layer, request()).await;
        assert_eq!(calls, ["third", "primary", "second"]);
        assert_eq!(served(&response.unwrap()), (2, "second"));
    }
}

#[tokio::test(start_paused = true)]
async fn weighted_with_the_same_seed_draws_the_same_sequence() {
    let draws = || async {
        let three = Three::new([vec![ok()], vec![ok()], vec![ok()]]);
        let layer = three
            .builder()
            .route(Weighted::new([1, 1, 1]).unwrap().seed(42))
            .build()
            .unwrap();
        let mut firsts = Vec::new();
        for _ in 0..50 {
            firsts.push(three.send(&layer, request()).await.1[0]);
        }
        firsts
    };
    let first = draws().await;
    assert_eq!(first, draws().await);
    assert!(first.contains(&"primary") && first.contains(&"third"));
}

/// An estimate within the packing's precision (2^-15) of `expected`.
#[track_caller]
fn assert_near(estimate: Option<Duration>, expected: Duration) {
    let estimate = estimate.expect("a sample").as_secs_f64();
    let expected = expected.as_secs_f64();
    assert!(
        (estimate - expected).abs() <= expected / 30_000.0,
        "{estimate} s against {expected} s"
    );
}

#[tokio::test(start_paused = true)]
async fn least_latency_tries_untried_tiers_then_the_fastest_and_follows_a_recovery() {
    let ms = Duration::from_millis;
    let three = Three::new([
        // Fast, then slow once, then fast for good.
        vec![
            ok().after(ms(50)),
            ok().after(ms(2_000)),
            ok().after(ms(20)),
        ],
        vec![ok().after(ms(100))],
        // Very slow: once sampled, out of the way for the rest.
        vec![ok().after(Duration::from_secs(60))],
    ]);
    let policy = Arc::new(
        LeastLatency::builder()
            .half_life(Duration::from_secs(1))
            .build()
            .unwrap(),
    );
    let layer = three.builder().route(policy.clone()).build().unwrap();
    let mut firsts = Vec::new();
    for _ in 0..3 {
        firsts.push(three.send(&layer, request()).await.1);
    }
    // No samples: the configured order; then each untried tier gets one.
    assert_eq!(firsts, [["primary"], ["second"], ["third"]]);

    // A minute later every estimate has decayed to almost nothing, the
    // primary's (50 ms) the furthest: it is first, and turns slow.
    let (_, calls) = three.send(&layer, request()).await;
    assert_eq!(calls, ["primary"]);
    // A slower sample replaces the estimate at once.
    assert_near(policy.estimate(0), Duration::from_secs(2));

    // Now `second` (100 ms) leads; the primary's 2 s decays by half every
    // second and falls below 100 ms after about 4.3 s, i.e. some 43 calls.
    let mut by_second = 0;
    loop {
        let (_, calls) = three.send(&layer, request()).await;
        if calls == ["primary"] {
            break;
        }
        assert_eq!(calls, ["second"]);
        by_second += 1;
        assert!(by_second < 100, "the primary never came back");
    }
    assert!(
        (30..=50).contains(&by_second),
        "{by_second} calls to second"
    );

    // Recovered (20 ms), it stays first.
    for _ in 0..20 {
        assert_eq!(three.send(&layer, request()).await.1, ["primary"]);
    }
}

#[tokio::test(start_paused = true)]
async fn least_latency_sinks_a_failing_tier_and_falls_back_by_latency() {
    let ms = Duration::from_millis;
    let three = Three::new([
        vec![ok().after(ms(10)), status(503)],
        vec![ok().after(ms(300))],
        vec![ok().after(ms(100))],
    ]);
    let policy = LeastLatency::builder()
        .half_life(Duration::from_secs(60))
        .build()
        .unwrap();
    let layer = three.builder().route(policy).build().unwrap();
    for _ in 0..3 {
        let _ = three.send(&layer, request()).await;
    }
    // Estimates: primary 10 ms, third 100 ms, second 300 ms. The primary
    // fails at once: the fallback follows the estimates, not the
    // configured order.
    let (response, calls) = three.send(&layer, request()).await;
    assert_eq!(calls, ["primary", "third"]);
    assert_eq!(served(&response.unwrap()), (3, "third"));
    // Its failure counts as the 10 s penalty: it sinks to the bottom.
    let (_, calls) = three.send(&layer, request()).await;
    assert_eq!(calls, ["third"]);
}

#[tokio::test(start_paused = true)]
async fn least_latency_learns_from_a_tier_stopped_by_the_deadline() {
    // The primary hangs and has no timeout of its own: only the caller's
    // deadline stops it. That must count against it, or its estimate stays
    // at zero and every request spends its whole budget there.
    let three = Three::new([
        vec![ok().after(Duration::from_secs(3_600))],
        vec![ok()],
        vec![ok()],
    ]);
    let policy = Arc::new(LeastLatency::builder().build().unwrap());
    let layer = three.builder().route(policy.clone()).build().unwrap();
    let budget = TimeoutBudgetLayer::new(Duration::from_secs(5));

    three.log.lock().unwrap().clear();
    let service = budget.layer(layer.layer(three.logged(0)));
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<DeadlineExceeded>(), "{error}");
    assert_eq!(*three.log.lock().unwrap(), ["primary"]);
    // The failure penalty (10 s), longer than the 5 s it took.
    assert_near(policy.estimate(0), Duration::from_secs(10));

    let (response, calls) = three.send(&layer, request()).await;
    assert_eq!(calls, ["second"]);
    assert_eq!(served(&response.unwrap()), (2, "second"));
}

/// Answers at once with the crate's `DeadlineExceeded`, as a budget layer
/// inside a tier does when that tier's own budget is spent.
#[derive(Clone, Debug)]
struct OutOfBudget;

impl Service<Req> for OutOfBudget {
    type Response = Res;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Res, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Req) -> Self::Future {
        std::future::ready(Err(Box::new(DeadlineExceeded::new())))
    }
}

#[tokio::test(start_paused = true)]
async fn least_latency_observes_a_spent_budget_from_below() {
    let backup = Upstream::new([ok()]);
    let policy = Arc::new(LeastLatency::builder().build().unwrap());
    let layer = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", backup.clone()))
        .route(policy.clone())
        .build()
        .unwrap();
    // The caller's own budget is not spent: the request falls back.
    let response = layer.layer(OutOfBudget).oneshot(request()).await.unwrap();
    assert_eq!(served(&response), (2, "backup"));
    // The primary's spent budget counts against it, as the penalty.
    assert_near(policy.estimate(0), Duration::from_secs(10));
    assert_eq!(policy.estimate(1), Some(Duration::ZERO));
}

#[tokio::test(start_paused = true)]
async fn a_primary_routed_later_is_called_through_the_service_made_ready() {
    // The primary behind a limit of one: the service the caller made ready
    // holds the only permit, so a fresh clone could never get one.
    let three = Three::new([vec![ok()], vec![status(503)], vec![status(502)]]);
    let layer = three.builder().route(PrimaryLast).build().unwrap();
    let mut service = layer.layer(tower::limit::ConcurrencyLimit::new(three.logged(0), 1));
    let call = service.ready().await.unwrap().call(request());
    // A deadline, so that a regression fails rather than hangs.
    let response = tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .expect("the primary is reached")
        .unwrap();
    assert_eq!(served(&response), (1, "primary"));
    assert_eq!(*three.log.lock().unwrap(), ["second", "third", "primary"]);
    // The permit went with the call: the service can be made ready again.
    let next = tokio::time::timeout(Duration::from_secs(60), service.ready()).await;
    assert!(next.is_ok(), "the permit was released");
}

/// Costs per 1k tokens; the request's body length is its token count and
/// the `x-budget` header its budget.
fn cost_aware() -> CostAware<Req> {
    CostAware::new([0.01, 0.001, 0.005], |request: &Req| {
        let budget = request.headers().get("x-budget")?;
        budget.to_str().ok()?.parse().ok()
    })
    .unwrap()
    .size(|request: &Req| request.body().len() as f64 / 1000.0)
}

fn budget_request(tokens: usize, budget: &str) -> Req {
    let mut request = http::Request::new("x".repeat(tokens));
    request
        .headers_mut()
        .insert("x-budget", budget.parse().unwrap());
    request
}

#[tokio::test(start_paused = true)]
async fn cost_aware_orders_by_cost_and_never_calls_a_tier_over_budget() {
    let three = Three::new([vec![ok()], vec![status(503)], vec![status(503)]]);
    let layer = three.builder().route(cost_aware()).build().unwrap();

    // Without a budget: every tier, cheapest first.
    let (response, calls) = three.send(&layer, request()).await;
    assert_eq!(calls, ["second", "third", "primary"]);
    assert_eq!(served(&response.unwrap()), (1, "primary"));

    // 1k tokens, $0.006: the primary ($0.01) is left out.
    let (response, calls) = three.send(&layer, budget_request(1000, "0.006")).await;
    assert_eq!(calls, ["second", "third"]);
    assert_eq!(response.unwrap().status(), 503);

    // 2k tokens, $0.006: only `second` ($0.002) fits.
    let (_, calls) = three.send(&layer, budget_request(2000, "0.006")).await;
    assert_eq!(calls, ["second"]);
    assert_eq!(three.upstreams[0].call_count(), 1, "the primary only once");
}

#[tokio::test(start_paused = true)]
async fn when_no_tier_fits_the_answer_is_no_route_and_no_one_is_called() {
    let three = Three::new([vec![ok()], vec![ok()], vec![ok()]]);
    let layer = three
        .builder()
        .route(cost_aware())
        .static_response(|_| Res::new(TrackedBody::counted(Arc::default())))
        .build()
        .unwrap();
    for budget in ["0.0001", "-1", "NaN"] {
        let (result, calls) = three.send(&layer, budget_request(1000, budget)).await;
        let error = result.unwrap_err();
        assert!(error.is::<NoRoute>(), "{error}");
        assert_eq!(error.to_string(), "no tier can serve the request");
        assert!(calls.is_empty(), "budget {budget}: {calls:?}");
    }
    assert_eq!(layer.handle().fell_back(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_nan_or_negative_size_fits_no_tier() {
    // The size comes from an `x-size` header; the budget is generous.
    let route = CostAware::new([0.01, 0.001, 0.005], |_: &Req| Some(100.0))
        .unwrap()
        .size(|request: &Req| {
            let size = request.headers().get("x-size").unwrap();
            size.to_str().unwrap().parse().unwrap()
        });
    let three = Three::new([vec![ok()], vec![ok()], vec![ok()]]);
    let layer = three.builder().route(route).build().unwrap();
    let sized = |size: &str| {
        let mut request = request();
        request
            .headers_mut()
            .insert("x-size", size.parse().unwrap());
        request
    };
    for size in ["NaN", "-1", "-0.001", "-inf"] {
        let (result, calls) = three.send(&layer, sized(size)).await;
        assert!(result.unwrap_err().is::<NoRoute>(), "size {size}");
        assert!(calls.is_empty(), "size {size}: {calls:?}");
    }
    // A sane size still routes, cheapest first.
    let (response, calls) = three.send(&layer, sized("2")).await;
    assert_eq!(calls, ["second"]);
    assert_eq!(served(&response.unwrap()), (2, "second"));
}

fn tools_request() -> Req {
    http::Request::new(String::from("{\"tools\":[{}]}"))
}

fn has_tools(request: &Req) -> bool {
    request.body().contains("\"tools\"")
}

#[tokio::test(start_paused = true)]
async fn capability_skips_tiers_that_cannot_serve_the_request() {
    let three = Three::new([vec![ok()], vec![status(503)], vec![ok()]]);
    let layer = FallbackLayer::builder("primary")
        .tier(Tier::new("second", three.logged(1)))
        .tier(Tier::new("third", three.logged(2)).guard(|request: &Req| !has_tools(request)))
        .route(Capability::new().primary(|request: &Req| !has_tools(request)))
        .build()
        .unwrap();

    // A tool call: only `second` has tools; its failure has nowhere to go.
    let (response, calls) = three.send(&layer, tools_request()).await;
    assert_eq!(calls, ["second"]);
    assert_eq!(served(&response.unwrap()), (2, "second"));

    // A plain request: the configured order.
    let (response, calls) = three.send(&layer, request()).await;
    assert_eq!(calls, ["primary"]);
    assert_eq!(served(&response.unwrap()), (1, "primary"));
}

#[tokio::test(start_paused = true)]
async fn capability_with_no_capable_tier_answers_no_route() {
    let three = Three::new([vec![ok()], vec![ok()], vec![ok()]]);
    let layer = FallbackLayer::builder("primary")
        .tier(Tier::new("second", three.logged(1)).guard(|r: &Req| !has_tools(r)))
        .route(Capability::new().primary(|r: &Req| !has_tools(r)))
        .build()
        .unwrap();
    let (result, calls) = three.send(&layer, tools_request()).await;
    assert!(result.unwrap_err().is::<NoRoute>());
    assert!(calls.is_empty());
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_routed_call_at_every_poll_leaves_no_tier_half_called() {
    cancel_at_every_poll(|| {
        let slow = |step: Step| Upstream::new([step.after(Duration::from_millis(50))]);
        let upstreams = [slow(status(503)), slow(status(502)), slow(ok())];
        // `second`, then the primary (on a clone), then `third`.
        let service = FallbackLayer::builder("primary")
            .primary_timeout(Duration::from_secs(1))
            .tier(Tier::new("second", upstreams[1].clone()).timeout(Duration::from_secs(1)))
            .tier(Tier::new("third", upstreams[2].clone()))
            .route(Weighted::new([0, 1, 0]).unwrap())
            .build()
            .unwrap()
            .layer(upstreams[0].clone());
        (service, upstreams.to_vec())
    })
    .await;
}

/// An upstream that is not ready at first: each clone waits 20 ms (paused
/// time) in `poll_ready` before its first call, and again after each call.
#[derive(Debug)]
struct SlowReady {
    inner: Upstream,
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
    ready: bool,
}

impl SlowReady {
    fn new(inner: Upstream) -> Self {
        Self {
            inner,
            wait: None,
            ready: false,
        }
    }
}

impl Clone for SlowReady {
    /// A clone is not ready: it waits on its own.
    fn clone(&self) -> Self {
        Self::new(self.inner.clone())
    }
}

impl Service<Req> for SlowReady {
    type Response = Res;
    type Error = BoxError;
    type Future = <Upstream as Service<Req>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if !self.ready {
            let wait = self
                .wait
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(20))));
            ready!(wait.as_mut().poll(cx));
            self.wait = None;
            self.ready = true;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        assert!(self.ready, "called before it was ready");
        self.ready = false;
        self.inner.call(request)
    }
}

#[tokio::test(start_paused = true)]
async fn cancel_at_every_poll_with_tiers_pending_in_poll_ready() {
    // Every tier waits in `poll_ready` first, so the call is also
    // cancelled while a tier is being made ready (`Ready`), not only while
    // a call is in flight.
    cancel_at_every_poll(|| {
        let slow = |step: Step| Upstream::new([step.after(Duration::from_millis(50))]);
        let upstreams = [slow(status(503)), slow(status(502)), slow(ok())];
        // `second`, then the primary (the service made ready, moved into
        // the future), then `third`.
        let service = FallbackLayer::builder("primary")
            .primary_timeout(Duration::from_secs(1))
            .tier(
                Tier::new("second", SlowReady::new(upstreams[1].clone()))
                    .timeout(Duration::from_secs(1)),
            )
            .tier(Tier::new("third", SlowReady::new(upstreams[2].clone())))
            .route(Weighted::new([0, 1, 0]).unwrap())
            .build()
            .unwrap()
            .layer(SlowReady::new(upstreams[0].clone()));
        (service, upstreams.to_vec())
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancel_at_every_poll_in_the_configured_order_with_tiers_pending_in_poll_ready() {
    cancel_at_every_poll(|| {
        let slow = |step: Step| Upstream::new([step.after(Duration::from_millis(50))]);
        let upstreams = [slow(status(503)), slow(status(502)), slow(ok())];
        let service = FallbackLayer::builder("primary")
            .tier(Tier::new("second", SlowReady::new(upstreams[1].clone())))
            .tier(Tier::new("third", SlowReady::new(upstreams[2].clone())))
            .build()
            .unwrap()
            .layer(SlowReady::new(upstreams[0].clone()));
        (service, upstreams.to_vec())
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn routing_by_name_delegates_to_its_policy() {
    let three = Three::new([
        vec![ok().after(Duration::from_millis(10))],
        vec![ok()],
        vec![ok()],
    ]);
    let layer = three.builder().route(Routing::Static).build().unwrap();
    for _ in 0..2 {
        assert_eq!(three.send(&layer, request()).await.1, ["primary"]);
    }

    // Observed: the primary has a sample, `second` none, so it goes first.
    let policy = Routing::LeastLatency(Box::default());
    let layer = three.builder().route(policy).build().unwrap();
    assert_eq!(three.send(&layer, request()).await.1, ["primary"]);
    assert_eq!(three.send(&layer, request()).await.1, ["second"]);

    let weighted = Routing::Weighted(Weighted::new([1, 1]).unwrap());
    let error = three.builder().route(weighted).build().unwrap_err();
    assert_eq!(error.field(), "route");
}

#[test]
fn invalid_settings_name_the_field() {
    let error = Weighted::new([0, 0]).unwrap_err();
    assert_eq!((error.layer(), error.field()), ("fallback", "weights"));
    assert_eq!(Weighted::new([]).unwrap_err().field(), "weights");

    for cost in [-1.0, f64::NAN, f64::INFINITY] {
        let error = CostAware::new([1.0, cost], |_: &Req| None).unwrap_err();
        assert_eq!(error.field(), "costs", "{cost}");
    }

    let error = LeastLatency::builder()
        .half_life(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "half_life");
    let error = LeastLatency::builder()
        .failure_penalty(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(
        (error.layer(), error.field()),
        ("fallback", "failure_penalty")
    );
    assert!(
        LeastLatency::builder()
            .failure_penalty(Duration::from_nanos(1))
            .build()
            .is_ok()
    );

    // One weight per tier, the primary first.
    let error = FallbackLayer::<Upstream, Req, Res>::builder("primary")
        .tier(Tier::new("second", Upstream::new([ok()])))
        .route(Weighted::new([1, 1, 1]).unwrap())
        .build()
        .unwrap_err();
    assert_eq!(error.field(), "route");
    assert_eq!(error.detail(), Some("3 for 2"));
}

#[test]
fn route_is_object_safe() {
    fn boxed(route: impl Route<Req> + 'static) -> Box<dyn Route<Req>> {
        Box::new(route)
    }
    let _ = [
        boxed(Static),
        boxed(LeastLatency::default()),
        boxed(Capability::new()),
    ];
}
