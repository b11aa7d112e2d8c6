//! The layers around a real hyper-util client, against local servers on
//! 127.0.0.1 (no network beyond loopback, no sleeps: zero backoff).

mod fallback;
mod reqwest;
mod tonic;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_failover::retry::{Backoff, HttpReplay, RetryLayer, RetryPolicy};

/// Serves on 127.0.0.1: the first `failures` requests get a 503 (with
/// `retry-after-ms: 0`), the rest a 200 echoing the body and the attempt count.
async fn server(failures: usize) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let counter = counter.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let n = counter.fetch_add(1, Ordering::SeqCst);
                        async move {
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            let mut response = hyper::Response::new(Full::new(body));
                            if n < failures {
                                *response.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
                                response
                                    .headers_mut()
                                    .insert("retry-after-ms", "0".parse().unwrap());
                            }
                            Ok::<_, Infallible>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (address, received)
}

fn policy() -> RetryPolicy {
    RetryPolicy::builder()
        .backoff(Backoff::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_hyper_util_client_retries_503s_over_tcp() {
    let (address, received) = server(2).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(policy()).replay(HttpReplay))
        .service(client);
    let request = http::Request::post(format!("http://{address}/v1/chat/completions"))
        .body(Full::new(Bytes::from_static(b"{\"model\":\"m\"}")))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(received.load(Ordering::SeqCst), 3);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &body[..],
        b"{\"model\":\"m\"}",
        "the replayed body arrives intact"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_returned() {
    // Bind and drop: nothing listens on this port any more.
    let address = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let attempts = Arc::new(AtomicUsize::new(0));
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let counted = tower::service_fn({
        let attempts = attempts.clone();
        move |request| {
            attempts.fetch_add(1, Ordering::SeqCst);
            client.request(request)
        }
    });
    let service = RetryLayer::new(policy()).layer(counted);
    let request = http::Request::get(format!("http://{address}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let error = service.oneshot(request).await.unwrap_err();
    assert!(error.is_connect(), "{error}");
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

/// A server on 127.0.0.1 that accepts connections, reads nothing and never
/// answers; it counts the connections.
async fn stalled_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (address, accepted)
}

/// Sends `request` to `to` instead of where it was going.
fn redirect(to: std::net::SocketAddr) -> impl Fn(&mut http::Request<Full<Bytes>>) + Send + Sync {
    move |request| {
        let uri = format!("http://{to}{}", request.uri().path());
        *request.uri_mut() = uri.parse().unwrap();
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_connect_failure_and_falls_back() {
    use tower_failover::classify::{Classify, DefaultClassifier, FailureKind};
    use tower_failover::fallback::{FallbackLayer, ServedBy, Tier};

    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();

    // What the classifier makes of the bare error.
    let request = http::Request::get(format!("http://{dead}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let result = client.request(request).await;
    let error = result.as_ref().unwrap_err();
    assert!(error.is_connect(), "{error}");
    let failure = *DefaultClassifier.classify(&result).as_failure().unwrap();
    assert_eq!(failure.kind(), FailureKind::Transient);
    assert!(failure.is_retryable());

    // Under retry and fallback: three tries, then the backup serves.
    let (backup, received) = server(0).await;
    let tier = || {
        ServiceBuilder::new()
            .layer(RetryLayer::new(policy()).replay(HttpReplay))
            .service(client.clone())
    };
    let fallback = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", tier()).rewrite(redirect(backup)))
        .replay(HttpReplay)
        .build()
        .unwrap();
    let service = ServiceBuilder::new().layer(fallback).service(tier());
    let request = http::Request::post(format!("http://{dead}/v1/chat/completions"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let served = response.extensions().get::<ServedBy>().unwrap();
    assert_eq!((served.name(), served.attempts()), ("backup", 4));
    assert_eq!(received.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn the_attempt_timeout_cuts_a_stalled_upstream_and_the_backup_serves() {
    use std::time::Duration;
    use tower_failover::deadline::{AttemptTimedOut, AttemptTimeoutLayer};
    use tower_failover::fallback::{FallbackLayer, ServedBy, Tier};

    // The attempt timeouts are the only timers: the backup has none, the
    // client keeps no pool timer, backoff is zero.
    let (stalled, accepted) = stalled_server().await;
    let (backup, received) = server(0).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let primary = ServiceBuilder::new()
        .layer(RetryLayer::new(policy()).replay(HttpReplay))
        .layer(AttemptTimeoutLayer::new(Duration::from_millis(200)))
        .service(client.clone());

    // Alone, the primary gives up with the attempt timeout's error.
    let start = tokio::time::Instant::now();
    let request = http::Request::get(format!("http://{stalled}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let error = primary.clone().oneshot(request).await.unwrap_err();
    assert!(error.is::<AttemptTimedOut>(), "{error}");
    assert!(
        start.elapsed() >= Duration::from_millis(600),
        "three attempts of 200 ms"
    );
    // Each timed-out attempt drops its connection: three connections.
    assert_eq!(accepted.load(Ordering::SeqCst), 3);

    let backup_tier = tower::util::BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(RetryLayer::new(policy()).replay(HttpReplay))
            .service(client.clone())
            .map_err(tower_failover::BoxError::from),
    );
    let fallback = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", backup_tier).rewrite(redirect(backup)))
        .replay(HttpReplay)
        .build()
        .unwrap();
    let service = ServiceBuilder::new().layer(fallback).service(primary);
    let request = http::Request::post(format!("http://{stalled}/v1/chat/completions"))
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let served = response.extensions().get::<ServedBy>().unwrap();
    assert_eq!((served.name(), served.attempts()), ("backup", 4));
    assert_eq!(accepted.load(Ordering::SeqCst), 6);
    assert_eq!(received.load(Ordering::SeqCst), 1);
}
