//! The elector against a mock API server (wiremock) that keeps one Lease as the real one does:
//! GET (404 when missing), POST (409 when it exists), PUT (409 on a stale resourceVersion).

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::watch;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::config::duration::ConfigDuration;
use crate::config::extensions::LeaderElectorConfig;
use crate::receiver::k8s_events::Position;
use crate::receiver::k8s_events::client::Connection;

use super::lease::{Lease, micro_time};
use super::{CHECKPOINT_ANNOTATION, LeaderElector};

/// The Lease store behind the mock.
#[derive(Clone, Default)]
struct Store {
    lease: Arc<Mutex<Option<Value>>>,
    rv: Arc<Mutex<u64>>,
    /// Answer every write with 409 (another replica always wins).
    always_conflict: bool,
}

impl Store {
    fn lease(&self) -> Option<Lease> {
        self.lease.lock().unwrap().clone().map(Lease)
    }

    fn put(&self, mut lease: Value) -> Value {
        let mut rv = self.rv.lock().unwrap();
        *rv += 1;
        lease["metadata"]["resourceVersion"] = json!(rv.to_string());
        *self.lease.lock().unwrap() = Some(lease.clone());
        lease
    }
}

fn status(code: u16, reason: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": reason, "reason": reason, "code": code
    }))
}

impl Respond for Store {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let current = self.lease.lock().unwrap().clone();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        match request.method.as_str() {
            "GET" => match current {
                Some(lease) => ResponseTemplate::new(200).set_body_json(lease),
                None => status(404, "NotFound"),
            },
            _ if self.always_conflict => status(409, "Conflict"),
            "POST" if current.is_some() => status(409, "AlreadyExists"),
            "POST" => ResponseTemplate::new(201).set_body_json(self.put(body)),
            "PUT" => {
                let given = &body["metadata"]["resourceVersion"];
                match current {
                    Some(lease) if lease["metadata"]["resourceVersion"] != *given => {
                        status(409, "Conflict")
                    }
                    _ => ResponseTemplate::new(200).set_body_json(self.put(body)),
                }
            }
            _ => status(405, "MethodNotAllowed"),
        }
    }
}

async fn server(store: &Store) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::path_regex(
        "^/apis/coordination.k8s.io/v1/namespaces/otel/leases(/kec)?$",
    ))
    .respond_with(store.clone())
    .mount(&server)
    .await;
    server
}

fn config() -> LeaderElectorConfig {
    LeaderElectorConfig {
        lease_name: "kec".into(),
        lease_namespace: Some("otel".into()),
        lease_duration: ConfigDuration::from_secs(2),
        renew_deadline: ConfigDuration::from_millis(1500),
        retry_period: ConfigDuration::from_millis(100),
        ..LeaderElectorConfig::default()
    }
}

fn elector(server: &MockServer, identity: &str) -> LeaderElector {
    let connection = Connection::anonymous_at(&server.uri()).unwrap();
    LeaderElector::with_connection(&config(), connection, identity.into())
}

/// A Lease held by `holder`, renewed `ago` before now, for 2 s.
fn held_by(holder: &str, ago: Duration, checkpoint: Option<&Position>) -> Value {
    let mut lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "kec", "namespace": "otel"},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 2,
            "renewTime": micro_time(SystemTime::now() - ago),
            "leaseTransitions": 3
        }
    });
    if let Some(p) = checkpoint {
        lease["metadata"]["annotations"] =
            json!({CHECKPOINT_ANNOTATION: serde_json::to_string(p).unwrap()});
    }
    lease
}

/// Runs `elector` in the background; returns its leader flag and shutdown switch.
fn start(
    elector: LeaderElector,
) -> (
    watch::Receiver<bool>,
    watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (leader_tx, leader_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        elector.run(leader_tx, stop_rx).await.unwrap();
    });
    (leader_rx, stop_tx, task)
}

/// An elector "pod-a_1" running against `store`.
struct Running {
    _server: MockServer,
    leader: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn new(store: &Store) -> Running {
        let server = server(store).await;
        let (leader, stop, task) = start(elector(&server, "pod-a_1"));
        Running {
            _server: server,
            leader,
            stop,
            task,
        }
    }

    /// Shuts the elector down and waits for it to end.
    async fn finish(self) {
        self.stop.send_replace(true);
        self.task.await.unwrap();
    }
}

async fn becomes(flag: &mut watch::Receiver<bool>, value: bool, within: Duration) -> bool {
    tokio::time::timeout(within, flag.wait_for(|v| *v == value))
        .await
        .is_ok_and(|r| r.is_ok())
}

#[tokio::test]
async fn acquires_a_free_lease_by_creating_it() {
    let store = Store::default();
    let mut run = Running::new(&store).await;
    assert!(becomes(&mut run.leader, true, Duration::from_secs(2)).await);
    let lease = store.lease().unwrap();
    assert_eq!(lease.holder(), "pod-a_1");
    assert_eq!(lease.0["spec"]["leaseDurationSeconds"], 2);
    run.finish().await;
    // Released on shutdown: a standby takes it at once.
    assert_eq!(store.lease().unwrap().holder(), "");
}

#[tokio::test]
async fn stands_by_while_another_holder_renews() {
    let store = Store::default();
    store.put(held_by("pod-b_2", Duration::ZERO, None));
    let mut run = Running::new(&store).await;
    assert!(!becomes(&mut run.leader, true, Duration::from_millis(700)).await);
    assert_eq!(store.lease().unwrap().holder(), "pod-b_2");
    run.finish().await;
    assert_eq!(store.lease().unwrap().holder(), "pod-b_2");
}

#[tokio::test]
async fn takes_over_an_expired_lease_and_reads_its_checkpoint() {
    let store = Store::default();
    let mut checkpoint = Position::at("420");
    checkpoint.namespaces.insert("shop".into(), "421".into());
    store.put(held_by(
        "pod-b_2",
        Duration::from_secs(10),
        Some(&checkpoint),
    ));
    let server = server(&store).await;
    let elector = elector(&server, "pod-a_1");
    let handle = elector.lease_checkpoint();
    let (mut leader, stop, task) = start(elector);
    assert!(becomes(&mut leader, true, Duration::from_secs(2)).await);
    let lease = store.lease().unwrap();
    assert_eq!(lease.holder(), "pod-a_1");
    assert_eq!(lease.0["spec"]["leaseTransitions"], 4);
    assert_eq!(handle.checkpoint_from_lease(), Some(checkpoint.clone()));
    // The old holder's checkpoint stays until this one acknowledges something newer.
    assert_eq!(lease.checkpoint(), Some(checkpoint));
    stop.send_replace(true);
    task.await.unwrap();
}

#[tokio::test]
async fn a_lost_race_leaves_the_replica_standing_by() {
    let store = Store {
        always_conflict: true,
        ..Store::default()
    };
    store.put(held_by("pod-b_2", Duration::from_secs(10), None));
    let mut run = Running::new(&store).await;
    assert!(!becomes(&mut run.leader, true, Duration::from_millis(700)).await);
    run.finish().await;
}

#[tokio::test]
async fn renewing_keeps_the_lease_past_its_duration() {
    let store = Store::default();
    let mut run = Running::new(&store).await;
    assert!(becomes(&mut run.leader, true, Duration::from_secs(2)).await);
    let first = store.lease().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(*run.leader.borrow());
    let later = store.lease().unwrap();
    assert_eq!(later.holder(), "pod-a_1");
    assert!(!later.expired(SystemTime::now()));
    assert_ne!(later.0["spec"]["renewTime"], first.0["spec"]["renewTime"]);
    run.finish().await;
}

#[tokio::test]
async fn loses_leadership_when_another_replica_takes_the_lease() {
    let store = Store::default();
    let mut run = Running::new(&store).await;
    assert!(becomes(&mut run.leader, true, Duration::from_secs(2)).await);
    let mut taken = store.lease().unwrap().0;
    taken["spec"]["holderIdentity"] = json!("pod-b_2");
    store.put(taken);
    assert!(becomes(&mut run.leader, false, Duration::from_secs(2)).await);
    run.finish().await;
}

#[tokio::test]
async fn the_checkpoint_annotation_round_trips_and_is_final_on_release() {
    let store = Store::default();
    let server = server(&store).await;
    let mut elector = elector(&server, "pod-a_1");
    let (acked_tx, acked_rx) = watch::channel(None);
    elector.publish_checkpoints(acked_rx);
    let (mut leader, stop, task) = start(elector);
    assert!(becomes(&mut leader, true, Duration::from_secs(2)).await);

    let mut position = Position::at("500");
    position.namespaces.insert("shop".into(), "500".into());
    acked_tx.send_replace(Some(position.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.lease().unwrap().checkpoint(), Some(position));

    // Shutdown: the Lease is kept until the pipeline is done, then the last ack is written.
    stop.send_replace(true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.lease().unwrap().holder(), "pod-a_1");
    acked_tx.send_replace(Some(Position::at("510")));
    drop(acked_tx);
    task.await.unwrap();
    let lease = store.lease().unwrap();
    assert_eq!(lease.holder(), "");
    assert_eq!(lease.checkpoint(), Some(Position::at("510")));
}

#[test]
fn expiry_follows_renew_time_and_duration() {
    let now = SystemTime::now();
    let fresh = Lease(held_by("b", Duration::ZERO, None));
    assert!(!fresh.expired(now));
    assert!(!fresh.available_to("a", now));
    assert!(fresh.available_to("b", now));
    let old = Lease(held_by("b", Duration::from_secs(5), None));
    assert!(old.expired(now));
    assert!(old.available_to("a", now));
    assert!(Lease(json!({"spec": {}})).available_to("a", now));
    let released = fresh.released(now);
    assert!(released.available_to("a", now));
}
