//! Loki's JSON push body, `{"streams":[{"stream":{..},"values":[["<unix ns>","line"]]}]}`,
//! with structured metadata as an optional third element of a value (`{"name":"value"}`).
//!
//! Decoding gives the same [`PushRequest`] as the protobuf decoder (the `stream` map turned
//! into the labels string), so the harness reads both bodies one way.

use serde_json::Value;

use super::labels::LabelSet;
use super::proto::{
    DecodeError, EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp,
};
use super::streams::TenantPush;
use crate::gofmt;

/// The `Content-Type` of a JSON push.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// The JSON push body of one tenant's streams.
pub fn encode_json(push: &TenantPush) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str("{\"streams\":[");
    for (i, stream) in push.streams.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"stream\":{");
        for (j, (name, value)) in stream.labels.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            gofmt::write_json_string(&mut out, name);
            out.push(':');
            gofmt::write_json_string(&mut out, value);
        }
        out.push_str("},\"values\":[");
        for (j, entry) in stream.entries.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str("[\"");
            out.push_str(&entry.timestamp_unix_nano.to_string());
            out.push_str("\",");
            gofmt::write_json_string(&mut out, &entry.line);
            if !entry.structured_metadata.is_empty() {
                out.push_str(",{");
                for (k, (name, value)) in entry.structured_metadata.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    gofmt::write_json_string(&mut out, name);
                    out.push(':');
                    gofmt::write_json_string(&mut out, value);
                }
                out.push('}');
            }
            out.push(']');
        }
        out.push_str("]}");
    }
    out.push_str("]}");
    out.into_bytes()
}

/// Reads a JSON push body back.
pub fn decode_json(body: &[u8]) -> Result<PushRequest, DecodeError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string()))?;
    let streams = field(&root, "streams")?
        .as_array()
        .ok_or_else(|| shape("\"streams\" is not an array"))?;
    let streams = streams
        .iter()
        .map(decode_stream)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PushRequest { streams })
}

fn decode_stream(stream: &Value) -> Result<StreamAdapter, DecodeError> {
    let labels = string_map(field(stream, "stream")?, "stream")?;
    let values = field(stream, "values")?
        .as_array()
        .ok_or_else(|| shape("\"values\" is not an array"))?;
    let entries = values
        .iter()
        .map(decode_value)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StreamAdapter {
        labels: LabelSet::from_pairs(labels).to_string(),
        entries,
        hash: 0,
    })
}

fn decode_value(value: &Value) -> Result<EntryAdapter, DecodeError> {
    let parts = value
        .as_array()
        .ok_or_else(|| shape("a value is not an array"))?;
    let (timestamp, line, metadata) = match parts.as_slice() {
        [t, l] => (t, l, None),
        [t, l, m] => (t, l, Some(m)),
        _ => return Err(shape("a value does not have 2 or 3 elements")),
    };
    let unix_nano: i64 = timestamp
        .as_str()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| shape("a timestamp is not a string of Unix nanoseconds"))?;
    let line = line
        .as_str()
        .ok_or_else(|| shape("a line is not a string"))?;
    let structured_metadata = match metadata {
        Some(m) => string_map(m, "structured metadata")?
            .into_iter()
            .map(|(name, value)| LabelPairAdapter { name, value })
            .collect(),
        None => Vec::new(),
    };
    Ok(EntryAdapter {
        timestamp: Some(Timestamp::from_unix_nano(unix_nano)),
        line: line.to_owned(),
        structured_metadata,
    })
}

fn field<'a>(object: &'a Value, name: &str) -> Result<&'a Value, DecodeError> {
    object
        .get(name)
        .ok_or_else(|| DecodeError::Json(format!("missing \"{name}\"")))
}

/// A JSON object of strings, in the order serde_json keeps them.
fn string_map(value: &Value, what: &str) -> Result<Vec<(String, String)>, DecodeError> {
    let object = value
        .as_object()
        .ok_or_else(|| DecodeError::Json(format!("{what} is not an object")))?;
    object
        .iter()
        .map(|(k, v)| match v.as_str() {
            Some(v) => Ok((k.clone(), v.to_owned())),
            None => Err(DecodeError::Json(format!(
                "{what} value of {k:?} is not a string"
            ))),
        })
        .collect()
}

fn shape(what: &str) -> DecodeError {
    DecodeError::Json(what.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::exporter::loki::proto::{tests::arb_push, to_push_request};
    use crate::exporter::loki::streams::{Entry, Stream};
    use proptest::prelude::*;

    #[test]
    fn body_has_lokis_shape() {
        let labels = LabelSet::from_pairs([
            ("job".to_owned(), "a<b".to_owned()),
            ("app".to_owned(), "x".to_owned()),
        ]);
        let push = TenantPush {
            tenant: Some("t".into()),
            streams: vec![Stream {
                labels_string: labels.to_string(),
                labels,
                entries: vec![
                    Entry {
                        timestamp_unix_nano: 1_714_557_600_000_000_001,
                        line: "l1".into(),
                        structured_metadata: vec![],
                        record_index: 0,
                    },
                    Entry {
                        timestamp_unix_nano: -5,
                        line: "l\"2".into(),
                        structured_metadata: vec![("trace_id".into(), "abc".into())],
                        record_index: 1,
                    },
                ],
            }],
        };
        let body = String::from_utf8(encode_json(&push)).unwrap();
        assert_eq!(
            body,
            concat!(
                r#"{"streams":[{"stream":{"app":"x","job":"a\u003cb"},"values":["#,
                r#"["1714557600000000001","l1"],["-5","l\"2",{"trace_id":"abc"}]]}]}"#
            )
        );
        assert_eq!(
            decode_json(body.as_bytes()).unwrap(),
            to_push_request(&push)
        );
        let empty = TenantPush {
            tenant: None,
            streams: vec![],
        };
        assert_eq!(encode_json(&empty), br#"{"streams":[]}"#);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for body in [
            &b"not json"[..],
            br#"{}"#,
            br#"{"streams":{}}"#,
            br#"{"streams":[{"stream":{"a":1},"values":[]}]}"#,
            br#"{"streams":[{"stream":{},"values":[[1,"x"]]}]}"#,
            br#"{"streams":[{"stream":{},"values":[["1"]]}]}"#,
            br#"{"streams":[{"stream":{},"values":[["1","x",{"k":2}]]}]}"#,
            br#"{"streams":[{"stream":{},"values":[["99999999999999999999","x"]]}]}"#,
        ] {
            assert!(
                decode_json(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    proptest! {
        #[test]
        fn json_round_trips(push in arb_push()) {
            let decoded = decode_json(&encode_json(&push)).unwrap();
            prop_assert_eq!(decoded, to_push_request(&push));
        }

        #[test]
        fn decoding_arbitrary_text_never_panics(text in "\\PC{0,64}|[\\[\\]{}\":,0-9a-z]{0,64}") {
            let _ = decode_json(text.as_bytes());
        }
    }
}
