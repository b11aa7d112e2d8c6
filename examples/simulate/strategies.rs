//! The five ways of calling the providers, each a boxed clone service over
//! the same two simulated providers, so the driver treats them alike.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use tower::retry::backoff::{
    Backoff as _, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff,
};
use tower::retry::budget::{Budget as _, TpsBudget};
use tower::util::BoxCloneService;
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt, service_fn};
use tower_failover::ServiceBuilderExt;
use tower_failover::circuit_breaker::{BreakerConfig, OpenBackoff};
use tower_failover::fallback::{FallbackLayer, Tier};
use tower_failover::retry::{Backoff, RetryPolicy};
use tower_resilience::circuitbreaker::{CircuitBreakerError, CircuitBreakerLayer, CircuitState};
use tower_resilience::fallback::FallbackLayer as ResilienceFallback;
use tower_resilience::retry::{FnInterval, RetryBudgetBuilder, RetryLayer};

use crate::providers::{REQUEST, SimProvider};
use crate::scenarios::unit;

/// What the driver calls. The body is dropped; the status and the
/// `x-sim-provider` header say what happened.
pub(crate) type SimClient = BoxCloneService<Request<String>, Response<()>, BoxError>;

/// The strategies compared, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    None,
    Naive,
    TowerRetry,
    Resilience,
    Stack,
}

impl Strategy {
    pub(crate) const ALL: [Strategy; 5] = [
        Strategy::None,
        Strategy::Naive,
        Strategy::TowerRetry,
        Strategy::Resilience,
        Strategy::Stack,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Strategy::None => "no resilience",
            Strategy::Naive => "naive loop (LLM docs)",
            Strategy::TowerRetry => "tower retry + TpsBudget",
            Strategy::Resilience => "tower-resilience retry+breaker+fallback",
            Strategy::Stack => "tower-failover stack",
        }
    }

    /// Whether the strategy ever calls the backup.
    pub(crate) fn falls_back(self) -> bool {
        matches!(self, Strategy::Resilience | Strategy::Stack)
    }
}

/// The statuses the LLM SDKs retry, plus 529.
fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 409 | 429) || status.is_server_error()
}

fn request_id(request: &Request<String>) -> u64 {
    (request.headers().get(REQUEST))
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(u64::MAX)
}

fn boxed<S, B>(service: S) -> SimClient
where
    S: Service<Request<String>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    BoxCloneService::new(
        service
            .map_response(|response: Response<B>| response.map(|_| ()))
            .map_err(Into::into),
    )
}

/// Builds `strategy` over the two providers; `seed` drives every random
/// choice the simulation controls (the peers' jitter, the naive loop's).
pub(crate) fn build(
    strategy: Strategy,
    primary: &SimProvider,
    backup: &SimProvider,
    seed: u64,
) -> Result<SimClient, BoxError> {
    Ok(match strategy {
        Strategy::None => boxed(primary.clone()),
        Strategy::Naive => naive(primary.clone(), seed),
        Strategy::TowerRetry => tower_retry(primary.clone(), seed)?,
        Strategy::Resilience => resilience(primary.clone(), backup.clone(), seed)?,
        Strategy::Stack => stack(primary.clone(), backup.clone())?,
    })
}

/// The loop the LLM providers' docs recommend: 4 attempts in all,
/// `500 ms × 2^i` plus uniform 0–250 ms between them, retrying 408, 409,
/// 429, 5xx and transport errors. No hint, no budget, no fallback.
fn naive(primary: SimProvider, seed: u64) -> SimClient {
    boxed(service_fn(move |request: Request<String>| {
        let mut primary = primary.clone();
        async move {
            let id = request_id(&request);
            let mut retry = 0u32;
            loop {
                let result = primary.ready().await?.call(request.clone()).await;
                let again = match &result {
                    Ok(response) => retryable(response.status()),
                    Err(_) => true,
                };
                if !again || retry == 3 {
                    return result;
                }
                let jitter =
                    Duration::from_millis(250).mul_f64(unit(&[seed, 0x4a, id, retry.into()]));
                tokio::time::sleep(Duration::from_millis(500) * (1 << retry) + jitter).await;
                retry += 1;
            }
        }
    }))
}

/// A seeded random source for the peers' jitter: a shared counter run
/// through splitmix64, deterministic on one thread.
#[derive(Clone, Debug)]
pub(crate) struct SeededRng {
    seed: u64,
    counter: Arc<AtomicU64>,
}

impl SeededRng {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            counter: Arc::default(),
        }
    }

    pub(crate) fn unit(&self) -> f64 {
        unit(&[self.seed, self.counter.fetch_add(1, Ordering::Relaxed)])
    }
}

impl tower::util::rng::Rng for SeededRng {
    fn next_u64(&mut self) -> u64 {
        crate::scenarios::mix(&[self.seed, self.counter.fetch_add(1, Ordering::Relaxed)])
    }
}

/// `tower::retry::Retry` as its docs suggest: a policy drawing on a shared
/// `TpsBudget` (10 s window, 10 retries/s floor, 20 %: this crate's default
/// budget) with tower's exponential backoff (500 ms doubling to 8 s, plus
/// up to 99 % jitter); 4 attempts in all; the same statuses as the naive
/// loop. It does not read `retry-after`.
#[derive(Clone, Debug)]
struct TowerPolicy {
    budget: Arc<TpsBudget>,
    backoff: ExponentialBackoff<SeededRng>,
    retries: u32,
    deposited: bool,
}

impl tower::retry::Policy<Request<String>, Response<String>, BoxError> for TowerPolicy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _: &mut Request<String>,
        result: &mut Result<Response<String>, BoxError>,
    ) -> Option<Self::Future> {
        if !self.deposited {
            self.budget.deposit();
            self.deposited = true;
        }
        let again = match result {
            Ok(response) => retryable(response.status()),
            Err(_) => true,
        };
        if !again || self.retries == 3 || !self.budget.withdraw() {
            return None;
        }
        self.retries += 1;
        Some(self.backoff.next_backoff())
    }

    fn clone_request(&mut self, request: &Request<String>) -> Option<Request<String>> {
        Some(request.clone())
    }
}

fn tower_retry(primary: SimProvider, seed: u64) -> Result<SimClient, BoxError> {
    let mut maker = ExponentialBackoffMaker::new(
        Duration::from_millis(500),
        Duration::from_secs(8),
        0.99,
        SeededRng::new(seed ^ 0x70),
    )
    .map_err(|e| format!("{e}"))?;
    let policy = TowerPolicy {
        budget: Arc::new(TpsBudget::new(Duration::from_secs(10), 10, 0.2)),
        backoff: maker.make_backoff(),
        retries: 0,
        deposited: false,
    };
    Ok(boxed(tower::retry::Retry::new(policy, primary)))
}

/// What a tower-resilience stack sees: failures as errors (its retry and
/// breaker act on `Err`), a rejection of its open breaker as `Open`.
#[derive(Clone, Debug)]
enum SimError {
    Status(StatusCode),
    Transport,
    Open,
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for SimError {}

/// The simulated providers' only error is a transport error.
impl From<BoxError> for SimError {
    fn from(_: BoxError) -> Self {
        SimError::Transport
    }
}

/// A provider whose non-2xx answers and transport errors are `SimError`s.
fn as_errors(
    provider: SimProvider,
) -> impl Service<
    Request<String>,
    Response = Response<String>,
    Error = SimError,
    Future = impl Future<Output = Result<Response<String>, SimError>> + Send,
> + Clone
+ Send {
    provider.map_result(|result| match result {
        Ok(response) if response.status().is_success() => Ok(response),
        Ok(response) => Err(SimError::Status(response.status())),
        Err(_) => Err(SimError::Transport),
    })
}

/// tower-resilience as its docs recommend, with settings like this
/// crate's: fallback to the backup around a retry (3 attempts, 500 ms
/// doubling to 8 s with full jitter, an AIMD budget, not retrying a
/// non-retryable status or an open circuit) around a count-based breaker
/// (half of the last 20 calls failed, 3 half-open probes, 5 s open).
///
/// Its breaker measures the open wait with `std::time::Instant`, which
/// tokio's paused clock does not move: here its own wait is set beyond the
/// run and a virtual-time timer of 5 s closes it through its handle
/// (skipping its half-open probe, so its recovery is if anything quicker
/// than for real). Its backup gets no retry and no breaker of its own.
fn resilience(primary: SimProvider, backup: SimProvider, seed: u64) -> Result<SimClient, BoxError> {
    type Handle = tower_resilience::circuitbreaker::CircuitBreakerHandle<
        tower_resilience::circuitbreaker::DefaultClassifier,
    >;
    let handle: Arc<OnceLock<Handle>> = Arc::default();
    let hook = handle.clone();
    let (breaker, breaker_handle) = CircuitBreakerLayer::builder()
        .name("primary")
        .failure_rate_threshold(0.5)
        .sliding_window_size(20)
        .minimum_number_of_calls(20)
        .permitted_calls_in_half_open(3)
        .wait_duration_in_open(Duration::from_secs(24 * 3600))
        .on_state_transition(move |_, to| {
            if to == CircuitState::Open {
                if let Some(handle) = hook.get().cloned() {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        handle.force_closed().await;
                    });
                }
            }
        })
        .build_with_handle()
        .map_err(|e| format!("{e}"))?;
    let _ = handle.set(breaker_handle);
    let guarded = breaker.layer(as_errors(primary)).map_err(
        |error: CircuitBreakerError<SimError>| match error {
            CircuitBreakerError::Inner(error) => error,
            _ => SimError::Open,
        },
    );
    let rng = SeededRng::new(seed ^ 0x7e);
    let retry = RetryLayer::<Request<String>, Response<String>, SimError>::builder()
        .max_attempts(3)
        .backoff(FnInterval::new(move |retry: usize| {
            let ceiling =
                (Duration::from_millis(500) * (1u32 << retry.min(4))).min(Duration::from_secs(8));
            ceiling.mul_f64(rng.unit())
        }))
        .retry_on(|error: &SimError| match error {
            SimError::Status(status) => retryable(*status),
            SimError::Transport => true,
            SimError::Open => false,
        })
        .budget(
            RetryBudgetBuilder::new()
                .aimd()
                .build()
                .map_err(|e| format!("{e}"))?,
        )
        .build();
    let service = ResilienceFallback::<Request<String>, Response<String>, SimError>::tower_service(
        as_errors(backup),
    )
    .layer(retry.layer(guarded));
    Ok(boxed(
        service.map_err(|_| BoxError::from("failed after fallback")),
    ))
}

/// This crate's recommended stack, settings like the demo's scaled to
/// answers of about a second: 30 s for the whole call; per tier 3
/// attempts with 0.5–8 s full-jitter backoff, hints up to 10 s, the default
/// retry budget; a breaker opening when half of the last 20 calls failed
/// (open 2 s doubling to 30 s, 3 probes); 5 s per attempt; the LLM error
/// body read so that `insufficient_quota` is not retried. Primary tier
/// 12 s, backup tier 12 s.
fn stack(primary: SimProvider, backup: SimProvider) -> Result<SimClient, BoxError> {
    let tier = |name: &'static str, provider: SimProvider| -> Result<_, BoxError> {
        let breaker = BreakerConfig::builder()
            .name(name)
            .minimum_calls(20)
            .failure_rate_threshold(0.5)
            .open_backoff(
                OpenBackoff::exponential(Duration::from_secs(2), Duration::from_secs(30))
                    .jitter(0.0),
            )
            .half_open_permits(3)
            .build()?;
        let retry = RetryPolicy::builder()
            .max_attempts(3)
            .backoff(Backoff::exponential(
                Duration::from_millis(500),
                Duration::from_secs(8),
            ))
            .max_retry_after(Duration::from_secs(10))
            .build()?;
        Ok(ServiceBuilder::new()
            .retry_policy(retry)
            .circuit_breaker(breaker)
            .attempt_timeout(Duration::from_secs(5))
            .error_body()
            .service(provider))
    };
    let fallback = FallbackLayer::builder("primary")
        .primary_timeout(Duration::from_secs(12))
        .tier(Tier::new("backup", tier("backup", backup)?).timeout(Duration::from_secs(12)))
        .build()?;
    Ok(boxed(
        ServiceBuilder::new()
            .timeout_budget(Duration::from_secs(30))
            .fallback(fallback)
            .service(tier("primary", primary)?),
    ))
}
