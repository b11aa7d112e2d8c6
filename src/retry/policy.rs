use std::time::Duration;

use super::{Attempt, Backoff, RetryBudget};
use crate::InvalidConfig;
use crate::classify::{DefaultClassifier, Failure};
use crate::deadline::Deadline;

/// The most attempts a policy may allow. Retrying more than this is a storm,
/// not resilience.
pub const MAX_ATTEMPTS_LIMIT: u32 = 100;

/// What to retry, how often, and how long to wait: the settings of a
/// [`RetryLayer`](super::RetryLayer).
///
/// Build one with [`RetryPolicy::builder`]; the builder validates every
/// setting. The [`Default`] matches the official LLM SDKs: 3 attempts in all,
/// exponential backoff from 0.5 s capped at 8 s with full jitter, server
/// hints honoured up to 60 s, and a default [`RetryBudget`] (10 s window,
/// 10 retries/s floor, 20 %).
///
/// Cloning a policy shares its budget: give two layers clones of one policy
/// and their retries draw on one budget.
///
/// ```
/// use std::time::Duration;
/// use tower_failover::retry::{Backoff, Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::builder()
///     .max_attempts(4)
///     .backoff(Backoff::exponential(Duration::from_millis(200), Duration::from_secs(5))
///         .with_jitter(Jitter::Equal))
///     .max_retry_after(Duration::from_secs(20))
///     .build()
///     .expect("valid policy");
/// assert_eq!(policy.max_attempts(), 4);
///
/// let error = RetryPolicy::builder().max_attempts(0).build().unwrap_err();
/// assert_eq!(error.field(), "max_attempts");
/// ```
#[derive(Clone, Debug)]
pub struct RetryPolicy<C = DefaultClassifier> {
    max_attempts: u32,
    backoff: Backoff,
    max_retry_after: Duration,
    budget: Option<RetryBudget>,
    classifier: C,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Backoff::default(),
            max_retry_after: Duration::from_secs(60),
            budget: Some(RetryBudget::default()),
            classifier: DefaultClassifier,
        }
    }
}

impl RetryPolicy {
    /// A builder starting from the [defaults](RetryPolicy#impl-Default-for-RetryPolicy).
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            policy: RetryPolicy::default(),
        }
    }
}

impl<C> RetryPolicy<C> {
    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff between attempts.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// The longest server hint honoured; a longer one ends the retries.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The retry budget, if any.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.budget.as_ref()
    }

    /// The classifier.
    pub fn classifier(&self) -> &C {
        &self.classifier
    }

    /// Decides what follows a failed `attempt`: stop (returning the failure
    /// to the caller), or retry after a delay. Emits one event either way.
    pub(crate) fn decide(
        &self,
        failure: &Failure,
        attempt: Attempt,
        replayable: bool,
        previous: Duration,
    ) -> Verdict {
        let kind = failure.kind();
        let give_up = |reason: GiveUp| {
            #[cfg(feature = "metrics")]
            reason.record();
            tracing::debug!(
                layer = "retry",
                attempt = attempt.number(),
                outcome = "give_up",
                kind = kind.as_str(),
                reason = reason.as_str(),
                retry_after_ms = failure.retry_after().map(|d| d.as_millis() as u64),
            );
            Verdict::Stop
        };
        if !failure.is_retryable() {
            return give_up(GiveUp::NotRetryable);
        }
        if attempt.number() >= self.max_attempts {
            return give_up(GiveUp::MaxAttempts);
        }
        if !replayable {
            return give_up(GiveUp::NotReplayable);
        }
        let delay = match failure.retry_after() {
            Some(hint) if hint > self.max_retry_after => return give_up(GiveUp::HintAboveCap),
            Some(hint) => hint,
            None => self
                .backoff
                .delay(attempt.number(), previous, crate::rng::next_u64()),
        };
        if let Some(deadline) = Deadline::current() {
            if delay >= deadline.remaining() {
                return give_up(GiveUp::Deadline);
            }
        }
        if let Some(budget) = &self.budget {
            if !budget.withdraw() {
                return give_up(GiveUp::BudgetExhausted);
            }
        }
        #[cfg(feature = "metrics")]
        crate::metrics::retried(kind);
        tracing::debug!(
            layer = "retry",
            attempt = attempt.number(),
            outcome = "retry",
            kind = kind.as_str(),
            delay_ms = delay.as_millis() as u64,
            retry_after_ms = failure.retry_after().map(|d| d.as_millis() as u64),
        );
        Verdict::RetryAfter(delay)
    }

    #[inline]
    pub(crate) fn record_request(&self) {
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
    }
}

/// Why a retry layer returned a failure without retrying it: the `reason`
/// of its event and of `tower_failover_retries_given_up_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// The classifier says the failure is not worth retrying.
    NotRetryable,
    /// The attempt was the last one allowed.
    MaxAttempts,
    /// The request could not be copied for another attempt.
    NotReplayable,
    /// The server asked for a wait above `max_retry_after`.
    HintAboveCap,
    /// The wait would end past the deadline.
    Deadline,
    /// The retry budget is spent.
    BudgetExhausted,
}

impl GiveUp {
    /// Every reason, in declaration order (`reason as usize` indexes it).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    const ALL: [Self; 6] = [
        Self::NotRetryable,
        Self::MaxAttempts,
        Self::NotReplayable,
        Self::HintAboveCap,
        Self::Deadline,
        Self::BudgetExhausted,
    ];

    /// The reason's label value.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::NotRetryable => "not_retryable",
            Self::MaxAttempts => "max_attempts",
            Self::NotReplayable => "not_replayable",
            Self::HintAboveCap => "hint_above_cap",
            Self::Deadline => "deadline",
            Self::BudgetExhausted => "budget_exhausted",
        }
    }

    /// Counts `tower_failover_retries_given_up_total{reason}` (a static
    /// key per reason: no lookup, nothing dropped).
    #[cfg(feature = "metrics")]
    fn record(self) {
        use crate::metrics::RETRIES_GIVEN_UP;
        use ::metrics::{Key, Label};
        const fn label(i: usize) -> [Label; 1] {
            [Label::from_static_parts("reason", GiveUp::ALL[i].as_str())]
        }
        static LABELS: [[Label; 1]; 6] =
            [label(0), label(1), label(2), label(3), label(4), label(5)];
        static KEYS: [Key; 6] = [
            Key::from_static_parts(RETRIES_GIVEN_UP, &LABELS[0]),
            Key::from_static_parts(RETRIES_GIVEN_UP, &LABELS[1]),
            Key::from_static_parts(RETRIES_GIVEN_UP, &LABELS[2]),
            Key::from_static_parts(RETRIES_GIVEN_UP, &LABELS[3]),
            Key::from_static_parts(RETRIES_GIVEN_UP, &LABELS[4]),
            Key::from_static_parts(RETRIES_GIVEN_UP, &LABELS[5]),
        ];
        crate::metrics::increment(&KEYS[self as usize]);
    }
}

/// What [`RetryPolicy::decide`] concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Stop,
    RetryAfter(Duration),
}

/// Builds a validated [`RetryPolicy`]; see there for an example.
#[derive(Clone, Debug)]
#[must_use = "call `build` to get a policy"]
pub struct RetryPolicyBuilder<C = DefaultClassifier> {
    policy: RetryPolicy<C>,
}

impl<C> RetryPolicyBuilder<C> {
    /// Attempts in all, the first included: 1 means never retry. A hard cap:
    /// no hint or classifier adds attempts. From 1 to
    /// [`MAX_ATTEMPTS_LIMIT`]; default 3.
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.policy.max_attempts = max_attempts;
        self
    }

    /// The delay before each retry when the server gave no hint; default
    /// [`Backoff::default`].
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.policy.backoff = backoff;
        self
    }

    /// The longest server hint (`retry-after` and friends) honoured; default
    /// 60 s. A failure whose hint asks for longer is not retried at all: it
    /// is returned at once so that a fallback can move on.
    pub fn max_retry_after(mut self, max_retry_after: Duration) -> Self {
        self.policy.max_retry_after = max_retry_after;
        self
    }

    /// The retry budget; share one across policies by cloning it.
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.policy.budget = Some(budget);
        self
    }

    /// No retry budget: only `max_attempts` bounds the retries.
    pub fn no_budget(mut self) -> Self {
        self.policy.budget = None;
        self
    }

    /// The classifier that decides what is a retryable failure; default
    /// [`DefaultClassifier`].
    pub fn classifier<C2>(self, classifier: C2) -> RetryPolicyBuilder<C2> {
        let RetryPolicy {
            max_attempts,
            backoff,
            max_retry_after,
            budget,
            classifier: _,
        } = self.policy;
        RetryPolicyBuilder {
            policy: RetryPolicy {
                max_attempts,
                backoff,
                max_retry_after,
                budget,
                classifier,
            },
        }
    }

    /// Validates the settings.
    ///
    /// # Errors
    ///
    /// [`InvalidConfig`] naming the setting at fault: `max_attempts`
    /// outside 1 to [`MAX_ATTEMPTS_LIMIT`], or a backoff whose cap is below
    /// its base.
    pub fn build(self) -> Result<RetryPolicy<C>, InvalidConfig> {
        let policy = self.policy;
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&policy.max_attempts) {
            return Err(InvalidConfig::new(
                "retry",
                "max_attempts",
                "must be between 1 and 100",
            ));
        }
        policy.backoff.validate()?;
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::GiveUp;

    #[test]
    fn give_up_all_follows_the_declaration_order() {
        for (i, reason) in GiveUp::ALL.into_iter().enumerate() {
            assert_eq!(reason as usize, i, "{}", reason.as_str());
        }
    }
}
