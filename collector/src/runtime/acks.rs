//! Which receiver position is safe to checkpoint: the newest one whose records have all been
//! delivered (or permanently rejected) by every exporter of the pipeline.
//!
//! Records are counted, not copied: each received batch leaves a mark "after N kept records,
//! the receiver stood at P"; delivering records moves a counter past marks.

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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
