//! The `llm` feature: provider error bodies, the error-body layer, model
//! rewrites, idempotency keys and SSE streams.
#![cfg(feature = "llm")]

#[path = "../support/mod.rs"]
mod support;

mod error_body;
mod idempotency;
mod model_rewrite;
mod provider;
mod sse;
mod stack;
