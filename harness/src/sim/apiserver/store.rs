//! The storage behind the simulator, modelled on etcd: one revision counter for every object
//! (Events and Leases), a history of Event changes for watches and consistent paged LISTs, and
//! a compaction point below which both answer 410.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value};

use super::objects;

/// How many Event changes are kept for watch replay and snapshot reads (the watch cache keeps
/// a window too; beyond it a watch gets 410).
pub(super) const HISTORY_LIMIT: usize = 10_000;

/// What a change did, as watch lines name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChangeType {
    Added,
    Modified,
    Deleted,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// One change of one Event.
#[derive(Debug, Clone)]
pub(super) struct Change {
    pub rv: u64,
    pub kind: ChangeType,
    /// `namespace/name`, the etcd key under the resource's prefix.
    pub key: String,
    /// The object after the change; for a delete, its last state with the delete's RV.
    pub object: Map<String, Value>,
    /// The object before the change (none for a create): lets a LIST read an older snapshot.
    pub prev: Option<Map<String, Value>>,
}

/// Why a resourceVersion cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
    /// Older than the compaction point or the kept history: 410.
    Expired,
    /// Newer than the newest revision.
    TooLarge { current: u64 },
}

/// Events by key.
pub(super) type Events = BTreeMap<String, Map<String, Value>>;

/// The key of an object: `namespace/name`, ordered as etcd orders its keys.
pub(super) fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The stored state.
#[derive(Debug)]
pub(super) struct Store {
    /// The newest revision.
    rv: u64,
    /// Requests for revisions below this answer 410 (`compact()`).
    compacted: u64,
    /// History holds every change after this revision (older ones fell out of the window).
    retained_from: u64,
    events: Events,
    history: VecDeque<Change>,
    leases: BTreeMap<String, Map<String, Value>>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            rv: 1,
            compacted: 0,
            retained_from: 0,
            events: BTreeMap::new(),
            history: VecDeque::new(),
            leases: BTreeMap::new(),
        }
    }
}

impl Store {
    /// The newest revision.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// Takes the next revision.
    pub fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// The oldest revision a new request may start from.
    pub fn floor(&self) -> u64 {
        self.compacted.max(self.retained_from)
    }

    /// Forgets history up to now: new LISTs and watches from older revisions get 410.
    /// Watches already open keep streaming (etcd compaction does not end them).
    pub fn compact(&mut self) {
        self.compacted = self.rv;
    }

    /// The current Events, by key.
    pub fn events(&self) -> &Events {
        &self.events
    }

    pub fn event(&self, key: &str) -> Option<&Map<String, Value>> {
        self.events.get(key)
    }

    /// Stores `event` (already named, normalized and stamped with the next RV) and records the
    /// change: ADDED, or MODIFIED when it replaces one.
    pub fn put_event(&mut self, event: Map<String, Value>) -> ChangeType {
        let key = event_key(&event);
        let prev = self.events.insert(key.clone(), event.clone());
        let kind = if prev.is_some() {
            ChangeType::Modified
        } else {
            ChangeType::Added
        };
        self.record(Change {
            rv: self.rv,
            kind,
            key,
            object: event,
            prev,
        });
        kind
    }

    /// Deletes an Event at a new revision; `false` when there is none.
    pub fn delete_event(&mut self, key: &str) -> bool {
        let Some(prev) = self.events.remove(key) else {
            return false;
        };
        let rv = self.next_rv();
        let mut last = prev.clone();
        objects::with_metadata(&mut last, |meta| {
            meta.insert("resourceVersion".into(), rv.to_string().into());
        });
        self.record(Change {
            rv,
            kind: ChangeType::Deleted,
            key: key.to_owned(),
            object: last,
            prev: Some(prev),
        });
        true
    }

    fn record(&mut self, change: Change) {
        self.history.push_back(change);
        while self.history.len() > HISTORY_LIMIT {
            if let Some(dropped) = self.history.pop_front() {
                self.retained_from = dropped.rv;
            }
        }
    }

    /// The Events as they were at revision `rv` (a consistent snapshot for paged LISTs).
    pub fn events_at(&self, rv: u64) -> Result<Cow<'_, Events>, At> {
        if rv < self.floor() {
            return Err(At::Expired);
        }
        if rv > self.rv {
            return Err(At::TooLarge { current: self.rv });
        }
        let newer = self.history.iter().rev().take_while(|c| c.rv > rv);
        let mut undo = newer.peekable();
        if undo.peek().is_none() {
            return Ok(Cow::Borrowed(&self.events));
        }
        let mut events = self.events.clone();
        for change in undo {
            match &change.prev {
                Some(prev) => events.insert(change.key.clone(), prev.clone()),
                None => events.remove(&change.key),
            };
        }
        Ok(Cow::Owned(events))
    }

    /// The Event changes after revision `after`, oldest first; `Expired` when `after` is older
    /// than `floor` (the caller's: the compaction point for a new watch, the kept window for an
    /// open one).
    pub fn changes_after(
        &self,
        after: u64,
        floor: u64,
    ) -> Result<impl Iterator<Item = &Change>, At> {
        if after < floor.max(self.retained_from) {
            return Err(At::Expired);
        }
        let start = self.history.partition_point(|c| c.rv <= after);
        Ok(self.history.range(start..))
    }

    pub fn leases(&self) -> &BTreeMap<String, Map<String, Value>> {
        &self.leases
    }

    pub fn lease(&self, key: &str) -> Option<&Map<String, Value>> {
        self.leases.get(key)
    }

    /// Stores a Lease (already stamped with the next RV).
    pub fn put_lease(&mut self, key: String, lease: Map<String, Value>) {
        self.leases.insert(key, lease);
    }

    /// Deletes a Lease at a new revision.
    pub fn delete_lease(&mut self, key: &str) -> Option<Map<String, Value>> {
        let lease = self.leases.remove(key)?;
        self.next_rv();
        Some(lease)
    }
}

/// `namespace/name` of a stored object.
pub(super) fn event_key(object: &Map<String, Value>) -> String {
    key(
        objects::meta_str(object, "namespace").unwrap_or_default(),
        objects::meta_str(object, "name").unwrap_or_default(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(store: &mut Store, ns: &str, name: &str, count: u64) -> ChangeType {
        let rv = store.next_rv();
        let value = json!({"metadata": {"namespace": ns, "name": name, "resourceVersion": rv.to_string()}, "count": count});
        store.put_event(value.as_object().unwrap().clone())
    }

    #[test]
    fn snapshots_undo_later_changes() {
        let mut store = Store::default();
        assert_eq!(event(&mut store, "a", "x", 1), ChangeType::Added);
        let before = store.rv();
        assert_eq!(event(&mut store, "a", "x", 2), ChangeType::Modified);
        event(&mut store, "b", "y", 1);
        assert!(store.delete_event("a/x"));
        assert!(!store.delete_event("a/x"));
        let then = store.events_at(before).unwrap();
        assert_eq!(then.keys().collect::<Vec<_>>(), ["a/x"]);
        assert_eq!(then["a/x"]["count"], 1);
        assert_eq!(
            store
                .events_at(store.rv())
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["b/y"]
        );
        assert_eq!(
            store.events_at(store.rv() + 1).unwrap_err(),
            At::TooLarge {
                current: store.rv()
            }
        );
        store.compact();
        assert_eq!(store.events_at(before).unwrap_err(), At::Expired);
        assert!(store.changes_after(before, store.floor()).is_err());
        // An open watch (floor = the kept window) still reads what it has not seen.
        assert_eq!(store.changes_after(before, 0).unwrap().count(), 3);
    }

    #[test]
    fn history_is_a_bounded_window() {
        let mut store = Store::default();
        let start = store.rv();
        for i in 0..HISTORY_LIMIT + 5 {
            event(&mut store, "a", &format!("e{i}"), 1);
        }
        assert!(store.changes_after(start, 0).is_err());
        assert!(store.changes_after(start + 4, 0).is_err());
        assert_eq!(
            store.changes_after(start + 5, 0).unwrap().count(),
            HISTORY_LIMIT
        );
    }
}
