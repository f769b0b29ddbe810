//! `cargo xtask ci`: what CI checks, in the order that fails fastest: fmt, clippy, every test
//! with the features on `sim`, then the real servers (`cargo xtask tools`, built once and
//! cached) and the features on `local`.

use std::time::Instant;

use crate::e2e::{self, Env};
use crate::process::{cargo, exec};

pub const USAGE: &str = "usage: cargo xtask ci [--skip-local]

  fmt, clippy, every unit, property, snapshot and CLI test, the features on sim, then
  `cargo xtask tools` (kube-apiserver, etcd, loki and kubectl built with go once, then cached;
  nginx) and the features and tests on local (real servers on loopback).

  --skip-local  stop after sim, for a machine without go or nginx; says so at the end
";

/// The JUnit reports CI keeps, one per environment (relative to the workspace).
const JUNIT_SIM: &str = "target/e2e/junit-sim.xml";
const JUNIT_LOCAL: &str = "target/e2e/junit-local.xml";

/// How long each phase took, printed at the end (docs/TESTING.md quotes them).
#[derive(Default)]
struct Phases(Vec<(&'static str, std::time::Duration)>);

impl Phases {
    fn run(
        &mut self,
        name: &'static str,
        phase: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), String> {
        let began = Instant::now();
        let result = phase();
        self.0.push((name, began.elapsed()));
        result.map_err(|e| format!("{e}\n{}", self.table()))
    }

    fn table(&self) -> String {
        let mut out = String::from("ci: phases\n");
        for (name, took) in &self.0 {
            out.push_str(&format!("  {:>8}  {name}\n", crate::tools::duration(*took)));
        }
        out
    }
}

fn run_all(skip_local: bool) -> Result<(), String> {
    let root = crate::process::workspace_root();
    let mut phases = Phases::default();
    phases.run("cargo fmt --check", || {
        exec(cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    phases.run("cargo clippy", || {
        exec(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    // CI=true makes insta fail on a missing or changed snapshot instead of writing it. The
    // workspace tests include the conformance scenarios on sim (harness/tests/features.rs),
    // which also write their JUnit report for CI systems.
    phases.run("tests, features on sim", || {
        exec(
            cargo()
                .args(["test", "--workspace"])
                .env("CI", "true")
                .env("HARNESS_ENV", "sim")
                .env("HARNESS_JUNIT", root.join(JUNIT_SIM)),
        )
    })?;
    eprintln!("ci: sim scenario report in {JUNIT_SIM}");
    if skip_local {
        eprint!("{}", phases.table());
        eprintln!(
            "ci: --skip-local: the features did NOT run on local (real kube-apiserver, etcd, \
             Loki, nginx); this run proves the collector against the simulator only"
        );
        return Ok(());
    }
    phases.run("tools (built once, then cached)", || crate::tools::run(&[]))?;
    phases.run("features on local", || {
        let opts = e2e::Options {
            env: Env::Local,
            ..e2e::Options::default()
        };
        e2e::run_on(Env::Local, &opts, JUNIT_LOCAL)
    })?;
    // The tests that need the real servers: one event end to end, the real 403 of a
    // ClusterRole without watch, and local's payloads equal to sim's.
    phases.run("tests on local", || {
        exec(
            cargo()
                .args(["test", "-p", "harness", "--test", "local_env", "--"])
                .args(["--ignored", "--test-threads", "1"])
                .env("CI", "true"),
        )?;
        // Each scenario must fail on a broken copy of deploy/, naming why: on local that is
        // the real API server's 403, the real nginx's 401 and the real TLS failure.
        exec(
            cargo()
                .args(["test", "-p", "harness", "--test", "scenarios_can_fail"])
                .env("CI", "true")
                .env("HARNESS_ENV", "local"),
        )
    })?;
    eprintln!("ci: local scenario report in {JUNIT_LOCAL}");
    eprint!("{}", phases.table());
    Ok(())
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut skip_local = false;
    for arg in args {
        match arg.as_str() {
            "--skip-local" => skip_local = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("`ci` has no option `{other}`\n\n{USAGE}")),
        }
    }
    run_all(skip_local)
}
