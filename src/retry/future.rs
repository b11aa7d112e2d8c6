use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use super::policy::Verdict;
use super::{Attempt, Replay, RetryPolicy};
use crate::classify::{Classify, Outcome};

pin_project! {
    /// Response future of [`Retry`](super::Retry).
    ///
    /// Dropping it drops whatever it is waiting on (the attempt in flight or
    /// the backoff timer): nothing keeps running.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<S, Req, C, R>
    where
        S: Service<Req>,
    {
        // The copy kept for the next attempt; `None` when nothing will be
        // retried (one attempt allowed) or the request cannot be replayed.
        request: Option<Req>,
        service: S,
        policy: RetryPolicy<C>,
        replay: R,
        attempt: Attempt,
        previous_delay: Duration,
        #[pin]
        state: State<S::Future>,
        // Counts the attempt in flight as cancelled if the future is
        // dropped during it (zero-sized without the `metrics` feature).
        in_flight: InFlight,
    }
}

/// Whether an attempt is in flight; dropped while it is, it counts
/// `attempts_total{outcome="cancelled"}`. A field rather than a drop on the
/// future itself (pin-project-lite's `PinnedDrop` would need the future
/// declared twice, with and without it): the build without the `metrics`
/// feature has no drop code at all.
#[cfg(feature = "metrics")]
struct InFlight(bool);

#[cfg(not(feature = "metrics"))]
struct InFlight;

#[cfg(feature = "metrics")]
impl Drop for InFlight {
    #[inline]
    fn drop(&mut self) {
        if self.0 {
            crate::metrics::attempt_cancelled();
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // An attempt is in flight.
        Calling { #[pin] future: F },
        // Waiting out the delay before the next attempt.
        Backoff { #[pin] sleep: Sleep },
        // Waiting for the service to be ready for the next attempt.
        Ready,
    }
}

impl<S, Req, C, R> ResponseFuture<S, Req, C, R>
where
    S: Service<Req>,
{
    pub(super) fn new(
        request: Option<Req>,
        service: S,
        policy: RetryPolicy<C>,
        replay: R,
        future: S::Future,
    ) -> Self {
        Self {
            request,
            service,
            policy,
            replay,
            attempt: Attempt::FIRST,
            previous_delay: Duration::ZERO,
            state: State::Calling { future },
            #[cfg(feature = "metrics")]
            in_flight: InFlight(true),
            #[cfg(not(feature = "metrics"))]
            in_flight: InFlight,
        }
    }
}

impl<S, Req, C, R> Future for ResponseFuture<S, Req, C, R>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error>,
    R: Replay<Req>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let result = ready!(this.attempt.scope(|| future.poll(cx)));
                    #[cfg(feature = "metrics")]
                    {
                        this.in_flight.0 = false;
                    }
                    let failure = match this.policy.classifier().classify(&result) {
                        Outcome::Failure(failure) => failure,
                        _ => {
                            #[cfg(feature = "metrics")]
                            crate::metrics::attempt_succeeded();
                            return Poll::Ready(result);
                        }
                    };
                    #[cfg(feature = "metrics")]
                    crate::metrics::attempt_failed(failure.kind());
                    let replayable = this.request.is_some();
                    match this.policy.decide(
                        &failure,
                        *this.attempt,
                        replayable,
                        *this.previous_delay,
                    ) {
                        Verdict::Stop => return Poll::Ready(result),
                        Verdict::RetryAfter(delay) => {
                            // The failed response (and its connection) is
                            // released before sleeping, not after.
                            drop(result);
                            *this.previous_delay = delay;
                            if delay.is_zero() {
                                this.state.set(State::Ready);
                            } else {
                                this.state.set(State::Backoff {
                                    sleep: tokio::time::sleep(delay),
                                });
                            }
                        }
                    }
                }
                StateProj::Backoff { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Ready);
                }
                StateProj::Ready => {
                    if let Err(error) = ready!(this.service.poll_ready(cx)) {
                        return Poll::Ready(Err(error));
                    }
                    *this.attempt = this.attempt.next();
                    let attempt = *this.attempt;
                    // Keep a copy only if another attempt may follow this one.
                    let mut request = match this.request.take() {
                        Some(kept) if attempt.number() < this.policy.max_attempts() => {
                            match this.replay.replay(&kept) {
                                Some(copy) => {
                                    *this.request = Some(kept);
                                    copy
                                }
                                None => kept,
                            }
                        }
                        Some(kept) => kept,
                        None => unreachable!("a retry is only decided when a request is kept"),
                    };
                    this.replay.prepare(&mut request, attempt);
                    Attempt::note_calls(1);
                    let service = &mut *this.service;
                    let future = attempt.scope(|| service.call(request));
                    this.state.set(State::Calling { future });
                    #[cfg(feature = "metrics")]
                    {
                        this.in_flight.0 = true;
                    }
                }
            }
        }
    }
}

impl<S, Req, C, R> std::fmt::Debug for ResponseFuture<S, Req, C, R>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("attempt", &self.attempt)
            .field("replayable", &self.request.is_some())
            .finish_non_exhaustive()
    }
}
