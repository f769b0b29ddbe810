//! The collector config: the OpenTelemetry-Collector-shaped YAML users already run, read into
//! typed structs with errors that name file, line, column and key.
//!
//! [`load_file`] is the one way in: a running pipeline is only ever built from its result.

pub mod de;
pub mod diagnostic;
pub mod duration;
pub mod expand;
pub mod exporters;
pub mod extensions;
pub mod http;
mod load;
pub mod model;
pub mod operator;
pub mod pattern;
pub mod print;
pub mod processors;
pub mod receivers;
pub mod service;
pub mod suggest;
mod validate;
mod value;
pub mod yaml;

pub use diagnostic::{Diagnostic, Severity};
pub use load::{EnvLookup, LoadError, LoadedConfig, load_file, load_str};
pub use model::*;
