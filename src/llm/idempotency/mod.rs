//! Idempotency keys: one key per logical request, the same on every retry
//! and fallback call, and the number of each call beside it.
//!
//! Retries and fallbacks send one logical request several times. An
//! upstream that honours an `Idempotency-Key` header (Stripe-style; the
//! OpenAI and Anthropic SDKs send one, with a retry count) can then tell a
//! retry from a new request and do the work once. The key must be made
//! once, above every layer that copies the request, and each call's number
//! stamped below them, so there are two layers:
//!
//! - [`IdempotencyLayer`] (outermost) gives each request that has no key
//!   header yet a fresh key (header `idempotency-key` by default; a key the
//!   caller set is kept), records it as an [`IdempotencyKey`] in the
//!   request's extensions for logging, and puts a call counter there too.
//!   Retry and fallback copy a request with its extensions, so every copy
//!   shares the one counter.
//! - [`AttemptCountLayer`] (innermost, right above the client) stamps each
//!   call with its number, from the shared counter: 1 for the first call of
//!   the logical request, then 2, 3… across retries and fallback tiers
//!   alike, in the order the calls are made. The default header is
//!   `x-attempt-count`, named for what it holds and counting from 1 like
//!   [`Attempt`](crate::retry::Attempt); it is not a header an SDK sends
//!   itself, so it never contradicts one. To send what the SDKs send, use
//!   `x-stainless-retry-count` with
//!   [`from_zero`](AttemptCountLayer::from_zero). The header is overwritten
//!   on every call.
//!
//! Without an [`IdempotencyLayer`] above (no counter in the extensions),
//! [`AttemptCountLayer`] stamps the retry layer's attempt number
//! ([`Attempt::current`](crate::retry::Attempt::current), or the
//! [`Attempt`](crate::retry::Attempt) in the extensions), which restarts at
//! 1 in each fallback tier; with neither (or without the `retry` feature)
//! it stamps 1.
//!
//! Generated keys look like version 4 UUIDs (optionally after a
//! [prefix](IdempotencyLayer::prefix)) and are unique with overwhelming
//! probability, but they come from a fast non-cryptographic generator and
//! are **not secret**. Supply your own with
//! [`key_fn`](IdempotencyLayer::key_fn) if they must be.
//!
//! Both layers work on `http::Request<B>`, and are cheap: no wrapper future,
//! one small allocation for the counter and one for the key per logical
//! request, and one header insert per call.
//!
//! # Examples
//!
//! ```
//! # #[cfg(feature = "fallback")]
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::sync::{Arc, Mutex};
//! use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};
//! use tower_failover::fallback::{FallbackLayer, Tier};
//! use tower_failover::llm::idempotency::{AttemptCountLayer, IdempotencyLayer};
//! use tower_failover::retry::{RetryLayer, RetryPolicy};
//!
//! // An upstream that is down, then a backup; both log what they see.
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let upstream = |status: u16| {
//!     let seen = seen.clone();
//!     let client = service_fn(move |request: http::Request<String>| {
//!         let headers = request.headers();
//!         seen.lock().unwrap().push((
//!             headers["idempotency-key"].to_str().unwrap().to_owned(),
//!             headers["x-attempt-count"].to_str().unwrap().to_owned(),
//!         ));
//!         async move {
//!             let response = http::Response::builder().status(status).body(String::new());
//!             Ok::<_, std::io::Error>(response.unwrap())
//!         }
//!     });
//!     AttemptCountLayer::new().layer(client)
//! };
//!
//! let fallback = FallbackLayer::builder("primary")
//!     .tier(Tier::new("backup", upstream(200)))
//!     .build()
//!     .unwrap();
//! let service = ServiceBuilder::new()
//!     .layer(IdempotencyLayer::new())
//!     .layer(fallback)
//!     .layer(RetryLayer::new(RetryPolicy::default()))
//!     .service(upstream(503));
//!
//! let response = service.oneshot(http::Request::new(String::new())).await.unwrap();
//! assert_eq!(response.status(), 200);
//! let seen = seen.lock().unwrap();
//! // Three attempts at the primary, then the backup: one key, counts 1 to 4.
//! let counts: Vec<_> = seen.iter().map(|(_, count)| count.as_str()).collect();
//! assert_eq!(counts, ["1", "2", "3", "4"]);
//! assert!(seen.iter().all(|(key, _)| *key == seen[0].0));
//! # }
//! # #[cfg(not(feature = "fallback"))]
//! # fn main() {}
//! ```
//!
//! # Order
//!
//! [`IdempotencyLayer`] above everything that sends a request more than
//! once, [`AttemptCountLayer`] below all of it, right above the client:
//!
//! ```text
//! IdempotencyLayer              one key and one counter per logical request
//!   TimeoutBudgetLayer
//!     FallbackLayer             tier 1 → tier 2 → tier 3
//!       per tier:
//!       RetryLayer
//!         CircuitBreakerLayer
//!           AttemptTimeoutLayer
//!             AttemptCountLayer stamps 1, 2, 3… on every call
//!               client
//! ```
//!
//! An [`IdempotencyLayer`] below a retry or fallback layer would give each
//! attempt its own key, which defeats it; an [`AttemptCountLayer`] above
//! one would stamp every attempt with the same number.

mod key;
mod layer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use http::HeaderValue;
use tower_service::Service;

pub use self::key::IdempotencyKey;
pub use self::layer::{ATTEMPT_COUNT, AttemptCountLayer, IDEMPOTENCY_KEY, IdempotencyLayer};

/// How many calls a logical request made so far, shared by its copies.
#[derive(Clone, Debug, Default)]
struct Calls(Arc<AtomicU32>);

/// Stamps an idempotency key on requests that have none; see
/// [`IdempotencyLayer`] and the [module docs](self).
#[derive(Clone, Debug)]
pub struct Idempotency<S> {
    inner: S,
    layer: IdempotencyLayer,
}

impl<S> Idempotency<S> {
    /// `inner` with keys stamped by `layer`.
    pub fn new(inner: S, layer: IdempotencyLayer) -> Self {
        Self { inner, layer }
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

impl<S, B> Service<http::Request<B>> for Idempotency<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let key = match request.headers().get(&self.layer.header) {
            Some(key) => IdempotencyKey::from_header(key.clone()),
            None => {
                let key = self.layer.keys.make();
                request
                    .headers_mut()
                    .insert(self.layer.header.clone(), key.as_header_value().clone());
                key
            }
        };
        let extensions = request.extensions_mut();
        extensions.insert(key);
        // A layer above (another idempotency layer) already counts.
        if extensions.get::<Calls>().is_none() {
            extensions.insert(Calls::default());
        }
        self.inner.call(request)
    }
}

/// Stamps each call's number in a header; see [`AttemptCountLayer`] and the
/// [module docs](self).
#[derive(Clone, Debug)]
pub struct AttemptCount<S> {
    inner: S,
    layer: AttemptCountLayer,
}

impl<S> AttemptCount<S> {
    /// `inner` with calls numbered by `layer`.
    pub fn new(inner: S, layer: AttemptCountLayer) -> Self {
        Self { inner, layer }
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

impl<S, B> Service<http::Request<B>> for AttemptCount<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let number = match request.extensions().get::<Calls>() {
            Some(Calls(calls)) => calls.fetch_add(1, Ordering::Relaxed).saturating_add(1),
            None => retry_attempt(&request),
        };
        let stamped = if self.layer.from_zero {
            number - 1
        } else {
            number
        };
        request
            .headers_mut()
            .insert(self.layer.header.clone(), HeaderValue::from(stamped));
        self.inner.call(request)
    }
}

/// The retry layer's attempt number, from 1; 1 without one.
#[cfg(feature = "retry")]
fn retry_attempt<B>(request: &http::Request<B>) -> u32 {
    use crate::retry::Attempt;
    Attempt::current()
        .or_else(|| request.extensions().get::<Attempt>().copied())
        .map_or(1, Attempt::number)
}

/// Without the `retry` feature there is no attempt to read: 1.
#[cfg(not(feature = "retry"))]
fn retry_attempt<B>(_: &http::Request<B>) -> u32 {
    1
}
