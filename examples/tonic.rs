//! A tonic `Channel` under the layers, with gRPC statuses classified by
//! `GrpcClassifier`.
//!
//! Starts a `tonic-health` server on 127.0.0.1 behind a fault-injecting
//! layer that answers scripted calls with trailers-only gRPC errors (HTTP
//! 200, `grpc-status` in the headers, as tonic sends a handler's
//! `Err(Status)`): UNAVAILABLE, RESOURCE_EXHAUSTED with
//! `grpc-retry-pushback-ms: 300`, INVALID_ARGUMENT, and UNAVAILABLE with a
//! negative pushback. A `HealthClient` on the wrapped channel shows which
//! are retried (and after how long) and which are returned at once. Tonic's
//! request bodies are streams, so a `ReplayBodyLayer` buffers them for the
//! retries. Nothing leaves 127.0.0.1.
//!
//! ```sh
//! cargo run --example tonic --features tonic
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tonic::transport::{Endpoint, Server};
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;
use tower_failover::ServiceBuilderExt;
use tower_failover::circuit_breaker::{BreakerConfig, CircuitBreakerLayer};
use tower_failover::classify::GrpcClassifier;
use tower_failover::retry::{BodyReplay, ReplayBody, ReplayBodyLayer, RetryLayer, RetryPolicy};
use tower_service::Service;

type Script = Arc<Mutex<VecDeque<Option<(Code, Option<&'static str>)>>>>;

/// Answers the scripted faults, passes `None` entries (and everything after
/// the script) to the real server.
///
/// Tower's readiness contract: once the inner service says it is ready, it
/// has reserved capacity for one call, and that call should come. So the
/// next script step is taken in `poll_ready` (admission), kept until `call`
/// (consumption): a scripted fault is answered without driving the inner
/// service ready at all, and only a call that goes to the server waits for
/// the server's readiness. As with a permit, a clone starts with no step.
struct Fault<S> {
    inner: S,
    script: Script,
    /// What the next `call` does, decided by `poll_ready`.
    next: Option<Step>,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Fail(Code, Option<&'static str>),
    Serve,
}

impl<S> Fault<S> {
    fn new(inner: S, script: Script) -> Self {
        Fault {
            inner,
            script,
            next: None,
        }
    }
}

impl<S: Clone> Clone for Fault<S> {
    fn clone(&self) -> Self {
        Fault::new(self.inner.clone(), self.script.clone())
    }
}

impl<S, B, RB> Service<http::Request<B>> for Fault<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let next = *self.next.get_or_insert_with(|| {
            match self.script.lock().unwrap().pop_front().flatten() {
                Some((code, pushback)) => Step::Fail(code, pushback),
                None => Step::Serve,
            }
        });
        match next {
            Step::Fail(..) => Poll::Ready(Ok(())),
            Step::Serve => self.inner.poll_ready(cx),
        }
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let next = self
            .next
            .take()
            .expect("poll_ready must be called before call");
        match next {
            Step::Fail(code, pushback) => {
                println!("    server: {code:?}, pushback {pushback:?}");
                let mut response = Status::new(code, "injected").into_http::<RB>();
                if let Some(pushback) = pushback {
                    response
                        .headers_mut()
                        .insert("grpc-retry-pushback-ms", pushback.parse().unwrap());
                }
                Box::pin(async move { Ok(response) })
            }
            Step::Serve => {
                println!("    server: serving");
                Box::pin(self.inner.call(request))
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), tower_failover::BoxError> {
    let script: Script = Arc::new(Mutex::new(VecDeque::from([
        // Call 1: retried twice, waiting 300 ms as the pushback asks.
        Some((Code::Unavailable, None)),
        Some((Code::ResourceExhausted, Some("300"))),
        None,
        // Call 2: the caller's fault, returned at once.
        Some((Code::InvalidArgument, None)),
        // Call 3: the server asks not to retry.
        Some((Code::Unavailable, Some("-1"))),
    ])));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (_reporter, health) = tonic_health::server::health_reporter();
    let faults = script.clone();
    tokio::spawn(
        Server::builder()
            .layer(tower::layer::layer_fn(move |inner| {
                Fault::new(inner, faults.clone())
            }))
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    let channel = Endpoint::from_shared(format!("http://{address}"))?.connect_lazy();
    let policy = RetryPolicy::builder().classifier(GrpcClassifier).build()?;
    let breaker = CircuitBreakerLayer::new(BreakerConfig::builder().name("health").build()?)
        .classifier(GrpcClassifier);
    let service = ServiceBuilder::new()
        .timeout_budget(Duration::from_secs(10))
        // Buffer tonic's streaming request bodies (up to 64 KiB) so that
        // they replay; the retry layer copies them with BodyReplay.
        .layer(ReplayBodyLayer::new(64 * 1024))
        .layer(RetryLayer::new(policy).replay(BodyReplay))
        .layer(breaker)
        .attempt_timeout(Duration::from_secs(2))
        // And back to the body type the channel takes.
        .map_request(|request: http::Request<ReplayBody<Body>>| request.map(Body::new))
        .service(channel);
    let mut client = HealthClient::new(service);

    for call in 1..=3 {
        let start = tokio::time::Instant::now();
        let result = client.check(HealthCheckRequest::default()).await;
        let elapsed = start.elapsed().as_millis();
        match result {
            Ok(response) => println!(
                "call {call}: {:?} after {elapsed} ms\n",
                response.into_inner().status()
            ),
            Err(status) => println!("call {call}: {:?} after {elapsed} ms\n", status.code()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::task::Waker;

    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_scripted_answer_leaves_the_inner_capacity_free() {
        let script: Script = Arc::new(Mutex::new(VecDeque::from([
            Some((Code::Unavailable, None)),
            None,
        ])));
        // One call at a time: a readiness taken and never used would block
        // every other user of the server.
        let server = tower::limit::ConcurrencyLimit::new(
            tower::service_fn(|_: http::Request<()>| async {
                Ok::<_, Infallible>(http::Response::new(String::new()))
            }),
            1,
        );
        let mut scripted = Fault::new(server, script);
        let mut other = scripted.clone();

        let response = scripted
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(()))
            .await
            .unwrap();
        assert_eq!(response.headers()["grpc-status"], "14");

        // `scripted` lives on, as a connection's service does.
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            other.poll_ready(&mut cx).is_ready(),
            "the scripted answer held the server's only slot"
        );
        let served = other.call(http::Request::new(())).await.unwrap();
        assert!(served.headers().get("grpc-status").is_none());
    }
}
