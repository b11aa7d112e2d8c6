//! The peers' equivalents of each layer (issue 7), in the same harness as
//! `happy_path`, `retry_fires`, `fallback_fires` and `breaker_rejects`
//! (`poll_ready` + `call` + one poll with a no-op waker), around the same
//! upstream, so that each `peers/*` figure compares with this crate's
//! figure of the same run:
//!
//! `cargo bench --bench overhead -- 'happy_path|retry_fires|fallback_fires|breaker_rejects|breaker/|peers'`
//!
//! tower's retry and timeout are already in those groups; here are
//! tower-resilience's retry, time limiter, circuit breaker, fallback and
//! their stack, and failsafe's breaker.

use std::hint::black_box;

use criterion::Criterion;
use tower::{Service as _, ServiceExt as _};

use crate::stacks::*;

pub(crate) fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("peers");

    // Every case must complete within one poll with the expected answer
    // (`None`: rejected), or the bench would time an unfinished or a
    // different call: check each once before measuring it.
    macro_rules! bench {
        ($name:literal, $service:expr, $expected:expr) => {{
            let mut service = $service;
            assert_eq!(
                call(&mut service, 1),
                $expected,
                concat!($name, ": the answer within one poll")
            );
            group.bench_function($name, |b| b.iter(|| call(&mut service, black_box(1))));
        }};
    }
    // Happy path.
    bench!("resilience_retry", resilience_retry(false), Some(2));
    bench!(
        "resilience_time_limiter",
        resilience_time_limiter(),
        Some(2)
    );
    bench!(
        "resilience_breaker_closed",
        resilience_breaker(false),
        Some(2)
    );
    bench!("failsafe_closed", failsafe_closed(), Some(2));
    bench!("resilience_fallback", resilience_fallback(false), Some(2));
    bench!(
        "resilience_full_stack",
        resilience_full_stack(false),
        Some(2)
    );
    // Failure path: rejections (an `Err`), a retry firing twice with zero
    // backoff, the fallback serving, the primary down in the stack.
    bench!("resilience_breaker_open", resilience_breaker(true), None);
    bench!("failsafe_open", failsafe_open(), None);
    bench!(
        "resilience_fallback_fires",
        resilience_fallback(true),
        Some(2)
    );
    // tower-resilience's retry awaits `tokio::time::sleep` even for a zero
    // backoff, which is pending until the timer's next 1 ms tick: a retry
    // that fires cannot complete within one poll. It is measured below.
    assert!(call(&mut resilience_retry(true), 1).is_none());
    group.finish();
    driven(c, &runtime);
}

/// Retries that fire with zero backoff, each call driven to completion by
/// the runtime (one `block_on` per batch, `ready().await` then
/// `call().await`, as in `breaker/`), this crate's and tower's next to
/// tower-resilience's, with the bare upstream as the harness's floor.
fn driven(c: &mut Criterion, runtime: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group("peers_driven");
    // tower-resilience's cases take a timer tick (~1 ms) per retry.
    group.sample_size(10);
    macro_rules! bench {
        ($name:literal, $service:expr, $expected:expr) => {{
            let mut service = $service;
            let response =
                runtime.block_on(async { service.ready().await.ok()?.call(1).await.ok() });
            assert_eq!(response, Some($expected), concat!($name, ": the response"));
            group.bench_function($name, |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let start = std::time::Instant::now();
                        for _ in 0..iters {
                            let ready = match service.ready().await {
                                Ok(ready) => ready,
                                Err(_) => unreachable!("the bench services are always ready"),
                            };
                            let _ = black_box(ready.call(black_box(1)).await);
                        }
                        start.elapsed()
                    })
                })
            });
        }};
    }
    // Every retry below makes three attempts and answers the last failure
    // (`u64::MAX`); in the stacks the primary fails and tier 2 serves.
    bench!("bare", upstream(false), 2);
    bench!("retry_fires", retry_no_budget(true), u64::MAX);
    bench!("tower_retry_fires", tower_retry(true), u64::MAX);
    bench!("resilience_retry_fires", resilience_retry(true), u64::MAX);
    bench!("full_stack_fires", full_stack(true), 2);
    bench!(
        "resilience_full_stack_fires",
        resilience_full_stack(true),
        2
    );
    group.finish();
}
