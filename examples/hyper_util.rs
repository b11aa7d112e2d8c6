//! The recommended stack around a hyper-util legacy `Client`.
//!
//! Starts two upstreams on 127.0.0.1: a flaky primary whose script is
//! 503 (with `retry-after-ms`), a stall, a 503, then an outage, and a
//! healthy backup. Twelve requests go through
//! `timeout_budget → fallback → retry → circuit_breaker → attempt_timeout →
//! Client`. The upstreams print each step they play; each request's line
//! says which tier served it and after how many attempts. The stall is cut
//! by the attempt timeout and retried, 503s are retried after the server's
//! `retry-after-ms`, and once the primary is down its breaker opens and the
//! backup serves without the primary being called. Nothing leaves
//! 127.0.0.1.
//!
//! ```sh
//! cargo run --example hyper_util --features hyper-util
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::{ServiceBuilder, ServiceExt};
use tower_failover::ServiceBuilderExt;
use tower_failover::circuit_breaker::BreakerConfig;
use tower_failover::fallback::{FallbackLayer, ServedBy, Tier};
use tower_failover::retry::{Backoff, HttpReplay, RetryLayer, RetryPolicy};

/// What an upstream does with one request.
#[derive(Clone, Copy, Debug)]
enum Step {
    Serve,
    Unavailable,
    Stall,
}

/// An upstream on 127.0.0.1 playing `script`, then `after` forever.
async fn upstream(name: &'static str, script: Vec<Step>, after: Step) -> std::net::SocketAddr {
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
                let service = hyper::service::service_fn(move |_: hyper::Request<_>| {
                    let step = script.lock().unwrap().pop_front().unwrap_or(after);
                    println!("    {name}: {step:?}");
                    async move {
                        let status = match step {
                            Step::Serve => 200,
                            Step::Unavailable => 503,
                            Step::Stall => {
                                tokio::time::sleep(Duration::from_secs(5)).await;
                                200
                            }
                        };
                        let response = hyper::Response::builder()
                            .status(status)
                            .header("retry-after-ms", "50")
                            .body(Full::new(Bytes::from(format!(
                                "{{\"served_by\":\"{name}\"}}"
                            ))))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

#[tokio::main]
async fn main() -> Result<(), tower_failover::BoxError> {
    use Step::{Serve, Stall, Unavailable};
    let primary = upstream(
        "primary",
        vec![
            Unavailable,
            Serve,
            Stall,
            Serve,
            Unavailable,
            Unavailable,
            Serve,
        ],
        Unavailable,
    )
    .await;
    let backup = upstream("backup", vec![], Serve).await;

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    // Per tier: 3 attempts with short jittered backoff (hints honoured),
    // a breaker that opens after 3 failures in a row, 300 ms per attempt.
    let tier = |name: &'static str| {
        let policy = RetryPolicy::builder()
            .backoff(Backoff::exponential(
                Duration::from_millis(20),
                Duration::from_millis(200),
            ))
            .build()?;
        let breaker = BreakerConfig::builder()
            .name(name)
            .consecutive_failures(3)
            .build()?;
        Ok::<_, tower_failover::InvalidConfig>(
            ServiceBuilder::new()
                .layer(RetryLayer::new(policy).replay(HttpReplay))
                .circuit_breaker(breaker)
                .attempt_timeout(Duration::from_millis(300))
                .service(client.clone()),
        )
    };
    let fallback = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", tier("backup")?).rewrite(
            move |request: &mut http::Request<_>| {
                let uri = format!("http://{backup}{}", request.uri().path());
                *request.uri_mut() = uri.parse().unwrap();
            },
        ))
        .replay(HttpReplay)
        .build()?;
    let stats = fallback.handle();
    let service = ServiceBuilder::new()
        .timeout_budget(Duration::from_secs(3))
        .fallback(fallback)
        .service(tier("primary")?);

    for n in 1..=12 {
        let request = http::Request::post(format!("http://{primary}/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(
                br#"{"model":"m","messages":[]}"#,
            )))?;
        let response = service.clone().oneshot(request).await?;
        let served = response.extensions().get::<ServedBy>().cloned();
        match served {
            Some(served) => println!(
                "request {n:2}: {} from {} after {} attempt(s) (a rejection by an open breaker is one)",
                response.status(),
                served.name(),
                served.attempts()
            ),
            None => println!("request {n:2}: {}", response.status()),
        }
    }
    for tier in stats.tiers() {
        println!(
            "tier {}: served {}, failed {}",
            tier.name(),
            tier.served(),
            tier.failed()
        );
    }
    Ok(())
}
