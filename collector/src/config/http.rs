//! Settings shared by HTTP exporters, with OpenTelemetry's `confighttp`/`configtls`/
//! `exporterhelper` keys and defaults.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::duration::ConfigDuration;

/// TLS settings of an HTTP client (`tls:`).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientConfig {
    /// For `http://` endpoints only: no TLS at all. Ignored for `https://`.
    pub insecure: bool,
    /// Do not verify the server certificate. Test servers only: credentials can be read by
    /// anyone on the path.
    pub insecure_skip_verify: bool,
    /// PEM file with the CA(s) that signed the server certificate.
    pub ca_file: Option<String>,
    /// The same, inline.
    pub ca_pem: Option<String>,
    /// Client certificate (mTLS), PEM file.
    pub cert_file: Option<String>,
    /// Client certificate, inline.
    pub cert_pem: Option<String>,
    /// Client key (mTLS), PEM file.
    pub key_file: Option<String>,
    /// Client key, inline (a secret: redacted by `print-config`).
    pub key_pem: Option<String>,
    /// Also trust the system roots when `ca_file`/`ca_pem` is set (default false).
    pub include_system_ca_certs_pool: bool,
    /// Lowest TLS version: `1.2` (default) or `1.3`.
    pub min_version: Option<String>,
    /// Highest TLS version: `1.2` or `1.3` (default).
    pub max_version: Option<String>,
    /// Verify the server certificate for this name instead of the endpoint's host.
    pub server_name_override: Option<String>,
    /// How often to re-read certificate files (default: when they change).
    pub reload_interval: Option<ConfigDuration>,
}

/// `auth:` of an HTTP client.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Id of a `basicauth` or `bearertokenauth` extension, e.g. `basicauth/client`.
    pub authenticator: String,
}

/// `retry_on_failure:` (exporterhelper defaults).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub enabled: bool,
    /// First wait after a failure (default 5s).
    pub initial_interval: ConfigDuration,
    /// Longest wait between attempts (default 30s).
    pub max_interval: ConfigDuration,
    /// Give up on a batch after this long (default 300s; 0 = never give up).
    pub max_elapsed_time: ConfigDuration,
    /// Growth of the wait per attempt (default 1.5).
    pub multiplier: f64,
    /// Jitter: each wait is randomized by +/- this fraction (default 0.5).
    pub randomization_factor: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: ConfigDuration::from_secs(5),
            max_interval: ConfigDuration::from_secs(30),
            max_elapsed_time: ConfigDuration::from_secs(300),
            multiplier: 1.5,
            randomization_factor: 0.5,
        }
    }
}

/// `sending_queue:` (exporterhelper defaults).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    pub enabled: bool,
    /// Requests sent at once (default 10).
    pub num_consumers: u32,
    /// Batches held before back-pressure stops the receiver (default 1000).
    pub queue_size: u32,
    /// Id of a `file_storage` extension: spill the queue to disk so it survives restarts.
    pub storage: Option<String>,
    /// Batching in the queue (newer OpenTelemetry form of the `batch` processor).
    pub batch: Option<QueueBatchConfig>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            storage: None,
            batch: None,
        }
    }
}

/// `sending_queue.batch:`.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct QueueBatchConfig {
    /// Send a partial batch after this long (default 200ms).
    pub flush_timeout: Option<ConfigDuration>,
    /// Records that make a batch (default 8192).
    pub min_size: Option<u32>,
    /// Split batches above this many records (default 0 = no limit).
    pub max_size: Option<u32>,
}

/// A map of strings that keeps the order it was written in (HTTP headers).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderedStrings(pub Vec<(String, String)>);

impl OrderedStrings {
    pub fn get_ignore_case(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

impl<'de> Deserialize<'de> for OrderedStrings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedStrings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of names to string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedStrings, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(OrderedStrings(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}
