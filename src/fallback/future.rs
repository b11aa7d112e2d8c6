use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use super::config::Chain;
use super::route::{Observed, Order};
use super::stats::Count;
use super::{NoRoute, RecordServedBy, ServedBy};
use crate::BoxError;
use crate::classify::{Classify, Failure, FailureKind, Outcome};
use crate::deadline::{AttemptTimedOut, Deadline, DeadlineExceeded};
use crate::retry::{Attempt, Replay};

pin_project! {
    /// Response future of [`Fallback`](super::Fallback).
    ///
    /// One timer serves every tier: it fires at the current tier's
    /// deadline (its timeout, clipped by the logical call's deadline) or
    /// at the logical call's deadline, and is armed only once a poll finds
    /// the tier pending.
    ///
    /// Dropping it drops the tier call in flight (or the tier service being
    /// made ready, with whatever it reserved): no tier is left half-called.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<S, T, Req, Res, C, R, M>
    where
        S: Service<Req>,
        T: Service<Req>,
    {
        #[pin]
        state: State<S, S::Future, T, T::Future>,
        #[pin]
        timer: Option<Sleep>,
        run: Run<S, T, Req, Res, C, R, M>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F, T, G> {
        // The primary's call: made in `Fallback::call` when the primary is
        // first, or when its turn comes when a route put it later.
        Primary { #[pin] call: F },
        // The primary's service, moved out of `Fallback::call` already
        // ready when a route put it later: polled once more (at once) and
        // called.
        PrimaryReady { service: S },
        // A fallback tier's service (a clone), being made ready.
        Ready { service: T },
        // A fallback tier's call.
        Tier { #[pin] call: G },
        // The route put a tier other than the primary first (or none):
        // nothing called yet.
        Route,
        // Nothing in flight: the timer fired, or the answer is out.
        Done,
    }
}

/// The bookkeeping of one logical call, apart from the future in flight.
struct Run<S, T, Req, Res, C, R, M> {
    chain: Arc<Chain<T, Req, Res>>,
    // The route's order; `None` for the configured one.
    order: Option<Order>,
    // How far along the order the call is: the current tier is at this
    // step (the configured order's step is the tier's position).
    step: usize,
    // The primary's service, made ready by the caller's `poll_ready`, when
    // a route put it after another tier (with whatever it reserved).
    primary: Option<S>,
    // When the current tier was entered, if the route observes latencies.
    started: Option<Instant>,
    // The caller's request, kept to copy for the next tiers; `None` when
    // there are no tiers or it cannot be copied.
    request: Option<Req>,
    classifier: C,
    replay: R,
    record: M,
    // The logical call's deadline, as it was when the call was made (and
    // whether it is an outer fallback tier's timeout: see `Limit`).
    deadline: Option<Limit>,
    // The tier being tried: 0 for the primary, `i` for `chain.tiers[i - 1]`.
    tier: usize,
    // The current tier's own deadline (its timeout, clipped by `deadline`),
    // if it has a timeout.
    tier_deadline: Option<Limit>,
    // Calls that reached the tiers so far, retries inside them included.
    calls: u32,
    // A tier said the request is too long: from then on only tiers whose
    // guard accepts it are tried.
    too_long: bool,
    // The most telling failure so far, returned if no tier succeeds.
    best: Option<Kept<Res>>,
    // When the current tier was first found waiting (for its latency).
    #[cfg(feature = "metrics")]
    waiting_since: Option<Instant>,
    // The answer is out: dropping the future cancels nothing.
    #[cfg(feature = "metrics")]
    done: bool,
}

/// A deadline, and whether it is a fallback tier's own timeout (`tier`)
/// rather than the logical call's: which one passed decides what the
/// expiry means (the tier's time is spent, or the whole call's).
#[derive(Clone, Copy, Debug)]
struct Limit {
    at: Instant,
    tier: bool,
}

impl Limit {
    /// Runs `f` with this limit as the current deadline.
    #[inline]
    fn scope<O>(self, f: impl FnOnce() -> O) -> O {
        Deadline::at(self.at).sync_scope_tier(self.tier, f)
    }

    fn is_spent(limit: Option<Self>) -> bool {
        limit.is_some_and(|limit| Instant::now() >= limit.at)
    }
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

/// The deadline of a tier with `timeout`, starting now, clipped by the
/// logical call's `deadline` (which keeps its meaning if it is the earlier
/// or the same).
fn tier_deadline(timeout: Option<Duration>, deadline: Option<Limit>) -> Option<Limit> {
    let own = Deadline::after(timeout?).instant();
    Some(match deadline {
        Some(deadline) if deadline.at <= own => deadline,
        _ => Limit {
            at: own,
            tier: true,
        },
    })
}

/// The logical call's deadline, as it is now.
#[inline]
fn current_deadline() -> Option<Limit> {
    Deadline::current_tier().map(|(deadline, tier)| Limit {
        at: deadline.instant(),
        tier,
    })
}

impl<S, T, Req, Res, C, R, M> ResponseFuture<S, T, Req, Res, C, R, M>
where
    S: Service<Req>,
    T: Service<Req>,
{
    /// Calls the primary (`call`, bounded by `timeout`) and returns the
    /// future that sees the request through the tiers (in `order`, or the
    /// configured order).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        timeout: Option<Duration>,
        call: impl FnOnce() -> S::Future,
        chain: Arc<Chain<T, Req, Res>>,
        request: Option<Req>,
        order: Option<Order>,
        classifier: C,
        replay: R,
        record: M,
    ) -> Self {
        let deadline = current_deadline();
        let tier_deadline = tier_deadline(timeout, deadline);
        let started = chain.observes.then(Instant::now);
        let call = match tier_deadline {
            Some(limit) => limit.scope(call),
            None => call(),
        };
        Self {
            state: State::Primary { call },
            timer: None,
            run: Run {
                chain,
                order,
                step: 0,
                primary: None,
                started,
                request,
                classifier,
                replay,
                record,
                deadline,
                tier: 0,
                tier_deadline,
                calls: 1,
                too_long: false,
                best: None,
                #[cfg(feature = "metrics")]
                waiting_since: None,
                #[cfg(feature = "metrics")]
                done: false,
            },
        }
    }

    /// The future of a request whose route put another tier than the
    /// primary first, or none: nothing is called until it is polled.
    /// `primary` is the primary's service, already ready, if the order
    /// holds it.
    pub(super) fn routed(
        chain: Arc<Chain<T, Req, Res>>,
        request: Req,
        primary: Option<S>,
        order: Order,
        classifier: C,
        replay: R,
        record: M,
    ) -> Self {
        Self {
            state: State::Route,
            timer: None,
            run: Run {
                chain,
                order: Some(order),
                step: 0,
                primary,
                started: None,
                request: Some(request),
                classifier,
                replay,
                record,
                deadline: current_deadline(),
                tier: order.first().unwrap_or(0),
                tier_deadline: None,
                calls: 0,
                too_long: false,
                best: None,
                #[cfg(feature = "metrics")]
                waiting_since: None,
                // Nothing to cancel until a tier is entered.
                #[cfg(feature = "metrics")]
                done: true,
            },
        }
    }
}

impl<S, T, Req, Res, C, R, M> Future for ResponseFuture<S, T, Req, Res, C, R, M>
where
    S: Service<Req, Response = Res>,
    S::Error: Into<BoxError>,
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
            let polled = match this.state.as_mut().project() {
                StateProj::Primary { call } => run
                    .poll_tier(|cx| call.poll(cx), cx)
                    .map(|result| run.settle(result.map_err(Into::into))),
                StateProj::Tier { call } => run
                    .poll_tier(|cx| call.poll(cx), cx)
                    .map(|result| run.settle(result.map_err(Into::into))),
                StateProj::Ready { service } => {
                    match run.poll_tier(|cx| service.poll_ready(cx), cx) {
                        Poll::Ready(Ok(())) => {
                            let call = run.call(service);
                            this.state.set(State::Tier { call });
                            continue;
                        }
                        // A tier that cannot be made ready has failed.
                        Poll::Ready(Err(error)) => Poll::Ready(run.settle(Err(error.into()))),
                        Poll::Pending => Poll::Pending,
                    }
                }
                StateProj::PrimaryReady { service } => {
                    match run.poll_tier(|cx| service.poll_ready(cx), cx) {
                        Poll::Ready(Ok(())) => {
                            let call = run.call_primary(service);
                            this.state.set(State::Primary { call });
                            continue;
                        }
                        Poll::Ready(Err(error)) => Poll::Ready(run.settle(Err(error.into()))),
                        Poll::Pending => Poll::Pending,
                    }
                }
                StateProj::Route => Poll::Ready(run.start()),
                StateProj::Done => panic!("fallback future polled after it completed"),
            };
            let next = match polled {
                Poll::Ready(next) => next,
                Poll::Pending => {
                    #[cfg(feature = "metrics")]
                    run.waiting_since.get_or_insert_with(Instant::now);
                    let Some(Limit { at, .. }) = run.tier_deadline.or(run.deadline) else {
                        return Poll::Pending;
                    };
                    match this.timer.as_mut().as_pin_mut() {
                        Some(timer) if timer.deadline() != at => timer.reset(at),
                        Some(_) => {}
                        None => this.timer.set(Some(tokio::time::sleep_until(at))),
                    }
                    if let Some(timer) = this.timer.as_mut().as_pin_mut() {
                        ready!(timer.poll(cx));
                    }
                    // Out of time: drop the tier's work before going on.
                    this.state.set(State::Done);
                    run.expire()
                }
            };
            match next {
                Next::Return(result) => {
                    this.state.set(State::Done);
                    #[cfg(feature = "metrics")]
                    {
                        run.done = true;
                    }
                    // A fallback layer above counts this one's calls too.
                    if run.calls > 1 {
                        Attempt::note_calls(run.calls - 1);
                    }
                    return Poll::Ready(result);
                }
                Next::Try(step) => match run.enter(step) {
                    Entered::Primary(service) => this.state.set(State::PrimaryReady { service }),
                    Entered::Tier(service) => this.state.set(State::Ready { service }),
                },
            }
        }
    }
}

/// The service of the tier a call moves on to, to be made ready.
enum Entered<S, T> {
    Primary(S),
    Tier(T),
}

impl<S, T, Req, Res, C, R, M> Run<S, T, Req, Res, C, R, M>
where
    S: Service<Req, Response = Res>,
    T: Service<Req, Response = Res>,
    C: Classify<Res, BoxError>,
    R: Replay<Req>,
    M: RecordServedBy<Res>,
{
    /// Polls the current tier (its readiness or its call) with the tier's
    /// deadline visible, counting the calls made inside it.
    #[inline]
    fn poll_tier<O>(
        &mut self,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<O>,
        cx: &mut Context<'_>,
    ) -> Poll<O> {
        let (polled, extra) = match self.tier_deadline {
            Some(limit) => limit.scope(|| Attempt::count_calls(|| poll(cx))),
            None => Attempt::count_calls(|| poll(cx)),
        };
        self.calls = self.calls.saturating_add(extra);
        polled
    }

    /// The position of the tier tried at `step`, if any.
    #[inline]
    fn position(&self, step: usize) -> Option<usize> {
        match &self.order {
            None => (step <= self.chain.tiers.len()).then_some(step),
            Some(order) => order.get(step),
        }
    }

    /// The first move of a routed call: its first tier, or `NoRoute`.
    fn start(&mut self) -> Next<Res> {
        if self.position(0).is_some() {
            return Next::Try(0);
        }
        tracing::debug!(layer = "fallback", outcome = "no_route");
        Next::Return(Err(Box::new(NoRoute::new())))
    }

    /// Moves on to the tier at `step` of the order: starts its clock and
    /// returns a clone of its service to make ready.
    fn enter(&mut self, step: usize) -> Entered<S, T>
    where
        T: Clone,
    {
        // `next_tier` and `start` only pick steps that exist.
        let tier = self.position(step).expect("a step of the order");
        self.step = step;
        self.tier = tier;
        self.started = self.chain.observes.then(Instant::now);
        #[cfg(feature = "metrics")]
        {
            self.done = false;
        }
        if tier == 0 {
            self.tier_deadline = tier_deadline(self.chain.primary_timeout, self.deadline);
            // The order holds the primary once, and its service came with it.
            let primary = self.primary.take();
            Entered::Primary(primary.expect("the primary's service for its step"))
        } else {
            self.tier_deadline = tier_deadline(self.chain.tiers[tier - 1].timeout, self.deadline);
            Entered::Tier(self.chain.service(tier))
        }
    }

    /// Sends the request to the primary, through `service` (ready), when a
    /// route put it after another tier.
    fn call_primary(&mut self, service: &mut S) -> S::Future {
        let request = self.take_request();
        self.calls = self.calls.saturating_add(1);
        match self.tier_deadline {
            Some(limit) => limit.scope(|| service.call(request)),
            None => service.call(request),
        }
    }

    /// Sends the request to the current tier, through `service` (ready).
    fn call(&mut self, service: &mut T) -> T::Future {
        let mut request = self.take_request();
        let tier = &self.chain.tiers[self.tier - 1];
        if let Some(rewrite) = &tier.rewrite {
            rewrite(&mut request);
        }
        self.calls = self.calls.saturating_add(1);
        match self.tier_deadline {
            Some(limit) => limit.scope(|| service.call(request)),
            None => service.call(request),
        }
    }

    /// The request for the current tier: a copy if a later tier may need
    /// one, else the kept request itself.
    fn take_request(&mut self) -> Req {
        // `next_tier` only picks a tier while the request is kept.
        let kept = self
            .request
            .take()
            .expect("a tier is tried only with the request kept");
        // Keep a copy only if a later tier may need one.
        if self.position(self.step + 1).is_some() {
            match self.replay.replay(&kept) {
                Some(copy) => {
                    self.request = Some(kept);
                    copy
                }
                None => {
                    tracing::debug!(layer = "fallback", outcome = "not_replayable");
                    kept
                }
            }
        } else {
            kept
        }
    }

    /// The timer fired: the current tier's timeout, or the deadline.
    fn expire(&mut self) -> Next<Res> {
        if !Limit::is_spent(self.deadline) {
            // The tier's own timeout: that tier failed, the call goes on.
            #[cfg(feature = "metrics")]
            Deadline::count_fallback_expiry(true);
            // Zero-sized: boxing it does not allocate.
            return self.settle(Err(Box::new(AttemptTimedOut::new())));
        }
        // The tier used up the call's time: that says something about it,
        // or a tier that hangs with no timeout of its own would keep an
        // estimate of zero and be tried first again.
        if self.chain.observes {
            self.observe(false);
        }
        self.chain.stats.count(self.tier, Count::Failed);
        #[cfg(feature = "metrics")]
        self.timed(false);
        if self.step == 0 && self.chain.respond.is_some() {
            self.chain.stats.fell_back();
        }
        tracing::debug!(
            layer = "fallback",
            tier = self.tier + 1,
            name = self.chain.name(self.tier).as_str(),
            outcome = "deadline",
            attempts = self.calls,
        );
        let failure = Failure::new(FailureKind::BudgetExhausted);
        Next::Return(self.finish(failure, Stop::Deadline, false))
    }

    /// Decides what to do with the current tier's result.
    fn settle(&mut self, result: Result<Res, BoxError>) -> Next<Res> {
        let stats = &self.chain.stats;
        let failure = match self.classifier.classify(&result) {
            Outcome::Failure(failure) => failure,
            _ => {
                if self.chain.observes {
                    self.observe(true);
                }
                stats.count(self.tier, Count::Served);
                #[cfg(feature = "metrics")]
                self.timed(true);
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
        // A spent budget from below (the tier's own, or the call's) counts
        // against the tier that spent it, as the deadline does in `expire`.
        if self.chain.observes
            && (failure.kind().counts_against_breaker()
                || matches!(
                    failure.kind(),
                    FailureKind::CircuitOpen | FailureKind::BudgetExhausted
                ))
        {
            self.observe(false);
        }
        stats.count(self.tier, Count::Failed);
        #[cfg(feature = "metrics")]
        self.timed(false);
        tracing::debug!(
            layer = "fallback",
            tier = self.tier + 1,
            name = self.chain.name(self.tier).as_str(),
            outcome = "failure",
            kind = failure.kind().as_str(),
            attempts = self.calls,
        );
        let next = self.next_tier(failure.kind());
        let moves_on = match next {
            Ok(_) => true,
            Err(Stop::Final) => false,
            Err(_) => self.chain.respond.is_some(),
        };
        if self.step == 0 && moves_on {
            self.chain.stats.fell_back();
        }
        match next {
            Ok(step) => {
                let tier = self.position(step).unwrap_or(0);
                #[cfg(feature = "metrics")]
                self.fell_back_metric(tier, failure.kind());
                tracing::debug!(
                    layer = "fallback",
                    tier = tier + 1,
                    name = self.chain.name(tier).as_str(),
                    outcome = "fallback",
                    reason = failure.kind().as_str(),
                );
                self.keep(result, failure.kind());
                Next::Try(step)
            }
            // The caller's fault: this result is the answer.
            Err(Stop::Final) => {
                tracing::debug!(
                    layer = "fallback",
                    outcome = "returned",
                    kind = failure.kind().as_str(),
                    attempts = self.calls,
                );
                Next::Return(self.served(result, self.tier))
            }
            Err(stop) => {
                // A `DeadlineExceeded` from below was counted where it was
                // made: the fallback only adds to what it saw.
                let counted = stop == Stop::Deadline
                    && result
                        .as_ref()
                        .is_err_and(|error| error.is::<DeadlineExceeded>());
                self.keep(result, failure.kind());
                Next::Return(self.finish(failure, stop, counted))
            }
        }
    }

    /// Reports the current tier's outcome to the route.
    fn observe(&self, served: bool) {
        let Some(route) = &self.chain.route else {
            return;
        };
        let latency = self
            .started
            .map(|started| started.elapsed())
            .unwrap_or_default();
        let observed = if served {
            Observed::Served { latency }
        } else {
            Observed::Failed { latency }
        };
        route.observe(self.tier, observed);
    }

    /// The step of the next tier to try after a failure of `kind`, or why
    /// none is.
    fn next_tier(&mut self, kind: FailureKind) -> Result<usize, Stop> {
        let filtered = kind == FailureKind::ContentFiltered && !self.chain.content_filtered;
        if !kind.may_fall_back() || filtered {
            return Err(Stop::Final);
        }
        if Limit::is_spent(self.deadline) {
            return Err(Stop::Deadline);
        }
        self.too_long |= kind == FailureKind::ContextTooLong;
        let later = self.step + 1..;
        let Some(request) = &self.request else {
            // Not copyable: no later tier can be sent anything.
            for step in later {
                let Some(tier) = self.position(step) else {
                    break;
                };
                self.skip(tier, "not_replayable");
            }
            return Err(Stop::Exhausted);
        };
        for step in later {
            let Some(tier) = self.position(step) else {
                break;
            };
            let accepts = match tier {
                // The primary has no guard: like a tier without one.
                0 => !self.too_long,
                _ => self.chain.tiers[tier - 1].accepts(request, self.too_long),
            };
            if accepts {
                return Ok(step);
            }
            self.skip(tier, if self.too_long { "context" } else { "guard" });
        }
        Err(Stop::Exhausted)
    }

    fn skip(&self, tier: usize, reason: &'static str) {
        self.chain.stats.count(tier, Count::Skipped);
        tracing::debug!(
            layer = "fallback",
            tier = tier + 1,
            name = self.chain.name(tier).as_str(),
            outcome = "skipped",
            reason,
        );
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

    /// The answer once no tier is left to try. When the deadline is what
    /// stopped the chain, counts the expiry unless it was `counted` below.
    fn finish(&mut self, failure: Failure, stop: Stop, counted: bool) -> Result<Res, BoxError> {
        #[cfg(feature = "metrics")]
        if stop == Stop::Deadline && !counted {
            // An outer tier's timeout, or the logical call's deadline.
            Deadline::count_fallback_expiry(self.deadline.is_some_and(|limit| limit.tier));
        }
        #[cfg(not(feature = "metrics"))]
        let _ = counted;
        if let Some(respond) = &self.chain.respond {
            let tier = self.chain.static_index();
            #[cfg(feature = "metrics")]
            self.fell_back_metric(tier, failure.kind());
            self.chain.stats.count(tier, Count::Served);
            tracing::debug!(
                layer = "fallback",
                tier = tier + 1,
                name = self.chain.name(tier).as_str(),
                outcome = "static",
                reason = failure.kind().as_str(),
                attempts = self.calls,
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
            kind = failure.kind().as_str(),
            attempts = self.calls,
        );
        match self.best.take() {
            Some(Kept {
                result: Ok(response),
                tier,
                ..
            }) => self.served(Ok(response), tier),
            // The caller's budget is what ran out: say so, rather than pass
            // on an earlier tier's error.
            _ if stop == Stop::Deadline => Err(Box::new(DeadlineExceeded::new())),
            Some(Kept { result, .. }) => result,
            None => Err(Box::new(DeadlineExceeded::new())),
        }
    }

    /// Records how long the current tier took.
    #[cfg(feature = "metrics")]
    #[inline]
    fn timed(&mut self, success: bool) {
        let started = self.waiting_since.take();
        if let Some(tier) = self.chain.stats.tiers.get(self.tier) {
            tier.metrics.finished(success, started);
        }
    }

    /// Counts a move from the current tier to `to` after a failure of `kind`.
    #[cfg(feature = "metrics")]
    fn fell_back_metric(&self, to: usize, kind: FailureKind) {
        let tiers = &self.chain.stats.tiers;
        if let (Some(from), Some(to)) = (tiers.get(self.tier), tiers.get(to)) {
            from.metrics.fell_back(&to.metrics, kind);
        }
    }

    /// Records which tier `result` came from, if it is a response.
    fn served(&self, mut result: Result<Res, BoxError>, tier: usize) -> Result<Res, BoxError> {
        if !M::RECORDS {
            return result;
        }
        if let Ok(response) = &mut result {
            let served = ServedBy::new(tier + 1, self.chain.name(tier).clone(), self.calls);
            self.record.record(response, &served);
        }
        result
    }
}

/// Dropped before its answer is out (the caller went away, an outer
/// timeout fired), the call records its tier as cancelled: the slowest
/// calls stay in the tier's latency. On `Run` rather than on the future:
/// the future's fields drop first in declaration order, so the tier's work
/// is gone when this runs, and without the `metrics` feature there is no
/// drop code at all.
#[cfg(feature = "metrics")]
impl<S, T, Req, Res, C, R, M> Drop for Run<S, T, Req, Res, C, R, M> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(tier) = self.chain.stats.tiers.get(self.tier) {
            tier.metrics.cancelled(self.waiting_since);
        }
    }
}

impl<S, T, Req, Res, C, R, M> fmt::Debug for ResponseFuture<S, T, Req, Res, C, R, M>
where
    S: Service<Req>,
    T: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("tier", &(self.run.tier + 1))
            .field("calls", &self.run.calls)
            .finish_non_exhaustive()
    }
}
