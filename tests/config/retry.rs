//! `RetryPolicy`, `Backoff`, `Jitter` and `RetryBudget`.

use std::time::Duration;

use serde::Deserialize;
use tower_failover::retry::{Backoff, Jitter, RetryBudget, RetryPolicy};

use super::{assert_mentions, json, json_error, same_in_all, toml, toml_error, yaml, yaml_error};

fn debug<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

#[test]
fn an_empty_table_is_the_default() {
    let policy: RetryPolicy = same_in_all("", "{}", "{}");
    assert_eq!(debug(&policy), debug(&RetryPolicy::default()));
    assert_eq!(policy.max_attempts(), 3);
    assert_eq!(policy.backoff(), &Backoff::default());
    assert_eq!(policy.max_retry_after(), Duration::from_secs(60));
    assert!(policy.budget().is_some());
}

#[test]
fn every_field_in_three_formats() {
    let policy: RetryPolicy = same_in_all(
        r#"
        max_attempts = 5
        backoff = { base = "200ms", cap = "5s", jitter = "decorrelated" }
        max_retry_after = "20s"
        budget = { ttl = "5s", min_per_sec = 3, ratio = 0.5 }
        "#,
        r#"{
            "max_attempts": 5,
            "backoff": {"base": "200ms", "cap": "5s", "jitter": "decorrelated"},
            "max_retry_after": "20s",
            "budget": {"ttl": "5s", "min_per_sec": 3, "ratio": 0.5}
        }"#,
        "
        max_attempts: 5
        backoff: {base: 200ms, cap: 5s, jitter: decorrelated}
        max_retry_after: 20s
        budget: {ttl: 5s, min_per_sec: 3, ratio: 0.5}
        ",
    );
    assert_eq!(policy.max_attempts(), 5);
    assert_eq!(
        policy.backoff(),
        &Backoff::exponential(Duration::from_millis(200), Duration::from_secs(5))
            .with_jitter(Jitter::Decorrelated)
    );
    assert_eq!(policy.max_retry_after(), Duration::from_secs(20));
    // 3 per second over 5 s, before any request.
    assert_eq!(policy.budget().unwrap().remaining(), 15);
}

#[test]
fn backoff_forms() {
    #[derive(Debug, Deserialize)]
    struct S {
        backoff: Backoff,
    }
    let backoff = |text: &str| toml::<S>(&format!("backoff = {text}")).backoff;
    let exponential = |base, cap| Backoff::exponential(base, cap);
    assert_eq!(
        backoff(r#"{ base = "500ms", cap = "8s", jitter = "full" }"#),
        Backoff::default()
    );
    assert_eq!(backoff("{}"), Backoff::default());
    assert_eq!(
        backoff(r#"{ base = "1s" }"#),
        exponential(Duration::from_secs(1), Duration::from_secs(8))
    );
    assert_eq!(
        backoff(r#"{ cap = "1m" }"#),
        exponential(Duration::from_millis(500), Duration::from_secs(60))
    );
    assert_eq!(
        backoff(r#"{ constant = "1s" }"#),
        Backoff::constant(Duration::from_secs(1))
    );
    assert_eq!(
        backoff(r#"{ constant = "1s", jitter = "none" }"#),
        Backoff::constant(Duration::from_secs(1)).with_jitter(Jitter::None)
    );
    assert_eq!(backoff(r#""none""#), Backoff::none());
    for (name, jitter) in [
        ("full", Jitter::Full),
        ("equal", Jitter::Equal),
        ("decorrelated", Jitter::Decorrelated),
        ("none", Jitter::None),
    ] {
        assert_eq!(
            backoff(&format!("{{ jitter = {name:?} }}")).jitter(),
            jitter
        );
        assert_eq!(json::<Jitter>(&format!("{name:?}")), jitter);
        assert_eq!(yaml::<Jitter>(name), jitter);
    }
}

#[test]
fn budget_forms() {
    let policy: RetryPolicy = toml("budget = false");
    assert!(policy.budget().is_none());
    let policy: RetryPolicy = toml("budget = true");
    assert_eq!(
        policy.budget().unwrap().remaining(),
        RetryBudget::default().remaining()
    );
    let policy: RetryPolicy = toml("budget = { min_per_sec = 1 }");
    assert_eq!(policy.budget().unwrap().remaining(), 10); // 1 per second over 10 s
    let policy: RetryPolicy = json(r#"{"budget": false}"#);
    assert!(policy.budget().is_none());
    let policy: RetryPolicy = yaml("budget: false");
    assert!(policy.budget().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_budget_ratio_buys_retries() {
    let budget: RetryBudget = toml(
        r#"ttl = "10s"
min_per_sec = 0
ratio = 0.5"#,
    );
    assert!(!budget.withdraw());
    budget.deposit();
    budget.deposit();
    assert!(budget.withdraw());
    assert!(!budget.withdraw());
}

#[test]
fn clones_of_a_deserialized_policy_share_its_budget() {
    let policy: RetryPolicy = toml("budget = { min_per_sec = 1, ttl = \"1s\" }");
    let clone = policy.clone();
    assert!(policy.budget().unwrap().withdraw());
    assert!(!clone.budget().unwrap().withdraw());
}

#[test]
fn unknown_fields_are_errors() {
    let message = toml_error::<RetryPolicy>("max_attempt = 3");
    assert_mentions(
        &message,
        &["unknown field `max_attempt`", "`max_attempts`", "line 1"],
    );
    let message = toml_error::<RetryPolicy>("backoff = { base = \"1s\", jiter = \"full\" }");
    assert_mentions(&message, &["unknown field `jiter`"]);
    let message = toml_error::<RetryPolicy>("budget = { ttl = \"1s\", ration = 0.1 }");
    assert_mentions(&message, &["unknown field `ration`"]);
    let message = json_error::<RetryPolicy>(r#"{"max_attempts": 3, "retries": 2}"#);
    assert_mentions(&message, &["unknown field `retries`", "line 1"]);
    let message = yaml_error::<RetryPolicy>("retries: 2");
    assert_mentions(&message, &["unknown field `retries`"]);
}

#[test]
fn wrong_types_name_the_field() {
    let message = toml_error::<RetryPolicy>(r#"max_attempts = "three""#);
    assert_mentions(
        &message,
        &["invalid type: string \"three\"", "max_attempts"],
    );
    let message = toml_error::<RetryPolicy>("max_attempts = -1");
    assert_mentions(&message, &["max_attempts"]);
    let message = toml_error::<RetryPolicy>(r#"backoff = "exponential""#);
    assert_mentions(
        &message,
        &["invalid value: string \"exponential\"", "backoff"],
    );
    let message = toml_error::<RetryPolicy>(r#"budget = "yes""#);
    assert_mentions(&message, &["invalid type: string \"yes\"", "budget"]);
    let message = toml_error::<RetryPolicy>(r#"backoff = { jitter = "Full" }"#);
    assert_mentions(
        &message,
        &["unknown variant `Full`", "`full`", "`decorrelated`"],
    );
}

#[test]
fn bad_durations_name_the_field() {
    let message = toml_error::<RetryPolicy>("max_retry_after = 60");
    assert_mentions(
        &message,
        &["a duration needs a unit", "max_retry_after = 60"],
    );
    let message = toml_error::<RetryPolicy>(r#"backoff = { base = "1 sec" }"#);
    assert_mentions(&message, &["unknown duration unit", "backoff"]);
    let message = json_error::<RetryPolicy>(r#"{"budget": {"ttl": "-5s"}}"#);
    assert_mentions(&message, &["a duration cannot be negative"]);
}

#[test]
fn a_backoff_alone_is_checked_like_the_builder_does() {
    let backoff = Backoff::exponential(Duration::from_secs(10), Duration::from_secs(1));
    let builder = RetryPolicy::builder()
        .backoff(backoff)
        .build()
        .unwrap_err()
        .to_string();
    let message = json_error::<Backoff>(r#"{"base": "10s", "cap": "1s"}"#);
    assert!(message.starts_with(&builder), "{message}");
    // A cap equal to the base is fine.
    assert_eq!(
        json::<Backoff>(r#"{"base": "1s", "cap": "1s"}"#),
        Backoff::exponential(Duration::from_secs(1), Duration::from_secs(1))
    );
}

#[test]
fn builder_rejections_are_the_message() {
    let message = toml_error::<RetryPolicy>("max_attempts = 0");
    assert_mentions(
        &message,
        &["invalid retry setting max_attempts: must be between 1 and 100"],
    );
    let message = toml_error::<RetryPolicy>("max_attempts = 101");
    assert_mentions(&message, &["invalid retry setting max_attempts"]);
    let message = toml_error::<RetryPolicy>(r#"backoff = { base = "10s", cap = "1s" }"#);
    assert_mentions(
        &message,
        &["invalid retry setting backoff: cap must not be below base"],
    );
    // The default cap is 8 s: a longer base alone is below it.
    let message = toml_error::<RetryPolicy>(r#"backoff = { base = "10s" }"#);
    assert_mentions(&message, &["invalid retry setting backoff"]);
    let message = toml_error::<RetryPolicy>(r#"backoff = { constant = "1s", base = "1s" }"#);
    assert_mentions(
        &message,
        &["invalid retry setting backoff: a constant backoff has no base or cap"],
    );
    let message = toml_error::<RetryPolicy>(r#"budget = { ttl = "2m" }"#);
    assert_mentions(
        &message,
        &["invalid retry setting budget.ttl: must be between 1s and 60s"],
    );
    let message = toml_error::<RetryPolicy>("budget = { ratio = -1.0 }");
    assert_mentions(&message, &["invalid retry setting budget.ratio"]);
    let message = json_error::<RetryPolicy>(r#"{"max_attempts": 0}"#);
    assert_mentions(&message, &["invalid retry setting max_attempts"]);
    let message = yaml_error::<RetryPolicy>("max_attempts: 0");
    assert_mentions(&message, &["invalid retry setting max_attempts"]);
}

#[test]
fn nan_and_infinity_are_rejected() {
    let message = toml_error::<RetryPolicy>("budget = { ratio = nan }");
    assert_mentions(&message, &["invalid retry setting budget.ratio"]);
    let message = toml_error::<RetryPolicy>("budget = { ratio = inf }");
    assert_mentions(&message, &["invalid retry setting budget.ratio"]);
}
