//! The Kubernetes objects the kind environment applies besides `deploy/`: the Secret and the
//! `loki-ca` ConfigMap an operator creates by hand, the overlay that points `deploy/` at the
//! e2e image and the gateway, and the events a scenario creates.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The Deployment in `deploy/base/deployment.yaml`, and its container.
pub const DEPLOYMENT: &str = "k8s-event-collector";
pub const CONTAINER: &str = "collector";

/// The image `deploy/` names (its tag is set in `deploy/components/image/`).
pub const DEPLOYED_IMAGE: &str = "ghcr.io/k8s-event-collector/k8s-event-collector";

/// The image the kind environment builds from `deploy/Dockerfile` and loads into kind.
pub const IMAGE_NAME: &str = "k8s-event-collector";
pub const IMAGE_TAG: &str = "e2e";

/// `name:tag` of the e2e image.
pub fn image() -> String {
    format!("{IMAGE_NAME}:{IMAGE_TAG}")
}

/// The Secret `loki-creds` (all its keys, as `deploy/secret.example.yaml` has them) and the
/// ConfigMap `loki-ca` holding the CA that signed the gateway's certificate, as one `List` for
/// `kubectl apply -f -`: what `deploy/README.md` tells an operator to create.
pub fn secret_and_ca(namespace: &str, secret: &BTreeMap<String, String>, ca_pem: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": crate::deployment::SECRET_NAME, "namespace": namespace},
                "type": "Opaque",
                "stringData": secret,
            },
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "loki-ca", "namespace": namespace},
                "data": {"ca.crt": ca_pem},
            },
        ],
    })
}

/// The overlay's `kustomization.yaml` (JSON, which kustomize reads as YAML): `deploy/` at
/// `deploy_path` (relative to the overlay: kustomize wants a relative base), with the e2e
/// image and `LOKI_ENDPOINT` set to `endpoint`; nothing else changes.
pub fn overlay(deploy_path: &str, namespace: &str, endpoint: &str) -> Value {
    let patch = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [{
            "name": CONTAINER,
            // The image exists only where `kind load` put it: a pull could only fail, later
            // and less clearly (ErrImageNeverPull names the cause at once).
            "imagePullPolicy": "Never",
            "env": [{"name": "LOKI_ENDPOINT", "value": endpoint}],
        }]}}},
    });
    json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [deploy_path],
        "images": [{"name": DEPLOYED_IMAGE, "newName": IMAGE_NAME, "newTag": IMAGE_TAG}],
        "patches": [{
            "target": {"kind": "Deployment", "name": DEPLOYMENT},
            "patch": patch.to_string(),
        }],
    })
}

/// A core/v1 Event named `name` in `namespace` whose message is `message`, as a controller
/// would record it. The API server sets its `creationTimestamp`, which the collector takes as
/// the entry's time when the event has no other.
pub fn event(namespace: &str, name: &str, message: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "kube-root-ca.crt",
            "namespace": namespace,
        },
        "reason": "E2ESmoke",
        "message": message,
        "type": "Normal",
        "count": 1,
        "source": {"component": "k8s-event-collector-e2e"},
        "reportingComponent": "k8s-event-collector-e2e",
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn secret_and_ca_are_what_the_deployment_reads() {
        let secret = BTreeMap::from([("PASSWORD".to_owned(), "pw".to_owned())]);
        let list = secret_and_ca("otel", &secret, "PEM");
        assert_eq!(list["items"][0]["kind"], "Secret");
        assert_eq!(list["items"][0]["metadata"]["name"], "loki-creds");
        assert_eq!(list["items"][0]["metadata"]["namespace"], "otel");
        assert_eq!(list["items"][0]["stringData"]["PASSWORD"], "pw");
        assert_eq!(list["items"][1]["metadata"]["name"], "loki-ca");
        assert_eq!(list["items"][1]["data"]["ca.crt"], "PEM");
    }

    #[test]
    fn overlay_sets_image_and_endpoint_only() {
        let o = overlay("../../deploy", "otel", "https://gw/loki/api/v1/push");
        assert_eq!(o["resources"], json!(["../../deploy"]));
        assert_eq!(
            o["images"],
            json!([{"name": DEPLOYED_IMAGE, "newName": "k8s-event-collector", "newTag": "e2e"}])
        );
        let patch: Value =
            serde_json::from_str(o["patches"][0]["patch"].as_str().unwrap()).unwrap();
        let container = &patch["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["name"], "collector");
        assert_eq!(
            container["env"],
            json!([{"name": "LOKI_ENDPOINT", "value": "https://gw/loki/api/v1/push"}])
        );
    }

    #[test]
    fn names_match_deploy() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(root.join("deploy/base/deployment.yaml")).unwrap();
        assert!(
            text.contains(&format!("\n  name: {DEPLOYMENT}\n")),
            "{text}"
        );
        assert!(text.contains(&format!("- name: {CONTAINER}\n")), "{text}");
        assert!(
            text.contains(&format!("image: {DEPLOYED_IMAGE}\n")),
            "{text}"
        );
        assert!(text.contains("- name: LOKI_ENDPOINT\n"), "{text}");
    }

    #[test]
    fn event_is_a_core_v1_event() {
        let e = event("default", "e2e-1", "hello");
        assert_eq!(e["apiVersion"], "v1");
        assert_eq!(e["kind"], "Event");
        assert_eq!(e["metadata"]["namespace"], e["involvedObject"]["namespace"]);
        assert_eq!(e["message"], "hello");
    }
}
