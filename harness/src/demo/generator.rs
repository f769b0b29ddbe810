//! A small, realistic cluster for the demo: the Events a busy cluster's controllers and
//! kubelets write, tick by tick.
//!
//! Four stories run side by side, in five namespaces: a crash-looping pod (`shop`), an image
//! that cannot be pulled (`payments`), a Deployment scaled up and down (`web`), a node under
//! disk pressure (`default`) that evicts a pod (`batch`). As in Kubernetes, an event whose
//! object, reason and message were seen before is not created again: its `count` rises and its
//! `lastTimestamp` moves (the event recorder's aggregation), so repeats reach the collector as
//! updates of the same Event.
//!
//! [`Generator::step`] is pure (no clock, no I/O), so the script is unit-tested; [`apply`]
//! sends its actions to the simulated API server.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::scenario::{rfc3339_now, stable_uid};
use crate::sim::apiserver::ApiServer;

/// The object an Event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Involved {
    pub kind: &'static str,
    pub api_version: &'static str,
    /// Empty for cluster-scoped objects (Nodes).
    pub namespace: String,
    pub name: String,
    /// `spec.containers{app}` for container events.
    pub field_path: Option<&'static str>,
}

/// One occurrence, as a controller or kubelet reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// The Event's namespace (`default` for Node events, as the kubelet writes them).
    pub namespace: String,
    pub object: Involved,
    pub reason: &'static str,
    pub message: String,
    pub warning: bool,
    /// `kubelet`, `default-scheduler`, `deployment-controller`, `replicaset-controller`.
    pub component: &'static str,
    /// The kubelet's node (empty for controllers).
    pub host: &'static str,
}

impl Occurrence {
    /// The Event name Kubernetes would give it: `<object>.<16 hex digits>`, the same for the
    /// same object, reason and message, so a repeat finds its Event.
    pub fn event_name(&self) -> String {
        let key = format!(
            "{}/{}/{}/{}/{}",
            self.object.kind, self.object.namespace, self.object.name, self.reason, self.message
        );
        let hex: String = stable_uid(&key).chars().filter(|c| *c != '-').collect();
        format!("{}.{}", self.object.name, &hex[..16])
    }

    /// The core/v1 Event JSON for its first occurrence, stamped `now`.
    pub fn to_event(&self, now: &str) -> Value {
        let name = self.event_name();
        let o = &self.object;
        let mut involved = json!({
            "kind": o.kind,
            "name": o.name,
            "uid": stable_uid(&format!("{}/{}/{}", o.kind, o.namespace, o.name)),
            "apiVersion": o.api_version,
            "resourceVersion": "",
        });
        if !o.namespace.is_empty() {
            involved["namespace"] = json!(o.namespace);
        }
        if let Some(path) = o.field_path {
            involved["fieldPath"] = json!(path);
        }
        let mut source = json!({"component": self.component});
        if !self.host.is_empty() {
            source["host"] = json!(self.host);
        }
        json!({
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "uid": stable_uid(&name),
                "creationTimestamp": now,
            },
            "involvedObject": involved,
            "reason": self.reason,
            "message": self.message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": if self.warning { "Warning" } else { "Normal" },
            "eventTime": null,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        })
    }
}

/// What to do to the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A new Event.
    Create(Occurrence),
    /// The Event seen before happened again: `count + 1`, a new `lastTimestamp`.
    Repeat { namespace: String, name: String },
}

/// The generator's script; one [`Generator::step`] is one tick (the demo ticks every 500 ms).
#[derive(Debug, Default)]
pub struct Generator {
    tick: u64,
    seen: BTreeSet<(String, String)>,
    /// Pods the Deployment scaled up and has not scaled down yet.
    scaled_up: Vec<String>,
    /// Pods created so far (for their name suffixes).
    pods: u64,
    /// Distinct Events created.
    pub events: u64,
    /// Occurrences: creations and count bumps.
    pub occurrences: u64,
}

const CRASH_NS: &str = "shop";
const CRASH_POD: &str = "checkout-7d9f8c6b4-x2x4q";
const CRASH_IMAGE: &str = "registry.example.com/shop/checkout:1.8.2";
const PULL_NS: &str = "payments";
const PULL_POD: &str = "ledger-5c6b8d7f9-9mlkp";
const PULL_IMAGE: &str = "registry.example.com/payments/ledger:v2.3.1";
const WEB_NS: &str = "web";
const DEPLOYMENT: &str = "frontend";
const REPLICA_SET: &str = "frontend-6f7c9d8b5";
const WEB_IMAGE: &str = "registry.example.com/web/frontend:4.0.7";
const PRESSURED_NODE: &str = "node-3";
const EVICTED_NS: &str = "batch";
/// The nodes pods are scheduled on, in turn.
const NODES: [&str; 3] = ["node-1", "node-2", "node-3"];
/// The Deployment's replicas before scaling up, and how many it adds.
const BASE_REPLICAS: usize = 2;
const SURGE: usize = 2;
/// Ticks of one scaling cycle (up at 2, down at half-way) and of one disk-pressure episode.
const SCALE_CYCLE: u64 = 16;
const PRESSURE_CYCLE: u64 = 60;

impl Generator {
    pub fn new() -> Generator {
        Generator::default()
    }

    /// The next tick's actions.
    pub fn step(&mut self) -> Vec<Action> {
        let t = self.tick;
        self.tick += 1;
        let mut out = Vec::new();
        self.crash_loop(t, &mut out);
        self.image_pull(t, &mut out);
        self.scaling(t, &mut out);
        self.disk_pressure(t, &mut out);
        out.into_iter().map(|o| self.action(o)).collect()
    }

    /// Create, or bump when this object, reason and message were seen before.
    fn action(&mut self, o: Occurrence) -> Action {
        let name = o.event_name();
        self.occurrences += 1;
        if self.seen.insert((o.namespace.clone(), name.clone())) {
            self.events += 1;
            Action::Create(o)
        } else {
            Action::Repeat {
                namespace: o.namespace,
                name,
            }
        }
    }

    /// A pod whose container exits at once: the kubelet restarts it with growing back-off,
    /// so Pulled/Created/Started and the BackOff warning repeat with rising counts.
    fn crash_loop(&self, t: u64, out: &mut Vec<Occurrence>) {
        if t == 0 {
            out.push(scheduled(CRASH_NS, CRASH_POD, "node-2"));
        }
        if t.is_multiple_of(6) {
            out.extend(container_started(
                CRASH_NS,
                CRASH_POD,
                CRASH_IMAGE,
                "node-2",
            ));
        }
        if t % 3 == 2 {
            let pod = pod(CRASH_NS, CRASH_POD);
            out.push(kubelet(
                pod,
                "BackOff",
                format!("Back-off restarting failed container app in pod {CRASH_POD}"),
                true,
                "node-2",
            ));
        }
    }

    /// An image tag that does not exist: ErrImagePull, then ImagePullBackOff, over and over.
    fn image_pull(&self, t: u64, out: &mut Vec<Occurrence>) {
        let pod = || pod(PULL_NS, PULL_POD);
        let pull =
            |reason, message: String, warning| kubelet(pod(), reason, message, warning, "node-1");
        if t == 1 {
            out.push(scheduled(PULL_NS, PULL_POD, "node-1"));
        }
        if t % 8 == 1 {
            out.push(pull(
                "Pulling",
                format!("Pulling image \"{PULL_IMAGE}\""),
                false,
            ));
        }
        if t % 8 == 2 {
            out.push(pull(
                "Failed",
                format!(
                    "Failed to pull image \"{PULL_IMAGE}\": rpc error: code = NotFound desc = \
                     failed to pull and unpack image \"{PULL_IMAGE}\": not found"
                ),
                true,
            ));
            out.push(pull("Failed", "Error: ErrImagePull".into(), true));
        }
        if t % 4 == 3 {
            out.push(pull(
                "BackOff",
                format!("Back-off pulling image \"{PULL_IMAGE}\""),
                false,
            ));
            out.push(pull("Failed", "Error: ImagePullBackOff".into(), true));
        }
    }

    /// The Deployment scales up (new pods are scheduled and started), then back down.
    fn scaling(&mut self, t: u64, out: &mut Vec<Occurrence>) {
        let phase = t % SCALE_CYCLE;
        let top = BASE_REPLICAS + SURGE;
        if phase == 2 {
            out.push(deployment_event(format!(
                "Scaled up replica set {REPLICA_SET} to {top} from {BASE_REPLICAS}"
            )));
            for _ in 0..SURGE {
                let name = self.next_pod_name();
                out.push(replica_set_event(
                    "SuccessfulCreate",
                    format!("Created pod: {name}"),
                ));
                self.scaled_up.push(name);
            }
        }
        if phase == 3 {
            for (i, name) in self.scaled_up.iter().enumerate() {
                out.push(scheduled(WEB_NS, name, NODES[i % NODES.len()]));
            }
        }
        if phase == 5 {
            for (i, name) in self.scaled_up.iter().enumerate() {
                out.extend(container_started(
                    WEB_NS,
                    name,
                    WEB_IMAGE,
                    NODES[i % NODES.len()],
                ));
            }
        }
        if phase == SCALE_CYCLE / 2 + 2 {
            out.push(deployment_event(format!(
                "Scaled down replica set {REPLICA_SET} to {BASE_REPLICAS} from {top}"
            )));
            for (i, name) in std::mem::take(&mut self.scaled_up).into_iter().enumerate() {
                out.push(replica_set_event(
                    "SuccessfulDelete",
                    format!("Deleted pod: {name}"),
                ));
                out.push(kubelet(
                    pod(WEB_NS, &name),
                    "Killing",
                    "Stopping container app".into(),
                    false,
                    NODES[i % NODES.len()],
                ));
            }
        }
    }

    /// A node runs short of disk: pressure, the eviction manager reclaiming (repeatedly), a
    /// pod evicted, then relief.
    fn disk_pressure(&mut self, t: u64, out: &mut Vec<Occurrence>) {
        let phase = t % PRESSURE_CYCLE;
        let node = || Involved {
            kind: "Node",
            api_version: "v1",
            namespace: String::new(),
            name: PRESSURED_NODE.into(),
            field_path: None,
        };
        let node_event = |reason, message: String, warning| Occurrence {
            namespace: "default".into(),
            object: node(),
            reason,
            message,
            warning,
            component: "kubelet",
            host: PRESSURED_NODE,
        };
        let status = |condition| format!("Node {PRESSURED_NODE} status is now: {condition}");
        if phase == 6 {
            out.push(node_event(
                "NodeHasDiskPressure",
                status("NodeHasDiskPressure"),
                false,
            ));
        }
        if (7..40).contains(&phase) && phase % 4 == 3 {
            out.push(node_event(
                "EvictionThresholdMet",
                "Attempting to reclaim ephemeral-storage".into(),
                true,
            ));
        }
        if phase == 9 {
            let name = format!("report-{}", self.next_suffix());
            out.push(kubelet(
                pod(EVICTED_NS, &name),
                "Evicted",
                "The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, \
                 available: 812Mi."
                    .into(),
                true,
                PRESSURED_NODE,
            ));
            out.push(kubelet(
                pod(EVICTED_NS, &name),
                "Killing",
                "Stopping container report".into(),
                false,
                PRESSURED_NODE,
            ));
        }
        if phase == 40 {
            out.push(node_event(
                "NodeHasNoDiskPressure",
                status("NodeHasNoDiskPressure"),
                false,
            ));
        }
    }

    fn next_pod_name(&mut self) -> String {
        format!("{REPLICA_SET}-{}", self.next_suffix())
    }

    /// Five characters from the alphabet Kubernetes uses for generated names.
    fn next_suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        self.pods += 1;
        // splitmix64's finalizer: close counters give unrelated suffixes.
        let mut x = self.pods.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        let base = ALPHABET.len() as u64;
        (0..5)
            .map(|_| {
                let digit = usize::try_from(x % base).unwrap_or(0);
                x /= base;
                char::from(ALPHABET[digit])
            })
            .collect()
    }
}

fn pod(namespace: &str, name: &str) -> Involved {
    Involved {
        kind: "Pod",
        api_version: "v1",
        namespace: namespace.into(),
        name: name.into(),
        field_path: None,
    }
}

/// A kubelet event; container events name the container in `fieldPath`.
fn kubelet(
    mut object: Involved,
    reason: &'static str,
    message: String,
    warning: bool,
    host: &'static str,
) -> Occurrence {
    if matches!(
        reason,
        "Pulling" | "Pulled" | "Created" | "Started" | "BackOff" | "Failed" | "Killing"
    ) {
        object.field_path = Some("spec.containers{app}");
    }
    Occurrence {
        namespace: object.namespace.clone(),
        object,
        reason,
        message,
        warning,
        component: "kubelet",
        host,
    }
}

fn scheduled(namespace: &str, name: &str, node: &str) -> Occurrence {
    Occurrence {
        namespace: namespace.into(),
        object: pod(namespace, name),
        reason: "Scheduled",
        message: format!("Successfully assigned {namespace}/{name} to {node}"),
        warning: false,
        component: "default-scheduler",
        host: "",
    }
}

/// Pulled, Created, Started: a container (re)starting.
fn container_started(
    namespace: &str,
    name: &str,
    image: &str,
    host: &'static str,
) -> Vec<Occurrence> {
    let p = || pod(namespace, name);
    vec![
        kubelet(
            p(),
            "Pulled",
            format!("Container image \"{image}\" already present on machine"),
            false,
            host,
        ),
        kubelet(p(), "Created", "Created container: app".into(), false, host),
        kubelet(p(), "Started", "Started container app".into(), false, host),
    ]
}

fn deployment_event(message: String) -> Occurrence {
    Occurrence {
        namespace: WEB_NS.into(),
        object: Involved {
            kind: "Deployment",
            api_version: "apps/v1",
            namespace: WEB_NS.into(),
            name: DEPLOYMENT.into(),
            field_path: None,
        },
        reason: "ScalingReplicaSet",
        message,
        warning: false,
        component: "deployment-controller",
        host: "",
    }
}

fn replica_set_event(reason: &'static str, message: String) -> Occurrence {
    Occurrence {
        namespace: WEB_NS.into(),
        object: Involved {
            kind: "ReplicaSet",
            api_version: "apps/v1",
            namespace: WEB_NS.into(),
            name: REPLICA_SET.into(),
            field_path: None,
        },
        reason,
        message,
        warning: false,
        component: "replicaset-controller",
        host: "",
    }
}

/// Sends one action to the API server; `false` when a repeat finds no Event to bump.
pub fn apply(api: &ApiServer, action: &Action) -> bool {
    let now = rfc3339_now(0);
    match action {
        Action::Create(o) => {
            api.create_event(o.to_event(&now));
            true
        }
        Action::Repeat { namespace, name } => api
            .update_event(namespace, name, |e| {
                let count = e.get("count").and_then(Value::as_i64).unwrap_or(1);
                e["count"] = json!(count + 1);
                e["lastTimestamp"] = json!(now);
            })
            .is_some(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn run(ticks: usize) -> (Generator, Vec<Action>) {
        let mut g = Generator::new();
        let actions = (0..ticks).flat_map(|_| g.step()).collect();
        (g, actions)
    }

    fn created(actions: &[Action]) -> Vec<&Occurrence> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Create(o) => Some(o),
                Action::Repeat { .. } => None,
            })
            .collect()
    }

    #[test]
    fn twenty_seconds_tell_every_story_in_several_namespaces() {
        let (_, actions) = run(40);
        let created = created(&actions);
        let reasons: BTreeSet<&str> = created.iter().map(|o| o.reason).collect();
        for reason in [
            "BackOff",
            "Failed",
            "ScalingReplicaSet",
            "SuccessfulCreate",
            "SuccessfulDelete",
            "NodeHasDiskPressure",
            "EvictionThresholdMet",
            "Evicted",
            "Scheduled",
            "Pulled",
            "Created",
            "Started",
            "Killing",
        ] {
            assert!(reasons.contains(reason), "no {reason} in {reasons:?}");
        }
        let namespaces: BTreeSet<&str> = created.iter().map(|o| o.namespace.as_str()).collect();
        assert!(namespaces.len() >= 5, "{namespaces:?}");
    }

    #[test]
    fn repeats_bump_events_created_before_and_counts_add_up() {
        let (g, actions) = run(80);
        let mut names = BTreeSet::new();
        let mut repeats = 0;
        for a in &actions {
            match a {
                Action::Create(o) => assert!(names.insert((o.namespace.clone(), o.event_name()))),
                Action::Repeat { namespace, name } => {
                    assert!(names.contains(&(namespace.clone(), name.clone())));
                    repeats += 1;
                }
            }
        }
        // The crash loop's BackOff alone repeats every 3 ticks.
        assert!(repeats > 20, "{repeats}");
        // Each scale-up starts pods with new names: their events are new, not repeats.
        let pods: BTreeSet<&str> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Create(o) if o.reason == "SuccessfulCreate" => Some(o.message.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(pods.len(), 10, "{pods:?}");
        assert_eq!(g.events, names.len() as u64);
        assert_eq!(g.occurrences, actions.len() as u64);
    }

    #[test]
    fn events_look_like_the_api_servers() {
        let (_, actions) = run(10);
        let created = created(&actions);
        let backoff = created.iter().find(|o| o.reason == "BackOff").unwrap();
        let e = backoff.to_event("2026-01-02T03:04:05Z");
        assert_eq!(e["type"], "Warning");
        assert_eq!(e["count"], 1);
        assert_eq!(e["involvedObject"]["fieldPath"], "spec.containers{app}");
        assert!(
            e["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("checkout-")
        );
        let node = created.iter().find(|o| o.object.kind == "Node").unwrap();
        let e = node.to_event("2026-01-02T03:04:05Z");
        assert_eq!(e["metadata"]["namespace"], "default");
        assert!(e["involvedObject"].get("namespace").is_none());
    }

    #[tokio::test]
    async fn actions_reach_the_api_server() {
        let api = ApiServer::start(Default::default()).await.unwrap();
        let mut g = Generator::new();
        for _ in 0..12 {
            for a in g.step() {
                assert!(apply(&api, &a), "{a:?}");
            }
        }
        let events = api.events();
        assert_eq!(events.len() as u64, g.events);
        let counted: i64 = events.iter().map(|e| e["count"].as_i64().unwrap()).sum();
        assert_eq!(counted as u64, g.occurrences);
    }
}
