//! Typed deserialization of a located YAML [`Node`] that keeps where every error happened.
//!
//! Config structs derive `serde::Deserialize` as usual; this deserializer attaches to any error
//! the position of the innermost node that failed and the key path to it
//! (`exporters.loki.tls.insecure_skip_verify`), and turns serde's unknown-key and
//! unknown-variant errors into "did you mean" suggestions.

use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::suggest::closest;
use super::yaml::{Mark, Node, NodeValue, Resolved, ScalarKind};

/// A deserialization error with the position and key path where it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub mark: Option<Mark>,
    /// Path segments, outermost first: keys, and `[i]` for list items.
    pub path: Vec<String>,
    pub message: String,
    pub help: Option<String>,
}

impl DeError {
    pub fn new(message: impl Into<String>) -> Self {
        DeError {
            mark: None,
            path: Vec::new(),
            message: message.into(),
            help: None,
        }
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the position unless an inner node already did.
    #[must_use]
    fn at(mut self, mark: Mark) -> Self {
        self.mark.get_or_insert(mark);
        self
    }

    /// Prefixes the path with the segment of the enclosing map or list.
    #[must_use]
    fn under(mut self, segment: String) -> Self {
        self.path.insert(0, segment);
        self
    }

    /// The key path as users write it: `a.b[0].c`.
    pub fn dotted_path(&self) -> String {
        join_path(&self.path)
    }
}

/// Joins path segments: keys with dots, list indexes (`[0]`) attached.
pub fn join_path(segments: &[String]) -> String {
    let mut out = String::new();
    for segment in segments {
        if !out.is_empty() && !segment.starts_with('[') {
            out.push('.');
        }
        out.push_str(segment);
    }
    out
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(msg.to_string())
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let help = match closest(field, expected.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None if expected.is_empty() => "this section takes no keys".to_owned(),
            None => format!("known keys: {}", expected.join(", ")),
        };
        DeError::new(format!("unknown key `{field}`")).with_help(help)
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let help = match closest(variant, expected.iter().copied()) {
            Some(near) => format!("did you mean `{near}`? (one of: {})", expected.join(", ")),
            None => format!("one of: {}", expected.join(", ")),
        };
        DeError::new(format!("unknown value `{variant}`")).with_help(help)
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(format!("missing required key `{field}`"))
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(format!("expected {exp}, found {unexp}"))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(format!("invalid value {unexp}: expected {exp}"))
    }
}

/// Deserializes `T` from a node; errors carry position and path relative to that node.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, DeError> {
    T::deserialize(NodeDeserializer(node))
}

/// A serde deserializer over one located node.
#[derive(Debug, Clone, Copy)]
pub struct NodeDeserializer<'a>(pub &'a Node);

impl<'a> NodeDeserializer<'a> {
    fn mismatch(self, expected: &str) -> DeError {
        let expanded = matches!(
            self.0.value,
            NodeValue::Scalar {
                kind: ScalarKind::Expanded,
                ..
            }
        );
        let found = match self.0.resolve() {
            // An expanded value may be a secret: never echo it.
            Some(Resolved::Str(_)) if expanded => {
                "a string from an environment variable".to_owned()
            }
            Some(Resolved::Str(s)) if s.chars().count() <= 40 => format!("the string \"{s}\""),
            _ => self.0.describe().to_owned(),
        };
        DeError::new(format!("expected {expected}, found {found}")).at(self.0.mark)
    }

    fn text(self) -> Option<&'a str> {
        self.0.as_str()
    }

    fn parse_number<T: std::str::FromStr>(self, expected: &str) -> Result<T, DeError> {
        let text = self.text().ok_or_else(|| self.mismatch(expected))?;
        let text = text.trim();
        // Accept what YAML would type as a whole number even when written as 0x.. or +1.
        if let Some(Resolved::Int(i)) = Some(super::yaml::resolve_plain(text))
            && let Ok(v) = i.to_string().parse()
        {
            return Ok(v);
        }
        text.parse().map_err(|_| self.mismatch(expected))
    }

    fn visit_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.0.value {
            NodeValue::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                value: None,
            }),
            _ if self.0.is_null() => visitor.visit_map(MapAccess {
                entries: [].iter(),
                value: None,
            }),
            _ => Err(self.mismatch("a map of keys and values")),
        }
    }
}

macro_rules! deserialize_int {
    ($($method:ident => $ty:ty, $visit:ident;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            let v: $ty = self.parse_number("a whole number")?;
            visitor.$visit(v).map_err(|e: DeError| e.at(self.0.mark))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.0.value {
            NodeValue::Map(_) => return self.visit_map(visitor),
            NodeValue::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter().enumerate(),
            }),
            NodeValue::Scalar { .. } => match self.0.resolve() {
                Some(Resolved::Null) | None => visitor.visit_unit(),
                Some(Resolved::Bool(b)) => visitor.visit_bool(b),
                Some(Resolved::Int(i)) => visitor.visit_i64(i),
                Some(Resolved::Float(f)) => visitor.visit_f64(f),
                Some(Resolved::Str(s)) => visitor.visit_str(s),
            },
        };
        result.map_err(|e: DeError| e.at(self.0.mark))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let value = match self.text().map(str::trim) {
            Some("true" | "True" | "TRUE") => true,
            Some("false" | "False" | "FALSE") => false,
            _ => return Err(self.mismatch("true or false")),
        };
        visitor
            .visit_bool(value)
            .map_err(|e: DeError| e.at(self.0.mark))
    }

    deserialize_int! {
        deserialize_i8 => i8, visit_i8;
        deserialize_i16 => i16, visit_i16;
        deserialize_i32 => i32, visit_i32;
        deserialize_i64 => i64, visit_i64;
        deserialize_u8 => u8, visit_u8;
        deserialize_u16 => u16, visit_u16;
        deserialize_u32 => u32, visit_u32;
        deserialize_u64 => u64, visit_u64;
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let v: f64 = self.parse_number("a number")?;
        visitor.visit_f64(v).map_err(|e: DeError| e.at(self.0.mark))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // Any scalar reads as its text: `password: 12345` is a password, not a number.
        match &self.0.value {
            NodeValue::Scalar { text, .. } if !self.0.is_null() => visitor
                .visit_str(text)
                .map_err(|e: DeError| e.at(self.0.mark)),
            _ => Err(self.mismatch("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.0.is_null() {
            visitor.visit_unit()
        } else {
            Err(self.mismatch("nothing"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor
            .visit_newtype_struct(self)
            .map_err(|e: DeError| e.at(self.0.mark))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.0.value {
            NodeValue::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter().enumerate(),
            }),
            _ if self.0.is_null() => visitor.visit_seq(SeqAccess {
                items: [].iter().enumerate(),
            }),
            _ => return Err(self.mismatch("a list")),
        };
        result.map_err(|e: DeError| e.at(self.0.mark))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.visit_map(visitor)
            .map_err(|e: DeError| e.at(self.0.mark))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.0.value {
            NodeValue::Scalar { text, .. } if !self.0.is_null() => visitor
                .visit_enum(text.as_str().into_deserializer())
                .map_err(|e: DeError| e.at(self.0.mark)),
            _ => Err(self.mismatch("one of the listed values")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct MapAccess<'a> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    value: Option<(&'a Node, &'a Node)>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((key, value));
        seed.deserialize(NodeDeserializer(key))
            .map(Some)
            .map_err(|e| e.at(key.mark).under(key_text(key)))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((key, value)) = self.value.take() else {
            return Err(DeError::new("a value was asked for before its key"));
        };
        seed.deserialize(NodeDeserializer(value))
            .map_err(|e| e.at(value.mark).under(key_text(key)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

fn key_text(key: &Node) -> String {
    key.as_str().unwrap_or("<key>").to_owned()
}

struct SeqAccess<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((index, item)) = self.items.next() else {
            return Ok(None);
        };
        seed.deserialize(NodeDeserializer(item))
            .map(Some)
            .map_err(|e| e.at(item.mark).under(format!("[{index}]")))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::yaml::parse;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Tls {
        #[serde(default)]
        insecure: bool,
        #[serde(default)]
        insecure_skip_verify: bool,
        ca_file: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Exporter {
        endpoint: String,
        #[serde(default)]
        tls: Option<Tls>,
        #[serde(default)]
        queue_size: u32,
        #[serde(default)]
        mode: Option<Mode>,
        #[serde(default)]
        list: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Json,
        Logfmt,
    }

    fn de(src: &str) -> Result<Exporter, DeError> {
        from_node(&parse(src).unwrap().unwrap())
    }

    #[test]
    fn reads_typed_values() {
        let e = de(
            "endpoint: http://x\ntls: {insecure: true}\nqueue_size: 10\nmode: logfmt\nlist: [a, 1]",
        )
        .unwrap();
        assert_eq!(e.endpoint, "http://x");
        assert!(e.tls.unwrap().insecure);
        assert_eq!(e.queue_size, 10);
        assert_eq!(e.mode, Some(Mode::Logfmt));
        assert_eq!(e.list, ["a", "1"]);
    }

    #[test]
    fn unknown_key_names_path_position_and_suggestion() {
        let err = de("endpoint: x\ntls:\n  insecure_skp_verify: true\n").unwrap_err();
        assert_eq!(err.dotted_path(), "tls.insecure_skp_verify");
        assert_eq!(err.mark, Some(Mark { line: 3, column: 3 }));
        assert_eq!(err.message, "unknown key `insecure_skp_verify`");
        assert_eq!(
            err.help.as_deref(),
            Some("did you mean `insecure_skip_verify`?")
        );
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let err = de("endpoint: x\ntls:\n  insecure: maybe\n").unwrap_err();
        assert_eq!(err.dotted_path(), "tls.insecure");
        assert_eq!(
            err.mark,
            Some(Mark {
                line: 3,
                column: 13
            })
        );
        assert_eq!(
            err.message,
            "expected true or false, found the string \"maybe\""
        );
        let err = de("endpoint: x\nqueue_size: lots\n").unwrap_err();
        assert_eq!(
            err.message,
            "expected a whole number, found the string \"lots\""
        );
    }

    #[test]
    fn list_items_are_indexed_in_the_path() {
        let err = de("endpoint: x\nlist: [a, {b: c}]\n").unwrap_err();
        assert_eq!(err.dotted_path(), "list[1]");
        assert_eq!(
            err.mark,
            Some(Mark {
                line: 2,
                column: 11
            })
        );
    }

    #[test]
    fn missing_key_points_at_the_map() {
        let err = de("tls: {}\n").unwrap_err();
        assert_eq!(err.message, "missing required key `endpoint`");
        assert_eq!(err.mark, Some(Mark { line: 1, column: 1 }));
    }

    #[test]
    fn unknown_enum_value_suggests() {
        let err = de("endpoint: x\nmode: jsn\n").unwrap_err();
        assert_eq!(err.dotted_path(), "mode");
        assert_eq!(err.message, "unknown value `jsn`");
        assert_eq!(
            err.help.as_deref(),
            Some("did you mean `json`? (one of: json, logfmt)")
        );
    }

    #[test]
    fn null_sections_read_as_empty() {
        let e = de("endpoint: x\ntls:\nlist:\n").unwrap();
        assert_eq!(e.tls, None);
        assert!(e.list.is_empty());
    }
}
