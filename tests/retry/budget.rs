//! The retry budget bounds amplification when an upstream fails everything.

use std::time::Duration;

use tower::{Layer, ServiceExt};
use tower_failover::retry::{Backoff, RetryBudget, RetryLayer, RetryPolicy};

use crate::support::{Upstream, request, status};

#[tokio::test(start_paused = true)]
async fn the_budget_holds_retries_to_its_ratio_over_1000_requests() {
    let upstream = Upstream::new([status(503)]);
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 0.2).unwrap();
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .backoff(Backoff::none())
        .budget(budget)
        .build()
        .unwrap();
    let service = RetryLayer::new(policy).layer(upstream.clone());
    for _ in 0..1000 {
        let response = service.clone().oneshot(request()).await.unwrap();
        assert_eq!(response.status(), 503);
    }
    let retries = upstream.call_count() - 1000;
    // Without the budget: 4000 retries. With it: one per five requests.
    assert_eq!(retries, 200, "retries/requests must stay at 20%");
}

#[tokio::test(start_paused = true)]
async fn the_floor_allows_retries_with_no_traffic_history() {
    let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.0).unwrap();
    // 1 retry/s over 10 s: 10 retries in reserve.
    assert_eq!(budget.remaining(), 10);
    for _ in 0..10 {
        assert!(budget.withdraw());
    }
    assert!(!budget.withdraw());
}

#[tokio::test(start_paused = true)]
async fn deposits_expire_after_the_window() {
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap();
    for _ in 0..5 {
        budget.deposit();
    }
    assert_eq!(budget.remaining(), 5);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(budget.remaining(), 5, "still inside the window");
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(budget.remaining(), 0, "the window has passed");
    budget.deposit();
    assert_eq!(budget.remaining(), 1);
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_budget() {
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap();
    let clone = budget.clone();
    budget.deposit();
    assert!(clone.withdraw());
    assert!(!budget.withdraw());
}

#[test]
fn invalid_budgets_are_rejected() {
    assert_eq!(
        RetryBudget::new(Duration::ZERO, 10, 0.2)
            .unwrap_err()
            .field(),
        "budget.ttl"
    );
    assert_eq!(
        RetryBudget::new(Duration::from_secs(10), 10, -1.0)
            .unwrap_err()
            .field(),
        "budget.ratio"
    );
    assert_eq!(
        RetryBudget::new(Duration::from_secs(10), 10, f32::NAN)
            .unwrap_err()
            .field(),
        "budget.ratio"
    );
}

#[tokio::test(start_paused = true)]
async fn old_deposits_never_inflate_the_budget_after_a_quiet_period() {
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap();
    // Deposits without anyone reading the clock, then a minute of silence.
    for _ in 0..50 {
        budget.deposit();
    }
    tokio::time::advance(Duration::from_secs(60)).await;
    // They are all older than the window: none may be spent now.
    assert!(!budget.withdraw());
    assert_eq!(budget.remaining(), 0);
    // Fresh traffic counts at once.
    budget.deposit();
    assert!(budget.withdraw());
}

// The window's bookkeeping, each test found by cargo-mutants (a mutant of
// the slot index, the window's edge or the deposit clock that survived).

#[tokio::test(start_paused = true)]
async fn deposits_in_every_slot_of_the_window_all_count() {
    // A 10 s window in ten 1 s slots, ratio 1: one retry per request.
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap();
    for _ in 0..10 {
        budget.deposit();
        // Read the clock so that the next deposit lands in the next slot.
        let _ = budget.remaining();
        tokio::time::sleep(Duration::from_millis(900)).await;
    }
    assert_eq!(budget.remaining(), 10);
    // Past a hundred slots the index still wraps inside the window.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(budget.remaining(), 0);
    budget.deposit();
    assert_eq!(budget.remaining(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_deposit_expires_exactly_one_window_later() {
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap();
    let _ = budget.remaining();
    budget.deposit();
    tokio::time::sleep(Duration::from_millis(9_500)).await;
    assert_eq!(budget.remaining(), 1, "still inside the window");
    // The same slot, one window later, before anything is written to it.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(budget.remaining(), 0, "one window old: expired");
}

#[tokio::test(start_paused = true)]
async fn deposits_read_the_clock_without_any_withdrawal() {
    // Deposits alone (a long run of successes) must land in the current
    // slot, not in the one the last withdrawal saw: long after the budget
    // was made, fresh deposits are all there.
    let budget = RetryBudget::new(Duration::from_secs(10), 0, 1.0).unwrap();
    tokio::time::sleep(Duration::from_secs(15)).await;
    for _ in 0..10 {
        budget.deposit();
    }
    assert_eq!(budget.remaining(), 10);
}
