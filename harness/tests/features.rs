//! Runs `features/*.feature`: `cargo test -p harness --test features` (or `cargo xtask e2e`).
//! Filter with cucumber's own flags after `--`, e.g. `-- --tags @sim-only` or `-- -n "TLS"`.
//!
//! - `HARNESS_ENV` picks the environment: `sim` (the default), `local` or `kind`.
//!   - `local` runs the scenarios on real servers (`harness::local`), found where
//!     `cargo xtask tools` puts them; without them the run fails in one line saying so. It
//!     runs the feature files in [`LOCAL_FEATURES`] (the others' steps are not ported yet) and
//!     skips scenarios tagged `@sim-only`; both are listed at the end, with the reason, and in
//!     `target/e2e/not-run-on-local.txt`.
//!   - On kind the steps do not run yet: the kind smoke flow does, after a preflight that fails
//!     the run, in one line, when Docker, kind or kubectl is missing.
//! - `HARNESS_DEPLOY_DIR=<dir>` runs the scenarios against that kustomize directory (a
//!   platform team's overlay of deploy/, rendered by `kubectl kustomize`) instead of deploy/.
//! - `HARNESS_JUNIT=<path>` also writes a JUnit XML report there (its folder is created).
//! - A failed scenario leaves its diagnostics in `target/e2e/<scenario>/` (collector log, API
//!   requests, Loki pushes and stored streams, each step's timing in `steps.txt`, and on
//!   `local` the servers' logs); `summary.json` (beside the JUnit report) has every scenario's
//!   status, error and step timings.
//! - `HARNESS_KEEP_ON_FAILURE=1` stops at the first failed scenario, prints how to reach its
//!   servers (kubeconfig, Loki URL and tenant, kubectl and curl commands) and keeps them
//!   running until Ctrl-C.

mod report;
mod steps;

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use cucumber::event::ScenarioFinished;
use cucumber::tag::Ext as _;
use cucumber::writer::{self, Coloring, Stats as _};
use cucumber::{World as _, WriterExt as _};
use harness::env::{Environment, Kind};
use report::{Record, feature_file, slug};
use steps::E2e;

/// The feature files whose steps run on `local` (the others still need the simulator).
const LOCAL_FEATURES: [&str; 6] = [
    "payloads.feature",
    "rbac.feature",
    "tls.feature",
    "secrets.feature",
    "config.feature",
    "resilience.feature",
];

/// Why a scenario tagged `@sim-only` cannot run on real servers.
const SIM_ONLY: &str = "@sim-only: needs a fault only the simulator stages on demand";

/// The reason of a scenario tagged `@sim-only`, when it has one of its own (by scenario name).
const SIM_ONLY_REASONS: [(&str, &str); 1] = [(
    "Loki rate-limits with 429 and Retry-After",
    "@sim-only: a real Loki answers 429 only while a tenant exceeds its ingestion rate; it \
     cannot be told to answer exactly the next 2 pushes with Retry-After 1, which the retries' \
     spacing is checked against",
)];

/// Why scenario `name`, tagged `@sim-only`, does not run on `local`.
fn sim_only_reason(name: &str) -> String {
    SIM_ONLY_REASONS
        .iter()
        .find(|(scenario, _)| *scenario == name)
        .map_or(SIM_ONLY, |(_, why)| why)
        .to_owned()
}

/// Scenarios the filter left out on `local`: (feature file, scenario, why).
static NOT_RUN: Mutex<Vec<(String, String, String)>> = Mutex::new(Vec::new());

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let junit = std::env::var_os("HARNESS_JUNIT").map(PathBuf::from);
    // A user's own deployment (`cargo xtask e2e --deploy DIR`) instead of deploy/.
    if let Some(dir) = std::env::var_os("HARNESS_DEPLOY_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if !dir.join("kustomization.yaml").is_file() {
            eprintln!(
                "HARNESS_DEPLOY_DIR={}: no kustomization.yaml there",
                dir.display()
            );
            return ExitCode::FAILURE;
        }
        println!("deployment under test: {}", dir.display());
        if let Ok(mut o) = steps::DEPLOY_DIR_OVERRIDE.lock() {
            *o = Some(dir.display().to_string());
        }
    }
    let env = std::env::var("HARNESS_ENV").unwrap_or_else(|_| "sim".to_owned());
    match env.as_str() {
        "sim" | "" => run(Kind::Sim, junit.as_deref()).await,
        "local" => {
            if let Err(e) = harness::local::Tools::find() {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
            run(Kind::Local, junit.as_deref()).await
        }
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
            eprintln!("HARNESS_ENV={other}: no such environment (use sim, local or kind)");
            ExitCode::FAILURE
        }
    }
}

/// Where reports go: `$CARGO_TARGET_DIR/e2e`, else `<workspace>/target/e2e`.
fn e2e_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| steps::workspace_root().join("target"))
        .join("e2e")
}

/// The features on `sim` or `local`.
async fn run(kind: Kind, junit: Option<&Path>) -> ExitCode {
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
    let record = Record::new(kind.name(), e2e_dir(), summary_path(junit), not_run);
    // cucumber's -n and -t would replace the filter below (local's list of what cannot run
    // there); taken out of its options, they are applied inside it, so both hold.
    let mut cli = cucumber::cli::Opts::<_, _, _, cucumber::cli::Empty>::parsed();
    let (name_filter, tags_filter) = (cli.re_filter.take(), cli.tags_filter.take());
    let writer = E2e::cucumber()
        .with_writer(
            writer::Basic::raw(io::stdout(), Coloring::Auto, 0)
                .summarized()
                .tee::<E2e, _>(writer::JUnit::for_tee(report, 0))
                .tee::<E2e, _>(record.discard_stats_writes().discard_arbitrary_writes())
                .normalized(),
        )
        // Each scenario runs its own servers and collector process on free ports; on local
        // those are real servers, heavy on a small machine.
        // One at a time when a failure is kept: its servers are the only ones running.
        .max_concurrent_scenarios(match kind {
            _ if keep_on_failure() => 1,
            Kind::Local => 2,
            Kind::Sim => 4,
        })
        .fail_on_skipped()
        .with_cli(cli)
        .after(|feature, _rule, scenario, finished, world| {
            Box::pin(async move {
                if let Some(world) = world {
                    let failure = match finished {
                        ScenarioFinished::StepFailed(_, _, e) => Some(e.to_string()),
                        ScenarioFinished::BeforeHookFailed(_) => {
                            Some("a before hook failed".into())
                        }
                        _ => None,
                    };
                    if let Some(failure) = failure {
                        let file = feature_file(feature);
                        let dir =
                            e2e_dir().join(slug(&file, scenario.position.line, &scenario.name));
                        write_diagnostics(&dir, &failure, world).await;
                        if keep_on_failure() {
                            keep_until_interrupted(world).await;
                        }
                    }
                    world.finish().await;
                }
            })
        })
        .filter_run(features, move |feature, rule, scenario| {
            let named = name_filter
                .as_ref()
                .is_none_or(|re| re.is_match(&scenario.name));
            let tagged = tags_filter.as_ref().is_none_or(|tags| {
                tags.eval(
                    feature
                        .tags
                        .iter()
                        .chain(rule.iter().flat_map(|r| &r.tags))
                        .chain(&scenario.tags),
                )
            });
            if !(named && tagged) {
                return false;
            }
            if kind != Kind::Local {
                return true;
            }
            let file = feature_file(feature);
            let why = if !LOCAL_FEATURES.contains(&file.as_str()) {
                Some("its feature's steps are not ported to local yet".to_owned())
            } else if scenario
                .tags
                .iter()
                .chain(&feature.tags)
                .any(|t| t.trim_start_matches('@') == "sim-only")
            {
                Some(sim_only_reason(&scenario.name))
            } else {
                None
            };
            match why {
                None => true,
                Some(why) => {
                    if let Ok(mut all) = NOT_RUN.lock() {
                        let entry = (file, scenario.name.clone(), why);
                        if !all.contains(&entry) {
                            all.push(entry);
                        }
                    }
                    false
                }
            }
        })
        .await;
    if kind == Kind::Local {
        report_not_run(junit);
    }
    if writer.execution_has_failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The scenarios the filter left out so far.
fn not_run() -> Vec<(String, String, String)> {
    NOT_RUN.lock().map(|a| a.clone()).unwrap_or_default()
}

/// Where the JSON summary goes: beside the JUnit report (`junit-local.xml` ->
/// `summary-local.json`), else `target/e2e/summary.json`.
fn summary_path(junit: Option<&Path>) -> PathBuf {
    match junit.and_then(|p| Some((p.parent()?, p.file_name()?.to_str()?))) {
        Some((dir, name)) => {
            let stem = name
                .trim_end_matches(".xml")
                .replacen("junit", "summary", 1);
            dir.join(format!("{stem}.json"))
        }
        None => e2e_dir().join("summary.json"),
    }
}

/// Prints the scenarios `local` did not run, and writes them (tab-separated) for the summary.
fn report_not_run(junit: Option<&Path>) {
    let all = not_run();
    let mut text = String::new();
    for (file, name, why) in &all {
        text.push_str(&format!("{file}\t{name}\t{why}\n"));
    }
    println!("\n{} scenarios not run on local:", all.len());
    for (file, name, why) in &all {
        println!("  {file}: {name} ({why})");
    }
    // Beside the JUnit report, where `cargo xtask e2e` reads it.
    let dir = junit
        .and_then(Path::parent)
        .map_or_else(e2e_dir, Path::to_path_buf);
    let path = dir.join("not-run-on-local.txt");
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("{}: {e}", path.display());
    }
}

/// `HARNESS_KEEP_ON_FAILURE=1` (`cargo xtask e2e --keep-on-failure`): stop at the first failed
/// scenario with its servers running.
fn keep_on_failure() -> bool {
    std::env::var("HARNESS_KEEP_ON_FAILURE").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Prints how to reach the failed scenario's servers and waits for Ctrl-C; then stops them and
/// ends the run (the scenarios after it would start new servers).
async fn keep_until_interrupted(world: &mut E2e) {
    match world.started() {
        Ok(Environment::Local(sc)) => eprintln!("\n{}", sc.how_to_reach()),
        Ok(Environment::Sim(sc)) => eprintln!(
            "\nthe failed scenario's simulators keep running until Ctrl-C (in this process):\n  \
             files {}\n  collector http://{}/metrics",
            sc.dir.display(),
            sc.metrics_address
        ),
        Err(_) => return,
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("--keep-on-failure: cannot wait for Ctrl-C ({e}); stopping the servers now");
    }
    world.shut_down().await;
    eprintln!("stopped the failed scenario's servers");
    std::process::exit(1);
}

/// Writes a failed scenario's diagnostics into `dir` and says where they are.
async fn write_diagnostics(dir: &Path, failure: &str, world: &E2e) {
    let _ = std::fs::remove_dir_all(dir);
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("diagnostics: {}: {e}", dir.display());
        return;
    }
    let mut files = vec![
        ("failure.txt".to_owned(), failure.to_owned()),
        ("timings.txt".to_owned(), world.timings()),
    ];
    files.extend(world.diagnostics().await);
    for (name, text) in files {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("diagnostics: {}: {e}", path.display());
        }
    }
    eprintln!("diagnostics of the failed scenario: {}", dir.display());
}

/// Creates the JUnit file and its folder.
fn create_report(path: &Path) -> Result<std::fs::File, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}
