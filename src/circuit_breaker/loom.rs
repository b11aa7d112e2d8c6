//! Model-checked with loom: half-open permit and window accounting under
//! concurrent callers.
//!
//! `RUSTFLAGS="--cfg loom" cargo test --release --lib circuit_breaker::loom`

use std::sync::atomic::AtomicUsize as StdAtomicUsize;

use loom::sync::atomic::AtomicUsize;
use loom::thread;

use super::config::{BreakerConfig, OpenBackoff, Window};
use super::handle::State;
use super::state::{Sample, Shared};
use super::sync::{Arc, Ordering};

fn config(permits: u32) -> BreakerConfig {
    BreakerConfig::builder()
        .window(Window::count(2))
        .minimum_calls(2)
        .failure_rate_threshold(1.0)
        .half_open_permits(permits)
        .open_backoff(OpenBackoff::constant(std::time::Duration::from_secs(60)))
        .unbounded_half_open()
        .build()
        .unwrap()
}

const SUCCESS: Sample = Sample::Counted {
    failed: false,
    slow: false,
    retry_after: None,
    trips: false,
};

const FAILURE: Sample = Sample::Counted {
    failed: true,
    slow: false,
    retry_after: None,
    trips: false,
};

/// Two callers race for one probe permit; one of them drops its call. The
/// permit is never held twice, and a dropped probe never strands the
/// breaker: it ends closed, or half-open with the permit free.
#[test]
fn one_permit_two_callers_with_a_drop() {
    loom::model(|| {
        let shared = Arc::new(Shared::new(config(1)));
        shared.set_for_test(true);
        let held = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = [SUCCESS, Sample::Ignored]
            .into_iter()
            .map(|sample| {
                let shared = shared.clone();
                let held = held.clone();
                thread::spawn(move || {
                    if let Ok(ticket) = shared.acquire() {
                        // (After the other caller's probe closed the
                        // breaker, a call is admitted as a closed call.)
                        if ticket.is_probe() {
                            let before = held.fetch_add(1, Ordering::SeqCst);
                            assert_eq!(before, 0, "permit held twice");
                            held.fetch_sub(1, Ordering::SeqCst);
                        }
                        shared.complete(ticket, sample);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        match shared.state() {
            State::Closed => {}
            State::HalfOpen => assert_eq!(shared.probes_issued(), 0, "a permit was stranded"),
            other => panic!("unexpected state {other:?}"),
        }
    });
}

/// Two probes with two permits, one success and one failure at a 100%
/// threshold: both are admitted and exactly one of them closes the breaker.
#[test]
fn the_last_probe_decides_exactly_once() {
    loom::model(|| {
        let transitions = std::sync::Arc::new(StdAtomicUsize::new(0));
        let seen = transitions.clone();
        let config = BreakerConfig::builder()
            .window(Window::count(2))
            .minimum_calls(2)
            .failure_rate_threshold(1.0)
            .half_open_permits(2)
            .unbounded_half_open()
            .on_transition(move |_| {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .build()
            .unwrap();
        let shared = Arc::new(Shared::new(config));
        shared.set_for_test(true);
        let threads: Vec<_> = [SUCCESS, FAILURE]
            .into_iter()
            .map(|sample| {
                let shared = shared.clone();
                thread::spawn(move || {
                    let ticket = shared.acquire().expect("two permits for two callers");
                    shared.complete(ticket, sample);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(shared.state(), State::Closed);
        assert_eq!(transitions.load(std::sync::atomic::Ordering::SeqCst), 1);
    });
}

/// Two callers find the open period over: exactly one moves the breaker to
/// half-open and probes; with one permit the other is rejected.
#[test]
fn exactly_one_caller_moves_to_half_open() {
    loom::model(|| {
        let shared = Arc::new(Shared::new(config(1)));
        shared.set_for_test(false);
        let admitted = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let shared = shared.clone();
                let admitted = admitted.clone();
                thread::spawn(move || {
                    if let Ok(ticket) = shared.acquire() {
                        assert!(ticket.is_probe());
                        admitted.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(admitted.load(Ordering::SeqCst), 1);
        assert_eq!(shared.state(), State::HalfOpen);
        assert_eq!(shared.probes_issued(), 1);
    });
}

/// Concurrent recordings into a count window: once they are done, the
/// totals equal the sum of the slots.
#[test]
fn window_totals_match_its_slots() {
    loom::model(|| {
        let shared = Arc::new(Shared::new(config(1)));
        let threads: Vec<_> = [[SUCCESS, FAILURE], [FAILURE, FAILURE]]
            .into_iter()
            .map(|samples| {
                let shared = shared.clone();
                thread::spawn(move || {
                    for sample in samples {
                        if let Ok(ticket) = shared.acquire() {
                            shared.complete(ticket, sample);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let (totals, slots) = shared.window_consistency().unwrap();
        assert_eq!(totals, slots);
    });
}
