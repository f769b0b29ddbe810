//! The API server's answers for Events: LIST pages, watch stream lines, and `Status` errors.
//!
//! Only decoding: the receiver makes the requests and decides what each answer means for its
//! state (page on with `continue`, re-list on [`WatchEvent::Expired`], back off and retry on 401/403).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::event::{Event, EventApi, Obj, object_or_default, objects, or_default, text};

/// Why an answer from the API server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A LIST response body that is not an event list.
    #[error("malformed event list: {0}")]
    List(#[source] serde_json::Error),
    /// A watch stream line that is not a watch event.
    #[error("malformed watch line: {0}")]
    WatchLine(#[source] serde_json::Error),
    /// An error response body that is not a Kubernetes `Status` (a proxy's HTML page, ...).
    #[error("not a Kubernetes Status: {0}")]
    NotStatus(String),
    /// The body is a `Status`: the API server reports an error (401, 403, 410, ...).
    #[error("the API server answered: {0}")]
    Status(Status),
}

/// One page of a LIST of Events (`EventList`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EventList<'a> {
    #[serde(borrow, deserialize_with = "text")]
    pub kind: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub api_version: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "object_or_default")]
    pub metadata: ListMeta<'a>,
    /// The events. The API server leaves `kind`/`apiVersion` out of list items;
    /// [`EventList::from_json`] gives each the list's `apiVersion`.
    #[serde(borrow, deserialize_with = "objects")]
    pub items: Vec<Event<'a>>,
}

/// A list's `metadata`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ListMeta<'a> {
    /// The resourceVersion to watch from once the last page is read (the same on every page).
    #[serde(borrow, deserialize_with = "text")]
    pub resource_version: Cow<'a, str>,
    /// The token for the next page; `""` on the last page.
    #[serde(borrow, rename = "continue", deserialize_with = "text")]
    pub continue_token: Cow<'a, str>,
    /// How many items the following pages hold (an estimate the server may leave out).
    pub remaining_item_count: Option<i64>,
}

impl<'a> EventList<'a> {
    /// Reads a LIST response body. A `Status` body (the server's error answer) is
    /// [`WireError::Status`].
    pub fn from_json(body: &'a str) -> Result<EventList<'a>, WireError> {
        let Obj(mut list) =
            serde_json::from_str::<Obj<EventList<'a>>>(body).map_err(WireError::List)?;
        if list.kind == "Status" {
            return Err(WireError::Status(Status::from_json(body)?));
        }
        if EventApi::from_api_version(&list.api_version).is_some() {
            for item in list.items.iter_mut().filter(|i| i.api_version.is_empty()) {
                item.api_version = list.api_version.clone();
            }
        }
        Ok(list)
    }

    /// The token for the next page, `None` on the last page.
    pub fn continue_token(&self) -> Option<&str> {
        Some(&*self.metadata.continue_token).filter(|t| !t.is_empty())
    }

    /// The list's resourceVersion: where a watch picks up after the last page.
    pub fn resource_version(&self) -> &str {
        &self.metadata.resource_version
    }
}

/// One line of a watch stream (`{"type": .., "object": ..}`).
#[derive(Debug, Clone)]
pub enum WatchEvent<'a> {
    /// A new event object.
    Added(Event<'a>),
    /// A changed event object: for events, a new occurrence (count or series bumped).
    Modified(Event<'a>),
    /// A removed event object (TTL expiry, deletion). Not a new occurrence.
    Deleted(Event<'a>),
    /// A progress mark: only the resourceVersion to resume from moves.
    Bookmark { resource_version: Cow<'a, str> },
    /// An ERROR line with `410 Gone`/`Expired`: the resourceVersion is too old to watch from,
    /// the receiver has to list again. It comes inside an HTTP 200 stream.
    Expired(Status),
    /// Any other ERROR line.
    Error(Status),
}

impl<'a> WatchEvent<'a> {
    /// Reads one line of a watch stream (without its newline; callers skip blank lines).
    pub fn from_json(line: &'a str) -> Result<WatchEvent<'a>, WireError> {
        serde_json::from_str(line).map_err(WireError::WatchLine)
    }

    /// The resourceVersion this line moves the watch to, if it carries one.
    pub fn resource_version(&self) -> Option<&str> {
        match self {
            WatchEvent::Added(ev) | WatchEvent::Modified(ev) | WatchEvent::Deleted(ev) => {
                Some(ev.resource_version())
            }
            WatchEvent::Bookmark { resource_version } => Some(&**resource_version),
            WatchEvent::Expired(_) | WatchEvent::Error(_) => None,
        }
        .filter(|rv| !rv.is_empty())
    }
}

/// A Kubernetes `Status`: the body of an error answer (HTTP 401, 403, 410, ...) and of a watch
/// ERROR line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Status {
    #[serde(deserialize_with = "owned_text")]
    pub kind: String,
    /// `Failure` or `Success`.
    #[serde(deserialize_with = "owned_text")]
    pub status: String,
    /// What went wrong, in words, e.g. `events is forbidden: User "system:anonymous" cannot
    /// list resource "events" in API group "" at the cluster scope`.
    #[serde(deserialize_with = "owned_text")]
    pub message: String,
    /// A machine-readable reason: `Expired`, `Gone`, `Forbidden`, `Unauthorized`, ...
    #[serde(deserialize_with = "owned_text")]
    pub reason: String,
    /// The HTTP status code it stands for; 0 when absent.
    #[serde(deserialize_with = "or_default")]
    pub code: i32,
}

impl Status {
    /// Reads an error answer's body. Anything but a JSON object of `kind: Status` is
    /// [`WireError::NotStatus`].
    pub fn from_json(body: &str) -> Result<Status, WireError> {
        let Obj(status) = serde_json::from_str::<Obj<Status>>(body)
            .map_err(|e| WireError::NotStatus(e.to_string()))?;
        if status.kind != "Status" {
            return Err(WireError::NotStatus(format!(
                "kind is {:?}, not \"Status\"",
                status.kind
            )));
        }
        Ok(status)
    }

    /// The resourceVersion asked for is gone (compacted): 410 `Expired` or `Gone`.
    pub fn is_expired(&self) -> bool {
        self.code == 410 || self.reason == "Expired" || self.reason == "Gone"
    }

    /// The credentials were not accepted (401).
    pub fn is_unauthorized(&self) -> bool {
        self.code == 401 || self.reason == "Unauthorized"
    }

    /// The credentials are valid but lack the permission (403); the message names the user,
    /// verb, resource, API group and scope.
    pub fn is_forbidden(&self) -> bool {
        self.code == 403 || self.reason == "Forbidden"
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.message.is_empty() {
            &self.status
        } else {
            &self.message
        };
        write!(f, "{what} (reason {:?}, code {})", self.reason, self.code)
    }
}

fn owned_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text(d).map(Cow::into_owned)
}

/// The watch line's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum WatchType {
    Added,
    Modified,
    Deleted,
    Bookmark,
    Error,
}

/// A BOOKMARK's object: an empty Event but for `metadata.resourceVersion`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct BookmarkObject<'a> {
    #[serde(borrow, deserialize_with = "object_or_default")]
    metadata: BookmarkMeta<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct BookmarkMeta<'a> {
    #[serde(borrow, deserialize_with = "text")]
    resource_version: Cow<'a, str>,
}

/// Reads `object` as what `type` says it is.
struct ObjectSeed<'a>(WatchType, PhantomData<&'a ()>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for ObjectSeed<'a> {
    type Value = WatchEvent<'a>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Ok(match self.0 {
            WatchType::Added => WatchEvent::Added(Obj::deserialize(d)?.0),
            WatchType::Modified => WatchEvent::Modified(Obj::deserialize(d)?.0),
            WatchType::Deleted => WatchEvent::Deleted(Obj::deserialize(d)?.0),
            WatchType::Bookmark => {
                let Obj(bookmark) = Obj::<BookmarkObject<'a>>::deserialize(d)?;
                WatchEvent::Bookmark {
                    resource_version: bookmark.metadata.resource_version,
                }
            }
            WatchType::Error => {
                let Obj(status) = Obj::<Status>::deserialize(d)?;
                if status.is_expired() {
                    WatchEvent::Expired(status)
                } else {
                    WatchEvent::Error(status)
                }
            }
        })
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for WatchEvent<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(WatchLineVisitor(PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum WatchField {
    Type,
    Object,
    #[serde(other)]
    Other,
}

struct WatchLineVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for WatchLineVisitor<'a> {
    type Value = WatchEvent<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a watch event {"type": .., "object": ..}"#)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kind = None;
        let mut event = None;
        // The API server writes `type` first, so `object` is read straight into its type; if
        // another writer puts `object` first, it is held as a JSON value until `type` arrives.
        let mut held: Option<serde_json::Value> = None;
        while let Some(field) = map.next_key::<WatchField>()? {
            match field {
                WatchField::Type => {
                    if kind.is_some() {
                        return Err(de::Error::duplicate_field("type"));
                    }
                    kind = Some(map.next_value::<WatchType>()?);
                }
                WatchField::Object => {
                    if event.is_some() || held.is_some() {
                        return Err(de::Error::duplicate_field("object"));
                    }
                    match kind {
                        Some(kind) => {
                            event = Some(map.next_value_seed(ObjectSeed(kind, PhantomData))?)
                        }
                        None => held = Some(map.next_value()?),
                    }
                }
                WatchField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let kind = kind.ok_or_else(|| de::Error::missing_field("type"))?;
        match (event, held) {
            (Some(event), _) => Ok(event),
            (None, Some(object)) => ObjectSeed(kind, PhantomData)
                .deserialize(object)
                .map_err(de::Error::custom),
            (None, None) => Err(de::Error::missing_field("object")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn object_before_type_is_read_too() {
        let line = r#"{"object":{"metadata":{"uid":"u","resourceVersion":"7"},"message":"m \u00e9"},"type":"ADDED"}"#;
        let WatchEvent::Added(ev) = WatchEvent::from_json(line).unwrap() else {
            panic!("not ADDED")
        };
        assert_eq!(
            (ev.uid(), ev.resource_version(), &*ev.message),
            ("u", "7", "m é")
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            "",
            "[]",
            "null",
            r#"{"type":"ADDED"}"#,
            r#"{"object":{}}"#,
            r#"{"type":"UPSERTED","object":{}}"#,
            r#"{"type":"ADDED","object":[]}"#,
            r#"{"type":"ADDED","type":"ADDED","object":{}}"#,
            r#"{"type":"ERROR","object":{"code":"410"}}"#,
            r#"{"type":"ADDED","object":{"count":"x"}}"#,
        ] {
            assert!(
                matches!(WatchEvent::from_json(bad), Err(WireError::WatchLine(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let line = r#"{"type":"BOOKMARK","extra":[1,{"a":null}],"object":{"kind":"Event","apiVersion":"v1","metadata":{"resourceVersion":"12","annotations":{"k8s.io/initial-events-end":"true"}}}}"#;
        assert!(matches!(
            WatchEvent::from_json(line).unwrap(),
            WatchEvent::Bookmark { resource_version } if resource_version == "12"
        ));
    }

    #[test]
    fn status_needs_kind_status() {
        assert!(matches!(
            Status::from_json("<html>403 Forbidden</html>"),
            Err(WireError::NotStatus(_))
        ));
        assert!(matches!(
            Status::from_json(r#"{"kind":"EventList"}"#),
            Err(WireError::NotStatus(_))
        ));
        let s = Status::from_json(r#"{"kind":"Status","code":null,"message":null}"#).unwrap();
        assert_eq!((s.code, s.message.as_str()), (0, ""));
    }

    #[test]
    fn list_of_nothing() {
        let list = EventList::from_json(
            r#"{"kind":"EventList","apiVersion":"v1","metadata":{"resourceVersion":"5"},"items":null}"#,
        )
        .unwrap();
        assert!(list.items.is_empty());
        assert_eq!(list.continue_token(), None);
        assert_eq!(list.resource_version(), "5");
        for bad in [
            "[]",
            r#"{"items":[[]]}"#,
            r#"{"items":{}}"#,
            r#"{"metadata":[]}"#,
        ] {
            assert!(
                matches!(EventList::from_json(bad), Err(WireError::List(_))),
                "{bad}"
            );
        }
    }
}
