//! etcd on loopback: a data directory of its own, free client and peer ports, no fsync (a
//! test's data need not survive a power cut). Ready when `/health` says so.

use std::path::Path;
use std::time::Duration;

use super::process::{Server, free_port};
use crate::collector::http_get;

#[derive(Debug)]
pub struct Etcd {
    pub server: Server,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    client_address: String,
}

impl Etcd {
    pub async fn start(binary: &Path, dir: &Path) -> Result<Etcd, String> {
        let client = free_port()?;
        let peer = free_port()?;
        let data = dir.join("etcd-data");
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let args = vec![
            "--name=harness".to_owned(),
            format!("--data-dir={}", data.display()),
            format!("--listen-client-urls={url}"),
            format!("--advertise-client-urls={url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=harness={peer_url}"),
            "--unsafe-no-fsync".to_owned(),
            "--log-level=warn".to_owned(),
        ];
        let server = Server::start("etcd", binary, args, &dir.join("etcd.log"))?;
        let mut etcd = Etcd {
            server,
            url,
            client_address: format!("127.0.0.1:{client}"),
        };
        etcd.wait_ready(Duration::from_secs(30)).await?;
        Ok(etcd)
    }

    /// Waits until `/health` answers `"health":"true"`.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last;
        loop {
            match http_get(&self.client_address, "/health").await {
                Ok((200, body)) if body.contains("\"health\":\"true\"") => return Ok(()),
                Ok((status, body)) => last = format!("{status} {body}"),
                Err(e) => last = e,
            }
            if let Some(status) = self.server.exited() {
                return Err(format!(
                    "etcd exited ({status}):\n{}",
                    self.server.log_tail(15)
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "etcd not healthy after {timeout:?} ({last}):\n{}",
                    self.server.log_tail(15)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
