//! The three ways of calling the providers, each a boxed service over the
//! same hyper-util client so the driver treats them alike.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use tower::util::BoxCloneService;
use tower::{BoxError, ServiceBuilder, ServiceExt};
use tower_failover::ServiceBuilderExt;
use tower_failover::circuit_breaker::{BreakerConfig, OpenBackoff, State};
use tower_failover::fallback::{FallbackLayer, Tier};
use tower_failover::llm::idempotency::IdempotencyLayer;
use tower_failover::llm::model::rewrite_model;
use tower_failover::retry::{Backoff, RetryPolicy};

use crate::fake_provider::FakeProvider;

/// The one hyper-util client under every run.
pub(crate) type HttpClient = HyperClient<HttpConnector, String>;

/// What the driver calls: a chat request in, a response with any body out.
pub(crate) type DemoClient =
    BoxCloneService<Request<String>, Response<BoxBody<Bytes, BoxError>>, BoxError>;

/// Which of the three ways a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Bare,
    NaiveRetry,
    Stack,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Bare, Kind::NaiveRetry, Kind::Stack];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Bare => "bare",
            Kind::NaiveRetry => "naive retry",
            Kind::Stack => "tower-failover",
        }
    }
}

/// Breaker openings per tier, counted by the breakers' transition hooks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Openings(Arc<[AtomicU64; 3]>);

impl Openings {
    pub(crate) fn get(&self) -> [u64; 3] {
        self.0.each_ref().map(|count| count.load(Ordering::Relaxed))
    }
}

/// Builds `kind` over `client`; the stack's tiers are `providers`, in order.
pub(crate) fn build(
    kind: Kind,
    client: &HttpClient,
    providers: &[(FakeProvider, &'static str)],
) -> Result<(DemoClient, Option<Openings>), BoxError> {
    Ok(match kind {
        Kind::Bare => (boxed(client.clone()), None),
        Kind::NaiveRetry => (
            boxed(tower::retry::Retry::new(NaiveRetry(3), client.clone())),
            None,
        ),
        Kind::Stack => {
            let openings = Openings::default();
            (stack(client, providers, &openings)?, Some(openings))
        }
    })
}

fn boxed<S, B>(service: S) -> DemoClient
where
    S: tower::Service<Request<String>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    BoxCloneService::new(
        service
            .map_response(|response: Response<B>| {
                response.map(|body| body.map_err(Into::into).boxed())
            })
            .map_err(Into::into),
    )
}

/// What people write first: on any error or any 429/5xx, send the request
/// again at once, up to this many more times.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NaiveRetry(u32);

impl<B, E> tower::retry::Policy<Request<String>, Response<B>, E> for NaiveRetry {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _request: &mut Request<String>,
        result: &mut Result<Response<B>, E>,
    ) -> Option<Self::Future> {
        let failed = match result {
            Ok(response) => {
                let status = response.status();
                status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS
            }
            Err(_) => true,
        };
        (failed && self.0 > 0).then(|| {
            self.0 -= 1;
            std::future::ready(())
        })
    }

    fn clone_request(&mut self, request: &Request<String>) -> Option<Request<String>> {
        Some(request.clone())
    }
}

/// The recommended stack, with settings a user would pick for these
/// providers (tens of milliseconds per answer): 5 s for the whole call;
/// per tier 3 attempts with 50–500 ms jittered backoff, server hints up
/// to 1 s (a longer wait goes to the next tier), a breaker that opens when
/// half of the last 20 calls failed (200 ms, doubling to 1 s, 3 probes) and
/// 800 ms per attempt.
fn stack(
    client: &HttpClient,
    providers: &[(FakeProvider, &'static str)],
    openings: &Openings,
) -> Result<DemoClient, BoxError> {
    let tier = |index: usize| -> Result<_, BoxError> {
        let name = providers[index].0.name().to_owned();
        let openings = openings.clone();
        let breaker = BreakerConfig::builder()
            .name(name)
            .minimum_calls(20)
            .failure_rate_threshold(0.5)
            .open_backoff(OpenBackoff::exponential(
                Duration::from_millis(200),
                Duration::from_secs(1),
            ))
            .half_open_permits(3)
            .on_transition(move |transition| {
                if transition.to() == State::Open {
                    openings.0[index].fetch_add(1, Ordering::Relaxed);
                }
            })
            .build()?;
        let retry = RetryPolicy::builder()
            .max_attempts(3)
            .backoff(Backoff::exponential(
                Duration::from_millis(50),
                Duration::from_millis(500),
            ))
            .max_retry_after(Duration::from_secs(1))
            .build()?;
        Ok(ServiceBuilder::new()
            .retry_policy(retry)
            .circuit_breaker(breaker)
            .attempt_timeout(Duration::from_millis(800))
            .error_body()
            .service(client.clone()))
    };
    let to = |index: usize| {
        let (provider, model) = &providers[index];
        let url: http::Uri = format!("{}/chat/completions", provider.base_url())
            .parse()
            .expect("a valid URL");
        let model = rewrite_model(*model);
        move |request: &mut Request<String>| {
            *request.uri_mut() = url.clone();
            model(request);
        }
    };
    let fallback = FallbackLayer::builder(providers[0].0.name().to_owned())
        .primary_timeout(Duration::from_secs(2))
        .tier(
            Tier::new(providers[1].0.name().to_owned(), tier(1)?)
                .timeout(Duration::from_millis(1500))
                .rewrite(to(1)),
        )
        .tier(
            Tier::new(providers[2].0.name().to_owned(), tier(2)?)
                .timeout(Duration::from_millis(1500))
                .rewrite(to(2)),
        )
        .build()?;
    Ok(boxed(
        ServiceBuilder::new()
            .layer(IdempotencyLayer::new())
            .timeout_budget(Duration::from_secs(5))
            .fallback(fallback)
            .service(tier(0)?),
    ))
}
