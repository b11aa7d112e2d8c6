//! The gRPC classifier: the 17-code table, pushback, and what it leaves to
//! the default classifier.

use std::time::Duration;

use tower_failover::BoxError;
use tower_failover::classify::{
    Classify, FailureKind, GrpcClassifier, Outcome, classify_grpc_code,
};

fn grpc(headers: &[(&str, &str)]) -> Outcome {
    let mut builder = http::Response::builder().header("content-type", "application/grpc");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    GrpcClassifier.classify(&Ok::<_, BoxError>(builder.body(()).unwrap()))
}

/// (kind, retried) of a failure; `None` for a success.
fn verdict(outcome: Outcome) -> Option<(FailureKind, bool)> {
    outcome.as_failure().map(|f| (f.kind(), f.is_retryable()))
}

#[test]
fn every_code_maps_to_the_documented_kind() {
    use FailureKind::*;
    let table = [
        (0, None),
        (1, Some((Invalid, false))),    // CANCELLED
        (2, Some((Transient, true))),   // UNKNOWN
        (3, Some((Invalid, false))),    // INVALID_ARGUMENT
        (4, Some((Timeout, true))),     // DEADLINE_EXCEEDED
        (5, Some((Invalid, false))),    // NOT_FOUND
        (6, Some((Invalid, false))),    // ALREADY_EXISTS
        (7, Some((Auth, false))),       // PERMISSION_DENIED
        (8, Some((RateLimited, true))), // RESOURCE_EXHAUSTED
        (9, Some((Invalid, false))),    // FAILED_PRECONDITION
        (10, Some((Invalid, false))),   // ABORTED
        (11, Some((Invalid, false))),   // OUT_OF_RANGE
        (12, Some((Invalid, false))),   // UNIMPLEMENTED
        (13, Some((Transient, true))),  // INTERNAL
        (14, Some((Transient, true))),  // UNAVAILABLE
        (15, Some((Transient, false))), // DATA_LOSS
        (16, Some((Auth, false))),      // UNAUTHENTICATED
        (17, Some((Transient, true))),  // not in the spec: UNKNOWN
        (-1, Some((Transient, true))),
        (i32::MAX, Some((Transient, true))),
    ];
    for (code, expected) in table {
        assert_eq!(verdict(classify_grpc_code(code)), expected, "code {code}");
        let header = code.to_string();
        assert_eq!(
            verdict(grpc(&[("grpc-status", &header)])),
            // A negative or huge header value is not a code: UNKNOWN.
            expected,
            "grpc-status: {code}"
        );
    }
}

#[test]
fn a_trailers_only_error_on_http_200_is_a_failure() {
    let outcome = grpc(&[("grpc-status", "14"), ("grpc-message", "try later")]);
    assert_eq!(verdict(outcome), Some((FailureKind::Transient, true)));
}

#[test]
fn without_grpc_status_the_http_status_decides() {
    // A streamed body whose status comes in the trailers: not visible yet.
    assert!(grpc(&[]).is_success());
    assert!(grpc(&[("grpc-status", "0")]).is_success());
    assert!(grpc(&[("grpc-status", "00")]).is_success());
    // A proxy's 503 in front of the gRPC server.
    let response = http::Response::builder()
        .status(503)
        .header("retry-after", "2")
        .body(())
        .unwrap();
    let outcome = GrpcClassifier.classify(&Ok::<_, BoxError>(response));
    let failure = outcome.as_failure().unwrap();
    assert_eq!(failure.kind(), FailureKind::Transient);
    assert_eq!(failure.retry_after(), Some(Duration::from_secs(2)));
}

#[test]
fn garbage_status_is_unknown() {
    for garbage in ["", "fourteen", "+14", " 14x", "1414"] {
        assert_eq!(
            verdict(grpc(&[("grpc-status", garbage)])),
            Some((FailureKind::Transient, true)),
            "{garbage:?}"
        );
    }
}

#[test]
fn pushback_is_the_hint() {
    let outcome = grpc(&[("grpc-status", "8"), ("grpc-retry-pushback-ms", "1500")]);
    let failure = outcome.as_failure().unwrap();
    assert_eq!(failure.kind(), FailureKind::RateLimited);
    assert_eq!(failure.retry_after(), Some(Duration::from_millis(1500)));
    assert!(failure.is_retryable());
}

#[test]
fn negative_or_unparseable_pushback_means_do_not_retry() {
    for pushback in ["-1", "-250", "soon", "1.5", "", "99999999999999999999"] {
        let outcome = grpc(&[("grpc-status", "14"), ("grpc-retry-pushback-ms", pushback)]);
        let failure = outcome.as_failure().unwrap();
        assert_eq!(failure.kind(), FailureKind::Transient, "{pushback:?}");
        assert_eq!(failure.hint().should_retry(), Some(false), "{pushback:?}");
        assert!(!failure.is_retryable(), "{pushback:?}");
        // Still counted against the breaker, still falls back.
        assert!(failure.kind().counts_against_breaker());
    }
}

#[test]
fn a_positive_pushback_does_not_make_a_non_retryable_code_retryable() {
    let outcome = grpc(&[("grpc-status", "3"), ("grpc-retry-pushback-ms", "10")]);
    assert_eq!(verdict(outcome), Some((FailureKind::Invalid, false)));
    let outcome = grpc(&[("grpc-status", "15"), ("grpc-retry-pushback-ms", "10")]);
    assert_eq!(verdict(outcome), Some((FailureKind::Transient, false)));
}

#[test]
fn errors_are_classified_like_the_default() {
    let refused: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
    let outcome = GrpcClassifier.classify(&Err::<http::Response<()>, _>(refused));
    assert_eq!(verdict(outcome), Some((FailureKind::Transient, true)));
    let timed_out: BoxError = Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut));
    let outcome = GrpcClassifier.classify(&Err::<http::Response<()>, _>(timed_out));
    assert_eq!(verdict(outcome), Some((FailureKind::Timeout, true)));
}

#[cfg(feature = "tonic")]
#[test]
fn tonic_errors_are_recognised_in_a_chain() {
    use tower_failover::classify::classify_error;

    let mut status = tonic::Status::resource_exhausted("slow down");
    status
        .metadata_mut()
        .insert("grpc-retry-pushback-ms", "40".parse().unwrap());
    let failure = classify_error(&status);
    assert_eq!(failure.kind(), FailureKind::RateLimited);
    assert_eq!(failure.retry_after(), Some(Duration::from_millis(40)));

    let boxed: BoxError = Box::new(tonic::Status::invalid_argument("no"));
    assert_eq!(classify_error(&*boxed).kind(), FailureKind::Invalid);

    let boxed: BoxError = Box::new(tonic::TimeoutExpired(()));
    assert_eq!(classify_error(&*boxed).kind(), FailureKind::Timeout);
}
