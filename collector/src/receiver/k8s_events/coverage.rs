//! What an interrupted LIST already shipped, kept as a key and a number instead of an entry per
//! item.
//!
//! The API server pages a LIST over one snapshot in etcd's key order (`namespace/name`; a
//! continue token is the key to start after). So when a LIST that had read its pages through
//! key K of snapshot R starts over, an item of the new LIST at or below K whose resourceVersion
//! is at or below R is the same state of the same object as then: it was handled already. This
//! replaces a shipped-set entry per listed item (for 100 000 events at start-up, about 4 MB).
//!
//! A LIST whose items come out of key order, whose pages disagree on the snapshot, or whose
//! resourceVersions are not numbers is never trusted this way: its items go to the shipped-set
//! (see [`ListCoverage::read`]).

use std::cmp::Ordering;

/// How many interrupted LISTs are remembered (each one a key); forgetting one can only ship an
/// item twice, never lose one.
const MAX_MARKS: usize = 4;

/// The coverage of the LIST being read and of the interrupted ones before it.
#[derive(Debug, Default)]
pub(crate) struct ListCoverage {
    current: Option<Progress>,
    earlier: Vec<Mark>,
}

/// The LIST being read.
#[derive(Debug)]
struct Progress {
    /// Its snapshot's resourceVersion (`None` when not a number).
    snapshot: Option<u64>,
    /// The key of the last item read.
    last_key: Option<String>,
    /// False once something broke the rules above.
    trusted: bool,
}

/// An interrupted LIST: every item at or below `through` at or below `snapshot` was read.
#[derive(Debug, PartialEq)]
struct Mark {
    snapshot: u64,
    through: String,
}

impl ListCoverage {
    /// A LIST starts from its first page; the one before it, if any, was interrupted.
    pub(crate) fn start(&mut self) {
        if let Some(mark) = self.current.take().and_then(Progress::into_mark) {
            self.earlier
                .retain(|m| !(m.snapshot <= mark.snapshot && m.through <= mark.through));
            if self.earlier.len() == MAX_MARKS {
                self.earlier.remove(0);
            }
            self.earlier.push(mark);
        }
        self.current = Some(Progress {
            snapshot: None,
            last_key: None,
            trusted: true,
        });
    }

    /// A page of the current LIST, at the snapshot `resource_version`.
    pub(crate) fn page(&mut self, resource_version: Option<u64>) {
        let progress = self.current.get_or_insert(Progress {
            snapshot: None,
            last_key: None,
            trusted: false,
        });
        match (progress.last_key.is_some(), progress.snapshot) {
            (false, _) => progress.snapshot = resource_version,
            (true, snapshot) if snapshot == resource_version => {}
            (true, _) => progress.trusted = false,
        }
        progress.trusted &= progress.snapshot.is_some();
    }

    /// The current LIST read the item `namespace/name` at `resource_version`. True when this
    /// coverage will account for it if the LIST is interrupted; false when the caller must
    /// remember it some other way (the shipped-set).
    pub(crate) fn read(
        &mut self,
        namespace: &str,
        name: &str,
        resource_version: Option<u64>,
    ) -> bool {
        let Some(progress) = self.current.as_mut() else {
            return false;
        };
        if let Some(last) = &progress.last_key
            && compare_key(namespace, name, last) != Ordering::Greater
        {
            progress.trusted = false;
        }
        let key = progress.last_key.get_or_insert_with(String::new);
        key.clear();
        key.push_str(namespace);
        key.push('/');
        key.push_str(name);
        progress.trusted &= resource_version.is_some();
        progress.trusted
    }

    /// Whether an interrupted LIST read the item `namespace/name` at `resource_version`.
    pub(crate) fn covers(&self, namespace: &str, name: &str, resource_version: u64) -> bool {
        self.earlier.iter().any(|m| {
            resource_version <= m.snapshot
                && compare_key(namespace, name, &m.through) != Ordering::Greater
        })
    }

    /// The LIST completed: the position (its snapshot) covers all of this from now on.
    pub(crate) fn complete(&mut self) {
        self.current = None;
        self.earlier.clear();
    }
}

impl Progress {
    fn into_mark(self) -> Option<Mark> {
        match (self.trusted, self.snapshot, self.last_key) {
            (true, Some(snapshot), Some(through)) => Some(Mark { snapshot, through }),
            _ => None,
        }
    }
}

/// Orders `namespace/name` against a stored key byte by byte, as etcd orders its keys (which is
/// not the order of (namespace, name) pairs: `-` sorts before `/`).
fn compare_key(namespace: &str, name: &str, key: &str) -> Ordering {
    namespace
        .bytes()
        .chain(std::iter::once(b'/'))
        .chain(name.bytes())
        .cmp(key.bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn interrupted_after(items: &[(&str, &str, u64)], snapshot: u64) -> ListCoverage {
        let mut c = ListCoverage::default();
        c.start();
        c.page(Some(snapshot));
        for (ns, name, rv) in items {
            assert!(c.read(ns, name, Some(*rv)));
        }
        c.start();
        c
    }

    #[test]
    fn an_interrupted_list_covers_what_it_read_at_its_snapshot() {
        let c = interrupted_after(&[("a", "x", 5), ("b", "y", 7)], 10);
        assert!(c.covers("a", "x", 5));
        assert!(c.covers("b", "y", 7));
        assert!(
            c.covers("a", "zzz", 9),
            "below the last key, within the snapshot"
        );
        assert!(!c.covers("b", "z", 7), "after the last key: not read yet");
        assert!(!c.covers("a", "x", 11), "changed since the snapshot");
    }

    #[test]
    fn keys_order_as_etcd_orders_them() {
        // "a-b/x" < "a/x" bytewise ('-' < '/'), though ("a", _) < ("a-b", _) as pairs.
        let c = interrupted_after(&[("a-b", "x", 1)], 10);
        assert!(!c.covers("a", "x", 1));
        let c = interrupted_after(&[("a", "x", 1)], 10);
        assert!(c.covers("a-b", "x", 1));
    }

    #[test]
    fn out_of_order_items_or_changing_snapshots_are_not_trusted() {
        let mut c = ListCoverage::default();
        c.start();
        c.page(Some(10));
        assert!(c.read("b", "y", Some(1)));
        assert!(!c.read("a", "x", Some(2)), "out of key order");
        c.start();
        assert!(!c.covers("a", "x", 2) && !c.covers("b", "y", 1));

        let mut c = ListCoverage::default();
        c.start();
        c.page(Some(10));
        assert!(c.read("a", "x", Some(1)));
        c.page(Some(11));
        assert!(!c.read("b", "y", Some(2)), "a page of another snapshot");

        let mut c = ListCoverage::default();
        c.start();
        c.page(None);
        assert!(
            !c.read("a", "x", Some(1)),
            "a snapshot that is not a number"
        );
        c.start();
        c.page(Some(3));
        assert!(
            !c.read("a", "x", None),
            "a resourceVersion that is not a number"
        );
    }

    #[test]
    fn a_completed_list_forgets_everything_and_marks_stay_bounded() {
        let mut c = interrupted_after(&[("a", "x", 1)], 10);
        c.complete();
        assert!(!c.covers("a", "x", 1));
        let mut c = ListCoverage::default();
        for i in 0..10u64 {
            c.start();
            c.page(Some(100 - i));
            c.read("ns", &format!("n{i}"), Some(1));
        }
        assert!(c.earlier.len() <= MAX_MARKS);
    }

    proptest! {
        /// Against a model: a LIST of sorted keys at snapshot R, interrupted after any prefix,
        /// then listed again at a later snapshot with some items changed: exactly the unchanged
        /// items of the prefix are covered.
        #[test]
        fn covers_exactly_the_unchanged_items_read_before_the_interruption(
            keys in proptest::collection::btree_set("[a-c-]{1,3}/[a-c]{1,3}", 1..30),
            cut in 0usize..30,
            changed in proptest::collection::vec(any::<bool>(), 30),
        ) {
            let items: Vec<(String, String, u64)> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    let (ns, name) = k.split_once('/').unwrap_or((k, ""));
                    (ns.to_owned(), name.to_owned(), i as u64 + 1)
                })
                .collect();
            let snapshot = items.len() as u64;
            let cut = cut.min(items.len());
            let mut c = ListCoverage::default();
            c.start();
            c.page(Some(snapshot));
            for (ns, name, rv) in &items[..cut] {
                prop_assert!(c.read(ns, name, Some(*rv)));
            }
            c.start();
            c.page(Some(snapshot + 100));
            for (i, (ns, name, rv)) in items.iter().enumerate() {
                let rv = if changed[i] { snapshot + 1 + i as u64 } else { *rv };
                let expected = i < cut && !changed[i];
                prop_assert_eq!(c.covers(ns, name, rv), expected, "{}/{} at {}", ns, name, rv);
            }
        }
    }
}
