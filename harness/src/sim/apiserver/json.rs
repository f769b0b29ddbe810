//! JSON written the way the Go API server writes it: fields in the Go structs' order and
//! `<`, `>`, `&` escaped as `\u003c`, `\u003e`, `\u0026`.
//!
//! serde_json's maps are sorted by key, so a watch line would start `{"object":...` where the
//! real server sends `{"type":...`; a client that leans on the real order must meet it here.

use serde_json::Value;

/// Which Go struct a JSON object stands for: decides the order of its known fields. Unknown
/// fields follow in key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Any,
    CoreEvent,
    EventsV1Event,
    ObjectMeta,
    ManagedFields,
    ObjectReference,
    EventSource,
    EventSeries,
    Lease,
    LeaseSpec,
    Status,
    StatusDetails,
    StatusCause,
    ListMeta,
}

use Shape::*;

/// The known fields of a shape, in Go order, with the shape of each value (array elements take
/// the array's shape).
fn fields(shape: Shape) -> &'static [(&'static str, Shape)] {
    match shape {
        Any => &[],
        CoreEvent => &[
            ("kind", Any),
            ("apiVersion", Any),
            ("metadata", ObjectMeta),
            ("involvedObject", ObjectReference),
            ("reason", Any),
            ("message", Any),
            ("source", EventSource),
            ("firstTimestamp", Any),
            ("lastTimestamp", Any),
            ("count", Any),
            ("type", Any),
            ("eventTime", Any),
            ("series", EventSeries),
            ("action", Any),
            ("related", ObjectReference),
            ("reportingComponent", Any),
            ("reportingInstance", Any),
        ],
        EventsV1Event => &[
            ("kind", Any),
            ("apiVersion", Any),
            ("metadata", ObjectMeta),
            ("eventTime", Any),
            ("series", EventSeries),
            ("reportingController", Any),
            ("reportingInstance", Any),
            ("action", Any),
            ("reason", Any),
            ("regarding", ObjectReference),
            ("related", ObjectReference),
            ("note", Any),
            ("type", Any),
            ("deprecatedSource", EventSource),
            ("deprecatedFirstTimestamp", Any),
            ("deprecatedLastTimestamp", Any),
            ("deprecatedCount", Any),
        ],
        ObjectMeta => &[
            ("name", Any),
            ("generateName", Any),
            ("namespace", Any),
            ("selfLink", Any),
            ("uid", Any),
            ("resourceVersion", Any),
            ("generation", Any),
            ("creationTimestamp", Any),
            ("deletionTimestamp", Any),
            ("deletionGracePeriodSeconds", Any),
            ("labels", Any),
            ("annotations", Any),
            ("ownerReferences", Any),
            ("finalizers", Any),
            ("managedFields", ManagedFields),
        ],
        ManagedFields => &[
            ("manager", Any),
            ("operation", Any),
            ("apiVersion", Any),
            ("time", Any),
            ("fieldsType", Any),
            ("fieldsV1", Any),
            ("subresource", Any),
        ],
        ObjectReference => &[
            ("kind", Any),
            ("namespace", Any),
            ("name", Any),
            ("uid", Any),
            ("apiVersion", Any),
            ("resourceVersion", Any),
            ("fieldPath", Any),
        ],
        EventSource => &[("component", Any), ("host", Any)],
        EventSeries => &[("count", Any), ("lastObservedTime", Any)],
        Lease => &[
            ("kind", Any),
            ("apiVersion", Any),
            ("metadata", ObjectMeta),
            ("spec", LeaseSpec),
        ],
        LeaseSpec => &[
            ("holderIdentity", Any),
            ("leaseDurationSeconds", Any),
            ("acquireTime", Any),
            ("renewTime", Any),
            ("leaseTransitions", Any),
            ("strategy", Any),
            ("preferredHolder", Any),
        ],
        Status => &[
            ("kind", Any),
            ("apiVersion", Any),
            ("metadata", ListMeta),
            ("status", Any),
            ("message", Any),
            ("reason", Any),
            ("details", StatusDetails),
            ("code", Any),
        ],
        StatusDetails => &[
            ("name", Any),
            ("group", Any),
            ("kind", Any),
            ("uid", Any),
            ("causes", StatusCause),
            ("retryAfterSeconds", Any),
        ],
        StatusCause => &[("reason", Any), ("message", Any), ("field", Any)],
        ListMeta => &[
            ("selfLink", Any),
            ("resourceVersion", Any),
            ("continue", Any),
            ("remainingItemCount", Any),
        ],
    }
}

/// `value` as the Go server would write it for `shape`.
pub(super) fn to_string(value: &Value, shape: Shape) -> String {
    let mut out = String::new();
    write(&mut out, value, shape);
    out
}

/// Appends `value` to `out` as the Go server would write it for `shape`.
pub(super) fn write(out: &mut String, value: &Value, shape: Shape) {
    match value {
        Value::Object(map) => {
            out.push('{');
            let known = fields(shape);
            let mut first = true;
            let mut field = |out: &mut String, key: &str, value: &Value, shape: Shape| {
                if !first {
                    out.push(',');
                }
                first = false;
                write_str(out, key);
                out.push(':');
                write(out, value, shape);
            };
            for (key, shape) in known {
                if let Some(value) = map.get(*key) {
                    field(out, key, value, *shape);
                }
            }
            for (key, value) in map {
                if !known.iter().any(|(k, _)| k == key) {
                    field(out, key, value, Any);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, item, shape);
            }
            out.push(']');
        }
        Value::String(s) => write_str(out, s),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

/// A `<Kind>List` body: `{"kind":..,"apiVersion":..,"metadata":{ListMeta},"items":[..]}`.
pub(super) fn list_body<'a>(
    kind: &str,
    api_version: &str,
    metadata: &Value,
    items: impl IntoIterator<Item = &'a Value>,
    item_shape: Shape,
) -> String {
    let mut out = String::from("{\"kind\":");
    write_str(&mut out, kind);
    out.push_str(",\"apiVersion\":");
    write_str(&mut out, api_version);
    out.push_str(",\"metadata\":");
    write(&mut out, metadata, ListMeta);
    out.push_str(",\"items\":[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write(&mut out, item, item_shape);
    }
    out.push_str("]}");
    out
}

/// A JSON string as Go's encoding/json escapes it (HTML-safe).
pub(super) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_order_and_escapes() {
        let status = json!({"code": 403, "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": "a <b> & c\u{0}", "reason": "Forbidden",
            "details": {"kind": "events"}, "extra": true});
        assert_eq!(
            to_string(&status, Shape::Status),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"a \u003cb\u003e \u0026 c\u0000","reason":"Forbidden","details":{"kind":"events"},"code":403,"extra":true}"#
        );
    }

    #[test]
    fn arrays_take_the_shape_of_their_elements() {
        let meta = json!({"managedFields": [{"time": "t", "manager": "m"}], "name": "n"});
        assert_eq!(
            to_string(&meta, Shape::ObjectMeta),
            r#"{"name":"n","managedFields":[{"manager":"m","time":"t"}]}"#
        );
    }
}
