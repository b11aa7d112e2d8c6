//! LLM provider semantics: what an OpenAI, Anthropic, Gemini or Azure OpenAI
//! error really means, model rewrites for fallback tiers, idempotency keys,
//! and streams that fail loudly.
//!
//! Gateways get these wrong in ways their users feel: a used-up quota retried
//! as if it were a rate limit, a prompt too long sent three times to the same
//! model, a 529 treated as fatal, a stream cut after its first token that
//! looks like a short answer, a time-to-first-token limit that never fires.
//! This module (the `llm` feature) gives the other layers what they need to
//! get them right:
//!
//! | piece | what it does | where it goes |
//! |---|---|---|
//! | [`ProviderError`] | parses an error body (OpenAI and compatibles, Azure OpenAI, Anthropic, Gemini) into a refined [`FailureKind`](crate::classify::FailureKind) and a hint | used by the two layers below |
//! | [`ErrorBodyLayer`](error_body::ErrorBodyLayer) | reads failed responses' bodies (bounded), attaches the [`ProviderError`]; the body reaches the caller byte for byte | bottom of each tier |
//! | [`SseGuardLayer`](sse::SseGuardLayer) | a stream is not committed before its first event: a first-event timeout, an `error` event or a cut before it is a classified failure that retry and fallback handle; after it, an idle timeout or a cut ends the stream with an error | bottom of each tier |
//! | [`rewrite_model`](model::rewrite_model) | sets the `model` of a JSON body for a fallback tier, leaving every other byte as it was | on a [`Tier`](crate::fallback::Tier) |
//! | [`IdempotencyLayer`](idempotency::IdempotencyLayer), [`AttemptCountLayer`](idempotency::AttemptCountLayer) | one `Idempotency-Key` per logical request, kept across retries and tiers, and an attempt count on every try | top of the stack, and bottom of each tier |
//!
//! With the error-body layer in place, the
//! [`DefaultClassifier`](crate::classify::DefaultClassifier) every layer
//! uses sees, for example:
//!
//! | upstream says | kind | retry | fall back | breaker |
//! |---|---|---|---|---|
//! | 429 `rate_limit_exceeded` (OpenAI), `rate_limit_error` (Anthropic), `RESOURCE_EXHAUSTED` per minute (Gemini) | `RateLimited` | after the hint (headers first, then Gemini's `RetryInfo` or "try again in 6s") | yes | counts |
//! | 429 `insufficient_quota`, Anthropic "credit balance is too low", a spend limit, Gemini per-day quota | `QuotaExhausted` | **never** | yes | **opens at once** |
//! | 529, `overloaded_error`, Gemini "model is overloaded" | `Overloaded` | yes | yes | counts |
//! | 400 `context_length_exceeded`, "prompt is too long", Gemini token count over the maximum | `ContextTooLong` | no | to a tier whose guard accepts it | no |
//! | 400 `content_filter` (Azure), `content_policy_violation` | `ContentFiltered` | no | if configured | no |
//! | 404 `model_not_found`, `DeploymentNotFound` | `ModelNotFound` | no | yes | counts |
//! | any other 400 | `Invalid` | no | no | no |
//!
//! [`ProviderError`] has the whole table.
//!
//! # Order
//!
//! Outermost first:
//!
//! ```text
//! IdempotencyLayer              one key per logical request
//!   TimeoutBudgetLayer          one deadline for everything below
//!     FallbackLayer             tiers, each with rewrite_model(..)
//!       per tier:
//!       RetryLayer
//!         CircuitBreakerLayer
//!           AttemptTimeoutLayer
//!             SseGuardLayer     streams: first event, idle timeout
//!               ErrorBodyLayer  failed responses: read the provider's error
//!                 AttemptCountLayer
//!                   client
//! ```
//!
//! The two reading layers sit under the attempt timeout, so the time spent
//! waiting for a first event or an error body counts against the attempt,
//! and above the retry and breaker layers, whose classifier reads what they
//! found.
//!
//! # Example
//!
//! OpenAI's quota is used up; the call falls back to Anthropic at once,
//! without retrying OpenAI, and OpenAI's breaker opens for the calls that
//! follow.
//!
//! ```
//! # #[cfg(feature = "full")]
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_failover::circuit_breaker::{BreakerConfig, CircuitBreakerLayer, State};
//! use tower_failover::deadline::TimeoutBudgetLayer;
//! use tower_failover::fallback::{FallbackLayer, ServedBy, Tier};
//! use tower_failover::llm::error_body::ErrorBodyLayer;
//! use tower_failover::llm::idempotency::IdempotencyLayer;
//! use tower_failover::llm::model::{model_of, rewrite_model};
//! use tower_failover::retry::{RetryLayer, RetryPolicy};
//!
//! const QUOTA: &str = r#"{"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#;
//!
//! // Stand-ins for two providers' clients.
//! let openai = service_fn(|_request: http::Request<String>| async {
//!     let response = http::Response::builder().status(429).body(Full::new(Bytes::from_static(QUOTA.as_bytes())));
//!     Ok::<_, std::io::Error>(response.unwrap())
//! });
//! let anthropic = service_fn(|request: http::Request<String>| async move {
//!     let model = model_of(request.body().as_bytes()).unwrap().into_owned();
//!     Ok::<_, std::io::Error>(http::Response::new(Full::new(Bytes::from(model))))
//! });
//!
//! let openai_breaker = CircuitBreakerLayer::new(BreakerConfig::builder().name("openai").build().unwrap());
//! let openai_state = openai_breaker.handle();
//! let primary = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::default()))
//!     .layer(openai_breaker)
//!     .layer(ErrorBodyLayer::new())
//!     .service(openai);
//! let backup = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::default()))
//!     .layer(CircuitBreakerLayer::new(BreakerConfig::builder().name("anthropic").build().unwrap()))
//!     .layer(ErrorBodyLayer::new())
//!     .service(anthropic);
//!
//! let fallback = FallbackLayer::builder("gpt-4o")
//!     .tier(Tier::new("claude-sonnet", backup).rewrite(rewrite_model("claude-sonnet-4-5")))
//!     .build()
//!     .unwrap();
//! let service = ServiceBuilder::new()
//!     .layer(IdempotencyLayer::new())
//!     .layer(TimeoutBudgetLayer::new(Duration::from_secs(60)))
//!     .layer(fallback)
//!     .service(primary);
//!
//! let request = http::Request::new(String::from(r#"{"model":"gpt-4o","messages":[]}"#));
//! let response = service.clone().oneshot(request).await.unwrap();
//!
//! let served = response.extensions().get::<ServedBy>().unwrap();
//! assert_eq!((served.name(), served.attempts()), ("claude-sonnet", 2)); // OpenAI was tried once
//! assert_eq!(openai_state.state(), State::Open);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, "claude-sonnet-4-5");
//! # }
//! # #[cfg(not(feature = "full"))]
//! # fn main() {}
//! ```

mod provider;

pub mod error_body;
pub mod idempotency;
pub mod model;
pub mod sse;

pub use self::provider::{Provider, ProviderError};
