//! A pre-generated set of realistic Kubernetes Events: varied namespaces, objects, reasons,
//! messages and counts, as kubelets, controllers and the scheduler write them.

use serde_json::{Value, json};

use crate::scenario::{rfc3339_now, stable_uid};

/// Namespaces of a mid-sized cluster.
const NAMESPACES: &[&str] = &[
    "default",
    "kube-system",
    "monitoring",
    "ingress-nginx",
    "cert-manager",
    "shop",
    "payments",
    "checkout",
    "search",
    "recommendations",
    "auth",
    "data-pipeline",
    "ml-serving",
    "logging",
    "argocd",
    "team-a",
    "team-b",
    "staging",
    "batch-jobs",
    "istio-system",
];

/// Application names the objects are derived from.
const APPS: &[&str] = &[
    "api",
    "web",
    "worker",
    "redis",
    "postgres",
    "gateway",
    "frontend",
    "cart",
    "billing",
    "indexer",
    "scheduler",
    "exporter",
    "kafka",
    "zookeeper",
    "nginx",
];

/// A tiny deterministic generator (SplitMix64), so every run serves the same events.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % n.max(1) as u64).unwrap_or(0)
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items.get(self.below(items.len())).copied().unwrap_or("")
    }
}

/// What reported an event and about which kind of object.
struct Shape {
    kind: &'static str,
    api_version: &'static str,
    component: &'static str,
    field_path: bool,
}

const POD_KUBELET: Shape = Shape {
    kind: "Pod",
    api_version: "v1",
    component: "kubelet",
    field_path: true,
};
const POD_SCHEDULER: Shape = Shape {
    kind: "Pod",
    api_version: "v1",
    component: "default-scheduler",
    field_path: false,
};
const REPLICA_SET: Shape = Shape {
    kind: "ReplicaSet",
    api_version: "apps/v1",
    component: "replicaset-controller",
    field_path: false,
};
const DEPLOYMENT: Shape = Shape {
    kind: "Deployment",
    api_version: "apps/v1",
    component: "deployment-controller",
    field_path: false,
};

/// One kind of event: reason, type, reporter, and its message for an object.
fn reason(
    rng: &mut Rng,
    ns: &str,
    app: &str,
    pod: &str,
    node: &str,
) -> (&'static str, &'static str, Shape, String) {
    let tag = rng.below(40);
    let ip = format!(
        "10.{}.{}.{}",
        rng.below(255),
        rng.below(255),
        rng.below(255)
    );
    match rng.below(12) {
        0 => (
            "Scheduled",
            "Normal",
            POD_SCHEDULER,
            format!("Successfully assigned {ns}/{pod} to {node}"),
        ),
        1 => (
            "Pulling",
            "Normal",
            POD_KUBELET,
            format!("Pulling image \"registry.example.com/{ns}/{app}:v1.{tag}.0\""),
        ),
        2 => (
            "Pulled",
            "Normal",
            POD_KUBELET,
            format!(
                "Successfully pulled image \"registry.example.com/{ns}/{app}:v1.{tag}.0\" in 1.{}s (2.{}s including waiting). Image size: {} bytes.",
                rng.below(999),
                rng.below(999),
                20_000_000 + rng.below(400_000_000)
            ),
        ),
        3 => (
            "Created",
            "Normal",
            POD_KUBELET,
            format!("Created container: {app}"),
        ),
        4 => (
            "Started",
            "Normal",
            POD_KUBELET,
            format!("Started container {app}"),
        ),
        5 => (
            "Killing",
            "Normal",
            POD_KUBELET,
            format!("Stopping container {app}"),
        ),
        6 => (
            "BackOff",
            "Warning",
            POD_KUBELET,
            format!(
                "Back-off restarting failed container {app} in pod {pod}_{ns}({})",
                stable_uid(pod)
            ),
        ),
        7 => (
            "Unhealthy",
            "Warning",
            POD_KUBELET,
            format!(
                "Readiness probe failed: Get \"http://{ip}:8080/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            ),
        ),
        8 => (
            "FailedScheduling",
            "Warning",
            POD_SCHEDULER,
            format!(
                "0/{} nodes are available: {} Insufficient cpu, {} Insufficient memory, 3 node(s) had untolerated taint {{node-role.kubernetes.io/control-plane: }}. preemption: 0/{} nodes are available: {} No preemption victims found for incoming pod.",
                12 + tag,
                1 + rng.below(5),
                1 + rng.below(5),
                12 + tag,
                4 + rng.below(8)
            ),
        ),
        9 => (
            "SuccessfulCreate",
            "Normal",
            REPLICA_SET,
            format!("Created pod: {pod}"),
        ),
        10 => (
            "ScalingReplicaSet",
            "Normal",
            DEPLOYMENT,
            format!(
                "Scaled up replica set {app}-{:x} from {} to {}",
                rng.next_u64() % 0xffff_ffff,
                tag % 5,
                tag % 5 + 1
            ),
        ),
        _ => (
            "FailedMount",
            "Warning",
            POD_KUBELET,
            format!(
                "MountVolume.SetUp failed for volume \"{app}-config\" : configmap \"{app}-config\" not found"
            ),
        ),
    }
}

/// `count` Events with distinct names, each a core/v1 object as a kubelet or controller posts
/// it (the simulator fills resourceVersion and managedFields). Deterministic for a `seed`.
pub fn generate(count: usize, seed: u64) -> Vec<Value> {
    let mut rng = Rng::new(seed);
    let now = rfc3339_now(0);
    (0..count)
        .map(|i| {
            let ns = rng.pick(NAMESPACES);
            let app = rng.pick(APPS);
            let pod = format!("{app}-{:x}-{:05x}", rng.next_u64() % 0xffff_ffff, rng.next_u64() % 0xf_ffff);
            let node = format!("ip-10-0-{}-{}.ec2.internal", rng.below(16), rng.below(255));
            let (reason, type_, shape, message) = reason(&mut rng, ns, app, &pod, &node);
            let object = match shape.kind {
                "Pod" => pod.clone(),
                "ReplicaSet" => format!("{app}-{:x}", rng.next_u64() % 0xffff_ffff),
                _ => app.to_owned(),
            };
            let name = format!("{object}.{:016x}", rng.next_u64() ^ i as u64);
            let host = if shape.component == "kubelet" { node.as_str() } else { "" };
            json!({
                "metadata": {"name": name, "namespace": ns, "uid": stable_uid(&name), "creationTimestamp": now},
                "involvedObject": {
                    "kind": shape.kind, "namespace": ns, "name": object,
                    "uid": stable_uid(&object), "apiVersion": shape.api_version,
                    "resourceVersion": format!("{}", 100_000 + rng.below(9_000_000)),
                    "fieldPath": if shape.field_path { format!("spec.containers{{{app}}}") } else { String::new() }
                },
                "reason": reason,
                "message": message,
                "source": {"component": shape.component, "host": host},
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1 + rng.below(3),
                "type": type_,
                "eventTime": null,
                "reportingComponent": shape.component,
                "reportingInstance": host
            })
        })
        .collect()
}

/// The occurrence of a pre-generated event to create: its `count` bumped by `repeat` and
/// `lastTimestamp` now; with `stamp`, the creation time (Unix nanoseconds) appended to the
/// message as ` bench-ts=<nanos>`, for the sink to read back.
pub fn occurrence(template: &Value, repeat: u64, stamp: Option<u128>) -> Value {
    let mut event = template.clone();
    let count = event.get("count").and_then(Value::as_u64).unwrap_or(1) + repeat;
    event["count"] = json!(count);
    event["lastTimestamp"] = json!(rfc3339_now(0));
    if let Some(nanos) = stamp {
        let message = event.get("message").and_then(Value::as_str).unwrap_or("");
        event["message"] = json!(format!("{message} bench-ts={nanos}"));
    }
    event
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn events_vary_and_are_deterministic() {
        let a = generate(200, 7);
        assert_eq!(a, generate(200, 7));
        let reasons: std::collections::BTreeSet<_> =
            a.iter().map(|e| e["reason"].as_str().unwrap()).collect();
        let namespaces: std::collections::BTreeSet<_> = a
            .iter()
            .map(|e| e["metadata"]["namespace"].as_str().unwrap())
            .collect();
        assert!(reasons.len() >= 10, "{reasons:?}");
        assert!(namespaces.len() >= 10, "{namespaces:?}");
        let names: std::collections::BTreeSet<_> = a
            .iter()
            .map(|e| e["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 200);
    }

    #[test]
    fn an_occurrence_bumps_the_count_and_carries_the_stamp() {
        let template = &generate(1, 1)[0];
        let e = occurrence(template, 2, Some(123));
        assert_eq!(
            e["count"].as_u64(),
            Some(template["count"].as_u64().unwrap() + 2)
        );
        assert!(e["message"].as_str().unwrap().ends_with(" bench-ts=123"));
    }
}
