//! Rate-limiter overhead (issue 8): this crate's shared limiter on the
//! happy path (a rate so high that no call ever waits), side by side with
//! tower's `RateLimit` around the same `tower::service_fn`, in one run.
//!
//! `cargo bench --bench overhead -- rate_limit`
//!
//! Every case awaits `ready()` then `call()` inside one `block_on` per
//! batch, so executor overhead is paid once per batch, not per call.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use crate::stacks::time_calls;
use criterion::Criterion;
use http::Response;
use tower::{Layer, Service, service_fn};
use tower_failover::rate_limit::{NoLimits, RateLimitConfig, RateLimitLayer};

fn upstream() -> impl Service<
    u64,
    Response = Response<()>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<()>, Infallible>> + Send,
> + Clone
+ Send {
    service_fn(|_: u64| async { Ok::<_, Infallible>(Response::new(())) })
}

/// A billion requests a second, and as many at once: never waits.
fn config() -> RateLimitConfig {
    RateLimitConfig::builder()
        .name("bench")
        .requests(1_000_000_000, Duration::from_secs(1))
        .build()
        .expect("a valid config")
}

pub(crate) fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("rate_limit");

    let mut bare = upstream();
    group.bench_function("bare service_fn", |b| {
        b.iter_custom(|iters| time_calls(&runtime, &mut bare, iters));
    });

    // The clock read the limiter needs, alone.
    group.bench_function("tokio Instant::now", |b| {
        b.iter(|| black_box(tokio::time::Instant::now()));
    });

    let mut ours = RateLimitLayer::new(config())
        .limits_from(NoLimits)
        .layer(upstream());
    group.bench_function("tower-failover admitted", |b| {
        b.iter_custom(|iters| time_calls(&runtime, &mut ours, iters));
    });

    // Adapting: the `Arc` into each future and the header lookups on each
    // (header-less) response.
    let mut adapting = RateLimitLayer::new(config()).layer(upstream());
    group.bench_function("tower-failover admitted, reading headers", |b| {
        b.iter_custom(|iters| time_calls(&runtime, &mut adapting, iters));
    });

    let mut tower_limit =
        tower::limit::RateLimitLayer::new(1_000_000_000, Duration::from_secs(1)).layer(upstream());
    group.bench_function("tower RateLimit", |b| {
        b.iter_custom(|iters| time_calls(&runtime, &mut tower_limit, iters));
    });
    group.finish();
}
