//! Bounded memory of what the receiver shipped: the occurrences (`uid@resourceVersion`) a re-list
//! must not ship again, and the per-uid memory behind `dedup_interval` and `drop_updates`.
//!
//! Both are kept in two generations of hash maps: new entries go into the young one; when it is
//! full (or, for the update throttle, when an interval has passed) the old generation is dropped
//! whole and the young one becomes old. That bounds memory without a second, ordered copy of
//! every key, and evicts only the oldest entries, a generation at a time.
//!
//! Keys are exact, never hashes: a UUID uid and a decimal resourceVersion (what every API server
//! writes) pack into 24 bytes; anything else is kept as text.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How many occurrences the shipped-set remembers: at least the newest half of this, at most
/// all of it (about 4.5 MB when full: two hash tables of 64 Ki slots of 33 bytes; memory grows
/// with use). The watcher puts in it only what the position and the LIST coverage cannot account
/// for (resourceVersions that are not numbers, a LIST out of key order), so against a normal API
/// server it stays empty.
pub const SHIPPED_CAPACITY: usize = 100_000;

/// How many uids the update throttle remembers (same bound and eviction as above; at most about
/// 5.5 MB, and nothing at all unless `dedup_interval` or `drop_updates` is set).
pub const UPDATES_CAPACITY: usize = 100_000;

/// Two generations of a map: lookups see both, inserts go to the young one.
#[derive(Debug)]
struct Generations<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    /// Most entries one generation holds.
    per_generation: usize,
}

impl<K: Hash + Eq, V> Generations<K, V> {
    fn new(capacity: usize) -> Self {
        Generations {
            young: HashMap::new(),
            old: HashMap::new(),
            per_generation: (capacity / 2).max(1),
        }
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.young.get(key).or_else(|| self.old.get(key))
    }

    /// Inserts or refreshes `key`; true when that started a new young generation.
    fn insert(&mut self, key: K, value: V) -> bool {
        self.old.remove(&key);
        let rotate = !self.young.contains_key(&key) && self.young.len() >= self.per_generation;
        if rotate {
            self.rotate();
        }
        self.young.insert(key, value);
        rotate
    }

    fn is_empty(&self) -> bool {
        self.young.is_empty() && self.old.is_empty()
    }

    fn remove(&mut self, key: &K) {
        self.young.remove(key);
        self.old.remove(key);
    }

    /// Drops the old generation; the young one becomes old.
    fn rotate(&mut self) {
        self.old = std::mem::take(&mut self.young);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

/// A UUID's 128 bits as two words (8-byte aligned, unlike `u128`, so keys stay small).
type Uuid = [u64; 2];

/// Reads a lowercase, hyphenated UUID, the only form the API server generates. Other spellings
/// of the same bits stay text, so that two different strings never become one key.
fn parse_uuid(text: &str) -> Option<Uuid> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut value: u128 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if b != b'-' {
                return None;
            }
            continue;
        }
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        value = (value << 4) | u128::from(digit);
    }
    Some([(value >> 64) as u64, value as u64])
}

/// Reads a resourceVersion written as a canonical decimal (no sign, no leading zeros), as etcd
/// writes them; `None` for anything else.
pub fn parse_resource_version(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text.len() == 1 || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}

/// An event's uid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Uid {
    Uuid(Uuid),
    Text(Box<str>),
}

impl Uid {
    fn of(uid: &str) -> Uid {
        parse_uuid(uid).map_or_else(|| Uid::Text(uid.into()), Uid::Uuid)
    }
}

/// One occurrence of an event: its uid at one resourceVersion.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Occurrence {
    Packed([u64; 3]),
    /// `<length of uid>:<uid><resourceVersion>`: the length keeps `("a", "bc")` and `("ab", "c")`
    /// apart, and a pair that packs is never written as text.
    Text(Box<str>),
}

impl Occurrence {
    fn of(uid: &str, resource_version: &str) -> Occurrence {
        match (parse_uuid(uid), parse_resource_version(resource_version)) {
            (Some([high, low]), Some(rv)) => Occurrence::Packed([high, low, rv]),
            _ => Occurrence::Text(format!("{}:{uid}{resource_version}", uid.len()).into()),
        }
    }
}

/// The occurrences shipped lately, so that a re-list skips them. Bounded by its capacity; forgets
/// the oldest first.
#[derive(Debug)]
pub struct ShippedSet(Generations<Occurrence, ()>);

impl ShippedSet {
    /// A set remembering at least the newest `capacity / 2` and at most `capacity` occurrences
    /// (`capacity` counts as at least 2).
    pub fn new(capacity: usize) -> Self {
        ShippedSet(Generations::new(capacity))
    }

    /// Whether the occurrence `uid@resource_version` was inserted and not yet forgotten.
    pub fn contains(&self, uid: &str, resource_version: &str) -> bool {
        // Empty against a normal API server (see the watcher): skip building the key.
        !self.0.is_empty() && self.0.get(&Occurrence::of(uid, resource_version)).is_some()
    }

    /// Remembers a shipped occurrence.
    pub fn insert(&mut self, uid: &str, resource_version: &str) {
        self.0.insert(Occurrence::of(uid, resource_version), ());
    }

    /// How many occurrences are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// What to do with updates of an event (MODIFIED: a count or series bump).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdatePolicy {
    /// Ship every occurrence (the default).
    ShipAll,
    /// Ship an update only if the last shipped occurrence of the same uid is at least this old
    /// (`dedup_interval`, as the OpenTelemetry receiver's option).
    Throttle(Duration),
    /// Never ship updates (`drop_updates: true`; a negative `dedup_interval` in OpenTelemetry).
    Drop,
}

impl UpdatePolicy {
    /// The policy the config asks for: `drop_updates` wins over `dedup_interval`; a zero interval
    /// throttles nothing.
    pub fn from_config(drop_updates: bool, dedup_interval: Option<Duration>) -> Self {
        match dedup_interval {
            _ if drop_updates => UpdatePolicy::Drop,
            Some(interval) if !interval.is_zero() => UpdatePolicy::Throttle(interval),
            _ => UpdatePolicy::ShipAll,
        }
    }
}

/// The per-uid memory of shipped occurrences that an [`UpdatePolicy`] needs: when each uid was
/// last shipped. With [`UpdatePolicy::ShipAll`] it remembers nothing.
#[derive(Debug)]
pub struct UpdateThrottle {
    policy: UpdatePolicy,
    last_shipped: Generations<Uid, Instant>,
    /// When the young generation was started; with a throttle interval, the old generation is
    /// dropped once it is entirely older than the interval.
    young_since: Option<Instant>,
}

impl UpdateThrottle {
    /// A throttle for `policy` remembering at most `capacity` uids.
    pub fn new(policy: UpdatePolicy, capacity: usize) -> Self {
        UpdateThrottle {
            policy,
            last_shipped: Generations::new(capacity),
            young_since: None,
        }
    }

    /// Whether an occurrence of `uid` was shipped recently enough to matter: such an item in a
    /// re-list is an update, not a new event. Always false with [`UpdatePolicy::ShipAll`].
    pub fn knows(&mut self, uid: &str, now: Instant) -> bool {
        self.expire(now);
        let last = self.last_shipped.get(&Uid::of(uid));
        match self.policy {
            UpdatePolicy::Throttle(interval) => {
                last.is_some_and(|&last| now.saturating_duration_since(last) < interval)
            }
            UpdatePolicy::Drop | UpdatePolicy::ShipAll => last.is_some(),
        }
    }

    /// Whether an update of `uid` seen at `now` may be shipped.
    pub fn admits_update(&mut self, uid: &str, now: Instant) -> bool {
        match self.policy {
            UpdatePolicy::ShipAll => true,
            UpdatePolicy::Drop => false,
            UpdatePolicy::Throttle(interval) => {
                self.expire(now);
                self.last_shipped
                    .get(&Uid::of(uid))
                    .is_none_or(|&last| now.saturating_duration_since(last) >= interval)
            }
        }
    }

    /// Notes that an occurrence of `uid` was shipped at `now`.
    pub fn shipped(&mut self, uid: &str, now: Instant) {
        if self.policy == UpdatePolicy::ShipAll {
            return;
        }
        self.expire(now);
        if self.last_shipped.insert(Uid::of(uid), now) {
            self.young_since = Some(now);
        }
        self.young_since.get_or_insert(now);
    }

    /// Forgets `uid` (its event was deleted: no more updates will come).
    pub fn forget(&mut self, uid: &str) {
        if self.policy != UpdatePolicy::ShipAll {
            self.last_shipped.remove(&Uid::of(uid));
        }
    }

    /// How many uids are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.last_shipped.len()
    }

    /// Whether no uid is remembered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// With a throttle interval: entries older than it throttle nothing, so a generation that
    /// started more than an interval ago can be aged out.
    fn expire(&mut self, now: Instant) {
        let UpdatePolicy::Throttle(interval) = self.policy else {
            return;
        };
        if let Some(since) = self.young_since
            && now.saturating_duration_since(since) >= interval
        {
            // Everything in the old generation is older than `since`, so older than the
            // interval by now; the young one becomes old and ages out an interval later.
            self.last_shipped.rotate();
            self.young_since = Some(now);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    const UID: &str = "4f383140-8513-4de1-bfe5-0fb0917e5ff0";

    #[test]
    fn uuids_and_decimals_pack_exactly() {
        assert_eq!(
            Occurrence::of(UID, "385"),
            Occurrence::Packed([0x4f38_3140_8513_4de1, 0xbfe5_0fb0917e5ff0, 385])
        );
        // Other spellings stay text, so they never collide with the packed form.
        let upper = UID.to_uppercase();
        assert!(matches!(Occurrence::of(&upper, "385"), Occurrence::Text(_)));
        assert!(matches!(Occurrence::of(UID, "0385"), Occurrence::Text(_)));
        assert!(matches!(Occurrence::of(UID, "+385"), Occurrence::Text(_)));
        assert!(matches!(Occurrence::of("", ""), Occurrence::Text(_)));
        assert_eq!(parse_resource_version("0"), Some(0));
        assert_eq!(parse_resource_version("18446744073709551616"), None);
        assert_eq!(std::mem::size_of::<Occurrence>(), 32);
    }

    #[test]
    fn shipped_set_forgets_the_oldest_generation() {
        let mut set = ShippedSet::new(4);
        for rv in 1..=4 {
            set.insert(UID, &rv.to_string());
        }
        assert_eq!(set.len(), 4);
        set.insert(UID, "5");
        assert_eq!(set.len(), 3);
        assert!(!set.contains(UID, "1") && !set.contains(UID, "2"));
        assert!(set.contains(UID, "3") && set.contains(UID, "5"));
        // Re-inserting a remembered key neither duplicates nor evicts.
        set.insert(UID, "5");
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn policy_from_config() {
        let minute = Some(Duration::from_secs(60));
        assert_eq!(UpdatePolicy::from_config(true, minute), UpdatePolicy::Drop);
        assert_eq!(
            UpdatePolicy::from_config(false, minute),
            UpdatePolicy::Throttle(Duration::from_secs(60))
        );
        assert_eq!(
            UpdatePolicy::from_config(false, Some(Duration::ZERO)),
            UpdatePolicy::ShipAll
        );
        assert_eq!(
            UpdatePolicy::from_config(false, None),
            UpdatePolicy::ShipAll
        );
    }

    #[test]
    fn throttle_ships_one_update_per_interval() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut throttle = UpdateThrottle::new(UpdatePolicy::Throttle(s(10)), 100);
        assert!(throttle.admits_update(UID, t0));
        throttle.shipped(UID, t0);
        assert!(!throttle.admits_update(UID, t0 + s(9)));
        assert!(throttle.admits_update(UID, t0 + s(10)));
        throttle.shipped(UID, t0 + s(10));
        assert!(!throttle.admits_update(UID, t0 + s(19)));
        assert!(throttle.knows(UID, t0 + s(19)));
        // An interval after the last shipment, an update ships and a re-listed item is new.
        assert!(!throttle.knows(UID, t0 + s(21)));
        assert!(throttle.admits_update(UID, t0 + s(21)));
        // Two intervals on, the entry is gone from memory too.
        assert!(!throttle.knows(UID, t0 + s(31)));
        assert!(throttle.len() <= 1);
        assert!(!throttle.knows(UID, t0 + s(42)));
        assert!(throttle.is_empty());
        throttle.shipped(UID, t0 + s(42));
        throttle.forget(UID);
        assert!(!throttle.knows(UID, t0 + s(43)));
    }

    #[test]
    fn drop_remembers_uids_and_ship_all_remembers_nothing() {
        let now = Instant::now();
        let mut drop = UpdateThrottle::new(UpdatePolicy::Drop, 100);
        drop.shipped(UID, now);
        assert!(!drop.admits_update(UID, now));
        assert!(!drop.admits_update("other", now));
        assert!(drop.knows(UID, now + Duration::from_secs(86_400)));
        let mut all = UpdateThrottle::new(UpdatePolicy::ShipAll, 100);
        all.shipped(UID, now);
        assert!(all.admits_update(UID, now));
        assert!(!all.knows(UID, now));
        assert!(all.is_empty());
    }

    fn key() -> impl Strategy<Value = (String, String)> {
        let uid = prop_oneof![
            Just(UID.to_owned()),
            Just("66ffae70-2e38-42ac-9f25-65974a10213c".to_owned()),
            "[0-9a-fA-F-]{0,36}",
            "[a-c@]{0,3}",
        ];
        let rv = prop_oneof!["[0-9]{1,3}", "[0-9a-c@+]{0,3}"];
        (uid, rv)
    }

    proptest! {
        /// The bound holds, nothing unseen is reported as seen, and the newest half of the bound
        /// is always remembered.
        #[test]
        fn shipped_set_is_bounded_and_exact(
            capacity in 1usize..40,
            ops in proptest::collection::vec((key(), any::<bool>()), 0..300),
        ) {
            let mut set = ShippedSet::new(capacity);
            let mut inserted = HashSet::new();
            let mut recent: Vec<(String, String)> = Vec::new();
            for ((uid, rv), insert) in ops {
                if insert {
                    set.insert(&uid, &rv);
                    inserted.insert((uid.clone(), rv.clone()));
                    recent.retain(|k| *k != (uid.clone(), rv.clone()));
                    recent.push((uid, rv));
                } else if set.contains(&uid, &rv) {
                    prop_assert!(inserted.contains(&(uid, rv)));
                }
                prop_assert!(set.len() <= capacity.max(2));
                for (uid, rv) in recent.iter().rev().take((capacity / 2).max(1)) {
                    prop_assert!(set.contains(uid, rv));
                }
            }
        }
    }
}
