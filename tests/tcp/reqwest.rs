//! A `reqwest::Client` under the layers, against local servers on
//! 127.0.0.1. Zero backoff; the only timer in a test that measures virtual
//! time is the retry's wait for the server's hint.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tower::{ServiceBuilder, ServiceExt};
use tower_failover::fallback::{FallbackLayer, ServedBy, Tier};
use tower_failover::retry::{Backoff, Retry, RetryLayer, RetryPolicy, TryCloneReplay};

/// A server on 127.0.0.1 answering from a script of (status, headers),
/// then 200; it reads every request body whole and counts requests and
/// the bodies it received.
struct Server {
    address: std::net::SocketAddr,
    received: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<Bytes>>>,
}

async fn server(script: Vec<(u16, &'static [(&'static str, &'static str)])>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let received = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (counter, seen) = (received.clone(), bodies.clone());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (script, counter, seen) = (script.clone(), counter.clone(), seen.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let (status, headers) =
                            script.lock().unwrap().pop_front().unwrap_or((200, &[]));
                        let seen = seen.clone();
                        async move {
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            seen.lock().unwrap().push(body);
                            let mut response = hyper::Response::builder().status(status);
                            for (name, value) in headers {
                                response = response.header(*name, *value);
                            }
                            Ok::<_, Infallible>(
                                response
                                    .body(Full::new(Bytes::from_static(b"{\"ok\":true}")))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Server {
        address,
        received,
        bodies,
    }
}

/// No timers in the client: no pool idle timeout, no connect timeout.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(None)
        .build()
        .unwrap()
}

fn policy(max_retry_after: Duration) -> RetryPolicy {
    RetryPolicy::builder()
        .backoff(Backoff::none())
        .max_retry_after(max_retry_after)
        .no_budget()
        .build()
        .unwrap()
}

fn retrying(
    client: &reqwest::Client,
    policy: RetryPolicy,
) -> Retry<reqwest::Client, tower_failover::classify::DefaultClassifier, TryCloneReplay> {
    ServiceBuilder::new()
        .layer(RetryLayer::new(policy).replay(TryCloneReplay))
        .service(client.clone())
}

fn post(url: String, body: impl Into<reqwest::Body>) -> reqwest::Request {
    let mut request = reqwest::Request::new(reqwest::Method::POST, url.parse().unwrap());
    *request.body_mut() = Some(body.into());
    request
}

#[tokio::test(start_paused = true)]
async fn a_503_is_retried_after_retry_after_ms() {
    let upstream = server(vec![(503, &[("retry-after-ms", "750")])]).await;
    let service = retrying(&http_client(), policy(Duration::from_secs(60)));
    let start = tokio::time::Instant::now();
    let url = format!("http://{}/v1/chat/completions", upstream.address);
    let response = service
        .oneshot(post(url, "{\"model\":\"m\"}"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Backoff is zero: only the hint made the retry wait.
    assert!(
        start.elapsed() >= Duration::from_millis(750),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(upstream.received.load(Ordering::SeqCst), 2);
    let bodies = upstream.bodies.lock().unwrap();
    assert_eq!(bodies.len(), 2);
    assert!(
        bodies.iter().all(|b| &b[..] == b"{\"model\":\"m\"}"),
        "{bodies:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_waits_for_retry_after_seconds() {
    let upstream = server(vec![(429, &[("retry-after", "2")])]).await;
    let service = retrying(&http_client(), policy(Duration::from_secs(60)));
    let start = tokio::time::Instant::now();
    let url = format!("http://{}/", upstream.address);
    let response = service.oneshot(post(url, "{}")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(upstream.received.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_429_asking_for_longer_than_the_cap_is_returned_at_once() {
    let upstream = server(vec![(429, &[("retry-after", "120")])]).await;
    let service = retrying(&http_client(), policy(Duration::from_secs(10)));
    let url = format!("http://{}/", upstream.address);
    let response = service.oneshot(post(url, "{}")).await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(upstream.received.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_streaming_body_is_sent_once_and_never_retried() {
    let upstream = server(vec![(503, &[("retry-after-ms", "0")])]).await;
    let service = retrying(&http_client(), policy(Duration::from_secs(60)));
    let chunks: Vec<Result<&'static str, std::io::Error>> = vec![Ok("{\"model\":"), Ok("\"m\"}")];
    let body = reqwest::Body::wrap_stream(tokio_stream::iter(chunks));
    let url = format!("http://{}/", upstream.address);
    let response = service.oneshot(post(url, body)).await.unwrap();
    assert_eq!(response.status(), 503, "the failure comes back as it was");
    assert_eq!(upstream.received.load(Ordering::SeqCst), 1);
    assert_eq!(
        &upstream.bodies.lock().unwrap()[0][..],
        b"{\"model\":\"m\"}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_falls_back() {
    // Bind and drop: nothing listens on this port any more.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let backup = server(vec![]).await;
    let client = http_client();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = tower::service_fn({
        let (client, attempts) = (client.clone(), attempts.clone());
        move |request: reqwest::Request| {
            attempts.fetch_add(1, Ordering::SeqCst);
            client.execute(request)
        }
    });
    let primary = ServiceBuilder::new()
        .layer(RetryLayer::new(policy(Duration::from_secs(60))).replay(TryCloneReplay))
        .service(counted);
    let backup_port = backup.address.port();
    let fallback = FallbackLayer::builder("primary")
        .tier(
            Tier::new("backup", retrying(&client, policy(Duration::from_secs(60)))).rewrite(
                move |request: &mut reqwest::Request| {
                    request.url_mut().set_port(Some(backup_port)).unwrap();
                },
            ),
        )
        .replay(TryCloneReplay)
        .build()
        .unwrap();
    let handle = fallback.handle();
    let service = ServiceBuilder::new().layer(fallback).service(primary);

    let url = format!("http://{dead}/v1/chat/completions");
    let response = service
        .oneshot(post(url, "{\"model\":\"m\"}"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let served = response.extensions().get::<ServedBy>().unwrap();
    assert_eq!(served.name(), "backup");
    assert_eq!(
        served.attempts(),
        4,
        "three calls to the primary, one to the backup"
    );
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "connect errors are retried"
    );
    assert_eq!(backup.received.load(Ordering::SeqCst), 1);
    assert_eq!(&backup.bodies.lock().unwrap()[0][..], b"{\"model\":\"m\"}");
    assert_eq!(handle.fell_back(), 1);
}
