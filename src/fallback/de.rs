//! `Deserialize` for this module's config types (the `serde` feature).
//!
//! The accepted forms are documented on [`FallbackGraph`]'s `Deserialize`
//! implementation and in [`crate::de`].

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Unexpected, Visitor};

use super::{FallbackGraph, FallbackGraphBuilder, LeastLatency, Routing, Weighted};
use crate::de::HumaneDuration;

/// Deserializes a graph from a table of model → ordered fallback list, in
/// declaration order (as far as the format keeps it: see below), checked by [`FallbackGraphBuilder::build`] (unknown
/// names, models declared twice, cycles, chains deeper than `max_depth`):
///
/// ```toml
/// "gpt-4o" = ["claude-sonnet", "gpt-4o-mini"]
/// "claude-sonnet" = ["claude-haiku"]
/// "claude-haiku" = []
/// "gpt-4o-mini" = []
/// ```
///
/// Two keys are reserved: `max_depth` sets
/// [`FallbackGraphBuilder::max_depth`], and `routes` holds more routes, so
/// the long form `{ max_depth = 5, routes = { "gpt-4o" = […], … } }` works
/// too (and is how to declare a model named `routes` or `max_depth`).
///
/// The builder's errors are the message: `invalid fallback setting route:
/// the fallback lists form a cycle (gpt-4o → claude-sonnet → gpt-4o)`.
///
/// ```
/// use tower_failover::fallback::FallbackGraph;
///
/// let graph: FallbackGraph = toml::from_str(r#"
///     "gpt-4o" = ["claude-sonnet", "gpt-4o-mini"]
///     "claude-sonnet" = ["claude-haiku"]
///     "claude-haiku" = []
///     "gpt-4o-mini" = []
/// "#)?;
/// let chain: Vec<&str> = graph.chain("gpt-4o").unwrap().collect();
/// assert_eq!(chain, ["claude-sonnet", "claude-haiku", "gpt-4o-mini"]);
///
/// // Declaration order is the order the format hands the keys over: JSON and
/// // YAML keep it; the `toml` crate sorts them unless its `preserve_order`
/// // feature is on. Only `models()` and which of several errors is reported
/// // depend on it, never a chain.
/// let graph: FallbackGraph = serde_json::from_str(r#"{
///     "gpt-4o": ["gpt-4o-mini"],
///     "gpt-4o-mini": []
/// }"#).unwrap();
/// assert_eq!(graph.models().collect::<Vec<_>>(), ["gpt-4o", "gpt-4o-mini"]);
///
/// let graph: FallbackGraph = toml::from_str(r#"
///     max_depth = 2
///     [routes]
///     "gpt-4o" = ["gpt-4o-mini"]
///     "gpt-4o-mini" = []
/// "#)?;
/// assert_eq!(graph.max_depth(), 2);
///
/// let error = serde_json::from_str::<FallbackGraph>(r#"{
///     "gpt-4o": ["claude-sonnet"],
///     "claude-sonnet": ["gpt-4o"]
/// }"#).unwrap_err();
/// assert!(error.to_string().starts_with(
///     "invalid fallback setting route: the fallback lists form a cycle (gpt-4o → claude-sonnet → gpt-4o)"
/// ));
/// # Ok::<(), toml::de::Error>(())
/// ```
impl<'de> Deserialize<'de> for FallbackGraph {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let builder = deserializer.deserialize_map(GraphVisitor {
            builder: FallbackGraph::builder(),
            nested: false,
        })?;
        builder.build().map_err(de::Error::custom)
    }
}

/// Adds the routes of a table to a builder; at the top level, also reads
/// `max_depth` and a nested `routes` table.
struct GraphVisitor {
    builder: FallbackGraphBuilder,
    nested: bool,
}

impl<'de> Visitor<'de> for GraphVisitor {
    type Value = FallbackGraphBuilder;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of model names to lists of fallback model names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut builder = self.builder;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "max_depth" if !self.nested => {
                    builder = builder.max_depth(map.next_value()?);
                }
                "routes" if !self.nested => {
                    builder = map.next_value_seed(Routes(builder))?;
                }
                _ => {
                    let fallbacks: Vec<String> = map.next_value()?;
                    builder = builder.route(key, fallbacks);
                }
            }
        }
        Ok(builder)
    }
}

/// The nested `routes` table, added to the builder in order.
struct Routes(FallbackGraphBuilder);

impl<'de> de::DeserializeSeed<'de> for Routes {
    type Value = FallbackGraphBuilder;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(GraphVisitor {
            builder: self.0,
            nested: true,
        })
    }
}

/// Deserializes a [`Routing`] from its name, or a one-key table with its
/// settings:
///
/// ```toml
/// routing = "static"                  # the default
/// routing = "least_latency"           # half-life and failure penalty 10 s
/// routing = { least_latency = { half_life = "30s", failure_penalty = "5s" } }
/// routing = { weighted = [3, 1] }     # one weight per tier, the primary first
/// ```
///
/// The policies' own checks are the message: `invalid fallback setting
/// half_life: must not be zero`.
///
/// ```
/// use tower_failover::fallback::Routing;
///
/// #[derive(Debug, serde::Deserialize)]
/// struct Config {
///     routing: Routing,
/// }
///
/// let config: Config = toml::from_str(r#"routing = { weighted = [3, 1] }"#)?;
/// assert!(matches!(config.routing, Routing::Weighted(_)));
/// let config: Config = toml::from_str(r#"routing = "least_latency""#)?;
/// assert!(matches!(config.routing, Routing::LeastLatency(_)));
///
/// let error = toml::from_str::<Config>(r#"routing = { least_latency = { half_life = "0s" } }"#)
///     .unwrap_err();
/// assert!(error.to_string().contains("invalid fallback setting half_life: must not be zero"));
/// let error = toml::from_str::<Config>(r#"routing = { weighted = [0, 0] }"#).unwrap_err();
/// assert!(error.to_string().contains("invalid fallback setting weights"));
/// # Ok::<(), toml::de::Error>(())
/// ```
impl<'de> Deserialize<'de> for Routing {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RoutingVisitor)
    }
}

struct RoutingVisitor;

impl<'de> Visitor<'de> for RoutingVisitor {
    type Value = Routing;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            r#""static", "least_latency", { least_latency = { half_life, failure_penalty } } or { weighted = [weights…] }"#,
        )
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Routing, E> {
        match value {
            "static" => Ok(Routing::Static),
            "least_latency" => Ok(Routing::LeastLatency(Box::default())),
            _ => Err(E::invalid_value(Unexpected::Str(value), &self)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Routing, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::invalid_length(0, &self));
        };
        let routing = match key.as_str() {
            "least_latency" => {
                let raw: RawLeastLatency = map.next_value()?;
                let mut builder = LeastLatency::builder();
                if let Some(HumaneDuration(half_life)) = raw.half_life {
                    builder = builder.half_life(half_life);
                }
                if let Some(HumaneDuration(penalty)) = raw.failure_penalty {
                    builder = builder.failure_penalty(penalty);
                }
                Routing::LeastLatency(Box::new(builder.build().map_err(de::Error::custom)?))
            }
            "weighted" => {
                let weights: Vec<u32> = map.next_value()?;
                Routing::Weighted(Weighted::new(weights).map_err(de::Error::custom)?)
            }
            _ => {
                return Err(de::Error::unknown_field(
                    &key,
                    &["least_latency", "weighted"],
                ));
            }
        };
        if map.next_key::<String>()?.is_some() {
            return Err(de::Error::invalid_length(2, &self));
        }
        Ok(routing)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLeastLatency {
    half_life: Option<HumaneDuration>,
    failure_penalty: Option<HumaneDuration>,
}
