//! One scenario on `local`: etcd, kube-apiserver, Loki and nginx started in a temp directory;
//! `deploy/` rendered by `kubectl kustomize` and server-side applied; events created through
//! the API; the collector run with a TokenRequest token; Loki read back with `query_range`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::apiserver::{ApiServer, AuditEntry};
use super::etcd::Etcd;
use super::loki::{self as loki_api, Loki};
use super::nginx::{Mode, Nginx};
use super::tools::Tools;
use crate::certs::{CertPaths, Certs};
use crate::collector::{CollectorProcess, Launch, http_get};
use crate::deployment::{Deployment, SECRET_NAME};
use crate::scenario::{
    ConfigChange, EventClock, Pod, free_loopback_address, mount_pod, stable_uid,
};
use crate::sim::loki::LogStream;

/// A scenario's real servers, deployment and collector.
pub struct LocalScenario {
    pub root: PathBuf,
    pub dir: PathBuf,
    pub tools: Tools,
    pub certs: Certs,
    pub cert_paths: CertPaths,
    // Dropped in this order: the faults' tasks and replicas, the collector, the servers after.
    /// Faults in progress and extra replicas (`faults.rs`).
    pub faults: super::faults::LocalFaults,
    pub collector: Option<CollectorProcess>,
    pub nginx: Nginx,
    pub loki: Loki,
    pub api: ApiServer,
    pub etcd: Etcd,
    pub client: ::kube::Client,
    http: reqwest::Client,
    pub deployment: Option<Deployment>,
    /// The RBAC objects applied so far (deleted again when the deployment drops them).
    applied_rbac: Vec<Value>,
    pub config_changes: Vec<ConfigChange>,
    pub earlier_logs: Vec<String>,
    /// The times stamped on the scenario's events.
    pub event_clock: EventClock,
    pub health_address: String,
    pub metrics_address: String,
    /// How the collector reaches Loki's gateway (plain http unless a TLS mode is set).
    pub loki_mode: Mode,
    /// The uid the API server gave each event the scenario created, by name.
    pub event_uids: BTreeMap<String, String>,
    /// Tenants to read back besides the Secret's (e.g. namespaces used as tenants).
    pub tenants: BTreeSet<String>,
    /// How long the servers took to come up.
    pub bring_up: Duration,
}

fn err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Applies a Service headless (`clusterIP: None`) unless it names its own IP. A fresh
/// kube-apiserver's IP repair controller can see a new Service before the IPAddress that its
/// creation allocated, and records a spurious `ClusterIPNotAllocated` warning event about it;
/// the collector ships that like any event, and a scenario would count it as one of its own.
/// A headless Service allocates nothing, so nothing is repaired; no scenario reaches the
/// collector through its Service.
fn without_cluster_ip(object: &mut Value) {
    if object["kind"] == "Service" && object["spec"]["clusterIP"].is_null() {
        object["spec"]["clusterIP"] = json!("None");
    }
}

impl LocalScenario {
    /// Starts etcd and kube-apiserver, and Loki and nginx, side by side; returns once all
    /// answer. nginx accepts `deploy/`'s example credentials until told otherwise.
    pub async fn start(root: &Path) -> Result<LocalScenario, String> {
        let began = Instant::now();
        let tools = Tools::find()?;
        let dir = std::env::temp_dir().join(format!(
            "kec-local-{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(err(&dir.display().to_string()))?;
        let certs = Certs::mint().map_err(|e| e.to_string())?;
        let cert_paths = certs
            .write_to(&dir.join("certs"))
            .map_err(err("writing certificates"))?;
        let example = Deployment::load(root, "deploy")?;
        let (user, password) = (
            example.secret_value("USER"),
            example.secret_value("PASSWORD"),
        );

        let cluster = async {
            let etcd = Etcd::start(&tools.etcd, &dir).await?;
            let api = ApiServer::start(&tools.kube_apiserver, &dir, &etcd.url, &cert_paths).await?;
            Ok::<_, String>((etcd, api))
        };
        let gateway = async {
            let loki = Loki::start(&tools.loki, &dir).await?;
            let nginx = Nginx::start(
                &tools.nginx,
                &dir,
                &cert_paths,
                &loki.address,
                &user,
                &password,
            )
            .await?;
            Ok::<_, String>((loki, nginx))
        };
        let (cluster, gateway) = tokio::join!(cluster, gateway);
        let ((etcd, api), (loki, nginx)) = (cluster?, gateway?);
        let client = super::kube::admin_client(&api.kubeconfig).await?;
        Ok(LocalScenario {
            root: root.to_path_buf(),
            tools,
            certs,
            cert_paths,
            faults: super::faults::LocalFaults::default(),
            collector: None,
            nginx,
            loki,
            api,
            etcd,
            client,
            http: loki_api::http_client()?,
            deployment: None,
            applied_rbac: Vec::new(),
            config_changes: Vec::new(),
            earlier_logs: Vec::new(),
            event_clock: EventClock::default(),
            health_address: free_loopback_address()?,
            metrics_address: free_loopback_address()?,
            loki_mode: None,
            event_uids: BTreeMap::new(),
            tenants: BTreeSet::new(),
            bring_up: began.elapsed(),
            dir,
        })
    }

    /// `kubectl kustomize <root>/<dir>`: the manifests as the real tool renders them.
    pub fn render(&self, dir: &str) -> Result<Vec<Value>, String> {
        let path = self.root.join(dir);
        let out = std::process::Command::new(&self.tools.kubectl)
            .arg("kustomize")
            .arg(&path)
            .output()
            .map_err(err("kubectl kustomize"))?;
        if !out.status.success() {
            return Err(format!(
                "kubectl kustomize {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        crate::sim::apiserver::yaml_documents(&String::from_utf8_lossy(&out.stdout))
            .map_err(err("kubectl kustomize's output"))
    }

    /// Renders `<dir>` with kustomize and applies every object through the API (server-side
    /// apply); reads the objects the steps change from it as [`Deployment::load`] does.
    pub async fn deploy(&mut self, dir: &str) -> Result<(), String> {
        let deployment = Deployment::load(&self.root, dir)?;
        for mut object in self.render(dir)? {
            without_cluster_ip(&mut object);
            super::kube::apply(&self.client, &object).await?;
        }
        self.applied_rbac = deployment.rbac.clone();
        self.deployment = Some(deployment);
        self.apply_rbac().await?;
        self.apply_secret().await
    }

    pub fn deployment_mut(&mut self) -> Result<&mut Deployment, String> {
        self.deployment.as_mut().ok_or_else(|| {
            "no deployment: start with `Given the collector is deployed from \"deploy\"`".into()
        })
    }

    /// Makes the cluster's RBAC objects what the deployment holds now: applies each, and deletes
    /// those applied before that it no longer holds.
    pub async fn apply_rbac(&mut self) -> Result<(), String> {
        let Some(d) = &self.deployment else {
            return Ok(());
        };
        let key = |o: &Value| {
            (
                o["kind"].as_str().unwrap_or_default().to_owned(),
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        };
        let wanted: BTreeSet<_> = d.rbac.iter().map(key).collect();
        for gone in self
            .applied_rbac
            .iter()
            .filter(|o| !wanted.contains(&key(o)))
        {
            super::kube::delete(&self.client, gone).await?;
        }
        for object in &d.rbac {
            if let Some(ns) = object["metadata"]["namespace"].as_str() {
                super::kube::ensure_namespace(&self.client, ns).await?;
            }
            super::kube::apply(&self.client, object).await?;
        }
        self.applied_rbac = d.rbac.clone();
        Ok(())
    }

    /// Applies the Secret `loki-creds` with the deployment's current values.
    pub async fn apply_secret(&self) -> Result<(), String> {
        let Some(d) = &self.deployment else {
            return Ok(());
        };
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": SECRET_NAME, "namespace": d.namespace},
            "stringData": d.secret,
        });
        // Apply owns the keys it sets; a removed key must go too, so replace the object.
        super::kube::delete(&self.client, &secret).await?;
        super::kube::apply(&self.client, &secret).await
    }

    /// The gateway's accepted credentials.
    pub fn set_gateway_credentials(&self, user: &str, password: &str) -> Result<(), String> {
        self.nginx.set_credentials(user, password)
    }

    /// Creates a kubelet-style core/v1 Event through the API (the namespace too, if missing).
    pub async fn create_event(
        &mut self,
        namespace: &str,
        name: &str,
        reason: &str,
        kind: &str,
    ) -> Result<(), String> {
        super::kube::ensure_namespace(&self.client, namespace).await?;
        let now = self.event_clock.at(0);
        let object = name.split('.').next().unwrap_or(name);
        let created = super::kube::create_event(
            &self.client,
            namespace,
            json!({
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {
                    "kind": "Pod", "namespace": namespace, "name": object,
                    "uid": stable_uid(object), "apiVersion": "v1",
                    "resourceVersion": "", "fieldPath": "spec.containers{app}"
                },
                "reason": reason,
                "message": format!("{reason} for pod {object} in {namespace}"),
                "source": {"component": "kubelet", "host": "node-2"},
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "type": kind,
                "eventTime": null,
                "reportingComponent": "kubelet",
                "reportingInstance": "node-2"
            }),
        )
        .await?;
        let uid = created["metadata"]["uid"].as_str().unwrap_or_default();
        self.event_uids.insert(name.to_owned(), uid.to_owned());
        Ok(())
    }

    /// Bumps an event's count, as the kubelet does when it repeats.
    pub async fn repeat_event(&self, namespace: &str, name: &str) -> Result<(), String> {
        super::kube::update_event(&self.client, namespace, name, |e| {
            let count = e.get("count").and_then(Value::as_i64).unwrap_or(1);
            e["count"] = json!(count + 1);
            e["lastTimestamp"] = json!(self.event_clock.at(count));
        })
        .await
        .map(|_| ())
    }

    /// A token for the collector's ServiceAccount from a real TokenRequest.
    async fn token(&self) -> Result<String, String> {
        let d = self.deployment.as_ref().ok_or("no deployment")?;
        let account = d.service_account.rsplit(':').next().unwrap_or_default();
        super::kube::token_request(&self.client, &d.namespace, account).await
    }

    /// Writes what the pod mounts; returns the config path and the container environment.
    pub async fn mount(&self) -> Result<(PathBuf, BTreeMap<String, String>), String> {
        let token = self.token().await?;
        let deployment = self
            .deployment
            .as_ref()
            .ok_or("no deployment to start the collector from")?;
        // The env's Secret values as the kubelet reads them: from the API server.
        let mut deployment = deployment.clone();
        deployment.secret =
            super::secret::read(&self.client, &deployment.namespace, SECRET_NAME).await?;
        mount_pod(&Pod {
            dir: &self.dir,
            deployment: &deployment,
            token: &token,
            api_ca_pem: &self.certs.ca_pem,
            loki_ca: &self.cert_paths.ca,
            health_address: &self.health_address,
            metrics_address: &self.metrics_address,
            config_changes: &self.config_changes,
            loki_push_url: self.nginx.push_url(self.loki_mode),
            api_port: self.api.port,
        })
    }

    /// Starts the collector as deployed (Secret applied first); waits until it is ready,
    /// exits, or a few seconds pass.
    pub async fn start_collector(&mut self) -> Result<(), String> {
        self.apply_secret().await?;
        let (config, env) = self.mount().await?;
        let launch = Launch {
            binary: crate::collector::binary_path()?,
            config,
            env: env.into_iter().collect(),
        };
        let process = CollectorProcess::start(&launch)
            .map_err(|e| format!("starting {}: {e}", launch.binary.display()))?;
        self.collector = Some(process);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            if self.ready().await || self.collector_exit_code().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Stops the running collector with SIGKILL and keeps its log.
    pub async fn kill_collector(&mut self) -> Result<(), String> {
        if let Some(mut c) = self.collector.take() {
            c.kill().await.map_err(|e| format!("kill: {e}"))?;
            let _ = c.wait_exit(Duration::from_secs(5)).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            self.earlier_logs.extend(c.log());
        }
        Ok(())
    }

    pub fn collector_exit_code(&mut self) -> Option<i32> {
        self.collector
            .as_mut()
            .and_then(CollectorProcess::exit_code)
    }

    pub async fn ready(&self) -> bool {
        matches!(
            http_get(&self.health_address, "/readyz").await,
            Ok((200, _))
        )
    }

    pub async fn metrics(&self) -> String {
        http_get(&self.metrics_address, "/metrics")
            .await
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// Every log line of every collector this scenario ran.
    pub fn log(&self) -> Vec<String> {
        let mut all = self.earlier_logs.clone();
        if let Some(c) = &self.collector {
            all.extend(c.log());
            all.extend(c.stdout());
        }
        all.extend(self.faults.replica_log());
        all
    }

    /// The tenants to read back: the Secret's, and those the scenario named.
    pub fn tenants(&self) -> BTreeSet<String> {
        let mut all = self.tenants.clone();
        if let Some(d) = &self.deployment {
            all.insert(d.secret_value("X-SCOPE-ORGID"));
        }
        all.retain(|t| !t.is_empty());
        all
    }

    /// What Loki stores for `tenant`, read back through `query_range` (the last two hours).
    pub async fn stored(&self, tenant: &str) -> Result<Vec<LogStream>, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let hour = 3_600_000_000_000u128;
        loki_api::query_streams(
            &self.http,
            &self.loki.url(),
            tenant,
            now - 2 * hour,
            now + hour / 6,
        )
        .await
    }

    /// Every tenant's stored streams.
    pub async fn stored_all(&self) -> Result<BTreeMap<String, Vec<LogStream>>, String> {
        let mut out = BTreeMap::new();
        for tenant in self.tenants() {
            let streams = self.stored(&tenant).await?;
            if !streams.is_empty() {
                out.insert(tenant, streams);
            }
        }
        Ok(out)
    }

    /// The stored streams as the canonical YAML of the snapshots, so both environments
    /// compare with the same reviewed file:
    /// - each event's server-assigned uid is replaced by the stable uid the simulator gives it;
    /// - the `detected_level` structured metadata that Loki 3.7 adds (`discover_log_levels`,
    ///   on by default; the simulator, modelled on 3.4, does not) is removed where it is the
    ///   stream's `level` label in lower case, and kept (so the snapshot fails) where not.
    pub async fn stored_yaml(&self) -> Result<String, String> {
        let mut tenants = self.stored_all().await?;
        for streams in tenants.values_mut() {
            for stream in streams {
                let level = label_value(&stream.labels, "level").map(|l| l.to_lowercase());
                for entry in &mut stream.entries {
                    entry.structured_metadata.retain(|(name, value)| {
                        !(name == DETECTED_LEVEL && level.as_deref() == Some(value.as_str()))
                    });
                    for (name, uid) in &self.event_uids {
                        let stable = stable_uid(name);
                        entry.line = entry.line.replace(uid.as_str(), &stable);
                        for (_, value) in &mut entry.structured_metadata {
                            *value = value.replace(uid.as_str(), &stable);
                        }
                    }
                }
            }
        }
        Ok(crate::sim::loki::stored_yaml(&tenants))
    }

    /// The collector's API requests, from the audit log: everyone's but the harness's.
    pub fn collector_requests(&self) -> Vec<AuditEntry> {
        self.api.audit_of_others()
    }

    /// Removes the scenario's files (the servers stop when it is dropped).
    pub fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl std::fmt::Debug for LocalScenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalScenario")
            .field("dir", &self.dir)
            .field("api", &self.api.url)
            .field("loki", &self.loki.address)
            .finish_non_exhaustive()
    }
}

/// The structured metadata Loki 3.7 adds with the level it detects.
pub const DETECTED_LEVEL: &str = "detected_level";

/// The value of label `name` in a labels string (`{a="1", level="WARN"}`).
fn label_value(labels: &str, name: &str) -> Option<String> {
    let inner = labels.trim().trim_start_matches('{').trim_end_matches('}');
    inner.split(", ").find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"').to_owned())
    })
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn label_values_by_name() {
        let labels = r#"{cluster="tenant-a", level="WARN", service_name="unknown_service"}"#;
        assert_eq!(label_value(labels, "level").as_deref(), Some("WARN"));
        assert_eq!(label_value(labels, "cluster").as_deref(), Some("tenant-a"));
        assert_eq!(label_value(labels, "node"), None);
    }
}
