use crate::body::{into_bytes, prefixed_size_hint};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The body of a response that passed an [`ErrorBody`](super::ErrorBody)
    /// layer: the upstream's body, byte for byte.
    ///
    /// A success's body, or an error body over the limit, streams straight
    /// from the upstream (the part read before the limit was passed comes
    /// first). An error body that was read is replayed from memory, with its
    /// trailers; one that failed while being read replays what arrived and
    /// then yields the upstream's error.
    pub struct ResponseBody<B>
    where
        B: Body,
    {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B>
    where
        B: Body,
    {
        Streaming { #[pin] body: B },
        Read { data: Option<Bytes>, trailers: Option<HeaderMap> },
        Prefixed { prefix: Option<Bytes>, rest: Pin<Box<B>> },
        Failed { prefix: Option<Bytes>, error: Option<B::Error> },
    }
}

fn non_empty(data: Bytes) -> Option<Bytes> {
    (!data.is_empty()).then_some(data)
}

impl<B: Body> ResponseBody<B> {
    pub(super) const fn streaming(body: B) -> Self {
        Self {
            kind: Kind::Streaming { body },
        }
    }

    pub(super) fn read(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self {
            kind: Kind::Read {
                data: non_empty(data),
                trailers,
            },
        }
    }

    pub(super) fn prefixed(prefix: Bytes, rest: Pin<Box<B>>) -> Self {
        Self {
            kind: Kind::Prefixed {
                prefix: non_empty(prefix),
                rest,
            },
        }
    }

    pub(super) fn failed(prefix: Bytes, error: B::Error) -> Self {
        Self {
            kind: Kind::Failed {
                prefix: non_empty(prefix),
                error: Some(error),
            },
        }
    }

    /// The whole body, if the layer read it into memory (an error body
    /// within the limit).
    pub fn read_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Read { data, .. } => Some(data.as_deref().unwrap_or_default()),
            _ => None,
        }
    }
}

impl<B: Body> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Streaming { .. } => "streaming",
            Kind::Read { .. } => "read",
            Kind::Prefixed { .. } => "prefixed",
            Kind::Failed { .. } => "failed",
        };
        f.debug_struct("ResponseBody").field("kind", &kind).finish()
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = Bytes;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Streaming { body } => body
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map(into_bytes))),
            KindProj::Read { data, trailers } => Poll::Ready(match data.take() {
                Some(data) => Some(Ok(Frame::data(data))),
                None => trailers
                    .take()
                    .map(|trailers| Ok(Frame::trailers(trailers))),
            }),
            KindProj::Prefixed { prefix, rest } => match prefix.take() {
                Some(prefix) => Poll::Ready(Some(Ok(Frame::data(prefix)))),
                None => rest
                    .as_mut()
                    .poll_frame(cx)
                    .map(|frame| frame.map(|frame| frame.map(into_bytes))),
            },
            KindProj::Failed { prefix, error } => Poll::Ready(match prefix.take() {
                Some(prefix) => Some(Ok(Frame::data(prefix))),
                None => error.take().map(Err),
            }),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Streaming { body } => body.is_end_stream(),
            Kind::Read { data, trailers } => data.is_none() && trailers.is_none(),
            Kind::Prefixed { prefix, rest } => prefix.is_none() && rest.is_end_stream(),
            Kind::Failed { prefix, error } => prefix.is_none() && error.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        let len = |data: &Option<Bytes>| data.as_ref().map_or(0, |data| data.len() as u64);
        match &self.kind {
            Kind::Streaming { body } => body.size_hint(),
            Kind::Read { data, .. } => SizeHint::with_exact(len(data)),
            Kind::Prefixed { prefix, rest } => {
                prefixed_size_hint(prefix.as_ref(), rest.size_hint())
            }
            // The error may come at once; nothing more is known.
            Kind::Failed { prefix, .. } => {
                let mut hint = SizeHint::new();
                hint.set_upper(len(prefix));
                hint
            }
        }
    }
}
