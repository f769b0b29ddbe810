//! The demo binary `cargo xtask demo` runs: see [`harness::demo`].
//!
//! Run it through xtask, which builds the collector first and points
//! `K8S_EVENT_COLLECTOR_BIN` at it.

use std::path::PathBuf;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match harness::demo::parse_args(&args) {
        Ok(o) if o.help => {
            print!("{}", harness::demo::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(o) => o,
        Err(message) => {
            eprintln!("demo: {message}");
            return ExitCode::from(2);
        }
    };
    // The workspace root: deploy/ is read from there.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    match harness::demo::run(&root, &options).await {
        Ok(state) if state.stored > 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("demo: {message}");
            ExitCode::FAILURE
        }
    }
}
