//! LLM provider semantics: what an OpenAI, Anthropic, Gemini or Azure OpenAI
//! error really means, model rewrites for fallback tiers, idempotency keys,
//! and server-sent event streams that fail loudly.
//!
//! (Module reference to be written.)

mod provider;

pub mod error_body;
pub mod idempotency;
pub mod model;
pub mod sse;

pub use self::provider::{Provider, ProviderError};
