//! The bench's world: the simulated API server behind TLS (as in a cluster), the fast sink,
//! and the release collector started as the Deployment starts it, with a `deploy/`-style config.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::sink::Sink;
use crate::certs::Certs;
use crate::collector::{CollectorProcess, Launch, http_get};
use crate::sim::apiserver::{ApiServer, ApiServerConfig, Rbac};
use crate::tls::{TlsMode, TlsTerminator};

const TOKEN: &str = "bench-token";
const SERVICE_ACCOUNT: &str = "system:serviceaccount:otel:k8s-event-collector";

/// Where the collector starts when it has no checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// Only what happens after start-up.
    Now,
    /// The backlog the API server still holds (listed in pages), then what happens.
    All,
}

/// A simulated cluster with a sink; each [`Cluster::start_collector`] gets a fresh checkpoint
/// directory.
#[derive(Debug)]
pub struct Cluster {
    pub api: ApiServer,
    pub sink: Sink,
    _api_tls: TlsTerminator,
    api_port: u16,
    dir: PathBuf,
    binary: PathBuf,
    runs: usize,
}

fn io(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn free_address() -> Result<String, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("a free port"))?;
    Ok(l.local_addr().map_err(io("a free port"))?.to_string())
}

impl Cluster {
    /// Starts the API server (anyone with the token may do anything), its TLS front and the
    /// sink; `binary` is the collector to run.
    pub async fn start(binary: &Path) -> Result<Cluster, String> {
        let dir = std::env::temp_dir().join(format!("kec-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(io("the bench directory"))?;
        let certs = Certs::mint().map_err(|e| e.to_string())?;
        let paths = certs
            .write_to(&dir.join("certs"))
            .map_err(io("writing certificates"))?;
        let api = ApiServer::start(ApiServerConfig {
            // A real server's interval: bookmarks are not what is measured.
            bookmark_interval: Duration::from_secs(60),
            ..ApiServerConfig::default()
        })
        .await
        .map_err(io("starting the API server"))?;
        api.add_token(TOKEN, SERVICE_ACCOUNT);
        api.set_rbac(Rbac::allow_all());
        let api_tls = TlsTerminator::start(api.addr(), TlsMode::CaSigned, &certs)
            .map_err(io("starting the API server's TLS"))?;
        let sink = Sink::start().await.map_err(io("starting the sink"))?;
        let sa = dir.join("serviceaccount");
        std::fs::create_dir_all(&sa).map_err(io("the service-account directory"))?;
        let ca = std::fs::read_to_string(&paths.ca).map_err(io("the CA"))?;
        for (file, text) in [("token", TOKEN), ("namespace", "otel"), ("ca.crt", &ca)] {
            std::fs::write(sa.join(file), text).map_err(io(file))?;
        }
        Ok(Cluster {
            api_port: api_tls.addr().port(),
            _api_tls: api_tls,
            api,
            sink,
            dir,
            binary: binary.to_path_buf(),
            runs: 0,
        })
    }

    /// The config: deploy/'s pipeline (k8s_events with a file_storage checkpoint ->
    /// resource/k8s_events -> loki, protobuf, batch defaults), Loki without TLS or auth.
    fn config(&self, start_from: StartFrom, storage: &Path, health: &str, metrics: &str) -> Value {
        let insert =
            |key: &str, value: &str| json!({"action": "insert", "key": key, "value": value});
        json!({
            "receivers": {"k8s_events": {
                "namespaces": [],
                "auth_type": "serviceAccount",
                "storage": "file_storage",
                "start_from": match start_from { StartFrom::Now => "now", StartFrom::All => "all" },
            }},
            "processors": {"resource/k8s_events": {"attributes": [
                insert("cluster", "bench"),
                insert("node", "bench-node"),
                insert("receiver", "k8s_event"),
                insert("loki.resource.labels", "node,receiver,cluster"),
            ]}},
            "exporters": {"loki": {
                "endpoint": self.sink.push_url(),
                "headers": {"X-Scope-OrgID": "bench"},
            }},
            "extensions": {
                "file_storage": {"directory": storage.display().to_string()},
                "health_check": {"endpoint": health},
            },
            "service": {
                "extensions": ["file_storage", "health_check"],
                "telemetry": {"metrics": {"address": metrics}},
                "pipelines": {"logs": {
                    "receivers": ["k8s_events"],
                    "processors": ["resource/k8s_events"],
                    "exporters": ["loki"],
                }},
            },
        })
    }

    /// Starts a collector with a fresh checkpoint directory and waits (at most 30 s) until it
    /// is ready and its watch is open.
    pub async fn start_collector(&mut self, start_from: StartFrom) -> Result<Collector, String> {
        self.runs += 1;
        let run = self.dir.join(format!("run-{}", self.runs));
        let storage = run.join("checkpoints");
        std::fs::create_dir_all(&storage).map_err(io("the checkpoint directory"))?;
        let health = free_address()?;
        let metrics = free_address()?;
        let config = self.config(start_from, &storage, &health, &metrics);
        let path = run.join("collector.yaml");
        let text = serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(io("the config"))?;
        let env = vec![
            ("KUBERNETES_SERVICE_HOST".to_owned(), "127.0.0.1".to_owned()),
            (
                "KUBERNETES_SERVICE_PORT".to_owned(),
                self.api_port.to_string(),
            ),
            (
                "K8S_EVENT_COLLECTOR_SERVICEACCOUNT_DIR".to_owned(),
                self.dir.join("serviceaccount").display().to_string(),
            ),
            ("K8S_NODE_NAME".to_owned(), "bench-node".to_owned()),
        ];
        let launch = Launch {
            binary: self.binary.clone(),
            config: path,
            env,
        };
        let process = CollectorProcess::start(&launch)
            .map_err(|e| format!("starting {}: {e}", launch.binary.display()))?;
        let mut collector = Collector {
            process,
            health,
            metrics,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(code) = collector.process.exit_code() {
                return Err(format!(
                    "the collector exited ({code}):\n{}",
                    collector.process.log().join("\n")
                ));
            }
            let ready = matches!(http_get(&collector.health, "/readyz").await, Ok((200, _)));
            if ready && self.api.open_watches() > 0 {
                return Ok(collector);
            }
            if tokio::time::Instant::now() > deadline {
                // Listing a big backlog may take longer than becoming ready: the caller waits.
                if start_from == StartFrom::All {
                    return Ok(collector);
                }
                return Err(format!(
                    "the collector did not become ready with an open watch in 30 s:\n{}",
                    collector.process.log().join("\n")
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Removes the bench's files.
    pub fn cleanup(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running collector of the bench.
#[derive(Debug)]
pub struct Collector {
    pub process: CollectorProcess,
    health: String,
    metrics: String,
}

impl Collector {
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// `k8s_event_collector_pipeline_records_total`: records the receiver has handed on.
    pub async fn records_in(&self) -> Option<u64> {
        let (_, body) = http_get(&self.metrics, "/metrics").await.ok()?;
        body.lines()
            .find(|l| l.starts_with("k8s_event_collector_pipeline_records_total{"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as u64)
    }

    /// SIGTERM, then SIGKILL if it has not exited in 5 s.
    pub async fn stop(mut self) {
        let _ = self.process.terminate();
        if self
            .process
            .wait_exit(Duration::from_secs(5))
            .await
            .is_none()
        {
            let _ = self.process.kill().await;
        }
    }
}
