//! Tower middleware that keeps calls to unreliable upstreams — above all LLM
//! APIs (OpenAI-compatible, Anthropic, Gemini, Azure OpenAI) — working through
//! rate limits, overload, outages and latency spikes.
//!
//! Every layer is generic over any [`tower_service::Service`] and stacks in a
//! `tower::ServiceBuilder` around the client you already have (hyper-util,
//! reqwest, tonic) or inside your own gateway (axum). The layers never look at
//! each other's internals; they cooperate through three shared ideas:
//!
//! - **classification** ([`classify`]): one cheap, synchronous function decides
//!   what kind of failure a result is, whether it is worth retrying, falling
//!   back from, or counting against a circuit breaker, and carries the
//!   server's hint ([`hint`]) along;
//! - **the deadline** ([`deadline`]): one time budget for the whole logical
//!   call, which every retry, backoff sleep and attempt fits inside;
//! - **replay** ([`retry::Replay`]): how the same logical request is sent more
//!   than once, and what happens when it cannot be.
//!
//! # Order
//!
//! Outermost first, the recommended stack is:
//!
//! ```text
//! TimeoutBudgetLayer          one deadline for everything below
//!   FallbackLayer             tier 1 → tier 2 → tier 3 (→ static response),
//!                             in the order a routing policy picks
//!     per tier:
//!     RetryLayer              backoff + hints + shared budget
//!       (HedgeLayer)          a second attempt after a delay, same budget
//!       (RateLimitLayer)      the provider's requests and tokens per minute
//!       CircuitBreakerLayer   fail fast while the upstream is down
//!         AttemptTimeoutLayer min(per-try, remaining budget)
//!           client            hyper-util / reqwest / tonic / anything
//! ```
//!
//! The layers in brackets are optional: [`hedge`] cuts a slow tail at the
//! price of some extra calls, [`rate_limit`] keeps the caller under the
//! provider's limits instead of learning them from 429s.
//!
//! [`ServiceBuilderExt`] names each layer as a `ServiceBuilder` method, so
//! that a stack reads in this order:
//! `ServiceBuilder::new().timeout_budget(..).retry_policy(..).circuit_breaker(..).attempt_timeout(..)`.
//!
//! Each layer's module explains why it sits where it does; [`fallback`] shows
//! a full stack with tiers, and [`llm`] where its layers (error bodies,
//! event streams, idempotency keys) go in it.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "full")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_failover::BoxError> {
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_failover::circuit_breaker::{BreakerConfig, CircuitBreakerLayer};
//! use tower_failover::deadline::{AttemptTimeoutLayer, TimeoutBudgetLayer};
//! use tower_failover::retry::{RetryLayer, RetryPolicy};
//!
//! let client = service_fn(|_req: http::Request<String>| async {
//!     Ok::<_, std::io::Error>(http::Response::new(String::from("hello")))
//! });
//! let service = ServiceBuilder::new()
//!     .layer(TimeoutBudgetLayer::new(Duration::from_secs(30)))
//!     .layer(RetryLayer::new(RetryPolicy::default()))
//!     .layer(CircuitBreakerLayer::new(BreakerConfig::default()))
//!     .layer(AttemptTimeoutLayer::new(Duration::from_secs(10)))
//!     .service(client);
//!
//! let response = service.oneshot(http::Request::new(String::new())).await?;
//! assert_eq!(response.body(), "hello");
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "full"))]
//! # fn main() {}
//! ```
//!
//! # Features
//!
//! | feature | what it enables |
//! |---|---|
//! | `retry` | [`retry`]: `RetryLayer` |
//! | `timeout-budget` | [`deadline::TimeoutBudgetLayer`] and [`deadline::AttemptTimeoutLayer`] |
//! | `circuit-breaker` | [`circuit_breaker`]: `CircuitBreakerLayer` |
//! | `fallback` | [`fallback`]: `FallbackLayer`, `FallbackGraph` (enables `retry` and `timeout-budget`) |
//! | `llm` | [`llm`]: provider error bodies, `ErrorBodyLayer`, `SseGuardLayer`, model rewrites, idempotency keys |
//! | `rate-limit` | [`rate_limit`]: `RateLimitLayer`, `KeyedRateLimitLayer`: a shared token bucket on requests and LLM tokens, adapting to the upstream's rate-limit headers |
//! | `hedge` | [`hedge`]: `HedgeLayer`, a second attempt after a fixed or percentile delay, drawing from the retry budget (enables `retry`) |
//! | `full` (default) | all of the above |
//! | `hyper-util` | classification of `hyper_util::client::legacy::Error` |
//! | `reqwest` | classification of `reqwest::Response` and `reqwest::Error` |
//! | `tonic` | classification of `tonic::transport::Error` |
//! | `serde` | [`de`]: `Deserialize` for every config type, humane durations (`"500ms"`) |
//! | `metrics` | [`metrics`]: counters and histograms through the `metrics` facade |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod classify;
pub mod deadline;
pub mod hint;

#[cfg(feature = "circuit-breaker")]
pub mod circuit_breaker;
#[cfg(feature = "fallback")]
pub mod fallback;
#[cfg(feature = "hedge")]
pub mod hedge;
#[cfg(feature = "llm")]
pub mod llm;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "rate-limit")]
pub mod rate_limit;
#[cfg(feature = "retry")]
pub mod retry;

#[cfg(any(feature = "retry", feature = "llm"))]
mod body;
#[cfg(any(
    feature = "retry",
    feature = "timeout-budget",
    feature = "circuit-breaker",
    feature = "llm",
    feature = "rate-limit"
))]
mod builder;
mod config_error;
#[cfg(feature = "serde")]
pub mod de;
#[cfg(any(feature = "circuit-breaker", feature = "rate-limit"))]
mod keyed;
#[cfg(any(feature = "circuit-breaker", feature = "fallback"))]
mod name;
#[cfg(any(feature = "retry", feature = "circuit-breaker", feature = "llm"))]
mod rng;
mod scoped;

#[cfg(any(
    feature = "retry",
    feature = "timeout-budget",
    feature = "circuit-breaker",
    feature = "llm",
    feature = "rate-limit"
))]
pub use self::builder::ServiceBuilderExt;
pub use self::config_error::InvalidConfig;
#[cfg(any(feature = "retry", feature = "circuit-breaker", feature = "llm"))]
pub use self::rng::seed_thread_rng;

/// The boxed error type used across the Tower ecosystem.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

// The README's examples are compiled and run as doctests.
#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
