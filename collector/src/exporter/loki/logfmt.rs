//! The `logfmt` line format, with the quirks of the old exporter and the go-logfmt v0.6.0 it
//! used, which existing queries may depend on.
//!
//! The body's first line is *parsed* as logfmt, so plain words become bare keys:
//! `Example log` gives `Example= log=`. Only when that parse fails (a `"` or `=` inside a word, a
//! leading `=`, an unterminated quote, a first line of 64 KiB or more) does the body become
//! `msg=<body>`. Then come `severity=`, `attribute_<key>=` and `resource_<key>=` in attribute
//! order, maps flattened to `<key>_<subkey>=` and lists to `<key>_<index>=`.
//! [`EncodeOptions::logfmt_message_field`](super::EncodeOptions) always writes `msg=<body>`
//! instead.

use std::borrow::Cow;

use crate::gofmt;
use crate::record::AnyValue;

/// go-logfmt reads lines with a default `bufio.Scanner`, whose longest line is 64 KiB - 1.
const MAX_SCAN_LINE: usize = 64 * 1024;

/// Why go-logfmt's decoder rejects a line (the old exporter then falls back to `msg=`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("line too long")]
    TooLong,
    #[error("unexpected {0:?}")]
    Unexpected(char),
    #[error("invalid key")]
    InvalidKey,
    #[error("unterminated quoted value")]
    UnterminatedQuote,
    #[error("invalid quoted value")]
    InvalidQuote,
}

/// Why a logfmt line cannot be written at all (the old exporter then drops the record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A key that is empty once go-logfmt drops the characters keys cannot hold (only possible
    /// for keys of a map body).
    #[error("logfmt key {0:?} is empty once invalid characters are dropped")]
    InvalidKey(String),
}

/// A key and its value as go-logfmt decodes them (`None`: no value).
pub type DecodedPair<'a> = (&'a str, Option<Cow<'a, str>>);

/// The key/value pairs go-logfmt's decoder reads from the first line of `text`: `None` for a
/// bare key (`word`) or an empty value (`k=`, `k=""`).
pub fn decode_first_line(text: &str) -> Result<Vec<DecodedPair<'_>>, SyntaxError> {
    let line = text.split('\n').next().unwrap_or_default();
    if line.len() >= MAX_SCAN_LINE {
        return Err(SyntaxError::TooLong);
    }
    let line = line.strip_suffix('\r').unwrap_or(line);
    let bytes = line.as_bytes();
    let mut pairs = Vec::new();
    let mut pos = 0;
    loop {
        // Anything up to a space is garbage between pairs.
        while bytes.get(pos).is_some_and(|&c| c <= b' ') {
            pos += 1;
        }
        if pos >= bytes.len() {
            return Ok(pairs);
        }
        let start = pos;
        let mut multibyte = false;
        let mut equals = false;
        while let Some(&c) = bytes.get(pos) {
            match c {
                b'=' => {
                    equals = true;
                    break;
                }
                b'"' => return Err(SyntaxError::Unexpected('"')),
                c if c <= b' ' => break,
                c => {
                    multibyte |= c >= 0x80;
                    pos += 1;
                }
            }
        }
        // Slicing is safe: `start` and `pos` sit on ASCII bytes or at the end.
        let key = line.get(start..pos).unwrap_or_default();
        if key.is_empty() {
            return Err(SyntaxError::Unexpected('='));
        }
        if multibyte && key.contains('\u{fffd}') {
            return Err(SyntaxError::InvalidKey);
        }
        if !equals {
            pairs.push((key, None));
            continue;
        }
        pos += 1;
        match bytes.get(pos) {
            None => pairs.push((key, None)),
            Some(&c) if c <= b' ' => pairs.push((key, None)),
            Some(b'"') => {
                let open = pos;
                let mut escaped = false;
                let mut has_escape = false;
                loop {
                    pos += 1;
                    match bytes.get(pos) {
                        None => return Err(SyntaxError::UnterminatedQuote),
                        Some(_) if escaped => escaped = false,
                        Some(b'\\') => (escaped, has_escape) = (true, true),
                        Some(b'"') => break,
                        Some(_) => {}
                    }
                }
                let inner = line.get(open + 1..pos).unwrap_or_default();
                pos += 1;
                let value = if has_escape {
                    Some(Cow::Owned(unquote(inner).ok_or(SyntaxError::InvalidQuote)?))
                } else {
                    (!inner.is_empty()).then_some(Cow::Borrowed(inner))
                };
                pairs.push((key, value));
            }
            Some(_) => {
                let value_start = pos;
                while let Some(&c) = bytes.get(pos) {
                    match c {
                        b'=' | b'"' => return Err(SyntaxError::Unexpected(char::from(c))),
                        c if c <= b' ' => break,
                        _ => pos += 1,
                    }
                }
                let value = line.get(value_start..pos).unwrap_or_default();
                pairs.push((key, Some(Cow::Borrowed(value))));
            }
        }
    }
}

/// go-logfmt's `unquoteBytes` (JSON escapes) of the text between the quotes; `None` when Go
/// rejects it (an unknown escape, a raw control character, a broken `\u`).
fn unquote(inner: &str) -> Option<String> {
    let bytes = inner.as_bytes();
    let mut out = String::with_capacity(inner.len());
    let mut at = 0;
    while let Some(&c) = bytes.get(at) {
        match c {
            b'\\' => {
                let escaped = *bytes.get(at + 1)?;
                at += 2;
                match escaped {
                    b'"' | b'\\' | b'/' | b'\'' => out.push(char::from(escaped)),
                    b'b' => out.push('\u{8}'),
                    b'f' => out.push('\u{c}'),
                    b'n' => out.push('\n'),
                    b'r' => out.push('\r'),
                    b't' => out.push('\t'),
                    b'u' => {
                        let unit = hex4(bytes.get(at..at + 4)?)?;
                        at += 4;
                        if (0xd800..0xe000).contains(&unit) {
                            // A valid surrogate pair is one rune; anything else is U+FFFD and
                            // the next escape is read on its own.
                            let low = bytes.get(at..at + 6).and_then(|next| match next {
                                [b'\\', b'u', digits @ ..] => hex4(digits),
                                _ => None,
                            });
                            match low.and_then(|low| combine_surrogates(unit, low)) {
                                Some(c) => {
                                    out.push(c);
                                    at += 6;
                                }
                                None => out.push('\u{fffd}'),
                            }
                        } else {
                            out.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                        }
                    }
                    _ => return None,
                }
            }
            b'"' => return None,
            c if c < b' ' => return None,
            _ => {
                let ch = inner.get(at..)?.chars().next()?;
                out.push(ch);
                at += ch.len_utf8();
            }
        }
    }
    Some(out)
}

fn hex4(digits: &[u8]) -> Option<u32> {
    let digits = std::str::from_utf8(digits).ok()?;
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

fn combine_surrogates(high: u32, low: u32) -> Option<char> {
    if (0xd800..0xdc00).contains(&high) && (0xdc00..0xe000).contains(&low) {
        char::from_u32(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00))
    } else {
        None
    }
}

/// A value as go-logfmt receives it: the two Go types it writes differently.
#[derive(Debug, Clone)]
enum Value<'a> {
    /// A Go `string`: the text `null` is written quoted.
    Text(Cow<'a, str>),
    /// A Go `[]byte` (parsed body values, bytes attributes): written as is, quoted when needed.
    Bytes(Cow<'a, [u8]>),
}

#[derive(Debug, Clone)]
struct Pair<'a> {
    key: String,
    /// Keys parsed from the body are Go `[]byte`s, which never compare equal to the `severity`
    /// string the exporter looks for to replace.
    key_is_string: bool,
    value: Value<'a>,
}

impl<'a> Pair<'a> {
    fn text(key: impl Into<String>, value: impl Into<Cow<'a, str>>) -> Self {
        Self {
            key: key.into(),
            key_is_string: true,
            value: Value::Text(value.into()),
        }
    }
}

/// The logfmt line of a record: body, then severity, attributes and resource attributes (those
/// the line keeps, in order).
pub(crate) fn logfmt_line(
    body: &AnyValue,
    severity_text: &str,
    attributes: &[(&str, &AnyValue)],
    resource: &[(&str, &AnyValue)],
    message_field: bool,
) -> Result<String, EncodeError> {
    let mut pairs = body_pairs(body, message_field);
    if !severity_text.is_empty() {
        let existing = pairs
            .iter_mut()
            .find(|p| p.key_is_string && p.key == "severity");
        match existing {
            Some(pair) => pair.value = Value::Text(severity_text.into()),
            None => pairs.push(Pair::text("severity", severity_text)),
        }
    }
    for (k, v) in attributes {
        flatten(format!("attribute_{k}"), v, &mut pairs);
    }
    for (k, v) in resource {
        flatten(format!("resource_{k}"), v, &mut pairs);
    }
    encode_pairs(&pairs)
}

fn body_pairs(body: &AnyValue, message_field: bool) -> Vec<Pair<'_>> {
    if message_field {
        return vec![Pair::text("msg", gofmt::as_string(body))];
    }
    match body {
        AnyValue::Str(text) => match decode_first_line(text) {
            Ok(parsed) => parsed
                .into_iter()
                .map(|(key, value)| Pair {
                    key: key.to_owned(),
                    key_is_string: false,
                    value: Value::Bytes(match value {
                        Some(Cow::Borrowed(v)) => Cow::Borrowed(v.as_bytes()),
                        Some(Cow::Owned(v)) => Cow::Owned(v.into_bytes()),
                        None => Cow::Borrowed(b""),
                    }),
                })
                .collect(),
            Err(_) => vec![Pair::text("msg", text.as_str())],
        },
        AnyValue::Map(_) => {
            let mut pairs = Vec::new();
            flatten(String::new(), body, &mut pairs);
            pairs
        }
        AnyValue::Array(_) => {
            let mut pairs = Vec::new();
            flatten("body".into(), body, &mut pairs);
            pairs
        }
        AnyValue::Bytes(b) => vec![Pair {
            key: "msg".into(),
            key_is_string: true,
            value: Value::Bytes(Cow::Borrowed(b)),
        }],
        AnyValue::Int(_) | AnyValue::Double(_) | AnyValue::Bool(_) => {
            vec![Pair::text("msg", scalar_text(body))]
        }
    }
}

/// Go's `fmt.Sprint` of a scalar, as go-logfmt writes non-string values.
fn scalar_text(v: &AnyValue) -> String {
    match v {
        AnyValue::Double(d) => gofmt::fmt_float_v(*d),
        other => gofmt::as_string(other),
    }
}

/// The old exporter's `valueToKeyvals`: scalars as one pair, maps and lists flattened with
/// `<key>_` prefixes (none for an empty key).
fn flatten<'a>(key: String, value: &'a AnyValue, pairs: &mut Vec<Pair<'a>>) {
    let prefix = |key: &str| {
        if key.is_empty() {
            String::new()
        } else {
            format!("{key}_")
        }
    };
    match value {
        AnyValue::Str(s) => pairs.push(Pair::text(key, s.as_str())),
        AnyValue::Map(map) => {
            let prefix = prefix(&key);
            for (k, v) in map.iter() {
                flatten(format!("{prefix}{k}"), v, pairs);
            }
        }
        AnyValue::Array(items) => {
            let prefix = prefix(&key);
            for (i, v) in items.iter().enumerate() {
                flatten(format!("{prefix}{i}"), v, pairs);
            }
        }
        AnyValue::Bytes(b) => pairs.push(Pair {
            key,
            key_is_string: true,
            value: Value::Bytes(Cow::Borrowed(b)),
        }),
        AnyValue::Int(_) | AnyValue::Double(_) | AnyValue::Bool(_) => {
            pairs.push(Pair::text(key, scalar_text(value)));
        }
    }
}

/// go-logfmt's `MarshalKeyvals`.
fn encode_pairs(pairs: &[Pair<'_>]) -> Result<String, EncodeError> {
    let mut out = String::new();
    for (i, pair) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let key: String = pair.key.chars().filter(|&c| !needs_quote(c)).collect();
        if key.is_empty() {
            return Err(EncodeError::InvalidKey(pair.key.clone()));
        }
        out.push_str(&key);
        out.push('=');
        match &pair.value {
            Value::Text(text) if text == "null" => out.push_str("\"null\""),
            Value::Text(text) => write_value(&mut out, text),
            Value::Bytes(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => write_value(&mut out, text),
                Err(_) => write_quoted_lossy(&mut out, bytes),
            },
        }
    }
    Ok(out)
}

/// Runes go-logfmt drops from keys and quotes values for (v0.6.0: DEL is neither).
fn needs_quote(c: char) -> bool {
    c <= ' ' || c == '=' || c == '"' || c == '\u{fffd}'
}

fn write_value(out: &mut String, text: &str) {
    if text.chars().any(needs_quote) {
        write_quoted(out, text);
    } else {
        out.push_str(text);
    }
}

/// go-logfmt's `writeQuotedString`: JSON-like escapes for `\`, `"`, `\n`, `\r`, `\t`, `\u00XX`
/// for other control bytes, `\ufffd` for U+FFFD; everything else raw.
fn write_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            '\u{fffd}' => out.push_str("\\ufffd"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `writeQuotedBytes` of bytes that are not UTF-8: each invalid byte becomes `\ufffd`.
fn write_quoted_lossy(out: &mut String, bytes: &[u8]) {
    let mut quoted = String::new();
    for chunk in bytes.utf8_chunks() {
        quoted.push_str(chunk.valid());
        for _ in chunk.invalid() {
            quoted.push('\u{fffd}');
        }
    }
    write_quoted(out, &quoted);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::record::Attributes;
    use proptest::prelude::*;

    fn parsed(text: &str) -> Result<Vec<(String, Option<String>)>, SyntaxError> {
        decode_first_line(text).map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.map(Cow::into_owned)))
                .collect()
        })
    }

    fn kv(k: &str, v: Option<&str>) -> (String, Option<String>) {
        (k.to_owned(), v.map(str::to_owned))
    }

    fn line(
        body: AnyValue,
        severity: &str,
        attrs: &[(&str, &AnyValue)],
        res: &[(&str, &AnyValue)],
    ) -> String {
        logfmt_line(&body, severity, attrs, res, false).unwrap()
    }

    #[test]
    fn decoder_reads_words_as_bare_keys() {
        assert_eq!(
            parsed("Example log").unwrap(),
            [kv("Example", None), kv("log", None)]
        );
        assert_eq!(
            parsed("  a=1 b= c=\"\" d=\"x y\"\tlast").unwrap(),
            [
                kv("a", Some("1")),
                kv("b", None),
                kv("c", None),
                kv("d", Some("x y")),
                kv("last", None)
            ]
        );
        assert_eq!(parsed("").unwrap(), []);
        assert_eq!(
            parsed("first=1\nsecond=2").unwrap(),
            [kv("first", Some("1"))]
        );
        assert_eq!(parsed("crlf=1\r\nx").unwrap(), [kv("crlf", Some("1"))]);
        assert_eq!(
            parsed("a=\"q\"b=c").unwrap(),
            [kv("a", Some("q")), kv("b", Some("c"))]
        );
        assert_eq!(
            parsed(r#"e="tab\tquote\"\u00e9\ud83d\ude00\ud800x""#).unwrap(),
            [kv("e", Some("tab\tquote\"é😀\u{fffd}x"))]
        );
    }

    #[test]
    fn decoder_errors_where_go_logfmt_does() {
        assert_eq!(parsed("say \"hi\""), Err(SyntaxError::Unexpected('"')));
        assert_eq!(parsed("=x"), Err(SyntaxError::Unexpected('=')));
        assert_eq!(parsed("a=b=c"), Err(SyntaxError::Unexpected('=')));
        assert_eq!(parsed("a=b\"c"), Err(SyntaxError::Unexpected('"')));
        assert_eq!(parsed("a=\"open"), Err(SyntaxError::UnterminatedQuote));
        assert_eq!(parsed(r#"a="\x""#), Err(SyntaxError::InvalidQuote));
        assert_eq!(parsed("a=\"\\n\tcontrol\""), Err(SyntaxError::InvalidQuote));
        assert_eq!(parsed("k\u{fffd}y=1"), Err(SyntaxError::InvalidKey));
        let long = "x".repeat(MAX_SCAN_LINE);
        assert_eq!(parsed(&long), Err(SyntaxError::TooLong));
        assert_eq!(parsed(&long[1..]).unwrap().len(), 1);
        assert_eq!(parsed(&format!("{}\nshort", &long[1..])).unwrap().len(), 1);
    }

    #[test]
    fn plain_words_become_bare_keys_and_parse_errors_become_msg() {
        let sev = AnyValue::from("x");
        assert_eq!(
            line("Example log".into(), "Normal", &[], &[]),
            "Example= log= severity=Normal"
        );
        assert_eq!(
            line(
                "Back-off restarting \"nginx\"".into(),
                "Warning",
                &[("k", &sev)],
                &[("r", &sev)]
            ),
            r#"msg="Back-off restarting \"nginx\"" severity=Warning attribute_k=x resource_r=x"#
        );
        // Parsed values are Go []byte: `null` is not quoted for them, but is for strings.
        let null = AnyValue::from("null");
        assert_eq!(
            line("v=null".into(), "", &[("n", &null)], &[]),
            r#"v=null attribute_n="null""#
        );
        assert_eq!(line("".into(), "", &[], &[]), "");
    }

    #[test]
    fn severity_is_appended_unless_a_map_body_has_it() {
        assert_eq!(
            line("severity=low".into(), "WARN", &[], &[]),
            "severity=low severity=WARN"
        );
        let body = AnyValue::Map([("severity", "low"), ("msg", "m")].into_iter().collect());
        assert_eq!(line(body, "WARN", &[], &[]), "severity=WARN msg=m");
    }

    #[test]
    fn values_are_quoted_and_flattened_like_go_logfmt() {
        let nested: Attributes = [
            ("a", AnyValue::Int(1)),
            (
                "b",
                AnyValue::Array(vec![true.into(), AnyValue::Double(1e6)]),
            ),
        ]
        .into_iter()
        .collect();
        let map = AnyValue::Map(nested);
        let spaced = AnyValue::from("two words");
        let empty = AnyValue::from("");
        let control = AnyValue::from("a\u{1}\u{7f}\u{fffd}\\");
        let bytes = AnyValue::Bytes(vec![b'o', b'k', 0xff]);
        assert_eq!(
            line(
                AnyValue::Array(vec!["x".into()]),
                "",
                &[("m", &map), ("s", &spaced), ("e", &empty)],
                &[("c", &control), ("b", &bytes)]
            ),
            "body_0=x attribute_m_a=1 attribute_m_b_0=true attribute_m_b_1=1e+06 attribute_s=\"two words\" attribute_e= resource_c=\"a\\u0001\u{7f}\\ufffd\\\\\" resource_b=\"ok\\ufffd\""
        );
        assert_eq!(line(AnyValue::Double(0.5), "", &[], &[]), "msg=0.5");
        // Keys lose the characters logfmt keys cannot hold.
        let v = AnyValue::from("v");
        assert_eq!(
            line("".into(), "", &[("a b=\"c", &v)], &[]),
            "attribute_abc=v"
        );
    }

    #[test]
    fn an_empty_key_drops_the_line() {
        let body = AnyValue::Map([(" ", "x")].into_iter().collect());
        assert_eq!(
            logfmt_line(&body, "", &[], &[], false),
            Err(EncodeError::InvalidKey(" ".into()))
        );
    }

    #[test]
    fn message_field_option_writes_the_whole_body() {
        let body = AnyValue::from("Example log\nsecond line");
        assert_eq!(
            logfmt_line(&body, "Normal", &[], &[], true).unwrap(),
            r#"msg="Example log\nsecond line" severity=Normal"#
        );
    }

    proptest! {
        #[test]
        fn decoder_and_encoder_never_panic(text in "\\PC{0,40}|[a-z=\" \\\\]{0,40}") {
            let _ = decode_first_line(&text);
            let body = AnyValue::from(text.as_str());
            let _ = logfmt_line(&body, &text, &[(text.as_str(), &body)], &[], false);
        }
    }
}
