//! A server as a child process: its output in a log file, killed (and reaped) when dropped,
//! also on a panic; SIGSTOP/SIGCONT/SIGKILL and restart with the same command for faults.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running server.
#[derive(Debug)]
pub struct Server {
    pub name: String,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Server {
    /// Starts `program args`, appending its standard output and error to `log`.
    pub fn start(
        name: &str,
        program: &Path,
        args: Vec<String>,
        log: &Path,
    ) -> Result<Server, String> {
        let mut server = Server {
            name: name.to_owned(),
            program: program.to_path_buf(),
            args,
            log: log.to_path_buf(),
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("{}: {e}", self.log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {} ({}): {e}", self.name, self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The log file (standard output and error).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `Some(status)` once it has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.as_mut().map(Child::try_wait) {
            None => Some("not running".into()),
            Some(Ok(Some(status))) => Some(status.to_string()),
            Some(_) => None,
        }
    }

    /// Sends `SIG<name>` (STOP, CONT, TERM, KILL) with the `kill` command (no libc here).
    pub fn signal(&self, name: &str) -> Result<(), String> {
        let pid = self
            .pid()
            .ok_or_else(|| format!("{} is not running", self.name))?;
        signal_pid(pid, name).map_err(|e| format!("{e} ({})", self.name))
    }

    /// SIGSTOP: the process hangs, its sockets stay open.
    pub fn pause(&self) -> Result<(), String> {
        self.signal("STOP")
    }

    /// SIGCONT after [`Server::pause`].
    pub fn resume(&self) -> Result<(), String> {
        self.signal("CONT")
    }

    /// SIGKILL, and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGKILL, then the same command again (same ports, same data directory).
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.spawn()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A stopped process must be continued for SIGKILL to be reaped promptly.
        if self.exited().is_none() {
            let _ = self.resume();
        }
        self.kill();
    }
}

/// Sends `SIG<name>` to process `pid` with the `kill` command (no libc here).
pub fn signal_pid(pid: u32, name: &str) -> Result<(), String> {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("kill -{name} {pid}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -{name} {pid} failed"))
    }
}

/// A free loopback port (bound and released: another process could take it in between, which
/// the server's start then reports).
pub fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_server_is_killed_and_restart_runs_it_again() {
        let dir = std::env::temp_dir().join(format!("kec-proc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("sleep.log");
        let mut s = Server::start("sleep", Path::new("sleep"), vec!["30".into()], &log).unwrap();
        let first = s.pid().unwrap();
        assert!(s.exited().is_none());
        s.pause().unwrap();
        s.resume().unwrap();
        s.restart().unwrap();
        let second = s.pid().unwrap();
        assert_ne!(first, second);
        assert!(!Path::new(&format!("/proc/{first}")).exists());
        drop(s);
        assert!(!Path::new(&format!("/proc/{second}")).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
