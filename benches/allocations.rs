#![allow(missing_docs)]
#![allow(unsafe_code)] // a counting global allocator
//! Heap allocations per call for each layer, counted by a global allocator:
//! `cargo bench --bench allocations`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "support/stacks.rs"]
mod stacks;

#[path = "support/llm.rs"]
mod upstreams;

use stacks::*;
use tower::Layer;
use tower_failover::llm::error_body::ErrorBodyLayer;
use tower_failover::llm::sse::SseGuardLayer;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CALLS: usize = 10_000;

fn per_call<S: tower::Service<Request>>(mut service: S) -> f64 {
    // Warm up (lazy thread-locals, first-use allocations).
    for i in 0..100 {
        stacks::call(&mut service, i);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 0..CALLS as u64 {
        std::hint::black_box(stacks::call(&mut service, i));
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / CALLS as f64
}

/// Like [`per_call`], for HTTP services whose response body is read to its
/// end in each call.
fn per_http_call<S, B>(mut service: S) -> f64
where
    S: tower::Service<http::Request<()>, Response = http::Response<B>>,
    B: http_body::Body,
{
    for _ in 0..100 {
        upstreams::call_and_drain(&mut service);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..CALLS {
        std::hint::black_box(upstreams::call_and_drain(&mut service));
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / CALLS as f64
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    println!("| service (happy path, Copy request) | allocations per call |");
    println!("|---|---|");
    let rows: [(&str, f64); 17] = [
        ("bare", per_call(upstream(false))),
        ("retry", per_call(retry(false))),
        ("tower_retry", per_call(tower_retry(false))),
        ("timeout_budget", per_call(timeout_budget())),
        ("attempt_timeout", per_call(attempt_timeout())),
        ("tower_timeout", per_call(tower_timeout())),
        ("breaker, closed", per_call(breaker_closed())),
        (
            "breaker, closed, 1,000-bucket time window",
            per_call(breaker_closed_time_window()),
        ),
        (
            "stack (budget → retry → breaker → attempt timeout)",
            per_call(stack()),
        ),
        (
            "breaker rejection, forced open",
            per_call(breaker_open(true)),
        ),
        (
            "breaker rejection, timed open",
            per_call(breaker_open(false)),
        ),
        ("retry, firing twice (zero backoff)", per_call(retry(true))),
        ("fallback", per_call(fallback(false))),
        ("fallback, tier 2 serving", per_call(fallback(true))),
        (
            "fallback, `ServedBy` in an `http::Response`'s extensions",
            per_call(fallback_http()),
        ),
        (
            "full stack (budget → fallback → retry → breaker → attempt timeout)",
            per_call(full_stack(false)),
        ),
        (
            "full stack, primary down (its breaker open), tier 2 serving",
            per_call(full_stack(true)),
        ),
    ];
    for (name, allocations) in rows {
        println!("| {name} | {allocations:.2} |");
    }

    // The `llm` layers, each call's body read to its end.
    let json = || upstreams::http_upstream(200, "{\"id\":\"chatcmpl-1\"}");
    let guard = || {
        SseGuardLayer::builder()
            .first_event_timeout(std::time::Duration::from_secs(30))
            .idle_timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap()
    };
    println!();
    println!("| HTTP service (body read to its end) | allocations per call |");
    println!("|---|---|");
    let rows = [
        ("bare, a 200 with a JSON body", per_http_call(json())),
        (
            "`ErrorBody`, a success (passed through)",
            per_http_call(ErrorBodyLayer::new().layer(json())),
        ),
        (
            "`ErrorBody`, a 429 `insufficient_quota` (read and parsed)",
            per_http_call(
                ErrorBodyLayer::new().layer(upstreams::http_upstream(429, upstreams::QUOTA)),
            ),
        ),
        (
            "`SseGuard`, not an event stream (passed through)",
            per_http_call(guard().layer(json())),
        ),
        (
            "`SseGuard`, a three-event stream",
            per_http_call(guard().layer(upstreams::sse_upstream())),
        ),
    ];
    for (name, allocations) in rows {
        println!("| {name} | {allocations:.2} |");
    }

    // What each layer's call moves around: the size of its response future.
    fn future_size<S: tower::Service<Request>>(_: &S) -> usize {
        std::mem::size_of::<S::Future>()
    }
    println!();
    println!("| response future | bytes |");
    println!("|---|---|");
    let sizes = [
        (
            "`tokio::time::Sleep` (one timer)",
            std::mem::size_of::<tokio::time::Sleep>(),
        ),
        ("retry", future_size(&retry(false))),
        ("fallback", future_size(&fallback(false))),
        (
            "stack (budget → retry → breaker → attempt timeout)",
            future_size(&stack()),
        ),
        (
            "full stack (budget → fallback → retry → breaker → attempt timeout)",
            future_size(&full_stack(false)),
        ),
    ];
    for (name, bytes) in sizes {
        println!("| {name} | {bytes} |");
    }

    hedge();
    peers(&runtime);
}

/// tower's hedge policy: every request may be hedged, copied as it is.
#[derive(Clone, Copy)]
struct TowerHedgePolicy;

impl tower::hedge::Policy<Request> for TowerHedgePolicy {
    fn clone_request(&self, request: &Request) -> Option<Request> {
        Some(*request)
    }

    fn can_retry(&self, _: &Request) -> bool {
        true
    }
}

/// The hedge layers on the happy path (the first attempt answers at once,
/// no hedge sent), beside tower's `Hedge`.
fn hedge() {
    use std::time::Duration;
    use tower_failover::hedge::{AlwaysHedge, HedgeConfig, HedgeDelay, HedgeLayer};

    fn future_size<S: tower::Service<Request>>(_: &S) -> usize {
        std::mem::size_of::<S::Future>()
    }
    let ours = |delay: HedgeDelay| {
        let config = HedgeConfig::builder(delay)
            .should_hedge(AlwaysHedge)
            .build()
            .expect("a valid config");
        HedgeLayer::new(config).layer(upstream_http())
    };
    let fixed = || ours(HedgeDelay::Fixed(Duration::from_millis(100)));
    let percentile = || {
        ours(HedgeDelay::Percentile {
            p: 95.0,
            min_samples: 10,
            fallback: Duration::from_millis(100),
        })
    };
    let tower_hedge = || {
        tower::hedge::Hedge::new::<Request>(
            upstream_http(),
            TowerHedgePolicy,
            10,
            95.0,
            Duration::from_secs(10),
        )
    };
    println!();
    println!(
        "| hedge (happy path, no hedge sent) | allocations per call | response future, bytes |"
    );
    println!("|---|---|---|");
    let rows = [
        (
            "bare `service_fn`",
            per_call(upstream_http()),
            future_size(&upstream_http()),
        ),
        (
            "`Hedge`, fixed delay",
            per_call(fixed()),
            future_size(&fixed()),
        ),
        (
            "`Hedge`, p95 delay",
            per_call(percentile()),
            future_size(&percentile()),
        ),
        (
            "tower `hedge::Hedge` (p95 over 10 s)",
            per_call(tower_hedge()),
            future_size(&tower_hedge()),
        ),
    ];
    for (name, allocations, bytes) in rows {
        println!("| {name} | {allocations:.2} | {bytes} |");
    }
}

/// Allocations and bytes allocated per call of `service`, each call driven
/// by `drive` (after a warm-up), and the size of its response future.
fn measure<S: tower::Service<Request>>(
    mut service: S,
    mut drive: impl FnMut(&mut S, Request) -> bool,
) -> (f64, f64, usize) {
    for i in 0..100 {
        assert!(drive(&mut service, i), "the call completes");
    }
    let (allocations, bytes) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    for i in 0..CALLS as u64 {
        std::hint::black_box(drive(&mut service, i));
    }
    (
        (ALLOCATIONS.load(Ordering::Relaxed) - allocations) as f64 / CALLS as f64,
        (BYTES.load(Ordering::Relaxed) - bytes) as f64 / CALLS as f64,
        std::mem::size_of::<S::Future>(),
    )
}

/// Each layer next to its peers' equivalents (issue 7), happy and failure
/// paths. Most calls complete within one poll; a tower-resilience retry
/// that fires waits for a timer tick even with zero backoff, so the retry
/// and stack failure rows are driven by the runtime (`block_on`), with the
/// bare upstream driven the same way as their floor.
fn peers(runtime: &tokio::runtime::Runtime) {
    use tower::ServiceExt as _;

    fn polled<S: tower::Service<Request>>(service: S) -> (f64, f64, usize) {
        measure(service, |service, request| {
            std::hint::black_box(stacks::call(service, request)).is_some()
        })
    }
    fn rejected<S: tower::Service<Request>>(service: S) -> (f64, f64, usize) {
        measure(service, |service, request| {
            std::hint::black_box(stacks::call(service, request)).is_none()
        })
    }
    fn driven<S: tower::Service<Request>>(
        runtime: &tokio::runtime::Runtime,
        service: S,
    ) -> (f64, f64, usize) {
        measure(service, |service, request| {
            runtime
                .block_on(async {
                    let ready = service.ready().await.ok()?;
                    std::hint::black_box(ready.call(request).await.ok())
                })
                .is_some()
        })
    }

    println!();
    println!(
        "| layer | service | allocations per call | bytes allocated per call | response future, bytes |"
    );
    println!("|---|---|---|---|---|");
    let rows = [
        (
            "retry, not firing",
            "tower-failover `Retry`",
            polled(retry(false)),
        ),
        ("", "tower `Retry`", polled(tower_retry(false))),
        (
            "",
            "tower-resilience `Retry`",
            polled(resilience_retry(false)),
        ),
        (
            "timeout",
            "tower-failover `AttemptTimeout`",
            polled(attempt_timeout()),
        ),
        (
            "",
            "tower-failover `TimeoutBudget`",
            polled(timeout_budget()),
        ),
        ("", "tower `Timeout`", polled(tower_timeout())),
        (
            "",
            "tower-resilience `TimeLimiter`",
            polled(resilience_time_limiter()),
        ),
        (
            "breaker, closed",
            "tower-failover `CircuitBreaker`",
            polled(breaker_closed()),
        ),
        (
            "",
            "tower-resilience `CircuitBreaker`",
            polled(resilience_breaker(false)),
        ),
        ("", "failsafe `StateMachine`", polled(failsafe_closed())),
        (
            "breaker, rejection",
            "tower-failover, forced open",
            rejected(breaker_open(true)),
        ),
        (
            "",
            "tower-failover, timed open",
            rejected(breaker_open(false)),
        ),
        (
            "",
            "tower-resilience, forced open",
            rejected(resilience_breaker(true)),
        ),
        ("", "failsafe, timed open", rejected(failsafe_open())),
        (
            "fallback, primary serving",
            "tower-failover `Fallback`",
            polled(fallback(false)),
        ),
        (
            "",
            "tower-resilience `ServiceFallback`",
            polled(resilience_fallback(false)),
        ),
        (
            "fallback, firing",
            "tower-failover `Fallback`",
            polled(fallback(true)),
        ),
        (
            "",
            "tower-resilience `ServiceFallback`",
            polled(resilience_fallback(true)),
        ),
        (
            "full stack, happy path",
            "tower-failover",
            polled(full_stack(false)),
        ),
        ("", "tower-resilience", polled(resilience_full_stack(false))),
        (
            "(driven by `block_on`) floor",
            "bare upstream",
            driven(runtime, upstream(false)),
        ),
        (
            "retry, firing twice (zero backoff)",
            "tower-failover `Retry` (no budget)",
            driven(runtime, retry_no_budget(true)),
        ),
        ("", "tower `Retry`", driven(runtime, tower_retry(true))),
        (
            "",
            "tower-resilience `Retry`",
            driven(runtime, resilience_retry(true)),
        ),
        (
            "full stack, primary down, tier 2 serving",
            "tower-failover",
            driven(runtime, full_stack(true)),
        ),
        (
            "",
            "tower-resilience",
            driven(runtime, resilience_full_stack(true)),
        ),
    ];
    for (layer, service, (allocations, bytes, future)) in rows {
        println!("| {layer} | {service} | {allocations:.2} | {bytes:.0} | {future} |");
    }
}
