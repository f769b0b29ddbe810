//! The log record that flows receiver -> processors -> exporter: one per event occurrence.
//!
//! Shaped like an OpenTelemetry log record (resource attributes, log attributes, severity, body,
//! timestamps) because the config users bring names attributes the OpenTelemetry way. Attribute
//! maps keep insertion order: the old Loki exporter's logfmt lines and the receiver's attribute
//! order are part of the output users' queries depend on.

use std::borrow::Cow;
use std::fmt;

use crate::gofmt;

/// A typed attribute value, as in OpenTelemetry's `AnyValue`.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyValue {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Bytes(Vec<u8>),
    Array(Vec<AnyValue>),
    Map(Attributes),
}

impl AnyValue {
    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AnyValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value's text as the OpenTelemetry Collector renders it, pcommon's `Value.AsString`:
    /// ints in decimal, bools as `true`/`false`, doubles in Go's JSON number form, maps and
    /// arrays as Go JSON (keys sorted), bytes as base64. The one implementation is
    /// `gofmt::as_string`.
    pub fn to_display_string(&self) -> String {
        gofmt::as_string(self)
    }
}

impl From<&str> for AnyValue {
    fn from(s: &str) -> Self {
        AnyValue::Str(s.to_owned())
    }
}

impl From<String> for AnyValue {
    fn from(s: String) -> Self {
        AnyValue::Str(s)
    }
}

impl From<i64> for AnyValue {
    fn from(i: i64) -> Self {
        AnyValue::Int(i)
    }
}

impl From<bool> for AnyValue {
    fn from(b: bool) -> Self {
        AnyValue::Bool(b)
    }
}

impl fmt::Display for AnyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_display_string())
    }
}

/// An ordered map of attributes: keys are unique, insertion order is kept.
///
/// Event records carry about a dozen attributes, so a vector with linear look-up is both
/// smaller and faster than a hash map here, and it keeps the order the output depends on.
/// Keys the code names (the receiver's `k8s.*`) are kept as `&'static str`, not copied into
/// every record; keys from config or data are owned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(Vec<Entry>);

impl Attributes {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&AnyValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut AnyValue> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// Sets `key` to `value`: in place when the key exists (its position is kept), appended
    /// otherwise. This is OpenTelemetry's `PutStr`/`upsert`.
    pub fn upsert(&mut self, key: impl Into<String>, value: impl Into<AnyValue>) {
        let key = key.into();
        let value = value.into();
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.0.push((Cow::Owned(key), value)),
        }
    }

    /// Adds `key` only when absent; returns whether it was added.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<AnyValue>) -> bool {
        let key = key.into();
        if self.contains_key(&key) {
            return false;
        }
        self.0.push((Cow::Owned(key), value.into()));
        true
    }

    /// Appends without checking for an existing key. For producers that build a record from
    /// scratch with known-distinct keys (the receiver's mapping), where the check is waste.
    pub fn push_unique(&mut self, key: &'static str, value: impl Into<AnyValue>) {
        debug_assert!(!self.contains_key(key), "duplicate attribute {key}");
        self.0.push((Cow::Borrowed(key), value.into()));
    }

    /// Removes `key`, keeping the order of the rest; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<AnyValue> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(at).1)
    }

    /// Removes `key` the way OpenTelemetry's `pcommon.Map.Remove` does: the last entry moves
    /// into the freed slot. Returns its value.
    pub fn swap_remove(&mut self, key: &str) -> Option<AnyValue> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.swap_remove(at).1)
    }

    /// Keeps only the attributes for which `keep` returns true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &AnyValue) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &AnyValue)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&str, &mut AnyValue)> {
        self.0.iter_mut().map(|(k, v)| (&**k, v))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.iter().map(|(k, _)| &**k)
    }
}

impl<K: Into<String>, V: Into<AnyValue>> FromIterator<(K, V)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut attrs = Attributes::new();
        for (k, v) in iter {
            attrs.upsert(k, v);
        }
        attrs
    }
}

type Entry = (Cow<'static, str>, AnyValue);

impl IntoIterator for Attributes {
    type Item = (String, AnyValue);
    type IntoIter = std::iter::Map<std::vec::IntoIter<Entry>, fn(Entry) -> (String, AnyValue)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter().map(|(k, v)| (k.into_owned(), v))
    }
}

/// OpenTelemetry severity number (1-24) plus the text the source gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SeverityNumber(pub u8);

impl SeverityNumber {
    pub const UNSPECIFIED: Self = Self(0);
    pub const DEBUG: Self = Self(5);
    pub const INFO: Self = Self(9);
    pub const WARN: Self = Self(13);
    pub const ERROR: Self = Self(17);
    pub const FATAL: Self = Self(21);

    /// The severity number's name as OpenTelemetry's `SeverityNumber.String()` gives it:
    /// `TRACE`, `TRACE2`..`FATAL4`; `UNSPECIFIED` for 0 and anything out of range.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 25] = [
            "UNSPECIFIED",
            "TRACE",
            "TRACE2",
            "TRACE3",
            "TRACE4",
            "DEBUG",
            "DEBUG2",
            "DEBUG3",
            "DEBUG4",
            "INFO",
            "INFO2",
            "INFO3",
            "INFO4",
            "WARN",
            "WARN2",
            "WARN3",
            "WARN4",
            "ERROR",
            "ERROR2",
            "ERROR3",
            "ERROR4",
            "FATAL",
            "FATAL2",
            "FATAL3",
            "FATAL4",
        ];
        NAMES
            .get(usize::from(self.0))
            .copied()
            .unwrap_or("UNSPECIFIED")
    }
}

/// One log record: an event occurrence after mapping, as processors and exporters see it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogRecord {
    /// When the occurrence happened, in nanoseconds since the Unix epoch.
    pub timestamp_unix_nano: Option<i64>,
    /// When the collector saw it, in nanoseconds since the Unix epoch.
    pub observed_unix_nano: Option<i64>,
    pub severity_number: SeverityNumber,
    pub severity_text: String,
    /// The event message. Always a string for Kubernetes events (an empty message stays "").
    pub body: AnyValue,
    /// Log record attributes (`k8s.event.*`, `k8s.namespace.name`).
    pub attributes: Attributes,
    /// Resource attributes (`k8s.node.name`, `k8s.object.*`, plus what processors add).
    pub resource: Attributes,
}

impl Default for AnyValue {
    fn default() -> Self {
        AnyValue::Str(String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_keeps_position_and_insert_keeps_first_value() {
        let mut a = Attributes::new();
        a.upsert("a", "1");
        a.upsert("b", "2");
        a.upsert("a", "3");
        assert!(!a.insert("b", "4"));
        assert!(a.insert("c", 5));
        let got: Vec<_> = a.iter().map(|(k, v)| (k, v.to_display_string())).collect();
        assert_eq!(
            got,
            [("a", "3".into()), ("b", "2".into()), ("c", "5".into())]
        );
    }

    #[test]
    fn remove_keeps_order_of_the_rest() {
        let mut a: Attributes = [("x", 1), ("y", 2), ("z", 3)].into_iter().collect();
        assert_eq!(a.remove("y"), Some(AnyValue::Int(2)));
        assert_eq!(a.keys().collect::<Vec<_>>(), ["x", "z"]);
        assert_eq!(a.remove("nope"), None);
    }

    #[test]
    fn severity_names_follow_opentelemetry() {
        assert_eq!(SeverityNumber::INFO.name(), "INFO");
        assert_eq!(SeverityNumber::WARN.name(), "WARN");
        assert_eq!(SeverityNumber(8).name(), "DEBUG4");
        assert_eq!(SeverityNumber(24).name(), "FATAL4");
        assert_eq!(SeverityNumber(0).name(), "UNSPECIFIED");
        assert_eq!(SeverityNumber(99).name(), "UNSPECIFIED");
    }

    #[test]
    fn display_strings_match_go() {
        assert_eq!(AnyValue::Double(1.5).to_display_string(), "1.5");
        assert_eq!(AnyValue::Double(3.0).to_display_string(), "3");
        assert_eq!(AnyValue::Double(1e21).to_display_string(), "1e+21");
        assert_eq!(AnyValue::Double(1e-7).to_display_string(), "1e-7");
        assert_eq!(AnyValue::Bytes(b"hi!".to_vec()).to_display_string(), "aGkh");
        assert_eq!(AnyValue::Bytes(b"h".to_vec()).to_display_string(), "aA==");
        assert_eq!(
            AnyValue::Array(vec![AnyValue::Int(1), "a".into()]).to_display_string(),
            r#"[1,"a"]"#
        );
    }
}
