//! The `serde` feature: every config type from TOML, JSON and YAML, with
//! humane durations and errors that name the field.

mod breaker;
mod durations;
mod fallback;
mod hedge;
mod layers;
mod rate_limit;
mod retry;
mod stack;

use std::fmt::Debug;

use serde::de::DeserializeOwned;

/// Deserializes `T` from TOML, or panics with the error.
fn toml<T: DeserializeOwned>(text: &str) -> T {
    toml::from_str(text).unwrap_or_else(|error| panic!("{error}"))
}

/// The error, as a user sees it, of deserializing `T` from TOML.
fn toml_error<T: DeserializeOwned + Debug>(text: &str) -> String {
    toml::from_str::<T>(text).unwrap_err().to_string()
}

/// Deserializes `T` from JSON, or panics with the error.
fn json<T: DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}"))
}

/// The error, as a user sees it, of deserializing `T` from JSON.
fn json_error<T: DeserializeOwned + Debug>(text: &str) -> String {
    serde_json::from_str::<T>(text).unwrap_err().to_string()
}

/// Deserializes `T` from YAML, or panics with the error.
fn yaml<T: DeserializeOwned>(text: &str) -> T {
    serde_yaml::from_str(text).unwrap_or_else(|error| panic!("{error}"))
}

/// The error, as a user sees it, of deserializing `T` from YAML.
fn yaml_error<T: DeserializeOwned + Debug>(text: &str) -> String {
    serde_yaml::from_str::<T>(text).unwrap_err().to_string()
}

/// The same config in three formats gives the same value (compared by
/// `Debug`, which shows every setting), returned.
fn same_in_all<T: DeserializeOwned + Debug>(
    toml_text: &str,
    json_text: &str,
    yaml_text: &str,
) -> T {
    let from_toml: T = toml(toml_text);
    let from_json: T = json(json_text);
    let from_yaml: T = yaml(yaml_text);
    let expected = format!("{from_toml:?}");
    assert_eq!(format!("{from_json:?}"), expected, "JSON differs from TOML");
    assert_eq!(format!("{from_yaml:?}"), expected, "YAML differs from TOML");
    from_toml
}

/// Asserts that `message` contains every one of `parts`.
#[track_caller]
fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} does not mention {part:?}"
        );
    }
}
