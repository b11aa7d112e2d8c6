use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use super::Shared;
use crate::classify::{Classify, FailureKind, Outcome};
use crate::deadline::Deadline;
use crate::retry::Replay;

pin_project! {
    /// Response future of [`Hedge`](super::Hedge).
    ///
    /// The first attempt lives in the future itself; hedges are boxed, so
    /// a call that is never hedged allocates nothing, and the timer is
    /// created only once a poll finds the first attempt pending.
    ///
    /// Dropping it drops every attempt in flight, the timer and the hedge
    /// service being made ready: nothing keeps running.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, A, Req, C, R, P>
    where
        A: Service<Req>,
    {
        #[pin]
        primary: Option<F>,
        #[pin]
        timer: Option<Sleep>,
        run: Run<A, Req, C, R, P>,
    }
}

/// The bookkeeping of one call, apart from the first attempt and the timer.
struct Run<A: Service<Req>, Req, C, R, P> {
    shared: Arc<Shared<C, R, P>>,
    // The service hedges go to; `None` once no hedge will be sent.
    alternate: Option<A>,
    // The copy kept for the hedges; `None` once no hedge will be sent.
    request: Option<Req>,
    // The hedges in flight, each with its number (1, 2…).
    hedges: Vec<(u32, Pin<Box<A::Future>>)>,
    // The timer fired and the budget paid: the alternate is being made ready.
    sending: bool,
    // Hedges sent so far.
    sent: u32,
    delay: Duration,
    // When the call was made, if its latency is recorded.
    start: Option<Instant>,
    // The most telling failure so far, returned if every attempt fails;
    // boxed, so that a call that is never hedged does not carry its room.
    best: Option<Box<Kept<A::Response, A::Error>>>,
}

struct Kept<Res, E> {
    result: Result<Res, E>,
    rank: u8,
    attempt: u32,
    kind: Option<FailureKind>,
}

impl<F, A, Req, C, R, P> ResponseFuture<F, A, Req, C, R, P>
where
    A: Service<Req>,
{
    pub(super) fn new(
        primary: F,
        request: Option<Req>,
        alternate: Option<A>,
        shared: Arc<Shared<C, R, P>>,
        delay: Duration,
        start: Option<Instant>,
    ) -> Self {
        Self {
            primary: Some(primary),
            timer: None,
            run: Run {
                shared,
                alternate,
                request,
                hedges: Vec::new(),
                sending: false,
                sent: 0,
                delay,
                start,
                best: None,
            },
        }
    }
}

impl<F, A, Req, C, R, P> Future for ResponseFuture<F, A, Req, C, R, P>
where
    A: Service<Req>,
    F: Future<Output = Result<A::Response, A::Error>>,
    C: Classify<A::Response, A::Error>,
    R: Replay<Req>,
{
    type Output = Result<A::Response, A::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let run = this.run;
        loop {
            if let Some(primary) = this.primary.as_mut().as_pin_mut() {
                if let Poll::Ready(result) = primary.poll(cx) {
                    this.primary.set(None);
                    let others = !run.hedges.is_empty();
                    if let Some(answer) = run.settle(result, 0, others, true) {
                        this.timer.set(None);
                        return Poll::Ready(answer);
                    }
                }
            }
            let mut i = 0;
            while i < run.hedges.len() {
                match run.hedges[i].1.as_mut().poll(cx) {
                    Poll::Pending => i += 1,
                    Poll::Ready(result) => {
                        let (attempt, _) = run.hedges.remove(i);
                        let others = this.primary.is_some() || !run.hedges.is_empty();
                        // A hedge's success is timed while the first attempt
                        // is still in flight (its latency is at least that).
                        let timed = this.primary.is_some();
                        if let Some(answer) = run.settle(result, attempt, others, timed) {
                            this.primary.set(None);
                            this.timer.set(None);
                            return Poll::Ready(answer);
                        }
                    }
                }
            }
            if this.primary.is_none() && run.hedges.is_empty() {
                // Every attempt failed (the last one was a hedge service
                // that failed to get ready), or the answer was returned.
                this.timer.set(None);
                run.stop();
                return Poll::Ready(run.take_best());
            }
            // A hedge is due: send it once its service is ready, then poll
            // it (or, if its service failed instead, see whether anything
            // is left in flight).
            if run.sending && run.send(cx).is_ready() {
                continue;
            }
            if run.request.is_none() || run.sending {
                // No more hedges (or one getting ready): no timer either.
                this.timer.set(None);
                return Poll::Pending;
            }
            if this.timer.is_none() {
                // Armed at the first pending poll; the first hedge's delay
                // counts from the call when it was timed.
                let due = match run.start {
                    Some(start) if run.sent == 0 => start + run.delay,
                    _ => Instant::now() + run.delay,
                };
                if Deadline::current().is_some_and(|deadline| deadline.instant() <= due) {
                    run.skip_deadline();
                    return Poll::Pending;
                }
                this.timer.set(Some(tokio::time::sleep_until(due)));
            }
            let Some(timer) = this.timer.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            if timer.poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.timer.set(None);
            if Deadline::current().is_some_and(|deadline| deadline.is_expired()) {
                run.skip_deadline();
                return Poll::Pending;
            }
            // The budget is paid in `send`, once the hedge's service is
            // ready: a call that ends before then costs nothing.
            run.sending = true;
        }
    }
}

impl<A, Req, C, R, P> Run<A, Req, C, R, P>
where
    A: Service<Req>,
    C: Classify<A::Response, A::Error>,
    R: Replay<Req>,
{
    /// Sends the hedge that is due once the alternate is ready (or keeps
    /// its service's error as the hedge's answer), if the deadline has not
    /// passed meanwhile and the budget pays for it.
    fn send(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(alternate) = self.alternate.as_mut() else {
            self.sending = false;
            return Poll::Ready(());
        };
        let attempt = self.sent + 1;
        let ready = std::task::ready!(alternate.poll_ready(cx));
        self.sending = false;
        if let Err(error) = ready {
            // The hedge's service failed: that is the hedge's answer, and
            // no hedge follows it.
            self.sent = attempt;
            self.request = None;
            self.alternate = None;
            #[cfg(feature = "metrics")]
            self.shared.config.state().metrics.not_ready();
            tracing::debug!(
                layer = "hedge",
                attempt = attempt + 1,
                outcome = "not_ready"
            );
            let result = Err(error);
            let kind = failure_kind(&self.shared.config.classifier().classify(&result));
            self.keep(result, attempt, kind);
            return Poll::Ready(());
        }
        if Deadline::current().is_some_and(|deadline| deadline.is_expired()) {
            self.skip_deadline();
            return Poll::Ready(());
        }
        if !self.shared.config.budget().withdraw() {
            let state = self.shared.config.state();
            state.suppressed.fetch_add(1, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            state.metrics.budget_exhausted();
            self.skip("budget_exhausted");
            return Poll::Ready(());
        }
        self.sent = attempt;
        let max = self.shared.config.max_hedges();
        let request = match self.request.take() {
            Some(kept) if attempt < max => match self.shared.replay.replay(&kept) {
                Some(copy) => {
                    self.request = Some(kept);
                    copy
                }
                None => kept,
            },
            Some(kept) => kept,
            None => unreachable!("a hedge is only due while a request is kept"),
        };
        let future = alternate.call(request);
        if self.request.is_none() {
            self.alternate = None;
        }
        self.hedges.push((attempt, Box::pin(future)));
        let state = self.shared.config.state();
        state.sent.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        state.metrics.sent();
        tracing::debug!(
            layer = "hedge",
            attempt = attempt + 1,
            outcome = "hedged",
            delay_ms = self.delay.as_millis() as u64,
        );
        Poll::Ready(())
    }

    /// Decides what `result`, the answer of `attempt` (0 the first), means:
    /// the call's answer (`Some`), or a failure to keep while `others` are
    /// in flight. A success's latency is recorded if `timed`.
    fn settle(
        &mut self,
        result: Result<A::Response, A::Error>,
        attempt: u32,
        others: bool,
        timed: bool,
    ) -> Option<Result<A::Response, A::Error>> {
        if !others && self.best.is_none() && self.start.is_none() {
            // The only answer there will be, and no latency to record: no
            // need to classify it.
            self.stop();
            return Some(result);
        }
        let outcome = self.shared.config.classifier().classify(&result);
        let kind = failure_kind(&outcome);
        let acceptable = kind.is_none_or(|kind| !kind.may_fall_back());
        if acceptable || (!others && self.best.is_none()) {
            if outcome.is_success() && timed {
                if let Some(start) = self.start {
                    self.shared.config.state().record(start);
                }
            }
            if attempt > 0 && acceptable {
                let state = self.shared.config.state();
                state.won.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "metrics")]
                state.metrics.won();
                tracing::debug!(layer = "hedge", attempt = attempt + 1, outcome = "won");
            }
            // A failure kept from a losing attempt goes now, with its
            // connection, not when the future is dropped.
            self.best = None;
            self.stop();
            return Some(result);
        }
        self.keep(result, attempt, kind);
        if others {
            // Hedging is for slow answers, not for retrying failed ones:
            // no hedge follows a failure, only those in flight are awaited.
            self.request = None;
            self.alternate = None;
            self.sending = false;
            None
        } else {
            self.stop();
            Some(self.take_best())
        }
    }

    /// Keeps `result` (of `kind`, `None` for a success) if it tells the
    /// caller more than the failure kept so far: a response beats an
    /// error, an upstream's error beats this crate's own rejection (an open
    /// circuit, a spent budget); between equals, the earlier attempt's (the
    /// first attempt's before any hedge's), whichever finished first.
    fn keep(
        &mut self,
        result: Result<A::Response, A::Error>,
        attempt: u32,
        kind: Option<FailureKind>,
    ) {
        let rank = match (&result, kind) {
            (Ok(_), _) => 2,
            (Err(_), Some(FailureKind::CircuitOpen | FailureKind::BudgetExhausted)) => 0,
            (Err(_), _) => 1,
        };
        let replace = match &self.best {
            None => true,
            Some(best) => rank > best.rank || (rank == best.rank && attempt < best.attempt),
        };
        if replace {
            self.best = Some(Box::new(Kept {
                result,
                rank,
                attempt,
                kind,
            }));
        }
    }

    fn take_best(&mut self) -> Result<A::Response, A::Error> {
        let Some(best) = self.best.take() else {
            panic!("`ResponseFuture` polled after completion");
        };
        tracing::debug!(
            layer = "hedge",
            attempt = best.attempt + 1,
            outcome = "all_failed",
            kind = best.kind.map(FailureKind::as_str),
        );
        best.result
    }
}

/// The kind of a failure, `None` for a success.
fn failure_kind(outcome: &Outcome) -> Option<FailureKind> {
    match outcome {
        Outcome::Failure(failure) => Some(failure.kind()),
        _ => None,
    }
}

impl<A: Service<Req>, Req, C, R, P> Run<A, Req, C, R, P> {
    /// No hedge is sent from now on; the ones in flight are dropped.
    fn stop(&mut self) {
        self.request = None;
        self.alternate = None;
        self.sending = false;
        self.hedges.clear();
    }

    /// No more hedges: the deadline leaves no time for one.
    fn skip_deadline(&mut self) {
        #[cfg(feature = "metrics")]
        self.shared.config.state().metrics.deadline();
        self.skip("deadline");
    }

    /// No more hedges, for `reason`.
    fn skip(&mut self, reason: &'static str) {
        self.request = None;
        self.alternate = None;
        tracing::debug!(
            layer = "hedge",
            attempt = self.sent + 2,
            outcome = reason,
            delay_ms = self.delay.as_millis() as u64,
        );
    }
}

impl<F, A, Req, C, R, P> fmt::Debug for ResponseFuture<F, A, Req, C, R, P>
where
    A: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("primary_in_flight", &self.primary.is_some())
            .field("hedges_in_flight", &self.run.hedges.len())
            .field("hedges_sent", &self.run.sent)
            .finish_non_exhaustive()
    }
}
