//! The soak test: many thousand requests through the full stack, against
//! three mock providers with seeded random faults (5xx, 429 with
//! `retry-after`, used-up quotas, 529, hangs, transport errors, bad
//! requests, event streams that fail, stall or break, and outage windows),
//! with 64 callers at a time of which about one in six drops its call at
//! a random point (a random timeout, or after a random number of polls).
//!
//! At the end, with every caller done: every upstream call and body that
//! started has ended, no task is left, no breaker holds a probe permit, the
//! keyed breaker tracks at most its maximum of keys, the fallback counters
//! match what the callers received, every error is one this crate or the
//! upstream produces, the retry budget is back at its floor once its window
//! has passed, and — the faults stopped — every breaker closes within a few
//! sparse calls (each one after the half-open cap has elapsed).
//!
//! `SOAK_SEED` (default fixed) and `SOAK_REQUESTS` (default 20,000) steer a
//! run; see TESTING.md. A seed fixes the faults, the outages, the callers'
//! drops and the schedule (paused time, one thread, no jitter); the keyed
//! breaker picks the breaker it evicts in `HashMap` order, which differs
//! between processes, so two runs of one seed agree in what they assert,
//! not in every count.

mod stack;
mod upstream;

use std::collections::BTreeMap;
use std::error::Error;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::task::JoinSet;
use tokio::time::{Instant, advance};
use tower::ServiceExt;
use tower_failover::circuit_breaker::{BreakerHandle, CircuitOpen, State};
use tower_failover::deadline::{AttemptTimedOut, DeadlineExceeded};
use tower_failover::fallback::ServedBy;
use tower_failover::llm::sse::{StreamEnded, StreamErrorEvent, StreamTimedOut};

use crate::stack::{Request, Stack, TierService};
use crate::upstream::{Provider, Rng};

const CONCURRENCY: usize = 64;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be an integer, got {value:?}")),
        Err(_) => default,
    }
}

/// What an error is, if it is one the stack may return: this crate's typed
/// errors, or the upstream's own (a transport error).
fn kind(error: &(dyn Error + Send + Sync + 'static)) -> Result<&'static str, String> {
    if error.is::<CircuitOpen>() {
        Ok("circuit_open")
    } else if error.is::<DeadlineExceeded>() {
        Ok("deadline_exceeded")
    } else if error.is::<AttemptTimedOut>() {
        Ok("attempt_timed_out")
    } else if error.is::<StreamErrorEvent>() {
        Ok("stream_error_event")
    } else if error.is::<StreamTimedOut>() {
        Ok("stream_timed_out")
    } else if error.is::<StreamEnded>() {
        Ok("stream_ended")
    } else if error.is::<std::io::Error>() {
        Ok("transport")
    } else {
        Err(format!("{error:?}"))
    }
}

#[derive(Clone, Copy, Debug)]
enum Cancel {
    Never,
    /// A caller timeout.
    After(Duration),
    /// Dropped after this many polls (wherever the call then waits).
    Polls(u32),
}

/// What one caller saw.
#[derive(Debug, Default)]
struct Answer {
    /// The tier that served (1-based) and the status, if a response came.
    response: Option<(usize, u16)>,
    error: Option<Result<&'static str, String>>,
    body: Option<Result<&'static str, String>>,
    cancelled: bool,
}

async fn caller(stack: Stack, request: Request, cancel: Cancel, read_body: bool) -> Answer {
    let mut answer = Answer::default();
    let finished = {
        let answer = &mut answer;
        let work = async move {
            match stack.oneshot(request).await {
                Ok(response) => {
                    let tier = response
                        .extensions()
                        .get::<ServedBy>()
                        .expect("every response records its tier")
                        .tier();
                    answer.response = Some((tier, response.status().as_u16()));
                    if read_body {
                        answer.body = Some(match response.into_body().collect().await {
                            Ok(_) => Ok("complete"),
                            Err(error) => kind(error.as_ref()),
                        });
                    }
                }
                Err(error) => answer.error = Some(kind(error.as_ref())),
            }
        };
        match cancel {
            Cancel::Never => {
                work.await;
                true
            }
            Cancel::After(after) => tokio::time::timeout(after, work).await.is_ok(),
            Cancel::Polls(n) => at_most(n, work).await.is_some(),
        }
    };
    answer.cancelled = !finished;
    answer
}

/// Polls `future` at most `n` times, then drops it.
async fn at_most<F: Future>(n: u32, future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut polls = 0;
    std::future::poll_fn(|cx| {
        if polls == n {
            return Poll::Ready(None);
        }
        polls += 1;
        future.as_mut().poll(cx).map(Some)
    })
    .await
}

#[derive(Debug, Default)]
struct Tally {
    calls: u64,
    cancelled: u64,
    served_by: [u64; 3],
    statuses: BTreeMap<u16, u64>,
    errors: BTreeMap<&'static str, u64>,
    bodies: BTreeMap<&'static str, u64>,
    unknown: Vec<String>,
}

impl Tally {
    fn add(&mut self, answer: Answer) {
        self.calls += 1;
        self.cancelled += u64::from(answer.cancelled);
        if let Some((tier, status)) = answer.response {
            *self.statuses.entry(status).or_default() += 1;
            if (200..300).contains(&status) {
                self.served_by[tier - 1] += 1;
            }
        }
        for (map, kind) in [
            (&mut self.errors, answer.error),
            (&mut self.bodies, answer.body),
        ] {
            match kind {
                Some(Ok(kind)) => *map.entry(kind).or_default() += 1,
                Some(Err(unknown)) => self.unknown.push(unknown),
                None => {}
            }
        }
    }
}

fn request(model: u64) -> Request {
    http::Request::post("http://provider.test/v1/chat/completions")
        .header("x-model", format!("model-{model}"))
        .body(String::from(r#"{"model":"m","messages":[]}"#))
        .unwrap()
}

/// Every breaker of the stack, with the tier that reaches it and the model
/// to send.
fn breakers(handles: &stack::Handles) -> Vec<(String, BreakerHandle, TierService, String)> {
    let mut all: Vec<_> = handles
        .keyed
        .keys()
        .into_iter()
        .filter_map(|key| {
            let breaker = handles.keyed.get(&key)?;
            let model = key.clone();
            Some((
                format!("primary/{key}"),
                breaker,
                handles.primary.clone(),
                model,
            ))
        })
        .collect();
    for (i, breaker) in handles.tiers.iter().enumerate() {
        all.push((
            breaker.name().to_owned(),
            breaker.clone(),
            handles.others[i].clone(),
            "model-0".to_owned(),
        ));
    }
    all
}

#[tokio::test(start_paused = true)]
async fn soak() {
    let seed = env_u64("SOAK_SEED", 0x5eed_0007);
    let requests = env_u64("SOAK_REQUESTS", 20_000);
    eprintln!("soak: SOAK_SEED={seed:#x} SOAK_REQUESTS={requests}");
    let mut rng = Rng::new(seed);
    let providers = [(); 3].map(|_| Provider::new(rng.next()));
    let (stack, handles) = stack::build(&providers);
    let runtime = tokio::runtime::Handle::current().metrics();
    let tasks_before = runtime.num_alive_tasks();
    let wall = std::time::Instant::now();
    let start = Instant::now();

    // ---- load --------------------------------------------------------------
    let mut callers = JoinSet::new();
    let mut tally = Tally::default();
    for i in 0..requests {
        // Outage windows: the primary for the second quarter of the
        // requests, the secondary for a tenth later on.
        let primary_down = (requests / 4..requests / 2).contains(&i);
        let secondary_down = (requests * 3 / 5..requests * 7 / 10).contains(&i);
        providers[0].down.store(primary_down, Ordering::SeqCst);
        providers[1].down.store(secondary_down, Ordering::SeqCst);
        while callers.len() >= CONCURRENCY {
            let answer = callers.join_next().await.unwrap();
            tally.add(answer.expect("a caller panicked"));
        }
        // About one call in five is dropped before it ends (a fast call
        // may beat its caller's timeout or poll count).
        let cancel = match rng.below(100) {
            0..20 => Cancel::After(rng.millis(500)),
            20..35 => Cancel::Polls(1 + rng.below(3) as u32),
            _ => Cancel::Never,
        };
        let read_body = rng.percent(70);
        let model = rng.below(stack::MODELS);
        callers.spawn(caller(stack.clone(), request(model), cancel, read_body));
        if rng.percent(5) {
            tokio::time::sleep(rng.millis(200)).await;
        }
    }
    while let Some(answer) = callers.join_next().await {
        tally.add(answer.expect("a caller panicked"));
    }
    let load_time = start.elapsed();
    let started: usize = providers
        .iter()
        .map(|p| p.live.started.load(Ordering::SeqCst))
        .sum();
    eprintln!(
        "soak: {requests} requests in {load_time:?} of tokio time, {:?} of wall time; \
         {started} upstream calls ({:.2} per request)",
        wall.elapsed(),
        started as f64 / requests as f64
    );
    eprintln!("soak: {tally:?}");
    eprintln!("soak: fallback {:?}", handles.fallback);
    for (i, provider) in providers.iter().enumerate() {
        eprintln!(
            "soak: provider {i} faults {:?}",
            provider.seen.lock().unwrap()
        );
    }

    // ---- nothing left behind ----------------------------------------------
    assert_eq!(tally.calls, requests);
    assert!(
        tally.unknown.is_empty(),
        "unexpected errors: {:?}",
        tally.unknown
    );
    assert_eq!(
        runtime.num_alive_tasks(),
        tasks_before,
        "tasks outlived their callers"
    );
    for (i, provider) in providers.iter().enumerate() {
        assert_eq!(
            provider.live.calls.load(Ordering::SeqCst),
            0,
            "provider {i}: upstream calls still in flight"
        );
        assert_eq!(
            provider.live.bodies.load(Ordering::SeqCst),
            0,
            "provider {i}: response bodies still alive"
        );
    }
    let all = breakers(&handles);
    for (name, breaker, ..) in &all {
        let metrics = breaker.metrics();
        assert_eq!(
            metrics.probes_in_flight, 0,
            "{name}: a probe permit leaked: {metrics:?}"
        );
    }
    assert!(
        handles.keyed.len() <= stack::MAX_BREAKERS,
        "{} keys tracked",
        handles.keyed.len()
    );

    // ---- the counters agree with what the callers saw ----------------------
    let tiers = handles.fallback.tiers();
    for (i, tier) in tiers.iter().enumerate() {
        assert_eq!(
            tier.served(),
            tally.served_by[i],
            "tier {}: served count against the callers' responses",
            tier.name()
        );
    }
    let completed = tally.calls - tally.cancelled;
    let counted: u64 = tiers
        .iter()
        .map(|t| t.served() + t.failed() + t.skipped())
        .sum();
    assert!(
        counted >= completed,
        "{counted} tier results for {completed} answers"
    );
    assert!(counted <= 3 * requests);
    assert!(handles.fallback.fell_back() >= tally.served_by[1] + tally.served_by[2]);
    assert!(handles.fallback.fell_back() <= requests);
    // No retry storm: first attempts (at most one per tier per request)
    // plus what the shared budget allows (its floor over the run, and a
    // ratio of the tier calls).
    let floor = f64::from(stack::BUDGET_FLOOR) * (load_time + stack::BUDGET_TTL).as_secs_f64();
    let bound = counted as f64 * (1.0 + f64::from(stack::BUDGET_RATIO)) + floor;
    assert!(
        (started as f64) <= bound + tally.cancelled as f64,
        "{started} upstream calls, bound {bound}"
    );

    // The run exercised what it claims to.
    assert!(tally.cancelled >= requests / 10, "{tally:?}");
    assert!(tally.served_by.iter().all(|n| *n > 0), "{tally:?}");
    for kind in ["circuit_open", "transport", "stream_error_event"] {
        assert!(tally.errors.contains_key(kind), "no {kind}: {tally:?}");
    }
    assert!(tally.bodies.contains_key("stream_timed_out"), "{tally:?}");
    for status in [400, 429, 503] {
        assert!(
            tally.statuses.contains_key(&status),
            "no {status}: {tally:?}"
        );
    }

    // ---- the retry budget returns to its floor -----------------------------
    advance(stack::BUDGET_TTL + Duration::from_secs(1)).await;
    assert_eq!(
        handles.budget.remaining(),
        u64::from(stack::BUDGET_FLOOR) * stack::BUDGET_TTL.as_secs(),
        "the retry budget did not return to its floor"
    );

    // ---- recovery: no stuck breaker ----------------------------------------
    for provider in &providers {
        provider.healthy.store(true, Ordering::SeqCst);
    }
    advance(stack::MAX_OPEN + stack::MAX_HALF_OPEN).await;
    let mut states: BTreeMap<String, State> = BTreeMap::new();
    for (name, breaker, tier, model) in &all {
        states.insert(name.clone(), breaker.state());
        // Sparse traffic: each call comes after the half-open cap.
        let mut calls = 0;
        while breaker.state() != State::Closed && calls <= stack::PERMITS {
            let _ = tier.clone().oneshot(request_for(model)).await;
            calls += 1;
            advance(stack::MAX_HALF_OPEN + Duration::from_secs(1)).await;
        }
        assert_eq!(
            breaker.state(),
            State::Closed,
            "{name} is stuck after {calls} calls: {:?}",
            breaker.metrics()
        );
    }
    eprintln!("soak: breaker states before recovery: {states:?}");
    let response = stack.oneshot(request(0)).await.unwrap();
    assert_eq!(response.extensions().get::<ServedBy>().unwrap().tier(), 1);
    eprintln!("soak: wall time {:?}", wall.elapsed());
}

fn request_for(model: &str) -> Request {
    let mut request = request(0);
    request
        .headers_mut()
        .insert("x-model", http::HeaderValue::from_str(model).unwrap());
    request
}
