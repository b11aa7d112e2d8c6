//! Circuit-breaker overhead (issue 3): this crate's breaker closed, open
//! (rejection) and under two-thread contention, side by side with
//! tower-resilience's circuit breaker and failsafe's, around the same
//! `tower::service_fn`, in one run.
//!
//! `cargo bench --bench overhead -- breaker`
//!
//! Every case awaits `ready()` then `call()` inside one `block_on` per
//! batch, so executor overhead is paid once per batch, not per call.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::stacks::time_calls;
use criterion::Criterion;
use failsafe::futures::CircuitBreaker as _;
use http::Response;
use tower::{Service, ServiceExt, service_fn};
use tower_failover::circuit_breaker::{BreakerConfig, CircuitBreaker, OpenBackoff, Window};

fn upstream() -> impl Service<
    u64,
    Response = Response<()>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<()>, Infallible>> + Send,
> + Clone
+ Send {
    service_fn(|_: u64| async { Ok::<_, Infallible>(Response::new(())) })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
}

fn ours()
-> CircuitBreaker<impl Service<u64, Response = Response<()>, Error = Infallible> + Clone + Send> {
    let config = BreakerConfig::builder()
        .name("bench")
        .window(Window::count(100))
        .build()
        .expect("a valid config");
    CircuitBreaker::new(upstream(), config)
}

pub(crate) fn benches(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("breaker");

    // The baseline: the bare service.
    let mut bare = upstream();
    group.bench_function("bare service_fn", |b| {
        b.iter_custom(|iters| time_calls(&runtime, &mut bare, iters));
    });

    // This crate.
    let mut closed = ours();
    group.bench_function("tower-failover closed", |b| {
        b.iter_custom(|iters| time_calls(&runtime, &mut closed, iters));
    });
    let mut open = ours();
    open.handle().force_open();
    group.bench_function("tower-failover open (rejection)", |b| {
        b.iter_custom(|iters| time_calls(&runtime, &mut open, iters));
    });
    {
        // A real (timed) opening: the rejection path reads the clock.
        // Open for an hour: the whole run measures rejections, never probes.
        let config = BreakerConfig::builder()
            .window(Window::count(1))
            .minimum_calls(1)
            .open_backoff(OpenBackoff::constant(Duration::from_secs(3600)))
            .build()
            .expect("a valid config");
        let failing = service_fn(|_: u64| async {
            Ok::<_, Infallible>(
                Response::builder()
                    .status(503)
                    .body(())
                    .expect("a response"),
            )
        });
        let mut breaker = CircuitBreaker::new(failing, config);
        time_calls(&runtime, &mut breaker, 1);
        assert!(
            breaker.handle().metrics().retry_after.is_some(),
            "the breaker is open"
        );
        let mut rejecting = breaker;
        group.bench_function("tower-failover open, timed (rejection)", |b| {
            b.iter_custom(|iters| time_calls(&runtime, &mut rejecting, iters));
        });
    }
    group.bench_function("tower-failover closed, 2 threads", |b| {
        b.iter_custom(|iters| {
            let shared = ours();
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let mut service = shared.clone();
                    std::thread::spawn(move || {
                        time_calls(&runtime_for_thread(), &mut service, iters)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("bench thread"))
                .max()
                .unwrap_or_default()
        });
    });

    // tower-resilience.
    let layer = tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .build()
        .expect("a valid config");
    let mut resilience_closed = tower::Layer::layer(&layer, upstream());
    group.bench_function("tower-resilience closed", |b| {
        b.iter_custom(|iters| time_calls(&runtime, &mut resilience_closed, iters));
    });
    let mut resilience_open = tower::Layer::layer(&layer, upstream());
    runtime.block_on(resilience_open.force_open());
    group.bench_function("tower-resilience open (rejection)", |b| {
        b.iter_custom(|iters| time_calls(&runtime, &mut resilience_open, iters));
    });

    // failsafe: the same service, called through its futures API.
    let failsafe_closed = failsafe::Config::new().build();
    let mut service = upstream();
    group.bench_function("failsafe closed", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let Ok(ready) = service.ready().await;
                    let _ = black_box(failsafe_closed.call(ready.call(black_box(i))).await);
                }
                start.elapsed()
            })
        });
    });
    let failsafe_open = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            1,
            failsafe::backoff::constant(Duration::from_secs(3_600)),
        ))
        .build();
    runtime.block_on(async {
        let _ = failsafe_open.call(async { Err::<(), ()>(()) }).await;
    });
    assert!(
        !failsafe_open.is_call_permitted(),
        "failsafe breaker is open"
    );
    group.bench_function("failsafe open (rejection)", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let Ok(ready) = service.ready().await;
                    let _ = black_box(failsafe_open.call(ready.call(black_box(i))).await);
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

fn runtime_for_thread() -> tokio::runtime::Runtime {
    runtime()
}
