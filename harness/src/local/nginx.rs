//! nginx as Loki's gateway, as platform teams run it: basic auth against an htpasswd file made
//! from the Secret's user and password, and one server block per TLS mode the exporter
//! supports (plain http, CA-signed, self-signed, expired, wrong host name, mutual TLS), each on
//! its own loopback port, all proxying to Loki. It runs with its own prefix in the run's
//! directory (config, pid, logs, temp files), so it needs no root and touches nothing else.
//! Its access log records every request with the user, the tenant header and the status.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::{Server, free_port};
use crate::certs::CertPaths;
use crate::tls::TlsMode;

/// How the gateway is reached: plain http, or one of the TLS modes.
pub type Mode = Option<TlsMode>;

const MODES: [Mode; 6] = [
    None,
    Some(TlsMode::CaSigned),
    Some(TlsMode::SelfSigned),
    Some(TlsMode::Expired),
    Some(TlsMode::WrongHost),
    Some(TlsMode::MutualTls),
];

#[derive(Debug)]
pub struct Nginx {
    pub server: Server,
    prefix: PathBuf,
    ports: Vec<(Mode, u16)>,
}

/// One access-log line: a request the gateway answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    pub status: u16,
    pub method: String,
    pub path: String,
    /// The basic-auth user sent ("" when none).
    pub user: String,
    /// The `X-Scope-OrgID` header ("" when none).
    pub tenant: String,
    /// Seconds since the epoch, with milliseconds.
    pub at: f64,
}

/// The access log format: tab-separated, so no field can shift another.
const LOG_FORMAT: &str =
    "$msec\\t$status\\t$request_method\\t$uri\\t$remote_user\\t$http_x_scope_orgid";

fn server_block(port: u16, mode: Mode, certs: &CertPaths, htpasswd: &Path, loki: &str) -> String {
    let tls = |cert: &Path, key: &Path| {
        format!(
            "    ssl_certificate {};\n    ssl_certificate_key {};\n",
            cert.display(),
            key.display()
        )
    };
    let (listen, tls_lines) = match mode {
        None => (format!("127.0.0.1:{port}"), String::new()),
        Some(TlsMode::CaSigned) => (
            format!("127.0.0.1:{port} ssl"),
            tls(&certs.server_cert, &certs.server_key),
        ),
        Some(TlsMode::SelfSigned) => (
            format!("127.0.0.1:{port} ssl"),
            tls(&certs.self_signed_cert, &certs.self_signed_key),
        ),
        Some(TlsMode::Expired) => (
            format!("127.0.0.1:{port} ssl"),
            tls(&certs.expired_cert, &certs.expired_key),
        ),
        Some(TlsMode::WrongHost) => (
            format!("127.0.0.1:{port} ssl"),
            tls(&certs.wrong_host_cert, &certs.wrong_host_key),
        ),
        Some(TlsMode::MutualTls) => (
            format!("127.0.0.1:{port} ssl"),
            format!(
                "{}    ssl_verify_client on;\n    ssl_client_certificate {};\n",
                tls(&certs.server_cert, &certs.server_key),
                certs.ca.display()
            ),
        ),
    };
    format!(
        "  server {{
    listen {listen};
{tls_lines}    location / {{
      auth_basic \"Loki\";
      auth_basic_user_file {};
      proxy_pass http://{loki};
      proxy_http_version 1.1;
      proxy_request_buffering off;
    }}
  }}
",
        htpasswd.display()
    )
}

/// Whether this process runs as root (then nginx's workers must be told to stay root, or they
/// could not write the temp files in the run's directory).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn config(prefix: &Path, ports: &[(Mode, u16)], certs: &CertPaths, loki: &str) -> String {
    let p = prefix.display();
    let htpasswd = prefix.join("htpasswd");
    let servers: String = ports
        .iter()
        .map(|(mode, port)| server_block(*port, *mode, certs, &htpasswd, loki))
        .collect();
    let user = if running_as_root() {
        "user root root;\n"
    } else {
        ""
    };
    format!(
        "{user}worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log info;
daemon off;
events {{ worker_connections 256; }}
http {{
  log_format harness \"{LOG_FORMAT}\";
  access_log {p}/access.log harness;
  client_body_temp_path {p}/tmp/body;
  proxy_temp_path {p}/tmp/proxy;
  fastcgi_temp_path {p}/tmp/fastcgi;
  uwsgi_temp_path {p}/tmp/uwsgi;
  scgi_temp_path {p}/tmp/scgi;
  client_max_body_size 64m;
{servers}}}
"
    )
}

/// `user:{{PLAIN}}password`: nginx's `auth_basic_user_file` accepts the `{{PLAIN}}` scheme.
pub fn htpasswd(user: &str, password: &str) -> String {
    format!("{user}:{{PLAIN}}{password}\n")
}

impl Nginx {
    /// Writes the config and htpasswd into `<dir>/nginx/` and starts it in front of `loki`.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        certs: &CertPaths,
        loki: &str,
        user: &str,
        password: &str,
    ) -> Result<Nginx, String> {
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(prefix.join("tmp"))
            .map_err(|e| format!("{}: {e}", prefix.display()))?;
        let mut ports = Vec::new();
        for mode in MODES {
            ports.push((mode, free_port()?));
        }
        let conf = prefix.join("nginx.conf");
        std::fs::write(&conf, config(&prefix, &ports, certs, loki))
            .map_err(|e| format!("{}: {e}", conf.display()))?;
        let mut nginx = Nginx {
            server: Server::start(
                "nginx",
                binary,
                vec![
                    "-p".into(),
                    prefix.display().to_string(),
                    "-e".into(),
                    prefix.join("error.log").display().to_string(),
                    "-c".into(),
                    conf.display().to_string(),
                ],
                &dir.join("nginx.log"),
            )?,
            prefix,
            ports,
        };
        nginx.set_credentials(user, password)?;
        nginx.wait_listening(Duration::from_secs(10)).await?;
        Ok(nginx)
    }

    /// Replaces the accepted credentials (nginx reads the file on every request).
    pub fn set_credentials(&self, user: &str, password: &str) -> Result<(), String> {
        let path = self.prefix.join("htpasswd");
        let tmp = self.prefix.join("htpasswd.new");
        std::fs::write(&tmp, htpasswd(user, password))
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The accepted user and password, as the htpasswd file holds them now.
    pub fn credentials(&self) -> Result<(String, String), String> {
        let path = self.prefix.join("htpasswd");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let line = text.lines().next().unwrap_or_default();
        let (user, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("{}: not a user:password line", path.display()))?;
        let password = rest
            .strip_prefix("{PLAIN}")
            .ok_or_else(|| format!("{}: not the {{PLAIN}} scheme", path.display()))?;
        Ok((user.to_owned(), password.to_owned()))
    }

    pub async fn wait_listening(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        for (_, port) in &self.ports {
            loop {
                if tokio::net::TcpStream::connect(("127.0.0.1", *port))
                    .await
                    .is_ok()
                {
                    break;
                }
                if let Some(status) = self.server.exited() {
                    return Err(format!(
                        "nginx exited ({status}):\n{}\n{}",
                        self.server.log_tail(10),
                        self.error_log_tail(10)
                    ));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(format!(
                        "nginx does not listen on {port} after {timeout:?}:\n{}",
                        self.error_log_tail(10)
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// The push URL of the gateway in `mode` (`http://127.0.0.1:P/...` or `https://localhost:P/...`:
    /// the certificates name `localhost`).
    pub fn push_url(&self, mode: Mode) -> String {
        let port = self
            .ports
            .iter()
            .find(|(m, _)| *m == mode)
            .map_or(0, |(_, p)| *p);
        match mode {
            None => format!("http://127.0.0.1:{port}/loki/api/v1/push"),
            Some(_) => format!("https://localhost:{port}/loki/api/v1/push"),
        }
    }

    /// The address of the plain-http server block (`127.0.0.1:P`), for the harness's probes.
    pub fn plain_address(&self) -> String {
        let port = self
            .ports
            .iter()
            .find(|(m, _)| m.is_none())
            .map_or(0, |(_, p)| *p);
        format!("127.0.0.1:{port}")
    }

    /// The error log: nginx's notices (reloads) and, at `info`, every refused TLS handshake.
    pub fn error_log_path(&self) -> PathBuf {
        self.prefix.join("error.log")
    }

    pub fn error_log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.error_log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    pub fn access_log_path(&self) -> PathBuf {
        self.prefix.join("access.log")
    }

    /// Every request so far, oldest first.
    pub fn accesses(&self) -> Vec<Access> {
        let text = std::fs::read_to_string(self.access_log_path()).unwrap_or_default();
        text.lines().filter_map(parse_access).collect()
    }

    /// The requests to the push path, oldest first.
    pub fn pushes(&self) -> Vec<Access> {
        self.accesses()
            .into_iter()
            .filter(|a| a.path == crate::sim::loki::PUSH_PATH)
            .collect()
    }

    /// The count of requests answered by status, for diagnostics.
    pub fn statuses(&self) -> BTreeMap<u16, usize> {
        let mut out = BTreeMap::new();
        for a in self.pushes() {
            *out.entry(a.status).or_default() += 1;
        }
        out
    }
}

impl Drop for Nginx {
    /// A SIGKILL of the master (what dropping its [`Server`] does) leaves the workers running,
    /// orphaned, holding the listening sockets: a fast shutdown (SIGTERM) first makes the master
    /// stop its workers and exit.
    fn drop(&mut self) {
        if self.server.exited().is_some() {
            return;
        }
        let _ = self.server.resume();
        if self.server.signal("TERM").is_err() {
            return;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while self.server.exited().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn parse_access(line: &str) -> Option<Access> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [at, status, method, path, user, tenant] = fields.as_slice() else {
        return None;
    };
    let dash = |s: &str| {
        if s == "-" {
            String::new()
        } else {
            s.to_owned()
        }
    };
    Some(Access {
        at: at.parse().ok()?,
        status: status.parse().ok()?,
        method: (*method).to_owned(),
        path: (*path).to_owned(),
        user: dash(user),
        tenant: dash(tenant),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn access_lines_and_htpasswd() {
        let a = parse_access(
            "1700000000.123\t204\tPOST\t/loki/api/v1/push\tk8s-event-collector\ttenant-a",
        )
        .unwrap();
        assert_eq!(a.status, 204);
        assert_eq!(a.user, "k8s-event-collector");
        assert_eq!(a.tenant, "tenant-a");
        let none = parse_access("1.0\t401\tPOST\t/loki/api/v1/push\t-\t-").unwrap();
        assert_eq!((none.user.as_str(), none.tenant.as_str()), ("", ""));
        assert_eq!(parse_access("garbage"), None);
        assert_eq!(htpasswd("u", "p:w"), "u:{PLAIN}p:w\n");
    }
}
