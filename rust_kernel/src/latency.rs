//! A latency histogram: how long inputs took, in log-linear buckets of nanoseconds. Counts
//! are relaxed atomics in buckets made once, so recording takes no lock and no allocation,
//! and a reader on another thread (`stats()`, a metrics scrape) never waits for the kernel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: a percentile is read to within 1/16 (6.25 %) above its value.
const SUB_BITS: u32 = 4;
const SUBS: usize = 1 << SUB_BITS;
/// Powers of two kept: durations up to 2^40 ns (18 minutes); longer ones count in the last bucket.
const TOP_POWER: u32 = 40;
const BUCKETS: usize = (TOP_POWER - SUB_BITS + 1) as usize * SUBS;

/// The percentiles of a histogram, in nanoseconds, each the top of the bucket it falls in
/// (never above the largest duration recorded). None while nothing is recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub p999_ns: Option<u64>,
    pub max_ns: Option<u64>,
}

pub struct LatencyHistogram {
    counts: Box<[AtomicU64]>,
    max_ns: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_ns: AtomicU64::new(0),
        }
    }
}

/// The bucket of a duration of `ns` nanoseconds: exact below `SUBS`, then `SUBS` equal
/// buckets per power of two.
fn bucket_of(ns: u64) -> usize {
    if ns < SUBS as u64 {
        return ns as usize;
    }
    let power = 63 - ns.leading_zeros();
    if power >= TOP_POWER {
        return BUCKETS - 1;
    }
    let sub = (ns >> (power - SUB_BITS)) as usize & (SUBS - 1);
    (power - SUB_BITS + 1) as usize * SUBS + sub
}

/// The largest duration (ns) bucket `index` holds.
fn bucket_top(index: usize) -> u64 {
    if index < SUBS {
        return index as u64;
    }
    let power = (index / SUBS) as u32 + SUB_BITS - 1;
    let width = 1u64 << (power - SUB_BITS);
    ((SUBS + index % SUBS) as u64) * width + width - 1
}

impl LatencyHistogram {
    pub fn record(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// The count and percentiles of what is recorded so far. Read bucket by bucket while
    /// recording goes on: a duration recorded meanwhile may or may not be counted.
    pub fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let count: u64 = counts.iter().sum();
        if count == 0 {
            return LatencySummary::default();
        }
        let max = self.max_ns.load(Ordering::Relaxed);
        let at = |q: f64| {
            let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
            let mut seen = 0;
            let index = counts
                .iter()
                .position(|&c| {
                    seen += c;
                    seen >= rank
                })
                .unwrap_or(BUCKETS - 1);
            Some(bucket_top(index).min(max))
        };
        LatencySummary {
            count,
            p50_ns: at(0.5),
            p99_ns: at(0.99),
            p999_ns: at(0.999),
            max_ns: Some(max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duration_falls_in_a_bucket_whose_top_is_at_most_a_sixteenth_above_it() {
        let mut ns = 0u64;
        while ns < (1 << TOP_POWER) {
            let index = bucket_of(ns);
            let top = bucket_top(index);
            assert!(top >= ns, "{ns} ns in bucket {index} topped at {top}");
            assert!(
                top - ns <= ns / SUBS as u64,
                "{ns} ns in bucket {index} topped at {top}"
            );
            assert!(
                index == 0 || bucket_top(index - 1) < ns,
                "{ns} ns, bucket {index}"
            );
            ns = ns * 9 / 8 + 1;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_top(BUCKETS - 1), (1 << TOP_POWER) - 1);
    }

    #[test]
    fn percentiles_are_read_from_the_buckets_and_capped_at_the_largest() {
        let h = LatencyHistogram::default();
        assert_eq!(h.summary(), LatencySummary::default());
        for ns in 1..=1000u64 {
            h.record(Duration::from_nanos(ns));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.max_ns, Some(1000));
        // 500 falls in the bucket 496..=511, 990 in 960..=991, 999 and 1000 in 992..=1023.
        assert_eq!(s.p50_ns, Some(511));
        assert_eq!(s.p99_ns, Some(991));
        assert_eq!(s.p999_ns, Some(1000));
    }
}
