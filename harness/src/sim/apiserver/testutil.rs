//! Test helpers: the captured fixtures, a started server with a service account, an HTTP client
//! and a watch-line reader.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::Value;

use super::{ApiServer, ApiServerConfig, Rbac};

/// The collector's service account and its token.
pub(super) const SA: &str = "system:serviceaccount:otel:k8s-event-collector";
pub(super) const TOKEN: &str = "collector-token";

/// A fixture of `collector/tests/fixtures/kube/` without its `# HTTP ...` lines.
pub(super) fn fixture(name: &str) -> String {
    fixture_lines(name).join("\n")
}

/// A fixture's lines, without its `# HTTP ...` lines.
pub(super) fn fixture_lines(name: &str) -> Vec<String> {
    let path = format!(
        "{}/../collector/tests/fixtures/kube/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// A plain-HTTP client.
pub(super) fn client() -> reqwest::Client {
    // reqwest is built without a default crypto provider; plain HTTP still wants one set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

/// `deploy/`'s rule: get/list/watch on core events, in a ClusterRole.
pub(super) const EVENTS_READER: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: k8s-event-collector}
rules:
  - apiGroups: [""]
    resources: [events]
    verbs: [get, list, watch]
"#;

/// Binds [`EVENTS_READER`] to SA cluster-wide.
pub(super) const CLUSTER_BINDING: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: k8s-event-collector}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: k8s-event-collector}
subjects:
  - {kind: ServiceAccount, name: k8s-event-collector, namespace: otel}
"#;

/// Binds [`EVENTS_READER`] to SA in the namespace `shop` only.
pub(super) const SHOP_BINDING: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: k8s-event-collector, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: k8s-event-collector}
subjects:
  - {kind: ServiceAccount, name: k8s-event-collector, namespace: otel}
"#;

/// `deploy/`'s leader election: create any Lease, get/update only the collector's, in `otel`.
pub(super) const LEADER: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: leader, namespace: otel}
rules:
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [create]
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    resourceNames: [k8s-event-collector]
    verbs: [get, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: leader, namespace: otel}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: leader}
subjects:
  - {kind: ServiceAccount, name: k8s-event-collector, namespace: otel}
"#;

/// YAML documents as one multi-document file.
pub(super) fn yaml(documents: &[&str]) -> String {
    documents.join("---\n")
}

/// [`EVENTS_READER`] bound cluster-wide.
pub(super) fn cluster_reader() -> String {
    yaml(&[EVENTS_READER, CLUSTER_BINDING])
}

/// [`cluster_reader`] for both Events API groups.
pub(super) fn reader_of_both_apis() -> Rbac {
    let yaml = cluster_reader().replace(r#"apiGroups: [""]"#, r#"apiGroups: ["", events.k8s.io]"#);
    Rbac::from_yaml_documents(&yaml).unwrap()
}

/// A server with short bookmarks, SA's token, and `rbac`.
pub(super) async fn server_with(rbac: &str, config: ApiServerConfig) -> ApiServer {
    let server = ApiServer::start(config).await.unwrap();
    server.add_token(TOKEN, SA);
    server.set_rbac(Rbac::from_yaml_documents(rbac).unwrap());
    server
}

/// A server where SA may read events everywhere, bookmarks every 200 ms.
pub(super) async fn server() -> ApiServer {
    server_with(
        &cluster_reader(),
        ApiServerConfig {
            bookmark_interval: Duration::from_millis(200),
            ..ApiServerConfig::default()
        },
    )
    .await
}

/// GET `path_and_query` as SA.
async fn send(server: &ApiServer, path_and_query: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path_and_query}", server.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
}

/// GET `path_and_query` as SA; the status and the body.
pub(super) async fn get(server: &ApiServer, path_and_query: &str) -> (u16, String) {
    let response = send(server, path_and_query).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// GET as SA, parsed.
pub(super) async fn get_json(server: &ApiServer, path_and_query: &str) -> (u16, Value) {
    let (status, body) = get(server, path_and_query).await;
    (status, serde_json::from_str(&body).unwrap())
}

/// A core/v1 kubelet-style event without server fields.
pub(super) fn kubelet_event(namespace: &str, name: &str) -> Value {
    serde_json::json!({
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {"kind": "Pod", "namespace": namespace, "name": "web-7",
            "uid": "0b7f5d7e-2f0e-4c55-9d1e-7a1f3c2b9e11", "apiVersion": "v1",
            "resourceVersion": "4711", "fieldPath": "spec.containers{app}"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container app in pod web-7_shop",
        "source": {"component": "kubelet", "host": "node-2"},
        "firstTimestamp": "2026-11-24T22:46:23Z",
        "lastTimestamp": "2026-11-24T22:46:23Z",
        "count": 1,
        "type": "Warning",
        "reportingComponent": "kubelet",
        "reportingInstance": "node-2",
    })
}

/// Reads a watch stream line by line.
pub(super) struct Lines {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Lines {
    /// Opens a watch as SA; panics unless it answers 200.
    pub async fn open(server: &ApiServer, path_and_query: &str) -> Lines {
        let response = send(server, path_and_query).await;
        assert_eq!(response.status(), 200);
        Lines {
            response,
            buffer: Vec::new(),
        }
    }

    /// The next line (without its newline), `None` when the stream ended; panics after 5 s.
    pub async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Some(String::from_utf8(line[..end].to_vec()).unwrap());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.response.chunk())
                .await
                .expect("no watch line within 5 s")
                .unwrap();
            match chunk {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => {
                    assert!(self.buffer.is_empty(), "unterminated line at the end");
                    return None;
                }
            }
        }
    }

    /// The next line, parsed.
    pub async fn next_json(&mut self) -> Option<Value> {
        self.next().await.map(|l| serde_json::from_str(&l).unwrap())
    }
}
