//! The bench's floor alone, for profilers: `floor [EVENTS]` stores the bench's pool of Events in
//! the simulated API server (which adds what a real one does: `managedFields`, ...), then runs
//! their watch lines through the collector's pure path ([`harness::bench::floor`]) until
//! `EVENTS` (20 000) are done.
//!
//! Instruction counts are what to compare, not times (the floor is the same work every run):
//! `valgrind --tool=callgrind --toggle-collect='harness::bench::floor::run*' floor 20000`,
//! then the collected `Ir` divided by the events.

use std::process::ExitCode;

use harness::bench::{events, floor};
use harness::sim::apiserver::{ApiServer, ApiServerConfig};

/// The bench's streaming pool: the same Events, the same seed.
const POOL: usize = 5_000;

fn main() -> ExitCode {
    let n = match std::env::args().nth(1).map(|a| a.parse::<u64>()) {
        None => 20_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: floor [EVENTS]");
            return ExitCode::from(2);
        }
    };
    match run(n) {
        Ok(result) => {
            println!(
                "floor: {} events, {:.2} µs/event, {:.0} compressed bytes/event",
                result.events, result.us_per_event, result.bytes_per_event
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("floor: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(n: u64) -> Result<floor::FloorResult, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let stored = runtime.block_on(async {
        let api = ApiServer::start(ApiServerConfig::default())
            .await
            .map_err(|e| format!("starting the API server: {e}"))?;
        for event in events::generate(POOL, 1) {
            api.create_event(event);
        }
        let stored = api.events();
        api.stop().await;
        Ok::<_, String>(stored)
    })?;
    floor::run(&floor::watch_lines(&stored), n)
}
