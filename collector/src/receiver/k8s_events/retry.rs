//! Waiting between failed attempts (capped exponential backoff with jitter) and logging repeated
//! failures at a bounded rate.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

/// Capped exponential backoff: `first`, doubling per consecutive failure, at most `max`, each
/// delay spread by ±20% so that many collectors do not retry in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay after the `failures`-th consecutive failure (1 = the first), before jitter.
    pub fn base(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.first.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// The delay after the `failures`-th consecutive failure, with jitter.
    pub fn delay(&self, failures: u32) -> Duration {
        // 0.8 to 1.2 times the base.
        self.base(failures).mul_f64(0.8 + 0.4 * unit_random())
    }
}

/// A number in [0, 1): randomness for jitter only, from the standard library's per-process
/// random hash keys (no dependency for this).
fn unit_random() -> f64 {
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Lets one log line through per interval, counting the ones held back.
#[derive(Debug)]
pub struct LogLimiter {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> Self {
        LogLimiter {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a line may be logged now, `n` being how many were held back since the
    /// last one; `None` when it must be held back.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.every)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap() {
        let backoff = Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(300),
        };
        let secs: Vec<u64> = (1..=11).map(|n| backoff.base(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff.base(u32::MAX), Duration::from_secs(300));
        for n in 1..12 {
            let d = backoff.delay(n).as_secs_f64();
            let base = backoff.base(n).as_secs_f64();
            assert!(d >= base * 0.8 && d <= base * 1.2, "{n}: {d}");
        }
    }

    #[test]
    fn limiter_counts_what_it_holds_back() {
        let t0 = Instant::now();
        let mut limiter = LogLimiter::new(Duration::from_secs(10));
        assert_eq!(limiter.allow(t0), Some(0));
        assert_eq!(limiter.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(limiter.allow(t0 + Duration::from_secs(9)), None);
        assert_eq!(limiter.allow(t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(limiter.allow(t0 + Duration::from_secs(11)), None);
    }
}
