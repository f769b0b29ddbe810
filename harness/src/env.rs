//! The environment a scenario runs in, as the steps see it: `sim` (the in-process simulators)
//! or `local` (real servers as processes). The steps call these methods; each does what the
//! scenario says on the servers of its environment. What only a simulator can stage
//! (scripted answers) stays behind [`Environment::sim`], which on
//! `local` fails the step, naming it, rather than passing it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::certs::CertPaths;
use crate::deployment::Deployment;
use crate::local::LocalScenario;
use crate::scenario::{ConfigChange, Scenario};
use crate::sim::loki::{AuthSeen, LogStream};

/// Which environment: from `HARNESS_ENV`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sim,
    Local,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Sim => "sim",
            Kind::Local => "local",
        }
    }
}

/// One scenario's servers and collector.
#[derive(Debug)]
pub enum Environment {
    Sim(Box<Scenario>),
    Local(Box<LocalScenario>),
}

/// A push as the gateway saw it: its answer, user and tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSeen {
    pub status: u16,
    /// The basic-auth user ("" when none).
    pub user: String,
    /// Whether the gateway accepted the credentials.
    pub auth_ok: bool,
    /// The `X-Scope-OrgID` header, if sent.
    pub tenant: Option<String>,
    /// Entries in the push (unknown on `local`: the gateway does not decode bodies).
    pub entries: Option<usize>,
}

/// An API request of the collector: its verb (RBAC's: get, list, watch, ...) and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    pub verb: Option<String>,
    /// The path without the query.
    pub path: String,
    /// The user it was authenticated as.
    pub user: Option<String>,
    /// One line for reports.
    pub shown: String,
}

impl Environment {
    pub async fn start(kind: Kind, root: &Path) -> Result<Environment, String> {
        Ok(match kind {
            Kind::Sim => Environment::Sim(Box::new(Scenario::start(root).await?)),
            Kind::Local => Environment::Local(Box::new(LocalScenario::start(root).await?)),
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Environment::Sim(_) => Kind::Sim,
            Environment::Local(_) => Kind::Local,
        }
    }

    /// The simulator, for a step only it can stage; on `local`, an error naming the step.
    pub fn sim(&mut self, step: &str) -> Result<&mut Scenario, String> {
        match self {
            Environment::Sim(sc) => Ok(sc),
            Environment::Local(_) => Err(format!(
                "the step \"{step}\" needs the sim environment: it is not ported to local \
                 (tag the scenario @sim-only only if a real server cannot stage it)"
            )),
        }
    }

    /// The real servers, for a step only they have.
    pub fn local(&mut self) -> Option<&mut LocalScenario> {
        match self {
            Environment::Local(sc) => Some(sc),
            Environment::Sim(_) => None,
        }
    }

    pub fn dir(&self) -> &Path {
        match self {
            Environment::Sim(sc) => &sc.dir,
            Environment::Local(sc) => &sc.dir,
        }
    }

    /// Loads `<dir>` (and on `local`, applies it through the API).
    pub async fn deploy(&mut self, dir: &str) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => sc.deploy(dir),
            Environment::Local(sc) => sc.deploy(dir).await,
        }
    }

    pub fn deployment_mut(&mut self) -> Result<&mut Deployment, String> {
        match self {
            Environment::Sim(sc) => sc.deployment_mut(),
            Environment::Local(sc) => sc.deployment_mut(),
        }
    }

    /// Makes the API server's RBAC what the deployment holds now.
    pub async fn apply_rbac(&mut self) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => {
                sc.apply_rbac();
                Ok(())
            }
            Environment::Local(sc) => sc.apply_rbac().await,
        }
    }

    pub fn config_changes(&mut self) -> &mut Vec<ConfigChange> {
        match self {
            Environment::Sim(sc) => &mut sc.config_changes,
            Environment::Local(sc) => &mut sc.config_changes,
        }
    }

    pub fn metrics_address(&self) -> String {
        match self {
            Environment::Sim(sc) => sc.metrics_address.clone(),
            Environment::Local(sc) => sc.metrics_address.clone(),
        }
    }

    /// The credentials Loki's gateway accepts.
    pub fn set_loki_basic_auth(&mut self, user: &str, password: &str) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => {
                let config = sc.loki_config.take().unwrap_or_default();
                sc.loki_config = Some(config.with_basic_auth(user, password));
                Ok(())
            }
            Environment::Local(sc) => sc.set_gateway_credentials(user, password),
        }
    }

    /// Creates a kubelet-style core/v1 Event.
    pub async fn create_event(
        &mut self,
        namespace: &str,
        name: &str,
        reason: &str,
        kind: &str,
    ) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => {
                sc.create_event(namespace, name, reason, kind);
                Ok(())
            }
            Environment::Local(sc) => sc.create_event(namespace, name, reason, kind).await,
        }
    }

    /// Bumps an event's count.
    pub async fn repeat_event(&mut self, namespace: &str, name: &str) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => {
                if sc.repeat_event(namespace, name) {
                    Ok(())
                } else {
                    Err(format!("no event {namespace}/{name} to repeat"))
                }
            }
            Environment::Local(sc) => sc.repeat_event(namespace, name).await,
        }
    }

    pub async fn start_collector(&mut self) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => sc.start_collector().await,
            Environment::Local(sc) => sc.start_collector().await,
        }
    }

    pub async fn kill_collector(&mut self) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => sc.kill_collector().await,
            Environment::Local(sc) => sc.kill_collector().await,
        }
    }

    pub async fn ready(&self) -> bool {
        match self {
            Environment::Sim(sc) => sc.ready().await,
            Environment::Local(sc) => sc.ready().await,
        }
    }

    pub async fn metrics(&self) -> String {
        match self {
            Environment::Sim(sc) => sc.metrics().await,
            Environment::Local(sc) => sc.metrics().await,
        }
    }

    /// Every log line of every collector the scenario ran.
    pub fn log(&self) -> Vec<String> {
        match self {
            Environment::Sim(sc) => sc.log(),
            Environment::Local(sc) => sc.log(),
        }
    }

    /// A tenant the assertions read besides the Secret's (on `local` Loki cannot list tenants).
    pub fn expect_tenant(&mut self, tenant: &str) {
        if let Environment::Local(sc) = self {
            sc.tenants.insert(tenant.to_owned());
        }
    }

    /// What Loki stores, per tenant.
    pub async fn stored(&self) -> Result<BTreeMap<String, Vec<LogStream>>, String> {
        match self {
            Environment::Sim(sc) => {
                let loki = sc.loki()?;
                Ok(loki
                    .tenants()
                    .into_iter()
                    .map(|t| {
                        let streams = loki.stored(&t);
                        (t, streams)
                    })
                    .collect())
            }
            Environment::Local(sc) => sc.stored_all().await,
        }
    }

    /// Stored entries in all, and those whose line contains `needle` (if given).
    pub async fn stored_count(&self, needle: Option<&str>) -> Result<usize, String> {
        if let (Environment::Sim(sc), None) = (self, needle) {
            return Ok(sc.loki()?.entry_counts().1);
        }
        Ok(self
            .stored()
            .await?
            .values()
            .flatten()
            .flat_map(|s| &s.entries)
            .filter(|e| needle.is_none_or(|n| e.line.contains(n)))
            .count())
    }

    /// Stored entries of `tenant`.
    pub async fn stored_count_for(&self, tenant: &str) -> Result<usize, String> {
        Ok(self
            .stored()
            .await?
            .get(tenant)
            .map_or(0, |streams| streams.iter().map(|s| s.entries.len()).sum()))
    }

    /// What Loki stores as the canonical YAML of `snapshots/payloads/`.
    pub async fn stored_yaml(&self) -> Result<String, String> {
        match self {
            Environment::Sim(sc) => Ok(sc.loki()?.stored_yaml()),
            Environment::Local(sc) => sc.stored_yaml().await,
        }
    }

    /// The pushes Loki's gateway received, oldest first.
    pub fn pushes(&self) -> Result<Vec<PushSeen>, String> {
        match self {
            Environment::Sim(sc) => Ok(sc
                .loki()?
                .pushes()
                .iter()
                .map(|p| PushSeen {
                    status: p.status,
                    user: match &p.auth {
                        AuthSeen::Basic { user } => user.clone(),
                        _ => String::new(),
                    },
                    auth_ok: p.auth_ok,
                    tenant: p.tenant.clone(),
                    entries: Some(p.entry_count()),
                })
                .collect()),
            Environment::Local(sc) => Ok(sc
                .nginx
                .pushes()
                .into_iter()
                .map(|a| PushSeen {
                    auth_ok: a.status != 401,
                    status: a.status,
                    user: a.user,
                    tenant: (!a.tenant.is_empty()).then_some(a.tenant),
                    entries: None,
                })
                .collect()),
        }
    }

    /// The collector's requests to the API server: the simulator's log, or the real API
    /// server's audit log for the collector's user.
    pub fn api_requests(&self) -> Vec<ApiRequest> {
        match self {
            Environment::Sim(sc) => sc
                .api
                .requests()
                .iter()
                .map(|r| ApiRequest {
                    verb: r.verb.map(str::to_owned),
                    path: r.path.clone(),
                    user: match &r.user {
                        crate::sim::apiserver::Caller::User(u) => Some(u.clone()),
                        _ => None,
                    },
                    shown: format!("{} {}?{} ({:?})", r.method, r.path, r.query, r.verb),
                })
                .collect(),
            Environment::Local(sc) => sc
                .collector_requests()
                .iter()
                .map(|r| ApiRequest {
                    verb: Some(r.verb.clone()),
                    path: r.uri.split('?').next().unwrap_or_default().to_owned(),
                    user: Some(r.user.clone()),
                    shown: r.to_string(),
                })
                .collect(),
        }
    }

    /// Files that explain a failure: the collector's log, its API requests, what Loki got and
    /// stores, and (on `local`) the servers' own logs.
    pub async fn diagnostics(&self) -> Vec<(String, String)> {
        let mut files = vec![
            ("collector.log".to_owned(), self.log().join("\n")),
            (
                "api-requests.txt".to_owned(),
                self.api_requests()
                    .iter()
                    .map(|r| r.shown.clone())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            (
                "loki-pushes.txt".to_owned(),
                self.pushes()
                    .unwrap_or_default()
                    .iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            (
                "loki-stored.yaml".to_owned(),
                self.stored_yaml().await.unwrap_or_else(|e| e),
            ),
        ];
        if let Environment::Local(sc) = self {
            let logs: [(&str, PathBuf); 6] = [
                ("kube-apiserver.log", sc.api.server.log_path().to_path_buf()),
                ("audit.log", sc.api.audit_log.clone()),
                ("etcd.log", sc.etcd.server.log_path().to_path_buf()),
                ("loki.log", sc.loki.server.log_path().to_path_buf()),
                ("nginx-access.log", sc.nginx.access_log_path()),
                ("nginx-error.log", sc.nginx.error_log_path()),
            ];
            for (name, path) in logs {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(400)..].join("\n");
                files.push((name.to_owned(), tail));
            }
        }
        files
    }

    /// The scenario's certificate files: its CA, and the server and client certificates.
    pub fn cert_paths(&self) -> &CertPaths {
        match self {
            Environment::Sim(sc) => &sc.cert_paths,
            Environment::Local(sc) => &sc.cert_paths,
        }
    }

    /// Makes the Secret `loki-creds` in the cluster what the deployment holds now. (The sim
    /// has no Secret object: it renders the env from the deployment when the collector starts.)
    pub async fn apply_secret(&self) -> Result<(), String> {
        match self {
            Environment::Sim(_) => Ok(()),
            Environment::Local(sc) => sc.apply_secret().await,
        }
    }

    /// Changes the credentials Loki's gateway accepts, also while it runs; returns once they
    /// are in effect (on `local`: nginx reloaded, the new password accepted, the old refused).
    pub async fn change_loki_basic_auth(
        &mut self,
        user: &str,
        password: &str,
    ) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => match &sc.loki {
                Some(loki) => {
                    loki.set_basic_auth(user, password);
                    Ok(())
                }
                None => self.set_loki_basic_auth(user, password),
            },
            Environment::Local(sc) => {
                crate::local::gateway::change_credentials(&sc.nginx, user, password).await
            }
        }
    }

    /// Writes what the collector's pod mounts (the sim starts its Loki first: the env names
    /// its URL); returns the config path and the container environment.
    pub async fn mount(&mut self) -> Result<(PathBuf, BTreeMap<String, String>), String> {
        match self {
            Environment::Sim(sc) => {
                sc.ensure_loki().await?;
                sc.mount()
            }
            Environment::Local(sc) => sc.mount().await,
        }
    }

    /// Waits up to `timeout` for the collector to exit: its exit code, or `None` while it runs.
    pub async fn wait_collector_exit(&mut self, timeout: Duration) -> Result<Option<i32>, String> {
        let collector = match self {
            Environment::Sim(sc) => sc.collector.as_mut(),
            Environment::Local(sc) => sc.collector.as_mut(),
        };
        Ok(collector
            .ok_or("no collector was started")?
            .wait_exit(timeout)
            .await)
    }

    /// How many TLS clients Loki's gateway refused (a failed handshake, or no client
    /// certificate where one is required), and what it saw: the simulator's counters, or on
    /// `local` nginx's error-log lines.
    pub fn refused_handshakes(&self) -> Result<(usize, String), String> {
        match self {
            Environment::Sim(sc) => {
                let tls = sc.loki_tls.as_ref().ok_or("Loki has no TLS gateway")?;
                let stats = tls.stats();
                let refused = stats.handshake_failures + stats.missing_client_certificate;
                Ok((refused, format!("{stats:?}")))
            }
            Environment::Local(sc) => {
                if sc.loki_mode.is_none() {
                    return Err("Loki has no TLS gateway".into());
                }
                let lines = crate::local::gateway::refused_handshakes(&sc.nginx);
                let seen = format!("nginx's error log:\n{}", sc.nginx.error_log_tail(10));
                Ok((lines.len(), seen))
            }
        }
    }

    /// Stops the collector and removes the scenario's files (servers stop on drop).
    pub async fn finish(&mut self) {
        let _ = self.kill_collector().await;
        match self {
            Environment::Sim(sc) => sc.cleanup(),
            Environment::Local(sc) => sc.cleanup(),
        }
    }
}
