//! What the CLI subcommands do, writing to the given outputs so tests can read them.

use std::io::Write;
use std::path::Path;

use crate::config::{self, Diagnostic, EnvLookup, LoadError, Severity};

/// Exit codes of `validate` (and of start-up when the config is wrong).
pub mod exit {
    pub const OK: i32 = 0;
    pub const INVALID: i32 = 1;
    pub const UNREADABLE: i32 = 2;
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn write_diagnostics(out: &mut dyn Write, diagnostics: &[Diagnostic]) -> std::io::Result<()> {
    for d in diagnostics {
        writeln!(out, "{d}")?;
    }
    Ok(())
}

fn summary(diagnostics: &[Diagnostic]) -> String {
    let count = |s: Severity| diagnostics.iter().filter(|d| d.severity == s).count();
    let mut parts = Vec::new();
    for (severity, word) in [
        (Severity::Error, "error"),
        (Severity::Warning, "warning"),
        (Severity::Note, "note"),
    ] {
        let n = count(severity);
        if n > 0 {
            parts.push(plural(n, word));
        }
    }
    parts.join(", ")
}

/// `validate --config FILE`: every finding, then a one-line verdict. Returns the exit code.
pub fn validate(path: &Path, env: EnvLookup<'_>, out: &mut dyn Write) -> std::io::Result<i32> {
    match config::load_file(path, env) {
        Ok(loaded) => {
            write_diagnostics(out, &loaded.diagnostics)?;
            let extra = summary(&loaded.diagnostics);
            if extra.is_empty() {
                writeln!(out, "{}: valid", path.display())?;
            } else {
                writeln!(out, "{}: valid ({extra})", path.display())?;
            }
            Ok(exit::OK)
        }
        Err(LoadError::Invalid(diagnostics)) => {
            write_diagnostics(out, &diagnostics)?;
            writeln!(
                out,
                "{}: invalid ({})",
                path.display(),
                summary(&diagnostics)
            )?;
            Ok(exit::INVALID)
        }
        Err(e @ LoadError::Unreadable { .. }) => {
            writeln!(out, "{e}")?;
            Ok(exit::UNREADABLE)
        }
    }
}

/// `print-config --config FILE`: the config as it will run, secrets redacted.
pub fn print_config(
    path: &Path,
    env: EnvLookup<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<i32> {
    let loaded = match load_or_report(path, env, err)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let text = config::print::render(&loaded.expanded, &loaded.secret_paths);
    write!(out, "{text}")?;
    Ok(exit::OK)
}

/// Loads the config; on failure writes the diagnostics to `err` and gives the exit code.
fn load_or_report(
    path: &Path,
    env: EnvLookup<'_>,
    err: &mut dyn Write,
) -> std::io::Result<Result<config::LoadedConfig, i32>> {
    match config::load_file(path, env) {
        Ok(loaded) => Ok(Ok(loaded)),
        Err(LoadError::Invalid(diagnostics)) => {
            write_diagnostics(err, &diagnostics)?;
            Ok(Err(exit::INVALID))
        }
        Err(e @ LoadError::Unreadable { .. }) => {
            writeln!(err, "{e}")?;
            Ok(Err(exit::UNREADABLE))
        }
    }
}

/// `run --config FILE` (or `--config=FILE` alone, as the OpenTelemetry Operator starts it).
pub fn run(path: &Path, env: EnvLookup<'_>, err: &mut dyn Write) -> std::io::Result<i32> {
    let loaded = match load_or_report(path, env, err)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    // From here on the runtime logs diagnostics itself, in the configured log format.
    match crate::runtime::run(&loaded) {
        Ok(()) => Ok(exit::OK),
        Err(e) => {
            // The runtime's logger (stderr, in the configured format) says it once.
            tracing::error!("{e}");
            Ok(exit::INVALID)
        }
    }
}

/// `replay --config FILE --events FILE`: what the config's pipelines would send for recorded
/// events (a LIST body or watch lines from the API server), without a cluster or Loki.
pub fn replay(
    config_path: &Path,
    events_path: &Path,
    env: EnvLookup<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<i32> {
    let loaded = match load_or_report(config_path, env, err)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let text = match std::fs::read_to_string(events_path) {
        Ok(text) => text,
        Err(e) => {
            writeln!(err, "{}: cannot read: {e}", events_path.display())?;
            return Ok(exit::UNREADABLE);
        }
    };
    let recorded = crate::replay::read_events(&text);
    for skipped in &recorded.skipped {
        writeln!(err, "{}: skipped {skipped}", events_path.display())?;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    write!(
        out,
        "{}",
        crate::replay::replay(&loaded.config, &recorded.records, now)
    )?;
    Ok(exit::OK)
}
