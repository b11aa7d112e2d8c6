//! A scripted upstream and small helpers for driving the breaker by hand.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::{Response, StatusCode};
use tower::Service;
use tower_failover::circuit_breaker::{BreakerConfig, BreakerConfigBuilder, OpenBackoff, Window};
use tower_failover::classify::{Classify, DefaultClassifier, Failure, FailureKind, Outcome};
use tower_failover::hint::Hint;

/// One scripted answer.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    /// Answer with this status after `delay`.
    Status { status: u16, delay: Duration },
    /// Fail with this I/O error kind.
    Io(io::ErrorKind),
    /// A 429 carrying a retry-after hint (read by [`TestClassifier`]).
    RateLimited(Duration),
    /// Answer 200 after `stages` sleeps of `each`: one await point per stage.
    Stages { stages: u32, each: Duration },
    /// Never answer.
    Hang,
}

pub(crate) fn ok() -> Step {
    Step::Status {
        status: 200,
        delay: Duration::ZERO,
    }
}

pub(crate) fn status(status: u16) -> Step {
    Step::Status {
        status,
        delay: Duration::ZERO,
    }
}

pub(crate) fn slow(status: u16, delay: Duration) -> Step {
    Step::Status { status, delay }
}

/// An upstream that answers from a script, then with 200 once it runs out.
#[derive(Clone, Debug, Default)]
pub(crate) struct Upstream {
    script: Arc<Mutex<VecDeque<Step>>>,
    calls: Arc<AtomicUsize>,
}

impl Upstream {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends steps to the script.
    pub(crate) fn then(&self, steps: impl IntoIterator<Item = Step>) -> &Self {
        self.script.lock().unwrap().extend(steps);
        self
    }

    /// Appends `n` copies of `step`.
    pub(crate) fn then_n(&self, n: usize, step: Step) -> &Self {
        self.then(std::iter::repeat_n(step, n))
    }

    /// How many calls reached the upstream.
    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

pub(crate) const RETRY_AFTER_HEADER: &str = "x-test-retry-after-ms";

impl<R> Service<R> for Upstream {
    type Response = Response<()>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<()>, io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: R) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let step = self.script.lock().unwrap().pop_front().unwrap_or_else(ok);
        Box::pin(async move {
            match step {
                Step::Status { status, delay } => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Ok(Response::builder().status(status).body(()).unwrap())
                }
                Step::Io(kind) => Err(io::Error::from(kind)),
                Step::RateLimited(after) => Ok(Response::builder()
                    .status(429)
                    .header(RETRY_AFTER_HEADER, after.as_millis().to_string())
                    .body(())
                    .unwrap()),
                Step::Stages { stages, each } => {
                    for _ in 0..stages {
                        tokio::time::sleep(each).await;
                    }
                    Ok(Response::new(()))
                }
                Step::Hang => std::future::pending().await,
            }
        })
    }
}

/// The default classifier, plus a test header carrying a retry-after hint
/// (the crate's header parsers are tested elsewhere).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TestClassifier;

impl Classify<Response<()>, io::Error> for TestClassifier {
    fn classify(&self, result: &Result<Response<()>, io::Error>) -> Outcome {
        if let Ok(response) = result {
            if let Some(ms) = response.headers().get(RETRY_AFTER_HEADER) {
                let ms: u64 = ms.to_str().unwrap().parse().unwrap();
                let hint = Hint::NONE.with_retry_after(Duration::from_millis(ms));
                return Outcome::Failure(Failure::new(FailureKind::RateLimited).with_hint(hint));
            }
        }
        DefaultClassifier.classify(result)
    }
}

/// A deterministic base config: count window of 10, 4 calls minimum, 50%,
/// a constant 10 s open period, 1 probe, no jitter.
pub(crate) fn base() -> BreakerConfigBuilder {
    BreakerConfig::builder()
        .name("test")
        .window(Window::count(10))
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .open_backoff(OpenBackoff::constant(Duration::from_secs(10)))
        .half_open_permits(1)
        .unbounded_half_open()
}

/// Polls `future` once, without a real waker.
pub(crate) fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

/// Calls the service and awaits the answer: the status, or the error.
pub(crate) async fn call<S>(service: &mut S) -> Result<StatusCode, S::Error>
where
    S: Service<(), Response = Response<()>>,
{
    std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
    service.call(()).await.map(|response| response.status())
}
