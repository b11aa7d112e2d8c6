//! Humane durations and helpers for deserializing config (the `serde` feature).
