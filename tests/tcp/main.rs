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
