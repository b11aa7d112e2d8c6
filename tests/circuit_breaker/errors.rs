//! The error type: allocation-free rejections that still downcast and
//! classify like the errors they hold.

use std::io;

use tower_failover::BoxError;
use tower_failover::circuit_breaker::{BreakerError, CircuitBreaker, CircuitOpen};
use tower_failover::classify::{Classify, DefaultClassifier, FailureKind};

use crate::support::*;

async fn rejection() -> BreakerError<io::Error> {
    let upstream = Upstream::new();
    let mut service = CircuitBreaker::new(upstream, base().build().unwrap());
    service.handle().force_open();
    call(&mut service).await.unwrap_err()
}

#[tokio::test(start_paused = true)]
async fn a_rejection_boxes_into_a_downcastable_circuit_open() {
    let error = rejection().await;
    assert_eq!(error.to_string(), "circuit open: test");
    let boxed: BoxError = error.into();
    let open = boxed.downcast_ref::<CircuitOpen>().unwrap();
    assert_eq!(open.name(), "test");
    let classified = DefaultClassifier.classify(&Err::<http::Response<()>, _>(boxed));
    assert_eq!(
        classified.as_failure().unwrap().kind(),
        FailureKind::CircuitOpen
    );
    assert!(!classified.as_failure().unwrap().is_retryable());
}

#[tokio::test(start_paused = true)]
async fn classifiers_see_through_the_enum_without_boxing() {
    let open = rejection().await;
    let outcome = DefaultClassifier.classify(&Err::<http::Response<()>, _>(open));
    assert_eq!(
        outcome.as_failure().unwrap().kind(),
        FailureKind::CircuitOpen
    );

    let inner: BreakerError<io::Error> = BreakerError::Inner(io::ErrorKind::TimedOut.into());
    let outcome = DefaultClassifier.classify(&Err::<http::Response<()>, _>(inner));
    assert_eq!(outcome.as_failure().unwrap().kind(), FailureKind::Timeout);
}

#[tokio::test(start_paused = true)]
async fn an_inner_error_boxes_as_itself() {
    let upstream = Upstream::new();
    upstream.then([Step::Io(io::ErrorKind::ConnectionRefused)]);
    let mut service = CircuitBreaker::new(upstream, base().build().unwrap());
    let error = call(&mut service).await.unwrap_err();
    assert!(!error.is_open());
    assert_eq!(
        error.as_inner().unwrap().kind(),
        io::ErrorKind::ConnectionRefused
    );
    let boxed: BoxError = error.into();
    assert_eq!(
        boxed.downcast_ref::<io::Error>().unwrap().kind(),
        io::ErrorKind::ConnectionRefused
    );
}

#[test]
fn the_error_is_small_and_send_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<BreakerError<io::Error>>();
    send_sync::<CircuitOpen>();
    // A name (two words plus a tag) and an Option<Duration>.
    assert!(std::mem::size_of::<CircuitOpen>() <= 40);
}
