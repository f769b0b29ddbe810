//! `cargo xtask ci`: what CI checks, in the order that fails fastest.

use crate::process::{cargo, exec};

fn run_all() -> Result<(), String> {
    exec(cargo().args(["fmt", "--all", "--", "--check"]))?;
    exec(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // CI=true makes insta fail on a missing or changed snapshot instead of writing it. The
    // workspace tests include the conformance scenarios on sim (harness/tests/features.rs),
    // which also write their JUnit report for CI systems.
    let junit = crate::process::workspace_root().join("target/e2e/junit.xml");
    exec(
        cargo()
            .args(["test", "--workspace"])
            .env("CI", "true")
            .env("HARNESS_ENV", "sim")
            .env("HARNESS_JUNIT", &junit),
    )?;
    eprintln!("ci: scenario report in {}", junit.display());
    Ok(())
}

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("`ci` takes no arguments (got `{extra}`)"));
    }
    run_all()
}
