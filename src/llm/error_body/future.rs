use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::HeaderMap;
use http::response::Parts;
use http_body::Body;
use pin_project_lite::pin_project;

use super::ResponseBody;
use crate::classify::classify_status;
use crate::llm::ProviderError;

pin_project! {
    /// Response future of [`ErrorBody`](super::ErrorBody): the inner call,
    /// then, for a failed response, the reading of its body.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
        limit: usize,
        // Set when the output is returned. A flag rather than a `Done`
        // state: replacing the pinned state on the success path cost
        // ~35 ns per call in `benches/overhead` (llm/error_body_success).
        done: bool,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Calling { #[pin] future: F },
        Reading { read: Option<Read<B>> },
    }
}

/// A failed response whose body is being read.
struct Read<B> {
    parts: Parts,
    body: Pin<Box<B>>,
    buffer: BytesMut,
}

impl<F, B> ResponseFuture<F, B> {
    pub(super) const fn new(future: F, limit: usize) -> Self {
        Self {
            state: State::Calling { future },
            limit,
            done: false,
        }
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Calling { .. } => "calling",
            State::Reading { .. } => "reading",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("limit", &self.limit)
            .finish()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: Body,
    B::Data: Buf,
{
    type Output = Result<http::Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "`ResponseFuture` polled after completion");
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx));
                    let response = match result {
                        Ok(response) => response,
                        Err(error) => {
                            *this.done = true;
                            return Poll::Ready(Err(error));
                        }
                    };
                    if classify_status(response.status()).is_none()
                        || response.body().size_hint().lower() > *this.limit as u64
                    {
                        *this.done = true;
                        return Poll::Ready(Ok(response.map(ResponseBody::streaming)));
                    }
                    let (parts, body) = response.into_parts();
                    let read = Read {
                        parts,
                        body: Box::pin(body),
                        buffer: BytesMut::new(),
                    };
                    this.state.set(State::Reading { read: Some(read) });
                }
                StateProj::Reading { read } => {
                    const READ: &str = "the body is there until it is read";
                    let done = ready!(read.as_mut().expect(READ).poll_read(*this.limit, cx));
                    *this.done = true;
                    return Poll::Ready(Ok(read.take().expect(READ).finish(done)));
                }
            }
        }
    }
}

/// How reading an error body ended.
enum Done<E> {
    /// The whole body is in the buffer.
    Read(Option<HeaderMap>),
    /// The body is larger than the limit; the buffer holds its start.
    TooLarge,
    /// The body failed; the buffer holds what arrived before.
    Failed(E),
}

impl<B> Read<B>
where
    B: Body,
    B::Data: Buf,
{
    fn poll_read(&mut self, limit: usize, cx: &mut Context<'_>) -> Poll<Done<B::Error>> {
        loop {
            if self.body.is_end_stream() {
                return Poll::Ready(Done::Read(None));
            }
            let frame = match ready!(self.body.as_mut().poll_frame(cx)) {
                None => return Poll::Ready(Done::Read(None)),
                Some(Err(error)) => return Poll::Ready(Done::Failed(error)),
                Some(Ok(frame)) => frame,
            };
            match frame.into_data() {
                Ok(mut data) => {
                    // Never hold more than the limit plus one chunk.
                    self.buffer.put(&mut data);
                    if self.buffer.len() > limit {
                        return Poll::Ready(Done::TooLarge);
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        return Poll::Ready(Done::Read(Some(trailers)));
                    }
                }
            }
        }
    }

    #[cold]
    fn finish(self, done: Done<B::Error>) -> http::Response<ResponseBody<B>> {
        let Self {
            mut parts,
            body,
            buffer,
        } = self;
        let data: Bytes = buffer.freeze();
        let body = match done {
            Done::Read(trailers) => {
                if let Some(found) = ProviderError::parse(parts.status, &data) {
                    tracing::debug!(
                        layer = "error_body",
                        status = parts.status.as_u16(),
                        provider = found.provider().as_str(),
                        kind = found.kind().map(|kind| kind.as_str()),
                        error_type = found.error_type(),
                        code = found.code(),
                        retry_after_ms = found.retry_after().map(|after| after.as_millis() as u64),
                        "error body understood"
                    );
                    parts.extensions.insert(found);
                }
                ResponseBody::read(data, trailers)
            }
            Done::TooLarge => {
                tracing::debug!(
                    layer = "error_body",
                    status = parts.status.as_u16(),
                    outcome = "too_large",
                    "error body over the limit, passed on unread"
                );
                ResponseBody::prefixed(data, body)
            }
            Done::Failed(error) => {
                tracing::debug!(
                    layer = "error_body",
                    status = parts.status.as_u16(),
                    outcome = "body_failed",
                    "error body failed while being read"
                );
                ResponseBody::failed(data, error)
            }
        };
        http::Response::from_parts(parts, body)
    }
}
