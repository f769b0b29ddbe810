//! The `batch` processor's core: groups records into batches by size and age.
//!
//! Pure: no tasks, no clocks. The caller passes the current [`Instant`] with every call and asks
//! [`Batcher::deadline`] when to call [`Batcher::poll`] next, so every timing case is testable.

use std::time::{Duration, Instant};

use crate::config::processors::BatchProcessorConfig;
use crate::record::{AnyValue, Attributes, LogRecord};

/// The memory a batch's pending records may hold before it is sent, whatever
/// `send_batch_size` says: at start-up a LIST delivers records faster than any timeout, and
/// 8192 Kubernetes events (about 16 MiB in memory with their encoding) would set the
/// collector's memory peak. 4 MiB is also about one Loki request (see `max_request_bytes`).
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// What a batched item costs in memory, roughly (see [`MAX_BATCH_BYTES`]).
pub trait Weigh {
    fn weight(&self) -> usize;
}

/// Bytes a heap allocation costs beyond its content (allocator header and rounding), and what a
/// record or an attribute holds inline.
const ALLOCATION: usize = 16;
const RECORD_INLINE: usize = std::mem::size_of::<LogRecord>();
const ATTRIBUTE_INLINE: usize = std::mem::size_of::<(String, AnyValue)>();

impl Weigh for LogRecord {
    fn weight(&self) -> usize {
        RECORD_INLINE
            + text_weight(&self.severity_text)
            + value_weight(&self.body)
            + attributes_weight(&self.attributes)
            + attributes_weight(&self.resource)
    }
}

fn text_weight(text: &str) -> usize {
    if text.is_empty() {
        0
    } else {
        text.len() + ALLOCATION
    }
}

fn attributes_weight(attributes: &Attributes) -> usize {
    let entries: usize = attributes
        .iter()
        .map(|(key, value)| ATTRIBUTE_INLINE + text_weight(key) + value_weight(value))
        .sum();
    entries + if attributes.is_empty() { 0 } else { ALLOCATION }
}

fn value_weight(value: &AnyValue) -> usize {
    match value {
        AnyValue::Str(s) => text_weight(s),
        AnyValue::Bytes(b) => b.len() + ALLOCATION,
        AnyValue::Array(items) => {
            items.len() * std::mem::size_of::<AnyValue>()
                + items.iter().map(value_weight).sum::<usize>()
                + ALLOCATION
        }
        AnyValue::Map(map) => attributes_weight(map),
        AnyValue::Int(_) | AnyValue::Double(_) | AnyValue::Bool(_) => 0,
    }
}

/// Collects records and hands them out in batches, in arrival order, none lost or repeated.
///
/// A batch is sent when `send_batch_size` records are pending, when they weigh
/// [`MAX_BATCH_BYTES`], or when `timeout` has passed since the first pending record arrived;
/// batches above `send_batch_max_size` (when set) are split. A zero size or timeout sends
/// everything at once, as in OpenTelemetry.
#[derive(Debug)]
pub struct Batcher<T> {
    size: usize,
    max_size: Option<usize>,
    max_bytes: usize,
    timeout: Duration,
    pending: Vec<T>,
    /// What the pending records weigh.
    pending_bytes: usize,
    /// When the oldest pending record arrived; `None` when nothing is pending.
    first_at: Option<Instant>,
}

impl<T: Weigh> Batcher<T> {
    /// An empty batcher with the config's sizes and timeout.
    pub fn new(config: &BatchProcessorConfig) -> Self {
        Self::with_max_bytes(config, MAX_BATCH_BYTES)
    }

    /// An empty batcher sending at `max_bytes` of pending records at the latest.
    pub fn with_max_bytes(config: &BatchProcessorConfig, max_bytes: usize) -> Self {
        let size = usize::try_from(config.send_batch_size).unwrap_or(usize::MAX);
        let max = usize::try_from(config.send_batch_max_size).unwrap_or(usize::MAX);
        Batcher {
            size,
            max_size: (max > 0).then_some(max),
            max_bytes: max_bytes.max(1),
            timeout: *config.timeout,
            pending: Vec::new(),
            pending_bytes: 0,
            first_at: None,
        }
    }

    /// Adds one record that arrived at `now`; returns the batches now due, oldest first.
    pub fn push(&mut self, record: T, now: Instant) -> Vec<Vec<T>> {
        self.extend(std::iter::once(record), now)
    }

    /// Adds records that arrived together at `now`; returns the batches now due, oldest first.
    pub fn extend(&mut self, records: impl IntoIterator<Item = T>, now: Instant) -> Vec<Vec<T>> {
        let mut out = Vec::new();
        for record in records {
            if self.first_at.is_none() {
                self.first_at = Some(now);
            }
            self.pending_bytes += record.weight();
            self.pending.push(record);
            // Checked per record, so that a big arrival never piles up past the bound.
            if self.pending_bytes >= self.max_bytes {
                self.take_all(&mut out);
            }
        }
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
        let batch = std::mem::replace(&mut self.pending, rest);
        if self.pending.is_empty() {
            // All of it went: nothing to weigh again.
            self.first_at = None;
            self.pending_bytes = 0;
        } else {
            let weight: usize = batch.iter().map(Weigh::weight).sum();
            self.pending_bytes = self.pending_bytes.saturating_sub(weight);
        }
        out.push(batch);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::duration::ConfigDuration;
    use proptest::prelude::*;

    /// Test items weigh their value.
    impl Weigh for u32 {
        fn weight(&self) -> usize {
            *self as usize
        }
    }

    fn config(size: u32, timeout_ms: u64, max: u32) -> BatchProcessorConfig {
        BatchProcessorConfig {
            send_batch_size: size,
            timeout: ConfigDuration::from_millis(timeout_ms),
            send_batch_max_size: max,
        }
    }

    fn batcher(size: u32, timeout_ms: u64, max: u32) -> Batcher<u32> {
        Batcher::with_max_bytes(&config(size, timeout_ms, max), usize::MAX)
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
    fn sends_when_the_pending_records_weigh_the_bound() {
        let t = Instant::now();
        let mut b = Batcher::with_max_bytes(&config(100, 200, 0), 10);
        assert!(b.extend([3, 3], t).is_empty());
        // A big arrival is cut where the bound is reached, record by record.
        assert_eq!(b.extend([4, 1, 9, 2], t), [vec![3, 3, 4], vec![1, 9]]);
        assert_eq!(b.len(), 1);
        assert_eq!(b.flush(), [vec![2]]);
        assert!(
            b.extend([5], t).is_empty(),
            "the weight starts again from zero"
        );
    }

    #[test]
    fn a_record_weighs_its_text_and_its_parts() {
        let mut r = LogRecord {
            body: AnyValue::Str("m".repeat(1000)),
            ..LogRecord::default()
        };
        let bare = r.weight();
        assert!((1000..1200).contains(&bare), "{bare}");
        r.attributes.upsert("k8s.event.reason", "BackOff");
        let with = r.weight();
        assert!(with > bare + "k8s.event.reasonBackOff".len(), "{with}");
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
            max_bytes in proptest::option::of(1usize..200),
        ) {
            let max = extra.map_or(0, |e| size + e);
            let mut b = Batcher::with_max_bytes(
                &config(size, timeout_ms, max),
                max_bytes.unwrap_or(usize::MAX),
            );
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
                let pending: usize = b.pending.iter().map(Weigh::weight).sum();
                prop_assert_eq!(pending, b.pending_bytes);
                prop_assert!(pending < max_bytes.unwrap_or(usize::MAX));
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
