use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use http_body::Body;
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::layer::Config;
use super::reader::{Event, EventReader};
use super::{SseBody, StreamEnded, StreamErrorEvent, StreamTimedOut};
use crate::BoxError;
use crate::deadline::{Deadline, DeadlineExceeded};

/// How many frames one poll reads before yielding to the runtime, so that
/// a body that is always ready cannot starve the timer or the task.
const FRAMES_PER_POLL: usize = 64;

/// What the first-event timer means when it fires.
#[derive(Clone, Copy, Debug)]
pub(super) enum Expiry {
    /// The guard's own first-event timeout: [`StreamTimedOut`].
    FirstEvent(Duration),
    /// The logical call's deadline, which was earlier: [`DeadlineExceeded`].
    Deadline,
}

impl Expiry {
    fn error(self) -> BoxError {
        match self {
            Self::FirstEvent(after) => Box::new(StreamTimedOut::first_event(after)),
            Self::Deadline => Box::new(DeadlineExceeded::new()),
        }
    }
}

pin_project! {
    /// Response future of [`SseGuard`](super::SseGuard): waits for the
    /// response, then, for a 2xx event stream, reads its body until the
    /// first event. See the [module docs](super).
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
        config: Config,
        // When the first-event timer fires, and what it means; `None`
        // without a first-event timeout (a deadline alone arms nothing: an
        // attempt timeout above enforces it).
        expiry: Option<(Instant, Expiry)>,
        // Armed on the first `Pending`.
        #[pin]
        sleep: Option<Sleep>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Calling { #[pin] future: F },
        Reading {
            parts: Option<http::response::Parts>,
            body: Option<B>,
            buffer: BytesMut,
            reader: EventReader,
        },
        Done,
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Calling { .. } => "calling",
            State::Reading { .. } => "reading",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<F, B> ResponseFuture<F, B> {
    /// `now` is `Some` when there is a first-event timeout.
    pub(super) fn new(future: F, config: Config, now: Option<Instant>) -> Self {
        let expiry = config.first_event_timeout.zip(now).map(|(after, now)| {
            match Deadline::limit_from(now, after) {
                (logical, true) => (logical.instant(), Expiry::Deadline),
                (own, false) => (own.instant(), Expiry::FirstEvent(after)),
            }
        });
        Self {
            state: State::Calling { future },
            config,
            expiry,
            sleep: None,
        }
    }
}

/// Whether a response is a successful event stream, which the guard judges.
fn is_event_stream(response: &http::response::Parts) -> bool {
    if !response.status.is_success() {
        return false;
    }
    let Some(value) = response.headers.get(http::header::CONTENT_TYPE) else {
        return false;
    };
    let essence = value.as_bytes().split(|&b| b == b';').next().unwrap_or(b"");
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"text/event-stream")
}

/// Whether the first event reports an error.
fn is_error(event: &Event) -> bool {
    if event.event_type() == "error" {
        return true;
    }
    let data = event.data().trim_ascii_start();
    if !data.starts_with('{') {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default)]
        error: Option<serde::de::IgnoredAny>,
    }
    matches!(
        serde_json::from_str::<Probe>(data),
        Ok(Probe { error: Some(_) })
    )
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Output = Result<http::Response<SseBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut frames = 0;
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => match future.poll(cx) {
                    Poll::Ready(Ok(response)) => {
                        let (parts, body) = response.into_parts();
                        if !is_event_stream(&parts) {
                            this.state.set(State::Done);
                            let body = SseBody::pass_through(body);
                            return Poll::Ready(Ok(http::Response::from_parts(parts, body)));
                        }
                        let max = this.config.max_first_event_bytes;
                        this.state.set(State::Reading {
                            parts: Some(parts),
                            body: Some(body),
                            buffer: BytesMut::new(),
                            reader: EventReader::new(max),
                        });
                    }
                    Poll::Ready(Err(error)) => {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(error.into()));
                    }
                    Poll::Pending => break,
                },
                StateProj::Reading {
                    parts,
                    body,
                    buffer,
                    reader,
                } => {
                    let Some(stream) = body.as_mut() else {
                        return Poll::Ready(Err("sse guard polled after completion".into()));
                    };
                    let read = match Pin::new(stream).poll_frame(cx) {
                        Poll::Pending => break,
                        Poll::Ready(None) => Some(Err(Box::new(StreamEnded::new()) as BoxError)),
                        Poll::Ready(Some(Err(error))) => Some(Err(error.into())),
                        Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                            Ok(data) => read_data(data, buffer, reader, this.config),
                            // Trailers end the body: no event came.
                            Err(_) => Some(Err(Box::new(StreamEnded::new()) as BoxError)),
                        },
                    };
                    let Some(read) = read else {
                        frames += 1;
                        if frames >= FRAMES_PER_POLL {
                            cx.waker().wake_by_ref();
                            break;
                        }
                        continue;
                    };
                    match read {
                        Ok(()) => {
                            let (Some(parts), Some(stream)) = (parts.take(), body.take()) else {
                                return Poll::Ready(
                                    Err("sse guard polled after completion".into()),
                                );
                            };
                            let prefix = buffer.split().freeze();
                            this.state.set(State::Done);
                            this.sleep.set(None);
                            let body = SseBody::guarded(
                                prefix,
                                stream,
                                this.config.idle_timeout,
                                Instant::now(),
                            );
                            return Poll::Ready(Ok(http::Response::from_parts(parts, body)));
                        }
                        Err(error) => {
                            log_failure(&error);
                            // Drops the inner body: the connection is released.
                            this.state.set(State::Done);
                            this.sleep.set(None);
                            return Poll::Ready(Err(error));
                        }
                    }
                }
                StateProj::Done => {
                    return Poll::Ready(Err("sse guard polled after completion".into()));
                }
            }
        }
        let Some((at, expiry)) = *this.expiry else {
            return Poll::Pending;
        };
        if this.sleep.is_none() {
            this.sleep.set(Some(tokio::time::sleep_until(at)));
        }
        match this.sleep.as_mut().as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => {
                match expiry {
                    Expiry::FirstEvent(after) => tracing::debug!(
                        layer = "sse",
                        outcome = "timeout",
                        kind = "first_event",
                        timeout_ms = after.as_millis() as u64
                    ),
                    Expiry::Deadline => {
                        tracing::debug!(layer = "sse", outcome = "timeout", kind = "deadline");
                    }
                }
                // Drops the inner future or body.
                this.state.set(State::Done);
                this.sleep.set(None);
                Poll::Ready(Err(expiry.error()))
            }
            _ => Poll::Pending,
        }
    }
}

/// Buffers one data frame and feeds it to the reader: `Some(Ok(()))` to
/// commit (the first event came and is not an error, or the bound was
/// passed), `Some(Err(_))` for an error event, `None` to read on.
fn read_data<D: Buf>(
    mut data: D,
    buffer: &mut BytesMut,
    reader: &mut EventReader,
    config: &Config,
) -> Option<Result<(), BoxError>> {
    let start = buffer.len();
    while data.has_remaining() {
        let chunk = data.chunk();
        buffer.put_slice(chunk);
        let len = chunk.len();
        data.advance(len);
    }
    // The reader reads the whole input unless an event ends in it.
    let mut input = &buffer[start..];
    match reader.next_event(&mut input) {
        Ok(Some(event)) => {
            if is_error(&event) {
                let error = StreamErrorEvent::new(event);
                return Some(Err(Box::new(error)));
            }
            tracing::trace!(layer = "sse", outcome = "committed", bytes = buffer.len());
            return Some(Ok(()));
        }
        Ok(None) => {}
        Err(_) => {
            tracing::debug!(
                layer = "sse",
                outcome = "too_large",
                max = config.max_first_event_bytes
            );
            return Some(Ok(()));
        }
    }
    if buffer.len() > config.max_first_event_bytes {
        tracing::debug!(
            layer = "sse",
            outcome = "too_large",
            max = config.max_first_event_bytes
        );
        return Some(Ok(()));
    }
    None
}

fn log_failure(error: &BoxError) {
    if let Some(event) = error.downcast_ref::<StreamErrorEvent>() {
        let provider_error = event.provider_error();
        tracing::debug!(
            layer = "sse",
            outcome = "error_event",
            kind = ?provider_error.and_then(|e| e.kind()),
            event = event.event_type(),
            error_type = provider_error.and_then(|e| e.error_type()),
            retry_after_ms = provider_error
                .and_then(|e| e.retry_after())
                .map(|after| after.as_millis() as u64),
        );
    } else if error.is::<StreamEnded>() {
        tracing::debug!(layer = "sse", outcome = "ended", kind = "empty_stream");
    } else {
        tracing::debug!(layer = "sse", outcome = "transport_error", error = %error);
    }
}
