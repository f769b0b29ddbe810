//! The collector's own logs, as `service.telemetry.logs` says: level and console or JSON.

use tracing_subscriber::filter::LevelFilter;

use crate::config::service::{LogEncoding, LogLevel, TelemetryLogs};

/// Installs the global subscriber, writing to standard error. Calling it twice is harmless.
pub fn init(config: &TelemetryLogs) {
    let level = match config.level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match config.encoding {
        LogEncoding::Json => builder.json().try_init(),
        LogEncoding::Console => {
            use std::io::IsTerminal;
            builder
                .with_ansi(std::io::stderr().is_terminal())
                .try_init()
        }
    };
}
