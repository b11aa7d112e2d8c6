use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_service::Service;

use super::bucket::Reserved;
use super::error::{RateLimitError, RateLimited};
use super::limits::ReadLimits;
use super::shared::{Shared, Stamps};

/// A waiting call's slots in the buckets: given back if the call is dropped
/// before its turn, so that the next caller is not delayed by it.
pub(super) struct Reservation {
    shared: Arc<Shared>,
    reserved: [Reserved; 2],
}

impl Reservation {
    pub(super) fn new(shared: Arc<Shared>, reserved: [Reserved; 2]) -> Self {
        Self { shared, reserved }
    }

    /// The turn came: the slots are used.
    fn used(mut self) {
        self.reserved = [Reserved::NONE; 2];
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.shared.refund(self.reserved);
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation").finish_non_exhaustive()
    }
}

/// The limiter, its reader and the call's admission stamps, for a call
/// whose response adapts the bucket.
pub(super) type Adapt<A> = Option<(Arc<Shared>, A, Stamps)>;

pin_project! {
    /// Response future of [`RateLimit`](super::RateLimit).
    ///
    /// Waits for the call's turn (if it has to), then calls the inner
    /// service and, if the limiter adapts, reads the response's rate
    /// limits. Dropping it while it waits gives the call's slot back.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<S, Req, A>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future, S, Req>,
        reservation: Option<Reservation>,
        adapt: Adapt<A>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F, S, Req> {
        // The timer is boxed: only a waiting call pays for it, and the
        // future of a call that passes at once stays small.
        Waiting { sleep: Pin<Box<Sleep>>, service: Option<S>, request: Option<Req> },
        Calling { #[pin] future: F },
        Limited { error: Option<RateLimited> },
    }
}

impl<S: Service<Req>, Req, A> ResponseFuture<S, Req, A> {
    #[inline]
    pub(super) fn calling(future: S::Future, adapt: Adapt<A>) -> Self {
        Self {
            state: State::Calling { future },
            reservation: None,
            adapt,
        }
    }

    #[cold]
    pub(super) fn waiting(
        sleep: Pin<Box<Sleep>>,
        service: S,
        request: Req,
        reservation: Reservation,
        adapt: Adapt<A>,
    ) -> Self {
        Self {
            state: State::Waiting {
                sleep,
                service: Some(service),
                request: Some(request),
            },
            reservation: Some(reservation),
            adapt,
        }
    }

    #[cold]
    pub(super) fn limited(error: RateLimited) -> Self {
        Self {
            state: State::Limited { error: Some(error) },
            reservation: None,
            adapt: None,
        }
    }
}

impl<S, Req, A> std::fmt::Debug for ResponseFuture<S, Req, A>
where
    S: Service<Req>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } => "Waiting",
            State::Calling { .. } => "Calling",
            State::Limited { .. } => "Limited",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<S, Req, A> Future for ResponseFuture<S, Req, A>
where
    S: Service<Req>,
    A: ReadLimits<S::Response>,
{
    type Output = Result<S::Response, RateLimitError<S::Error>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting {
                    sleep,
                    service,
                    request,
                } => {
                    ready!(sleep.as_mut().poll(cx));
                    if let Some(reservation) = this.reservation.take() {
                        reservation.used();
                    }
                    let (Some(mut service), Some(request)) = (service.take(), request.take())
                    else {
                        panic!("`ResponseFuture` polled after completion");
                    };
                    let future = service.call(request);
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx));
                    if let (Ok(response), Some((shared, reader, stamps))) =
                        (&result, this.adapt.as_ref())
                    {
                        shared.apply(reader.read_limits(response), *stamps);
                    }
                    return Poll::Ready(result.map_err(RateLimitError::Inner));
                }
                StateProj::Limited { error } => {
                    return match error.take() {
                        Some(error) => Poll::Ready(Err(RateLimitError::Limited(error))),
                        None => panic!("`ResponseFuture` polled after completion"),
                    };
                }
            }
        }
    }
}
