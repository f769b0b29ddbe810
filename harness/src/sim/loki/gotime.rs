//! Timestamps printed the way Loki (Go) prints them in its error messages, always in UTC (the
//! captured Loki ran in UTC): `time.RFC3339` in the distributor, `Time.String()` in the ingester.

use k8s_event_collector::receiver::k8s_events::time::Time;

/// `2006-01-02T15:04:05Z`: Go's `Format(time.RFC3339)`, which drops the fraction.
pub(crate) fn rfc3339(unix_nano: i64) -> String {
    // Go's `Time.String()` of the whole second is `2006-01-02 15:04:05 +0000 UTC`.
    let secs = go_time(unix_nano).unix_secs();
    let whole = Time::from_unix(secs, 0)
        .unwrap_or(Time::UNIX_EPOCH)
        .to_go_string();
    let mut parts = whole.split(' ');
    let (date, time) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    format!("{date}T{time}Z")
}

/// `2006-01-02 15:04:05.999999999 +0000 UTC`: Go's `Time.String()`, whose fraction is printed
/// only when non-zero and without trailing zeros (the collector's rendering of Go times).
pub(crate) fn go_string(unix_nano: i64) -> String {
    go_time(unix_nano).to_go_string()
}

fn go_time(unix_nano: i64) -> Time {
    let secs = unix_nano.div_euclid(1_000_000_000);
    // rem_euclid of 1e9 is below one second, so both conversions succeed.
    let nanos = u32::try_from(unix_nano.rem_euclid(1_000_000_000)).unwrap_or_default();
    Time::from_unix(secs, nanos).unwrap_or(Time::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-24T19:41:59Z, the timestamp of the captured "too far behind" answer.
    const CAPTURED: i64 = 1_795_549_319 * 1_000_000_000;

    #[test]
    fn formats_match_the_captured_loki_answers() {
        assert_eq!(rfc3339(CAPTURED), "2026-11-24T19:41:59Z");
        assert_eq!(go_string(CAPTURED), "2026-11-24 19:41:59 +0000 UTC");
    }

    #[test]
    fn fractions_and_edges() {
        assert_eq!(rfc3339(CAPTURED + 999_999_999), "2026-11-24T19:41:59Z");
        assert_eq!(
            go_string(CAPTURED + 500_000_000),
            "2026-11-24 19:41:59.5 +0000 UTC"
        );
        assert_eq!(
            go_string(CAPTURED + 1),
            "2026-11-24 19:41:59.000000001 +0000 UTC"
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(951_782_400 * 1_000_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(i64::MIN), "1677-09-21T00:12:43Z");
        assert_eq!(
            go_string(i64::MAX),
            "2262-04-11 23:47:16.854775807 +0000 UTC"
        );
    }
}
