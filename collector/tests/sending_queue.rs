//! `sending_queue` with `storage` against a wiremock Loki: while Loki is down, batches are
//! written to disk and acknowledged (the checkpoint may move past them); the collector stops
//! (the grace period ends with Loki still down) and starts again on the same directory; once
//! Loki is up, every record arrives exactly once, in order, and the queue directory is empty.

use std::sync::Arc;
use std::time::Duration;

use k8s_event_collector::config::duration::ConfigDuration;
use k8s_event_collector::config::exporters::LokiExporterConfig;
use k8s_event_collector::config::extensions::FileStorageConfig;
use k8s_event_collector::config::http::{QueueConfig, RetryConfig};
use k8s_event_collector::exporter::loki::decode_protobuf;
use k8s_event_collector::exporter::loki::send::LokiExporter;
use k8s_event_collector::exporter::queue::{SendingQueue, Store, Ticket};
use k8s_event_collector::record::LogRecord;
use tokio::sync::{mpsc, watch};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BATCHES: u32 = 5;
const PER_BATCH: u32 = 4;

fn loki_config(server: &MockServer) -> LokiExporterConfig {
    let endpoint = format!("{}/loki/api/v1/push", server.uri());
    let mut config: LokiExporterConfig = serde_json::from_value(serde_json::json!({
        "endpoint": endpoint,
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    config.retry_on_failure = RetryConfig {
        initial_interval: ConfigDuration::from_millis(20),
        max_interval: ConfigDuration::from_millis(50),
        // Wait for Loki for as long as it takes: nothing is given up.
        max_elapsed_time: ConfigDuration::from_secs(0),
        ..RetryConfig::default()
    };
    config.sending_queue = QueueConfig {
        num_consumers: 4,
        queue_size: 100,
        storage: Some("file_storage/queue".into()),
        ..QueueConfig::default()
    };
    config
}

fn record(n: u32) -> LogRecord {
    LogRecord {
        timestamp_unix_nano: Some(1_714_557_600_000_000_000 + i64::from(n)),
        body: format!("event {n}").into(),
        ..LogRecord::default()
    }
}

/// The exporter behind a persistent queue on `storage`, as one run of the collector has it.
fn start(
    server: &MockServer,
    storage: &FileStorageConfig,
    abort: &watch::Receiver<bool>,
) -> (SendingQueue<LokiExporter>, Store) {
    let config = loki_config(server);
    let exporter = LokiExporter::new("loki", &config, None).unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(storage, "logs__loki").unwrap_or_else(|e| panic!("{e}"));
    let mut queue = SendingQueue::new(
        Arc::new(exporter),
        &config.sending_queue,
        Some(store.clone()),
    );
    queue.start(abort);
    (queue, store)
}

fn queued_files(store: &Store) -> usize {
    std::fs::read_dir(store.dir())
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "req"))
            })
            .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn loki_down_restart_loki_up_delivers_each_record_once() {
    let dir = std::env::temp_dir().join(format!("kec-sending-queue-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let storage = FileStorageConfig {
        directory: dir.display().to_string(),
        create_directory: true,
        ..FileStorageConfig::default()
    };
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/loki/api/v1/push"))
        .respond_with(ResponseTemplate::new(503).set_body_string("Ingester is unavailable"))
        .mount(&server)
        .await;

    // First run, Loki down: every batch is acknowledged once it is on disk.
    let (abort_tx, mut abort) = watch::channel(false);
    let (queue, store) = start(&server, &storage, &abort);
    let (acks_tx, mut acks) = mpsc::unbounded_channel();
    for b in 0..BATCHES {
        let records: Vec<LogRecord> = (b * PER_BATCH..(b + 1) * PER_BATCH).map(record).collect();
        let interrupted = queue
            .push(
                &records,
                Ticket::new(u64::from(b), acks_tx.clone()),
                &mut abort,
            )
            .await;
        assert!(!interrupted);
    }
    for b in 0..BATCHES {
        let acked = tokio::time::timeout(Duration::from_secs(5), acks.recv()).await;
        assert_eq!(
            acked.ok().flatten(),
            Some(u64::from(b)),
            "batch {b} not acknowledged"
        );
    }
    // Loki has been asked (and said 503) before the collector stops.
    for _ in 0..100 {
        if server
            .received_requests()
            .await
            .is_some_and(|r| r.len() >= 2)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SIGTERM's grace period ends while Loki is still down: the queue stays on disk.
    abort_tx.send_replace(true);
    queue.shutdown().await;
    assert_eq!(queued_files(&store), usize::try_from(BATCHES).unwrap_or(0));

    // Loki comes back; the collector starts again on the same directory.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/loki/api/v1/push"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let (_abort_tx, abort) = watch::channel(false);
    let (queue, store) = start(&server, &storage, &abort);
    tokio::time::timeout(Duration::from_secs(10), queue.shutdown())
        .await
        .unwrap_or_else(|_| panic!("the restored queue was not sent"));

    let mut lines = Vec::new();
    for request in server.received_requests().await.unwrap_or_default() {
        let push = decode_protobuf(&request.body).unwrap_or_else(|e| panic!("{e}"));
        for stream in push.streams {
            lines.extend(stream.entries.into_iter().map(|e| e.line));
        }
    }
    let expected: Vec<String> = (0..BATCHES * PER_BATCH)
        .map(|n| format!("{{\"body\":\"event {n}\"}}"))
        .collect();
    assert_eq!(lines, expected, "each record once, in order");
    assert_eq!(queued_files(&store), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
