//! Go formatting only the Loki label set needs: `strconv.Quote` for its text form,
//! `unicode.IsLetter`/`IsDigit` for label names and `fmt`'s `%v` for the items of a list hint.
//! Value text (pcommon's `AsString`) and JSON are the crate's `gofmt`.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;

use crate::gofmt::{fmt_float_v, push_hex_byte};
use crate::record::{AnyValue, Attributes};

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
mod tests {
    use super::*;

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
    fn percent_v_follows_fmt() {
        let map = AnyValue::Map(
            [("b", AnyValue::from("<x>")), ("a", AnyValue::Int(1))]
                .into_iter()
                .collect(),
        );
        assert_eq!(fmt_v(&map), "map[a:1 b:<x>]");
        assert_eq!(fmt_v(&AnyValue::Bytes(vec![1, 2])), "[1 2]");
        assert_eq!(
            fmt_v(&AnyValue::Array(vec!["x".into(), AnyValue::Double(2e6)])),
            "[x 2e+06]"
        );
    }
}
