//! The failover demo: three fake LLM providers on 127.0.0.1 with a scripted
//! fault schedule, and the same open-loop load sent three ways through one
//! hyper-util client — bare, with the retry loop people write first, and
//! with tower-failover's recommended stack.
//!
//! ```text
//! cargo run --example demo [-- --requests 3000 --rate 150 --seed 7 --schedule default]
//! ```
//!
//! - `openai` (the primary, `gpt-4o`, OpenAI-style errors) has a hard outage
//!   (connections closed without an answer), bursts of 429s with
//!   `retry-after-ms`, a share of 503s and latency spikes.
//! - `anthropic` (`claude-sonnet-4-5`, Anthropic-style errors) is sometimes
//!   overloaded (529) and rate limits for a moment.
//! - `local` (`llama-3.1-8b`) is a cheap, nearly always healthy baseline.
//!
//! Each run restarts the schedule's clock and sends the same requests at
//! the same planned times. Every request carries its number in
//! `x-demo-request`, and a provider draws a request's fault from that
//! number and how many times it has seen it, so every client's N-th request
//! meets the same fault on its first attempt at a provider (up to a few
//! milliseconds at a window's edge); retries draw rolls of their own. The
//! load stays open-loop: a request that arrives while the in-flight cap is
//! reached is not sent and counts as shed (a failure).
//!
//! The table compares success, latency of the successful requests, the
//! share of all requests that took over a second, load on the providers
//! (attempts per request), who served, breaker openings and how many
//! requests still went to the primary while it was down. `--help` lists
//! the flags.

#[path = "../support/fake_provider.rs"]
mod fake_provider;

mod clients;
mod drive;
mod options;
mod progress;
mod report;
mod schedule;
mod selfcheck;

use std::sync::Arc;

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::BoxError;

use crate::clients::{HttpClient, Kind};
use crate::drive::Load;
use crate::fake_provider::FakeProvider;
use crate::progress::Progress;
use crate::report::Run;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let options = match options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(usage) if usage == options::USAGE => {
            println!("{usage}");
            return Ok(());
        }
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let mut providers = Vec::new();
    for upstream in schedule::upstreams(&options) {
        let provider = FakeProvider::start(upstream.config).await?;
        selfcheck::check(&client, &provider, upstream.model).await?;
        providers.push((provider, upstream.model));
    }
    let names: Arc<[String]> = providers.iter().map(|(p, _)| p.name().to_owned()).collect();

    println!(
        "{} requests at {} req/s ({:.0} s per run, at most {} in flight), schedule {:?}, seed {}:",
        options.requests,
        options.rate,
        options.run_length().as_secs_f64(),
        options.in_flight,
        options.schedule.name(),
        options.seed,
    );
    println!("{}\n", schedule::describe(&options));

    let load = Load {
        url: format!("{}/chat/completions", providers[0].0.base_url()).parse()?,
        model: providers[0].1,
        requests: options.requests,
        rate: options.rate,
        in_flight: options.in_flight,
        providers: names.clone(),
    };
    let mut runs = Vec::new();
    for kind in Kind::ALL {
        let (service, openings) = clients::build(kind, &client, &providers)?;
        for (provider, _) in &providers {
            provider.restart();
        }
        let mut progress = Progress::new(kind.label(), options.requests);
        let samples = drive::drive(service, load.clone(), &mut progress).await;
        progress.finish();
        let stats: Vec<_> = providers.iter().map(|(p, _)| p.stats()).collect();
        runs.push(Run {
            label: kind.label(),
            samples,
            attempts: stats.iter().map(|s| s.chat).collect(),
            while_down: stats[0].received_while_down,
            openings: openings.map(|o| o.get()),
        });
    }

    println!("\n{}", report::table(&runs, &names));
    println!(
        "latency counts from each request's planned arrival; percentiles over the successes only; \
         shed: not sent, {} already in flight (a failure); breaker openings are per tier ({}).",
        options.in_flight,
        names.join(" / ")
    );
    Ok(())
}
