//! When to try a failed push again: exponential backoff with jitter as `retry_on_failure`
//! configures it (OpenTelemetry's exporterhelper semantics), and Loki's `Retry-After`.
//!
//! As in exporterhelper, a `Retry-After` longer than the backoff wins, and the time budget
//! (`max_elapsed_time`, 0 = none) counts from the first failure: when the next wait would end
//! past it, retrying stops.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

use crate::config::http::RetryConfig;
use crate::receiver::k8s_events::time::days_from_civil;

/// The backoff of one tenant's delivery; reset after each accepted request.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: RetryConfig,
    /// The next wait before jitter.
    interval: Duration,
    /// The first failure of the current streak.
    started: Option<std::time::Instant>,
}

impl Backoff {
    /// A backoff with `config`'s intervals.
    pub fn new(config: &RetryConfig) -> Self {
        Self {
            config: config.clone(),
            interval: *config.initial_interval,
            started: None,
        }
    }

    /// The wait before the next attempt after a failure (`retry_after` from the answer), or
    /// `None` when retrying is disabled or the time budget is spent.
    pub fn next(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        let started = *self.started.get_or_insert_with(std::time::Instant::now);
        self.next_at(started.elapsed(), retry_after, unit_random())
    }

    /// [`Self::next`] with the time spent so far and a random number in `[0, 1)` given.
    fn next_at(
        &mut self,
        spent: Duration,
        retry_after: Option<Duration>,
        random: f64,
    ) -> Option<Duration> {
        if !self.config.enabled {
            return None;
        }
        let factor = self.config.randomization_factor.clamp(0.0, 1.0);
        let base = self.interval.as_secs_f64();
        // Uniform in [base - factor*base, base + factor*base], as cenkalti/backoff does.
        let jittered = base * (1.0 - factor) + base * 2.0 * factor * random;
        let backoff = Duration::try_from_secs_f64(jittered).unwrap_or(self.interval);
        let max = *self.config.max_interval;
        let grown =
            Duration::try_from_secs_f64(base * self.config.multiplier.max(1.0)).unwrap_or(max);
        self.interval = grown.min(max);
        let wait = backoff.max(retry_after.unwrap_or_default());
        let budget = *self.config.max_elapsed_time;
        if !budget.is_zero() && spent + wait > budget {
            return None;
        }
        Some(wait)
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.interval = *self.config.initial_interval;
        self.started = None;
    }
}

/// A random number in `[0, 1)`. Jitter needs no quality, only a different value per call:
/// std's randomly keyed hasher gives that without a dependency.
fn unit_random() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos().into()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// `Retry-After` as a wait from `now`: delay-seconds (`120`) or an HTTP date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`); a date in the past means no wait.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// The IMF-fixdate form of RFC 9110 (the one servers must send).
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let (_weekday, rest) = value.split_once(", ")?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? + 1;
    let day: u32 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    let days = u64::try_from(days_from_civil(year, u32::try_from(month).ok()?, day)).ok()?;
    let secs = days * 86_400 + h * 3600 + m * 60 + s;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::duration::ConfigDuration;

    /// exporterhelper's defaults: 5s, x1.5, at most 30s, for 300s, jitter 0.5.
    fn config() -> RetryConfig {
        RetryConfig::default()
    }

    #[test]
    fn intervals_grow_to_the_maximum_with_jitter_around_them() {
        let mut b = Backoff::new(&config());
        let mid: Vec<u64> = (0..7)
            .map(|_| b.next_at(Duration::ZERO, None, 0.5).unwrap().as_millis() as u64)
            .collect();
        assert_eq!(mid, [5000, 7500, 11250, 16875, 25312, 30000, 30000]);
        b.reset();
        assert_eq!(
            b.next_at(Duration::ZERO, None, 0.0),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            b.next_at(Duration::ZERO, None, 0.999_999)
                .map(|d| d.as_secs()),
            Some(11)
        );
    }

    #[test]
    fn retry_after_wins_when_longer_and_the_budget_stops_retrying() {
        let mut b = Backoff::new(&config());
        assert_eq!(
            b.next_at(Duration::ZERO, Some(Duration::from_secs(60)), 0.5),
            Some(Duration::from_secs(60))
        );
        assert_eq!(b.next_at(Duration::from_secs(295), None, 0.5), None);
        let forever = RetryConfig {
            max_elapsed_time: ConfigDuration::from_secs(0),
            ..config()
        };
        assert!(
            Backoff::new(&forever)
                .next_at(Duration::from_secs(86_400 * 365), None, 0.5)
                .is_some()
        );
        let disabled = RetryConfig {
            enabled: false,
            ..config()
        };
        assert_eq!(
            Backoff::new(&disabled).next_at(Duration::ZERO, None, 0.5),
            None
        );
    }

    #[test]
    fn random_numbers_stay_in_range() {
        for _ in 0..1000 {
            let r = unit_random();
            assert!((0.0..1.0).contains(&r));
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_767); // 06 Nov 1994 08:49:27
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in [
            "",
            "-1",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }
}
