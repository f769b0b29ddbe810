//! The real collector binary as a child process, started with the environment a Deployment
//! would give it; its log captured, its endpoints probed, and signals sent as Kubernetes does.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// Where the collector binary is: `$K8S_EVENT_COLLECTOR_BIN`, else next to the running test
/// binary's target directory (`target/<profile>/k8s-event-collector`).
pub fn binary_path() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("K8S_EVENT_COLLECTOR_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the test binary: {e}"))?;
    // target/debug/deps/<test> -> target/debug/k8s-event-collector
    let candidate = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("k8s-event-collector"));
    match candidate {
        Some(path) if path.is_file() => Ok(path),
        _ => Err(
            "the collector binary is not built: run `cargo build -p k8s-event-collector` \
                  (cargo xtask e2e does it), or set K8S_EVENT_COLLECTOR_BIN"
                .into(),
        ),
    }
}

/// How to start the collector.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    /// The config file (what the ConfigMap mounts).
    pub config: PathBuf,
    /// The container's environment (rendered from the Deployment), and nothing else.
    pub env: Vec<(String, String)>,
}

/// A running (or exited) collector.
#[derive(Debug)]
pub struct CollectorProcess {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl CollectorProcess {
    /// Starts `run --config=<file>` as the OpenTelemetry Operator and deploy/ start it.
    pub fn start(launch: &Launch) -> std::io::Result<CollectorProcess> {
        let mut child = Command::new(&launch.binary)
            .arg(format!("--config={}", launch.config.display()))
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            tokio::spawn(collect_lines(err, Arc::clone(&log)));
        }
        if let Some(out) = child.stdout.take() {
            tokio::spawn(collect_lines(out, Arc::clone(&stdout)));
        }
        Ok(CollectorProcess { child, log, stdout })
    }

    /// Every line the collector logged so far (standard error).
    pub fn log(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Every line it printed on standard output (the debug exporter).
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The exit code, if it has exited.
    pub fn exit_code(&mut self) -> Option<i32> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.code().unwrap_or(-1)),
            _ => None,
        }
    }

    /// Waits up to `timeout` for the process to exit; returns its exit code.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => Some(status.code().unwrap_or(-1)),
            _ => None,
        }
    }

    /// SIGTERM, as the kubelet sends when a pod stops.
    pub fn terminate(&self) -> std::io::Result<()> {
        self.signal("TERM")
    }

    /// SIGKILL: the crash nothing can prepare for.
    pub async fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill().await
    }

    fn signal(&self, name: &str) -> std::io::Result<()> {
        let Some(pid) = self.child.id() else {
            return Ok(());
        };
        // No libc (unsafe is forbidden here): the kill command does the same.
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("kill -{name} {pid} failed")))
        }
    }
}

async fn collect_lines(stream: impl tokio::io::AsyncRead + Unpin, into: Arc<Mutex<Vec<String>>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(mut all) = into.lock() {
            all.push(line);
        }
    }
}

/// `GET http://<address><path>`: the status code and body, or an error text. Plain HTTP/1.1
/// over a socket: enough for the collector's own endpoints, with no client crate.
pub async fn http_get(address: &str, path: &str) -> Result<(u16, String), String> {
    let connect = tokio::net::TcpStream::connect(address);
    let mut stream = tokio::time::timeout(Duration::from_secs(2), connect)
        .await
        .map_err(|_| format!("{address}: connect timed out"))?
        .map_err(|e| format!("{address}: {e}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("{address}: {e}"))?;
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
        .await
        .map_err(|_| format!("{address}{path}: no answer"))?
        .map_err(|e| format!("{address}{path}: {e}"))?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{address}{path}: not an HTTP answer"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn http_get_reads_status_and_body() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nnope\n")
                .await;
        });
        assert_eq!(
            http_get(&address, "/readyz").await.unwrap(),
            (503, "nope\n".into())
        );
    }

    #[tokio::test]
    async fn a_process_that_cannot_start_is_an_error_and_logs_are_captured() {
        let launch = Launch {
            binary: "/nonexistent/k8s-event-collector".into(),
            config: "/tmp/c.yaml".into(),
            env: vec![],
        };
        assert!(CollectorProcess::start(&launch).is_err());
        let launch = Launch {
            binary: "sh".into(),
            config: "/tmp/c.yaml".into(),
            env: vec![],
        };
        // `sh --config=...` fails and says so on stderr: the log is captured.
        let mut p = CollectorProcess::start(&launch).unwrap();
        let code = p.wait_exit(Duration::from_secs(5)).await;
        assert!(code.is_some_and(|c| c != 0));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!p.log().is_empty());
    }
}
