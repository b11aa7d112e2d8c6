//! Hedging against a simulated long-tail upstream, in paused time: 4000
//! calls, one every 10 ms; 95 % of them take 20 to 60 ms, 5 % take 1 s.
//! `cargo test --all-features --test hedge simulation -- --nocapture`
//! prints p50, p99 and the extra load for each setting.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_failover::hedge::{AlwaysHedge, HedgeConfig, HedgeDelay, HedgeLayer};
use tower_failover::retry::RetryBudget;

const CALLS: u64 = 4000;
const SEED: u64 = 0x5eed_2d11_56ef;

struct Report {
    p50: Duration,
    p99: Duration,
    upstream_calls: u64,
}

impl Report {
    fn extra_load(&self) -> f64 {
        (self.upstream_calls - CALLS) as f64 / CALLS as f64
    }
}

/// splitmix64: a seeded, reproducible stream.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The upstream: each call draws its latency from one seeded stream.
fn upstream(
    calls: Arc<AtomicU64>,
) -> impl Service<
    u64,
    Response = http::Response<()>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<()>, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    let rng = Arc::new(Mutex::new(SEED));
    service_fn(move |_: u64| {
        calls.fetch_add(1, Ordering::Relaxed);
        let latency = {
            let mut state = rng.lock().unwrap();
            if next(&mut state) % 100 < 5 {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(20 + next(&mut state) % 41)
            }
        };
        async move {
            tokio::time::sleep(latency).await;
            Ok::<_, Infallible>(http::Response::new(()))
        }
    })
}

async fn drive<S>(service: S, calls: Arc<AtomicU64>) -> Report
where
    S: Service<u64, Response = http::Response<()>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..CALLS {
        let service = service.clone();
        tasks.spawn(async move {
            let start = Instant::now();
            service.oneshot(i).await.unwrap();
            start.elapsed()
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut latencies = tasks.join_all().await;
    latencies.sort();
    let at =
        |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).min(latencies.len()) - 1];
    Report {
        p50: at(0.50),
        p99: at(0.99),
        upstream_calls: calls.load(Ordering::Relaxed),
    }
}

async fn hedged(delay: HedgeDelay, ratio: f32) -> Report {
    let calls = Arc::new(AtomicU64::new(0));
    let budget = RetryBudget::new(Duration::from_secs(10), 0, ratio).unwrap();
    let config = HedgeConfig::builder(delay)
        .budget(budget)
        .should_hedge(AlwaysHedge)
        .build()
        .unwrap();
    let service = HedgeLayer::new(config).layer(upstream(calls.clone()));
    drive(service, calls).await
}

fn print(name: &str, report: &Report) {
    println!(
        "{name:<28} p50 {:>6.1} ms  p99 {:>7.1} ms  extra load {:>5.1} %",
        report.p50.as_secs_f64() * 1e3,
        report.p99.as_secs_f64() * 1e3,
        report.extra_load() * 100.0,
    );
}

#[tokio::test(start_paused = true)]
async fn simulation_hedging_cuts_p99_within_the_budget() {
    let calls = Arc::new(AtomicU64::new(0));
    let none = drive(upstream(calls.clone()), calls).await;
    print("no hedge", &none);
    assert_eq!(none.upstream_calls, CALLS);
    assert_eq!(none.p99, Duration::from_secs(1), "the tail is there to cut");

    let fixed = HedgeDelay::Fixed(Duration::from_millis(150));
    let p90 = HedgeDelay::Percentile {
        p: 90.0,
        min_samples: 100,
        fallback: Duration::from_millis(150),
    };
    for (name, delay, ratio) in [
        ("fixed 150 ms, budget 20 %", fixed, 0.2),
        ("p90, budget 20 %", p90, 0.2),
        ("fixed 150 ms, budget 2 %", fixed, 0.02),
        ("p90, budget 2 %", p90, 0.02),
    ] {
        let report = hedged(delay, ratio).await;
        print(name, &report);
        assert!(
            report.extra_load() <= f64::from(ratio) + 1e-9,
            "{name}: extra load {} above the budget",
            report.extra_load()
        );
        assert!(
            report.upstream_calls > CALLS,
            "{name}: some hedges were sent"
        );
        if ratio >= 0.2 {
            assert!(report.p99 * 2 <= none.p99, "{name}: p99 {:?}", report.p99);
        }
    }
}
