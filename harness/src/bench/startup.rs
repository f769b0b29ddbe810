//! Start-up phases: a collector starting with a big backlog to list (`start_from: all`, paged
//! LIST), and a collector with nothing to do.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::{Cluster, StartFrom};
use super::procfs::{self, Sampler};
use super::stream::{self, SAMPLE_EVERY};

/// What the listing phase measured.
#[derive(Debug, Clone, Default)]
pub struct ListingResult {
    pub events: u64,
    /// From the collector's start to the last event accepted by the sink.
    pub secs: f64,
    pub rss_peak_mib: f64,
    pub rss_steady_mib: f64,
    pub cpu_us_per_event: f64,
    /// LIST requests (pages) the collector made.
    pub pages: usize,
}

/// Stores `events` in the simulator, then starts a collector with `start_from: all` and waits
/// until every one of them reached the sink.
pub async fn listing(
    cluster: &mut Cluster,
    events: Vec<Value>,
    ticks: u64,
) -> Result<ListingResult, String> {
    let n = events.len() as u64;
    for (i, event) in events.into_iter().enumerate() {
        cluster.api.create_event(event);
        if i % 1000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let base = cluster.sink.entries();
    let lists0 = stream::lists(cluster);
    let t0 = Instant::now();
    let mut collector = cluster.start_collector(StartFrom::All).await?;
    let pid = collector.pid().ok_or("the collector has no pid")?;
    let sampler = Sampler::start(pid, SAMPLE_EVERY);
    let deadline = Instant::now() + Duration::from_secs(600);
    while cluster.sink.entries() < base + n {
        if let Some(code) = collector.process.exit_code() {
            return Err(format!("the collector exited ({code})"));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {n} listed events reached the sink in 600 s",
                cluster.sink.entries() - base
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = procfs::cpu_ticks(pid).unwrap_or(0);
    let (samples, hwm) = sampler.finish();
    collector.stop().await;
    Ok(ListingResult {
        events: n,
        secs,
        rss_peak_mib: procfs::mib(hwm),
        rss_steady_mib: procfs::mib(procfs::steady(&samples)),
        cpu_us_per_event: cpu as f64 / ticks as f64 * 1e6 / n.max(1) as f64,
        pages: stream::lists(cluster).saturating_sub(lists0),
    })
}

/// What the idle phase measured.
#[derive(Debug, Clone, Default)]
pub struct IdleResult {
    pub secs: u64,
    pub rss_mib: f64,
    pub rss_peak_mib: f64,
    pub cpu_ms: f64,
    /// CPU time / wall time, in percent of one core.
    pub cpu_percent: f64,
}

/// A collector with no events for `secs` seconds (after it is ready and watching).
pub async fn idle(cluster: &mut Cluster, secs: u64, ticks: u64) -> Result<IdleResult, String> {
    let collector = cluster.start_collector(StartFrom::Now).await?;
    let pid = collector.pid().ok_or("the collector has no pid")?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu0 = procfs::cpu_ticks(pid).ok_or("cannot read /proc/<pid>/stat")?;
    let sampler = Sampler::start(pid, Duration::from_millis(500));
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = procfs::cpu_ticks(pid).unwrap_or(cpu0) - cpu0;
    let (samples, hwm) = sampler.finish();
    let now = procfs::memory(pid).map_or(0, |m| m.rss_kib);
    collector.stop().await;
    let cpu_secs = cpu as f64 / ticks as f64;
    Ok(IdleResult {
        secs,
        rss_mib: procfs::mib(if now > 0 {
            now
        } else {
            procfs::steady(&samples)
        }),
        rss_peak_mib: procfs::mib(hwm),
        cpu_ms: cpu_secs * 1e3,
        cpu_percent: cpu_secs / wall * 100.0,
    })
}
