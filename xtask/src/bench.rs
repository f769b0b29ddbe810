//! `cargo xtask bench`: builds the collector and the bench in release mode and runs the bench
//! (`harness/src/bin/bench.rs`), which writes `target/bench/results.json` and prints a table.
//! Arguments go to the bench (`--quick` for a smoke run, `--idle-secs N`, `--runs N`, ...).

use crate::process::{cargo, exec, workspace_root};

pub fn run(args: &[String]) -> Result<(), String> {
    exec(cargo().args(["build", "--release", "-p", "k8s-event-collector"]))?;
    exec(cargo().args(["build", "--release", "-p", "harness", "--bin", "bench"]))?;
    let root = workspace_root();
    let release = root.join("target/release");
    let collector = release.join("k8s-event-collector");
    let out = root.join("target/bench/results.json");
    let mut bench = std::process::Command::new(release.join("bench"));
    bench
        .current_dir(&root)
        .env("K8S_EVENT_COLLECTOR_BIN", &collector)
        .arg("--out")
        .arg(&out)
        .args(args);
    exec(&mut bench)
}
