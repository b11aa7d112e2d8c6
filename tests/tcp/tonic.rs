//! A tonic `Channel` under the layers, against a `tonic-health` server on
//! 127.0.0.1 behind a fault-injecting layer that answers its first calls
//! with trailers-only gRPC errors. No backoff and no timers but the ones a
//! test measures.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;
use tower_failover::circuit_breaker::{
    BreakerConfig, BreakerHandle, CircuitBreakerLayer, CircuitOpen, OpenBackoff, State,
};
use tower_failover::classify::GrpcClassifier;
use tower_failover::retry::{
    Backoff, BodyReplay, ReplayBody, ReplayBodyLayer, RetryLayer, RetryPolicy,
};
use tower_service::Service;

/// A code and an optional `grpc-retry-pushback-ms`, per call.
type Script = VecDeque<(Code, Option<&'static str>)>;

/// The faults to answer the next calls with, in order (a code and an
/// optional `grpc-retry-pushback-ms`), and the calls received.
#[derive(Clone, Default)]
struct Faults {
    script: Arc<Mutex<Script>>,
    received: Arc<AtomicUsize>,
}

impl Faults {
    fn push(&self, code: Code, pushback: Option<&'static str>) {
        self.script.lock().unwrap().push_back((code, pushback));
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

/// Wraps the server's routes: answers scripted faults as trailers-only
/// responses (HTTP 200, `grpc-status` in the headers, as tonic sends a
/// handler's `Err(Status)`), passes the rest through.
#[derive(Clone)]
struct Fault<S> {
    inner: S,
    faults: Faults,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> Service<http::Request<B>> for Fault<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.faults.received.fetch_add(1, Ordering::SeqCst);
        let fault = self.faults.script.lock().unwrap().pop_front();
        match fault {
            Some((code, pushback)) => {
                let mut response = Status::new(code, "injected").into_http::<RB>();
                if let Some(pushback) = pushback {
                    response
                        .headers_mut()
                        .insert("grpc-retry-pushback-ms", pushback.parse().unwrap());
                }
                Box::pin(async move { Ok(response) })
            }
            None => Box::pin(self.inner.call(request)),
        }
    }
}

/// A health server on 127.0.0.1 behind the fault layer, and a lazy channel
/// to it.
async fn health_server() -> (Channel, Faults) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let faults = Faults::default();
    let layer_faults = faults.clone();
    tokio::spawn(
        Server::builder()
            .layer(tower::layer::layer_fn(move |inner| Fault {
                inner,
                faults: layer_faults.clone(),
            }))
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy();
    (channel, faults)
}

fn policy(max_retry_after: Duration) -> RetryPolicy<GrpcClassifier> {
    RetryPolicy::builder()
        .classifier(GrpcClassifier)
        .backoff(Backoff::none())
        .max_retry_after(max_retry_after)
        .no_budget()
        .build()
        .unwrap()
}

/// Retry (3 attempts, no backoff, the gRPC classifier) and a breaker
/// (opens after 3 failures in a row) around the channel; tonic's streaming
/// request bodies are buffered so that they replay.
fn client(
    channel: Channel,
    policy: RetryPolicy<GrpcClassifier>,
) -> (
    HealthClient<
        impl tonic::client::GrpcService<
            Body,
            Error = tower_failover::BoxError,
            ResponseBody = Body,
            Future = impl Send,
        > + Clone,
    >,
    BreakerHandle,
) {
    let breaker = CircuitBreakerLayer::new(
        BreakerConfig::builder()
            .name("health")
            .consecutive_failures(3)
            .open_backoff(OpenBackoff::constant(Duration::from_secs(30)))
            .build()
            .unwrap(),
    )
    .classifier(GrpcClassifier);
    let handle = breaker.handle();
    let service = ServiceBuilder::new()
        .layer(ReplayBodyLayer::new(64 * 1024))
        .layer(RetryLayer::new(policy).replay(BodyReplay))
        .layer(breaker)
        .map_request(|request: http::Request<ReplayBody<Body>>| request.map(Body::new))
        .service(channel);
    (HealthClient::new(service), handle)
}

async fn check<T>(client: &mut HealthClient<T>) -> Result<ServingStatus, Status>
where
    T: tonic::client::GrpcService<Body>,
    T::Error: Into<tower_failover::BoxError>,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tower_failover::BoxError> + Send,
{
    let response = client.check(HealthCheckRequest::default()).await?;
    Ok(response.into_inner().status())
}

#[tokio::test]
async fn unavailable_and_resource_exhausted_are_retried_until_the_call_succeeds() {
    let (channel, faults) = health_server().await;
    faults.push(Code::Unavailable, None);
    faults.push(Code::ResourceExhausted, Some("0"));
    let (mut client, breaker) = client(channel, policy(Duration::from_secs(60)));
    assert_eq!(check(&mut client).await.unwrap(), ServingStatus::Serving);
    assert_eq!(faults.received(), 3);
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn the_pushback_is_waited_for() {
    // The retry's sleep is the only timer: no backoff, no timeouts.
    let (channel, faults) = health_server().await;
    faults.push(Code::ResourceExhausted, Some("700"));
    let (mut client, _) = client(channel, policy(Duration::from_secs(60)));
    let start = tokio::time::Instant::now();
    assert_eq!(check(&mut client).await.unwrap(), ServingStatus::Serving);
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(faults.received(), 2);
}

#[tokio::test]
async fn a_pushback_above_the_cap_gives_up_at_once() {
    let (channel, faults) = health_server().await;
    faults.push(Code::ResourceExhausted, Some("5000"));
    let (mut client, _) = client(channel, policy(Duration::from_secs(1)));
    let status = check(&mut client).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(faults.received(), 1);
}

#[tokio::test]
async fn non_retryable_codes_are_not_retried() {
    let (channel, faults) = health_server().await;
    let (mut client, breaker) = client(channel, policy(Duration::from_secs(60)));
    for (n, code) in [
        Code::InvalidArgument,
        Code::NotFound,
        Code::PermissionDenied,
    ]
    .into_iter()
    .enumerate()
    {
        faults.push(code, None);
        let status = check(&mut client).await.unwrap_err();
        assert_eq!(status.code(), code);
        assert_eq!(faults.received(), n + 1, "{code:?} was sent once");
    }
    // Caller faults do not count against the breaker; PERMISSION_DENIED does.
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(check(&mut client).await.unwrap(), ServingStatus::Serving);
}

#[tokio::test]
async fn a_negative_or_garbled_pushback_is_not_retried() {
    let (channel, faults) = health_server().await;
    let (mut client, _) = client(channel, policy(Duration::from_secs(60)));
    for (n, pushback) in ["-1", "later"].into_iter().enumerate() {
        faults.push(Code::Unavailable, Some(pushback));
        let status = check(&mut client).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(faults.received(), n + 1, "pushback {pushback:?}");
    }
}

#[tokio::test]
async fn the_breaker_opens_after_repeated_unavailable() {
    let (channel, faults) = health_server().await;
    for _ in 0..10 {
        faults.push(Code::Unavailable, None);
    }
    let (mut client, breaker) = client(channel, policy(Duration::from_secs(60)));
    // Three attempts, three failures in a row: the breaker opens.
    let status = check(&mut client).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(faults.received(), 3);
    assert_eq!(breaker.state(), State::Open);
    // The next call is rejected without reaching the server.
    let status = check(&mut client).await.unwrap_err();
    assert_eq!(faults.received(), 3);
    let mut source = std::error::Error::source(&status);
    let mut open = false;
    while let Some(error) = source {
        open |= error.is::<CircuitOpen>();
        source = error.source();
    }
    assert!(open, "rejected by the breaker: {status:?}");
}
