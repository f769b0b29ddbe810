//! Which receiver position is safe to checkpoint: the newest one whose records have all been
//! delivered (or permanently rejected) by every exporter of the pipeline.
//!
//! Records are counted, not copied: each received batch leaves a mark "after N kept records,
//! the receiver stood at P"; delivering records moves a counter past marks.
//!
//! That counter only moves over a contiguous prefix. With a `sending_queue`, batches settle out
//! of order (several consumers, several tenants), so [`InOrder`] holds a settled batch back
//! until every batch handed out before it is settled too.

use std::collections::VecDeque;

use crate::receiver::k8s_events::Position;

/// Marks of received-but-unacknowledged positions, oldest first.
#[derive(Debug, Default)]
pub struct AckTracker {
    marks: VecDeque<(u64, Position)>,
    /// Kept records handed to the pipeline so far.
    received: u64,
    /// Of those, delivered or permanently rejected.
    settled: u64,
    acked: Option<Position>,
}

impl AckTracker {
    /// A received batch that left `kept` records after the processors.
    pub fn received(&mut self, kept: usize, position: Position) {
        self.received += kept as u64;
        self.marks.push_back((self.received, position));
        self.advance();
    }

    /// `count` more records (in receive order) were settled by every exporter.
    pub fn settled(&mut self, count: usize) {
        self.settled = (self.settled + count as u64).min(self.received);
        self.advance();
    }

    fn advance(&mut self) {
        while let Some((upto, _)) = self.marks.front() {
            if *upto > self.settled {
                break;
            }
            if let Some((_, position)) = self.marks.pop_front() {
                self.acked = Some(position);
            }
        }
    }

    /// The newest position all of whose records are settled.
    pub fn acked(&self) -> Option<&Position> {
        self.acked.as_ref()
    }

    /// Records received but not yet settled.
    pub fn in_flight(&self) -> u64 {
        self.received - self.settled
    }
}

/// Batches handed to the exporters, by sequence number, settled in any order; releases their
/// record counts in the order they were issued.
#[derive(Debug, Default)]
pub struct InOrder {
    /// The sequence number of `pending[0]`.
    first: u64,
    /// Per batch from `first` on: its records, and whether it is settled.
    pending: VecDeque<(usize, bool)>,
}

impl InOrder {
    /// A batch of `records` leaves for the exporters; returns its sequence number.
    pub fn issue(&mut self, records: usize) -> u64 {
        self.pending.push_back((records, false));
        self.first + self.pending.len() as u64 - 1
    }

    /// Batch `seq` is settled; returns the records now settled in order (for
    /// [`AckTracker::settled`]): its own and any held back behind it, or 0 while an older
    /// batch is still out.
    pub fn settle(&mut self, seq: u64) -> usize {
        let Some(index) = seq
            .checked_sub(self.first)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return 0;
        };
        if let Some(batch) = self.pending.get_mut(index) {
            batch.1 = true;
        }
        let mut released = 0;
        while let Some(&(records, true)) = self.pending.front() {
            released += records;
            self.pending.pop_front();
            self.first += 1;
        }
        released
    }

    /// Batches issued and not yet released.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn out_of_order_settlement_releases_only_a_contiguous_prefix() {
        let mut order = InOrder::default();
        let mut t = AckTracker::default();
        let (a, b, c) = (order.issue(3), order.issue(2), order.issue(4));
        t.received(3, pos(10));
        t.received(2, pos(20));
        t.received(4, pos(30));
        // The second and third batch are done first: nothing is acknowledged yet.
        t.settled(order.settle(c));
        t.settled(order.settle(b));
        assert_eq!(t.acked(), None);
        assert_eq!(order.outstanding(), 3);
        // The first one completes the prefix: everything is.
        assert_eq!(order.settle(a), 9);
        t.settled(9);
        assert_eq!(t.acked(), Some(&pos(30)));
        assert_eq!(order.outstanding(), 0);
        // A late or repeated report changes nothing.
        assert_eq!(order.settle(a), 0);
    }

    proptest! {
        /// Settling batches in any order releases every record exactly once, and never a
        /// batch before all older ones.
        #[test]
        fn in_order_releases_each_batch_once_after_its_elders(
            sizes in proptest::collection::vec(0usize..5, 1..30),
            order in proptest::collection::vec(any::<prop::sample::Index>(), 30),
        ) {
            let mut in_order = InOrder::default();
            let seqs: Vec<u64> = sizes.iter().map(|&n| in_order.issue(n)).collect();
            let mut left: Vec<u64> = seqs.clone();
            let mut settled = std::collections::BTreeSet::new();
            let mut released = 0usize;
            for pick in order.iter().cycle().take(sizes.len()) {
                let seq = left.swap_remove(pick.index(left.len()));
                settled.insert(seq);
                released += in_order.settle(seq);
                let prefix = (0..).take_while(|s| settled.contains(s)).count();
                prop_assert_eq!(released, sizes[..prefix].iter().sum::<usize>());
            }
            prop_assert_eq!(released, sizes.iter().sum::<usize>());
            prop_assert_eq!(in_order.outstanding(), 0);
        }
    }

    fn pos(rv: u32) -> Position {
        Position::at(rv.to_string())
    }

    #[test]
    fn a_position_is_acked_only_when_all_its_records_are_settled() {
        let mut t = AckTracker::default();
        t.received(3, pos(10));
        t.received(2, pos(20));
        assert_eq!(t.acked(), None);
        t.settled(2);
        assert_eq!(t.acked(), None);
        t.settled(1);
        assert_eq!(t.acked(), Some(&pos(10)));
        t.settled(2);
        assert_eq!(t.acked(), Some(&pos(20)));
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn batches_without_kept_records_ack_once_everything_before_them_is_settled() {
        let mut t = AckTracker::default();
        t.received(0, pos(5));
        assert_eq!(t.acked(), Some(&pos(5)));
        t.received(1, pos(6));
        t.received(0, pos(7));
        assert_eq!(t.acked(), Some(&pos(5)));
        t.settled(1);
        assert_eq!(t.acked(), Some(&pos(7)));
    }

    proptest! {
        /// The acked position never runs ahead of settled records and never goes back.
        #[test]
        fn never_ahead_never_back(ops in proptest::collection::vec((0usize..5, 0usize..5), 1..50)) {
            let mut t = AckTracker::default();
            let mut bounds: Vec<(u64, u32)> = Vec::new();
            let mut last_acked = 0u32;
            for (i, (kept, settle)) in ops.into_iter().enumerate() {
                let rv = u32::try_from(i + 1).unwrap_or(u32::MAX);
                t.received(kept, pos(rv));
                bounds.push((t.received, rv));
                let settle = settle.min(usize::try_from(t.in_flight()).unwrap_or(0));
                t.settled(settle);
                if let Some(acked) = t.acked() {
                    let rv: u32 = acked.resource_version.parse().unwrap_or(0);
                    let needed = bounds.iter().find(|(_, r)| *r == rv).map(|(n, _)| *n).unwrap_or(0);
                    prop_assert!(needed <= t.settled);
                    prop_assert!(rv >= last_acked);
                    last_acked = rv;
                }
            }
        }
    }
}
