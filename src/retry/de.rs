//! `Deserialize` for this module's config types (the `serde` feature).
