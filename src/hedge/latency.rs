//! A bounded, lock-free histogram of recent latencies, for the percentile
//! delay.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Values below this many microseconds have a bucket each.
const LINEAR: u64 = 4;
/// Buckets per power of two above `LINEAR` (a 25 % resolution).
const SUB: u64 = 4;
/// The largest recorded value, in microseconds (about 38 hours); longer
/// latencies count in the last bucket.
const MAX_MICROS: u64 = (1 << 37) - 1;
/// Bucket count: four linear ones, then four per power of two up to 2^37.
const BUCKETS: usize = (LINEAR + (37 - 2) * SUB) as usize;

/// Recent latencies in log-scale buckets of atomic counters, over two
/// generations of `period` each: a percentile reads the current generation
/// and the one before it, so it covers between one and two periods of
/// history. A generation is cleared by the first record that finds it
/// stale; a record racing with that clear may be lost, which only makes
/// the estimate a little less precise.
pub(super) struct Latencies {
    start: Instant,
    period_nanos: u64,
    generations: [Generation; 2],
}

struct Generation {
    // The generation's epoch plus one (0: never used).
    tag: AtomicU64,
    buckets: [AtomicU32; BUCKETS],
}

impl Latencies {
    pub(super) fn new(period: Duration) -> Self {
        Self {
            start: Instant::now(),
            // The period is validated to be at least a second.
            period_nanos: u64::try_from(period.as_nanos()).unwrap_or(u64::MAX).max(1),
            generations: std::array::from_fn(|_| Generation {
                tag: AtomicU64::new(0),
                buckets: std::array::from_fn(|_| AtomicU32::new(0)),
            }),
        }
    }

    fn epoch(&self, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(self.start).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX) / self.period_nanos
    }

    /// Records one latency observed at `now`.
    pub(super) fn record(&self, now: Instant, latency: Duration) {
        let epoch = self.epoch(now);
        let generation = &self.generations[(epoch % 2) as usize];
        let tag = generation.tag.load(Ordering::Acquire);
        if tag < epoch + 1
            && generation
                .tag
                .compare_exchange(tag, epoch + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // This thread moved the generation on: clear what it held.
            for bucket in &generation.buckets {
                bucket.store(0, Ordering::Relaxed);
            }
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        generation.buckets[bucket(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// The `p`th percentile (0 < p < 100) of the latencies recorded over
    /// the last one to two periods, as the upper edge of its bucket, or
    /// `None` with fewer than `min_samples` of them.
    pub(super) fn percentile(&self, now: Instant, p: f64, min_samples: u32) -> Option<Duration> {
        let epoch = self.epoch(now);
        let is_live = |generation: &Generation| {
            let tag = generation.tag.load(Ordering::Acquire);
            tag == epoch + 1 || (epoch > 0 && tag == epoch)
        };
        // One read of each bucket: the total is what was read, so the scan
        // below ends in a non-empty bucket whatever records and clears
        // race with it.
        let mut counts = [0u64; BUCKETS];
        for generation in self.generations.iter().filter(|g| is_live(g)) {
            for (count, bucket) in counts.iter_mut().zip(&generation.buckets) {
                *count += u64::from(bucket.load(Ordering::Relaxed));
            }
        }
        let total: u64 = counts.iter().sum();
        if total == 0 || total < u64::from(min_samples) {
            return None;
        }
        let target = ((total as f64) * p / 100.0).ceil().clamp(1.0, total as f64) as u64;
        let mut seen = 0;
        for (i, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= target {
                return Some(Duration::from_micros(upper_edge(i)));
            }
        }
        // Not reached (the target is at most the total); the largest
        // non-empty bucket would be the answer.
        let last = counts.iter().rposition(|&count| count > 0)?;
        Some(Duration::from_micros(upper_edge(last)))
    }
}

/// The bucket of a value in microseconds.
fn bucket(micros: u64) -> usize {
    let micros = micros.min(MAX_MICROS);
    if micros < LINEAR {
        return micros as usize;
    }
    let exp = 63 - u64::from(micros.leading_zeros()); // ≥ 2
    let sub = (micros >> (exp - 2)) & (SUB - 1);
    (LINEAR + (exp - 2) * SUB + sub) as usize
}

/// The smallest value above bucket `i`, in microseconds.
fn upper_edge(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i + 1;
    }
    let exp = (i - LINEAR) / SUB + 2;
    let sub = (i - LINEAR) % SUB;
    (SUB + sub + 1) << (exp - 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_cover_their_values() {
        let mut previous = 0;
        for micros in (0..5000).chain([1 << 20, (1 << 20) + 1, MAX_MICROS, u64::MAX]) {
            let i = bucket(micros);
            assert!(i < BUCKETS, "{micros}");
            assert!(i >= previous || micros > 5000, "{micros}");
            previous = i;
            assert!(micros.min(MAX_MICROS) < upper_edge(i), "{micros} in {i}");
            // Within 25 % of the value above a few microseconds.
            if (4..MAX_MICROS).contains(&micros) {
                assert!(
                    upper_edge(i) as f64 <= micros as f64 * 1.25 + 1.0,
                    "{micros}"
                );
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn percentiles_need_samples_and_forget_old_generations() {
        let latencies = Latencies::new(Duration::from_secs(1));
        let now = Instant::now();
        for ms in 1..=100 {
            latencies.record(now, Duration::from_millis(ms));
        }
        assert_eq!(latencies.percentile(now, 50.0, 101), None);
        let p50 = latencies.percentile(now, 50.0, 100).unwrap();
        assert!(
            (Duration::from_millis(50)..=Duration::from_millis(63)).contains(&p50),
            "{p50:?}"
        );
        let p99 = latencies.percentile(now, 99.0, 1).unwrap();
        assert!(p99 >= Duration::from_millis(99), "{p99:?}");
        // Still seen one period later, forgotten two periods later.
        let later = now + Duration::from_millis(1500);
        assert!(latencies.percentile(later, 50.0, 100).is_some());
        let much_later = now + Duration::from_millis(2500);
        assert_eq!(latencies.percentile(much_later, 50.0, 1), None);
        latencies.record(much_later, Duration::from_millis(7));
        let p = latencies.percentile(much_later, 99.0, 1).unwrap();
        assert!(p <= Duration::from_millis(9), "{p:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_percentile_never_exceeds_the_largest_value_recorded() {
        let latencies = Latencies::new(Duration::from_secs(1));
        let now = Instant::now();
        for ms in 1..=100 {
            latencies.record(now, Duration::from_millis(ms));
        }
        for p in [0.001, 50.0, 99.0, 99.999] {
            let at = latencies.percentile(now, p, 1).unwrap();
            assert!(at <= Duration::from_millis(125), "p{p}: {at:?}");
        }
        // A clear racing the reads: whatever part of the buckets it emptied,
        // the answer is a bucket that still holds values (or none at all),
        // never the largest possible one.
        let generation = &latencies.generations[0];
        for bucket in &generation.buckets[..bucket(50_000)] {
            bucket.store(0, Ordering::Relaxed);
        }
        let at = latencies.percentile(now, 99.999, 1).unwrap();
        assert!(at <= Duration::from_millis(125), "{at:?}");
        for bucket in &generation.buckets {
            bucket.store(0, Ordering::Relaxed);
        }
        assert_eq!(latencies.percentile(now, 99.999, 1), None);
    }
}
