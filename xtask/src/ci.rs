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
    // CI=true makes insta fail on a missing or changed snapshot instead of writing it.
    exec(cargo().args(["test", "--workspace"]).env("CI", "true"))?;
    Ok(())
}

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("`ci` takes no arguments (got `{extra}`)"));
    }
    run_all()
}
