//! Runs `features/*.feature`: `cargo test -p harness --test features` (or `cargo xtask e2e`).
//! Filter with cucumber's own flags after `--`, e.g. `-- --tags @sim-only` or `-- -n "TLS"`.
//!
//! - `HARNESS_ENV` picks the environment: `sim` (the default) or `kind`. On kind the steps do
//!   not run yet: the kind smoke flow does, after a preflight that fails the run, in one line,
//!   when Docker, kind or kubectl is missing.
//! - `HARNESS_JUNIT=<path>` also writes a JUnit XML report there (its folder is created).

mod steps;

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cucumber::writer::{self, Coloring};
use cucumber::{World as _, WriterExt as _};
use steps::E2e;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let junit = std::env::var_os("HARNESS_JUNIT").map(PathBuf::from);
    let env = std::env::var("HARNESS_ENV").unwrap_or_else(|_| "sim".to_owned());
    match env.as_str() {
        "sim" | "" => run_sim(junit.as_deref()).await,
        "kind" => {
            let filters: Vec<String> = std::env::args().skip(1).collect();
            if !filters.is_empty() {
                println!(
                    "kind: cucumber's filters do not apply to the smoke flow; ignored: {}",
                    filters.join(" ")
                );
            }
            if harness::kind::run(&steps::workspace_root(), junit.as_deref()).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        other => {
            eprintln!("HARNESS_ENV={other}: no such environment (use sim or kind)");
            ExitCode::FAILURE
        }
    }
}

/// The features on `sim`; exits the process with cucumber's verdict.
async fn run_sim(junit: Option<&Path>) -> ExitCode {
    let features = steps::workspace_root().join("features");
    // Without HARNESS_JUNIT the report goes nowhere; one writer chain either way, so the
    // console output is the same with and without it.
    let report: Box<dyn io::Write> = match junit {
        None => Box::new(io::sink()),
        Some(path) => match create_report(path) {
            Ok(file) => Box::new(file),
            Err(e) => {
                eprintln!("HARNESS_JUNIT: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    E2e::cucumber()
        .with_writer(
            writer::Basic::raw(io::stdout(), Coloring::Auto, 0)
                .summarized()
                .tee::<E2e, _>(writer::JUnit::for_tee(report, 0))
                .normalized(),
        )
        // Each scenario runs its own servers and collector process on free ports.
        .max_concurrent_scenarios(4)
        .fail_on_skipped()
        .after(|_feature, _rule, _scenario, _finished, world| {
            Box::pin(async move {
                if let Some(world) = world {
                    world.finish().await;
                }
            })
        })
        .run_and_exit(features)
        .await;
    ExitCode::SUCCESS
}

/// Creates the JUnit file and its folder.
fn create_report(path: &Path) -> Result<std::fs::File, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}
