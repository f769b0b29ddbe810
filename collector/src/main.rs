//! The `k8s-event-collector` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use k8s_event_collector::commands;

/// Ships Kubernetes Events to Grafana Loki, configured like the OpenTelemetry Collector.
#[derive(Debug, Parser)]
#[command(
    name = "k8s-event-collector",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Run with this config (the form the OpenTelemetry Operator passes: `--config=FILE`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the collector.
    Run {
        /// A collector config, or an OpenTelemetryCollector resource with spec.config.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Check a config: exit 0 when valid, 1 when not, 2 when the file cannot be read.
    Validate {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print the config as it will run: variables expanded, secrets shown as [REDACTED].
    PrintConfig {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Dry run: feed recorded events (a LIST body or watch lines) through the config's
    /// pipelines and print what each exporter would send. Needs no cluster and no Loki.
    Replay {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        #[arg(long, value_name = "FILE")]
        events: PathBuf,
    },
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = &mut std::io::stdout().lock();
    let stderr = &mut std::io::stderr().lock();
    let result = match (cli.command, cli.config) {
        (Some(Command::Validate { config }), _) => commands::validate(&config, &env, stdout),
        (Some(Command::PrintConfig { config }), _) => {
            commands::print_config(&config, &env, stdout, stderr)
        }
        (Some(Command::Replay { config, events }), _) => {
            commands::replay(&config, &events, &env, stdout, stderr)
        }
        (Some(Command::Run { config }), _) | (None, Some(config)) => {
            commands::run(&config, &env, stderr)
        }
        (None, None) => {
            eprintln!("error: no config given: run with --config FILE (see --help)");
            Ok(commands::exit::INVALID)
        }
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: cannot write output: {e}");
            ExitCode::FAILURE
        }
    }
}
