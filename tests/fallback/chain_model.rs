//! A model of which tier answers, checked against random scripts: statuses
//! and transport errors, with and without a static response.

use proptest::prelude::*;
use tower::{Layer, ServiceExt};
use tower_failover::classify::{FailureKind, classify_status};
use tower_failover::fallback::{FallbackLayer, ServedBy, Tier};

use crate::support::{Step, TrackedBody, Upstream, io_error, request, status};
use crate::{Req, Res};

/// One tier's answer: a status, or a connection reset (0).
const ANSWERS: [u16; 11] = [200, 201, 400, 401, 402, 404, 413, 429, 503, 529, 0];

fn step(answer: u16) -> Step {
    match answer {
        0 => io_error(std::io::ErrorKind::ConnectionReset),
        status_code => status(status_code),
    }
}

/// What the caller should get.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// A response with this status from this tier.
    Response { tier: usize, status: u16 },
    /// The static response.
    Static,
    /// A transport error.
    Error,
}

/// The layer's rules, written out: (the answer, how many tiers were called).
fn model(answers: &[u16], with_static: bool) -> (Answer, usize) {
    // The most telling failure: a response beats an error, otherwise the
    // later one wins.
    let mut kept: Option<(usize, u16)> = None;
    for (index, &answer) in answers.iter().enumerate() {
        let tier = index + 1;
        let kind = match answer {
            0 => FailureKind::Transient,
            code => match classify_status(http::StatusCode::from_u16(code).unwrap()) {
                None => return (Answer::Response { tier, status: code }, tier),
                Some(kind) => kind,
            },
        };
        if kind == FailureKind::Invalid {
            return (
                Answer::Response {
                    tier,
                    status: answer,
                },
                tier,
            );
        }
        if answer != 0 || kept.is_none_or(|(_, status)| status == 0) {
            kept = Some((tier, answer));
        }
        // No tier has a guard: nothing accepts a request that is too long.
        if kind == FailureKind::ContextTooLong {
            return (finish(kept, with_static), tier);
        }
    }
    (finish(kept, with_static), answers.len())
}

fn finish(kept: Option<(usize, u16)>, with_static: bool) -> Answer {
    match kept {
        _ if with_static => Answer::Static,
        Some((tier, status)) if status != 0 => Answer::Response { tier, status },
        _ => Answer::Error,
    }
}

proptest! {
    #[test]
    fn the_answer_matches_the_model(
        answers in proptest::collection::vec(proptest::sample::select(ANSWERS.to_vec()), 1..6),
        with_static in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let upstreams: Vec<_> = answers.iter().map(|&a| Upstream::new([step(a)])).collect();
        let mut builder = upstreams[1..].iter().enumerate().fold(
            FallbackLayer::<Upstream, Req, Res>::builder("t1"),
            |builder, (i, upstream)| builder.tier(Tier::new(format!("t{}", i + 2), upstream.clone())),
        );
        if with_static {
            builder = builder.static_response(|_| {
                let mut response = Res::new(TrackedBody::counted(Default::default()));
                *response.status_mut() = http::StatusCode::NON_AUTHORITATIVE_INFORMATION;
                response
            });
        }
        let service = builder.build().unwrap().layer(upstreams[0].clone());
        let result = runtime.block_on(service.oneshot(request()));
        let (expected, called) = model(&answers, with_static);

        let answer = match &result {
            Ok(response) => {
                let served = response.extensions().get::<ServedBy>().unwrap();
                prop_assert_eq!(served.attempts() as usize, called);
                if served.name() == "static" {
                    prop_assert_eq!(response.status(), 203);
                    Answer::Static
                } else {
                    prop_assert_eq!(served.name(), format!("t{}", served.tier()));
                    Answer::Response { tier: served.tier(), status: response.status().as_u16() }
                }
            }
            Err(error) => {
                prop_assert!(error.downcast_ref::<std::io::Error>().is_some(), "{}", error);
                Answer::Error
            }
        };
        prop_assert_eq!(answer, expected);
        let calls: Vec<_> = upstreams.iter().map(Upstream::call_count).collect();
        let expected_calls: Vec<_> = (0..answers.len()).map(|i| usize::from(i < called)).collect();
        prop_assert_eq!(calls, expected_calls);
        drop(result);
        let live: usize = upstreams.iter().map(Upstream::live_responses).sum();
        prop_assert_eq!(live, 0, "nothing is left alive once the answer is dropped");
    }
}
