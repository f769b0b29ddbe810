//! `cargo xtask <command>`: the project's automation, in plain Rust.
//!
//! Each command prints what it runs, so a failure can be reproduced by hand.

mod bench;
mod ci;
mod demo;
mod e2e;
mod process;
mod tools;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  demo [--duration 20s]   run the collector on the embedded simulator and show what reaches Loki
  ci [--skip-local]       everything CI checks: fmt, clippy, tests, the features on sim and,
                          with the tools built once, on local (real servers)
  e2e [--env sim|kind|auto] [--tags EXPR] [--name REGEX]
                          the features/ scenarios on an environment: summary, JUnit in
                          target/e2e/junit.xml (e2e --help for more)
  bench [--quick] [--idle-secs 60]
                          release collector vs simulator + fast Loki sink: throughput, CPU,
                          memory, latency, floor; writes target/bench/results.json
  tools [--bin-dir DIR] [--install-system]
                          kube-apiserver, etcd, loki, kubectl (built with go, cached by
                          version) and nginx for real-server tests (tools --help for more)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "bench" => bench::run(rest),
        "ci" => ci::run(rest),
        "demo" => demo::run(rest),
        "e2e" => e2e::run(rest),
        "tools" => tools::run(rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
