use crate::body::{into_bytes, prefixed_size_hint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{Attempt, Replay};
use crate::BoxError;

/// Makes `http::Request<B>` with a streaming body replayable: buffers bodies
/// of up to `limit` bytes so that [`Retry`](super::Retry) (with
/// [`BodyReplay`]) can send them again.
///
/// A body larger than the limit (known from its size hint, or found while
/// reading) is not buffered further: what was read is sent first, then the
/// rest of the stream, and the request is sent once and never retried.
///
/// Put it above the retry layer:
///
/// ```
/// use tower::ServiceBuilder;
/// use tower_failover::retry::{BodyReplay, ReplayBody, ReplayBodyLayer, RetryLayer, RetryPolicy};
///
/// # fn doc<B: http_body::Body + Unpin, C>(client: C)
/// # where C: tower_service::Service<http::Request<ReplayBody<B>>> + Clone {
/// let stack = ServiceBuilder::new()
///     .layer(ReplayBodyLayer::new(1024 * 1024))
///     .layer(RetryLayer::new(RetryPolicy::default()).replay(BodyReplay))
///     .service(client);
/// # let _ = stack;
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ReplayBodyLayer {
    limit: usize,
}

impl ReplayBodyLayer {
    /// Buffers bodies of up to `limit` bytes.
    pub const fn new(limit: usize) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for ReplayBodyLayer {
    type Service = ReplayBodyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReplayBodyService {
            inner,
            limit: self.limit,
        }
    }
}

/// Buffers request bodies; see [`ReplayBodyLayer`].
#[derive(Clone, Debug)]
pub struct ReplayBodyService<S> {
    inner: S,
    limit: usize,
}

impl<S> ReplayBodyService<S> {
    /// A reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// A mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<http::Request<B>> for ReplayBodyService<S>
where
    S: Service<http::Request<ReplayBody<B>>> + Clone,
    S::Error: Into<BoxError>,
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BufferFuture<S, B>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        let (parts, body) = request.into_parts();
        BufferFuture {
            state: BufferState::Collecting {
                parts: Some(parts),
                body: Some(body),
                buffer: BytesMut::new(),
                service: Some(service),
                limit: self.limit,
            },
        }
    }
}

pin_project! {
    /// Response future of [`ReplayBodyService`]: reads the body, then calls
    /// the inner service.
    #[must_use = "futures do nothing unless polled"]
    pub struct BufferFuture<S, B>
    where
        S: Service<http::Request<ReplayBody<B>>>,
    {
        #[pin]
        state: BufferState<S, B>,
    }
}

pin_project! {
    #[project = BufferStateProj]
    enum BufferState<S, B>
    where
        S: Service<http::Request<ReplayBody<B>>>,
    {
        Collecting {
            parts: Option<http::request::Parts>,
            body: Option<B>,
            buffer: BytesMut,
            service: Option<S>,
            limit: usize,
        },
        Calling { #[pin] future: S::Future },
    }
}

impl<S, B> Future for BufferFuture<S, B>
where
    S: Service<http::Request<ReplayBody<B>>>,
    S::Error: Into<BoxError>,
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                BufferStateProj::Collecting {
                    parts,
                    body,
                    buffer,
                    service,
                    limit,
                } => {
                    let replay_body = ready!(collect(body, buffer, *limit, cx))?;
                    let (Some(parts), Some(mut service)) = (parts.take(), service.take()) else {
                        // Only reachable if polled again after a panic.
                        return Poll::Pending;
                    };
                    let future = service.call(http::Request::from_parts(parts, replay_body));
                    this.state.set(BufferState::Calling { future });
                }
                BufferStateProj::Calling { future } => {
                    return future.poll(cx).map_err(Into::into);
                }
            }
        }
    }
}

/// Reads `body` into `buffer` until it ends (a replayable body) or passes
/// `limit` (a body that streams the rest).
fn collect<B>(
    body: &mut Option<B>,
    buffer: &mut BytesMut,
    limit: usize,
    cx: &mut Context<'_>,
) -> Poll<Result<ReplayBody<B>, BoxError>>
where
    B: Body + Unpin,
    B::Error: Into<BoxError>,
{
    let Some(stream) = body.as_mut() else {
        return Poll::Ready(Err("replay body polled after completion".into()));
    };
    // A body that says it is larger than the limit is not read at all.
    if stream.size_hint().lower() <= limit as u64 {
        loop {
            if stream.is_end_stream() {
                body.take();
                return Poll::Ready(Ok(ReplayBody::buffered(buffer.split().freeze(), None)));
            }
            match ready!(Pin::new(&mut *stream).poll_frame(cx)) {
                None => {
                    body.take();
                    return Poll::Ready(Ok(ReplayBody::buffered(buffer.split().freeze(), None)));
                }
                Some(Err(error)) => return Poll::Ready(Err(error.into())),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        buffer.put(data);
                        if buffer.len() > limit {
                            break;
                        }
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            body.take();
                            return Poll::Ready(Ok(ReplayBody::buffered(
                                buffer.split().freeze(),
                                Some(trailers),
                            )));
                        }
                    }
                },
            }
        }
    }
    let Some(rest) = body.take() else {
        return Poll::Ready(Err("replay body polled after completion".into()));
    };
    tracing::debug!(
        layer = "retry",
        outcome = "not_replayable",
        reason = "body_over_limit",
        limit
    );
    Poll::Ready(Ok(ReplayBody::streaming(buffer.split().freeze(), rest)))
}

pin_project! {
    /// A request body that is either fully buffered (and so replayable) or a
    /// buffered prefix followed by the rest of a stream (sent once). Made by
    /// [`ReplayBodyLayer`].
    pub struct ReplayBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Buffered { data: Option<Bytes>, trailers: Option<HeaderMap> },
        Streaming { prefix: Option<Bytes>, #[pin] rest: B },
    }
}

impl<B> ReplayBody<B> {
    fn buffered(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self {
            kind: Kind::Buffered {
                data: (!data.is_empty()).then_some(data),
                trailers,
            },
        }
    }

    fn streaming(prefix: Bytes, rest: B) -> Self {
        Self {
            kind: Kind::Streaming {
                prefix: (!prefix.is_empty()).then_some(prefix),
                rest,
            },
        }
    }

    /// A body holding `data`, replayable.
    pub fn from_bytes(data: impl Into<Bytes>) -> Self {
        Self::buffered(data.into(), None)
    }

    /// Whether the whole body is buffered, so the request can be replayed.
    pub fn is_replayable(&self) -> bool {
        matches!(self.kind, Kind::Buffered { .. })
    }

    /// The bytes of a buffered body (empty if it has none), or `None` for a
    /// streaming one; for `llm::model::JsonBody`.
    #[cfg(feature = "llm")]
    pub(crate) fn buffered_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Buffered { data, .. } => Some(data.as_deref().unwrap_or_default()),
            Kind::Streaming { .. } => None,
        }
    }

    /// Replaces the data of a buffered body (its trailers kept); `false`,
    /// changing nothing, for a streaming one.
    #[cfg(feature = "llm")]
    pub(crate) fn set_buffered_bytes(&mut self, bytes: Bytes) -> bool {
        match &mut self.kind {
            Kind::Buffered { data, .. } => {
                *data = (!bytes.is_empty()).then_some(bytes);
                true
            }
            Kind::Streaming { .. } => false,
        }
    }

    /// A copy of a buffered body (a cheap reference-counted clone), or
    /// `None` for a streaming one.
    pub fn try_clone(&self) -> Option<Self> {
        match &self.kind {
            Kind::Buffered { data, trailers } => Some(Self {
                kind: Kind::Buffered {
                    data: data.clone(),
                    trailers: trailers.clone(),
                },
            }),
            Kind::Streaming { .. } => None,
        }
    }
}

impl<B> std::fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Buffered { data, .. } => f
                .debug_struct("ReplayBody::Buffered")
                .field("len", &data.as_ref().map_or(0, Bytes::len))
                .finish(),
            Kind::Streaming { .. } => f
                .debug_struct("ReplayBody::Streaming")
                .finish_non_exhaustive(),
        }
    }
}

impl<B> Body for ReplayBody<B>
where
    B: Body,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Buffered { data, trailers } => {
                if let Some(data) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(
                    trailers
                        .take()
                        .map(|trailers| Ok(Frame::trailers(trailers))),
                )
            }
            KindProj::Streaming { prefix, rest } => {
                if let Some(prefix) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(prefix))));
                }
                rest.poll_frame(cx)
                    .map(|frame| frame.map(|frame| frame.map(into_bytes)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Buffered { data, trailers } => data.is_none() && trailers.is_none(),
            Kind::Streaming { prefix, rest } => prefix.is_none() && rest.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Buffered { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Streaming { prefix, rest } => {
                prefixed_size_hint(prefix.as_ref(), rest.size_hint())
            }
        }
    }
}

/// Replays `http::Request<ReplayBody<B>>` whose body is buffered (see
/// [`ReplayBodyLayer`]), and records the [`Attempt`] in each request's
/// extensions like [`HttpReplay`](super::HttpReplay).
#[derive(Clone, Copy, Debug, Default)]
pub struct BodyReplay;

impl<B> Replay<http::Request<ReplayBody<B>>> for BodyReplay {
    fn replay(
        &self,
        request: &http::Request<ReplayBody<B>>,
    ) -> Option<http::Request<ReplayBody<B>>> {
        let body = request.body().try_clone()?;
        let mut copy = http::Request::new(body);
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.version_mut() = request.version();
        *copy.headers_mut() = request.headers().clone();
        *copy.extensions_mut() = request.extensions().clone();
        Some(copy)
    }

    #[inline]
    fn prepare(&self, request: &mut http::Request<ReplayBody<B>>, attempt: Attempt) {
        request.extensions_mut().insert(attempt);
    }
}
