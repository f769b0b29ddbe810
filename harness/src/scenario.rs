//! One scenario on the `sim` environment: a simulated API server and Loki, the objects of
//! `deploy/`, and the real collector binary started as the Deployment would start it.
//!
//! Everything a pod would get is "mounted" into a per-scenario directory: the service-account
//! token and CA, the config from the ConfigMap, the Loki CA, the checkpoint volume. Listen
//! addresses move to free loopback ports so scenarios can run side by side.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::certs::{CertPaths, Certs};
use crate::collector::{CollectorProcess, Launch, http_get};
use crate::deployment::Deployment;
use crate::sim::apiserver::{ApiServer, ApiServerConfig, Rbac};
use crate::sim::loki::{FakeLoki, LokiConfig};
use crate::tls::{TlsMode, TlsTerminator};

/// How long an eventual assertion waits before it fails.
/// (Generous: the deployed retry backoff reaches 11 s by its third attempt.)
pub const EVENTUALLY: Duration = Duration::from_secs(30);
/// How long a "never"/"exactly" assertion watches for more to arrive.
pub const SETTLE: Duration = Duration::from_secs(2);

/// The node name the pod runs on (`fieldRef: spec.nodeName`).
pub const NODE_NAME: &str = "sim-node-1";

/// A scenario's servers, deployment and collector.
#[derive(Debug)]
pub struct Scenario {
    pub root: PathBuf,
    pub dir: PathBuf,
    pub certs: Certs,
    pub cert_paths: CertPaths,
    pub api: ApiServer,
    api_tls: TlsTerminator,
    token: String,
    /// The credentials Loki's gateway accepts (set when Loki is configured).
    pub loki_config: Option<LokiConfig>,
    pub loki_tls_mode: Option<TlsMode>,
    pub loki: Option<FakeLoki>,
    pub loki_tls: Option<TlsTerminator>,
    pub deployment: Option<Deployment>,
    /// Changes to the deployed config, applied in order when the collector starts.
    pub config_changes: Vec<ConfigChange>,
    pub collector: Option<CollectorProcess>,
    /// Logs of collectors that ran before the current one (after a restart).
    pub earlier_logs: Vec<String>,
    /// The times stamped on the scenario's events.
    pub event_clock: EventClock,
    pub health_address: String,
    pub metrics_address: String,
    /// Extra replicas of the Deployment (leader election), by pod name.
    pub replicas: BTreeMap<String, Replica>,
}

/// The times a scenario stamps on its events: the second of its first event, so that events
/// created together share a time even when their creation straddles a second boundary on a
/// slow machine (the payload snapshots rank times, and equal ones must stay equal). A repeat
/// is stamped `count` seconds later, as a kubelet's later occurrence would be. `start_from`
/// is positional (resourceVersions), so these times decide nothing but the entries' times.
#[derive(Debug, Default)]
pub struct EventClock(std::sync::OnceLock<i64>);

impl EventClock {
    /// RFC 3339 for the scenario's first second plus `offset_secs`.
    pub fn at(&self, offset_secs: i64) -> String {
        let base = *self.0.get_or_init(unix_now_secs);
        rfc3339_at(base + offset_secs)
    }
}

/// Every log line of `replicas`, each prefixed with the replica's name (both environments).
pub fn replica_log(replicas: &BTreeMap<String, Replica>) -> Vec<String> {
    replicas
        .iter()
        .flat_map(|(name, r)| {
            r.process
                .log()
                .into_iter()
                .map(move |l| format!("[{name}] {l}"))
        })
        .collect()
}

/// One more replica of the collector: a pod of its own, with its own ports, checkpoint volume
/// and `POD_NAME`, sharing the config, API server and Loki.
#[derive(Debug)]
pub struct Replica {
    pub process: CollectorProcess,
    pub health_address: String,
    pub metrics_address: String,
}

impl Replica {
    /// Starts replica `name` (its pod name) in `dir`: the mounted config `shared_config` with
    /// this replica's own listen ports and checkpoint directory, and the pod's `env` with
    /// `POD_NAME` set as the Downward API would. The same on sim and local.
    pub fn start(
        dir: &Path,
        name: &str,
        shared_config: &Path,
        mut env: BTreeMap<String, String>,
    ) -> Result<Replica, String> {
        let text = std::fs::read_to_string(shared_config)
            .map_err(|e| format!("{}: {e}", shared_config.display()))?;
        let mut config: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", shared_config.display()))?;
        let health_address = free_loopback_address()?;
        let metrics_address = free_loopback_address()?;
        let checkpoints = dir.join(format!("checkpoints-{name}"));
        std::fs::create_dir_all(&checkpoints)
            .map_err(|e| format!("{}: {e}", checkpoints.display()))?;
        let own = [
            (
                "/extensions/file_storage/directory",
                json!(checkpoints.display().to_string()),
            ),
            ("/extensions/health_check/endpoint", json!(health_address)),
            ("/service/telemetry/metrics/address", json!(metrics_address)),
        ];
        for (pointer, value) in own {
            if config.pointer(pointer).is_some() {
                set_pointer(&mut config, pointer, value);
            }
        }
        let path = dir.join(format!("collector-{name}.yaml"));
        let text = serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        env.insert("POD_NAME".into(), name.to_owned());
        let launch = Launch {
            binary: crate::collector::binary_path()?,
            config: path,
            env: env.into_iter().collect(),
        };
        let process = CollectorProcess::start(&launch)
            .map_err(|e| format!("starting {}: {e}", launch.binary.display()))?;
        Ok(Replica {
            process,
            health_address,
            metrics_address,
        })
    }
}

/// A change to the config before it is "mounted", written in the user's words by the steps.
#[derive(Debug, Clone)]
pub enum ConfigChange {
    /// Set the value at a JSON pointer (creating maps on the way).
    Set(String, Value),
    /// Remove the value at a JSON pointer.
    Remove(String),
}

fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    let mut node = root;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let key = part.replace("~1", "/").replace("~0", "~");
        if !node.is_object() {
            *node = json!({});
        }
        let Some(map) = node.as_object_mut() else {
            return;
        };
        if i == parts.len() - 1 {
            map.insert(key, value);
            return;
        }
        node = map.entry(key).or_insert_with(|| json!({}));
    }
}

fn remove_pointer(root: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    if let Some(map) = root.pointer_mut(parent).and_then(Value::as_object_mut) {
        map.remove(&key);
    }
}

fn free_address() -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

/// What a pod of the Deployment gets, in either environment: the files to mount and the
/// values its environment needs.
#[derive(Debug)]
pub struct Pod<'a> {
    /// Where the "mounted" files go.
    pub dir: &'a Path,
    pub deployment: &'a Deployment,
    /// The service-account token.
    pub token: &'a str,
    /// The API server's CA (the service-account directory's `ca.crt`).
    pub api_ca_pem: &'a str,
    /// The Loki CA file (the `loki-ca` volume).
    pub loki_ca: &'a Path,
    pub health_address: &'a str,
    pub metrics_address: &'a str,
    pub config_changes: &'a [ConfigChange],
    /// What a platform team's overlay sets as `LOKI_ENDPOINT`.
    pub loki_push_url: String,
    /// The API server's port on 127.0.0.1 (`KUBERNETES_SERVICE_HOST`/`PORT`).
    pub api_port: u16,
}

/// Writes the config and service-account files of `pod`; returns the config path and the
/// container environment.
pub fn mount_pod(pod: &Pod<'_>) -> Result<(PathBuf, BTreeMap<String, String>), String> {
    let deployment = pod.deployment;
    // Written whole, then renamed into place, as the kubelet swaps a projected volume: a
    // second replica mounting the same pod must not let the first one read a truncated token
    // (it would then call the API server as system:anonymous).
    let write = |path: &Path, text: &str| {
        let partial = path.with_extension("partial");
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, path))
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let sa = pod.dir.join("serviceaccount");
    std::fs::create_dir_all(&sa).map_err(|e| format!("{}: {e}", sa.display()))?;
    write(&sa.join("token"), pod.token)?;
    write(&sa.join("namespace"), &deployment.namespace)?;
    write(&sa.join("ca.crt"), pod.api_ca_pem)?;

    let mut config = deployment.config.clone();
    let checkpoints = pod.dir.join("checkpoints");
    std::fs::create_dir_all(&checkpoints).map_err(|e| e.to_string())?;
    let mounts = [
        (
            "/extensions/file_storage/directory",
            json!(checkpoints.display().to_string()),
        ),
        (
            "/extensions/health_check/endpoint",
            json!(pod.health_address),
        ),
        (
            "/service/telemetry/metrics/address",
            json!(pod.metrics_address),
        ),
    ];
    for (pointer, value) in mounts {
        if config.pointer(pointer).is_some() {
            set_pointer(&mut config, pointer, value);
        }
    }
    // The Loki CA volume: wherever the config expects it, it holds this scenario's CA.
    if config.pointer("/exporters/loki/tls/ca_file").is_some() {
        set_pointer(
            &mut config,
            "/exporters/loki/tls/ca_file",
            json!(pod.loki_ca.display().to_string()),
        );
    }
    for change in pod.config_changes {
        match change {
            ConfigChange::Set(pointer, value) => set_pointer(&mut config, pointer, value.clone()),
            ConfigChange::Remove(pointer) => remove_pointer(&mut config, pointer),
        }
    }
    let path = pod.dir.join("collector.yaml");
    let text = serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?;
    write(&path, &text)?;

    let mut env = deployment.render_env(NODE_NAME);
    // The endpoint a platform team's overlay would set: this scenario's Loki.
    env.insert("LOKI_ENDPOINT".into(), pod.loki_push_url.clone());
    env.insert("KUBERNETES_SERVICE_HOST".into(), "127.0.0.1".into());
    env.insert("KUBERNETES_SERVICE_PORT".into(), pod.api_port.to_string());
    env.insert(
        "K8S_EVENT_COLLECTOR_SERVICEACCOUNT_DIR".into(),
        sa.display().to_string(),
    );
    Ok((path, env))
}

/// A free loopback address (`127.0.0.1:PORT`).
pub fn free_loopback_address() -> Result<String, String> {
    free_address().map_err(|e| e.to_string())
}

impl Scenario {
    /// Starts the simulated API server (behind TLS, as in a cluster) with no RBAC yet.
    pub async fn start(root: &Path) -> Result<Scenario, String> {
        let dir = std::env::temp_dir().join(format!(
            "kec-scenario-{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let certs = Certs::mint().map_err(|e| e.to_string())?;
        let cert_paths = certs
            .write_to(&dir.join("certs"))
            .map_err(|e| format!("writing certificates: {e}"))?;
        let api = ApiServer::start(ApiServerConfig::default())
            .await
            .map_err(|e| format!("starting the API server: {e}"))?;
        let api_tls = TlsTerminator::start(api.addr(), TlsMode::CaSigned, &certs)
            .map_err(|e| format!("starting the API server's TLS: {e}"))?;
        Ok(Scenario {
            root: root.to_path_buf(),
            certs,
            cert_paths,
            api,
            api_tls,
            token: format!("sim-token-{}", std::process::id()),
            loki_config: None,
            loki_tls_mode: None,
            loki: None,
            loki_tls: None,
            deployment: None,
            config_changes: Vec::new(),
            collector: None,
            earlier_logs: Vec::new(),
            event_clock: EventClock::default(),
            health_address: free_address().map_err(|e| e.to_string())?,
            metrics_address: free_address().map_err(|e| e.to_string())?,
            replicas: BTreeMap::new(),
            dir,
        })
    }

    /// Loads `deploy/` and applies its RBAC to the API server.
    pub fn deploy(&mut self, dir: &str) -> Result<(), String> {
        let deployment = Deployment::load(&self.root, dir)?;
        self.api.add_token(&self.token, &deployment.service_account);
        self.deployment = Some(deployment);
        self.apply_rbac();
        Ok(())
    }

    pub fn deployment_mut(&mut self) -> Result<&mut Deployment, String> {
        self.deployment.as_mut().ok_or_else(|| {
            "no deployment: start with `Given the collector is deployed from \"deploy\"`".into()
        })
    }

    /// Sends the deployment's current RBAC objects to the API server.
    pub fn apply_rbac(&self) {
        if let Some(d) = &self.deployment {
            self.api.set_rbac(Rbac::from_manifests(&d.rbac));
        }
    }

    /// Starts Loki (and its TLS gateway) as configured, if not yet running.
    pub async fn ensure_loki(&mut self) -> Result<(), String> {
        if self.loki.is_some() {
            return Ok(());
        }
        let config = self.loki_config.clone().unwrap_or_default();
        let loki = FakeLoki::try_start(config)
            .await
            .map_err(|e| format!("starting Loki: {e}"))?;
        if let Some(mode) = self.loki_tls_mode {
            self.loki_tls = Some(
                TlsTerminator::start(loki.addr(), mode, &self.certs)
                    .map_err(|e| format!("starting Loki's TLS gateway: {e}"))?,
            );
        }
        self.loki = Some(loki);
        Ok(())
    }

    pub fn loki(&self) -> Result<&FakeLoki, String> {
        self.loki
            .as_ref()
            .ok_or_else(|| "Loki is not started".into())
    }

    /// Loki's push URL as the collector reaches it (through the TLS gateway when there is one).
    fn loki_push_url(&self) -> Result<String, String> {
        let loki = self.loki()?;
        Ok(match &self.loki_tls {
            Some(tls) => format!("{}/loki/api/v1/push", tls.url()),
            None => loki.push_url(),
        })
    }

    /// Writes the config and service-account files a pod would have mounted; returns the
    /// config path and the container environment.
    pub fn mount(&self) -> Result<(PathBuf, BTreeMap<String, String>), String> {
        let deployment = self
            .deployment
            .as_ref()
            .ok_or("no deployment to start the collector from")?;
        let ca = std::fs::read_to_string(&self.cert_paths.ca)
            .map_err(|e| format!("{}: {e}", self.cert_paths.ca.display()))?;
        mount_pod(&Pod {
            dir: &self.dir,
            deployment,
            token: &self.token,
            api_ca_pem: &ca,
            loki_ca: &self.cert_paths.ca,
            health_address: &self.health_address,
            metrics_address: &self.metrics_address,
            config_changes: &self.config_changes,
            loki_push_url: self.loki_push_url()?,
            api_port: self.api_tls.addr().port(),
        })
    }

    /// Starts the collector as deployed; waits until it is ready, exits, or a few seconds pass.
    pub async fn start_collector(&mut self) -> Result<(), String> {
        self.ensure_loki().await?;
        let (config, env) = self.mount()?;
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

    /// Whether `/readyz` answers 200.
    pub async fn ready(&self) -> bool {
        matches!(
            http_get(&self.health_address, "/readyz").await,
            Ok((200, _))
        )
    }

    /// The collector's `/metrics` text (empty when it does not answer).
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
        all.extend(self.replica_log());
        all
    }

    /// Creates a kubelet-style core/v1 Event with a stable uid and the current time.
    pub fn create_event(&self, namespace: &str, name: &str, reason: &str, kind: &str) -> Value {
        let now = self.event_clock.at(0);
        let object = name.split('.').next().unwrap_or(name);
        self.api.create_event(json!({
            "metadata": {"name": name, "namespace": namespace, "uid": stable_uid(name), "creationTimestamp": now},
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
        }))
    }

    /// Bumps an event's count, as the kubelet does when it repeats.
    pub fn repeat_event(&self, namespace: &str, name: &str) -> bool {
        self.api
            .update_event(namespace, name, |e| {
                let count = e.get("count").and_then(Value::as_i64).unwrap_or(1);
                e["count"] = json!(count + 1);
                e["lastTimestamp"] = json!(self.event_clock.at(count));
            })
            .is_some()
    }

    /// Starts replica `name` (its pod name): the deployed config with this replica's own
    /// listen ports and checkpoint directory, and `POD_NAME` set as the Downward API would.
    pub async fn start_replica(&mut self, name: &str) -> Result<(), String> {
        self.ensure_loki().await?;
        let (shared_config, env) = self.mount()?;
        let replica = Replica::start(&self.dir, name, &shared_config, env)?;
        self.replicas.insert(name.to_owned(), replica);
        Ok(())
    }

    /// Stops replica `name` with SIGKILL and keeps its log.
    pub async fn kill_replica(&mut self, name: &str) -> Result<(), String> {
        let mut replica = self
            .replicas
            .remove(name)
            .ok_or_else(|| format!("no replica {name:?} is running"))?;
        replica
            .process
            .kill()
            .await
            .map_err(|e| format!("kill: {e}"))?;
        let _ = replica.process.wait_exit(Duration::from_secs(5)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.earlier_logs.extend(
            replica
                .process
                .log()
                .into_iter()
                .map(|l| format!("[{name}] {l}")),
        );
        Ok(())
    }

    /// Replica `name`'s `/metrics` text (empty when it does not answer).
    pub async fn replica_metrics(&self, name: &str) -> String {
        let Some(replica) = self.replicas.get(name) else {
            return String::new();
        };
        http_get(&replica.metrics_address, "/metrics")
            .await
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// Every log line of the running replicas, each prefixed with the replica's name.
    pub fn replica_log(&self) -> Vec<String> {
        replica_log(&self.replicas)
    }

    /// Removes the scenario's files.
    pub fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A uid derived from the name, so payload snapshots are stable.
pub fn stable_uid(name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let hex = format!("{h:016x}{:016x}", h.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Now (plus `offset_secs`) as Kubernetes writes times: `2026-11-25T15:04:05Z`.
pub fn rfc3339_now(offset_secs: i64) -> String {
    rfc3339_at(unix_now_secs() + offset_secs)
}

fn unix_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// `secs` since the Unix epoch as RFC 3339 (UTC, whole seconds).
fn rfc3339_at(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_419), (2025, 11, 27));
        assert_eq!(stable_uid("web-1.a"), stable_uid("web-1.a"));
        assert_ne!(stable_uid("web-1.a"), stable_uid("web-1.b"));
        assert_eq!(stable_uid("x").len(), 36);
    }

    #[test]
    fn pointers_set_and_remove() {
        let mut v = json!({"a": {"b": 1}});
        set_pointer(&mut v, "/a/c/d", json!("x"));
        set_pointer(&mut v, "/receivers/k8s_events/start_from", json!("all"));
        assert_eq!(v["a"]["c"]["d"], "x");
        assert_eq!(v["receivers"]["k8s_events"]["start_from"], "all");
        remove_pointer(&mut v, "/a/b");
        assert!(v["a"].get("b").is_none());
    }
}
