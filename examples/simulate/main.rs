//! The failure simulation: many clients against two simulated LLM
//! providers (a primary and a backup) under scripted fault models, the
//! same schedule for five strategies, all on tokio's paused clock — virtual
//! time, deterministic for a seed, seconds of wall time.
//!
//! ```text
//! cargo run --example simulate [-- --seed 7 --requests 2000 --scenario all --clients 50]
//! cargo run --example simulate -- --herd
//! ```
//!
//! Scenarios (`scenarios.rs`): `outage`, `degraded`, `storm`, `spikes`,
//! `quota`, `slow_then_dead`. Strategies (`strategies.rs`): no resilience,
//! the naive loop the LLM docs recommend, tower's retry with `TpsBudget`,
//! tower-resilience's retry + breaker + fallback, and this crate's
//! recommended stack. The requests arrive evenly over 100 s of virtual
//! time from `--clients` clients (request `i` belongs to client
//! `i mod clients`); by default the clients share one instance of each
//! strategy, as tasks of one process would (one breaker, one budget), and
//! `--processes N` gives each of N processes its own instance, the clients
//! spread over them. Each request gives up after 30 s. `--herd` runs the jitter experiment
//! (`herd.rs`) instead.

mod herd;
mod providers;
mod report;
mod scenarios;
mod strategies;

use std::time::Duration;

use http::Request;
use tokio::time::Instant;
use tower::{BoxError, ServiceExt};

use crate::providers::{REQUEST, Role, SERVED_BY, SimProvider};
use crate::report::{Run, Sample};
use crate::scenarios::{RUN, Scenario};
use crate::strategies::Strategy;

const USAGE: &str = "\
usage: cargo run --example simulate -- [options]

  --seed N            seed of the fault rolls and the peers' jitter (default 7)
  --requests N        logical requests per run, over 100 s (default 2000)
  --scenario NAME     all | outage | degraded | storm | spikes | quota | slow_then_dead
  --clients N         clients sending them (default 50)
  --processes N       independent copies of each strategy (own breakers,
                      budgets), the clients spread over them (default 1)
  --herd              the jitter herd experiment instead
  --help              this text";

/// Each request's patience: it fails if not answered within this.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
struct Options {
    seed: u64,
    requests: u64,
    scenarios: Vec<Scenario>,
    clients: u64,
    processes: u64,
    herd: bool,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        seed: 7,
        requests: 2000,
        scenarios: Scenario::ALL.to_vec(),
        clients: 50,
        processes: 1,
        herd: false,
    };
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--help" | "-h" => return Err(USAGE.to_owned()),
            "--herd" => {
                options.herd = true;
                continue;
            }
            _ => {}
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value; try --help"))?;
        let bad = |what: &str| format!("{flag} takes {what}, not {value:?}");
        match flag.as_str() {
            "--seed" => options.seed = value.parse().map_err(|_| bad("a whole number"))?,
            "--requests" => {
                options.requests = value.parse().map_err(|_| bad("a whole number"))?;
                if !(1..=1_000_000).contains(&options.requests) {
                    return Err(bad("a number from 1 to 1000000"));
                }
            }
            "--clients" => {
                options.clients = value.parse().map_err(|_| bad("a whole number"))?;
                if !(1..=100_000).contains(&options.clients) {
                    return Err(bad("a number from 1 to 100000"));
                }
            }
            "--processes" => {
                options.processes = value.parse().map_err(|_| bad("a whole number"))?;
                if !(1..=1000).contains(&options.processes) {
                    return Err(bad("a number from 1 to 1000"));
                }
            }
            "--scenario" if value == "all" => options.scenarios = Scenario::ALL.to_vec(),
            "--scenario" => {
                let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
                let scenario = Scenario::from_name(&value)
                    .ok_or_else(|| bad(&format!("all or one of {}", names.join(", "))))?;
                options.scenarios = vec![scenario];
            }
            _ => return Err(format!("unknown flag {flag}; try --help")),
        }
    }
    Ok(options)
}

/// Runs `strategy` through `scenario`: fresh providers, the same arrivals.
async fn run(scenario: Scenario, strategy: Strategy, options: &Options) -> Result<Run, BoxError> {
    // The crate's own jitter (retry backoff, idempotency keys) draws from a
    // per-thread source; the runtime is current-thread, so seeding it here
    // makes the stack's row the same on every run of a seed.
    tower_failover::seed_thread_rng(options.seed);
    let start = Instant::now();
    let primary = SimProvider::new(Role::Primary, scenario, options.seed, start);
    let backup = SimProvider::new(Role::Backup, scenario, options.seed, start);
    let services = (0..options.processes)
        .map(|process| strategies::build(strategy, &primary, &backup, options.seed ^ process))
        .collect::<Result<Vec<_>, _>>()?;
    let gap = RUN / u32::try_from(options.requests).unwrap_or(u32::MAX);
    let mut tasks = Vec::with_capacity(options.requests as usize);
    for id in 0..options.requests {
        tokio::time::sleep_until(start + gap * id as u32).await;
        let client = id % options.clients;
        let service = services[(client % options.processes) as usize].clone();
        tasks.push(tokio::spawn(async move {
            let request = Request::builder()
                .method("POST")
                .uri("http://sim/v1/chat/completions")
                .header(REQUEST, id)
                .header("x-sim-client", client)
                .header("content-type", "application/json")
                .body(r#"{"model":"gpt-4o","messages":[]}"#.to_owned())
                .expect("a valid request");
            let arrival = Instant::now();
            let result = tokio::time::timeout(PATIENCE, service.oneshot(request)).await;
            let backup = match result {
                Ok(Ok(response)) if response.status().is_success() => {
                    Some(response.headers().get(SERVED_BY).map(|v| v.as_bytes()) == Some(b"backup"))
                }
                _ => None,
            };
            Sample {
                latency: arrival.elapsed(),
                backup,
            }
        }));
    }
    let mut samples = Vec::with_capacity(tasks.len());
    for task in tasks {
        samples.push(task.await?);
    }
    // Let retries and probes still in the air land before counting.
    tokio::time::sleep(PATIENCE).await;
    let (p, b) = (primary.stats(), backup.stats());
    Ok(Run {
        strategy,
        samples,
        attempts: [p.attempts(), b.attempts()],
        while_down: scenario.down().map(|_| p.while_down()),
        retries_while_down: scenario.down().map(|_| p.retries_while_down()),
        recovery: scenario.recovery().map(|_| p.first_ok_after_recovery()),
    })
}

/// Every strategy through `scenario`, in table order.
async fn scenario_runs(scenario: Scenario, options: &Options) -> Result<Vec<Run>, BoxError> {
    let mut runs = Vec::new();
    for strategy in Strategy::ALL {
        runs.push(run(scenario, strategy, options).await?);
    }
    Ok(runs)
}

fn main() -> Result<(), BoxError> {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(usage) if usage == USAGE => {
            println!("{usage}");
            return Ok(());
        }
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    if options.herd {
        println!(
            "Herd experiment, seed {} (20 trials per row):\n",
            options.seed
        );
        println!("{}", herd::table(options.seed));
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    println!(
        "{} requests from {} clients ({} process(es)) over {} s of virtual time, seed {}, \
         patience {} s; latency percentiles over all requests (a failure counts at the time \
         it failed).\n",
        options.requests,
        options.clients,
        options.processes,
        RUN.as_secs(),
        options.seed,
        PATIENCE.as_secs(),
    );
    for &scenario in &options.scenarios {
        let runs = runtime.block_on(scenario_runs(scenario, &options))?;
        println!("### `{}`: {}\n", scenario.name(), scenario.describe());
        println!("{}", report::table(&runs));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(scenario: Scenario) -> Vec<Run> {
        let options = Options {
            seed: 7,
            requests: 300,
            scenarios: vec![scenario],
            clients: 20,
            processes: 1,
            herd: false,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        runtime
            .block_on(scenario_runs(scenario, &options))
            .expect("the simulation runs")
    }

    fn by(runs: &[Run], strategy: Strategy) -> &Run {
        runs.iter().find(|r| r.strategy == strategy).expect("a run")
    }

    /// The claims of the outage table: the stack succeeds at least as often
    /// as the naive loop and sends the down primary fewer attempts.
    #[test]
    fn outage_stack_beats_the_naive_loop() {
        let runs = short(Scenario::Outage);
        let (stack, naive) = (by(&runs, Strategy::Stack), by(&runs, Strategy::Naive));
        assert!(
            stack.success() >= naive.success(),
            "stack {:.1} % < naive {:.1} %",
            stack.success(),
            naive.success()
        );
        let (ours, theirs) = (stack.while_down.unwrap(), naive.while_down.unwrap());
        assert!(
            ours < theirs,
            "stack sent {ours} to the down primary, naive {theirs}"
        );
        // The outage is 40 % of the run: without fallback the naive loop
        // cannot pass 60 % (plus the edges).
        assert!(naive.success() < 70.0, "naive {:.1} %", naive.success());
        assert!(stack.success() > 95.0, "stack {:.1} %", stack.success());
        assert!(
            stack.recovery.flatten().is_some(),
            "the stack went back to the primary"
        );
    }

    /// Quota exhaustion is never retried by the stack (the `llm` error body
    /// says `insufficient_quota`), while the naive loop retries every 429.
    #[test]
    fn quota_is_not_retried() {
        let runs = short(Scenario::Quota);
        let (stack, naive) = (by(&runs, Strategy::Stack), by(&runs, Strategy::Naive));
        assert_eq!(stack.retries_while_down, Some(0));
        assert!(naive.retries_while_down.unwrap() > 0);
        assert!(stack.while_down.unwrap() * 4 < naive.while_down.unwrap());
        assert!(stack.success() > 95.0, "stack {:.1} %", stack.success());
    }

    #[test]
    fn herd_no_jitter_is_worst() {
        let none = herd::trial(50, tower_failover::retry::Jitter::None, 1);
        let full = herd::trial(50, tower_failover::retry::Jitter::Full, 1);
        assert_eq!(none.calls, 50 * 51 / 2, "lockstep: one winner per round");
        assert!(full.calls < none.calls);
    }
}
