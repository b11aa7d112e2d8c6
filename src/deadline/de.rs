//! `Deserialize` for this module's config types (the `serde` feature).
//!
//! The accepted forms are documented on the layers' `Deserialize`
//! implementations and in [`crate::de`].

#[cfg(feature = "timeout-budget")]
mod layers {
    use std::fmt;
    use std::marker::PhantomData;
    use std::time::Duration;

    use serde::de::value::MapAccessDeserializer;
    use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

    use crate::InvalidConfig;
    use crate::de::HumaneDuration;
    use crate::deadline::{AttemptTimeoutLayer, TimeoutBudgetLayer};

    /// Deserializes the layer from its budget, a duration (`"30s"`), or
    /// from a table `{ budget = "30s" }`. A zero budget is an error:
    /// every call would fail at once.
    ///
    /// The deadline is not propagated to the upstream; add
    /// [`propagate`](TimeoutBudgetLayer::propagate) in code.
    ///
    /// ```
    /// use serde::Deserialize;
    /// use tower_failover::deadline::TimeoutBudgetLayer;
    ///
    /// #[derive(Debug, Deserialize)]
    /// struct Settings {
    ///     budget: TimeoutBudgetLayer,
    /// }
    ///
    /// let settings: Settings = toml::from_str(r#"budget = "30s""#)?;
    /// assert_eq!(format!("{:?}", settings.budget), "TimeoutBudgetLayer { budget: 30s, propagate: () }");
    ///
    /// let error = toml::from_str::<Settings>(r#"budget = "0s""#).unwrap_err();
    /// assert!(error.message().contains("invalid timeout budget setting budget: must not be zero"));
    /// # Ok::<(), toml::de::Error>(())
    /// ```
    impl<'de> Deserialize<'de> for TimeoutBudgetLayer {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let budget = deserializer.deserialize_any(LayerVisitor::<Budget>(PhantomData))?;
            Ok(TimeoutBudgetLayer::new(budget))
        }
    }

    /// Deserializes the layer from its per-attempt timeout, a duration
    /// (`"10s"`), or from a table `{ per_try = "10s" }`. A zero timeout is
    /// an error: every attempt would time out at once.
    ///
    /// The timeout is not propagated to the upstream; add
    /// [`propagate`](AttemptTimeoutLayer::propagate) in code.
    ///
    /// ```
    /// use serde::Deserialize;
    /// use tower_failover::deadline::AttemptTimeoutLayer;
    ///
    /// #[derive(Debug, Deserialize)]
    /// struct Settings {
    ///     attempt_timeout: AttemptTimeoutLayer,
    /// }
    ///
    /// let settings: Settings = toml::from_str(r#"attempt_timeout = { per_try = "10s" }"#)?;
    /// assert_eq!(
    ///     format!("{:?}", settings.attempt_timeout),
    ///     "AttemptTimeoutLayer { per_try: 10s, propagate: () }",
    /// );
    /// # Ok::<(), toml::de::Error>(())
    /// ```
    impl<'de> Deserialize<'de> for AttemptTimeoutLayer {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let per_try = deserializer.deserialize_any(LayerVisitor::<PerTry>(PhantomData))?;
            Ok(AttemptTimeoutLayer::new(per_try))
        }
    }

    /// The table form of a layer's one duration: which layer and field it
    /// is, for messages, and how to read it.
    trait OneField: de::DeserializeOwned {
        const LAYER: &'static str;
        const FIELD: &'static str;
        fn duration(self) -> Duration;
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Budget {
        budget: HumaneDuration,
    }

    impl OneField for Budget {
        const LAYER: &'static str = "timeout budget";
        const FIELD: &'static str = "budget";
        fn duration(self) -> Duration {
            self.budget.0
        }
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PerTry {
        per_try: HumaneDuration,
    }

    impl OneField for PerTry {
        const LAYER: &'static str = "attempt timeout";
        const FIELD: &'static str = "per_try";
        fn duration(self) -> Duration {
            self.per_try.0
        }
    }

    /// A positive duration, given as is or as the one field `T` of a table.
    struct LayerVisitor<T>(PhantomData<T>);

    impl<T: OneField> LayerVisitor<T> {
        fn positive<E: de::Error>(duration: Duration) -> Result<Duration, E> {
            if duration.is_zero() {
                return Err(E::custom(InvalidConfig::new(
                    T::LAYER,
                    T::FIELD,
                    "must not be zero",
                )));
            }
            Ok(duration)
        }
    }

    impl<'de, T: OneField> Visitor<'de> for LayerVisitor<T> {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                r#"a duration such as "30s", or a table {{ {} = "30s" }}"#,
                T::FIELD
            )
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<Duration, E> {
            let duration = crate::de::parse_duration(value).map_err(E::custom)?;
            Self::positive(duration)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Duration, E> {
            crate::de::duration(de::value::U64Deserializer::<E>::new(value))
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Duration, E> {
            crate::de::duration(de::value::I64Deserializer::<E>::new(value))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
            crate::de::duration(de::value::F64Deserializer::<E>::new(value))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Duration, A::Error> {
            let table = T::deserialize(MapAccessDeserializer::new(map))?;
            Self::positive(table.duration())
        }
    }
}
