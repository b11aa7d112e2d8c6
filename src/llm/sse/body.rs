use crate::body::{into_bytes, prefixed_size_hint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::StreamTimedOut;
use super::reader::BlockScanner;
use crate::BoxError;
use crate::deadline::Deadline;

pin_project! {
    /// The response body of [`SseGuard`](super::SseGuard).
    ///
    /// For a response the guard does not judge (not a 2xx event stream) it
    /// is the inner body, untouched. For a committed event stream it yields
    /// the bytes read before the commit, then the rest of the inner body,
    /// byte for byte; a transport error or the idle timeout
    /// ([`StreamTimedOut`]) ends it with an error, never with a
    /// clean-looking end. See the [module docs](super).
    ///
    /// Frames are turned into [`Bytes`] with `copy_to_bytes`, which copies
    /// nothing when the inner body's data already is `Bytes` (hyper's is).
    /// A guarded body holds a timer, so `SseBody` is not `Unpin`: pin it
    /// (`Box::pin`, `std::pin::pin!`) or box it
    /// (`http_body_util::BodyExt::boxed`) where `Unpin` is needed.
    pub struct SseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        PassThrough { #[pin] body: B },
        Guarded {
            prefix: Option<Bytes>,
            // `None` once ended, failed or timed out: the inner body is
            // dropped at once.
            #[pin]
            body: Option<B>,
            idle: Option<Duration>,
            // When the idle timer fires: moved on (without touching the
            // timer) at each block end, checked when the timer fires.
            idle_at: Instant,
            #[pin]
            sleep: Option<Sleep>,
            scanner: BlockScanner,
        },
    }
}

impl<B> SseBody<B> {
    pub(super) fn pass_through(body: B) -> Self {
        Self {
            kind: Kind::PassThrough { body },
        }
    }

    /// A committed stream: `prefix` (what was read before the commit, at
    /// `committed`), then `body`.
    pub(super) fn guarded(
        prefix: Bytes,
        body: B,
        idle: Option<Duration>,
        committed: Instant,
    ) -> Self {
        let mut scanner = BlockScanner::new();
        scanner.scan(&prefix);
        Self {
            kind: Kind::Guarded {
                prefix: (!prefix.is_empty()).then_some(prefix),
                body: Some(body),
                idle,
                idle_at: idle_deadline(committed, idle),
                sleep: None,
                scanner,
            },
        }
    }

    /// Whether the guard judged this response an event stream (and so
    /// watches it for idleness); `false` for a response passed through.
    pub fn is_guarded(&self) -> bool {
        matches!(self.kind, Kind::Guarded { .. })
    }
}

fn idle_deadline(from: Instant, idle: Option<Duration>) -> Instant {
    match idle {
        Some(idle) => Deadline::after_from(from, idle).instant(),
        None => from,
    }
}

impl<B> std::fmt::Debug for SseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::PassThrough { .. } => f
                .debug_struct("SseBody::PassThrough")
                .finish_non_exhaustive(),
            Kind::Guarded {
                prefix, body, idle, ..
            } => f
                .debug_struct("SseBody::Guarded")
                .field("prefix", &prefix.as_ref().map_or(0, Bytes::len))
                .field("ended", &body.is_none())
                .field("idle_timeout", idle)
                .finish_non_exhaustive(),
        }
    }
}

impl<B> Body for SseBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::PassThrough { body } => body
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map(into_bytes).map_err(Into::into))),
            KindProj::Guarded {
                prefix,
                mut body,
                idle,
                idle_at,
                mut sleep,
                scanner,
            } => {
                if let Some(prefix) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(prefix))));
                }
                let Some(inner) = body.as_mut().as_pin_mut() else {
                    return Poll::Ready(None);
                };
                match inner.poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        let frame = into_bytes(frame);
                        if let Some(data) = frame.data_ref() {
                            if scanner.scan(data) && idle.is_some() {
                                *idle_at = idle_deadline(Instant::now(), *idle);
                            }
                        }
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    Poll::Ready(Some(Err(error))) => {
                        body.set(None);
                        sleep.set(None);
                        tracing::debug!(
                            layer = "sse",
                            outcome = "transport_error",
                            committed = true
                        );
                        return Poll::Ready(Some(Err(error.into())));
                    }
                    Poll::Ready(None) => {
                        body.set(None);
                        sleep.set(None);
                        return Poll::Ready(None);
                    }
                    Poll::Pending => {}
                }
                let Some(timeout) = *idle else {
                    return Poll::Pending;
                };
                loop {
                    match sleep.as_mut().as_pin_mut() {
                        None => sleep.set(Some(tokio::time::sleep_until(*idle_at))),
                        Some(mut timer) => {
                            if timer.deadline() < *idle_at {
                                // A block ended since the timer was set.
                                timer.as_mut().reset(*idle_at);
                            }
                            if timer.poll(cx).is_pending() {
                                return Poll::Pending;
                            }
                            body.set(None);
                            sleep.set(None);
                            tracing::debug!(
                                layer = "sse",
                                outcome = "timeout",
                                kind = "idle",
                                timeout_ms = timeout.as_millis() as u64
                            );
                            return Poll::Ready(Some(Err(Box::new(StreamTimedOut::idle(timeout)))));
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::PassThrough { body } => body.is_end_stream(),
            Kind::Guarded { prefix, body, .. } => {
                prefix.is_none() && body.as_ref().is_none_or(Body::is_end_stream)
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::PassThrough { body } => body.size_hint(),
            Kind::Guarded { prefix, body, .. } => {
                let rest = body.as_ref().map_or(SizeHint::with_exact(0), B::size_hint);
                prefixed_size_hint(prefix.as_ref(), rest)
            }
        }
    }
}
