//! The queue with a fake exporter: ordering per tenant, back-pressure, acknowledgement, spill
//! to disk and restore, shutdown. Records are `tenant:n` bodies; a request carries the `n`s of
//! one tenant's records, comma-separated.

use std::sync::Mutex;
use std::time::Duration;

use proptest::prelude::*;
use tokio::sync::mpsc;

use super::*;
use crate::config::extensions::FileStorageConfig;

/// Sends by writing down what it got; holds every request while `up` is false.
#[derive(Debug)]
struct Fake {
    stats: Arc<ExporterStats>,
    sent: Mutex<Vec<(Option<String>, u32)>>,
    up: watch::Sender<bool>,
    /// Per request, how many times sending yields (derived from its first record).
    delay: fn(u32) -> u64,
}

impl Fake {
    fn new(up: bool) -> Arc<Fake> {
        Arc::new(Fake {
            stats: Arc::new(ExporterStats::new("fake")),
            sent: Mutex::new(Vec::new()),
            up: watch::channel(up).0,
            delay: |_| 0,
        })
    }

    fn sent(&self) -> Vec<(Option<String>, u32)> {
        self.sent.lock().unwrap().clone()
    }
}

fn numbers(body: &[u8]) -> Vec<u32> {
    std::str::from_utf8(body)
        .unwrap()
        .split(',')
        .map(|n| n.parse().unwrap())
        .collect()
}

impl Backend for Fake {
    fn requests(&self, records: &[LogRecord]) -> Vec<Request> {
        let mut out: Vec<(Option<String>, Vec<String>)> = Vec::new();
        for r in records {
            let (tenant, n) = r.body.as_str().unwrap().split_once(':').unwrap();
            let tenant = Some(tenant.to_owned());
            match out.iter_mut().find(|(t, _)| *t == tenant) {
                Some((_, ns)) => ns.push(n.to_owned()),
                None => out.push((tenant, vec![n.to_owned()])),
            }
        }
        out.into_iter()
            .map(|(tenant, ns)| Request {
                tenant,
                records: ns.len(),
                body: Bytes::from(ns.join(",")),
            })
            .collect()
    }

    async fn send(&self, request: &Request, mut abort: watch::Receiver<bool>) -> ExportOutcome {
        let mut up = self.up.subscribe();
        tokio::select! {
            _ = up.wait_for(|&up| up) => {}
            _ = abort.wait_for(|&a| a) => return ExportOutcome { interrupted: true, ..Default::default() },
        }
        let ns = numbers(&request.body);
        for _ in 0..(self.delay)(ns[0]) {
            tokio::task::yield_now().await;
        }
        let mut sent = self.sent.lock().unwrap();
        sent.extend(ns.into_iter().map(|n| (request.tenant.clone(), n)));
        ExportOutcome {
            accepted: request.records,
            ..Default::default()
        }
    }

    async fn export(
        &self,
        _records: &[LogRecord],
        _abort: &mut watch::Receiver<bool>,
    ) -> ExportOutcome {
        unreachable!("the queue never sends inline")
    }

    fn stats(&self) -> Arc<ExporterStats> {
        Arc::clone(&self.stats)
    }
}

fn records(tenant: &str, ns: std::ops::Range<u32>) -> Vec<LogRecord> {
    ns.map(|n| LogRecord {
        body: format!("{tenant}:{n}").into(),
        ..LogRecord::default()
    })
    .collect()
}

fn config(queue_size: u32, num_consumers: u32) -> QueueConfig {
    QueueConfig {
        queue_size,
        num_consumers,
        ..QueueConfig::default()
    }
}

fn storage(name: &str) -> FileStorageConfig {
    let dir = std::env::temp_dir().join(format!("kec-sq-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    FileStorageConfig {
        directory: dir.display().to_string(),
        create_directory: true,
        ..FileStorageConfig::default()
    }
}

fn files(store: &Store) -> usize {
    std::fs::read_dir(store.dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "req"))
        })
        .count()
}

fn t(name: &str) -> Option<String> {
    Some(name.to_owned())
}

#[tokio::test]
async fn in_memory_a_batch_settles_only_once_delivered() {
    let fake = Fake::new(false);
    let (abort_tx, mut abort) = watch::channel(false);
    let mut queue = SendingQueue::new(Arc::clone(&fake), &config(10, 2), None);
    queue.start(&abort);
    let (tx, mut settled) = mpsc::unbounded_channel();
    let interrupted = queue
        .push(&records("a", 0..3), Ticket::new(0, tx.clone()), &mut abort)
        .await;
    assert!(!interrupted);
    tokio::task::yield_now().await;
    assert!(settled.try_recv().is_err(), "settled before delivery");
    assert_eq!(fake.stats.queue_size(), 1);
    fake.up.send_replace(true);
    assert_eq!(settled.recv().await, Some(0));
    assert_eq!(fake.sent(), [(t("a"), 0), (t("a"), 1), (t("a"), 2)]);
    drop(abort_tx);
    queue.shutdown().await;
    assert_eq!(fake.stats.queue_size(), 0);
}

#[tokio::test]
async fn a_full_queue_makes_the_pipeline_wait_and_drops_nothing() {
    let fake = Fake::new(false);
    let (_abort_tx, mut abort) = watch::channel(false);
    let mut queue = SendingQueue::new(Arc::clone(&fake), &config(2, 1), None);
    queue.start(&abort);
    let (tx, _settled) = mpsc::unbounded_channel();
    for n in 0..2 {
        let batch = records("a", n..n + 1);
        assert!(
            !queue
                .push(&batch, Ticket::new(0, tx.clone()), &mut abort)
                .await
        );
    }
    let third = records("a", 2..3);
    {
        let push = queue.push(&third, Ticket::new(0, tx.clone()), &mut abort);
        tokio::pin!(push);
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut push)
                .await
                .is_err(),
            "a full queue took more"
        );
        fake.up.send_replace(true);
        assert!(!push.await);
    }
    queue.shutdown().await;
    let sent: Vec<u32> = fake.sent().into_iter().map(|(_, n)| n).collect();
    assert_eq!(sent, [0, 1, 2]);
}

#[tokio::test]
async fn abort_leaves_in_memory_batches_unsettled() {
    let fake = Fake::new(false);
    let (abort_tx, mut abort) = watch::channel(false);
    let mut queue = SendingQueue::new(Arc::clone(&fake), &config(10, 1), None);
    queue.start(&abort);
    let (tx, mut settled) = mpsc::unbounded_channel();
    queue
        .push(&records("a", 0..1), Ticket::new(0, tx), &mut abort)
        .await;
    abort_tx.send_replace(true);
    queue.shutdown().await;
    assert!(settled.try_recv().is_err());
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn tenants_go_in_parallel_and_each_keeps_its_order() {
    let fake = Arc::new(Fake {
        // Tenant b's first request is slow; a must not wait for it, b's second must.
        delay: |n| if n == 100 { 50 } else { 0 },
        ..Arc::into_inner(Fake::new(true)).unwrap()
    });
    let (_abort_tx, mut abort) = watch::channel(false);
    let mut queue = SendingQueue::new(Arc::clone(&fake), &config(10, 4), None);
    queue.start(&abort);
    let (tx, mut settled) = mpsc::unbounded_channel();
    let mut batch = records("b", 100..101);
    batch.extend(records("a", 0..1));
    queue
        .push(&batch, Ticket::new(0, tx.clone()), &mut abort)
        .await;
    let mut batch = records("b", 101..102);
    batch.extend(records("a", 1..2));
    queue.push(&batch, Ticket::new(1, tx), &mut abort).await;
    queue.shutdown().await;
    let sent = fake.sent();
    assert_eq!(
        sent,
        [(t("a"), 0), (t("a"), 1), (t("b"), 100), (t("b"), 101)]
    );
    assert_eq!(
        (settled.recv().await, settled.recv().await),
        (Some(0), Some(1))
    );
}

#[tokio::test]
async fn with_storage_a_batch_settles_when_on_disk_and_survives_a_restart() {
    let storage = storage("restart");
    let (tx, mut settled) = mpsc::unbounded_channel();
    // First run: the backend is down; the batch is settled anyway, because it is on disk.
    {
        let fake = Fake::new(false);
        let store = Store::open(&storage, "logs__loki").unwrap();
        let (abort_tx, mut abort) = watch::channel(false);
        let mut queue = SendingQueue::new(Arc::clone(&fake), &config(10, 2), Some(store.clone()));
        queue.start(&abort);
        let mut batch = records("a", 0..2);
        batch.extend(records("b", 0..1));
        queue
            .push(&batch, Ticket::new(0, tx.clone()), &mut abort)
            .await;
        assert_eq!(settled.recv().await, Some(0));
        assert_eq!(files(&store), 2);
        abort_tx.send_replace(true);
        queue.shutdown().await;
        assert!(fake.sent().is_empty());
        assert_eq!(files(&store), 2, "what was not sent stays on disk");
    }
    // Second run: what was on disk goes first, then the new batch; the files are gone after.
    let fake = Fake::new(true);
    let store = Store::open(&storage, "logs__loki").unwrap();
    let (_abort_tx, mut abort) = watch::channel(false);
    let mut queue = SendingQueue::new(Arc::clone(&fake), &config(10, 1), Some(store.clone()));
    assert_eq!(fake.stats.queue_size(), 2);
    queue
        .push(&records("a", 2..3), Ticket::new(1, tx), &mut abort)
        .await;
    queue.start(&abort);
    queue.shutdown().await;
    assert_eq!(
        fake.sent(),
        [(t("a"), 0), (t("a"), 1), (t("b"), 0), (t("a"), 2)]
    );
    assert_eq!(files(&store), 0);
    let _ = std::fs::remove_dir_all(&storage.directory);
}

#[tokio::test]
async fn a_file_damaged_while_queued_is_reported_and_skipped() {
    let storage = storage("damaged");
    let store = Store::open(&storage, "q").unwrap();
    let fake = Fake::new(true);
    let (_abort_tx, mut abort) = watch::channel(false);
    let mut queue = SendingQueue::new(Arc::clone(&fake), &config(10, 1), Some(store.clone()));
    let (tx, _settled) = mpsc::unbounded_channel();
    queue
        .push(&records("a", 0..1), Ticket::new(0, tx.clone()), &mut abort)
        .await;
    queue
        .push(&records("a", 1..2), Ticket::new(1, tx), &mut abort)
        .await;
    let first = store.dir().join(format!("{:020}.req", 0));
    std::fs::write(&first, b"KECQ1\n{\"tenant\":").unwrap();
    queue.start(&abort);
    queue.shutdown().await;
    assert_eq!(fake.sent(), [(t("a"), 1)]);
    assert!(first.with_extension("corrupt").exists());
    let _ = std::fs::remove_dir_all(&storage.directory);
}

#[tokio::test]
async fn a_failing_disk_keeps_the_batch_in_memory_and_counts_it() {
    let storage = storage("failing");
    let store = Store::open(&storage, "q").unwrap();
    std::fs::remove_dir_all(store.dir()).unwrap();
    let fake = Fake::new(false);
    let (_abort_tx, mut abort) = watch::channel(false);
    let mut queue = SendingQueue::new(Arc::clone(&fake), &config(10, 1), Some(store));
    queue.start(&abort);
    let (tx, mut settled) = mpsc::unbounded_channel();
    queue
        .push(&records("a", 0..2), Ticket::new(0, tx), &mut abort)
        .await;
    tokio::task::yield_now().await;
    assert!(
        settled.try_recv().is_err(),
        "not on disk: settled only once sent"
    );
    assert_eq!(fake.stats.enqueue_failed(), 2);
    fake.up.send_replace(true);
    assert_eq!(settled.recv().await, Some(0));
    queue.shutdown().await;
    let _ = std::fs::remove_dir_all(&storage.directory);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the batches, tenants, capacity, consumers and send times: every record is sent
    /// exactly once, each tenant's records in the order they were pushed, and every batch's
    /// ticket is settled once.
    #[test]
    fn the_queue_never_loses_duplicates_or_reorders_a_tenant(
        batches in proptest::collection::vec(
            proptest::collection::vec(0u8..3, 1..6), 1..25),
        queue_size in 1u32..6,
        consumers in 1u32..5,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (pushed, sent, settled) = runtime.block_on(async {
            let fake = Arc::new(Fake {
                delay: |n| u64::from(n.wrapping_mul(2_654_435_761) % 7),
                ..Arc::into_inner(Fake::new(true)).unwrap()
            });
            let (_abort_tx, mut abort) = watch::channel(false);
            let mut queue = SendingQueue::new(Arc::clone(&fake), &config(queue_size, consumers), None);
            queue.start(&abort);
            let (tx, mut rx) = mpsc::unbounded_channel();
            let mut pushed: Vec<(Option<String>, u32)> = Vec::new();
            let mut n = 0u32;
            for (seq, tenants) in batches.iter().enumerate() {
                let mut batch = Vec::new();
                for tenant in tenants {
                    batch.extend(records(&tenant.to_string(), n..n + 1));
                    pushed.push((Some(tenant.to_string()), n));
                    n += 1;
                }
                let seq = u64::try_from(seq).unwrap();
                queue.push(&batch, Ticket::new(seq, tx.clone()), &mut abort).await;
            }
            queue.shutdown().await;
            drop(tx);
            let mut settled = Vec::new();
            while let Some(seq) = rx.recv().await {
                settled.push(seq);
            }
            (pushed, fake.sent(), settled)
        });
        for tenant in ["0", "1", "2"] {
            let of = |v: &[(Option<String>, u32)]| -> Vec<u32> {
                v.iter().filter(|(t, _)| t.as_deref() == Some(tenant)).map(|(_, n)| *n).collect()
            };
            prop_assert_eq!(of(&pushed), of(&sent));
        }
        prop_assert_eq!(sent.len(), pushed.len());
        let mut settled = settled;
        settled.sort_unstable();
        let all: Vec<u64> = (0..batches.len() as u64).collect();
        prop_assert_eq!(settled, all);
    }
}
