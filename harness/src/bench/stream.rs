//! Streaming phases: events created in the simulator and served through its real watch,
//! either as fast as the collector reads them (throughput) or at a fixed rate (latency and
//! steady memory).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::{Cluster, Collector};
use super::events::occurrence;
use super::procfs::{self, Sampler};
use super::sink::unix_nanos;

/// How far event creation may run ahead of what the collector has received. The simulator
/// keeps 10 000 changes for watches; staying well below means the watch never expires.
const WINDOW: u64 = 6_000;
/// Events created between two looks at the collector's progress.
const CHUNK: u64 = 250;
/// How often memory is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// The events to stream: a pool of distinct Events, each created again with a bumped count
/// (a repeat is a new occurrence the collector ships).
#[derive(Debug)]
pub struct Feed {
    pub templates: Vec<Value>,
    /// Occurrences created so far (across phases).
    next: u64,
}

impl Feed {
    pub fn new(templates: Vec<Value>) -> Feed {
        Feed { templates, next: 0 }
    }

    /// Creates the next occurrence in the simulator; `stamp` embeds the creation time.
    fn create(&mut self, cluster: &Cluster, stamp: bool) {
        let pool = self.templates.len().max(1) as u64;
        let index = usize::try_from(self.next % pool).unwrap_or(0);
        if let Some(template) = self.templates.get(index) {
            let at = stamp.then(|| u128::from(unix_nanos()));
            cluster
                .api
                .create_event(occurrence(template, self.next / pool, at));
        }
        self.next += 1;
    }
}

/// What one streaming phase measured.
#[derive(Debug, Clone, Default)]
pub struct StreamResult {
    pub events: u64,
    pub secs: f64,
    pub events_per_sec: f64,
    pub cpu_us_per_event: f64,
    /// Collector CPU time / wall time (1.0 = one core busy).
    pub cpu_cores: f64,
    pub rss_steady_mib: f64,
    pub rss_peak_mib: f64,
    /// Latencies event-created -> Loki-accepted, milliseconds, sorted (stamped phases only).
    pub latencies_ms: Vec<f64>,
    /// LIST requests during the phase (a watch that expired makes the collector list again).
    pub lists: usize,
    /// This process's CPU time / wall time: the simulator, its TLS front, the sink and the
    /// event creation share it (when it nears the machine's cores, the bench is the limit).
    pub bench_cpu_cores: f64,
    /// Seconds event creation waited because the collector had not received enough yet.
    pub window_wait_secs: f64,
}

/// LIST requests the simulator has answered so far.
pub(super) fn lists(cluster: &Cluster) -> usize {
    cluster
        .api
        .requests()
        .iter()
        .filter(|r| r.verb == Some("list"))
        .count()
}

/// Waits until the sink holds `target` entries; an error when nothing moves for 30 s.
async fn delivered(
    cluster: &Cluster,
    target: u64,
    collector: &mut Collector,
) -> Result<(), String> {
    let mut last = (cluster.sink.entries(), Instant::now());
    while cluster.sink.entries() < target {
        if let Some(code) = collector.process.exit_code() {
            return Err(format!("the collector exited ({code})"));
        }
        let now = cluster.sink.entries();
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "stalled: {now} of {target} entries at the sink after 30 s without progress"
            ));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// Measures from the first event created to the last one accepted by the sink.
struct Meter {
    pid: u32,
    ticks: u64,
    cpu0: u64,
    t0: Instant,
    base: u64,
    lists0: usize,
    own0: u64,
    sampler: Sampler,
}

impl Meter {
    fn start(cluster: &Cluster, collector: &Collector, ticks: u64) -> Result<Meter, String> {
        let pid = collector.pid().ok_or("the collector has no pid")?;
        Ok(Meter {
            pid,
            ticks,
            cpu0: procfs::cpu_ticks(pid).ok_or("cannot read /proc/<pid>/stat")?,
            t0: Instant::now(),
            base: cluster.sink.entries(),
            lists0: lists(cluster),
            own0: procfs::cpu_ticks(std::process::id()).unwrap_or(0),
            sampler: Sampler::start(pid, SAMPLE_EVERY),
        })
    }

    fn finish(self, cluster: &Cluster, events: u64) -> StreamResult {
        let secs = self.t0.elapsed().as_secs_f64();
        let cpu = procfs::cpu_ticks(self.pid).unwrap_or(self.cpu0) - self.cpu0;
        let cpu_secs = cpu as f64 / self.ticks as f64;
        let (samples, hwm) = self.sampler.finish();
        let delivered = cluster.sink.entries() - self.base;
        let own = procfs::cpu_ticks(std::process::id()).unwrap_or(self.own0) - self.own0;
        StreamResult {
            events: delivered.max(events),
            secs,
            events_per_sec: events as f64 / secs,
            cpu_us_per_event: cpu_secs * 1e6 / events.max(1) as f64,
            cpu_cores: cpu_secs / secs,
            rss_steady_mib: procfs::mib(procfs::steady(&samples)),
            rss_peak_mib: procfs::mib(hwm),
            latencies_ms: Vec::new(),
            lists: lists(cluster).saturating_sub(self.lists0),
            bench_cpu_cores: own as f64 / self.ticks as f64 / secs,
            window_wait_secs: 0.0,
        }
    }
}

/// Streams `n` events as fast as the collector takes them.
pub async fn throughput(
    cluster: &Cluster,
    collector: &mut Collector,
    feed: &mut Feed,
    n: u64,
    ticks: u64,
) -> Result<StreamResult, String> {
    let meter = Meter::start(cluster, collector, ticks)?;
    let received0 = collector.records_in().await.unwrap_or(0);
    let mut received = 0;
    let mut created = 0;
    let mut waited = Duration::ZERO;
    while created < n {
        if created - received >= WINDOW {
            let wait = Instant::now();
            received = collector
                .records_in()
                .await
                .map_or(received, |r| r.saturating_sub(received0));
            if created - received >= WINDOW {
                if let Some(code) = collector.process.exit_code() {
                    return Err(format!("the collector exited ({code})"));
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
                waited += wait.elapsed();
                continue;
            }
            waited += wait.elapsed();
        }
        let chunk = CHUNK.min(n - created).min(WINDOW - (created - received));
        for _ in 0..chunk {
            feed.create(cluster, false);
        }
        created += chunk;
        tokio::task::yield_now().await;
    }
    delivered(cluster, meter.base + n, collector).await?;
    let mut out = meter.finish(cluster, n);
    out.window_wait_secs = waited.as_secs_f64();
    Ok(out)
}

/// Streams `rate` events per second for `secs`, each stamped with its creation time.
pub async fn paced(
    cluster: &Cluster,
    collector: &mut Collector,
    feed: &mut Feed,
    rate: u64,
    secs: u64,
    ticks: u64,
) -> Result<StreamResult, String> {
    let _ = cluster.sink.take_latencies();
    cluster.sink.read_stamps(true);
    let meter = Meter::start(cluster, collector, ticks)?;
    let n = rate * secs;
    let mut created = 0;
    while created < n {
        let due = ((meter.t0.elapsed().as_secs_f64() * rate as f64) as u64 + 1).min(n);
        while created < due {
            feed.create(cluster, true);
            created += 1;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let result = delivered(cluster, meter.base + n, collector).await;
    cluster.sink.read_stamps(false);
    result?;
    let mut out = meter.finish(cluster, n);
    let mut latencies: Vec<f64> = cluster
        .sink
        .take_latencies()
        .into_iter()
        .map(|ns| ns as f64 / 1e6)
        .collect();
    latencies.sort_by(f64::total_cmp);
    out.latencies_ms = latencies;
    Ok(out)
}

/// The `p`-th percentile (0-100) of sorted values (nearest rank); 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
        assert_eq!(percentile(&[7.0], 1.0), 7.0);
    }
}
