//! A borrowed view of a Kubernetes Event as the API server sends it, core/v1 or events.k8s.io/v1,
//! holding only the fields the log record and the receiver's bookkeeping need.
//!
//! This is the hot path (tens of thousands of events per second), so the view is deserialized
//! straight from the JSON text: strings borrow from the input unless they contain escapes,
//! everything else in the object (`managedFields`, labels, `related`, ...) is skipped without
//! being built.
//!
//! Decoding follows what Go's decoder in client-go accepts: every field may be absent, and
//! `null` reads as absent; a field of the wrong JSON type, a non-object, or invalid JSON is an
//! error ([`EventError::Decode`]), as it is for the OpenTelemetry receiver, which never sees
//! such an object. Timestamps stay text here and are checked when mapped.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::time::TimeError;

/// Which Events API an object came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventApi {
    /// `core/v1` (`/api/v1/events`): `involvedObject`, `message`, `source`, `count`, ...
    Core,
    /// `events.k8s.io/v1` (`/apis/events.k8s.io/v1/events`): `regarding`, `note`,
    /// `deprecatedSource`, `deprecatedCount`, ...
    EventsV1,
}

impl EventApi {
    /// The API for an `apiVersion` string: `v1` is core, any `events.k8s.io/*` is events.k8s.io.
    pub fn from_api_version(api_version: &str) -> Option<EventApi> {
        match api_version {
            "v1" => Some(EventApi::Core),
            v if v.starts_with("events.k8s.io/") => Some(EventApi::EventsV1),
            _ => None,
        }
    }

    /// The `apiVersion` the API server writes for this API.
    pub fn api_version(self) -> &'static str {
        match self {
            EventApi::Core => "v1",
            EventApi::EventsV1 => "events.k8s.io/v1",
        }
    }
}

/// One occurrence of an event: its object's UID and the resourceVersion of this state of it.
///
/// A count bump or series update keeps the UID and gets a new resourceVersion, so it is a new
/// occurrence; the same state seen twice (a re-list after a watch expired, a restart) has the same
/// key. Both Events APIs show the same object with the same UID and resourceVersion.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey {
    pub uid: String,
    pub resource_version: String,
}

/// Why an event could not be turned into a record.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The JSON is not an Event: invalid JSON, not an object, or a field of the wrong type.
    #[error("not a Kubernetes Event: {0}")]
    Decode(#[from] serde_json::Error),
    /// A timestamp field holds text that is not an RFC 3339 time.
    #[error("event field `{field}` is not an RFC 3339 time ({source}): {value:?}")]
    InvalidTime {
        field: &'static str,
        value: String,
        source: TimeError,
    },
    /// The event's newest time does not fit a log record's nanosecond timestamp (1677 to 2262).
    #[error("event field `{field}` is outside the years a log timestamp can hold: {value:?}")]
    TimeOutOfRange { field: &'static str, value: String },
}

/// A Kubernetes Event, core/v1 or events.k8s.io/v1, as far as we read it.
///
/// Both APIs' fields are here, so one type reads either; [`Event::api`] tells which it is and the
/// accessors ([`Event::regarding`], [`Event::note`], ...) pick the right field. Absent and `null`
/// strings read as `""`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Event<'a> {
    /// `apiVersion`; list items carry none (see [`super::wire::EventList`]).
    #[serde(borrow, deserialize_with = "text")]
    pub api_version: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "object_or_default")]
    pub metadata: ObjectMeta<'a>,

    // Both APIs.
    #[serde(borrow, deserialize_with = "text")]
    pub reason: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub action: Cow<'a, str>,
    #[serde(borrow, rename = "type", deserialize_with = "text")]
    pub type_: Cow<'a, str>,
    /// A micro-time (`2024-05-01T10:00:00.000000Z`).
    #[serde(borrow, deserialize_with = "text")]
    pub event_time: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "object")]
    pub series: Option<EventSeries<'a>>,

    // core/v1 only.
    #[serde(borrow, deserialize_with = "object")]
    pub involved_object: Option<ObjectReference<'a>>,
    #[serde(borrow, deserialize_with = "text")]
    pub message: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "object")]
    pub source: Option<EventSource<'a>>,
    #[serde(borrow, deserialize_with = "text")]
    pub first_timestamp: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub last_timestamp: Cow<'a, str>,
    pub count: Option<i64>,

    // events.k8s.io/v1 only.
    #[serde(borrow, deserialize_with = "object")]
    pub regarding: Option<ObjectReference<'a>>,
    #[serde(borrow, deserialize_with = "text")]
    pub note: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "object")]
    pub deprecated_source: Option<EventSource<'a>>,
    #[serde(borrow, deserialize_with = "text")]
    pub deprecated_first_timestamp: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub deprecated_last_timestamp: Cow<'a, str>,
    pub deprecated_count: Option<i64>,
}

/// The Event's own `metadata`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta<'a> {
    #[serde(borrow, deserialize_with = "text")]
    pub name: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub namespace: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub uid: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub resource_version: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub creation_timestamp: Cow<'a, str>,
}

/// The object the event is about: core `involvedObject`, events.k8s.io `regarding`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectReference<'a> {
    #[serde(borrow, deserialize_with = "text")]
    pub kind: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub namespace: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub name: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub uid: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub api_version: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub resource_version: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub field_path: Cow<'a, str>,
}

/// Who reported the event: core `source`, events.k8s.io `deprecatedSource`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EventSource<'a> {
    #[serde(borrow, deserialize_with = "text")]
    pub component: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub host: Cow<'a, str>,
}

/// A repeating event's series (both APIs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EventSeries<'a> {
    pub count: Option<i64>,
    /// A micro-time.
    #[serde(borrow, deserialize_with = "text")]
    pub last_observed_time: Cow<'a, str>,
}

/// An absent reference, source or metadata reads as all-empty.
static EMPTY_REFERENCE: ObjectReference<'static> = ObjectReference {
    kind: Cow::Borrowed(""),
    namespace: Cow::Borrowed(""),
    name: Cow::Borrowed(""),
    uid: Cow::Borrowed(""),
    api_version: Cow::Borrowed(""),
    resource_version: Cow::Borrowed(""),
    field_path: Cow::Borrowed(""),
};

impl<'a> Event<'a> {
    /// Reads one Event object (a POST response, a GET of one event).
    pub fn from_json(json: &'a str) -> Result<Event<'a>, EventError> {
        Ok(serde_json::from_str::<Obj<Event<'a>>>(json)?.0)
    }

    /// Which API the object is from: its `apiVersion` when it has one, else (list items) guessed
    /// from which API's fields are present; core when nothing tells.
    pub fn api(&self) -> EventApi {
        if let Some(api) = EventApi::from_api_version(&self.api_version) {
            return api;
        }
        let events_v1 = self.regarding.is_some()
            || !self.note.is_empty()
            || self.deprecated_source.is_some()
            || self.deprecated_count.is_some()
            || !self.deprecated_first_timestamp.is_empty()
            || !self.deprecated_last_timestamp.is_empty();
        if events_v1 {
            EventApi::EventsV1
        } else {
            EventApi::Core
        }
    }

    /// The occurrence this state of the event is (UID and resourceVersion).
    pub fn key(&self) -> EventKey {
        EventKey {
            uid: self.metadata.uid.clone().into_owned(),
            resource_version: self.metadata.resource_version.clone().into_owned(),
        }
    }

    /// The Event object's UID (`metadata.uid`).
    pub fn uid(&self) -> &str {
        &self.metadata.uid
    }

    /// The Event object's `metadata.resourceVersion`.
    pub fn resource_version(&self) -> &str {
        &self.metadata.resource_version
    }

    /// The Event object's own namespace (`metadata.namespace`). The record's
    /// `k8s.namespace.name` is the regarded object's namespace instead (see
    /// [`Event::regarding`]); the API server keeps them equal for namespaced objects.
    pub fn namespace(&self) -> &str {
        &self.metadata.namespace
    }

    /// The Event object's name (`metadata.name`).
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The object the event is about: `involvedObject` (core) or `regarding` (events.k8s.io).
    pub fn regarding(&self) -> &ObjectReference<'a> {
        let reference = match self.api() {
            EventApi::Core => self.involved_object.as_ref(),
            EventApi::EventsV1 => self.regarding.as_ref(),
        };
        reference.unwrap_or(&EMPTY_REFERENCE)
    }

    /// The human-readable text: `message` (core) or `note` (events.k8s.io).
    pub fn note(&self) -> &str {
        match self.api() {
            EventApi::Core => &self.message,
            EventApi::EventsV1 => &self.note,
        }
    }

    /// The node that reported it: `source.host` (core) or `deprecatedSource.host`
    /// (events.k8s.io); `""` for controllers, which report no host.
    pub fn node_name(&self) -> &str {
        let source = match self.api() {
            EventApi::Core => self.source.as_ref(),
            EventApi::EventsV1 => self.deprecated_source.as_ref(),
        };
        source.map_or("", |s| &s.host)
    }

    /// How often the event happened: `series.count` when the event has a series, else the old
    /// counter (`count` in core, `deprecatedCount` in events.k8s.io); 0 when neither is set.
    ///
    /// Both APIs show the same two counters (the API server converts `count` to
    /// `deprecatedCount` and keeps `series`), so the same event counts the same through either.
    /// The OpenTelemetry receiver reads only core `count`, which new-style (series) events
    /// leave unset: for them we report the series count where it reported none.
    pub fn count(&self) -> i64 {
        let old = match self.api() {
            EventApi::Core => self.count,
            EventApi::EventsV1 => self.deprecated_count,
        };
        self.series
            .as_ref()
            .and_then(|s| s.count)
            .filter(|&c| c != 0)
            .or(old)
            .unwrap_or(0)
    }

    /// The event's time fields as `(wire name, text)`, in the order the record prefers them on a
    /// tie: `series.lastObservedTime`, last, `eventTime`, first, `metadata.creationTimestamp`.
    /// Absent fields are `""`.
    pub fn time_fields(&self) -> [(&'static str, &str); 5] {
        let series = self.series.as_ref().map_or("", |s| &s.last_observed_time);
        let creation = (
            "metadata.creationTimestamp",
            &*self.metadata.creation_timestamp,
        );
        match self.api() {
            EventApi::Core => [
                ("series.lastObservedTime", series),
                ("lastTimestamp", &self.last_timestamp),
                ("eventTime", &self.event_time),
                ("firstTimestamp", &self.first_timestamp),
                creation,
            ],
            EventApi::EventsV1 => [
                ("series.lastObservedTime", series),
                ("deprecatedLastTimestamp", &self.deprecated_last_timestamp),
                ("eventTime", &self.event_time),
                ("deprecatedFirstTimestamp", &self.deprecated_first_timestamp),
                creation,
            ],
        }
    }
}

/// A string field that may be `null` (read as `""`); borrows from the input when it can.
pub(crate) fn text<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Cow<'a, str>, D::Error> {
    struct TextVisitor<'a>(PhantomData<&'a ()>);

    impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
        type Value = Cow<'a, str>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or null")
        }

        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(""))
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(""))
        }
    }

    d.deserialize_any(TextVisitor(PhantomData))
}

/// A JSON object read as a `T`. Serde's derived structs also read a JSON array as their fields
/// in order; Go's decoder, and so the API server's clients, accept only an object.
pub(crate) struct Obj<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        d.deserialize_map(ObjVisitor(PhantomData)).map(Obj)
    }
}

/// An object field that may be `null` or absent (read as `None`).
pub(crate) fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Obj<T>>::deserialize(d)?.map(|o| o.0))
}

/// An object field that may be `null` or absent (read as its default).
pub(crate) fn object_or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(object(d)?.unwrap_or_default())
}

/// An array of objects that may be `null` or absent (read as empty).
pub(crate) fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items = Option::<Vec<Obj<T>>>::deserialize(d)?.unwrap_or_default();
    Ok(items.into_iter().map(|o| o.0).collect())
}

/// A number field that may be `null` (read as its default).
pub(crate) fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strings_borrow_unless_escaped() {
        let json = r#"{"reason":"BackOff","message":"a \u003cb\u003e","metadata":{"uid":"u-1"}}"#;
        let ev = Event::from_json(json).unwrap();
        assert!(matches!(ev.reason, Cow::Borrowed("BackOff")));
        assert!(matches!(ev.metadata.uid, Cow::Borrowed("u-1")));
        assert_eq!(ev.message, "a <b>");
    }

    #[test]
    fn null_and_absent_read_as_empty() {
        let ev = Event::from_json(
            r#"{"metadata":null,"reason":null,"involvedObject":null,"count":null,"series":null}"#,
        )
        .unwrap();
        assert_eq!(ev.uid(), "");
        assert_eq!(ev.reason, "");
        assert_eq!(ev.regarding().kind, "");
        assert_eq!(ev.count(), 0);
        assert_eq!(ev.api(), EventApi::Core);
        let ev = Event::from_json("{}").unwrap();
        assert_eq!(
            ev.key(),
            EventKey {
                uid: String::new(),
                resource_version: String::new()
            }
        );
    }

    #[test]
    fn wrong_types_are_decode_errors() {
        for bad in [
            "[]",
            "42",
            r#""event""#,
            "null",
            r#"{"reason":5}"#,
            r#"{"count":"3"}"#,
            r#"{"count":1.5}"#,
            r#"{"metadata":"x"}"#,
            r#"{"involvedObject":[]}"#,
            r#"{"metadata":[]}"#,
            r#"{"series":[2,"2024-05-01T10:00:00Z"]}"#,
            r#"{"deprecatedSource":"node-1"}"#,
            r#"{"reason":"a","reason":"b"}"#,
            r#"{"reason":"a""#,
            "",
        ] {
            let err = Event::from_json(bad).unwrap_err();
            assert!(matches!(err, EventError::Decode(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn api_from_api_version_or_fields() {
        let api = |json| Event::from_json(json).unwrap().api();
        assert_eq!(api(r#"{"apiVersion":"v1","note":"x"}"#), EventApi::Core);
        assert_eq!(
            api(r#"{"apiVersion":"events.k8s.io/v1"}"#),
            EventApi::EventsV1
        );
        assert_eq!(
            api(r#"{"apiVersion":"events.k8s.io/v1beta1"}"#),
            EventApi::EventsV1
        );
        assert_eq!(api(r#"{"regarding":{}}"#), EventApi::EventsV1);
        assert_eq!(api(r#"{"deprecatedSource":{}}"#), EventApi::EventsV1);
        assert_eq!(
            api(r#"{"involvedObject":{},"message":"m"}"#),
            EventApi::Core
        );
        assert_eq!(api(r#"{}"#), EventApi::Core);
    }

    #[test]
    fn count_prefers_a_nonzero_series_count() {
        let count = |json| Event::from_json(json).unwrap().count();
        assert_eq!(count(r#"{"count":4}"#), 4);
        assert_eq!(count(r#"{"count":4,"series":{"count":7}}"#), 7);
        assert_eq!(count(r#"{"count":4,"series":{"count":0}}"#), 4);
        assert_eq!(count(r#"{"series":{"count":2}}"#), 2);
        assert_eq!(
            count(r#"{"apiVersion":"events.k8s.io/v1","deprecatedCount":3}"#),
            3
        );
        assert_eq!(count(r#"{"apiVersion":"events.k8s.io/v1","count":3}"#), 0);
        assert_eq!(count(r#"{"apiVersion":"v1","deprecatedCount":3}"#), 0);
    }
}
