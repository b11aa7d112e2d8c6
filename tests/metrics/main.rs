//! What the layers record through the `metrics` facade, read back from
//! `metrics-util`'s debugging recorder installed for each test's thread
//! alone (so the tests stay parallel-safe), in paused time.

#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;

use metrics::LocalRecorderGuard;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use support::{Step, TrackedBody, Upstream, io_error, ok, request, status};
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_failover::circuit_breaker::{
    BreakerConfig, CircuitBreakerLayer, KeyedCircuitBreakerLayer, OpenBackoff, State, Window,
};
use tower_failover::deadline::{AttemptTimeoutLayer, TimeoutBudgetLayer};
use tower_failover::fallback::{FallbackBuilder, FallbackLayer, Tier};
use tower_failover::hedge::{HedgeConfig, HedgeDelay, HedgeLayer};
use tower_failover::metrics::*;
use tower_failover::retry::{Backoff, Jitter, RetryBudget, RetryLayer, RetryPolicy};

/// A metric's sorted `key=value` labels.
type Labels = Vec<(String, String)>;

/// Every recorded value, by name and labels.
#[derive(Debug)]
struct Recorded(Vec<(String, Labels, DebugValue)>);

impl Recorded {
    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        let mut wanted: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        wanted.sort();
        self.0
            .iter()
            .find(|(n, l, _)| n == name && *l == wanted)
            .map(|(_, _, value)| value)
    }

    /// A counter's value; 0 if it was never registered.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.find(name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            Some(other) => panic!("{name} is not a counter: {other:?}"),
            None => 0,
        }
    }

    /// The sum of a counter over every label set.
    fn total(&self, name: &str) -> u64 {
        self.0
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, _, value)| match value {
                DebugValue::Counter(n) => *n,
                other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(name, labels) {
            Some(DebugValue::Gauge(value)) => value.into_inner(),
            other => panic!("{name} {labels:?} is not a registered gauge: {other:?}"),
        }
    }

    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        match self.find(name, labels) {
            Some(DebugValue::Histogram(values)) => values.iter().map(|v| v.into_inner()).collect(),
            None => Vec::new(),
            Some(other) => panic!("{name} is not a histogram: {other:?}"),
        }
    }

    /// Every label set recorded for `name`.
    fn label_sets(&self, name: &str) -> Vec<Vec<(String, String)>> {
        let mut sets: Vec<_> = self
            .0
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, labels, _)| labels.clone())
            .collect();
        sets.sort();
        sets
    }
}

/// A debugging recorder installed for this thread until the guard drops.
struct Recording {
    snapshotter: Snapshotter,
    _guard: LocalRecorderGuard<'static>,
}

impl Recording {
    fn start() -> Self {
        // Leaked so that the guard may borrow it for the whole test: one
        // small recorder per test.
        let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
        let snapshotter = recorder.snapshotter();
        let guard = metrics::set_default_local_recorder(recorder);
        describe();
        Self {
            snapshotter,
            _guard: guard,
        }
    }

    /// Everything recorded so far (counters read and reset).
    fn snapshot(&self) -> Recorded {
        Recorded(
            self.snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .map(|(key, _unit, _help, value)| {
                    let key = key.key();
                    let mut labels: Vec<(String, String)> = key
                        .labels()
                        .map(|label| (label.key().to_owned(), label.value().to_owned()))
                        .collect();
                    labels.sort();
                    (key.name().to_owned(), labels, value)
                })
                .collect(),
        )
    }
}

fn policy(attempts: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .max_attempts(attempts)
        .backoff(Backoff::constant(Duration::from_millis(100)))
        .no_budget()
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_retried_call_records_its_attempts_and_retries_by_kind() {
    let recording = Recording::start();
    let upstream = Upstream::new([status(503), status(429), ok()]);
    let service = RetryLayer::new(policy(3)).layer(upstream.clone());
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 200);

    let recorded = recording.snapshot();
    assert_eq!(recorded.counter(ATTEMPTS, &[("outcome", "transient")]), 1);
    assert_eq!(
        recorded.counter(ATTEMPTS, &[("outcome", "rate_limited")]),
        1
    );
    assert_eq!(recorded.counter(ATTEMPTS, &[("outcome", "success")]), 1);
    assert_eq!(recorded.total(ATTEMPTS), upstream.call_count() as u64);
    assert_eq!(recorded.counter(RETRIES, &[("kind", "transient")]), 1);
    assert_eq!(recorded.counter(RETRIES, &[("kind", "rate_limited")]), 1);
    assert_eq!(recorded.total(RETRIES), 2);
    assert_eq!(recorded.total(RETRIES_GIVEN_UP), 0);
}

#[tokio::test(start_paused = true)]
async fn giving_up_records_the_reason() {
    let recording = Recording::start();
    // Out of attempts.
    let upstream = Upstream::new([status(503)]);
    let response = RetryLayer::new(policy(2))
        .layer(upstream.clone())
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    // A caller's fault is never retried.
    let upstream = Upstream::new([status(400)]);
    RetryLayer::new(policy(3))
        .layer(upstream)
        .oneshot(request())
        .await
        .unwrap();
    // A hint beyond the cap.
    let upstream = Upstream::new([status(429).header("retry-after", "120")]);
    RetryLayer::new(policy(3))
        .layer(upstream)
        .oneshot(request())
        .await
        .unwrap();

    let recorded = recording.snapshot();
    assert_eq!(
        recorded.counter(RETRIES_GIVEN_UP, &[("reason", "max_attempts")]),
        1
    );
    assert_eq!(
        recorded.counter(RETRIES_GIVEN_UP, &[("reason", "not_retryable")]),
        1
    );
    assert_eq!(
        recorded.counter(RETRIES_GIVEN_UP, &[("reason", "hint_above_cap")]),
        1
    );
    assert_eq!(recorded.total(RETRIES_GIVEN_UP), 3);
    assert_eq!(recorded.counter(ATTEMPTS, &[("outcome", "invalid")]), 1);
    assert_eq!(recorded.counter(ATTEMPTS, &[("outcome", "transient")]), 2);
    assert_eq!(recorded.counter(RETRIES, &[("kind", "transient")]), 1);
}

#[tokio::test(start_paused = true)]
async fn a_spent_retry_budget_is_counted() {
    let recording = Recording::start();
    // No floor, 50 %: two requests buy one retry.
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.5).unwrap();
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::none())
        .budget(budget)
        .build()
        .unwrap();
    let upstream = Upstream::new([status(503)]);
    let mut service = RetryLayer::new(policy).layer(upstream.clone());
    for _ in 0..4 {
        let response = service
            .ready()
            .await
            .unwrap()
            .call(request())
            .await
            .unwrap();
        assert_eq!(response.status(), 503);
    }

    let recorded = recording.snapshot();
    // 4 requests deposit 2 retries' worth, spent as they come; every other
    // retry decision found the budget empty.
    let retries = recorded.total(RETRIES);
    let spent = recorded.counter(RETRIES_GIVEN_UP, &[("reason", "budget_exhausted")]);
    assert_eq!(retries, 2);
    assert_eq!(spent, 4);
    assert_eq!(
        recorded.counter(RETRIES_GIVEN_UP, &[("reason", "max_attempts")]),
        0
    );
    assert_eq!(
        recorded.total(ATTEMPTS),
        upstream.call_count() as u64,
        "every attempt counted once"
    );
    assert_eq!(upstream.call_count(), 6);
}

#[tokio::test(start_paused = true)]
async fn a_fallback_records_from_to_the_served_tier_and_tier_latency() {
    let recording = Recording::start();
    let primary = Upstream::new([status(503).after(Duration::from_millis(300))]);
    let backup = Upstream::new([ok().after(Duration::from_secs(2))]);
    let layer = FallbackLayer::builder("gpt-4o")
        .tier(Tier::new("claude", backup.clone()))
        .build()
        .unwrap();
    let response = layer
        .layer(primary.clone())
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let recorded = recording.snapshot();
    assert_eq!(
        recorded.counter(
            FALLBACKS,
            &[("from", "gpt-4o"), ("to", "claude"), ("kind", "transient")]
        ),
        1
    );
    assert_eq!(recorded.total(FALLBACKS), 1);
    assert_eq!(recorded.counter(SERVED, &[("tier", "claude")]), 1);
    assert_eq!(recorded.counter(SERVED, &[("tier", "gpt-4o")]), 0);
    assert_eq!(
        recorded.histogram(TIER_DURATION, &[("tier", "gpt-4o"), ("outcome", "failure")]),
        [0.3]
    );
    assert_eq!(
        recorded.histogram(TIER_DURATION, &[("tier", "claude"), ("outcome", "success")]),
        [2.0]
    );
    assert!(
        recorded
            .histogram(TIER_DURATION, &[("tier", "gpt-4o"), ("outcome", "success")])
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn the_static_response_counts_as_a_fallback_and_a_served_tier() {
    let recording = Recording::start();
    let primary = Upstream::new([status(500)]);
    let builder: FallbackBuilder<Upstream, http::Request<String>, http::Response<TrackedBody>> =
        FallbackLayer::builder("primary");
    let layer = builder
        .static_response(|_| {
            let mut response = http::Response::new(TrackedBody::counted(std::sync::Arc::new(
                std::sync::atomic::AtomicUsize::new(1),
            )));
            *response.status_mut() = http::StatusCode::OK;
            response
        })
        .build()
        .unwrap();
    let response = layer.layer(primary).oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 200);

    let recorded = recording.snapshot();
    assert_eq!(
        recorded.counter(
            FALLBACKS,
            &[("from", "primary"), ("to", "static"), ("kind", "transient")]
        ),
        1
    );
    assert_eq!(recorded.counter(SERVED, &[("tier", "static")]), 1);
    // A tier that answered within its first poll waited for nothing.
    assert_eq!(
        recorded.histogram(
            TIER_DURATION,
            &[("tier", "primary"), ("outcome", "failure")]
        ),
        [0.0]
    );
    // The static response takes no time: it has no duration histograms.
    assert!(
        recorded
            .label_sets(TIER_DURATION)
            .iter()
            .all(|set| !set.contains(&("tier".to_owned(), "static".to_owned()))),
        "{:?}",
        recorded.label_sets(TIER_DURATION)
    );
}

#[tokio::test(start_paused = true)]
async fn a_breaker_opening_and_closing_records_transitions_rejections_and_state() {
    let recording = Recording::start();
    let config = BreakerConfig::builder()
        .name("openai")
        .window(Window::count(10))
        .minimum_calls(2)
        .failure_rate_threshold(0.5)
        .open_backoff(OpenBackoff::constant(Duration::from_secs(30)))
        .half_open_permits(1)
        .build()
        .unwrap();
    let layer = CircuitBreakerLayer::new(config);
    let handle = layer.handle();
    assert_eq!(
        recording
            .snapshot()
            .gauge(BREAKER_STATE, &[("breaker", "openai")]),
        0.0,
        "a new breaker reports closed"
    );
    let upstream = Upstream::new([status(503), status(503), ok()]);
    let mut service = layer.layer(upstream.clone());
    for _ in 0..2 {
        let response = service.ready().await.unwrap().call(request()).await;
        assert_eq!(response.unwrap().status(), 503);
    }
    assert_eq!(handle.state(), State::Open);
    for _ in 0..3 {
        let rejected = service.ready().await.unwrap().call(request()).await;
        assert!(rejected.unwrap_err().as_open().is_some());
    }
    let open = recording.snapshot();
    assert_eq!(open.gauge(BREAKER_STATE, &[("breaker", "openai")]), 2.0);
    assert_eq!(
        open.counter(BREAKER_REJECTIONS, &[("breaker", "openai")]),
        3
    );

    tokio::time::advance(Duration::from_secs(31)).await;
    let response = service.ready().await.unwrap().call(request()).await;
    assert_eq!(response.unwrap().status(), 200);
    assert_eq!(handle.state(), State::Closed);

    let closed = recording.snapshot();
    assert_eq!(closed.gauge(BREAKER_STATE, &[("breaker", "openai")]), 0.0);
    let transitions = |recorded: &Recorded, from, to, reason| {
        recorded.counter(
            BREAKER_TRANSITIONS,
            &[
                ("breaker", "openai"),
                ("from", from),
                ("to", to),
                ("reason", reason),
            ],
        )
    };
    assert_eq!(transitions(&open, "closed", "open", "failure_rate"), 1);
    assert_eq!(transitions(&closed, "open", "half_open", "open_elapsed"), 1);
    assert_eq!(
        transitions(&closed, "half_open", "closed", "probes_succeeded"),
        1
    );
    assert_eq!(
        open.total(BREAKER_TRANSITIONS) + closed.total(BREAKER_TRANSITIONS),
        3
    );
    assert_eq!(upstream.call_count(), 3, "the rejected calls never left");
}

#[tokio::test(start_paused = true)]
async fn forcing_a_breaker_sets_the_gauge() {
    let recording = Recording::start();
    let layer = CircuitBreakerLayer::new(BreakerConfig::builder().name("b").build().unwrap());
    let handle = layer.handle();
    handle.force_open();
    assert_eq!(
        recording
            .snapshot()
            .gauge(BREAKER_STATE, &[("breaker", "b")]),
        3.0
    );
    handle.force_closed();
    let recorded = recording.snapshot();
    assert_eq!(recorded.gauge(BREAKER_STATE, &[("breaker", "b")]), 4.0);
    assert_eq!(
        recorded.counter(
            BREAKER_TRANSITIONS,
            &[
                ("breaker", "b"),
                ("from", "forced_open"),
                ("to", "forced_closed"),
                ("reason", "forced_closed")
            ]
        ),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn deadline_expiries_are_counted_by_layer() {
    let recording = Recording::start();
    // The budget runs out while the upstream hangs.
    let hanging = Upstream::new([Step::Hang]);
    let error = TimeoutBudgetLayer::new(Duration::from_secs(1))
        .layer(hanging)
        .oneshot(request())
        .await
        .unwrap_err();
    assert!(error.is::<tower_failover::deadline::DeadlineExceeded>());
    // An attempt's own limit, then an attempt cut by the deadline.
    let slow = Upstream::new([ok().after(Duration::from_secs(5))]);
    let service = ServiceBuilder::new()
        .layer(TimeoutBudgetLayer::new(Duration::from_secs(3)))
        .layer(RetryLayer::new(
            RetryPolicy::builder()
                .max_attempts(2)
                .backoff(Backoff::none())
                .no_budget()
                .build()
                .unwrap(),
        ))
        .layer(AttemptTimeoutLayer::new(Duration::from_secs(2)))
        .service(slow.clone());
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<tower_failover::deadline::DeadlineExceeded>());
    assert_eq!(slow.call_count(), 2);

    let recorded = recording.snapshot();
    assert_eq!(
        recorded.counter(DEADLINE_EXCEEDED, &[("layer", "timeout_budget")]),
        1
    );
    assert_eq!(
        recorded.counter(DEADLINE_EXCEEDED, &[("layer", "attempt_timeout")]),
        1
    );
    assert_eq!(recorded.counter(ATTEMPT_TIMEOUTS, &[]), 1);
    assert_eq!(recorded.counter(RETRIES, &[("kind", "timeout")]), 1);
    assert_eq!(
        recorded.counter(ATTEMPTS, &[("outcome", "budget_exhausted")]),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_fallback_out_of_time_counts_a_deadline() {
    let recording = Recording::start();
    let primary = Upstream::new([Step::Hang]);
    let layer = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", Upstream::new([ok()])))
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(TimeoutBudgetLayer::new(Duration::from_secs(4)))
        .layer(layer)
        .service(primary);
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<tower_failover::deadline::DeadlineExceeded>());

    let recorded = recording.snapshot();
    assert_eq!(
        recorded.counter(DEADLINE_EXCEEDED, &[("layer", "fallback")]),
        1
    );
    assert_eq!(
        recorded.counter(DEADLINE_EXCEEDED, &[("layer", "timeout_budget")]),
        0,
        "the fallback answered at the deadline, before the budget's timer"
    );
    assert_eq!(
        recorded.histogram(
            TIER_DURATION,
            &[("tier", "primary"), ("outcome", "failure")]
        ),
        [4.0]
    );
    assert_eq!(recorded.total(FALLBACKS), 0);
}

#[tokio::test(start_paused = true)]
async fn label_values_are_exactly_the_documented_ones() {
    let recording = Recording::start();
    let primary = Upstream::new([status(503)]);
    let backup = Upstream::new([ok()]);
    let tier = |upstream: Upstream, name: &'static str| {
        ServiceBuilder::new()
            .map_err(tower_failover::BoxError::from)
            .layer(RetryLayer::new(policy(2)))
            .layer(CircuitBreakerLayer::new(
                BreakerConfig::builder().name(name).build().unwrap(),
            ))
            .service(upstream)
    };
    let layer = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", tier(backup, "backup-breaker")))
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(TimeoutBudgetLayer::new(Duration::from_secs(30)))
        .layer(layer)
        .service(tier(primary, "primary-breaker"));
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 200);

    let recorded = recording.snapshot();
    let sets = |name| {
        recorded
            .label_sets(name)
            .into_iter()
            .map(|set| {
                set.into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(sets(ATTEMPTS), ["outcome=success", "outcome=transient"]);
    assert_eq!(sets(RETRIES), ["kind=transient"]);
    assert_eq!(sets(RETRIES_GIVEN_UP), ["reason=max_attempts"]);
    assert_eq!(sets(FALLBACKS), ["from=primary,kind=transient,to=backup"]);
    assert_eq!(sets(SERVED), ["tier=backup", "tier=primary"]);
    assert_eq!(
        sets(TIER_DURATION),
        [
            "outcome=cancelled,tier=backup",
            "outcome=cancelled,tier=primary",
            "outcome=failure,tier=backup",
            "outcome=failure,tier=primary",
            "outcome=success,tier=backup",
            "outcome=success,tier=primary",
        ]
    );
    assert_eq!(
        sets(BREAKER_STATE),
        ["breaker=backup-breaker", "breaker=primary-breaker"]
    );
    assert_eq!(
        sets(BREAKER_REJECTIONS),
        ["breaker=backup-breaker", "breaker=primary-breaker"]
    );
    assert_eq!(recorded.counter(ATTEMPTS, &[("outcome", "transient")]), 2);
    assert_eq!(recorded.counter(ATTEMPTS, &[("outcome", "success")]), 1);
    assert_eq!(recorded.counter(SERVED, &[("tier", "backup")]), 1);
    assert_eq!(recorded.counter(SERVED, &[("tier", "primary")]), 0);
}

#[test]
fn nothing_is_recorded_into_a_recorder_installed_elsewhere() {
    // Built and called with no recorder on this thread: a recorder
    // installed afterwards sees nothing of the layers built before it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let layer = CircuitBreakerLayer::new(BreakerConfig::builder().name("early").build().unwrap());
    let handle = layer.handle();
    let recording = Recording::start();
    runtime.block_on(async {
        handle.force_open();
    });
    let recorded = recording.snapshot();
    assert!(
        recorded
            .find(BREAKER_STATE, &[("breaker", "early")])
            .is_none()
    );
    assert_eq!(
        recorded.total(BREAKER_TRANSITIONS),
        1,
        "cold-path counters use the recorder in place when they are recorded"
    );
}

/// The layers of one fallback tier in the tests below: an attempt limit of
/// 10 s, longer than any tier timeout here.
fn attempt_limited(upstream: Upstream) -> tower_failover::deadline::AttemptTimeout<Upstream> {
    AttemptTimeoutLayer::new(Duration::from_secs(10)).layer(upstream)
}

#[tokio::test(start_paused = true)]
async fn an_attempt_cut_by_a_tier_timeout_counts_the_tier_not_the_deadline() {
    let recording = Recording::start();
    let primary = Upstream::new([Step::Hang]);
    let backup = Upstream::new([ok()]);
    let layer = FallbackLayer::builder("primary")
        .primary_timeout(Duration::from_secs(2))
        .tier(Tier::new("backup", attempt_limited(backup.clone())))
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(TimeoutBudgetLayer::new(Duration::from_secs(30)))
        .layer(layer)
        .service(attempt_limited(primary));
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(backup.call_count(), 1);

    let recorded = recording.snapshot();
    // The attempt limit (10 s) was clipped by the tier's 2 s, not by the
    // call's 30 s budget: the budget was not spent.
    assert_eq!(
        recorded.counter(DEADLINE_EXCEEDED, &[("layer", "fallback_tier")]),
        1
    );
    assert_eq!(
        recorded.counter(DEADLINE_EXCEEDED, &[("layer", "attempt_timeout")]),
        0
    );
    assert_eq!(recorded.total(DEADLINE_EXCEEDED), 1, "counted once");
    assert_eq!(recorded.counter(ATTEMPT_TIMEOUTS, &[]), 0);
    assert_eq!(
        recorded.histogram(
            TIER_DURATION,
            &[("tier", "primary"), ("outcome", "failure")]
        ),
        [2.0]
    );
}

#[tokio::test(start_paused = true)]
async fn a_fallback_tier_timeout_counts_the_tier() {
    let recording = Recording::start();
    // No attempt limit below: the fallback's own timer ends the tier.
    let primary = Upstream::new([Step::Hang]);
    let layer = FallbackLayer::builder("primary")
        .primary_timeout(Duration::from_secs(2))
        .tier(Tier::new("backup", Upstream::new([ok()])))
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(TimeoutBudgetLayer::new(Duration::from_secs(30)))
        .layer(layer)
        .service(primary);
    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 200);

    let recorded = recording.snapshot();
    assert_eq!(
        recorded.counter(DEADLINE_EXCEEDED, &[("layer", "fallback_tier")]),
        1
    );
    assert_eq!(recorded.total(DEADLINE_EXCEEDED), 1);
    assert_eq!(
        recorded.counter(
            FALLBACKS,
            &[("from", "primary"), ("to", "backup"), ("kind", "timeout")]
        ),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn the_logical_deadline_inside_a_tier_keeps_its_label() {
    let recording = Recording::start();
    // The tier's timeout (20 s) is longer than the budget (3 s): the
    // attempt is cut by the logical deadline.
    let primary = Upstream::new([Step::Hang]);
    let layer = FallbackLayer::builder("primary")
        .primary_timeout(Duration::from_secs(20))
        .tier(Tier::new("backup", attempt_limited(Upstream::new([ok()]))))
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(TimeoutBudgetLayer::new(Duration::from_secs(3)))
        .layer(layer)
        .service(attempt_limited(primary));
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<tower_failover::deadline::DeadlineExceeded>());

    let recorded = recording.snapshot();
    assert_eq!(
        recorded.counter(DEADLINE_EXCEEDED, &[("layer", "attempt_timeout")]),
        1
    );
    // The fallback returned the tier's `DeadlineExceeded`: already counted.
    assert_eq!(
        recorded.total(DEADLINE_EXCEEDED),
        1,
        "{:?}",
        recorded.label_sets(DEADLINE_EXCEEDED)
    );
}

#[tokio::test(start_paused = true)]
async fn a_tier_failing_after_the_deadline_counts_the_fallback_expiry() {
    let recording = Recording::start();
    // The primary's failure arrives at the deadline: no time is left to
    // fall back, and the fallback layer returns `DeadlineExceeded` itself.
    let primary =
        Upstream::new(
            [io_error(std::io::ErrorKind::ConnectionReset).after(Duration::from_secs(3))],
        );
    let backup = Upstream::new([ok()]);
    let layer = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", backup.clone()))
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(TimeoutBudgetLayer::new(Duration::from_secs(3)))
        .layer(layer)
        .service(primary);
    let error = service.oneshot(request()).await.unwrap_err();
    assert!(error.is::<tower_failover::deadline::DeadlineExceeded>());
    assert_eq!(backup.call_count(), 0);

    let recorded = recording.snapshot();
    assert_eq!(
        recorded.counter(DEADLINE_EXCEEDED, &[("layer", "fallback")]),
        1
    );
    assert_eq!(recorded.total(DEADLINE_EXCEEDED), 1);
}

#[tokio::test(start_paused = true)]
async fn a_new_key_does_not_reset_a_shared_breaker_gauge() {
    let recording = Recording::start();
    let config = BreakerConfig::builder()
        .name("llm")
        .window(Window::count(10))
        .minimum_calls(2)
        .failure_rate_threshold(0.5)
        .open_backoff(OpenBackoff::constant(Duration::from_secs(30)))
        .build()
        .unwrap();
    let key = |request: &http::Request<String>| request.uri().path().to_owned();
    let layer = KeyedCircuitBreakerLayer::new(config, key);
    let handle = layer.handle();
    let upstream = Upstream::new([status(503), status(503), ok()]);
    let mut service = layer.layer(upstream);
    let to = |path: &str| {
        http::Request::builder()
            .uri(path)
            .body(String::new())
            .unwrap()
    };
    for _ in 0..2 {
        let response = service.ready().await.unwrap().call(to("/a")).await;
        assert_eq!(response.unwrap().status(), 503);
    }
    assert_eq!(handle.get("/a").unwrap().state(), State::Open);
    // A second key's breaker shares the name (no `name_with`): it must not
    // report "closed" over the open one. (One snapshot only: reading a
    // gauge from the debugging recorder resets it.)
    let response = service.ready().await.unwrap().call(to("/b")).await;
    assert_eq!(response.unwrap().status(), 200);
    assert_eq!(handle.get("/b").unwrap().state(), State::Closed);
    assert_eq!(
        recording
            .snapshot()
            .gauge(BREAKER_STATE, &[("breaker", "llm")]),
        2.0
    );
}

#[tokio::test(start_paused = true)]
async fn a_keyed_breaker_with_its_own_name_reports_closed_when_created() {
    let recording = Recording::start();
    let key = |request: &http::Request<String>| request.uri().path().to_owned();
    let layer = KeyedCircuitBreakerLayer::new(BreakerConfig::default(), key)
        .name_with(|path: &String| format!("route{path}"));
    let service = layer.layer(Upstream::new([ok()]));
    let request = http::Request::builder()
        .uri("/a")
        .body(String::new())
        .unwrap();
    service.oneshot(request).await.unwrap();
    assert_eq!(
        recording
            .snapshot()
            .gauge(BREAKER_STATE, &[("breaker", "route/a")]),
        0.0
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_retry_counts_its_attempt_in_flight_as_cancelled() {
    let recording = Recording::start();
    let upstream = Upstream::new([ok(), Step::Hang]);
    let service = RetryLayer::new(policy(3)).layer(upstream.clone());
    // A call that finishes is not cancelled when its future drops.
    service.clone().oneshot(request()).await.unwrap();
    // The caller gives up on a hanging call.
    let call = service.clone().oneshot(request());
    assert!(
        tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .is_err()
    );
    assert_eq!(upstream.live_futures(), 0, "the attempt was dropped");

    let recorded = recording.snapshot();
    assert_eq!(recorded.counter(ATTEMPTS, &[("outcome", "cancelled")]), 1);
    assert_eq!(recorded.counter(ATTEMPTS, &[("outcome", "success")]), 1);
    assert_eq!(recorded.total(ATTEMPTS), 2);
}

#[tokio::test(start_paused = true)]
async fn a_retry_dropped_between_attempts_cancels_nothing() {
    let recording = Recording::start();
    // Dropped during the 100 ms backoff: no attempt is in flight.
    let upstream = Upstream::new([status(503), ok()]);
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(100)).with_jitter(Jitter::None))
        .no_budget()
        .build()
        .unwrap();
    let call = RetryLayer::new(policy)
        .layer(upstream.clone())
        .oneshot(request());
    assert!(
        tokio::time::timeout(Duration::from_millis(50), call)
            .await
            .is_err()
    );
    assert_eq!(upstream.call_count(), 1);

    let recorded = recording.snapshot();
    assert_eq!(recorded.counter(ATTEMPTS, &[("outcome", "cancelled")]), 0);
    assert_eq!(recorded.counter(ATTEMPTS, &[("outcome", "transient")]), 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_fallback_records_its_tier_as_cancelled() {
    let recording = Recording::start();
    let primary = Upstream::new([status(503), Step::Hang]);
    let backup = Upstream::new([ok(), Step::Hang]);
    let layer = FallbackLayer::builder("primary")
        .tier(Tier::new(
            "backup",
            RetryLayer::new(policy(1)).layer(backup.clone()),
        ))
        .build()
        .unwrap();
    let service = layer.layer(RetryLayer::new(policy(1)).layer(primary.clone()));
    // Served by the backup: nothing cancelled.
    let response = service.clone().oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 200);
    // An outer timeout (no `AttemptTimeout` below) ends a hanging primary.
    let call = service.clone().oneshot(request());
    assert!(
        tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .is_err()
    );
    assert_eq!(primary.live_futures(), 0);

    let recorded = recording.snapshot();
    assert_eq!(
        recorded.histogram(
            TIER_DURATION,
            &[("tier", "primary"), ("outcome", "cancelled")]
        ),
        [5.0]
    );
    assert!(
        recorded
            .histogram(
                TIER_DURATION,
                &[("tier", "backup"), ("outcome", "cancelled")]
            )
            .is_empty()
    );
    // The primary's retry layer lost its attempt in flight too.
    assert_eq!(recorded.counter(ATTEMPTS, &[("outcome", "cancelled")]), 1);
}

#[tokio::test(start_paused = true)]
async fn a_budget_below_a_tighter_tier_timeout_counts_the_tier() {
    let recording = Recording::start();
    // A per-tier budget of 10 s below a tier timeout of 2 s: the tier's
    // deadline is the tighter, and it is what ends the call.
    let budgeted =
        |upstream: Upstream| TimeoutBudgetLayer::new(Duration::from_secs(10)).layer(upstream);
    let layer = FallbackLayer::builder("primary")
        .primary_timeout(Duration::from_secs(2))
        .tier(Tier::new("backup", budgeted(Upstream::new([ok()]))))
        .build()
        .unwrap();
    let response = layer
        .layer(budgeted(Upstream::new([Step::Hang])))
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let recorded = recording.snapshot();
    assert_eq!(
        recorded.counter(DEADLINE_EXCEEDED, &[("layer", "fallback_tier")]),
        1
    );
    assert_eq!(recorded.total(DEADLINE_EXCEEDED), 1);
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[tokio::test(start_paused = true)]
async fn a_hedge_sent_and_won_is_counted_under_the_layers_name() {
    let recording = Recording::start();
    // The first call answers before the delay; the second's first attempt
    // hangs, and its hedge answers.
    let upstream = Upstream::new([ok().after(ms(50)), Step::Hang, ok().after(ms(20))]);
    let config = HedgeConfig::builder(HedgeDelay::Fixed(ms(100)))
        .name("openai")
        .build()
        .unwrap();
    let service = HedgeLayer::new(config).layer(upstream.clone());
    let response = service.clone().oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 200);

    let recorded = recording.snapshot();
    assert_eq!(
        recorded.total(HEDGES),
        0,
        "a call answered before the delay records nothing"
    );
    let outcomes = |recorded: &Recorded| {
        ["sent", "won", "budget_exhausted", "deadline", "not_ready"]
            .map(|outcome| recorded.counter(HEDGES, &[("hedge", "openai"), ("outcome", outcome)]))
    };
    assert_eq!(outcomes(&recorded), [0; 5]);
    assert_eq!(
        recorded.gauge(HEDGE_DELAY, &[("hedge", "openai")]),
        0.1,
        "the fixed delay"
    );

    let response = service.oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.call_count(), 3);
    let recorded = recording.snapshot();
    assert_eq!(outcomes(&recorded), [1, 1, 0, 0, 0]);
    assert_eq!(
        recorded
            .label_sets(HEDGES)
            .into_iter()
            .map(|set| set
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","))
            .collect::<Vec<_>>(),
        [
            "hedge=openai,outcome=budget_exhausted",
            "hedge=openai,outcome=deadline",
            "hedge=openai,outcome=not_ready",
            "hedge=openai,outcome=sent",
            "hedge=openai,outcome=won",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn hedges_given_up_for_the_budget_or_the_deadline_are_counted() {
    let recording = Recording::start();
    // Half a hedge per call, no floor: every second call may be hedged.
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.5).unwrap();
    let upstream = Upstream::new([ok().after(ms(500))]);
    let config = HedgeConfig::builder(HedgeDelay::Fixed(ms(100)))
        .budget(budget)
        .build()
        .unwrap();
    let handle = config.handle();
    let service = HedgeLayer::new(config).layer(upstream.clone());
    for _ in 0..4 {
        let response = service.clone().oneshot(request()).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(handle.suppressed_by_budget(), 2);

    // The deadline is before the delay: no hedge, at the call.
    let short = ServiceBuilder::new()
        .layer(TimeoutBudgetLayer::new(ms(80)))
        .layer(HedgeLayer::new(
            HedgeConfig::builder(HedgeDelay::Fixed(ms(100)))
                .name("short")
                .build()
                .unwrap(),
        ))
        .service(Upstream::new([Step::Hang]));
    short.oneshot(request()).await.unwrap_err();
    // The deadline falls between the first hedge and the second: the
    // second is given up when the timer is armed for it.
    let between = ServiceBuilder::new()
        .layer(TimeoutBudgetLayer::new(ms(150)))
        .layer(HedgeLayer::new(
            HedgeConfig::builder(HedgeDelay::Fixed(ms(100)))
                .name("between")
                .max_hedges(3)
                .build()
                .unwrap(),
        ))
        .service(Upstream::new([Step::Hang]));
    between.oneshot(request()).await.unwrap_err();

    let recorded = recording.snapshot();
    // Unnamed: the default name.
    let count =
        |hedge, outcome| recorded.counter(HEDGES, &[("hedge", hedge), ("outcome", outcome)]);
    assert_eq!(count("hedge", "budget_exhausted"), 2);
    assert_eq!(count("hedge", "sent"), 2);
    assert_eq!(
        count("hedge", "won"),
        0,
        "the first attempts answered first"
    );
    assert_eq!(count("hedge", "deadline"), 0);
    assert_eq!(count("short", "deadline"), 1);
    assert_eq!(count("short", "sent"), 0);
    assert_eq!(count("between", "sent"), 1);
    assert_eq!(count("between", "deadline"), 1);
    assert_eq!(recorded.total(HEDGES), 7);
}

#[tokio::test(start_paused = true)]
async fn the_delay_gauge_follows_a_percentile_delay() {
    let recording = Recording::start();
    let upstream = Upstream::new([ok().after(ms(20))]);
    let config = HedgeConfig::builder(HedgeDelay::Percentile {
        p: 90.0,
        min_samples: 10,
        fallback: ms(300),
    })
    .name("anthropic")
    .build()
    .unwrap();
    let handle = config.handle();
    let service = HedgeLayer::new(config).layer(upstream);
    // (A snapshot resets gauges to 0: each is read once.)
    let gauge = || {
        recording
            .snapshot()
            .gauge(HEDGE_DELAY, &[("hedge", "anthropic")])
    };
    assert_eq!(gauge(), 0.3, "the fallback until min_samples");
    for _ in 0..9 {
        service.clone().oneshot(request()).await.unwrap();
    }
    assert_eq!(gauge(), 0.0, "not set again before min_samples");
    service.clone().oneshot(request()).await.unwrap();
    let delay = handle.current_delay();
    assert!((ms(20)..=ms(25)).contains(&delay), "{delay:?}");
    assert_eq!(gauge(), delay.as_secs_f64());
    assert_eq!(recording.snapshot().total(HEDGES), 0);
}

/// A hedge service that is never ready: its `poll_ready` fails.
#[derive(Clone, Debug)]
struct Broken;

impl Service<http::Request<String>> for Broken {
    type Response = http::Response<TrackedBody>;
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
async fn a_hedge_service_that_fails_to_get_ready_is_counted() {
    let recording = Recording::start();
    let primary = Upstream::new([ok().after(ms(300))]);
    let layer = HedgeLayer::new(
        HedgeConfig::builder(HedgeDelay::Fixed(ms(100)))
            .name("backup")
            .build()
            .unwrap(),
    )
    .alternate(Broken);
    let response = layer.layer(primary).oneshot(request()).await.unwrap();
    assert_eq!(response.status(), 200);

    let recorded = recording.snapshot();
    let count = |outcome| recorded.counter(HEDGES, &[("hedge", "backup"), ("outcome", outcome)]);
    assert_eq!(count("not_ready"), 1);
    assert_eq!(count("sent"), 0);
    assert_eq!(recorded.total(HEDGES), 1);
}
