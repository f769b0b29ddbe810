//! The Go standard-library formatting the old exporter's output depends on, reproduced byte for
//! byte: `encoding/json` strings and numbers, `strconv.Quote`, `fmt`'s `%v`, `strings.TrimSpace`
//! and pcommon's `Value.AsString`.
//!
//! serde_json escapes differently (no `\u003c` for `<`, no `\b`), and `AnyValue`'s own string
//! form approximates Go's float formatting, so the encoders use these instead.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;

use crate::record::{AnyValue, Attributes};

/// A value Go's `encoding/json` refuses to marshal (NaN or an infinity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnsupportedJsonValue;

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex_byte(out: &mut String, b: u8) {
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// Appends `s` as a JSON string the way Go's `json.Marshal` writes it (HTML escaping on, Go
/// 1.22+: `\b` and `\f` have short forms).
pub(crate) fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escape: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '<' => Some("\\u003c"),
            '>' => Some("\\u003e"),
            '&' => Some("\\u0026"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            c if c < ' ' => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match escape {
            Some(e) => out.push_str(e),
            None => {
                out.push_str("\\u00");
                push_hex_byte(out, c as u8);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The shortest round-trip digits of a finite, non-zero `f` in Rust's `{:e}` form, split into
/// mantissa (`d.ddd`, with sign) and decimal exponent.
fn shortest_exp_parts(f: f64) -> (String, i32) {
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((m, e)) => (m.to_owned(), e.parse().unwrap_or(0)),
        None => (s, 0),
    }
}

/// A float as Go's `encoding/json` writes it (ES6 number form: plain digits between 1e-6 and
/// 1e21, exponent form outside, `e-7` not `e-07`); `None` for NaN and infinities, which Go
/// refuses. pcommon's `AsString` of a double uses the same form.
pub(crate) fn json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (m, e) = shortest_exp_parts(f);
        return Some(if e < 0 {
            format!("{m}e-{}", e.unsigned_abs())
        } else {
            format!("{m}e+{e:02}")
        });
    }
    Some(format!("{f}"))
}

/// A float as Go's `fmt.Sprint` (`%v`, that is `strconv.FormatFloat(f, 'g', -1, 64)`) writes
/// it: exponent form below 1e-4 and from 1e6 (`1e+06`), `NaN`, `+Inf`, `-Inf`.
pub(crate) fn fmt_float_v(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f != 0.0 {
        let (m, e) = shortest_exp_parts(f);
        if !(-4..6).contains(&e) {
            let sign = if e < 0 { '-' } else { '+' };
            return format!("{m}e{sign}{:02}", e.unsigned_abs());
        }
    }
    format!("{f}")
}

// Unicode general categories through the regex crate we already depend on, so Go's
// `unicode.IsLetter`/`IsDigit`/`IsPrint` are exact rather than approximated by Rust's
// `is_alphabetic` (which also admits marks and letter numbers). `None` cannot happen for these
// fixed patterns; the fallbacks only keep us panic-free.
static LETTER_OR_DIGIT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{Nd}]$").ok());
static PRINTABLE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[\p{L}\p{M}\p{N}\p{P}\p{S}]$").ok());

fn in_class(re: &LazyLock<Option<Regex>>, c: char, fallback: fn(char) -> bool) -> bool {
    match re.as_ref() {
        Some(re) => re.is_match(c.encode_utf8(&mut [0u8; 4])),
        None => fallback(c),
    }
}

/// Go's `unicode.IsLetter(c) || unicode.IsDigit(c)`: general category L or Nd.
pub(crate) fn is_letter_or_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    in_class(&LETTER_OR_DIGIT, c, char::is_alphanumeric)
}

/// Go's `strconv.IsPrint`: categories L, M, N, P, S and the ASCII space.
fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    in_class(&PRINTABLE, c, |c| !c.is_control() && !c.is_whitespace())
}

/// Go's `strconv.Quote`: `"`-quoted, `\"` and `\\`, short escapes for `\a\b\f\n\r\t\v`, `\xNN`
/// for other control bytes, `\uNNNN`/`\UNNNNNNNN` for other non-printable runes, printable
/// Unicode raw.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c < ' ' || c == '\u{7f}' => {
                out.push_str("\\x");
                push_hex_byte(&mut out, c as u8);
            }
            c if u32::from(c) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// Appends `v` as Go's `json.Marshal(v.AsRaw())` writes it: map keys sorted at every level,
/// ints as integers, bytes as base64 (empty bytes as `null`, since pcommon gives a nil slice).
pub(crate) fn write_json_value(out: &mut String, v: &AnyValue) -> Result<(), UnsupportedJsonValue> {
    match v {
        AnyValue::Str(s) => write_json_string(out, s),
        AnyValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        AnyValue::Double(d) => out.push_str(&json_float(*d).ok_or(UnsupportedJsonValue)?),
        AnyValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        AnyValue::Bytes(b) if b.is_empty() => out.push_str("null"),
        AnyValue::Bytes(_) => write_json_string(out, &v.to_display_string()),
        AnyValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_value(out, item)?;
            }
            out.push(']');
        }
        AnyValue::Map(map) => write_json_object(out, map.iter())?,
    }
    Ok(())
}

/// Appends a JSON object of `entries` with keys sorted bytewise, as Go marshals a map.
pub(crate) fn write_json_object<'a>(
    out: &mut String,
    entries: impl Iterator<Item = (&'a str, &'a AnyValue)>,
) -> Result<(), UnsupportedJsonValue> {
    let mut sorted: Vec<(&str, &AnyValue)> = entries.collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(out, k);
        out.push(':');
        write_json_value(out, v)?;
    }
    out.push('}');
    Ok(())
}

/// pcommon's `Value.AsString`, which the old exporter used for label values, the tenant and the
/// `raw` line: maps and lists as Go JSON (`""` when Go's marshalling fails on NaN), doubles in
/// the JSON number form (`json: unsupported value: NaN` for non-finite ones).
pub(crate) fn as_string(v: &AnyValue) -> String {
    match v {
        AnyValue::Str(s) => s.clone(),
        AnyValue::Double(d) => json_float(*d)
            .unwrap_or_else(|| format!("json: unsupported value: {}", fmt_float_v(*d))),
        AnyValue::Map(_) | AnyValue::Array(_) => {
            let mut out = String::new();
            match write_json_value(&mut out, v) {
                Ok(()) => out,
                Err(UnsupportedJsonValue) => String::new(),
            }
        }
        AnyValue::Int(_) | AnyValue::Bool(_) | AnyValue::Bytes(_) => v.to_display_string(),
    }
}

/// `fmt.Sprintf("%v", v.AsRaw())`, which the old exporter used for the items of a hint given as
/// a list: strings as is, `[1 2]` for lists and bytes, `map[k:v]` (keys sorted) for maps.
pub(crate) fn fmt_v(v: &AnyValue) -> String {
    match v {
        AnyValue::Str(s) => s.clone(),
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) => fmt_float_v(*d),
        AnyValue::Bool(b) => b.to_string(),
        AnyValue::Bytes(b) => {
            let items: Vec<String> = b.iter().map(u8::to_string).collect();
            format!("[{}]", items.join(" "))
        }
        AnyValue::Array(items) => {
            let items: Vec<String> = items.iter().map(fmt_v).collect();
            format!("[{}]", items.join(" "))
        }
        AnyValue::Map(map) => format!("map[{}]", fmt_v_map(map)),
    }
}

fn fmt_v_map(map: &Attributes) -> String {
    let mut sorted: Vec<(&str, &AnyValue)> = map.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let items: Vec<String> = sorted
        .into_iter()
        .map(|(k, v)| format!("{k}:{}", fmt_v(v)))
        .collect();
    items.join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn json(s: &str) -> String {
        let mut out = String::new();
        write_json_string(&mut out, s);
        out
    }

    #[test]
    fn json_strings_escape_like_go() {
        assert_eq!(json("a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(json("q\"b\\"), r#""q\"b\\""#);
        assert_eq!(json("\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
        assert_eq!(json("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
        assert_eq!(json("\u{2028}\u{2029}é😀"), "\"\\u2028\\u2029é😀\"");
    }

    #[test]
    fn json_floats_follow_es6_form() {
        assert_eq!(json_float(1.5).unwrap(), "1.5");
        assert_eq!(json_float(3.0).unwrap(), "3");
        assert_eq!(json_float(-0.0).unwrap(), "-0");
        assert_eq!(json_float(1e20).unwrap(), "100000000000000000000");
        assert_eq!(json_float(1e21).unwrap(), "1e+21");
        assert_eq!(json_float(1.5e300).unwrap(), "1.5e+300");
        assert_eq!(json_float(0.000001).unwrap(), "0.000001");
        assert_eq!(json_float(1e-7).unwrap(), "1e-7");
        assert_eq!(json_float(-2.5e-10).unwrap(), "-2.5e-10");
        assert_eq!(json_float(f64::NAN), None);
        assert_eq!(json_float(f64::INFINITY), None);
    }

    #[test]
    fn percent_v_floats_follow_go() {
        assert_eq!(fmt_float_v(123456.0), "123456");
        assert_eq!(fmt_float_v(1e6), "1e+06");
        assert_eq!(fmt_float_v(1234567.0), "1.234567e+06");
        assert_eq!(fmt_float_v(0.0001), "0.0001");
        assert_eq!(fmt_float_v(0.00001), "1e-05");
        assert_eq!(fmt_float_v(1e-100), "1e-100");
        assert_eq!(fmt_float_v(0.0), "0");
        assert_eq!(fmt_float_v(f64::NEG_INFINITY), "-Inf");
        assert_eq!(fmt_float_v(f64::INFINITY), "+Inf");
        assert_eq!(fmt_float_v(f64::NAN), "NaN");
    }

    #[test]
    fn quote_matches_strconv() {
        assert_eq!(quote("plain"), r#""plain""#);
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("\u{7}\u{8}\u{c}\n\r\t\u{b}"), r#""\a\b\f\n\r\t\v""#);
        assert_eq!(quote("\u{0}\u{1b}\u{7f}"), r#""\x00\x1b\x7f""#);
        assert_eq!(quote("é 😀 ü\u{301}"), "\"é 😀 ü\u{301}\"");
        // Non-ASCII spaces and format characters are not printable in Go.
        assert_eq!(quote("\u{a0}\u{200b}\u{2028}"), r#""\u00a0\u200b\u2028""#);
        assert_eq!(quote("\u{e0001}"), r#""\U000e0001""#);
    }

    #[test]
    fn letters_and_digits_are_unicode_categories() {
        assert!(is_letter_or_digit('é'));
        assert!(is_letter_or_digit('٣')); // Arabic-Indic digit: Nd
        assert!(!is_letter_or_digit('²')); // superscript two: No
        assert!(!is_letter_or_digit('Ⅻ')); // Roman numeral: Nl
        assert!(!is_letter_or_digit('\u{301}')); // combining accent: Mn
        assert!(!is_letter_or_digit('.'));
    }

    #[test]
    fn as_string_and_percent_v_follow_pcommon_and_fmt() {
        let map = AnyValue::Map(
            [("b", AnyValue::from("<x>")), ("a", AnyValue::Int(1))]
                .into_iter()
                .collect(),
        );
        assert_eq!(as_string(&map), r#"{"a":1,"b":"\u003cx\u003e"}"#);
        assert_eq!(as_string(&AnyValue::Double(1e-5)), "0.00001");
        assert_eq!(
            as_string(&AnyValue::Double(f64::NAN)),
            "json: unsupported value: NaN"
        );
        assert_eq!(
            as_string(&AnyValue::Array(vec![AnyValue::Double(f64::NAN)])),
            ""
        );
        assert_eq!(as_string(&AnyValue::Bool(true)), "true");
        assert_eq!(fmt_v(&map), "map[a:1 b:<x>]");
        assert_eq!(fmt_v(&AnyValue::Bytes(vec![1, 2])), "[1 2]");
        assert_eq!(
            fmt_v(&AnyValue::Array(vec!["x".into(), AnyValue::Double(2e6)])),
            "[x 2e+06]"
        );
    }

    #[test]
    fn json_values_sort_keys_and_refuse_nan() {
        let inner: Attributes = [("z", 1), ("a", 2)].into_iter().collect();
        let v = AnyValue::Map(
            [
                ("m", AnyValue::Map(inner)),
                ("e", AnyValue::Bytes(vec![])),
                (
                    "l",
                    AnyValue::Array(vec![true.into(), AnyValue::Double(0.5)]),
                ),
            ]
            .into_iter()
            .collect(),
        );
        let mut out = String::new();
        write_json_value(&mut out, &v).unwrap();
        assert_eq!(out, r#"{"e":null,"l":[true,0.5],"m":{"a":2,"z":1}}"#);
        assert_eq!(
            write_json_value(&mut String::new(), &AnyValue::Double(f64::INFINITY)),
            Err(UnsupportedJsonValue)
        );
    }
}
