//! What the OS says about the collector process: CPU time from `/proc/<pid>/stat` and memory
//! from `/proc/<pid>/status`, sampled in the background while a phase runs.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Clock ticks per second (`getconf CLK_TCK`; 100 when it cannot be read, Linux's usual value).
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// User + system CPU time of `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat)
}

/// utime (field 14) + stime (field 15) of a `/proc/<pid>/stat` line; the command name (field
/// 2) may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory now (`VmRSS`) and its peak (`VmHWM`), in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_memory(&status)
}

fn parse_memory(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// KiB as MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Samples `VmRSS` every `every` until stopped.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<u64>>>,
    thread: Option<JoinHandle<()>>,
    pid: u32,
}

impl Sampler {
    pub fn start(pid: u32, every: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s, v) = (stop.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(m) = memory(pid) {
                    v.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(m.rss_kib);
                }
                std::thread::sleep(every);
            }
        });
        Sampler {
            stop,
            samples,
            thread: Some(thread),
            pid,
        }
    }

    /// Stops sampling: the RSS samples (KiB, oldest first) and the process's peak (`VmHWM`).
    pub fn finish(mut self) -> (Vec<u64>, u64) {
        let hwm = memory(self.pid).map_or(0, |m| m.hwm_kib);
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let samples =
            std::mem::take(&mut *self.samples.lock().unwrap_or_else(PoisonError::into_inner));
        let hwm = hwm.max(samples.iter().copied().max().unwrap_or(0));
        (samples, hwm)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The steady value of samples: the median of the last three quarters (start-up left out).
pub fn steady(samples: &[u64]) -> u64 {
    let skip = samples.len() / 4;
    let mut rest: Vec<u64> = samples.iter().skip(skip).copied().collect();
    rest.sort_unstable();
    rest.get(rest.len() / 2).copied().unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_stat_and_status() {
        let stat =
            "1234 (k8s (event) c) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 31 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(281));
        let status = "Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(
            parse_memory(status),
            Some(Memory {
                rss_kib: 10240,
                hwm_kib: 20480
            })
        );
        assert!(cpu_ticks(std::process::id()).is_some());
        assert!(memory(std::process::id()).is_some());
        assert_eq!(steady(&[100, 1, 2, 3, 4]), 3);
        assert_eq!(steady(&[]), 0);
    }
}
