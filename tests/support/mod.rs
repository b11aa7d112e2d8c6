//! A scripted mock upstream for the integration tests.
//!
//! `Upstream::new([ok(), status(503)...])` answers each call with the next
//! step of its script, then repeats the last step forever. Every call is
//! logged with the (paused) tokio time it started at and the attempt number
//! the retry layer said it was.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;
use tower_failover::BoxError;
use tower_failover::retry::Attempt;

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Step {
    /// A response with this status and headers, after `delay`.
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        delay: Duration,
    },
    /// An I/O error of this kind, after `delay`.
    Fail {
        kind: std::io::ErrorKind,
        delay: Duration,
    },
    /// Never answers.
    Hang,
}

pub fn ok() -> Step {
    status(200)
}

pub fn status(status: u16) -> Step {
    Step::Respond {
        status,
        headers: Vec::new(),
        delay: Duration::ZERO,
    }
}

pub fn io_error(kind: std::io::ErrorKind) -> Step {
    Step::Fail {
        kind,
        delay: Duration::ZERO,
    }
}

impl Step {
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Step::Respond { headers, .. } = &mut self {
            headers.push((name, value.to_owned()));
        }
        self
    }

    pub fn after(mut self, after: Duration) -> Self {
        match &mut self {
            Step::Respond { delay, .. } | Step::Fail { delay, .. } => *delay = after,
            Step::Hang => {}
        }
        self
    }
}

/// What the upstream saw of one call.
#[derive(Clone, Debug)]
pub struct Call {
    pub at: Instant,
    pub attempt: Option<u32>,
    pub attempt_extension: Option<u32>,
    pub body: String,
}

#[derive(Debug, Default)]
struct State {
    script: VecDeque<Step>,
    last: Option<Step>,
    calls: Vec<Call>,
}

/// The mock upstream: a `Service<http::Request<String>>`.
#[derive(Clone, Debug)]
pub struct Upstream {
    state: Arc<Mutex<State>>,
    live_futures: Arc<AtomicUsize>,
    live_responses: Arc<AtomicUsize>,
    started: Instant,
}

impl Upstream {
    pub fn new(script: impl IntoIterator<Item = Step>) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                script: script.into_iter().collect(),
                ..State::default()
            })),
            live_futures: Arc::default(),
            live_responses: Arc::default(),
            started: Instant::now(),
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn call_count(&self) -> usize {
        self.state.lock().unwrap().calls.len()
    }

    /// When each call started, relative to the upstream's creation.
    pub fn call_offsets(&self) -> Vec<Duration> {
        self.calls().iter().map(|c| c.at - self.started).collect()
    }

    /// Response futures not yet completed or dropped.
    pub fn live_futures(&self) -> usize {
        self.live_futures.load(Ordering::SeqCst)
    }

    /// Responses handed out and not yet dropped.
    pub fn live_responses(&self) -> usize {
        self.live_responses.load(Ordering::SeqCst)
    }

    fn next_step(&self, request: &http::Request<String>) -> Step {
        let mut state = self.state.lock().unwrap();
        state.calls.push(Call {
            at: Instant::now(),
            attempt: Attempt::current().map(Attempt::number),
            attempt_extension: request.extensions().get::<Attempt>().map(|a| a.number()),
            body: request.body().clone(),
        });
        match state.script.pop_front() {
            Some(step) => {
                state.last = Some(step.clone());
                step
            }
            None => state.last.clone().unwrap_or_else(ok),
        }
    }
}

/// A response body that counts how many responses are alive, to show that
/// failed responses are dropped before the backoff sleep.
#[derive(Debug)]
pub struct TrackedBody {
    live: Arc<AtomicUsize>,
}

impl TrackedBody {
    /// A body counted in `live` (already incremented by the caller).
    pub fn counted(live: Arc<AtomicUsize>) -> Self {
        Self { live }
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

struct LiveGuard(Arc<AtomicUsize>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl tower::Service<http::Request<String>> for Upstream {
    type Response = http::Response<TrackedBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<String>) -> Self::Future {
        let step = self.next_step(&request);
        self.live_futures.fetch_add(1, Ordering::SeqCst);
        let guard = LiveGuard(self.live_futures.clone());
        let live_responses = self.live_responses.clone();
        Box::pin(async move {
            let _guard = guard;
            match step {
                Step::Respond {
                    status,
                    headers,
                    delay,
                } => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    live_responses.fetch_add(1, Ordering::SeqCst);
                    let mut response = http::Response::new(TrackedBody {
                        live: live_responses,
                    });
                    *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                    for (name, value) in headers {
                        response.headers_mut().insert(name, value.parse().unwrap());
                    }
                    Ok(response)
                }
                Step::Fail { kind, delay } => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Err(Box::new(std::io::Error::from(kind)) as BoxError)
                }
                Step::Hang => std::future::pending().await,
            }
        })
    }
}

pub fn request() -> http::Request<String> {
    http::Request::new(String::from("{\"model\":\"gpt\"}"))
}

/// Polls `future` once, without waiting: its output, or `None` if pending.
pub async fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match Pin::new(&mut *future).poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// Cancels a call at every poll of its run. `start` makes the service and
/// the upstreams behind it. A first call is polled to the end (10 ms of
/// paused time between polls) to count its polls; then, for each count, a
/// fresh call is polled that many times and dropped, and no upstream may
/// have a call in flight or a response alive, or be called afterwards.
pub async fn cancel_at_every_poll<S>(start: impl Fn() -> (S, Vec<Upstream>))
where
    S: tower::Service<http::Request<String>>,
    S::Error: std::fmt::Debug,
{
    use tower::ServiceExt;
    let mut full_polls = 0;
    {
        let (mut service, _upstreams) = start();
        let mut future = Box::pin(service.ready().await.unwrap().call(request()));
        loop {
            full_polls += 1;
            if let Some(result) = poll_once(&mut future).await {
                result.expect("the uncancelled run succeeds");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert!(
        full_polls > 10,
        "the run should span many polls, got {full_polls}"
    );
    for cancel_after in 1..full_polls {
        let (mut service, upstreams) = start();
        let mut future = Box::pin(service.ready().await.unwrap().call(request()));
        for _ in 0..cancel_after {
            assert!(poll_once(&mut future).await.is_none());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let calls: Vec<_> = upstreams.iter().map(Upstream::call_count).collect();
        drop(future);
        for upstream in &upstreams {
            assert_eq!(
                upstream.live_futures(),
                0,
                "cancelled after {cancel_after} polls"
            );
            assert_eq!(
                upstream.live_responses(),
                0,
                "cancelled after {cancel_after} polls"
            );
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        let after: Vec<_> = upstreams.iter().map(Upstream::call_count).collect();
        assert_eq!(
            after, calls,
            "no call after the drop (cancelled after {cancel_after} polls)"
        );
    }
}
