//! Latency figures for tests and benchmarks: an HDR histogram of durations (microsecond resolution, up
//! to an hour) and its percentiles in milliseconds, the one percentile definition every report uses.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Recorded latencies.
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// Empty.
    pub fn new() -> Self {
        Self {
            // 1 µs to 1 h with 3 significant digits; these bounds are valid, so creation cannot fail.
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
        }
    }

    /// Records one duration (clamped to the histogram's range).
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, 3_600_000_000);
        self.histogram.saturating_record(micros);
    }

    /// Records one duration given in milliseconds.
    pub fn record_ms(&mut self, ms: f64) {
        self.record(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }

    /// How many were recorded.
    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    /// Whether none was recorded.
    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The `q` quantile (0.5 for the median, 0.99 for p99) in milliseconds; `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        (!self.is_empty()).then(|| self.histogram.value_at_quantile(q) as f64 / 1000.0)
    }

    /// The median in milliseconds.
    pub fn p50_ms(&self) -> Option<f64> {
        self.quantile_ms(0.5)
    }

    /// The 99th percentile in milliseconds.
    pub fn p99_ms(&self) -> Option<f64> {
        self.quantile_ms(0.99)
    }

    /// The largest in milliseconds.
    pub fn max_ms(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.histogram.max() as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_known_spread() {
        let mut latencies = Latencies::new();
        assert_eq!(latencies.p50_ms(), None);
        for ms in 1..=100 {
            latencies.record(Duration::from_millis(ms));
        }
        assert_eq!(latencies.len(), 100);
        let p50 = latencies.p50_ms().expect("p50");
        let p99 = latencies.p99_ms().expect("p99");
        assert!((49.9..=50.1).contains(&p50), "p50 {p50}");
        assert!((98.9..=99.1).contains(&p99), "p99 {p99}");
        assert!(latencies.max_ms().expect("max") >= 99.9);
    }
}
