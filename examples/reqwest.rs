//! The layers around a `reqwest::Client`, which is a
//! `Service<reqwest::Request>`.
//!
//! Starts one upstream on 127.0.0.1 that answers its first calls with a 503
//! (`retry-after-ms: 100`) and a 429 (`retry-after: 1`), then 200s, and a
//! backup. Shows: a request retried after exactly what the server asked
//! (with `reqwest::Request::try_clone` as the replay), a request with a
//! streaming body sent once and not retried, and a request to a port where
//! nothing listens, retried as a connect error and then served by the backup
//! tier (a rewrite of the request's URL). Nothing leaves 127.0.0.1.
//!
//! ```sh
//! cargo run --example reqwest --features reqwest
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tower::{ServiceBuilder, ServiceExt};
use tower_failover::ServiceBuilderExt;
use tower_failover::circuit_breaker::BreakerConfig;
use tower_failover::fallback::{FallbackLayer, ServedBy, Tier};
use tower_failover::retry::{RetryLayer, RetryPolicy, TryCloneReplay};

/// An upstream on 127.0.0.1 answering `script` (status and headers), then 200.
async fn upstream(
    name: &'static str,
    script: Vec<(u16, &'static str, &'static str)>,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let script = script.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let step = script.lock().unwrap().pop_front();
                        async move {
                            let body = request.into_body().collect().await?.to_bytes();
                            let (status, header, value) = step.unwrap_or((200, "x-ok", "1"));
                            println!(
                                "    {name}: got {} byte(s), answers {status} {header}: {value}",
                                body.len()
                            );
                            let response = hyper::Response::builder()
                                .status(status)
                                .header(header, value)
                                .body(Full::new(Bytes::from(format!("served by {name}"))))
                                .unwrap();
                            Ok::<_, hyper::Error>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

fn post(url: String, body: impl Into<reqwest::Body>) -> reqwest::Request {
    let mut request = reqwest::Request::new(reqwest::Method::POST, url.parse().unwrap());
    *request.body_mut() = Some(body.into());
    request
}

#[tokio::main]
async fn main() -> Result<(), tower_failover::BoxError> {
    let primary = upstream(
        "primary",
        vec![
            (503, "retry-after-ms", "100"),
            (200, "x-ok", "1"),
            (429, "retry-after", "1"),
            (200, "x-ok", "1"),
            (503, "retry-after-ms", "0"),
        ],
    )
    .await;
    let backup = upstream("backup", vec![]).await;
    let client = reqwest::Client::new();

    // One tier: retry (replaying with try_clone) → breaker → attempt timeout.
    let tier = |name: &'static str| {
        Ok::<_, tower_failover::InvalidConfig>(
            ServiceBuilder::new()
                .layer(RetryLayer::new(RetryPolicy::default()).replay(TryCloneReplay))
                .circuit_breaker(BreakerConfig::builder().name(name).build()?)
                .attempt_timeout(Duration::from_secs(5))
                .service(client.clone()),
        )
    };
    let backup_port = backup.port();
    let fallback = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", tier("backup")?).rewrite(
            move |request: &mut reqwest::Request| {
                let _ = request.url_mut().set_port(Some(backup_port));
            },
        ))
        .replay(TryCloneReplay)
        // reqwest::Response is not an http::Response: say where ServedBy goes.
        .build()?;
    let service = ServiceBuilder::new()
        .timeout_budget(Duration::from_secs(10))
        .fallback(fallback)
        .service(tier("primary")?);
    let url = |address: std::net::SocketAddr| format!("http://{address}/v1/chat/completions");
    let report = |what: &str, response: &reqwest::Response, start: tokio::time::Instant| {
        let served = response.extensions().get::<ServedBy>();
        println!(
            "{what}: {} from {} after {} attempt(s), {} ms\n",
            response.status(),
            served.map_or("?", |s| s.name()),
            served.map_or(0, |s| s.attempts()),
            start.elapsed().as_millis()
        );
    };

    println!("a buffered body: 503 (wait 100 ms as asked), 200");
    let start = tokio::time::Instant::now();
    const BODY: &str = r#"{"model":"m","messages":[]}"#;
    let response = service.clone().oneshot(post(url(primary), BODY)).await?;
    report("buffered", &response, start);

    println!("a buffered body: 429 (wait 1 s as asked), 200");
    let start = tokio::time::Instant::now();
    let response = service.clone().oneshot(post(url(primary), BODY)).await?;
    report("after a 429", &response, start);

    println!("a streaming body: 503, but it cannot be cloned, so it is sent once");
    let start = tokio::time::Instant::now();
    let chunks: Vec<Result<&str, Infallible>> = vec![r#"{"model":"m","#, r#""messages":[]}"#]
        .into_iter()
        .map(Ok)
        .collect();
    let body = reqwest::Body::wrap_stream(tokio_stream::iter(chunks));
    let response = service.clone().oneshot(post(url(primary), body)).await?;
    report("streaming", &response, start);

    println!("nothing listens: connect errors are retried, then the backup serves");
    let dead = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let start = tokio::time::Instant::now();
    let response = service.clone().oneshot(post(url(dead), BODY)).await?;
    report("connect refused", &response, start);
    Ok(())
}
