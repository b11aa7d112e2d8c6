//! `Deserialize` for [`SseGuardLayer`] (the `serde` feature).

use serde::de::{self, Deserialize, Deserializer};

use super::SseGuardLayer;
use crate::de::HumaneDuration;

/// Deserializes the guard from a table whose fields are named like the
/// [`SseGuardLayerBuilder`](super::SseGuardLayerBuilder) methods, all
/// optional: `first_event_timeout` and `idle_timeout` (durations; none by
/// default) and `max_first_event_bytes` (bytes, 1 to 16 MiB; default
/// 64 KiB). Unknown fields are errors; so is anything
/// [`build`](super::SseGuardLayerBuilder::build) rejects, with its message.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::llm::sse::SseGuardLayer;
///
/// let layer: SseGuardLayer = toml::from_str(r#"
///     first_event_timeout = "10s"
///     idle_timeout = "30s"
///     max_first_event_bytes = 131072
/// "#)?;
/// assert_eq!(layer.first_event_timeout(), Some(Duration::from_secs(10)));
/// assert_eq!(layer.idle_timeout(), Some(Duration::from_secs(30)));
/// assert_eq!(layer.max_first_event_bytes(), 128 * 1024);
///
/// let error = toml::from_str::<SseGuardLayer>(r#"idle_timeout = "0s""#).unwrap_err();
/// assert!(error.message().contains("invalid sse setting idle_timeout: must not be zero"));
/// # Ok::<(), toml::de::Error>(())
/// ```
impl<'de> Deserialize<'de> for SseGuardLayer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawGuard {
            first_event_timeout: Option<HumaneDuration>,
            idle_timeout: Option<HumaneDuration>,
            max_first_event_bytes: Option<usize>,
        }

        let raw = RawGuard::deserialize(deserializer)?;
        let mut builder = SseGuardLayer::builder();
        if let Some(timeout) = raw.first_event_timeout {
            builder = builder.first_event_timeout(timeout.0);
        }
        if let Some(timeout) = raw.idle_timeout {
            builder = builder.idle_timeout(timeout.0);
        }
        if let Some(bytes) = raw.max_first_event_bytes {
            builder = builder.max_first_event_bytes(bytes);
        }
        builder.build().map_err(de::Error::custom)
    }
}
