//! The full recommended stack over real TCP: budget → fallback → (per tier)
//! retry → breaker → attempt timeout → hyper-util client, against two
//! local upstreams on 127.0.0.1. Tier "a" returns 503s, then recovers;
//! tier "b" always serves. No sleeps: the breaker's open period is skipped
//! by advancing tokio's clock while no request is in flight.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::{ServiceBuilder, ServiceExt};
use tower_failover::circuit_breaker::{
    BreakerConfig, CircuitBreaker, CircuitBreakerLayer, OpenBackoff, State,
};
use tower_failover::deadline::{AttemptTimeout, AttemptTimeoutLayer, TimeoutBudgetLayer};
use tower_failover::fallback::{FallbackLayer, ServedBy, Tier};
use tower_failover::retry::{Backoff, HttpReplay, Retry, RetryLayer, RetryPolicy};

/// An upstream on 127.0.0.1 that answers 503 while `down` is set, 200
/// otherwise, and counts the requests it receives.
struct Upstream {
    address: std::net::SocketAddr,
    down: Arc<AtomicBool>,
    received: Arc<AtomicUsize>,
}

async fn upstream(down: bool) -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let down = Arc::new(AtomicBool::new(down));
    let received = Arc::new(AtomicUsize::new(0));
    let (is_down, counter) = (down.clone(), received.clone());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (is_down, counter) = (is_down.clone(), counter.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_: hyper::Request<_>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let status = if is_down.load(Ordering::SeqCst) {
                        503
                    } else {
                        200
                    };
                    let response = hyper::Response::builder()
                        .status(status)
                        .body(Full::new(Bytes::from_static(b"{}")))
                        .unwrap();
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Upstream {
        address,
        down,
        received,
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;
type TierStack = Retry<
    CircuitBreaker<AttemptTimeout<HttpClient>>,
    tower_failover::classify::DefaultClassifier,
    HttpReplay,
>;

/// One tier: retry (3 attempts, no backoff) → breaker (opens after 3
/// failures in a row, for 30 s) → attempt timeout (2 s) → the client.
fn tier(
    client: &HttpClient,
    name: &'static str,
) -> (TierStack, tower_failover::circuit_breaker::BreakerHandle) {
    let retry = RetryPolicy::builder()
        .backoff(Backoff::none())
        .no_budget()
        .build()
        .unwrap();
    let breaker = BreakerConfig::builder()
        .name(name)
        .consecutive_failures(3)
        .open_backoff(OpenBackoff::constant(Duration::from_secs(30)))
        .half_open_permits(1)
        .build()
        .unwrap();
    let breaker = CircuitBreakerLayer::new(breaker);
    let handle = breaker.handle();
    let stack = ServiceBuilder::new()
        .layer(RetryLayer::new(retry).replay(HttpReplay))
        .layer(breaker)
        .layer(AttemptTimeoutLayer::new(Duration::from_secs(2)))
        .service(client.clone());
    (stack, handle)
}

#[tokio::test]
async fn requests_fail_over_to_tier_b_and_come_back_when_a_recovers() {
    let a = upstream(true).await;
    let b = upstream(false).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let (primary, a_breaker) = tier(&client, "a");
    let (backup, _) = tier(&client, "b");
    let b_authority = b.address.to_string();
    let fallback = FallbackLayer::builder("a")
        .tier(
            Tier::new("b", backup).rewrite(move |request: &mut http::Request<Full<Bytes>>| {
                let uri = format!("http://{b_authority}{}", request.uri().path());
                *request.uri_mut() = uri.parse().unwrap();
            }),
        )
        .build()
        .unwrap();
    let handle = fallback.handle();
    let service = ServiceBuilder::new()
        .layer(TimeoutBudgetLayer::new(Duration::from_secs(5)))
        .layer(fallback)
        .service(primary);

    let send = || {
        let service = service.clone();
        let uri = format!("http://{}/v1/chat/completions", a.address);
        async move {
            let request = http::Request::post(uri)
                .body(Full::new(Bytes::from_static(b"{\"model\":\"a\"}")))
                .unwrap();
            let response = service.oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
            let served = response.extensions().get::<ServedBy>().unwrap().clone();
            eprintln!(
                "served by tier {} ({}) after {} calls",
                served.tier(),
                served.name(),
                served.attempts()
            );
            (served.name().to_owned(), served.attempts())
        }
    };

    // A is down: the first request tries it three times, then B serves;
    // A's breaker is now open, so the next ones go to B without calling A.
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(send().await);
    }
    let b_name = || "b".to_owned();
    assert_eq!(
        seen,
        [(b_name(), 4), (b_name(), 2), (b_name(), 2), (b_name(), 2)]
    );
    assert_eq!(a.received.load(Ordering::SeqCst), 3);
    assert_eq!(b.received.load(Ordering::SeqCst), 4);
    assert_eq!(a_breaker.state(), State::Open);

    // A recovers; once its open period is over, a probe finds it healthy
    // and it serves again.
    a.down.store(false, Ordering::SeqCst);
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(31)).await;
    tokio::time::resume();
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(send().await);
    }
    let a_name = || "a".to_owned();
    assert_eq!(
        seen,
        [(a_name(), 1), (a_name(), 1), (a_name(), 1), (a_name(), 1)]
    );
    assert_eq!(a.received.load(Ordering::SeqCst), 7);
    assert_eq!(b.received.load(Ordering::SeqCst), 4);
    assert_eq!(a_breaker.state(), State::Closed);

    let served: Vec<_> = handle
        .tiers()
        .iter()
        .map(|t| (t.served(), t.failed()))
        .collect();
    assert_eq!(served, [(4, 4), (4, 0)]);
    assert_eq!(handle.fell_back(), 4);
}
