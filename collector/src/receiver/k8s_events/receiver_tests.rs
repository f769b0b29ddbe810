//! The receiver against a mock API server (wiremock, plain HTTP, no credentials) serving the
//! captured answers: paged LIST, watch streams, 410 in a stream and on a LIST, 403 then access.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use crate::config::receivers::{K8sEventsConfig, StartFrom};
use crate::record::{AnyValue, LogRecord};

use super::client::Connection;
use super::retry::Backoff;
use super::stats::{ErrorClass, WatchType};
use super::testing::*;
use super::watcher::Tuning;
use super::{EventBatch, K8sEventsReceiver, Position, ReceiverError, ReceiverStats};

const EVENTS: &str = "/api/v1/events";

/// Production behaviour at test speed.
fn fast() -> Tuning {
    Tuning {
        backoff: Backoff {
            first: Duration::from_millis(10),
            max: Duration::from_millis(40),
        },
        idle_grace: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        early_close: Duration::from_millis(500),
        ..Tuning::default()
    }
}

fn answer(status: u16, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body, "application/json")
}

/// A LIST of `events` (the first page, or the one after `continue_token`).
fn list(events: &str, continue_token: Option<&str>) -> MockBuilder {
    let mock = Mock::given(method("GET"))
        .and(path(events))
        .and(query_param_is_missing("watch"));
    match continue_token {
        Some(token) => mock.and(query_param("continue", token)),
        None => mock.and(query_param_is_missing("continue")),
    }
}

/// A WATCH of `events` from `resource_version` (any, when `None`).
fn watch_from(events: &str, resource_version: Option<&str>) -> MockBuilder {
    let mock = Mock::given(method("GET"))
        .and(path(events))
        .and(query_param("watch", "1"))
        .and(query_param("allowWatchBookmarks", "true"));
    match resource_version {
        Some(rv) => mock.and(query_param("resourceVersion", rv)),
        None => mock,
    }
}

/// Mounts `mock` to answer once, before the fallbacks.
async fn once(server: &MockServer, mock: Mock) {
    mock.up_to_n_times(1).with_priority(1).mount(server).await;
}

/// Serves the two captured pages (the second made the last), the captured watch once from their
/// resourceVersion, then watches that end at once with nothing (what a compacted watch of
/// events looks like).
async fn two_pages_and_a_watch(server: &MockServer) {
    once(
        server,
        watch_from(EVENTS, Some("395")).respond_with(answer(200, fixture(WATCH))),
    )
    .await;
    list(EVENTS, None)
        .and(query_param("limit", "500"))
        .respond_with(answer(200, fixture(PAGE1)))
        .with_priority(5)
        .mount(server)
        .await;
    list(EVENTS, Some(&continue_token(PAGE1)))
        .respond_with(answer(200, last_page(PAGE2)))
        .with_priority(5)
        .mount(server)
        .await;
    watch_from(EVENTS, None)
        .respond_with(answer(200, String::new()))
        .with_priority(10)
        .mount(server)
        .await;
}

struct Running {
    batches: mpsc::Receiver<EventBatch>,
    stop: watch::Sender<bool>,
    stats: Arc<ReceiverStats>,
    task: JoinHandle<Result<(), ReceiverError>>,
}

async fn start(server: &MockServer, config: K8sEventsConfig, resume: Option<Position>) -> Running {
    let connection = Connection::anonymous_at(&server.uri()).unwrap();
    let receiver = K8sEventsReceiver::with_connection(&config, resume, connection, fast()).unwrap();
    let stats = receiver.stats();
    let (out, batches) = mpsc::channel(4);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(receiver.run(out, stopped));
    Running {
        batches,
        stop,
        stats,
        task,
    }
}

impl Running {
    async fn next(&mut self) -> EventBatch {
        tokio::time::timeout(Duration::from_secs(10), self.batches.recv())
            .await
            .expect("a batch within 10 s")
            .unwrap()
    }

    /// Batches until one is at `resource_version`; their records, observed timestamps checked.
    async fn until(&mut self, resource_version: &str) -> Vec<LogRecord> {
        let mut records = Vec::new();
        loop {
            let batch = self.next().await;
            records.extend(observed(batch.records));
            if batch.position.resource_version == resource_version {
                return records;
            }
        }
    }

    async fn eventually(&self, what: &str, done: impl Fn(&ReceiverStats) -> bool) {
        for _ in 0..1000 {
            if done(&self.stats) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}: {:?}", self.stats.snapshot());
    }

    /// Stops the receiver (it may be waiting on a full channel) and checks it returns Ok.
    async fn stop(self) {
        self.stop.send_replace(true);
        let result = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("run returns on shutdown");
        result.unwrap().unwrap();
    }
}

#[tokio::test]
async fn pages_then_watches_then_relists_without_shipping_twice() {
    let server = MockServer::start().await;
    two_pages_and_a_watch(&server).await;
    let mut running = start(&server, config(|c| c.start_from = StartFrom::All), None).await;

    let page1 = running.next().await;
    // No position until the last page is read.
    assert_eq!(page1.position, Position::at(""));
    let page1 = observed(page1.records);
    assert_eq!(page1, listed(PAGE1, &["385", "283"]));
    // The record as the mapping produces it, spelled out once.
    let first = &page1[0];
    assert_eq!(
        first.body,
        AnyValue::from("Successfully assigned payments/web-19 to node-2 [gen-warm-194]")
    );
    let attribute = |key| first.attributes.get(key).cloned();
    assert_eq!(
        attribute("k8s.event.uid"),
        Some("4f383140-8513-4de1-bfe5-0fb0917e5ff0".into())
    );
    assert_eq!(
        attribute("k8s.event.name"),
        Some("web-0.195b5ba74c464f33".into())
    );
    assert_eq!(attribute("k8s.event.count"), Some(AnyValue::Int(3)));
    assert_eq!(first.resource.get("k8s.object.name"), Some(&"web-0".into()));

    let page2 = running.next().await;
    assert_eq!(page2.position, Position::at("395"));
    assert_eq!(observed(page2.records), listed(PAGE2, &["369", "198"]));

    // The watch: ADDED, MODIFIED (count bump), ADDED, MODIFIED (series bump), DELETED.
    let watched_records = running.until("422").await;
    assert_eq!(
        watched_records,
        watched(WATCH, &["418", "419", "420", "421"])
    );

    // Later watches end at once with nothing: the receiver lists again, ships nothing again.
    running
        .eventually("two re-lists", |s| s.snapshot().relists >= 2)
        .await;
    while let Ok(batch) = running.batches.try_recv() {
        assert!(batch.records.is_empty(), "{batch:?}");
        assert_eq!(batch.position, Position::at("422"));
    }
    let s = running.stats.snapshot();
    assert_eq!(s.emitted, 8);
    assert_eq!(
        [
            s.received(WatchType::Added),
            s.received(WatchType::Modified)
        ],
        [2, 2]
    );
    assert_eq!(s.received(WatchType::Deleted), 1);
    assert!(s.ready && s.last_success_unix > 0);
    assert_eq!(s.last_resource_version, 422);
    running.stop().await;
}

#[tokio::test]
async fn resumes_and_lists_again_after_410_without_shipping_twice() {
    let server = MockServer::start().await;
    once(
        &server,
        watch_from(EVENTS, Some("300")).respond_with(answer(200, fixture(WATCH_EXPIRED))),
    )
    .await;
    // The second page's token has expired the first time it is used.
    once(
        &server,
        list(EVENTS, Some(&continue_token(PAGE1))).respond_with(answer(410, fixture(LIST_EXPIRED))),
    )
    .await;
    two_pages_and_a_watch(&server).await;
    let mut running = start(
        &server,
        K8sEventsConfig::default(),
        Some(Position::at("300")),
    )
    .await;

    // 410 in the watch stream: LIST; 385 is newer than 300, 283 is not (seen before the restart).
    let first = running.next().await;
    assert_eq!(first.position, Position::at("300"));
    assert_eq!(observed(first.records), listed(PAGE1, &["385"]));
    // 410 on page 2: the LIST starts over; 385 is not shipped again (no batch: nothing moved).
    let second = running.next().await;
    assert_eq!(second.position, Position::at("395"));
    assert_eq!(observed(second.records), listed(PAGE2, &["369"]));
    let watched_records = running.until("422").await;
    assert_eq!(
        watched_records,
        watched(WATCH, &["418", "419", "420", "421"])
    );

    let s = running.stats.snapshot();
    assert!(s.relists >= 2);
    assert!(s.api_errors(ErrorClass::Gone) >= 2);
    assert_eq!(s.emitted, 6);
    running.stop().await;
    let requests = server.received_requests().await.unwrap();
    let first_pages = requests
        .iter()
        .filter(|r| r.url.query().is_some_and(|q| q == "limit=500"))
        .count();
    assert!(first_pages >= 2, "{first_pages}");
}

/// The log lines of the code under test, captured.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn lines(&self, containing: &str) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .filter(|l| l.contains(containing))
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test]
async fn forbidden_is_explained_once_then_recovers() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    list(EVENTS, None)
        .and(query_param("limit", "1"))
        .respond_with(answer(403, fixture(LIST_FORBIDDEN)))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    list(EVENTS, None)
        .and(query_param("limit", "1"))
        .respond_with(answer(200, fixture(PAGE1)))
        .with_priority(2)
        .mount(&server)
        .await;
    two_pages_and_a_watch(&server).await;
    let mut running = start(&server, K8sEventsConfig::default(), None).await;

    running
        .eventually("a 403", |s| {
            s.snapshot().api_errors(ErrorClass::Forbidden) >= 1
        })
        .await;
    assert!(!running.stats.is_ready());
    // start_from: now: the first answer only gives the position.
    let first = running.next().await;
    assert!(first.records.is_empty());
    assert_eq!(first.position, Position::at("395"));
    assert!(running.stats.is_ready());
    assert_eq!(
        running.stats.snapshot().api_errors(ErrorClass::Forbidden),
        3
    );
    assert_eq!(running.until("422").await.len(), 4);
    running.stop().await;

    let denied = logs.lines("WARN");
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert!(denied[0].contains(
        "k8s_events: forbidden: the service account system:serviceaccount:otel:no-rbac cannot \
         list events at the cluster scope: grant get, list, watch on events (apiGroups: [\"\"]) \
         with a ClusterRole bound to it; retrying"
    ));
    assert!(denied[0].contains("WARN"), "{}", denied[0]);
    assert!(
        denied[0].contains(
            "api_server=events is forbidden: User \"system:serviceaccount:otel:no-rbac\" cannot \
             list resource \"events\" in API group \"\" at the cluster scope"
        ),
        "{}",
        denied[0]
    );
    assert_eq!(logs.lines("recovered").len(), 1);
}

#[tokio::test]
async fn each_namespace_has_its_own_position() {
    let server = MockServer::start().await;
    let shop = "/api/v1/namespaces/shop/events";
    let payments = "/api/v1/namespaces/payments/events";
    list(shop, None)
        .respond_with(answer(200, last_page("list-core-namespace-page1.json")))
        .mount(&server)
        .await;
    list(payments, None)
        .respond_with(answer(200, last_page(PAGE1)))
        .mount(&server)
        .await;
    once(
        &server,
        watch_from(shop, Some("395")).respond_with(answer(200, fixture(WATCH))),
    )
    .await;
    for events in [shop, payments] {
        watch_from(events, None)
            .respond_with(answer(200, String::new()).set_delay(Duration::from_secs(1)))
            .with_priority(10)
            .mount(&server)
            .await;
    }
    let namespaces = vec!["shop".to_owned(), "payments".to_owned(), "shop".to_owned()];
    let mut running = start(&server, config(|c| c.namespaces = namespaces), None).await;
    let mut records = Vec::new();
    loop {
        let batch = running.next().await;
        records.extend(observed(batch.records));
        let at = |ns: &str| batch.position.namespaces.get(ns).map(String::as_str);
        if at("payments").is_none() {
            // Until every namespace has a position, none is common to all.
            assert_eq!(batch.position.resource_version, "");
        }
        if (at("shop"), at("payments")) == (Some("422"), Some("395")) {
            // The oldest of the two: resuming a cluster-wide watch from it skips nothing.
            assert_eq!(batch.position.resource_version, "395");
            break;
        }
    }
    assert_eq!(records, watched(WATCH, &["418", "419", "420", "421"]));
    assert!(running.stats.is_ready());
    running.stop().await;
}

#[tokio::test]
async fn api_server_down_is_retried_and_shutdown_still_works() {
    // Nothing listens there: connection refused, retried with backoff, never a panic.
    let receiver = K8sEventsReceiver::with_connection(
        &K8sEventsConfig::default(),
        None,
        Connection::anonymous_at("http://127.0.0.1:9").unwrap(),
        fast(),
    )
    .unwrap();
    let stats = receiver.stats();
    let (out, _batches) = mpsc::channel(1);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(receiver.run(out, stopped));
    for _ in 0..500 {
        if stats.snapshot().api_errors(ErrorClass::Transport) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(stats.snapshot().api_errors(ErrorClass::Transport) >= 2);
    assert!(!stats.is_ready());
    stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
