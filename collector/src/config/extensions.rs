//! Config of the extensions: authenticators, health check, storage, leader election.

use serde::Deserialize;

use super::duration::ConfigDuration;

/// `extensions.basicauth`: HTTP basic auth for exporters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    pub client_auth: Option<BasicClientAuth>,
    /// The server-side form (`htpasswd`) authenticates incoming requests: not for this collector.
    pub htpasswd: Option<serde::de::IgnoredAny>,
}

/// `client_auth:` of basicauth. The `_file` forms win and are re-read when the files change.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BasicClientAuth {
    pub username: Option<String>,
    /// A secret: redacted by `print-config`, never logged.
    pub password: Option<String>,
    pub username_file: Option<String>,
    pub password_file: Option<String>,
}

/// `extensions.bearertokenauth`: `Authorization: <scheme> <token>` for exporters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerTokenAuthConfig {
    /// A secret: redacted by `print-config`, never logged.
    pub token: Option<String>,
    /// File holding the token, re-read when it changes (wins over `token`).
    pub filename: Option<String>,
    /// Scheme before the token (default `Bearer`).
    #[serde(default = "default_scheme")]
    pub scheme: String,
}

fn default_scheme() -> String {
    "Bearer".into()
}

/// `extensions.health_check`: liveness and readiness over HTTP.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    /// Listen address (default `localhost:13133`, as OpenTelemetry; `0.0.0.0:13133` in a pod).
    pub endpoint: String,
    /// Path answering OpenTelemetry-style health (default `/`); `/healthz` and `/readyz` are
    /// served too.
    pub path: String,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            endpoint: "localhost:13133".into(),
            path: "/".into(),
        }
    }
}

/// `extensions.file_storage`: a directory for checkpoints and the persistent queue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileStorageConfig {
    /// Default `/var/lib/otelcol/file_storage`, as OpenTelemetry.
    pub directory: String,
    /// How long to wait for the storage lock (default 1s).
    pub timeout: ConfigDuration,
    /// Create the directory when missing (default false).
    pub create_directory: bool,
}

impl Default for FileStorageConfig {
    fn default() -> Self {
        FileStorageConfig {
            directory: "/var/lib/otelcol/file_storage".into(),
            timeout: ConfigDuration::from_secs(1),
            create_directory: false,
        }
    }
}

/// `extensions.k8s_leader_elector`: one replica at a time holds a `coordination.k8s.io/v1` Lease.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaderElectorConfig {
    pub auth_type: super::receivers::AuthType,
    pub lease_name: String,
    /// Default: the pod's namespace.
    pub lease_namespace: Option<String>,
    /// Default 15s.
    pub lease_duration: ConfigDuration,
    /// Default 10s.
    pub renew_deadline: ConfigDuration,
    /// Default 2s.
    pub retry_period: ConfigDuration,
}

impl Default for LeaderElectorConfig {
    fn default() -> Self {
        LeaderElectorConfig {
            auth_type: super::receivers::AuthType::ServiceAccount,
            lease_name: String::new(),
            lease_namespace: None,
            lease_duration: ConfigDuration::from_secs(15),
            renew_deadline: ConfigDuration::from_secs(10),
            retry_period: ConfigDuration::from_secs(2),
        }
    }
}
