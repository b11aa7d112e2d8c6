//! `reqwest::Response` and `reqwest::Error` under the default classifier.
#![cfg(feature = "reqwest")]

use std::time::Duration;

use tower_failover::BoxError;
use tower_failover::classify::{Classify, DefaultClassifier, FailureKind};

fn response(status: u16, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    reqwest::Response::from(builder.body("").unwrap())
}

#[test]
fn reqwest_responses_follow_the_http_table_and_hints() {
    for (status, expected) in [
        (200, None),
        (400, Some(FailureKind::Invalid)),
        (402, Some(FailureKind::QuotaExhausted)),
        (429, Some(FailureKind::RateLimited)),
        (503, Some(FailureKind::Transient)),
        (529, Some(FailureKind::Overloaded)),
    ] {
        let outcome = DefaultClassifier.classify(&Ok::<_, reqwest::Error>(response(status, &[])));
        assert_eq!(outcome.as_failure().map(|f| f.kind()), expected, "{status}");
    }
    let limited = response(429, &[("retry-after", "3"), ("x-should-retry", "true")]);
    let outcome = DefaultClassifier.classify(&Ok::<_, BoxError>(limited));
    let failure = outcome.as_failure().unwrap();
    assert_eq!(failure.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(failure.hint().should_retry(), Some(true));
}

#[tokio::test]
async fn a_bad_url_is_invalid_and_a_refused_connection_transient() {
    let client = reqwest::Client::new();
    let error = client.get("http://[::1").send().await.unwrap_err();
    assert!(error.is_builder(), "{error:?}");
    let outcome = DefaultClassifier.classify(&Err::<reqwest::Response, _>(error));
    assert_eq!(
        outcome.as_failure().map(|f| f.kind()),
        Some(FailureKind::Invalid)
    );

    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let error = client
        .get(format!("http://{address}/"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    let outcome = DefaultClassifier.classify(&Err::<reqwest::Response, _>(error));
    let failure = outcome.as_failure().unwrap();
    assert_eq!(failure.kind(), FailureKind::Transient);
    assert!(failure.is_retryable());
}
