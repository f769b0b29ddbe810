//! What the API server adds to an object it stores: name, uid, resourceVersion,
//! creationTimestamp, managedFields, and the Go struct's always-present fields.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::convert::{self, Api};

/// Now, as Kubernetes writes a `metav1.Time`: `2026-11-24T22:46:23Z`.
pub(super) fn now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Unix seconds as RFC 3339 in UTC, second precision.
pub(super) fn rfc3339(unix_secs: u64) -> String {
    let days = i64::try_from(unix_secs / 86_400).unwrap_or(0);
    let rem = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A random u64: std's hasher keys are random per process and change per `RandomState`.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A random (version 4) UUID, the form of `metadata.uid`.
pub(super) fn uid() -> String {
    let a = (random_u64() & 0xffff_ffff_ffff_0fff) | 0x4000;
    let b = (random_u64() & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// `n` random characters from the alphabet the API server uses for `generateName`.
fn random_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bits = random_u64();
    (0..n)
        .map(|_| {
            let i = usize::try_from(bits % ALPHABET.len() as u64).unwrap_or(0);
            bits /= ALPHABET.len() as u64;
            ALPHABET.get(i).map_or('x', |b| char::from(*b))
        })
        .collect()
}

/// Runs `f` on the `metadata` map of an object (made a map if missing or not one).
pub(super) fn with_metadata<R>(
    object: &mut Map<String, Value>,
    f: impl FnOnce(&mut Map<String, Value>) -> R,
) -> R {
    let mut meta = match object.remove("metadata") {
        Some(Value::Object(meta)) => meta,
        _ => Map::new(),
    };
    let result = f(&mut meta);
    object.insert("metadata".into(), Value::Object(meta));
    result
}

/// A string field of `metadata`.
pub(super) fn meta_str<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get("metadata")?.get(key)?.as_str()
}

/// Names an object without one: `generateName` plus five characters, or (for Events, which
/// recorders name `<object>.<hex>`) the involved object's name plus a hex suffix.
pub(super) fn ensure_name(object: &mut Map<String, Value>, involved_key: &str) {
    if meta_str(object, "name").is_some_and(|n| !n.is_empty()) {
        return;
    }
    let involved = object
        .get(involved_key)
        .and_then(|o| o.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("event")
        .to_owned();
    with_metadata(object, |meta| {
        let name = match meta.get("generateName").and_then(Value::as_str) {
            Some(prefix) if !prefix.is_empty() => format!("{prefix}{}", random_suffix(5)),
            _ => format!("{involved}.{:016x}", random_u64()),
        };
        meta.insert("name".into(), name.into());
    });
}

/// Fills what the server sets on create: namespace (`default`), uid and creationTimestamp when
/// missing; the resourceVersion always.
pub(super) fn fill_metadata(object: &mut Map<String, Value>, namespace: Option<&str>, rv: u64) {
    with_metadata(object, |meta| {
        let given = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
        let ns = match namespace {
            Some(ns) => ns,
            None if given.is_empty() => "default",
            None => given,
        };
        meta.insert("namespace".into(), ns.to_owned().into());
        if !meta.get("uid").is_some_and(Value::is_string) {
            meta.insert("uid".into(), uid().into());
        }
        if !meta.get("creationTimestamp").is_some_and(Value::is_string) {
            meta.insert("creationTimestamp".into(), now().into());
        }
        meta.insert("resourceVersion".into(), rv.to_string().into());
    });
}

/// Makes a core/v1 Event look as the Go server writes it: `omitempty` fields dropped when
/// empty, always-present ones (`involvedObject`, `source`, the times, the reporting fields)
/// added.
pub(super) fn normalize_core(event: &mut Value) {
    if !event.is_object() {
        *event = Value::Object(Map::new());
    }
    let Value::Object(map) = event else { return };
    map.insert("kind".into(), "Event".into());
    map.insert("apiVersion".into(), "v1".into());
    for key in [
        "reason", "message", "type", "action", "count", "series", "related",
    ] {
        let empty = match map.get(key) {
            Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            _ => false,
        };
        if empty {
            map.remove(key);
        }
    }
    for key in ["involvedObject", "source"] {
        if !map.get(key).is_some_and(Value::is_object) {
            map.insert(key.into(), Value::Object(Map::new()));
        }
    }
    if let Some(Value::Object(source)) = map.get_mut("source") {
        source.retain(|_, v| !matches!(v, Value::Null) && v.as_str() != Some(""));
    }
    for key in ["firstTimestamp", "lastTimestamp", "eventTime"] {
        map.entry(key).or_insert(Value::Null);
    }
    for key in ["reportingComponent", "reportingInstance"] {
        if !map.get(key).is_some_and(Value::is_string) {
            map.insert(key.into(), "".into());
        }
    }
    with_metadata(map, |meta| meta.retain(|_, v| !v.is_null()));
}

/// The `fieldsV1` of a client that set every non-empty field of `object` (as written in its
/// API version): what the server records in `managedFields` for a create or update.
fn fields_v1(object: &Map<String, Value>) -> Value {
    let mut fields = Map::new();
    for (key, value) in object {
        if matches!(key.as_str(), "kind" | "apiVersion" | "metadata") || is_empty(value) {
            continue;
        }
        let inner = match (key.as_str(), value) {
            // Structs are tracked field by field; object references are atomic.
            ("source" | "deprecatedSource" | "series", Value::Object(children)) => {
                let mut inner = Map::new();
                if key == "series" {
                    // A pointer to a struct also records the struct itself.
                    inner.insert(".".into(), json!({}));
                }
                for (child, v) in children {
                    if !is_empty(v) {
                        inner.insert(format!("f:{child}"), json!({}));
                    }
                }
                Value::Object(inner)
            }
            _ => json!({}),
        };
        fields.insert(format!("f:{key}"), inner);
    }
    Value::Object(fields)
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Records the creating client in `managedFields` (manager `unknown`, as for a client that
/// sends no field manager), unless the object already carries them.
pub(super) fn add_managed_fields(stored: &mut Map<String, Value>, written_as: Api, time: &str) {
    let fields = fields_v1(&convert::view(stored, written_as));
    with_metadata(stored, |meta| {
        meta.entry("managedFields").or_insert_with(|| {
            json!([{
                "manager": "unknown",
                "operation": "Update",
                "apiVersion": written_as.api_version(),
                "time": time,
                "fieldsType": "FieldsV1",
                "fieldsV1": fields,
            }])
        });
    });
}

/// After an update: a single-manager `managedFields` follows the fields now set, and its time
/// moves when they changed (as the real server's field manager does).
pub(super) fn update_managed_fields(stored: &mut Map<String, Value>, time: &str) {
    let Some(api) = single_manager_api(stored) else {
        return;
    };
    let fields = fields_v1(&convert::view(stored, api));
    with_metadata(stored, |meta| {
        if let Some(Value::Array(entries)) = meta.get_mut("managedFields")
            && let Some(Value::Object(entry)) = entries.first_mut()
            && entry.get("fieldsV1") != Some(&fields)
        {
            entry.insert("fieldsV1".into(), fields);
            entry.insert("time".into(), time.into());
        }
    });
}

/// The API version of the only `managedFields` entry, if there is exactly one of type FieldsV1.
fn single_manager_api(stored: &Map<String, Value>) -> Option<Api> {
    let entries = stored.get("metadata")?.get("managedFields")?.as_array()?;
    let [entry] = entries.as_slice() else {
        return None;
    };
    if entry.get("fieldsType")?.as_str()? != "FieldsV1" {
        return None;
    }
    let api = entry.as_object().map(Api::of)?;
    Some(api)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_560_383), "2026-11-24T22:46:23Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn uids_look_like_uuids_and_differ() {
        let (a, b) = (uid(), uid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
    }

    #[test]
    fn managed_fields_match_the_created_fixtures() {
        let created: Value = serde_json::from_str(&crate::sim::apiserver::testutil::fixture(
            "create-core.json",
        ))
        .unwrap();
        let mut event = created.as_object().unwrap().clone();
        let expected = event["metadata"]["managedFields"].clone();
        with_metadata(&mut event, |m| m.remove("managedFields"));
        add_managed_fields(&mut event, Api::Core, "2026-11-24T22:46:23Z");
        assert_eq!(event["metadata"]["managedFields"], expected);

        let created: Value = serde_json::from_str(&crate::sim::apiserver::testutil::fixture(
            "create-eventsv1.json",
        ))
        .unwrap();
        let v1 = created.as_object().unwrap();
        let expected = v1["metadata"]["managedFields"].clone();
        let mut stored = Value::Object(convert::v1_to_core(v1));
        normalize_core(&mut stored);
        let stored = stored.as_object_mut().unwrap();
        with_metadata(stored, |m| m.remove("managedFields"));
        add_managed_fields(stored, Api::EventsV1, "2026-11-24T22:46:26Z");
        assert_eq!(stored["metadata"]["managedFields"], expected);
    }
}
