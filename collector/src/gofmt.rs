//! Go's formatting of values as the OpenTelemetry Collector writes them: pcommon's
//! `Value.AsString` ([`as_string`]) and what it is made of, `encoding/json` strings, numbers and
//! values, `strconv.FormatFloat` and `encoding/base64`.
//!
//! One implementation for the whole crate: the processors, the receiver and the exporters all
//! render a value's text through [`as_string`] (and `AnyValue::to_display_string`, which is it).
//! serde_json escapes differently (no `\u003c` for `<`, no `\b`) and Rust's float forms are not
//! Go's, so output that must match the collector byte for byte is written with these.

use std::fmt::Write as _;

use crate::record::AnyValue;

/// A value Go's `encoding/json` refuses to marshal (NaN or an infinity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnsupportedJsonValue;

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn push_hex_byte(out: &mut String, b: u8) {
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// Bytes that may start something [`write_json_string`] escapes: ASCII control characters,
/// `"`, `\\`, `<`, `>`, `&`, and 0xE2, the first byte of U+2028 and U+2029.
const MAY_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'&' as usize] = true;
    table[0xE2] = true;
    table
};

/// Appends `s` as a JSON string the way Go's `json.Marshal` writes it (HTML escaping on, Go
/// 1.22+: `\b` and `\f` have short forms).
///
/// Scans bytes, not chars, and copies the runs between escapes whole: this is the hottest loop
/// of JSON lines. Words of 8 bytes with nothing to escape are skipped at once ([`word_is_plain`]);
/// a word that may hold something is looked at byte by byte. Every escaped sequence starts at a
/// char boundary (an ASCII byte, or the lead byte 0xE2), so the slices below are always valid.
pub(crate) fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(word) = bytes.get(i..i + 8)
            && word_is_plain(word)
        {
            i += 8;
            continue;
        }
        let word_end = (i + 8).min(bytes.len());
        while i < word_end {
            let b = bytes[i];
            if !MAY_ESCAPE[usize::from(b)] {
                i += 1;
                continue;
            }
            let (escape, len): (&str, usize) = match b {
                b'"' => ("\\\"", 1),
                b'\\' => ("\\\\", 1),
                0x08 => ("\\b", 1),
                0x0c => ("\\f", 1),
                b'\n' => ("\\n", 1),
                b'\r' => ("\\r", 1),
                b'\t' => ("\\t", 1),
                b'<' => ("\\u003c", 1),
                b'>' => ("\\u003e", 1),
                b'&' => ("\\u0026", 1),
                0xE2 => match (bytes.get(i + 1), bytes.get(i + 2)) {
                    (Some(0x80), Some(0xA8)) => ("\\u2028", 3),
                    (Some(0x80), Some(0xA9)) => ("\\u2029", 3),
                    _ => {
                        i += 1;
                        continue;
                    }
                },
                _ => ("", 1),
            };
            out.push_str(&s[start..i]);
            if escape.is_empty() {
                out.push_str("\\u00");
                push_hex_byte(out, b);
            } else {
                out.push_str(escape);
            }
            i += len;
            start = i;
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Whether none of the 8 bytes of `word` is one [`MAY_ESCAPE`] marks, tested on all at once
/// (the "has a zero byte"/"has a byte below n" bit tricks). Any non-ASCII byte counts as
/// marked (0xE2 is one), so the test is exact for ASCII and errs only towards the byte loop.
fn word_is_plain(word: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut eight = [0u8; 8];
    eight.copy_from_slice(word);
    let w = u64::from_le_bytes(eight);
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let has = |c: u8| has_zero(w ^ (ONES * u64::from(c)));
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (below_space | has(b'"') | has(b'\\') | has(b'<') | has(b'>') | has(b'&') | (w & HIGH)) == 0
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
/// Go's `base64.StdEncoding.EncodeToString`: padded, `+` and `/`, as pcommon renders bytes.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
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
        AnyValue::Bytes(b) => write_json_string(out, &base64(b)),
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
    write_json_fields(out, &mut sorted)
}

/// [`write_json_object`] of entries the caller has collected already: sorts them in place.
pub(crate) fn write_json_fields(
    out: &mut String,
    fields: &mut [(&str, &AnyValue)],
) -> Result<(), UnsupportedJsonValue> {
    fields.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (k, v)) in fields.iter().enumerate() {
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

/// pcommon's `Value.AsString`: a value's text wherever the collector needs one (label values,
/// the tenant and the `raw` line of the Loki exporter, body matching of the filter processor,
/// `convert` to string). Strings as is, ints in decimal, bools as `true`/`false`, doubles in the
/// JSON number form (`json: unsupported value: NaN` for non-finite ones), bytes as base64, maps
/// and lists as Go JSON (`""` when Go's marshalling fails on NaN).
pub(crate) fn as_string(v: &AnyValue) -> String {
    match v {
        AnyValue::Str(s) => s.clone(),
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) => json_float(*d)
            .unwrap_or_else(|| format!("json: unsupported value: {}", fmt_float_v(*d))),
        AnyValue::Bool(b) => b.to_string(),
        AnyValue::Bytes(b) => base64(b),
        AnyValue::Map(_) | AnyValue::Array(_) => {
            let mut out = String::new();
            match write_json_value(&mut out, v) {
                Ok(()) => out,
                Err(UnsupportedJsonValue) => String::new(),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::record::Attributes;

    fn json(s: &str) -> String {
        let mut out = String::new();
        write_json_string(&mut out, s);
        out
    }

    /// The escaping rules one char at a time, as Go's encodeState.string reads them: the model
    /// the byte scanner must agree with.
    fn json_by_chars(s: &str) -> String {
        let mut out = String::from('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    write!(out, "\\u{:04x}", u32::from(c)).unwrap();
                }
                c if c < ' ' => write!(out, "\\u{:04x}", u32::from(c)).unwrap(),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    proptest::proptest! {
        #[test]
        fn the_byte_scanner_escapes_as_the_char_model(
            s in "([a-z<>&\"\\\\\u{0}-\u{1f}\u{7f}\u{2027}-\u{202a}\u{e000}\u{1f600} é])*"
        ) {
            proptest::prop_assert_eq!(json(&s), json_by_chars(&s));
        }
    }

    proptest::proptest! {
        /// The word test is exact: plain iff no byte is marked or non-ASCII.
        #[test]
        fn the_word_test_is_exact(word in proptest::array::uniform8(proptest::prelude::any::<u8>())) {
            let plain = !word.iter().any(|&b| MAY_ESCAPE[usize::from(b)] || b >= 0x80);
            proptest::prop_assert_eq!(word_is_plain(&word), plain);
        }

        /// Mostly plain text with an escape at any distance from a word boundary.
        #[test]
        fn long_strings_escape_as_the_char_model(s in "[a-z ]{0,40}[<\"\u{1}é\u{2028}]?[a-z ]{0,40}") {
            proptest::prop_assert_eq!(json(&s), json_by_chars(&s));
        }
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
    fn base64_pads_like_go() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"h"), "aA==");
        assert_eq!(base64(b"hi"), "aGk=");
        assert_eq!(base64(b"hi!"), "aGkh");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn as_string_follows_pcommon() {
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
        assert_eq!(as_string(&AnyValue::Int(-7)), "-7");
        assert_eq!(as_string(&AnyValue::Bytes(b"hi!".to_vec())), "aGkh");
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
