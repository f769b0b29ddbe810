//! `cargo xtask bench`: the release collector against the simulated API server and a fast
//! Loki sink, measuring what issue 7 asks for.
//!
//! Phases, each with a fresh collector process so that its peak memory (`VmHWM`) is its own:
//! 1. throughput: a pool of realistic Events ([`events`]) created again and again in the
//!    simulator and served through its real watch, as fast as the collector reads (creation
//!    stays a few thousand events ahead of what the collector has received, so the watch never
//!    falls out of the simulator's history); CPU from `/proc/<pid>/stat` ([`procfs`]);
//! 2. the floor ([`floor`]): the same stored Events through the collector's pure path in one
//!    loop in this process;
//! 3. 1 000 events/s: steady and peak memory while streaming;
//! 4. 200 events/s: latency from creation (stamped in the message) to acceptance at the sink
//!    ([`sink`]);
//! 5. start-up with a backlog listed in pages (`start_from: all`) ([`startup`]);
//! 6. idle: no events for `--idle-secs`.
//!
//! Results go to `target/bench/results.json` and a table ([`report`]). These are benchmarks:
//! no test asserts a speed.

pub mod cluster;
pub mod events;
pub mod floor;
pub mod options;
pub mod procfs;
pub mod report;
pub mod sink;
pub mod startup;
pub mod stream;

use std::path::{Path, PathBuf};

use cluster::{Cluster, StartFrom};
use options::{Options, Phase};
use report::Results;
use stream::Feed;

/// Distinct Events in the streaming pool (each is repeated with a bumped count).
const POOL: usize = 5_000;

/// The collector binary: `--collector`, `$K8S_EVENT_COLLECTOR_BIN`, else next to this binary.
fn collector_binary(opts: &Options) -> Result<PathBuf, String> {
    if let Some(path) = &opts.collector {
        return Ok(path.clone());
    }
    if let Some(path) = std::env::var_os("K8S_EVENT_COLLECTOR_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let path = exe
        .parent()
        .map(|dir| dir.join("k8s-event-collector"))
        .ok_or("cannot find the collector binary")?;
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is not built: run `cargo build --release -p k8s-event-collector` or pass --collector",
            path.display()
        ))
    }
}

/// Runs every phase and writes the results.
pub async fn run(opts: &Options) -> Result<Results, String> {
    let binary = collector_binary(opts)?;
    let ticks = procfs::clock_ticks();
    let mut results = Results {
        quick: opts.quick,
        ..Results::default()
    };
    eprintln!("bench: collector {}", binary.display());

    if opts.runs_phase(Phase::Throughput) || opts.runs_phase(Phase::Paced) {
        streaming(opts, &binary, ticks, &mut results).await?;
    }
    if opts.runs_phase(Phase::Listing) {
        eprintln!(
            "bench: start-up with {} existing events (start_from: all)",
            opts.list_events
        );
        let mut cluster = Cluster::start(&binary).await?;
        let backlog = events::generate(opts.list_events, 2);
        results.listing = startup::listing(&mut cluster, backlog, ticks).await?;
        cluster.cleanup();
    }
    if opts.runs_phase(Phase::Idle) {
        eprintln!("bench: idle for {} s", opts.idle_secs);
        let mut cluster = Cluster::start(&binary).await?;
        results.idle = startup::idle(&mut cluster, opts.idle_secs, ticks).await?;
        cluster.cleanup();
    }

    write(opts, &results)?;
    Ok(results)
}

/// The phases that stream events to one running simulator: full-rate throughput with the
/// floor, then the fixed-rate memory and latency runs.
async fn streaming(
    opts: &Options,
    binary: &Path,
    ticks: u64,
    results: &mut Results,
) -> Result<(), String> {
    let mut cluster = Cluster::start(binary).await?;
    let mut feed = Feed::new(events::generate(POOL, 1));
    let mut collector = cluster.start_collector(StartFrom::Now).await?;
    eprintln!("bench: warm-up ({POOL} events)");
    stream::throughput(&cluster, &mut collector, &mut feed, POOL as u64, ticks).await?;
    let lines = floor::watch_lines(&cluster.api.events());
    for run in 1..=opts.runs * usize::from(opts.runs_phase(Phase::Throughput)) {
        eprintln!(
            "bench: throughput run {run}/{}: {} events",
            opts.runs, opts.events
        );
        let r = stream::throughput(&cluster, &mut collector, &mut feed, opts.events, ticks).await?;
        eprintln!(
            "       {:.0} events/s, {:.1} µs CPU/event, collector {:.2} cores, bench {:.2} cores, \
             waited {:.1} s, RSS peak {:.1} MiB, {} LISTs",
            r.events_per_sec,
            r.cpu_us_per_event,
            r.cpu_cores,
            r.bench_cpu_cores,
            r.window_wait_secs,
            r.rss_peak_mib,
            r.lists
        );
        results.throughput.push(r);
        let f = floor::run(&lines, opts.events)?;
        eprintln!(
            "       floor: {:.0} events/s ({:.2} µs/event)",
            f.events_per_sec, f.us_per_event
        );
        results.floor.push(f);
    }
    collector.stop().await;

    let paced = if opts.runs_phase(Phase::Paced) {
        &[(1000, "memory"), (200, "latency")][..]
    } else {
        &[]
    };
    for &(rate, what) in paced {
        eprintln!("bench: {rate} events/s for {} s ({what})", opts.paced_secs);
        let mut collector = cluster.start_collector(StartFrom::Now).await?;
        let r = stream::paced(
            &cluster,
            &mut collector,
            &mut feed,
            rate,
            opts.paced_secs,
            ticks,
        );
        let r = r.await?;
        collector.stop().await;
        if rate == 1000 {
            results.steady = r;
        } else {
            results.latency = r;
        }
    }
    cluster.cleanup();
    Ok(())
}

fn write(opts: &Options, results: &Results) -> Result<(), String> {
    if let Some(dir) = opts.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&results.to_json()).map_err(|e| e.to_string())?;
    std::fs::write(&opts.out, text + "\n").map_err(|e| format!("{}: {e}", opts.out.display()))
}
