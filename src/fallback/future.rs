use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tower_service::Service;

use super::config::Chain;
use super::stats::Count;
use super::{RecordServedBy, ServedBy};
use crate::BoxError;
use crate::classify::{Classify, Failure, FailureKind, Outcome};
use crate::deadline::{self, Deadline, DeadlineExceeded};
use crate::retry::{Attempt, Replay};

pin_project! {
    /// One tier's call: as it is, or timed by the tier's timeout (clipped
    /// by the deadline, which the tier then sees as its own).
    #[project = TimedProj]
    pub(super) enum Timed<F> {
        Plain { #[pin] future: F },
        Limited { #[pin] future: deadline::ResponseFuture<F> },
    }
}

impl<F> Timed<F> {
    #[inline]
    pub(super) fn new(timeout: Option<Duration>, call: impl FnOnce() -> F) -> Self {
        match timeout {
            None => Self::Plain { future: call() },
            Some(timeout) => Self::Limited {
                future: deadline::ResponseFuture::limited(timeout, true, |_| call()),
            },
        }
    }
}

impl<F, Res, E> Future for Timed<F>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Res, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            TimedProj::Plain { future } => future.poll(cx).map_err(Into::into),
            TimedProj::Limited { future } => future.poll(cx),
        }
    }
}

pin_project! {
    /// Response future of [`Fallback`](super::Fallback).
    ///
    /// Dropping it drops the tier call in flight (or the tier service being
    /// made ready, with whatever it reserved): no tier is left half-called.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, T, Req, Res, C, R, M>
    where
        T: Service<Req>,
    {
        #[pin]
        state: State<F, T, T::Future>,
        run: Run<T, Req, Res, C, R, M>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, T, G> {
        // The primary's call, made in `Fallback::call`.
        Primary { #[pin] call: Timed<F> },
        // A fallback tier's service (a clone), being made ready.
        Ready { service: T },
        // A fallback tier's call.
        Tier { #[pin] call: Timed<G> },
    }
}

/// The bookkeeping of one logical call, apart from the future in flight.
struct Run<T, Req, Res, C, R, M> {
    chain: Arc<Chain<T, Req, Res>>,
    // The caller's request, kept to copy for the next tiers; `None` when
    // there are no tiers or it cannot be copied.
    request: Option<Req>,
    classifier: C,
    replay: R,
    record: M,
    // The tier being tried: 0 for the primary, `i` for `chain.tiers[i - 1]`.
    tier: usize,
    // Calls that reached the tiers so far, retries inside them included.
    calls: u32,
    // The most telling failure so far, returned if no tier succeeds.
    best: Option<Kept<Res>>,
}

struct Kept<Res> {
    result: Result<Res, BoxError>,
    tier: usize,
    // A rejection by this crate (open circuit, spent budget) rather than
    // an answer from the upstream.
    local: bool,
}

/// Why the chain stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// The failure is the caller's (or configured as final): return it.
    Final,
    /// No tier left that may serve the request.
    Exhausted,
    /// The deadline is spent.
    Deadline,
}

enum Next<Res> {
    Return(Result<Res, BoxError>),
    Try(usize),
}

impl<F, T, Req, Res, C, R, M> ResponseFuture<F, T, Req, Res, C, R, M>
where
    T: Service<Req>,
{
    /// Calls the primary (`call`, timed by `timeout`) and returns the
    /// future that sees the request through the tiers.
    #[inline]
    pub(super) fn new(
        timeout: Option<Duration>,
        call: impl FnOnce() -> F,
        chain: Arc<Chain<T, Req, Res>>,
        request: Option<Req>,
        classifier: C,
        replay: R,
        record: M,
    ) -> Self {
        Self {
            state: State::Primary {
                call: Timed::new(timeout, call),
            },
            run: Run {
                chain,
                request,
                classifier,
                replay,
                record,
                tier: 0,
                calls: 1,
                best: None,
            },
        }
    }
}

impl<F, T, Req, Res, C, R, M, E> Future for ResponseFuture<F, T, Req, Res, C, R, M>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
    T: Service<Req, Response = Res> + Clone,
    T::Error: Into<BoxError>,
    C: Classify<Res, BoxError>,
    R: Replay<Req>,
    M: RecordServedBy<Res>,
{
    type Output = Result<Res, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let run = this.run;
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Primary { call } => {
                    let result = ready!(run.poll_counting(call, cx));
                    run.settle(result)
                }
                StateProj::Tier { call } => {
                    let result = ready!(run.poll_counting(call, cx));
                    run.settle(result)
                }
                StateProj::Ready { service } => match ready!(service.poll_ready(cx)) {
                    Ok(()) => {
                        let call = run.call(service);
                        this.state.set(State::Tier { call });
                        continue;
                    }
                    // A tier that cannot be made ready has failed.
                    Err(error) => run.settle(Err(error.into())),
                },
            };
            match next {
                Next::Return(result) => return Poll::Ready(result),
                Next::Try(tier) => {
                    run.tier = tier;
                    let service = run.chain.tiers[tier - 1].service.clone();
                    this.state.set(State::Ready { service });
                }
            }
        }
    }
}

impl<T, Req, Res, C, R, M> Run<T, Req, Res, C, R, M>
where
    T: Service<Req, Response = Res>,
    C: Classify<Res, BoxError>,
    R: Replay<Req>,
    M: RecordServedBy<Res>,
{
    /// Polls a tier's call, counting the retries made inside it.
    #[inline]
    fn poll_counting<G: Future>(
        &mut self,
        call: Pin<&mut G>,
        cx: &mut Context<'_>,
    ) -> Poll<G::Output> {
        let (polled, retries) = Attempt::count_retries(|| call.poll(cx));
        self.calls = self.calls.saturating_add(retries);
        polled
    }

    /// Sends the request to the current tier, through `service` (ready).
    fn call(&mut self, service: &mut T) -> Timed<T::Future> {
        let tier = &self.chain.tiers[self.tier - 1];
        let kept = self
            .request
            .take()
            .expect("a tier is only tried while the request is kept");
        // Keep a copy only if a later tier may need one.
        let mut request = if self.tier < self.chain.tiers.len() {
            match self.replay.replay(&kept) {
                Some(copy) => {
                    self.request = Some(kept);
                    copy
                }
                None => kept,
            }
        } else {
            kept
        };
        if let Some(rewrite) = &tier.rewrite {
            rewrite(&mut request);
        }
        self.calls = self.calls.saturating_add(1);
        Timed::new(tier.timeout, || service.call(request))
    }

    /// Decides what to do with the current tier's result.
    fn settle(&mut self, result: Result<Res, BoxError>) -> Next<Res> {
        let stats = &self.chain.stats;
        let failure = match self.classifier.classify(&result) {
            Outcome::Failure(failure) => failure,
            _ => {
                stats.count(self.tier, Count::Served);
                if self.tier > 0 {
                    tracing::debug!(
                        layer = "fallback",
                        tier = self.tier + 1,
                        name = self.chain.name(self.tier).as_str(),
                        outcome = "served",
                        attempts = self.calls,
                    );
                }
                return Next::Return(self.served(result, self.tier));
            }
        };
        stats.count(self.tier, Count::Failed);
        tracing::debug!(
            layer = "fallback",
            tier = self.tier + 1,
            name = self.chain.name(self.tier).as_str(),
            outcome = "failure",
            kind = failure.kind().as_str(),
        );
        let next = self.next_tier(failure.kind());
        let moves_on = match next {
            Ok(_) => true,
            Err(Stop::Final) => false,
            Err(_) => self.chain.respond.is_some(),
        };
        if self.tier == 0 && moves_on {
            stats.fell_back();
        }
        match next {
            Ok(tier) => {
                tracing::debug!(
                    layer = "fallback",
                    tier = tier + 1,
                    name = self.chain.name(tier).as_str(),
                    outcome = "fallback",
                    reason = failure.kind().as_str(),
                );
                self.keep(result, failure.kind());
                Next::Try(tier)
            }
            // The caller's fault: this result is the answer.
            Err(Stop::Final) => Next::Return(self.served(result, self.tier)),
            Err(stop) => {
                self.keep(result, failure.kind());
                Next::Return(self.finish(failure, stop))
            }
        }
    }

    /// The next tier to try after a failure of `kind`, or why none is.
    fn next_tier(&self, kind: FailureKind) -> Result<usize, Stop> {
        let filtered = kind == FailureKind::ContentFiltered && !self.chain.content_filtered;
        if !kind.may_fall_back() || filtered {
            return Err(Stop::Final);
        }
        if Deadline::current().is_some_and(|deadline| deadline.is_expired()) {
            return Err(Stop::Deadline);
        }
        let Some(request) = &self.request else {
            return Err(Stop::Exhausted);
        };
        let needs_guard = kind == FailureKind::ContextTooLong;
        for tier in self.tier + 1..=self.chain.tiers.len() {
            if self.chain.tiers[tier - 1].accepts(request, needs_guard) {
                return Ok(tier);
            }
            self.chain.stats.count(tier, Count::Skipped);
            tracing::debug!(
                layer = "fallback",
                tier = tier + 1,
                name = self.chain.name(tier).as_str(),
                outcome = "skipped",
                reason = if needs_guard { "context" } else { "guard" },
            );
        }
        Err(Stop::Exhausted)
    }

    /// Keeps `result` if it tells the caller more than the one kept so far:
    /// an upstream's response beats an error, and an upstream's error beats
    /// this crate's own rejection; otherwise the later wins.
    fn keep(&mut self, result: Result<Res, BoxError>, kind: FailureKind) {
        let local = matches!(
            kind,
            FailureKind::CircuitOpen | FailureKind::BudgetExhausted
        );
        let replace = match &self.best {
            None => true,
            Some(best) => match (best.result.is_ok(), result.is_ok()) {
                (true, false) => false,
                (false, true) => true,
                _ => !local || best.local,
            },
        };
        if replace {
            self.best = Some(Kept {
                result,
                tier: self.tier,
                local,
            });
        }
    }

    /// The answer once no tier is left to try.
    fn finish(&mut self, failure: Failure, stop: Stop) -> Result<Res, BoxError> {
        if let Some(respond) = &self.chain.respond {
            let tier = self.chain.static_index();
            self.chain.stats.count(tier, Count::Served);
            tracing::debug!(
                layer = "fallback",
                tier = tier + 1,
                name = self.chain.name(tier).as_str(),
                outcome = "static",
                reason = failure.kind().as_str(),
            );
            self.best = None;
            return self.served(Ok(respond(&failure)), tier);
        }
        tracing::debug!(
            layer = "fallback",
            outcome = if stop == Stop::Deadline {
                "deadline"
            } else {
                "exhausted"
            },
            attempts = self.calls,
        );
        let best = self
            .best
            .take()
            .expect("a failure was kept before finishing");
        match best.result {
            // The caller's budget is what ran out: say so, rather than pass
            // on an earlier tier's error.
            Err(_) if stop == Stop::Deadline => Err(Box::new(DeadlineExceeded::new())),
            result => self.served(result, best.tier),
        }
    }

    /// Records which tier `result` came from, if it is a response.
    fn served(&self, mut result: Result<Res, BoxError>, tier: usize) -> Result<Res, BoxError> {
        if let Ok(response) = &mut result {
            let served = ServedBy::new(tier + 1, self.chain.name(tier).clone(), self.calls);
            self.record.record(response, &served);
        }
        result
    }
}

impl<F, T, Req, Res, C, R, M> fmt::Debug for ResponseFuture<F, T, Req, Res, C, R, M>
where
    T: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("tier", &(self.run.tier + 1))
            .field("calls", &self.run.calls)
            .finish_non_exhaustive()
    }
}
