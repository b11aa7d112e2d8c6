#![allow(missing_docs)]
//! Overhead of each layer on the happy and failure paths, side by side with
//! the peers, in one run: `cargo bench --bench overhead`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../support/stacks.rs"]
mod stacks;

mod breaker;
mod hedge;
mod llm;
#[cfg(feature = "metrics")]
mod metrics;
mod peers;
mod rate_limit;

use stacks::*;

fn happy_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("happy_path");

    macro_rules! bench {
        ($name:literal, $service:expr) => {{
            let mut service = $service;
            group.bench_function($name, |b| b.iter(|| call(&mut service, black_box(1))));
        }};
    }
    bench!("bare", upstream(false));
    bench!("retry", retry(false));
    bench!("retry_without_budget", retry_without_budget());
    bench!("tower_retry", tower_retry(false));
    bench!("timeout_budget", timeout_budget());
    bench!("attempt_timeout", attempt_timeout());
    bench!("tower_timeout", tower_timeout());
    bench!("breaker_closed", breaker_closed());
    bench!("breaker_closed_time_window", breaker_closed_time_window());
    bench!("stack", stack());
    bench!("fallback", fallback(false));
    bench!("fallback_least_latency", fallback_least_latency());
    bench!("fallback_weighted", fallback_weighted());
    bench!("bare_http", upstream_http());
    bench!("fallback_http_served_by", fallback_http());
    bench!("full_stack", full_stack(false));
    group.finish();
}

fn failure_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("retry_fires");
    // Three attempts, zero backoff; our budget is disabled so that both
    // layers make all three attempts.
    let mut ours = tower::Layer::layer(
        &tower_failover::retry::RetryLayer::new(
            tower_failover::retry::RetryPolicy::builder()
                .backoff(tower_failover::retry::Backoff::none())
                .no_budget()
                .classifier(
                    classify::<std::convert::Infallible>
                        as fn(&Result<u64, std::convert::Infallible>) -> _,
                )
                .build()
                .unwrap(),
        ),
        upstream(true),
    );
    group.bench_function("retry", |b| b.iter(|| call(&mut ours, black_box(1))));
    let mut theirs = tower_retry(true);
    group.bench_function("tower_retry", |b| {
        b.iter(|| call(&mut theirs, black_box(1)))
    });
    group.finish();
}

fn fallback_fires(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("fallback_fires");
    // The primary fails (no retry), tier 2 serves.
    let mut alone = fallback(true);
    group.bench_function("fallback", |b| b.iter(|| call(&mut alone, black_box(1))));
    // The primary's retry makes three attempts, then tier 2 serves.
    let mut full = full_stack(true);
    group.bench_function("full_stack", |b| b.iter(|| call(&mut full, black_box(1))));
    group.finish();
}

fn rejection(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("breaker_rejects");
    let mut forced = breaker_open(true);
    group.bench_function("forced_open", |b| {
        b.iter(|| call(&mut forced, black_box(1)))
    });
    let mut timed = breaker_open(false);
    group.bench_function("timed_open", |b| b.iter(|| call(&mut timed, black_box(1))));
    group.finish();
}

fn all(c: &mut Criterion) {
    happy_path(c);
    failure_path(c);
    fallback_fires(c);
    rejection(c);
    breaker::benches(c);
    llm::benches(c);
    hedge::benches(c);
    #[cfg(feature = "metrics")]
    metrics::benches(c);
    rate_limit::benches(c);
    peers::benches(c);
}

criterion_group!(benches, all);
criterion_main!(benches);
