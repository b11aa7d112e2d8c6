//! Backoff bounds, for every jitter, over arbitrary inputs.

use std::time::Duration;

use proptest::prelude::*;
use tower_failover::retry::{Backoff, Jitter};

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated)
    ]
}

/// `min(cap, base × 2^(retry − 1))`, computed the slow way.
fn ceiling(base: Duration, cap: Duration, retry: u32) -> Duration {
    let mut delay = base;
    for _ in 1..retry {
        delay = delay.saturating_mul(2);
        if delay >= cap {
            return cap;
        }
    }
    delay.min(cap)
}

proptest! {
    #[test]
    fn exponential_delays_stay_inside_each_jitters_bounds(
        base_ms in 0u64..10_000,
        extra_ms in 0u64..100_000,
        retry in 0u32..200,
        previous_ms in 0u64..1_000_000,
        random in any::<u64>(),
        jitter in jitter(),
    ) {
        let base = Duration::from_millis(base_ms);
        let cap = base + Duration::from_millis(extra_ms);
        let previous = Duration::from_millis(previous_ms);
        let backoff = Backoff::exponential(base, cap).with_jitter(jitter);
        let delay = backoff.delay(retry, previous, random);
        let ceiling = ceiling(base, cap, retry.max(1));
        prop_assert!(delay <= cap);
        match jitter {
            Jitter::None => prop_assert_eq!(delay, ceiling),
            Jitter::Full => prop_assert!(delay <= ceiling),
            Jitter::Equal => {
                prop_assert!(delay <= ceiling);
                prop_assert!(delay >= ceiling / 2, "{delay:?} < half of {ceiling:?}");
            }
            Jitter::Decorrelated => {
                prop_assert!(delay >= base.min(cap));
                prop_assert!(delay <= previous.max(base).saturating_mul(3).min(cap).max(base));
            }
        }
    }

    #[test]
    fn absurd_inputs_saturate_instead_of_panicking(
        base in any::<u64>(),
        cap in any::<u64>(),
        retry in any::<u32>(),
        previous in any::<u64>(),
        random in any::<u64>(),
        jitter in jitter(),
    ) {
        let (base, cap) = (Duration::from_nanos(base.min(cap)), Duration::from_nanos(base.max(cap)));
        let backoff = Backoff::exponential(base, cap).with_jitter(jitter);
        let delay = backoff.delay(retry, Duration::from_secs(previous), random);
        prop_assert!(delay <= cap);
        let huge = Backoff::exponential(Duration::MAX, Duration::MAX).with_jitter(jitter);
        let _ = huge.delay(retry, Duration::MAX, random);
    }

    #[test]
    fn constant_backoff_never_grows(delay_ms in 0u64..100_000, retry in 0u32..1000, random in any::<u64>()) {
        let delay = Duration::from_millis(delay_ms);
        let exact = Backoff::constant(delay).with_jitter(Jitter::None);
        prop_assert_eq!(exact.delay(retry, Duration::ZERO, random), delay);
        let full = Backoff::constant(delay);
        prop_assert!(full.delay(retry, Duration::ZERO, random) <= delay);
    }
}

#[test]
fn equal_jitter_spreads_over_the_upper_half() {
    // Half of the ceiling is fixed, the other half random: the smallest
    // random input gives exactly half (found by cargo-mutants: `/` as `%`
    // kept every delay at the ceiling and passed the bounds property).
    let backoff = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60))
        .with_jitter(Jitter::Equal);
    assert_eq!(backoff.delay(3, Duration::ZERO, 0), Duration::from_secs(2));
    assert_eq!(
        backoff.delay(3, Duration::ZERO, u64::MAX),
        Duration::from_secs(4)
    );
}

#[test]
fn full_jitter_spreads_over_the_whole_range() {
    // The extremes of the random input reach the extremes of the range.
    let backoff = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60));
    assert_eq!(backoff.delay(3, Duration::ZERO, 0), Duration::ZERO);
    assert_eq!(
        backoff.delay(3, Duration::ZERO, u64::MAX),
        Duration::from_secs(4)
    );
    let middle = backoff.delay(3, Duration::ZERO, u64::MAX / 2);
    assert!(middle > Duration::from_millis(1900) && middle < Duration::from_millis(2100));
}

#[test]
fn decorrelated_jitter_grows_from_the_previous_delay() {
    let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10))
        .with_jitter(Jitter::Decorrelated);
    assert_eq!(
        backoff.delay(1, Duration::ZERO, 0),
        Duration::from_millis(100)
    );
    assert_eq!(
        backoff.delay(1, Duration::ZERO, u64::MAX),
        Duration::from_millis(300)
    );
    assert_eq!(
        backoff.delay(5, Duration::from_secs(2), u64::MAX),
        Duration::from_secs(6)
    );
    assert_eq!(
        backoff.delay(5, Duration::from_secs(5), u64::MAX),
        Duration::from_secs(10)
    );
}
