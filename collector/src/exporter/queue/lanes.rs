//! The queue's bookkeeping, without I/O or tasks: one FIFO lane per tenant, at most one request
//! of a lane out at a time, and a capacity counted in requests (waiting or being sent).
//!
//! One request per tenant at a time keeps each Loki stream's entries in order even when Loki
//! refuses out-of-order writes (`unordered_writes: false`); consumers still work in parallel
//! across tenants. A request being retried holds its lane, so later ones cannot overtake it.

use std::collections::{BTreeMap, VecDeque};

/// A lane: the tenant of a Loki push (`None`: the configured one; otlphttp has only that).
pub type LaneKey = Option<String>;

/// See the module documentation.
#[derive(Debug)]
pub struct Lanes<T> {
    lanes: BTreeMap<LaneKey, Lane<T>>,
    capacity: usize,
    /// Requests waiting or taken out.
    len: usize,
    next_seq: u64,
}

#[derive(Debug)]
struct Lane<T> {
    waiting: VecDeque<(u64, T)>,
    /// A request of this lane is out being sent.
    busy: bool,
}

/// A request taken out to be sent; hand its lane back with [`Lanes::done`].
#[derive(Debug)]
pub struct Taken<T> {
    pub lane: LaneKey,
    pub seq: u64,
    pub item: T,
}

impl<T> Lanes<T> {
    /// Empty lanes holding up to `capacity` requests (at least one).
    pub fn new(capacity: usize) -> Self {
        Lanes {
            lanes: BTreeMap::new(),
            capacity: capacity.max(1),
            len: 0,
            next_seq: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether `n` more requests fit. An empty queue takes any batch, so one batch with more
    /// requests than the capacity still goes (alone) instead of waiting forever.
    pub fn has_room(&self, n: usize) -> bool {
        self.len == 0 || self.len + n <= self.capacity
    }

    /// The sequence number for the next request (global enqueue order, also the file name).
    pub fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Appends `item` to `lane`. `seq` must grow within a lane; restored requests come with
    /// their own, and later ones are numbered after them.
    pub fn push(&mut self, lane: LaneKey, seq: u64, item: T) {
        self.next_seq = self.next_seq.max(seq + 1);
        self.len += 1;
        self.lanes
            .entry(lane)
            .or_insert_with(|| Lane {
                waiting: VecDeque::new(),
                busy: false,
            })
            .waiting
            .push_back((seq, item));
    }

    /// The oldest waiting request of a lane that has nothing out, marking that lane busy.
    pub fn take(&mut self) -> Option<Taken<T>> {
        let key = self
            .lanes
            .iter()
            .filter(|(_, lane)| !lane.busy)
            .filter_map(|(key, lane)| lane.waiting.front().map(|(seq, _)| (*seq, key)))
            .min_by_key(|(seq, _)| *seq)
            .map(|(_, key)| key.clone())?;
        let lane = self.lanes.get_mut(&key)?;
        let (seq, item) = lane.waiting.pop_front()?;
        lane.busy = true;
        Some(Taken {
            lane: key,
            seq,
            item,
        })
    }

    /// The request taken from `lane` is finished (delivered or given up): the lane is free.
    pub fn done(&mut self, lane: &LaneKey) {
        let Some(l) = self.lanes.get_mut(lane) else {
            return;
        };
        if !l.busy {
            return;
        }
        l.busy = false;
        self.len -= 1;
        if l.waiting.is_empty() {
            self.lanes.remove(lane);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(name: &str) -> LaneKey {
        Some(name.to_owned())
    }

    fn push(lanes: &mut Lanes<&'static str>, lane: LaneKey, item: &'static str) {
        let seq = lanes.next_seq();
        lanes.push(lane, seq, item);
    }

    #[test]
    fn one_request_per_tenant_at_a_time_oldest_first() {
        let mut lanes = Lanes::new(10);
        push(&mut lanes, t("a"), "a1");
        push(&mut lanes, t("b"), "b1");
        push(&mut lanes, t("a"), "a2");
        let first = lanes.take().map(|x| x.item);
        let second = lanes.take().map(|x| x.item);
        assert_eq!((first, second), (Some("a1"), Some("b1")));
        // a2 waits for a1, whatever the order b1 and a1 finish in.
        assert!(lanes.take().is_none());
        lanes.done(&t("b"));
        assert!(lanes.take().is_none());
        lanes.done(&t("a"));
        assert_eq!(lanes.take().map(|x| x.item), Some("a2"));
        assert_eq!(lanes.len(), 1);
        lanes.done(&t("a"));
        assert!(lanes.is_empty());
    }

    #[test]
    fn capacity_counts_requests_out_too_and_an_empty_queue_takes_any_batch() {
        let mut lanes = Lanes::new(2);
        assert!(lanes.has_room(5));
        push(&mut lanes, None, "1");
        assert!(lanes.has_room(1));
        assert!(!lanes.has_room(2));
        push(&mut lanes, None, "2");
        let _ = lanes.take();
        assert!(!lanes.has_room(1));
        lanes.done(&None);
        assert!(lanes.has_room(1));
    }

    #[test]
    fn restored_sequence_numbers_come_first_and_new_ones_follow() {
        let mut lanes = Lanes::new(10);
        lanes.push(None, 41, "restored");
        assert_eq!(lanes.next_seq(), 42);
    }

    proptest! {
        /// Whatever the tenants, capacities and completion order: each request is taken exactly
        /// once, in push order within its tenant, never two of a tenant at once.
        #[test]
        fn never_loses_duplicates_or_reorders_a_tenant(
            ops in proptest::collection::vec((0u8..3, 0u8..4, any::<prop::sample::Index>()), 1..200),
            capacity in 1usize..8,
        ) {
            let mut lanes: Lanes<(u8, u32)> = Lanes::new(capacity);
            let mut pushed: Vec<Vec<u32>> = vec![Vec::new(); 4];
            let mut sent: Vec<Vec<u32>> = vec![Vec::new(); 4];
            let mut out: Vec<Taken<(u8, u32)>> = Vec::new();
            let mut counter = 0u32;
            let finish = |lanes: &mut Lanes<(u8, u32)>, out: &mut Vec<Taken<(u8, u32)>>, i: prop::sample::Index| {
                if !out.is_empty() {
                    let taken = out.swap_remove(i.index(out.len()));
                    lanes.done(&taken.lane);
                }
            };
            for (op, tenant, pick) in ops {
                match op {
                    0 if lanes.has_room(1) => {
                        counter += 1;
                        let seq = lanes.next_seq();
                        lanes.push(Some(tenant.to_string()), seq, (tenant, counter));
                        pushed[usize::from(tenant)].push(counter);
                    }
                    0 | 1 => {
                        if let Some(taken) = lanes.take() {
                            prop_assert!(out.iter().all(|o| o.lane != taken.lane), "two of a tenant out");
                            let (tenant, n) = taken.item;
                            sent[usize::from(tenant)].push(n);
                            out.push(taken);
                        }
                    }
                    _ => finish(&mut lanes, &mut out, pick),
                }
                prop_assert!(lanes.len() <= capacity);
            }
            for taken in out.drain(..) {
                lanes.done(&taken.lane);
            }
            while let Some(taken) = lanes.take() {
                sent[usize::from(taken.item.0)].push(taken.item.1);
                lanes.done(&taken.lane);
            }
            prop_assert_eq!(pushed, sent);
            prop_assert!(lanes.is_empty());
        }
    }
}
