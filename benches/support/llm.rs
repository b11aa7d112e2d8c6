//! HTTP upstreams for the `llm` benches, and a call that drains the
//! response body.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::Body;
use http_body_util::Full;
use tower::{Service, service_fn};

pub const QUOTA: &str = r#"{"error": {"message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#;

pub type Answer = http::Response<Full<Bytes>>;

pub const STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-sonnet-4-5\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/// An SSE upstream that answers at once with a three-event stream in one
/// frame.
pub fn sse_upstream()
-> impl Service<http::Request<()>, Response = Answer, Error = Infallible> + Clone {
    service_fn(|_: http::Request<()>| {
        let mut response = http::Response::new(Full::new(Bytes::from_static(STREAM.as_bytes())));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/event-stream"),
        );
        ready(Ok(response))
    })
}

/// An HTTP upstream that answers at once with `status` and `body`.
pub fn http_upstream(
    status: u16,
    body: &'static str,
) -> impl Service<
    http::Request<()>,
    Response = Answer,
    Error = Infallible,
    Future = Ready<Result<Answer, Infallible>>,
> + Clone {
    service_fn(move |_: http::Request<()>| {
        let mut response = http::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
        ready(Ok(response))
    })
}

/// One call, then its body read to the end; returns the bytes read.
pub fn call_and_drain<S, B>(service: &mut S) -> usize
where
    S: Service<http::Request<()>, Response = http::Response<B>>,
    B: Body,
{
    let mut cx = Context::from_waker(Waker::noop());
    if !matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))) {
        return 0;
    }
    let mut future = std::pin::pin!(service.call(http::Request::new(())));
    let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
        return 0;
    };
    let mut body = std::pin::pin!(response.into_body());
    let mut read = 0;
    while let Poll::Ready(Some(Ok(frame))) = Pin::as_mut(&mut body).poll_frame(&mut cx) {
        if let Some(data) = frame.data_ref() {
            read += bytes::Buf::remaining(data);
        }
    }
    read
}
