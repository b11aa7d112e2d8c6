use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::error::{BreakerError, CircuitOpen};
use super::state::{Sample, Shared, Ticket};
use super::sync::Arc;
use crate::classify::{Classify, FailureKind, Outcome};

/// An admitted call's claim on the breaker: the breaker learns how the call
/// ended, or, if the future is dropped first, that it ended without an
/// outcome (a half-open probe gives its permit back).
pub(super) struct Permit {
    shared: Arc<Shared>,
    ticket: Ticket,
    started: Option<Instant>,
    done: bool,
}

impl Permit {
    #[inline]
    pub(super) fn new(shared: Arc<Shared>, ticket: Ticket) -> Self {
        let started = shared.slow_call_duration().map(|_| Instant::now());
        Self {
            shared,
            ticket,
            started,
            done: false,
        }
    }

    #[inline]
    pub(super) fn finish(mut self, outcome: Outcome) {
        self.done = true;
        let sample = match outcome {
            Outcome::Failure(failure)
                if !failure.kind().counts_against_breaker() || failure.is_caller_side() =>
            {
                Sample::Ignored
            }
            outcome => {
                let slow = match (self.started, self.shared.slow_call_duration()) {
                    (Some(started), Some(threshold)) => started.elapsed() >= threshold,
                    _ => false,
                };
                let failure = outcome.as_failure();
                Sample::Counted {
                    failed: failure.is_some(),
                    slow,
                    retry_after: failure.and_then(|f| f.retry_after()),
                    trips: failure.is_some_and(|f| f.kind() == FailureKind::QuotaExhausted),
                }
            }
        };
        self.shared.complete(self.ticket, sample);
    }
}

impl Drop for Permit {
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            self.shared.complete(self.ticket, Sample::Ignored);
        }
    }
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit")
            .field("probe", &self.ticket.is_probe())
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// Response future of [`CircuitBreaker`](super::CircuitBreaker) and
    /// [`KeyedCircuitBreaker`](super::KeyedCircuitBreaker).
    ///
    /// Either the inner call, with the breaker's permit, or a rejection that
    /// is ready at once. Dropping it before it completes gives a half-open
    /// probe's permit back and counts nothing.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: State<F>,
        permit: Option<Permit>,
        classifier: C,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Calling { #[pin] future: F },
        Rejected { error: Option<CircuitOpen> },
    }
}

impl<F, C> ResponseFuture<F, C> {
    #[inline]
    pub(super) fn calling(future: F, permit: Permit, classifier: C) -> Self {
        Self {
            state: State::Calling { future },
            permit: Some(permit),
            classifier,
        }
    }

    #[inline]
    pub(super) fn rejected(error: CircuitOpen, classifier: C) -> Self {
        Self {
            state: State::Rejected { error: Some(error) },
            permit: None,
            classifier,
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: Classify<T, E>,
{
    type Output = Result<T, BreakerError<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.state.project() {
            StateProj::Calling { future } => {
                let result = ready!(future.poll(cx));
                if let Some(permit) = this.permit.take() {
                    permit.finish(this.classifier.classify(&result));
                }
                Poll::Ready(result.map_err(BreakerError::Inner))
            }
            StateProj::Rejected { error } => match error.take() {
                Some(error) => Poll::Ready(Err(BreakerError::Open(error))),
                None => panic!("`ResponseFuture` polled after completion"),
            },
        }
    }
}
