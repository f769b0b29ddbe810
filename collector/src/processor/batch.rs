//! The `batch` processor's core: groups records into batches by size and age.
//!
//! Pure: no tasks, no clocks. The caller passes the current [`Instant`] with every call and asks
//! [`Batcher::deadline`] when to call [`Batcher::poll`] next, so every timing case is testable.

use std::time::{Duration, Instant};

use crate::config::processors::BatchProcessorConfig;

/// Collects records and hands them out in batches, in arrival order, none lost or repeated.
///
/// A batch is sent when `send_batch_size` records are pending, or when `timeout` has passed
/// since the first pending record arrived; batches above `send_batch_max_size` (when set) are
/// split. A zero size or timeout sends everything at once, as in OpenTelemetry.
#[derive(Debug)]
pub struct Batcher<T> {
    size: usize,
    max_size: Option<usize>,
    timeout: Duration,
    pending: Vec<T>,
    /// When the oldest pending record arrived; `None` when nothing is pending.
    first_at: Option<Instant>,
}

impl<T> Batcher<T> {
    /// An empty batcher with the config's sizes and timeout.
    pub fn new(config: &BatchProcessorConfig) -> Self {
        let size = usize::try_from(config.send_batch_size).unwrap_or(usize::MAX);
        let max = usize::try_from(config.send_batch_max_size).unwrap_or(usize::MAX);
        Batcher {
            size,
            max_size: (max > 0).then_some(max),
            timeout: *config.timeout,
            pending: Vec::new(),
            first_at: None,
        }
    }

    /// Adds one record that arrived at `now`; returns the batches now due, oldest first.
    pub fn push(&mut self, record: T, now: Instant) -> Vec<Vec<T>> {
        self.extend(std::iter::once(record), now)
    }

    /// Adds records that arrived together at `now`; returns the batches now due, oldest first.
    pub fn extend(&mut self, records: impl IntoIterator<Item = T>, now: Instant) -> Vec<Vec<T>> {
        let before = self.pending.len();
        self.pending.extend(records);
        if self.pending.len() > before && self.first_at.is_none() {
            self.first_at = Some(now);
        }
        let mut out = Vec::new();
        if self.size == 0 || self.timeout.is_zero() {
            self.take_all(&mut out);
            return out;
        }
        while self.pending.len() >= self.size {
            self.take_one(&mut out);
        }
        // What is left arrived now: the first chunk above took every older record, since a
        // chunk holds at least `size` records and fewer than `size` were waiting before.
        if !out.is_empty() && !self.pending.is_empty() {
            self.first_at = Some(now);
        }
        out.extend(self.poll(now));
        out
    }

    /// Returns the pending records as batches if the timeout has passed at `now`.
    pub fn poll(&mut self, now: Instant) -> Vec<Vec<T>> {
        let mut out = Vec::new();
        if self.deadline().is_some_and(|deadline| now >= deadline) {
            self.take_all(&mut out);
        }
        out
    }

    /// When the pending records are due by age; `None` when nothing is pending (or the
    /// timeout is too long to represent, which means never).
    pub fn deadline(&self) -> Option<Instant> {
        self.first_at?.checked_add(self.timeout)
    }

    /// Returns everything pending, split by the maximum size: for shutdown.
    pub fn flush(&mut self) -> Vec<Vec<T>> {
        let mut out = Vec::new();
        self.take_all(&mut out);
        out
    }

    /// How many records are pending.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    fn take_all(&mut self, out: &mut Vec<Vec<T>>) {
        while !self.pending.is_empty() {
            self.take_one(out);
        }
    }

    /// Moves the oldest batch (up to the maximum size) from pending to `out`.
    fn take_one(&mut self, out: &mut Vec<Vec<T>>) {
        let n = self
            .max_size
            .map_or(self.pending.len(), |max| max.min(self.pending.len()));
        let rest = self.pending.split_off(n);
        out.push(std::mem::replace(&mut self.pending, rest));
        if self.pending.is_empty() {
            self.first_at = None;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::duration::ConfigDuration;
    use proptest::prelude::*;

    fn batcher(size: u32, timeout_ms: u64, max: u32) -> Batcher<u32> {
        Batcher::new(&BatchProcessorConfig {
            send_batch_size: size,
            timeout: ConfigDuration::from_millis(timeout_ms),
            send_batch_max_size: max,
        })
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn sends_when_the_size_is_reached() {
        let t = Instant::now();
        let mut b = batcher(3, 200, 0);
        assert!(b.push(1, t).is_empty());
        assert!(b.push(2, t).is_empty());
        assert_eq!(b.push(3, t), [vec![1, 2, 3]]);
        assert!(b.is_empty());
        assert_eq!(b.deadline(), None);
    }

    #[test]
    fn sends_when_the_first_record_is_old_enough() {
        let t = Instant::now();
        let mut b = batcher(100, 200, 0);
        b.push(1, t);
        b.push(2, t + ms(150));
        assert_eq!(b.deadline(), Some(t + ms(200)));
        assert!(b.poll(t + ms(199)).is_empty());
        assert_eq!(b.poll(t + ms(200)), [vec![1, 2]]);
        assert_eq!(b.deadline(), None);
        // The next batch's clock starts with its own first record.
        b.push(3, t + ms(300));
        assert_eq!(b.deadline(), Some(t + ms(500)));
        // A push past the deadline sends without waiting for a poll.
        assert_eq!(b.push(4, t + ms(600)), [vec![3, 4]]);
    }

    #[test]
    fn splits_at_the_maximum_size() {
        let t = Instant::now();
        let mut b = batcher(3, 200, 4);
        let out = b.extend(1..=10, t);
        assert_eq!(out, [vec![1, 2, 3, 4], vec![5, 6, 7, 8]]);
        assert_eq!(b.len(), 2);
        assert_eq!(b.deadline(), Some(t + ms(200)));
        assert_eq!(b.flush(), [vec![9, 10]]);
        // Without a maximum, a big arrival leaves as one batch.
        let mut b = batcher(3, 200, 0);
        assert_eq!(b.extend(1..=10, t), [(1..=10).collect::<Vec<_>>()]);
    }

    #[test]
    fn zero_size_or_timeout_sends_at_once() {
        let t = Instant::now();
        assert_eq!(batcher(0, 200, 0).push(1, t), [vec![1]]);
        assert_eq!(batcher(5, 0, 0).push(1, t), [vec![1]]);
        assert_eq!(
            batcher(0, 200, 2).extend(1..=5, t),
            [vec![1, 2], vec![3, 4], vec![5]]
        );
    }

    #[test]
    fn timeout_flush_splits_too() {
        let t = Instant::now();
        let mut b = batcher(10, 50, 10);
        b.extend(1..=9, t);
        assert_eq!(b.poll(t + ms(50)), [(1..=9).collect::<Vec<_>>()]);
    }

    #[test]
    fn huge_timeouts_and_clocks_going_back_do_not_panic() {
        let t = Instant::now();
        let mut b: Batcher<u32> = Batcher::new(&BatchProcessorConfig {
            send_batch_size: 10,
            timeout: ConfigDuration(Duration::MAX),
            send_batch_max_size: 0,
        });
        b.push(1, t);
        assert_eq!(b.deadline(), None);
        assert!(b.poll(t + ms(1_000_000)).is_empty());
        let mut b = batcher(10, 50, 0);
        b.push(1, t + ms(100));
        assert!(b.poll(t).is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push,
        Extend(usize),
        Wait(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Push),
            (0usize..25).prop_map(Op::Extend),
            (0u64..80).prop_map(Op::Wait),
        ]
    }

    proptest! {
        #[test]
        fn never_loses_duplicates_or_reorders(
            size in 0u32..8,
            extra in proptest::option::of(0u32..8),
            timeout_ms in 0u64..60,
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let max = extra.map_or(0, |e| size + e);
            let mut b = batcher(size, timeout_ms, max);
            let start = Instant::now();
            let mut now = start;
            let mut next = 0u32;
            let mut sent: Vec<Vec<u32>> = Vec::new();
            for op in ops {
                let out = match op {
                    Op::Push => {
                        next += 1;
                        b.push(next - 1, now)
                    }
                    Op::Extend(n) => {
                        let first = next;
                        next += u32::try_from(n).unwrap();
                        b.extend(first..next, now)
                    }
                    Op::Wait(d) => {
                        now += ms(d);
                        b.poll(now)
                    }
                };
                sent.extend(out);
                // Nothing stays pending past its deadline, nor at or above the size.
                if let Some(deadline) = b.deadline() {
                    prop_assert!(now < deadline);
                }
                if size > 0 && timeout_ms > 0 {
                    prop_assert!(b.len() < size as usize);
                } else {
                    prop_assert!(b.is_empty());
                }
            }
            sent.extend(b.flush());
            prop_assert!(b.is_empty());
            for batch in &sent {
                prop_assert!(!batch.is_empty());
                if max > 0 {
                    prop_assert!(batch.len() <= max as usize);
                }
            }
            let all: Vec<u32> = sent.into_iter().flatten().collect();
            prop_assert_eq!(all, (0..next).collect::<Vec<_>>());
        }
    }
}
