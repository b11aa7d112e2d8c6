//! The failover demo: two fault-injecting upstreams on 127.0.0.1 (a
//! struggling primary provider and a steadier backup) and a hyper-util
//! client, driven bare against the primary and then through the
//! recommended stack with the backup as tier 2.
//!
//! ```text
//! cargo run --example demo [-- --requests 2000 --seed 7 --concurrency 32]
//! ```
//!
//! The primary answers like a struggling LLM API, on a schedule fixed by the
//! seed: a share of 503s, 429 bursts carrying `retry-after-ms`, and latency
//! spikes far beyond the per-attempt timeout. The backup fails less (5 %
//! 503s). Each run sends the same requests against the same schedule; the
//! table shows what each client got.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
use tower_failover::circuit_breaker::{
    BreakerConfig, CircuitBreaker, CircuitBreakerLayer, OpenBackoff,
};
use tower_failover::deadline::{AttemptTimeout, AttemptTimeoutLayer, TimeoutBudgetLayer};
use tower_failover::fallback::{FallbackLayer, Tier};
use tower_failover::retry::{Backoff, Retry, RetryBudget, RetryLayer, RetryPolicy};

type HttpClient = Client<HttpConnector, Full<Bytes>>;
type TierStack = Retry<CircuitBreaker<AttemptTimeout<HttpClient>>>;

#[derive(Clone, Copy, Debug)]
struct Options {
    requests: u64,
    concurrency: u64,
    seed: u64,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        requests: 2000,
        concurrency: 32,
        seed: 7,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} takes a whole number"))
        };
        match flag.as_str() {
            "--requests" => options.requests = value("--requests")?.max(1),
            "--concurrency" => options.concurrency = value("--concurrency")?.clamp(1, 512),
            "--seed" => options.seed = value("--seed")?,
            "--help" | "-h" => {
                return Err("usage: demo [--requests N] [--concurrency N] [--seed N]".into());
            }
            other => return Err(format!("unknown flag {other}; try --help")),
        }
    }
    Ok(options)
}

/// What the upstream does with the n-th request it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    Unavailable,
    RateLimited,
    Slow,
}

/// The primary's schedule: about 20 % 503s, 5 % 429s (in bursts), 2 %
/// latency spikes; the backup's: 5 % 503s.
fn fault(profile: Profile, seed: u64, n: u64) -> Fault {
    let roll = splitmix(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)) % 1000;
    if profile == Profile::Steady {
        return if roll < 50 {
            Fault::Unavailable
        } else {
            Fault::None
        };
    }
    // 429s come in bursts: every 200 requests, 10 in a row.
    if n % 200 < 10 {
        return Fault::RateLimited;
    }
    match roll {
        0..200 => Fault::Unavailable,
        200..220 => Fault::Slow,
        _ => Fault::None,
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    Struggling,
    Steady,
}

struct Upstream {
    profile: Profile,
    received: AtomicU64,
}

/// Starts an upstream on 127.0.0.1.
async fn upstream(profile: Profile, seed: u64) -> Result<(SocketAddr, Arc<Upstream>), BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let upstream = Arc::new(Upstream {
        profile,
        received: AtomicU64::new(0),
    });
    tokio::spawn(serve(listener, upstream.clone(), seed));
    Ok((address, upstream))
}

async fn serve(listener: tokio::net::TcpListener, upstream: Arc<Upstream>, seed: u64) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_request: hyper::Request<Incoming>| {
                let n = upstream.received.fetch_add(1, Ordering::Relaxed);
                let upstream = upstream.clone();
                async move {
                    let mut response =
                        hyper::Response::new(Full::new(Bytes::from_static(b"{\"choices\":[]}")));
                    match fault(upstream.profile, seed, n) {
                        Fault::None => {}
                        Fault::Unavailable => {
                            *response.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE
                        }
                        Fault::RateLimited => {
                            *response.status_mut() = hyper::StatusCode::TOO_MANY_REQUESTS;
                            response
                                .headers_mut()
                                .insert("retry-after-ms", "40".parse().unwrap());
                        }
                        Fault::Slow => tokio::time::sleep(Duration::from_millis(800)).await,
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[derive(Debug, Default)]
struct Report {
    ok: u64,
    failed: u64,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Report {
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[index]
    }
}

async fn drive<S>(service: S, address: SocketAddr, options: Options) -> Report
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<Incoming>>
        + Clone
        + Send
        + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..options.concurrency {
        let (service, next) = (service.clone(), next.clone());
        workers.spawn(async move {
            let mut report = Report::default();
            while next.fetch_add(1, Ordering::Relaxed) < options.requests {
                let request = http::Request::post(format!("http://{address}/v1/chat/completions"))
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(
                        b"{\"model\":\"demo\",\"messages\":[]}",
                    )))
                    .unwrap();
                let sent = Instant::now();
                let result = service.clone().oneshot(request).await.map_err(Into::into);
                let ok = match result {
                    Ok(response) => {
                        let status = response.status();
                        let _ = response.into_body().collect().await;
                        status.is_success()
                    }
                    Err(_) => false,
                };
                report.latencies.push(sent.elapsed());
                if ok {
                    report.ok += 1
                } else {
                    report.failed += 1
                }
            }
            report
        });
    }
    let mut total = Report::default();
    while let Some(Ok(report)) = workers.join_next().await {
        total.ok += report.ok;
        total.failed += report.failed;
        total.latencies.extend(report.latencies);
    }
    total.latencies.sort();
    total.elapsed = start.elapsed();
    total
}

/// One tier's stack, scaled for a local upstream: up to 4 attempts with
/// 20 ms–500 ms jittered backoff and hints up to 1 s, a circuit breaker
/// that opens for 50 ms (doubling to 1 s) when half of the last 50 attempts
/// failed, 200 ms per attempt. About 27 % of the primary's attempts fail, more than
/// the default retry budget (20 %) covers, so this budget allows 50 %: the
/// upstream never sees more than 1.5× the load (plus a floor of 10
/// retries/s).
fn tier(client: HttpClient) -> Result<TierStack, BoxError> {
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .budget(RetryBudget::new(Duration::from_secs(10), 10, 0.5)?)
        .backoff(Backoff::exponential(
            Duration::from_millis(20),
            Duration::from_millis(500),
        ))
        .max_retry_after(Duration::from_secs(1))
        .build()?;
    let breaker = BreakerConfig::builder()
        .minimum_calls(20)
        .open_backoff(OpenBackoff::exponential(
            Duration::from_millis(50),
            Duration::from_secs(1),
        ))
        .build()?;
    Ok(ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(CircuitBreakerLayer::new(breaker))
        .layer(AttemptTimeoutLayer::new(Duration::from_millis(200)))
        .service(client))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let options = options()?;
    let (address, primary) = upstream(Profile::Struggling, options.seed).await?;
    let (backup_address, backup) = upstream(Profile::Steady, options.seed ^ 1).await?;
    println!(
        "primary on {address}: ~20% 503, 429 bursts with retry-after-ms: 40, ~2% 800 ms stalls (seed {})",
        options.seed
    );
    println!("backup on {backup_address}: ~5% 503");
    println!(
        "{} requests, {} at a time, bare against the primary and then with the stack\n",
        options.requests, options.concurrency
    );

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();

    let bare = drive(client.clone(), address, options).await;
    let bare_attempts = primary.received.swap(0, Ordering::Relaxed);

    // A 2 s budget per call; the primary with its own retries and breaker,
    // then the backup (the same stack, the request sent to its address).
    let fallback = FallbackLayer::builder("primary")
        .tier(Tier::new("backup", tier(client.clone())?).rewrite(
            move |request: &mut http::Request<Full<Bytes>>| {
                let uri = format!("http://{backup_address}{}", request.uri().path());
                *request.uri_mut() = uri.parse().expect("a valid URI");
            },
        ))
        .build()?;
    let fallbacks = fallback.handle();
    let stack = ServiceBuilder::new()
        .layer(TimeoutBudgetLayer::new(Duration::from_secs(2)))
        .layer(fallback)
        .service(tier(client)?);
    let resilient = drive(stack, address, options).await;
    let resilient_attempts =
        primary.received.load(Ordering::Relaxed) + backup.received.load(Ordering::Relaxed);

    println!("| client | success | p50 | p95 | p99 | upstream attempts / request | wall time |");
    println!("|---|---|---|---|---|---|---|");
    for (name, report, attempts) in [
        ("bare hyper-util", &bare, bare_attempts),
        ("with tower-failover", &resilient, resilient_attempts),
    ] {
        let total = (report.ok + report.failed).max(1);
        println!(
            "| {name} | {:.1}% | {:.0} ms | {:.0} ms | {:.0} ms | {:.2} | {:.1} s |",
            100.0 * report.ok as f64 / total as f64,
            report.percentile(0.50).as_secs_f64() * 1000.0,
            report.percentile(0.95).as_secs_f64() * 1000.0,
            report.percentile(0.99).as_secs_f64() * 1000.0,
            attempts as f64 / total as f64,
            report.elapsed.as_secs_f64(),
        );
    }
    let tiers = fallbacks.tiers();
    let backup_served = tiers.get(1).map_or(0, |t| t.served());
    println!(
        "\nwith tower-failover: the primary served {}, the backup {} ({} requests fell back); {} went to the backup's address",
        tiers[0].served(),
        backup_served,
        fallbacks.fell_back(),
        backup.received.load(Ordering::Relaxed),
    );
    Ok(())
}
