//! Reads the body of failed responses, so that an LLM provider's error JSON
//! can refine what the status says.
//!
//! A 429 is a rate limit (wait and retry) or a used-up quota (never retry,
//! fall back, open the breaker); a 400 is the caller's fault, a prompt too
//! long for this model (try a larger one) or a content filter. Only the
//! body tells. [`ErrorBodyLayer`] reads it — for failed responses only
//! (status 400 and above), up to a size limit (64 KiB by default) — parses
//! it with [`ProviderError::parse`](crate::llm::ProviderError::parse), and
//! puts what it found in the response's extensions. The
//! [`DefaultClassifier`](crate::classify::DefaultClassifier) of every layer
//! above reads it from there, synchronously: the kind the body implies
//! replaces the status's, and a wait the body asks for (Gemini's
//! `RetryInfo`) is the hint when the headers gave none.
//!
//! # The body is passed on untouched
//!
//! The caller receives the upstream's body byte for byte, whatever happens:
//!
//! - a success (status below 400) is not read at all: its body streams
//!   through, at the cost of one branch per frame;
//! - an error body within the limit is read into memory and replayed from
//!   there, trailers included;
//! - an error body larger than the limit (known from its size hint, or found
//!   while reading) is not read further: the part read so far comes first,
//!   then the rest of the stream; the response is classified by its status;
//! - an error body that fails while being read replays what arrived, then
//!   yields the upstream's error; the response is classified by its status.
//!
//! A body that is not a provider's error JSON (an HTML page from a proxy,
//! garbage, a compressed body) adds nothing to the extensions: the status
//! decides, as without this layer. The layer never fails a call itself: its
//! error type is the inner service's.
//!
//! # Order
//!
//! Put it at the bottom of each tier's stack, under the attempt timeout, so
//! that the time spent reading an error body counts against the attempt
//! (a server that sends its error body slowly cannot hold the call past
//! it):
//!
//! ```text
//! TimeoutBudgetLayer
//!   FallbackLayer
//!     RetryLayer
//!       CircuitBreakerLayer
//!         AttemptTimeoutLayer
//!           ErrorBodyLayer      reads failed responses' bodies
//!             client
//! ```
//!
//! # Cost
//!
//! Nothing for a success but the wrapping of its body (data frames become
//! [`Bytes`](bytes::Bytes), free when they already are). A failed response
//! costs one allocation to pin its body, the buffer, and the parse; it
//! holds at most the limit plus one frame.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_failover::classify::{Classify, DefaultClassifier, FailureKind};
//! use tower_failover::llm::{Provider, ProviderError};
//! use tower_failover::llm::error_body::ErrorBodyLayer;
//!
//! const QUOTA: &str = r#"{"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#;
//!
//! let openai = service_fn(|_request: http::Request<()>| async {
//!     let response = http::Response::builder().status(429).body(Full::new(Bytes::from_static(QUOTA.as_bytes()))).unwrap();
//!     Ok::<_, std::io::Error>(response)
//! });
//! let service = ServiceBuilder::new().layer(ErrorBodyLayer::new()).service(openai);
//!
//! let result = service.oneshot(http::Request::new(())).await;
//!
//! // A 429 alone would be a rate limit; the body says the quota is spent.
//! let failure = DefaultClassifier.classify(&result);
//! assert_eq!(failure.as_failure().unwrap().kind(), FailureKind::QuotaExhausted);
//! assert!(!failure.as_failure().unwrap().is_retryable());
//!
//! let response = result.unwrap();
//! let found = response.extensions().get::<ProviderError>().unwrap();
//! assert_eq!(found.provider(), Provider::OpenAi);
//! assert_eq!(found.code(), Some("insufficient_quota"));
//!
//! // The caller still reads the body the upstream sent.
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, QUOTA.as_bytes());
//! # }
//! ```

mod body;
#[cfg(feature = "serde")]
mod de;
mod future;
mod layer;

use std::task::{Context, Poll};

use bytes::Buf;
use http_body::Body;
use tower_service::Service;

pub use self::body::ResponseBody;
pub use self::future::ResponseFuture;
pub use self::layer::{DEFAULT_LIMIT, ErrorBodyLayer};

/// Reads the body of failed responses; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct ErrorBody<S> {
    inner: S,
    limit: usize,
}

impl<S> ErrorBody<S> {
    /// Wraps `inner`, reading error bodies of up to `limit` bytes.
    pub const fn new(inner: S, limit: usize) -> Self {
        Self { inner, limit }
    }

    /// The size limit.
    pub const fn limit(&self) -> usize {
        self.limit
    }

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

impl<S, Req, B> Service<Req> for ErrorBody<S>
where
    S: Service<Req, Response = http::Response<B>>,
    B: Body,
    B::Data: Buf,
{
    type Response = http::Response<ResponseBody<B>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, B>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        ResponseFuture::new(self.inner.call(request), self.limit)
    }
}
