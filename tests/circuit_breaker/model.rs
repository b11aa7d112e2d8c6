//! The breaker against a simple reference model: random sequences of calls,
//! outcomes, drops and time steps.

use std::collections::VecDeque;
use std::task::Poll;
use std::time::Duration;

use http::Response;
use proptest::prelude::*;
use tokio::sync::oneshot;
use tower::Service;
use tower_failover::circuit_breaker::{BreakerConfig, CircuitBreaker, OpenBackoff, State, Window};

use crate::support::poll_once;

#[derive(Clone, Copy, Debug)]
enum Answer {
    Success,
    Failure,
    CallerFault,
}

impl Answer {
    fn status(self) -> u16 {
        match self {
            Self::Success => 200,
            Self::Failure => 503,
            Self::CallerFault => 400,
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Start a call and keep it in flight.
    Start,
    /// Answer the in-flight call at this index (modulo their number).
    Answer(usize, Answer),
    /// Drop the in-flight call at this index.
    Drop(usize),
    /// Let time pass.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let answer = prop_oneof![
        3 => Just(Answer::Success),
        3 => Just(Answer::Failure),
        1 => Just(Answer::CallerFault),
    ];
    prop_oneof![
        4 => Just(Op::Start),
        4 => (any::<usize>(), answer).prop_map(|(i, a)| Op::Answer(i, a)),
        1 => any::<usize>().prop_map(Op::Drop),
        2 => (1u64..4_000).prop_map(Op::Advance),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Settings {
    window: usize,
    minimum: usize,
    threshold: f64,
    consecutive: Option<u32>,
    permits: u32,
    max_half_open_ms: u64,
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        1usize..8,
        0.1f64..=1.0,
        proptest::option::of(1u32..5),
        1u32..4,
        1_000u64..20_000,
    )
        .prop_flat_map(
            |(window, threshold, consecutive, permits, max_half_open_ms)| {
                (1..=window).prop_map(move |minimum| Settings {
                    window,
                    minimum,
                    threshold,
                    consecutive,
                    permits,
                    max_half_open_ms,
                })
            },
        )
}

const BASE_MS: u64 = 1_000;
const MAX_MS: u64 = 8_000;

/// The reference: the rules of the module docs, written plainly.
#[derive(Debug)]
enum ModelState {
    Closed,
    Open {
        until: u64,
    },
    HalfOpen {
        deadline: u64,
        issued: u32,
        succeeded: u32,
        failed: u32,
    },
}

#[derive(Debug)]
struct Model {
    s: Settings,
    state: ModelState,
    generation: u64,
    window: VecDeque<bool>,
    consecutive: u32,
    opens: u32,
    late: u64,
}

impl Model {
    fn backoff(&self) -> u64 {
        OpenBackoff::exponential(
            Duration::from_millis(BASE_MS),
            Duration::from_millis(MAX_MS),
        )
        .jitter(0.0)
        .duration(self.opens + 1)
        .as_millis() as u64
    }

    fn open(&mut self, now: u64) {
        self.state = ModelState::Open {
            until: now + self.backoff(),
        };
        self.opens += 1;
        self.generation += 1;
    }

    /// `Some((generation, probe))` if admitted.
    fn start(&mut self, now: u64) -> Option<(u64, bool)> {
        match self.state {
            ModelState::Closed => Some((self.generation, false)),
            ModelState::Open { until } if now < until => None,
            ModelState::Open { .. } => {
                self.generation += 1;
                self.state = ModelState::HalfOpen {
                    deadline: now + self.s.max_half_open_ms,
                    issued: 1,
                    succeeded: 0,
                    failed: 0,
                };
                Some((self.generation, true))
            }
            // Past the cap with a probe still out: it hangs, open again.
            ModelState::HalfOpen {
                deadline,
                issued,
                succeeded,
                failed,
            } if now >= deadline && issued > succeeded + failed => {
                self.open(now);
                None
            }
            // Past the cap with no probe out (and so a permit free, or the
            // breaker would have decided): only idle, the call probes under
            // a fresh cap.
            ModelState::HalfOpen {
                ref mut deadline,
                ref mut issued,
                ..
            } => {
                if now >= *deadline {
                    *deadline = now + self.s.max_half_open_ms;
                }
                if *issued < self.s.permits {
                    *issued += 1;
                    Some((self.generation, true))
                } else {
                    None
                }
            }
        }
    }

    fn finish(&mut self, now: u64, (generation, probe): (u64, bool), answer: Option<Answer>) {
        let current = generation == self.generation;
        let counted = matches!(answer, Some(Answer::Success | Answer::Failure));
        let failed = matches!(answer, Some(Answer::Failure));
        if !probe {
            if !counted {
                return;
            }
            if !(current && matches!(self.state, ModelState::Closed)) {
                self.late += 1;
                return;
            }
            self.window.push_back(failed);
            if self.window.len() > self.s.window {
                self.window.pop_front();
            }
            if failed {
                self.consecutive += 1;
            } else {
                self.consecutive = 0;
                return;
            }
            let failures = self.window.iter().filter(|f| **f).count();
            let calls = self.window.len();
            let by_count = self.s.consecutive.is_some_and(|n| self.consecutive >= n);
            let by_rate =
                calls >= self.s.minimum && failures as f64 / calls as f64 >= self.s.threshold;
            if by_count || by_rate {
                self.open(now);
            }
            return;
        }
        let ModelState::HalfOpen {
            ref mut issued,
            ref mut succeeded,
            ref mut failed,
            ..
        } = self.state
        else {
            if counted {
                self.late += 1;
            }
            return;
        };
        if !current {
            if counted {
                self.late += 1;
            }
            return;
        }
        if !counted {
            *issued -= 1;
            return;
        }
        if matches!(answer, Some(Answer::Failure)) {
            *failed += 1;
        } else {
            *succeeded += 1;
        }
        if *succeeded + *failed == self.s.permits {
            let rate = f64::from(*failed) / f64::from(self.s.permits);
            if rate >= self.s.threshold {
                self.open(now);
            } else {
                self.state = ModelState::Closed;
                self.generation += 1;
                self.window.clear();
                self.consecutive = 0;
                self.opens = 0;
            }
        }
    }

    fn public_state(&self) -> State {
        match self.state {
            ModelState::Closed => State::Closed,
            ModelState::Open { .. } => State::Open,
            ModelState::HalfOpen { .. } => State::HalfOpen,
        }
    }
}

type Call = (
    std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<
                        Response<()>,
                        tower_failover::circuit_breaker::BreakerError<std::io::Error>,
                    >,
                >,
        >,
    >,
    Option<oneshot::Sender<u16>>,
    (u64, bool),
);

fn run(s: Settings, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async move {
        let mut builder = BreakerConfig::builder()
            .window(Window::count(s.window as u32))
            .minimum_calls(s.minimum as u32)
            .failure_rate_threshold(s.threshold)
            .open_backoff(
                OpenBackoff::exponential(
                    Duration::from_millis(BASE_MS),
                    Duration::from_millis(MAX_MS),
                )
                .jitter(0.0),
            )
            .half_open_permits(s.permits)
            .max_half_open_duration(Duration::from_millis(s.max_half_open_ms));
        if let Some(n) = s.consecutive {
            builder = builder.consecutive_failures(n);
        }
        // The request is the channel the test answers the call through.
        let upstream = tower::service_fn(|answer: oneshot::Receiver<u16>| async move {
            let status = answer.await.unwrap_or(200);
            Ok::<_, std::io::Error>(Response::builder().status(status).body(()).unwrap())
        });
        let mut service = CircuitBreaker::new(upstream, builder.build().unwrap());
        let handle = service.handle();
        let mut model = Model {
            s,
            state: ModelState::Closed,
            generation: 0,
            window: VecDeque::new(),
            consecutive: 0,
            opens: 0,
            late: 0,
        };
        let mut now = 0u64;
        let mut in_flight: Vec<Call> = Vec::new();
        for op in ops {
            match op {
                Op::Start => {
                    let (tx, rx) = oneshot::channel();
                    let mut future: Call = (Box::pin(service.call(rx)), Some(tx), (0, false));
                    let expected = model.start(now);
                    match poll_once(&mut future.0) {
                        Poll::Ready(Err(error)) => {
                            prop_assert!(error.is_open(), "unexpected error {error:?}");
                            prop_assert!(expected.is_none(), "rejected, model admitted: {model:?}");
                            if let ModelState::Open { until } = model.state {
                                let after = error.as_open().unwrap().retry_after();
                                prop_assert_eq!(after, Some(Duration::from_millis(until - now)));
                            }
                        }
                        Poll::Pending => {
                            prop_assert!(expected.is_some(), "admitted, model rejected: {model:?}");
                            future.2 = expected.unwrap();
                            in_flight.push(future);
                        }
                        Poll::Ready(Ok(_)) => prop_assert!(false, "answered before the test did"),
                    }
                }
                Op::Answer(i, answer) if !in_flight.is_empty() => {
                    let mut call = in_flight.remove(i % in_flight.len());
                    call.1.take().unwrap().send(answer.status()).unwrap();
                    let Poll::Ready(result) = poll_once(&mut call.0) else {
                        return Err(TestCaseError::fail("an answered call is ready"));
                    };
                    prop_assert_eq!(result.unwrap().status().as_u16(), answer.status());
                    model.finish(now, call.2, Some(answer));
                }
                Op::Drop(i) if !in_flight.is_empty() => {
                    let call = in_flight.remove(i % in_flight.len());
                    let ticket = call.2;
                    drop(call);
                    model.finish(now, ticket, None);
                }
                Op::Advance(ms) => {
                    tokio::time::advance(Duration::from_millis(ms)).await;
                    now += ms;
                }
                _ => {}
            }
            let metrics = handle.metrics();
            prop_assert_eq!(metrics.state, model.public_state(), "model: {:?}", model);
            prop_assert_eq!(metrics.late_results, model.late);
            if metrics.state == State::Closed {
                prop_assert_eq!(metrics.calls as usize, model.window.len());
                prop_assert_eq!(
                    metrics.failures as usize,
                    model.window.iter().filter(|f| **f).count()
                );
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn breaker_matches_the_reference_model(s in settings(), ops in proptest::collection::vec(op(), 1..120)) {
        run(s, ops)?;
    }
}
