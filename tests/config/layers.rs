//! `TimeoutBudgetLayer` and `AttemptTimeoutLayer`.

use std::time::Duration;

use serde::Deserialize;
use tower_failover::deadline::{AttemptTimeoutLayer, TimeoutBudgetLayer};

use super::{assert_mentions, json_error, same_in_all, toml, toml_error};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Timeouts {
    budget: TimeoutBudgetLayer,
    attempt_timeout: AttemptTimeoutLayer,
}

fn debug<T: std::fmt::Debug>(value: &T) -> String {
    format!("{value:?}")
}

#[test]
fn from_a_duration_in_three_formats() {
    let timeouts: Timeouts = same_in_all(
        "budget = \"30s\"\nattempt_timeout = \"10s\"",
        r#"{"budget": "30s", "attempt_timeout": "10s"}"#,
        "budget: 30s\nattempt_timeout: 10s",
    );
    assert_eq!(
        debug(&timeouts.budget),
        debug(&TimeoutBudgetLayer::new(Duration::from_secs(30)))
    );
    assert_eq!(
        debug(&timeouts.attempt_timeout),
        debug(&AttemptTimeoutLayer::new(Duration::from_secs(10)))
    );
}

#[test]
fn from_a_table() {
    let timeouts: Timeouts =
        toml("budget = { budget = \"1m\" }\nattempt_timeout = { per_try = \"1.5s\" }");
    assert_eq!(
        debug(&timeouts.budget),
        debug(&TimeoutBudgetLayer::new(Duration::from_secs(60)))
    );
    assert_eq!(
        debug(&timeouts.attempt_timeout),
        debug(&AttemptTimeoutLayer::new(Duration::from_millis(1500)))
    );
}

#[tokio::test(start_paused = true)]
async fn a_deserialized_budget_times_out() {
    use tower::{ServiceBuilder, ServiceExt, service_fn};
    use tower_failover::deadline::DeadlineExceeded;

    let layer: TimeoutBudgetLayer =
        toml::from_str::<Timeouts>("budget = \"2s\"\nattempt_timeout = \"1s\"")
            .unwrap()
            .budget;
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|()| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok::<_, std::io::Error>(())
        }));
    let error = service.oneshot(()).await.unwrap_err();
    assert!(error.is::<DeadlineExceeded>(), "{error}");
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (
            "budget = \"0s\"\nattempt_timeout = \"1s\"",
            "invalid timeout budget setting budget: must not be zero",
        ),
        (
            "budget = \"1s\"\nattempt_timeout = \"0\"",
            "invalid attempt timeout setting per_try: must not be zero",
        ),
        (
            "budget = 30\nattempt_timeout = \"1s\"",
            "a duration needs a unit",
        ),
        (
            "budget = \"30s\"\nattempt_timeout = 10",
            "a duration needs a unit",
        ),
        (
            "budget = \"30 s\"\nattempt_timeout = \"1s\"",
            "unknown duration unit",
        ),
        (
            "budget = { per_try = \"1s\" }\nattempt_timeout = \"1s\"",
            "unknown field `per_try`, expected `budget`",
        ),
        (
            "budget = true\nattempt_timeout = \"1s\"",
            r#"a duration such as "30s", or a table { budget = "30s" }"#,
        ),
        // The table forms, each layer with its own field.
        (
            "budget = { budget = \"0s\" }\nattempt_timeout = \"1s\"",
            "invalid timeout budget setting budget: must not be zero",
        ),
        (
            "budget = \"1s\"\nattempt_timeout = { per_try = \"0s\" }",
            "invalid attempt timeout setting per_try: must not be zero",
        ),
        (
            "budget = \"1s\"\nattempt_timeout = { budget = \"1s\" }",
            "unknown field `budget`, expected `per_try`",
        ),
        (
            "budget = \"1s\"\nattempt_timeout = true",
            r#"a duration such as "30s", or a table { per_try = "30s" }"#,
        ),
    ];
    for (text, expected) in cases {
        assert_mentions(&toml_error::<Timeouts>(text), &[expected]);
    }
    let message = toml_error::<Timeouts>("budget = \"30s\"\nattempt_timeout = \"-1s\"");
    assert_mentions(
        &message,
        &["a duration cannot be negative", "attempt_timeout", "line 2"],
    );
    let message =
        json_error::<Timeouts>(r#"{"budget": "30s", "attempt_timeout": "10s", "extra": 1}"#);
    assert_mentions(&message, &["unknown field `extra`"]);
}

mod llm {
    use std::time::Duration;

    use tower_failover::llm::error_body::{DEFAULT_LIMIT, ErrorBodyLayer};
    use tower_failover::llm::sse::{DEFAULT_MAX_FIRST_EVENT_BYTES, SseGuardLayer};

    use super::super::{assert_mentions, json_error, same_in_all, toml_error, yaml_error};

    #[test]
    fn sse_guard_from_three_formats() {
        let layer: SseGuardLayer = same_in_all(
            "first_event_timeout = \"10s\"\nidle_timeout = \"30s\"\nmax_first_event_bytes = 4096",
            r#"{"first_event_timeout": "10s", "idle_timeout": "30s", "max_first_event_bytes": 4096}"#,
            "first_event_timeout: 10s\nidle_timeout: 30s\nmax_first_event_bytes: 4096",
        );
        assert_eq!(layer.first_event_timeout(), Some(Duration::from_secs(10)));
        assert_eq!(layer.idle_timeout(), Some(Duration::from_secs(30)));
        assert_eq!(layer.max_first_event_bytes(), 4096);
    }

    #[test]
    fn sse_guard_defaults() {
        let layer: SseGuardLayer = same_in_all("", "{}", "{}");
        assert_eq!(format!("{layer:?}"), format!("{:?}", SseGuardLayer::new()));
        assert_eq!(layer.first_event_timeout(), None);
        assert_eq!(layer.max_first_event_bytes(), DEFAULT_MAX_FIRST_EVENT_BYTES);
    }

    #[test]
    fn sse_guard_errors() {
        let cases = [
            (
                "first_event_timeout = \"0s\"",
                "invalid sse setting first_event_timeout: must not be zero",
            ),
            (
                "idle_timeout = \"0\"",
                "invalid sse setting idle_timeout: must not be zero",
            ),
            (
                "max_first_event_bytes = 0",
                "invalid sse setting max_first_event_bytes: must not be zero",
            ),
            (
                "max_first_event_bytes = 1000000000",
                "invalid sse setting max_first_event_bytes: must be at most 16 MiB",
            ),
            ("idle_timeout = 30", "a duration needs a unit"),
            ("idle = \"30s\"", "unknown field `idle`"),
        ];
        for (text, expected) in cases {
            assert_mentions(&toml_error::<SseGuardLayer>(text), &[expected]);
        }
        let message = json_error::<SseGuardLayer>(r#"{"max_first_event_bytes": -1}"#);
        assert_mentions(&message, &["invalid value: integer `-1`"]);
    }

    #[test]
    fn error_body_limit() {
        let layer: ErrorBodyLayer =
            same_in_all("limit = 1024", r#"{"limit": 1024}"#, "limit: 1024");
        assert_eq!(layer.get_limit(), 1024);
        let layer: ErrorBodyLayer = same_in_all("", "{}", "{}");
        assert_eq!(layer.get_limit(), DEFAULT_LIMIT);
        assert_mentions(
            &toml_error::<ErrorBodyLayer>("limit = \"1k\""),
            &["invalid type: string \"1k\"", "limit"],
        );
        assert_mentions(
            &yaml_error::<ErrorBodyLayer>("max: 1"),
            &["unknown field `max`"],
        );
    }
}
