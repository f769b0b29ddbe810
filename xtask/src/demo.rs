//! `cargo xtask demo [--duration 20s]`: the collector built from source, on deploy/'s config,
//! shipping a simulated cluster's events to a simulated Loki, shown live.
//!
//! The demo itself lives in the harness (`harness/src/demo/`, binary `demo`): it needs the
//! harness's simulators. This command builds the collector and hands over to it.

use std::path::PathBuf;
use std::process::Command;

use crate::process::{cargo, exec};

pub fn run(args: &[String]) -> Result<(), String> {
    exec(cargo().args(["build", "--package", "k8s-event-collector"]))?;
    let binary = collector_binary()?;
    eprintln!("== the demo (its first run compiles the harness first)");
    eprintln!(
        "$ K8S_EVENT_COLLECTOR_BIN={} cargo run -q -p harness --bin demo -- {}",
        binary.display(),
        args.join(" ")
    );
    let mut demo = cargo();
    demo.args(["run", "-q", "-p", "harness", "--bin", "demo", "--"])
        .args(args)
        .env("K8S_EVENT_COLLECTOR_BIN", &binary);
    hand_over(&mut demo)
}

/// The binary `cargo build` just wrote: in the target directory xtask itself runs from
/// (`<target>/debug/xtask`), wherever `CARGO_TARGET_DIR` or a config puts it.
fn collector_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find xtask's binary: {e}"))?;
    let name = format!("k8s-event-collector{}", std::env::consts::EXE_SUFFIX);
    let binary = exe.with_file_name(name);
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!(
            "the collector was built, but {} is missing",
            binary.display()
        ))
    }
}

/// Runs `cmd` in place of xtask where the OS allows it: Ctrl-C would end a waiting xtask at
/// once, and the shell would print its prompt before the demo's summary. Elsewhere, runs it
/// and waits.
fn hand_over(cmd: &mut Command) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = cmd.exec();
        Err(format!("cannot start `cargo run ... --bin demo`: {error}"))
    }
    #[cfg(not(unix))]
    {
        exec(cmd)
    }
}
