//! Kubernetes times: RFC 3339 parsing (what `metav1.Time`/`MicroTime` put on the wire) and Go's
//! `time.Time.String()` rendering (what the OpenTelemetry receiver puts in `k8s.event.start_time`).
//!
//! Our own 200 lines instead of a date crate: we need one parse and one format, in UTC only.

use std::fmt;

const NANOS_PER_SEC: u32 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// An instant in UTC: seconds since the Unix epoch plus a nanosecond fraction.
///
/// Ordering is chronological. Parsed times span the years 0000 to 9999 in any offset, so the
/// seconds may be negative and a time need not fit in `i64` nanoseconds (see [`Time::unix_nanos`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time {
    secs: i64,
    nanos: u32,
}

/// Why a string is not an RFC 3339 time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("not in the RFC 3339 layout YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)")]
    Layout,
    #[error("{0} out of range")]
    OutOfRange(&'static str),
}

impl Time {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Time = Time { secs: 0, nanos: 0 };

    /// Go's zero `time.Time` (0001-01-01T00:00:00Z): what a Go program holds for an absent
    /// `metav1.Time`, and so what the OpenTelemetry receiver renders for a missing timestamp.
    pub const GO_ZERO: Time = Time {
        secs: -62_135_596_800,
        nanos: 0,
    };

    /// The instant `secs` seconds and `nanos` nanoseconds after the Unix epoch; `None` when
    /// `nanos` is not below one second.
    pub const fn from_unix(secs: i64, nanos: u32) -> Option<Time> {
        if nanos < NANOS_PER_SEC {
            Some(Time { secs, nanos })
        } else {
            None
        }
    }

    /// Whole seconds since the Unix epoch (rounded towards the past).
    pub const fn unix_secs(self) -> i64 {
        self.secs
    }

    /// The nanoseconds past [`Time::unix_secs`], below one second.
    pub const fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// Nanoseconds since the Unix epoch, as log records carry them; `None` outside what an
    /// `i64` holds (before 1677-09-21 or after 2262-04-11).
    pub fn unix_nanos(self) -> Option<i64> {
        self.secs
            .checked_mul(i64::from(NANOS_PER_SEC))?
            .checked_add(i64::from(self.nanos))
    }

    /// Parses an RFC 3339 time as Kubernetes writes it: `2024-05-01T10:00:00Z`,
    /// `2024-05-01T10:00:00.123456Z` (micro-times), or with a numeric offset `+02:00`.
    ///
    /// Accepts what Go's `time.Parse(time.RFC3339, ..)` accepts (any number of fraction digits,
    /// of which the first nine count; seconds up to 59; offsets below 24 hours), plus the
    /// lower-case `t` and `z` that RFC 3339 allows.
    pub fn parse_rfc3339(s: &str) -> Result<Time, TimeError> {
        let b = s.as_bytes();
        // The fixed part: "YYYY-MM-DDTHH:MM:SS".
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(TimeError::Layout);
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[5..7])?;
        let day = digits(&b[8..10])?;
        let hour = digits(&b[11..13])?;
        let minute = digits(&b[14..16])?;
        let second = digits(&b[17..19])?;

        let mut rest = &b[19..];
        let mut nanos = 0u32;
        if let [b'.', frac @ ..] = rest {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return Err(TimeError::Layout);
            }
            for (i, &c) in frac[..n].iter().take(9).enumerate() {
                nanos += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
            }
            rest = &frac[n..];
        }
        let offset_secs = match rest {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let oh = digits(&[*h1, *h2])?;
                let om = digits(&[*m1, *m2])?;
                if oh > 23 {
                    return Err(TimeError::OutOfRange("offset hour"));
                }
                if om > 59 {
                    return Err(TimeError::OutOfRange("offset minute"));
                }
                let off = i64::from(oh * 3600 + om * 60);
                if *sign == b'-' { -off } else { off }
            }
            _ => return Err(TimeError::Layout),
        };

        if !(1..=12).contains(&month) {
            return Err(TimeError::OutOfRange("month"));
        }
        if day < 1 || day > days_in_month(i64::from(year), month) {
            return Err(TimeError::OutOfRange("day"));
        }
        if hour > 23 {
            return Err(TimeError::OutOfRange("hour"));
        }
        if minute > 59 {
            return Err(TimeError::OutOfRange("minute"));
        }
        if second > 59 {
            return Err(TimeError::OutOfRange("second"));
        }

        let days = days_from_civil(i64::from(year), month, day);
        let local = days * SECS_PER_DAY + i64::from(hour * 3600 + minute * 60 + second);
        Ok(Time {
            secs: local - offset_secs,
            nanos,
        })
    }

    /// The time as Go's `time.Time.String()` renders it in UTC:
    /// `2024-05-01 10:00:00 +0000 UTC`, `2024-05-01 10:00:00.5 +0000 UTC` (the fraction has its
    /// trailing zeros removed and is left out when zero). Same text as `Display`.
    ///
    /// Written digit by digit: every record carries one (`k8s.event.start_time`), and `fmt`'s
    /// padding machinery cost more than the rest of the mapping's text.
    pub fn to_go_string(self) -> String {
        let (y, mo, d, h, mi, s) = self.civil();
        let mut out = String::with_capacity(40);
        // Go pads the year to four digits and puts the sign in front: "-0001", "0001", "10000".
        if y < 0 {
            out.push('-');
        }
        let year = y.unsigned_abs();
        if year < 10_000 {
            push_digits(&mut out, year, 4);
        } else {
            out.push_str(&year.to_string());
        }
        for (sep, n) in [('-', mo), ('-', d), (' ', h), (':', mi), (':', s)] {
            out.push(sep);
            push_digits(&mut out, u64::from(n), 2);
        }
        if self.nanos != 0 {
            let mut frac = self.nanos;
            let mut width = 9;
            while frac.is_multiple_of(10) {
                frac /= 10;
                width -= 1;
            }
            out.push('.');
            push_digits(&mut out, u64::from(frac), width);
        }
        out.push_str(" +0000 UTC");
        out
    }

    /// The UTC calendar fields: (year, month, day, hour, minute, second).
    pub(crate) fn civil(self) -> (i64, u32, u32, u32, u32, u32) {
        let days = self.secs.div_euclid(SECS_PER_DAY);
        let sod = self.secs.rem_euclid(SECS_PER_DAY) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, sod / 3600, sod / 60 % 60, sod % 60)
    }
}

impl fmt::Display for Time {
    /// Go's `time.Time.String()` in UTC; see [`Time::to_go_string`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_go_string())
    }
}

/// Appends the last `width` decimal digits of `n`, zero-padded.
fn push_digits(out: &mut String, n: u64, width: u32) {
    for place in (0..width).rev() {
        let digit = (n / 10u64.pow(place) % 10) as u8;
        out.push(char::from(b'0' + digit));
    }
}

/// The value of two to four ASCII digits.
fn digits(b: &[u8]) -> Result<u32, TimeError> {
    b.iter().try_fold(0u32, |n, &c| {
        if c.is_ascii_digit() {
            Ok(n * 10 + u32::from(c - b'0'))
        } else {
            Err(TimeError::Layout)
        }
    })
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = i64::from((month + 9) % 12); // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 3339 text for `t` as seen from `offset_minutes` east of UTC, with `frac_digits`
    /// fraction digits (0..=9; digits beyond the time's precision are truncated away).
    pub(crate) fn rfc3339(t: Time, offset_minutes: i32, frac_digits: usize) -> String {
        let local = Time {
            secs: t.secs + i64::from(offset_minutes) * 60,
            nanos: t.nanos,
        };
        let (y, mo, d, h, mi, s) = local.civil();
        let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
        if frac_digits > 0 {
            let nanos = format!("{:09}", t.nanos);
            out.push('.');
            out.push_str(&nanos[..frac_digits]);
        }
        if offset_minutes == 0 {
            out.push('Z');
        } else {
            let sign = if offset_minutes < 0 { '-' } else { '+' };
            let off = offset_minutes.unsigned_abs();
            out.push_str(&format!("{sign}{:02}:{:02}", off / 60, off % 60));
        }
        out
    }

    fn parse(s: &str) -> Time {
        Time::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn parses_the_kubernetes_forms() {
        // Seconds from `date -u -d <time> +%s`.
        assert_eq!(
            parse("2026-11-24T22:46:23Z"),
            Time::from_unix(1_795_560_383, 0).unwrap()
        );
        assert_eq!(
            parse("2026-11-24T22:49:18.000000Z"),
            Time::from_unix(1_795_560_558, 0).unwrap()
        );
        assert_eq!(
            parse("2026-11-24T22:49:18.123456Z"),
            Time::from_unix(1_795_560_558, 123_456_000).unwrap()
        );
        assert_eq!(
            parse("2026-11-25T00:49:18.5+02:00"),
            Time::from_unix(1_795_560_558, 500_000_000).unwrap()
        );
        assert_eq!(
            parse("2026-11-24T20:19:18-02:30"),
            Time::from_unix(1_795_560_558, 0).unwrap()
        );
        assert_eq!(parse("1970-01-01T00:00:00Z"), Time::UNIX_EPOCH);
        assert_eq!(parse("0001-01-01T00:00:00Z"), Time::GO_ZERO);
        assert_eq!(
            parse("9999-12-31T23:59:59Z"),
            Time::from_unix(253_402_300_799, 0).unwrap()
        );
        assert_eq!(parse("2024-02-29t12:00:00z"), parse("2024-02-29T12:00:00Z"));
        // Digits beyond nanoseconds are accepted and ignored, as Go does.
        assert_eq!(
            parse("1970-01-01T00:00:00.1234567891234Z"),
            Time::from_unix(0, 123_456_789).unwrap()
        );
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "",
            "2026-11-24",
            "2026-11-24T22:46:23",
            "2026-11-24 22:46:23Z",
            "2026-11-24T22:46:23.Z",
            "2026-11-24T22:46:23+0200",
            "2026-11-24T22:46:23+02:00x",
            "2026-13-24T22:46:23Z",
            "2026-00-24T22:46:23Z",
            "2026-02-29T22:46:23Z",
            "2026-11-31T22:46:23Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T23:60:00Z",
            "2026-11-24T23:59:60Z",
            "2026-11-24T23:59:59+24:00",
            "2026-11-24T23:59:59+01:60",
            "+026-11-24T22:46:23Z",
            "2026-11-2٤T22:46:23Z",
            "null",
        ] {
            assert!(Time::parse_rfc3339(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn go_string_matches_go() {
        // Expected strings as Go's time.Time.String() prints them for a UTC time.
        let cases = [
            ("2024-05-01T10:00:00Z", "2024-05-01 10:00:00 +0000 UTC"),
            ("2024-05-01T10:00:00.5Z", "2024-05-01 10:00:00.5 +0000 UTC"),
            (
                "2024-05-01T10:00:00.000123Z",
                "2024-05-01 10:00:00.000123 +0000 UTC",
            ),
            (
                "2024-05-01T10:00:00.000000001Z",
                "2024-05-01 10:00:00.000000001 +0000 UTC",
            ),
            (
                "2024-05-01T10:00:00.120000000Z",
                "2024-05-01 10:00:00.12 +0000 UTC",
            ),
            ("2024-05-01T12:00:00+02:00", "2024-05-01 10:00:00 +0000 UTC"),
            ("0001-01-01T00:00:00Z", "0001-01-01 00:00:00 +0000 UTC"),
            (
                "0000-01-01T00:30:00+01:00",
                "-0001-12-31 23:30:00 +0000 UTC",
            ),
            (
                "9999-12-31T23:59:59-01:00",
                "10000-01-01 00:59:59 +0000 UTC",
            ),
            ("1969-12-31T23:59:59.9Z", "1969-12-31 23:59:59.9 +0000 UTC"),
        ];
        for (rfc, go) in cases {
            assert_eq!(parse(rfc).to_go_string(), go, "{rfc}");
        }
        assert_eq!(Time::GO_ZERO.to_string(), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn unix_nanos_is_checked() {
        assert_eq!(
            parse("2026-11-24T22:49:18.123456Z").unix_nanos(),
            Some(1_795_560_558_123_456_000)
        );
        assert_eq!(
            parse("1969-12-31T23:59:59.9Z").unix_nanos(),
            Some(-100_000_000)
        );
        assert_eq!(Time::GO_ZERO.unix_nanos(), None);
        assert_eq!(parse("2262-04-12T00:00:00Z").unix_nanos(), None);
        assert!(parse("2262-04-11T23:47:16.854775807Z").unix_nanos() == Some(i64::MAX));
    }

    /// The civil-date math against a naive calendar walk over every day of years 0 to 9999.
    #[test]
    fn civil_dates_match_a_naive_calendar() {
        let (mut y, mut m, mut d) = (0i64, 1u32, 1u32);
        let mut days = days_from_civil(0, 1, 1);
        assert_eq!(days, -719_528); // 0000-01-01, 719528 days before the epoch
        while y < 10_000 {
            assert_eq!(civil_from_days(days), (y, m, d));
            assert_eq!(days_from_civil(y, m, d), days);
            d += 1;
            if d > days_in_month(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
            days += 1;
        }
    }

    fn any_time() -> impl Strategy<Value = Time> {
        // Years 0001 to 9998, so that any offset keeps the local year in 0000..=9999.
        (-62_135_596_800i64..253_370_764_800, 0u32..NANOS_PER_SEC)
            .prop_map(|(secs, nanos)| Time { secs, nanos })
    }

    fn any_offset() -> impl Strategy<Value = i32> {
        prop_oneof![Just(0), -(23 * 60 + 59)..=(23 * 60 + 59)]
    }

    /// Go's `String()` text back to RFC 3339, independently of our formatter.
    fn go_string_to_rfc3339(go: &str) -> String {
        let s = go.strip_suffix(" +0000 UTC").unwrap();
        format!("{}Z", s.replacen(' ', "T", 1))
    }

    proptest! {
        #[test]
        fn rfc3339_to_go_string_round_trips(t in any_time(), off in any_offset()) {
            let text = rfc3339(t, off, 9);
            let parsed = Time::parse_rfc3339(&text).unwrap();
            prop_assert_eq!(parsed, t);

            let go = parsed.to_go_string();
            // The fraction: absent when zero, else without trailing zeros.
            let frac = go.split(' ').nth(1).unwrap().split_once('.').map(|(_, f)| f);
            match frac {
                None => prop_assert_eq!(t.nanos, 0),
                Some(f) => {
                    prop_assert!(!f.ends_with('0') && !f.is_empty() && f.len() <= 9);
                    prop_assert_eq!(format!("{f:0<9}").parse::<u32>().unwrap(), t.nanos);
                }
            }
            prop_assert_eq!(Time::parse_rfc3339(&go_string_to_rfc3339(&go)).unwrap(), t);
        }

        #[test]
        fn fraction_precision_truncates(t in any_time(), off in any_offset(), digits in 0usize..=9) {
            let parsed = Time::parse_rfc3339(&rfc3339(t, off, digits)).unwrap();
            let unit = 10u32.pow(9 - digits as u32);
            prop_assert_eq!(parsed, Time { secs: t.secs, nanos: t.nanos / unit * unit });
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Time::parse_rfc3339(&s);
        }

        #[test]
        fn parse_never_panics_on_near_misses(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})?.?") {
            let _ = Time::parse_rfc3339(&s);
        }
    }
}
