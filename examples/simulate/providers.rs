//! The simulated upstreams: in-process tower services that answer like an
//! OpenAI-compatible API (statuses, `retry-after`, JSON error bodies) after
//! a `tokio::time::sleep`, so the whole run is virtual time.
//!
//! A call's fault is drawn from the seed, the provider, the request's
//! number (`x-sim-request`) and how many times this provider has seen that
//! request: every strategy meets the same fault on its N-th attempt of the
//! same request at the same provider, whatever the interleaving.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode, header};
use tokio::time::Instant;
use tower::BoxError;

use crate::scenarios::{Fault, Scenario, mix, unit};

/// The header carrying a logical request's number.
pub(crate) const REQUEST: &str = "x-sim-request";
/// The header naming the provider that answered.
pub(crate) const SERVED_BY: &str = "x-sim-provider";

/// Which of the two providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Primary,
    Backup,
}

impl Role {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Backup => "backup",
        }
    }
}

/// What a provider counted during one run.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    seen: Mutex<HashMap<u64, u64>>,
    attempts: AtomicU64,
    while_down: AtomicU64,
    /// Of those, attempts after the first of the same request (retries).
    retries_while_down: AtomicU64,
    /// Start of the first successful call at or after the recovery, in
    /// nanoseconds from the run's start plus one (0: none yet).
    first_ok_after_recovery: AtomicU64,
}

impl Stats {
    pub(crate) fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    pub(crate) fn while_down(&self) -> u64 {
        self.while_down.load(Ordering::Relaxed)
    }

    pub(crate) fn retries_while_down(&self) -> u64 {
        self.retries_while_down.load(Ordering::Relaxed)
    }

    pub(crate) fn first_ok_after_recovery(&self) -> Option<Duration> {
        match self.first_ok_after_recovery.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n - 1)),
        }
    }
}

/// One simulated provider; clones share its stats.
#[derive(Clone, Debug)]
pub(crate) struct SimProvider {
    role: Role,
    scenario: Scenario,
    seed: u64,
    start: Instant,
    stats: Arc<Stats>,
}

impl SimProvider {
    pub(crate) fn new(role: Role, scenario: Scenario, seed: u64, start: Instant) -> Self {
        Self {
            role,
            scenario,
            seed,
            start,
            stats: Arc::default(),
        }
    }

    pub(crate) fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }
}

/// A transport error, as a connection refused.
fn refused() -> BoxError {
    Box::new(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "connection refused",
    ))
}

fn error_body(kind: &str, code: &str, message: &str) -> String {
    format!(r#"{{"error":{{"message":"{message}","type":"{kind}","param":null,"code":"{code}"}}}}"#)
}

impl tower::Service<Request<String>> for SimProvider {
    type Response = Response<String>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<String>) -> Self::Future {
        let at = self.start.elapsed();
        let id = (request.headers().get(REQUEST))
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        let nth = {
            let mut seen = self.stats.seen.lock().expect("not poisoned");
            let nth = seen.entry(id).or_insert(0);
            *nth += 1;
            *nth
        };
        let key = [self.seed, self.role as u64, id, nth];
        let (roll, spread) = (unit(&key), unit(&[mix(&key)]));
        let fault = match self.role {
            Role::Primary => self.scenario.primary(at, roll, spread),
            Role::Backup => self.scenario.backup(roll, spread),
        };
        self.stats.attempts.fetch_add(1, Ordering::Relaxed);
        if self.role == Role::Primary
            && (self.scenario.down()).is_some_and(|down| down.contains(&at))
        {
            self.stats.while_down.fetch_add(1, Ordering::Relaxed);
            if nth > 1 {
                self.stats
                    .retries_while_down
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        let stats = self.stats.clone();
        let recovery = (self.role == Role::Primary)
            .then(|| self.scenario.recovery())
            .flatten();
        let name = self.role.name();
        Box::pin(async move {
            let (status, latency, body) = match fault {
                Fault::Answer(latency) => (200, latency, r#"{"choices":[]}"#.to_owned()),
                Fault::Status(status, latency) => (
                    status,
                    latency,
                    error_body("server_error", "", "The server is overloaded."),
                ),
                Fault::RateLimited(latency) => (
                    429,
                    latency,
                    error_body(
                        "requests",
                        "rate_limit_exceeded",
                        "Rate limit reached for requests. Please try again in 2s.",
                    ),
                ),
                Fault::Quota(latency) => (
                    429,
                    latency,
                    error_body(
                        "insufficient_quota",
                        "insufficient_quota",
                        "You exceeded your current quota, please check your plan and billing details.",
                    ),
                ),
                Fault::Refused(latency) => {
                    tokio::time::sleep(latency).await;
                    return Err(refused());
                }
            };
            tokio::time::sleep(latency).await;
            if status == 200 {
                if let Some(recovery) = recovery.filter(|r| at >= *r) {
                    let nanos = (at - recovery).as_nanos() as u64 + 1;
                    let first = &stats.first_ok_after_recovery;
                    let _ = first.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                        (old == 0 || nanos < old).then_some(nanos)
                    });
                }
            }
            let mut response = Response::new(body);
            *response.status_mut() = StatusCode::from_u16(status).expect("a valid status");
            let headers = response.headers_mut();
            headers.insert(SERVED_BY, HeaderValue::from_static(name));
            if status != 200 {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            if matches!(fault, Fault::RateLimited(_)) {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            Ok(response)
        })
    }
}
