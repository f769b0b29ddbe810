//! The collector config: the OpenTelemetry-Collector-shaped YAML users already run, read into
//! typed structs with errors that name file, line, column and key.

pub mod de;
pub mod duration;
pub mod expand;
pub mod pattern;
pub mod processors;
pub mod suggest;
mod value;
pub mod yaml;
