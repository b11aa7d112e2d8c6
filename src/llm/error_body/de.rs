//! `Deserialize` for [`ErrorBodyLayer`] (the `serde` feature).

use serde::de::{Deserialize, Deserializer};

use super::ErrorBodyLayer;

/// Deserializes the layer from a table `{ limit = 65536 }`: the size, in
/// bytes, up to which error bodies are read (optional, default
/// [`DEFAULT_LIMIT`](super::DEFAULT_LIMIT), 64 KiB). Every limit is valid;
/// it is also the most memory one failed response in flight holds, so keep
/// it small. Unknown fields are errors.
///
/// ```
/// use tower_failover::llm::error_body::{DEFAULT_LIMIT, ErrorBodyLayer};
///
/// let layer: ErrorBodyLayer = toml::from_str("limit = 16384")?;
/// assert_eq!(layer.get_limit(), 16 * 1024);
/// let layer: ErrorBodyLayer = toml::from_str("")?;
/// assert_eq!(layer.get_limit(), DEFAULT_LIMIT);
///
/// let error = toml::from_str::<ErrorBodyLayer>("limits = 1").unwrap_err();
/// assert!(error.message().contains("unknown field `limits`"));
/// # Ok::<(), toml::de::Error>(())
/// ```
impl<'de> Deserialize<'de> for ErrorBodyLayer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawLayer {
            limit: Option<usize>,
        }

        let raw = RawLayer::deserialize(deserializer)?;
        Ok(match raw.limit {
            Some(limit) => ErrorBodyLayer::new().limit(limit),
            None => ErrorBodyLayer::new(),
        })
    }
}
