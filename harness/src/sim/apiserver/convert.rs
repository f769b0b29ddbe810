//! The two views of one stored Event: core/v1 as stored, and events.k8s.io/v1 converted from it
//! with the real server's field mapping (`message` -> `note`, `involvedObject` -> `regarding`,
//! `count` -> `deprecatedCount`, ...) and the same always-present and omitted-when-empty fields.

use serde_json::{Map, Value};

use super::json::Shape;
use super::status::Resource;

/// Which Events API a request or an object speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Api {
    /// `/api/v1`, group `""`.
    Core,
    /// `/apis/events.k8s.io/v1`.
    EventsV1,
}

impl Api {
    pub fn api_version(self) -> &'static str {
        match self {
            Api::Core => "v1",
            Api::EventsV1 => "events.k8s.io/v1",
        }
    }

    pub fn resource(self) -> Resource {
        Resource {
            resource: "events",
            group: match self {
                Api::Core => "",
                Api::EventsV1 => "events.k8s.io",
            },
        }
    }

    pub fn shape(self) -> Shape {
        match self {
            Api::Core => Shape::CoreEvent,
            Api::EventsV1 => Shape::EventsV1Event,
        }
    }

    /// The API an object is written for, by its `apiVersion` (core when absent).
    pub fn of(object: &Map<String, Value>) -> Api {
        match object.get("apiVersion").and_then(Value::as_str) {
            Some("events.k8s.io/v1") => Api::EventsV1,
            _ => Api::Core,
        }
    }
}

/// The stored (core/v1) event as `api` shows it, with `kind` and `apiVersion` (single objects and
/// watch lines).
pub(super) fn view(stored: &Map<String, Value>, api: Api) -> Map<String, Value> {
    match api {
        Api::Core => stored.clone(),
        Api::EventsV1 => core_to_v1(stored),
    }
}

/// A LIST item: the view without `kind` and `apiVersion`, as the real server writes items.
pub(super) fn list_item(stored: &Map<String, Value>, api: Api) -> Value {
    let mut item = view(stored, api);
    item.remove("kind");
    item.remove("apiVersion");
    Value::Object(item)
}

/// A string field, if set and not empty (Go's `omitempty`).
fn non_empty(map: &Map<String, Value>, key: &str) -> Option<Value> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::Number(n)) if n.as_i64() == Some(0) => None,
        Some(v) => Some(v.clone()),
    }
}

/// A struct field that Go always writes (`{}` when empty).
fn object_or_empty(map: &Map<String, Value>, key: &str) -> Value {
    match map.get(key) {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => Value::Object(Map::new()),
    }
}

/// A time field that Go always writes (`null` when unset).
fn time_or_null(map: &Map<String, Value>, key: &str) -> Value {
    map.get(key).cloned().unwrap_or(Value::Null)
}

/// core/v1 -> events.k8s.io/v1, as the API server converts a stored Event.
pub(super) fn core_to_v1(core: &Map<String, Value>) -> Map<String, Value> {
    let mut v1 = Map::new();
    v1.insert("kind".into(), "Event".into());
    v1.insert("apiVersion".into(), Api::EventsV1.api_version().into());
    v1.insert("metadata".into(), object_or_empty(core, "metadata"));
    v1.insert("eventTime".into(), time_or_null(core, "eventTime"));
    let optional = [
        ("series", "series"),
        ("reportingComponent", "reportingController"),
        ("reportingInstance", "reportingInstance"),
        ("action", "action"),
        ("reason", "reason"),
    ];
    for (from, to) in optional {
        if let Some(value) = non_empty(core, from) {
            v1.insert(to.into(), value);
        }
    }
    v1.insert("regarding".into(), object_or_empty(core, "involvedObject"));
    for (from, to) in [
        ("related", "related"),
        ("message", "note"),
        ("type", "type"),
    ] {
        if let Some(value) = non_empty(core, from) {
            v1.insert(to.into(), value);
        }
    }
    v1.insert("deprecatedSource".into(), object_or_empty(core, "source"));
    v1.insert(
        "deprecatedFirstTimestamp".into(),
        time_or_null(core, "firstTimestamp"),
    );
    v1.insert(
        "deprecatedLastTimestamp".into(),
        time_or_null(core, "lastTimestamp"),
    );
    if let Some(count) = non_empty(core, "count") {
        v1.insert("deprecatedCount".into(), count);
    }
    v1
}

/// events.k8s.io/v1 -> core/v1: how an event created through the new API is stored.
pub(super) fn v1_to_core(v1: &Map<String, Value>) -> Map<String, Value> {
    let renames = [
        ("metadata", "metadata"),
        ("regarding", "involvedObject"),
        ("reason", "reason"),
        ("note", "message"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
        ("type", "type"),
        ("eventTime", "eventTime"),
        ("series", "series"),
        ("action", "action"),
        ("related", "related"),
        ("reportingController", "reportingComponent"),
        ("reportingInstance", "reportingInstance"),
    ];
    let mut core = Map::new();
    core.insert("kind".into(), "Event".into());
    core.insert("apiVersion".into(), Api::Core.api_version().into());
    for (from, to) in renames {
        if let Some(value) = v1.get(from) {
            core.insert(to.into(), value.clone());
        }
    }
    core
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sim::apiserver::json;
    use crate::sim::apiserver::testutil::fixture_lines;

    fn object(line: &str) -> Map<String, Value> {
        let event: Value = serde_json::from_str(line).unwrap();
        event["object"].as_object().unwrap().clone()
    }

    /// The captured watch streams show every change through both APIs: converting the core
    /// objects must give the events.k8s.io lines byte for byte, and back.
    #[test]
    fn conversion_matches_the_captured_watch_streams() {
        let core = fixture_lines("watch-core.jsonl");
        let v1 = fixture_lines("watch-eventsv1.jsonl");
        assert_eq!(core.len(), 5);
        for (core_line, v1_line) in core.iter().zip(&v1) {
            let converted = core_to_v1(&object(core_line));
            let expected_object =
                &v1_line[v1_line.find(r#""object":"#).unwrap() + 9..v1_line.len() - 1];
            assert_eq!(
                json::to_string(&Value::Object(converted), Shape::EventsV1Event),
                expected_object
            );
            let back = v1_to_core(&object(v1_line));
            let core_object =
                &core_line[core_line.find(r#""object":"#).unwrap() + 9..core_line.len() - 1];
            let mut back = Value::Object(back);
            super::super::objects::normalize_core(&mut back);
            assert_eq!(json::to_string(&back, Shape::CoreEvent), core_object);
        }
    }
}
