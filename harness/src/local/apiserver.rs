//! kube-apiserver on loopback, in front of [`Etcd`](super::etcd::Etcd): a serving certificate
//! signed by the run's CA, a service-account signing key and issuer minted per run, RBAC
//! authorization, an admin identity for the harness (a static token in group
//! `system:masters`), and an audit log of every request at `Metadata` level, so the collector's
//! requests can be checked and shown.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::KeyPair;

use super::process::{Server, free_port};
use crate::certs::CertPaths;

/// The issuer of service-account tokens (as in a cluster, `kubernetes.default.svc`).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The harness's own identity (static token, group `system:masters`).
pub const ADMIN: &str = "harness-admin";

/// The audit policy: every request, metadata only (no bodies: no Secret values in the file).
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
";

#[derive(Debug)]
pub struct ApiServer {
    pub server: Server,
    pub port: u16,
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// The harness's admin token (group `system:masters`).
    pub admin_token: String,
    /// A kubeconfig for the admin (paths, not data): for the harness and for `kubectl`.
    pub kubeconfig: PathBuf,
    /// The audit log (JSON lines).
    pub audit_log: PathBuf,
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A random-enough token: the run's time and process id, hashed (nothing secret is tested with it).
fn token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("admin-{:x}-{}", nanos, std::process::id())
}

impl ApiServer {
    /// Writes its files into `dir` and starts it; returns once `/readyz` is 200.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        etcd_url: &str,
        certs: &CertPaths,
    ) -> Result<ApiServer, String> {
        let port = free_port()?;
        let url = format!("https://127.0.0.1:{port}");
        let sa_key = KeyPair::generate().map_err(|e| format!("service-account key: {e}"))?;
        let sa_private = dir.join("sa-signing.key");
        let sa_public = dir.join("sa-signing.pub");
        write(&sa_private, &sa_key.serialize_pem())?;
        write(&sa_public, &sa_key.public_key_pem())?;
        let admin_token = token();
        let tokens = dir.join("tokens.csv");
        write(
            &tokens,
            &format!("{admin_token},{ADMIN},{ADMIN},\"system:masters\"\n"),
        )?;
        let policy = dir.join("audit-policy.yaml");
        write(&policy, AUDIT_POLICY)?;
        let audit_log = dir.join("audit.log");
        let kubeconfig = dir.join("kubeconfig");
        write(
            &kubeconfig,
            &format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: {url}\n    certificate-authority: {}\nusers:\n- name: harness-admin\n  user:\n    token: {admin_token}\ncontexts:\n- name: local\n  context:\n    cluster: local\n    user: harness-admin\ncurrent-context: local\n",
                certs.ca.display()
            ),
        )?;
        let args = vec![
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--advertise-address=127.0.0.1".to_owned(),
            // No `kubernetes` Endpoints: a loopback address may not be published (as envtest).
            "--endpoint-reconciler-type=none".to_owned(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", dir.join("apiserver-certs").display()),
            format!("--tls-cert-file={}", certs.server_cert.display()),
            format!("--tls-private-key-file={}", certs.server_key.display()),
            format!("--token-auth-file={}", tokens.display()),
            "--authorization-mode=RBAC".to_owned(),
            format!("--service-account-issuer={ISSUER}"),
            format!("--service-account-key-file={}", sa_public.display()),
            format!(
                "--service-account-signing-key-file={}",
                sa_private.display()
            ),
            "--service-cluster-ip-range=10.96.0.0/24".to_owned(),
            format!("--audit-log-path={}", audit_log.display()),
            format!("--audit-policy-file={}", policy.display()),
            "--audit-log-mode=blocking".to_owned(),
            "--v=0".to_owned(),
        ];
        let server = Server::start(
            "kube-apiserver",
            binary,
            args,
            &dir.join("kube-apiserver.log"),
        )?;
        let mut api = ApiServer {
            server,
            port,
            url,
            admin_token,
            kubeconfig,
            audit_log,
        };
        api.wait_ready(Duration::from_secs(90)).await?;
        Ok(api)
    }

    /// Waits until `/readyz` is 200 (every post-start hook done: RBAC's bootstrap roles exist).
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let client = super::kube::admin_client(&self.kubeconfig).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last;
        loop {
            match super::kube::get_text(&client, "/readyz").await {
                Ok(body) if body.trim() == "ok" => return Ok(()),
                Ok(body) => last = body,
                Err(e) => last = e,
            }
            if let Some(status) = self.server.exited() {
                return Err(format!(
                    "kube-apiserver exited ({status}):\n{}",
                    self.server.log_tail(20)
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "kube-apiserver not ready after {timeout:?} ({last}):\n{}",
                    self.server.log_tail(20)
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The audit log's entries of every caller but the harness's admin and the API server's
    /// own loopback client: the collector's requests, whatever identity they carried (an
    /// unauthenticated one shows as `system:anonymous`).
    pub fn audit_of_others(&self) -> Vec<AuditEntry> {
        let text = std::fs::read_to_string(&self.audit_log).unwrap_or_default();
        // A watch is logged when its response starts and again when it ends: keep the first.
        let mut seen = std::collections::BTreeSet::new();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| {
                !matches!(
                    e["user"]["username"].as_str(),
                    Some(ADMIN | "system:apiserver")
                )
            })
            .filter(|e| seen.insert(e["auditID"].as_str().unwrap_or_default().to_owned()))
            .map(|e| AuditEntry {
                user: e["user"]["username"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                verb: e["verb"].as_str().unwrap_or_default().to_owned(),
                uri: e["requestURI"].as_str().unwrap_or_default().to_owned(),
                code: e["responseStatus"]["code"].as_u64().unwrap_or(0),
                reason: e["annotations"]["authorization.k8s.io/reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            })
            .collect()
    }
}

/// One request as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub user: String,
    pub verb: String,
    pub uri: String,
    pub code: u64,
    /// Why RBAC allowed or refused it.
    pub reason: String,
}

impl std::fmt::Display for AuditEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} as {} -> {}",
            self.verb, self.uri, self.user, self.code
        )?;
        if !self.reason.is_empty() {
            write!(f, " ({})", self.reason)?;
        }
        Ok(())
    }
}
