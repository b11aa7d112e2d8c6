//! The default classifier: statuses, hints, errors.

mod grpc;
mod reqwest;

use std::io;
use std::time::Duration;

use tower_failover::BoxError;
use tower_failover::classify::{Classify, DefaultClassifier, FailureKind, Outcome, classify_error};
use tower_failover::deadline::{AttemptTimedOut, DeadlineExceeded};

fn classify_status(code: u16) -> Outcome {
    let response = http::Response::builder().status(code).body(()).unwrap();
    DefaultClassifier.classify(&Ok::<_, BoxError>(response))
}

fn kind(outcome: Outcome) -> Option<FailureKind> {
    outcome.as_failure().map(|f| f.kind())
}

#[test]
fn statuses_map_to_the_design_table() {
    let table = [
        (200, None),
        (201, None),
        (204, None),
        (304, None),
        (400, Some(FailureKind::Invalid)),
        (401, Some(FailureKind::Auth)),
        (402, Some(FailureKind::QuotaExhausted)),
        (403, Some(FailureKind::Auth)),
        (404, Some(FailureKind::ModelNotFound)),
        (408, Some(FailureKind::Timeout)),
        (409, Some(FailureKind::Transient)),
        (413, Some(FailureKind::ContextTooLong)),
        (422, Some(FailureKind::Invalid)),
        (429, Some(FailureKind::RateLimited)),
        (500, Some(FailureKind::Transient)),
        (501, Some(FailureKind::Invalid)),
        (502, Some(FailureKind::Transient)),
        (503, Some(FailureKind::Transient)),
        (504, Some(FailureKind::Transient)),
        (529, Some(FailureKind::Overloaded)),
        (599, Some(FailureKind::Transient)),
    ];
    for (code, expected) in table {
        assert_eq!(kind(classify_status(code)), expected, "status {code}");
    }
}

#[test]
fn the_design_table_columns_hold() {
    use FailureKind::*;
    let retry = [Transient, RateLimited, Overloaded, Timeout];
    let breaker = [
        Transient,
        RateLimited,
        Overloaded,
        Timeout,
        QuotaExhausted,
        Auth,
        ModelNotFound,
    ];
    for kind in FailureKind::ALL {
        assert_eq!(kind.is_retryable(), retry.contains(&kind), "{kind} retry");
        assert_eq!(
            kind.counts_against_breaker(),
            breaker.contains(&kind),
            "{kind} breaker"
        );
        assert_eq!(kind.may_fall_back(), kind != Invalid, "{kind} fallback");
    }
}

#[test]
fn a_failed_response_carries_its_hint() {
    let response = http::Response::builder()
        .status(429)
        .header("retry-after-ms", "1500")
        .body(())
        .unwrap();
    let outcome = DefaultClassifier.classify(&Ok::<_, BoxError>(response));
    let failure = outcome.as_failure().unwrap();
    assert_eq!(failure.kind(), FailureKind::RateLimited);
    assert_eq!(failure.retry_after(), Some(Duration::from_millis(1500)));
}

#[test]
fn a_successful_response_ignores_hint_headers() {
    let response = http::Response::builder()
        .status(200)
        .header("x-should-retry", "true")
        .body(())
        .unwrap();
    assert!(
        DefaultClassifier
            .classify(&Ok::<_, BoxError>(response))
            .is_success()
    );
}

#[test]
fn x_should_retry_overrules_the_status_both_ways() {
    for (code, header, retryable) in [
        (503, "false", false),
        (400, "true", true),
        (503, "garbage", true),
    ] {
        let response = http::Response::builder()
            .status(code)
            .header("x-should-retry", header)
            .body(())
            .unwrap();
        let outcome = DefaultClassifier.classify(&Ok::<_, BoxError>(response));
        assert_eq!(
            outcome.as_failure().unwrap().is_retryable(),
            retryable,
            "{code} {header}"
        );
    }
}

#[test]
fn io_errors_are_transient_or_timeouts() {
    for (kind, expected) in [
        (io::ErrorKind::ConnectionRefused, FailureKind::Transient),
        (io::ErrorKind::ConnectionReset, FailureKind::Transient),
        (io::ErrorKind::BrokenPipe, FailureKind::Transient),
        (io::ErrorKind::TimedOut, FailureKind::Timeout),
    ] {
        let error: BoxError = Box::new(io::Error::from(kind));
        let outcome = DefaultClassifier.classify(&Err::<http::Response<()>, _>(error));
        assert_eq!(self::kind(outcome), Some(expected), "{kind:?}");
    }
}

#[derive(Debug)]
struct Wrapper(BoxError);
impl std::fmt::Display for Wrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("wrapped")
    }
}
impl std::error::Error for Wrapper {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

#[test]
fn the_source_chain_is_walked() {
    let wrapped = Wrapper(Box::new(DeadlineExceeded::new()));
    assert_eq!(
        classify_error(&wrapped).kind(),
        FailureKind::BudgetExhausted
    );
    let wrapped = Wrapper(Box::new(AttemptTimedOut::new()));
    assert_eq!(classify_error(&wrapped).kind(), FailureKind::Timeout);
    // An io::Error wrapping this crate's error is classified by the inner one.
    let io = io::Error::other(DeadlineExceeded::new());
    assert_eq!(classify_error(&io).kind(), FailureKind::BudgetExhausted);
}

#[test]
fn unknown_errors_are_transient() {
    let error: BoxError = "something broke".into();
    let outcome = DefaultClassifier.classify(&Err::<http::Response<()>, _>(error));
    assert_eq!(kind(outcome), Some(FailureKind::Transient));
}

#[test]
fn crate_errors_are_never_retried_even_if_a_hint_says_so() {
    let error: BoxError = Box::new(DeadlineExceeded::new());
    let outcome = DefaultClassifier.classify(&Err::<http::Response<()>, _>(error));
    assert!(!outcome.as_failure().unwrap().is_retryable());
}

#[test]
fn tower_and_tokio_timeouts_are_timeouts() {
    let tower_elapsed: BoxError = Box::new(tower::timeout::error::Elapsed::new());
    assert_eq!(classify_error(&*tower_elapsed).kind(), FailureKind::Timeout);
}

#[test]
fn closures_are_classifiers() {
    let only_teapots = |result: &Result<u16, io::Error>| match result {
        Ok(418) => Outcome::failure(FailureKind::Invalid),
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::failure(FailureKind::Transient),
    };
    assert!(only_teapots.classify(&Ok(200)).is_success());
    assert_eq!(
        kind(only_teapots.classify(&Ok(418))),
        Some(FailureKind::Invalid)
    );
}

/// The classifier composes with the retry policy: a compile-time contract.
#[test]
fn a_custom_classifier_plugs_into_the_retry_policy() {
    let classifier = |result: &Result<http::Response<()>, io::Error>| match result {
        Ok(response) if response.status() == 404 => Outcome::failure(FailureKind::Transient),
        other => DefaultClassifier.classify(other),
    };
    let policy = tower_failover::retry::RetryPolicy::builder()
        .classifier(classifier)
        .build()
        .unwrap();
    let _layer = tower_failover::retry::RetryLayer::new(policy);
}

/// The policy traits stay object-safe: users may box them.
#[test]
fn policy_traits_are_object_safe() {
    fn _classify(_: &dyn Classify<http::Response<()>, BoxError>) {}
    fn _replay(_: &dyn tower_failover::retry::Replay<http::Request<()>>) {}
    fn _propagate(_: &dyn tower_failover::deadline::PropagateDeadline<http::Request<()>>) {}
}

/// An error type that lends nothing to inspect.
#[derive(Debug)]
struct Opaque;

impl tower_failover::classify::AsDynError for Opaque {
    fn as_dyn_error(&self) -> Option<&(dyn std::error::Error + 'static)> {
        None
    }
}

#[test]
fn an_error_with_nothing_to_inspect_is_still_a_failure() {
    let outcome = DefaultClassifier.classify(&Err::<http::Response<()>, _>(Opaque));
    assert_eq!(kind(outcome), Some(FailureKind::Transient));
}
