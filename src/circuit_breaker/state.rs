//! The breaker itself: a state machine in one atomic word, lock-free.
//!
//! # The state word
//!
//! ```text
//!  63                         19 18           3 2   0
//! +-----------------------------+--------------+-----+
//! | time (ms since the epoch)   | generation   | tag |
//! +-----------------------------+--------------+-----+
//! ```
//!
//! `tag` is the state; `generation` grows by one on every transition, so a
//! compare-and-swap from the word a caller saw succeeds for exactly one
//! caller, and a result tagged with an old generation is late; `time` is
//! the end of the open period when open, the half-open deadline when
//! half-open. Everything admission needs is one load.
//!
//! # The probe word (half-open)
//!
//! ```text
//! | generation:16 | slow:12 | failed:12 | succeeded:12 | issued:12 |
//! ```
//!
//! Written first by the caller that moved the breaker to half-open, tagged
//! with the half-open state's generation; a probe only ever touches the
//! word of its own generation.

use std::time::Duration;

use tokio::time::Instant;

use super::config::BreakerConfig;
use super::error::CircuitOpen;
use super::handle::{Metrics, State, Transition, TransitionReason};
use super::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use super::window::Window;

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const FORCED_OPEN: u64 = 3;
const FORCED_CLOSED: u64 = 4;

const TAG_MASK: u64 = 0b111;
const GEN_SHIFT: u32 = 3;
const GEN_MASK: u64 = 0xffff;
const TIME_SHIFT: u32 = 19;
/// The largest time the word can hold (about 1,100 years in ms); also
/// "no deadline".
const TIME_MAX: u64 = (1 << (64 - TIME_SHIFT)) - 1;

#[inline]
const fn tag(word: u64) -> u64 {
    word & TAG_MASK
}

#[inline]
const fn generation(word: u64) -> u64 {
    (word >> GEN_SHIFT) & GEN_MASK
}

#[inline]
const fn time(word: u64) -> u64 {
    word >> TIME_SHIFT
}

#[inline]
const fn pack(tag: u64, generation: u64, time: u64) -> u64 {
    let time = if time > TIME_MAX { TIME_MAX } else { time };
    tag | ((generation & GEN_MASK) << GEN_SHIFT) | (time << TIME_SHIFT)
}

const PROBE_BITS: u32 = 12;
const PROBE_MASK: u64 = (1 << PROBE_BITS) - 1;
const ISSUED: u32 = 0;
const SUCCEEDED: u32 = PROBE_BITS;
const FAILED: u32 = 2 * PROBE_BITS;
const SLOW: u32 = 3 * PROBE_BITS;
const PROBE_GEN: u32 = 4 * PROBE_BITS;

#[inline]
const fn probe_field(word: u64, shift: u32) -> u64 {
    (word >> shift) & PROBE_MASK
}

/// Whether generation `a` comes after `b` (16-bit serial-number arithmetic).
#[inline]
const fn is_after(a: u64, b: u64) -> bool {
    let diff = a.wrapping_sub(b) & GEN_MASK;
    diff != 0 && diff < 0x8000
}

fn state_of(tag: u64) -> State {
    match tag {
        CLOSED => State::Closed,
        OPEN => State::Open,
        HALF_OPEN => State::HalfOpen,
        FORCED_OPEN => State::ForcedOpen,
        _ => State::ForcedClosed,
    }
}

/// Milliseconds in `d`, rounded up.
fn ceil_ms(d: Duration) -> u64 {
    let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

fn floor_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The admission a call was granted: which generation it belongs to, and
/// whether it is a half-open probe.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ticket {
    generation: u64,
    probe: bool,
}

impl Ticket {
    pub(super) fn is_probe(self) -> bool {
        self.probe
    }
}

/// What one finished call means for the breaker.
#[derive(Clone, Copy, Debug)]
pub(super) enum Sample {
    /// Dropped, or an outcome that does not count (a caller fault).
    Ignored,
    /// A call that counts.
    Counted {
        failed: bool,
        slow: bool,
        retry_after: Option<Duration>,
        /// A failure that opens a closed breaker at once: a used-up quota.
        trips: bool,
    },
}

/// Keeps a value on a cache line of its own, so that writes to its
/// neighbours (reference counts, window counters) do not evict it from
/// other cores' caches.
#[repr(align(128))]
#[derive(Debug)]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One breaker's shared state.
pub(super) struct Shared {
    /// Read by every call, written only on transitions: alone on its line.
    state: Padded<AtomicU64>,
    probes: AtomicU64,
    consecutive_failures: AtomicU32,
    consecutive_opens: AtomicU32,
    /// The end of the latest server hint, in ms since `epoch`.
    hint_until: AtomicU64,
    late_results: AtomicU64,
    #[cfg(feature = "metrics")]
    metrics: crate::metrics::BreakerMetrics,
    /// Set on use by the keyed form (second-chance eviction).
    pub(super) referenced: AtomicBool,
    window: Window,
    epoch: Instant,
    config: BreakerConfig,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.config.name())
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(super) fn new(config: BreakerConfig) -> Self {
        Self::named(config, true)
    }

    /// A breaker whose name is `fresh` (no other live breaker of its keyed
    /// layer reports under it): only then does it set the shared state
    /// gauge to closed (the `metrics` feature).
    pub(super) fn named(config: BreakerConfig, fresh: bool) -> Self {
        #[cfg(not(feature = "metrics"))]
        let _ = fresh;
        Self {
            state: Padded(AtomicU64::new(pack(CLOSED, 0, 0))),
            probes: AtomicU64::new(0),
            consecutive_failures: AtomicU32::new(0),
            consecutive_opens: AtomicU32::new(0),
            hint_until: AtomicU64::new(0),
            late_results: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            metrics: crate::metrics::BreakerMetrics::new(&config.name, fresh),
            referenced: AtomicBool::new(true),
            window: Window::new(config.window),
            epoch: Instant::now(),
            config,
        }
    }

    pub(super) fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Time since the epoch.
    #[inline]
    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.epoch)
    }

    /// Whether calls must note their start to tell slow calls.
    #[inline]
    pub(super) fn slow_call_duration(&self) -> Option<Duration> {
        self.config.slow_call.map(|(duration, _)| duration)
    }

    fn rejection(&self, retry_after: Option<Duration>) -> CircuitOpen {
        #[cfg(feature = "metrics")]
        self.metrics.rejected();
        CircuitOpen::new(self.config.name.clone(), retry_after)
    }

    // ---- admission ----------------------------------------------------------

    /// Admits a call or rejects it. Never blocks, never allocates.
    #[inline]
    pub(super) fn acquire(&self) -> Result<Ticket, CircuitOpen> {
        let word = self.state.load(Ordering::Acquire);
        if matches!(tag(word), CLOSED | FORCED_CLOSED) {
            return Ok(Ticket {
                generation: generation(word),
                probe: false,
            });
        }
        self.acquire_slow(word)
    }

    #[cold]
    fn acquire_slow(&self, mut word: u64) -> Result<Ticket, CircuitOpen> {
        loop {
            match tag(word) {
                CLOSED | FORCED_CLOSED => {
                    return Ok(Ticket {
                        generation: generation(word),
                        probe: false,
                    });
                }
                FORCED_OPEN => return Err(self.rejection(None)),
                OPEN => {
                    let now = self.now();
                    let until = time(word);
                    if floor_ms(now) < until {
                        let left = Duration::from_millis(until).saturating_sub(now);
                        return Err(self.rejection(Some(left)));
                    }
                    // The open period is over: this call tries to be the
                    // one that moves the breaker to half-open, and probes.
                    let deadline = match self.config.max_half_open_duration {
                        Some(max) => ceil_ms(now.saturating_add(max)),
                        None => TIME_MAX,
                    };
                    match self.transition(word, HALF_OPEN, deadline, TransitionReason::OpenElapsed)
                    {
                        Ok(new) => {
                            let generation = generation(new);
                            if self.init_probes(generation) {
                                return Ok(Ticket {
                                    generation,
                                    probe: true,
                                });
                            }
                            return Err(self.rejection(None));
                        }
                        Err(actual) => word = actual,
                    }
                }
                HALF_OPEN => {
                    let generation = generation(word);
                    let deadline = time(word);
                    if deadline != TIME_MAX {
                        let now = self.now();
                        if floor_ms(now) >= deadline {
                            let permits = u64::from(self.config.half_open_permits);
                            match self.probes_of(generation) {
                                Some((issued, answered)) if issued > answered => {
                                    // A probe has been out past the cap: it
                                    // hangs. Open again, and ignore the
                                    // probes when they answer.
                                    let until = self.open_until(now);
                                    match self.transition(
                                        word,
                                        OPEN,
                                        until,
                                        TransitionReason::HalfOpenTimeout,
                                    ) {
                                        Ok(_) => {
                                            self.consecutive_opens.fetch_add(1, Ordering::Relaxed);
                                            let left =
                                                Duration::from_millis(until).saturating_sub(now);
                                            return Err(self.rejection(Some(left)));
                                        }
                                        Err(actual) => {
                                            word = actual;
                                            continue;
                                        }
                                    }
                                }
                                Some((issued, _)) if issued < permits => {
                                    // No probe is out and a permit is free:
                                    // the breaker was only idle, which the
                                    // cap does not punish. This call probes
                                    // under a fresh cap (same generation:
                                    // the answered probes still count).
                                    let deadline = match self.config.max_half_open_duration {
                                        Some(max) => ceil_ms(now.saturating_add(max)),
                                        None => TIME_MAX,
                                    };
                                    let renewed = pack(HALF_OPEN, generation, deadline);
                                    if let Err(actual) = self.state.compare_exchange(
                                        word,
                                        renewed,
                                        Ordering::AcqRel,
                                        Ordering::Acquire,
                                    ) {
                                        word = actual;
                                        continue;
                                    }
                                }
                                _ => {
                                    // Every permit has answered (the last
                                    // probe is deciding, and a renewal would
                                    // fail its compare-and-swap), or the
                                    // probe word is not this period's yet:
                                    // leave the decision to its owner.
                                    let actual = self.state.load(Ordering::Acquire);
                                    if actual != word {
                                        word = actual;
                                        continue;
                                    }
                                    return Err(self.rejection(None));
                                }
                            }
                        }
                    }
                    if self.take_probe(generation) {
                        return Ok(Ticket {
                            generation,
                            probe: true,
                        });
                    }
                    return Err(self.rejection(None));
                }
                _ => unreachable!("the state tag is always one of the five states"),
            }
        }
    }

    /// Resets the probe word for half-open generation `generation`, taking
    /// the first permit. `false` if a later half-open period already owns it.
    fn init_probes(&self, generation: u64) -> bool {
        let mut word = self.probes.load(Ordering::Acquire);
        loop {
            let current = word >> PROBE_GEN;
            if current == generation || is_after(current, generation) {
                return false;
            }
            let new = (generation << PROBE_GEN) | (1 << ISSUED);
            match self
                .probes
                .compare_exchange(word, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    /// The probes issued (and not given back) and answered in half-open
    /// generation `generation`; `None` if the probe word is another
    /// period's. A probe is in flight when issued exceeds answered.
    fn probes_of(&self, generation: u64) -> Option<(u64, u64)> {
        let word = self.probes.load(Ordering::Acquire);
        (word >> PROBE_GEN == generation).then(|| {
            (
                probe_field(word, ISSUED),
                probe_field(word, SUCCEEDED) + probe_field(word, FAILED),
            )
        })
    }

    fn take_probe(&self, generation: u64) -> bool {
        let permits = u64::from(self.config.half_open_permits);
        let mut word = self.probes.load(Ordering::Acquire);
        loop {
            if word >> PROBE_GEN != generation || probe_field(word, ISSUED) >= permits {
                return false;
            }
            match self.probes.compare_exchange_weak(
                word,
                word + (1 << ISSUED),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    // ---- results ------------------------------------------------------------

    /// Records how an admitted call ended.
    #[inline]
    pub(super) fn complete(&self, ticket: Ticket, sample: Sample) {
        if ticket.probe {
            self.complete_probe(ticket.generation, sample);
        } else if let Sample::Counted {
            failed,
            slow,
            retry_after,
            trips,
        } = sample
        {
            self.complete_closed(ticket.generation, failed, slow, retry_after, trips);
        }
    }

    #[inline]
    fn complete_closed(
        &self,
        ticket: u64,
        failed: bool,
        slow: bool,
        retry_after: Option<Duration>,
        trips: bool,
    ) {
        let word = self.state.load(Ordering::Acquire);
        if generation(word) != ticket || !matches!(tag(word), CLOSED | FORCED_CLOSED) {
            self.late();
            return;
        }
        let now_ms = if self.window.needs_clock() {
            floor_ms(self.now())
        } else {
            0
        };
        self.window.record(failed, slow, now_ms);
        let mut consecutive = 0;
        if failed {
            if let Some(after) = retry_after {
                self.note_hint(after);
            }
            consecutive = self
                .consecutive_failures
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1);
        } else if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
        if tag(word) != CLOSED || !(failed || slow) {
            return;
        }
        // Only a failed or slow call can trip the breaker, so only then is
        // the window summed (O(buckets) for a time window).
        let config = &self.config;
        let reason = if failed && trips {
            TransitionReason::QuotaExhausted
        } else if config
            .consecutive_failures
            .is_some_and(|n| consecutive >= n)
        {
            TransitionReason::ConsecutiveFailures
        } else {
            let snapshot = self.window.snapshot(now_ms);
            if snapshot.calls < config.minimum_calls {
                return;
            }
            if rate(snapshot.failures, snapshot.calls) >= config.failure_rate_threshold {
                TransitionReason::FailureRate
            } else if config
                .slow_call
                .is_some_and(|(_, threshold)| rate(snapshot.slow, snapshot.calls) >= threshold)
            {
                TransitionReason::SlowCallRate
            } else {
                return;
            }
        };
        self.trip(word, reason);
    }

    /// Opens the breaker from `word` (if no one else moved it first).
    fn trip(&self, word: u64, reason: TransitionReason) {
        let until = self.open_until(self.now());
        if self.transition(word, OPEN, until, reason).is_ok() {
            self.consecutive_opens.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[cold]
    fn complete_probe(&self, ticket: u64, sample: Sample) {
        let permits = u64::from(self.config.half_open_permits);
        let state = self.state.load(Ordering::Acquire);
        let current = tag(state) == HALF_OPEN && generation(state) == ticket;
        let mut word = self.probes.load(Ordering::Acquire);
        loop {
            if !current || word >> PROBE_GEN != ticket {
                // The half-open period this probe belonged to is over.
                if matches!(sample, Sample::Counted { .. }) {
                    self.late();
                }
                return;
            }
            let new = match sample {
                Sample::Ignored => word - (1 << ISSUED),
                Sample::Counted { failed, slow, .. } => {
                    word + if failed { 1 << FAILED } else { 1 << SUCCEEDED }
                        + if slow { 1 << SLOW } else { 0 }
                }
            };
            match self
                .probes
                .compare_exchange_weak(word, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    word = new;
                    break;
                }
                Err(actual) => word = actual,
            }
        }
        let Sample::Counted {
            failed,
            retry_after,
            ..
        } = sample
        else {
            return;
        };
        if failed {
            if let Some(after) = retry_after {
                self.note_hint(after);
            }
        }
        let failures = probe_field(word, FAILED);
        let answered = probe_field(word, SUCCEEDED) + failures;
        if answered != permits {
            return;
        }
        // Every probe has answered: this caller decides.
        let slow = probe_field(word, SLOW);
        let calls = permits as u32;
        let config = &self.config;
        let reopen = rate(failures as u32, calls) >= config.failure_rate_threshold
            || config
                .slow_call
                .is_some_and(|(_, threshold)| rate(slow as u32, calls) >= threshold);
        // The word may change under this caller within the same half-open
        // period (an idle call renewing the cap): try again until the
        // transition is made, or the period is over.
        let mut state = self.state.load(Ordering::Acquire);
        while tag(state) == HALF_OPEN && generation(state) == ticket {
            let result = if reopen {
                let until = self.open_until(self.now());
                self.transition(state, OPEN, until, TransitionReason::ProbesFailed)
                    .map(|_| {
                        self.consecutive_opens.fetch_add(1, Ordering::Relaxed);
                    })
            } else {
                // Start the closed period with an empty window, before
                // anyone can record into it.
                self.clear(floor_ms(self.now()));
                self.transition(state, CLOSED, 0, TransitionReason::ProbesSucceeded)
                    .map(|_| self.consecutive_opens.store(0, Ordering::Relaxed))
            };
            match result {
                Ok(()) => return,
                Err(actual) => state = actual,
            }
        }
    }

    #[cold]
    fn late(&self) {
        self.late_results.fetch_add(1, Ordering::Relaxed);
    }

    fn note_hint(&self, after: Duration) {
        if let Some(cap) = self.config.retry_after_cap {
            let until = ceil_ms(self.now().saturating_add(after.min(cap)));
            self.hint_until.fetch_max(until, Ordering::Relaxed);
        }
    }

    /// When an opening at `now` ends: the backoff, or the latest hint if
    /// that is later.
    fn open_until(&self, now: Duration) -> u64 {
        let backoff = self.config.open_backoff;
        let n = self
            .consecutive_opens
            .load(Ordering::Relaxed)
            .saturating_add(1);
        let unit = if backoff.jitter_enabled() {
            crate::rng::next_unit()
        } else {
            0.0
        };
        let until = ceil_ms(now.saturating_add(backoff.jittered(n, unit)));
        until
            .max(self.hint_until.load(Ordering::Relaxed))
            .min(TIME_MAX)
    }

    fn clear(&self, now_ms: u64) {
        self.window.reset(now_ms);
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }

    /// Moves from exactly `from` to `to`; the one caller whose
    /// compare-and-swap succeeds announces the transition.
    fn transition(
        &self,
        from: u64,
        to: u64,
        time: u64,
        reason: TransitionReason,
    ) -> Result<u64, u64> {
        let new = pack(to, generation(from).wrapping_add(1), time);
        self.state
            .compare_exchange(from, new, Ordering::AcqRel, Ordering::Acquire)?;
        let retry_after = if to == OPEN {
            Some(Duration::from_millis(time).saturating_sub(self.now()))
        } else {
            None
        };
        self.announce(state_of(tag(from)), state_of(to), reason, retry_after);
        Ok(new)
    }

    fn announce(
        &self,
        from: State,
        to: State,
        reason: TransitionReason,
        retry_after: Option<Duration>,
    ) {
        #[cfg(feature = "metrics")]
        self.metrics.transition(from, to, reason);
        let name = self.config.name();
        let retry_after_ms = retry_after.map(|d| d.as_millis() as u64);
        if to == State::Open {
            tracing::warn!(
                layer = "circuit_breaker",
                name,
                state = to.as_str(),
                from = from.as_str(),
                reason = reason.as_str(),
                retry_after_ms,
                "circuit breaker opened"
            );
        } else {
            tracing::info!(
                layer = "circuit_breaker",
                name,
                state = to.as_str(),
                from = from.as_str(),
                reason = reason.as_str(),
                "circuit breaker state changed"
            );
        }
        if let Some(hook) = &self.config.on_transition {
            hook(&Transition::new(
                self.config.name.clone(),
                from,
                to,
                reason,
                retry_after,
            ));
        }
    }

    // ---- the handle ---------------------------------------------------------

    pub(super) fn state(&self) -> State {
        state_of(tag(self.state.load(Ordering::Acquire)))
    }

    /// Moves to `to` (a forced state, or closed for a reset) from whatever
    /// the state is.
    pub(super) fn force(&self, to: State) {
        let (to_tag, reason) = match to {
            State::ForcedOpen => (FORCED_OPEN, TransitionReason::ForcedOpen),
            State::ForcedClosed => (FORCED_CLOSED, TransitionReason::ForcedClosed),
            _ => (CLOSED, TransitionReason::Reset),
        };
        // Forcing a state the breaker is already forced into changes
        // nothing and says nothing; a reset always happens and is announced.
        let already = |word: u64| to_tag != CLOSED && tag(word) == to_tag;
        let mut word = self.state.load(Ordering::Acquire);
        if already(word) {
            return;
        }
        if to_tag != FORCED_OPEN {
            self.clear(floor_ms(self.now()));
        }
        if to_tag == CLOSED {
            self.consecutive_opens.store(0, Ordering::Relaxed);
            self.hint_until.store(0, Ordering::Relaxed);
        }
        loop {
            if already(word) {
                return;
            }
            match self.transition(word, to_tag, 0, reason) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }

    pub(super) fn metrics(&self) -> Metrics {
        let word = self.state.load(Ordering::Acquire);
        let now = self.now();
        let window = self.window.snapshot(floor_ms(now));
        let probes = self.probes.load(Ordering::Acquire);
        let half_open = tag(word) == HALF_OPEN && probes >> PROBE_GEN == generation(word);
        let probe = |shift| {
            if half_open {
                probe_field(probes, shift) as u32
            } else {
                0
            }
        };
        let open_for = match tag(word) {
            OPEN => Some(Duration::from_millis(time(word)).saturating_sub(now)),
            _ => None,
        };
        Metrics {
            state: state_of(tag(word)),
            calls: window.calls,
            failures: window.failures,
            slow_calls: window.slow,
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            consecutive_opens: self.consecutive_opens.load(Ordering::Relaxed),
            probes_in_flight: probe(ISSUED).saturating_sub(probe(SUCCEEDED) + probe(FAILED)),
            probes_succeeded: probe(SUCCEEDED),
            probes_failed: probe(FAILED),
            late_results: self.late_results.load(Ordering::Relaxed),
            retry_after: open_for,
        }
    }

    /// Test support: the window's totals and the sum of its slots.
    #[cfg(loom)]
    pub(super) fn window_consistency(
        &self,
    ) -> Option<(super::window::Snapshot, super::window::Snapshot)> {
        match &self.window {
            Window::Count(window) => Some((self.window.snapshot(0), window.recount())),
            Window::Time(_) => None,
        }
    }

    /// Test support: puts the breaker in half-open (generation 1, no probe
    /// taken) or in an open state whose period is over.
    #[cfg(loom)]
    pub(super) fn set_for_test(&self, half_open: bool) {
        if half_open {
            self.state
                .store(pack(HALF_OPEN, 1, TIME_MAX), Ordering::Release);
            self.probes.store(1 << PROBE_GEN, Ordering::Release);
        } else {
            self.state.store(pack(OPEN, 1, 0), Ordering::Release);
        }
    }

    /// Test support: the issued permits of the current probe word.
    #[cfg(loom)]
    pub(super) fn probes_issued(&self) -> u64 {
        probe_field(self.probes.load(Ordering::Acquire), ISSUED)
    }
}

/// `part / whole`, for `whole > 0`.
#[inline]
fn rate(part: u32, whole: u32) -> f64 {
    f64::from(part) / f64::from(whole.max(1))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn generations_compare_as_16_bit_serial_numbers() {
        assert!(is_after(1, 0));
        assert!(!is_after(0, 1));
        assert!(!is_after(7, 7));
        // Across the wrap, 0 comes after 0xffff.
        assert!(is_after(0, GEN_MASK));
        assert!(!is_after(GEN_MASK, 0));
        // Half the range ahead is the limit.
        assert!(is_after(0x7fff, 0));
        assert!(!is_after(0x8000, 0));
    }
}
