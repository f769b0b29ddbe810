//! Config of the `k8s_events` receiver: OpenTelemetry's keys plus ours for resuming and paging.

use serde::Deserialize;

use super::duration::ConfigDuration;

/// How the receiver authenticates to the Kubernetes API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum AuthType {
    /// The pod's service account: token and CA from
    /// `/var/run/secrets/kubernetes.io/serviceaccount/` (the token is re-read when it rotates).
    #[default]
    #[serde(rename = "serviceAccount")]
    ServiceAccount,
    /// A kubeconfig file (`$KUBECONFIG` or `~/.kube/config`), with `context` to pick one.
    #[serde(rename = "kubeConfig")]
    KubeConfig,
    /// No credentials (API servers that allow anonymous reads; tests).
    #[serde(rename = "none")]
    None,
}

/// Which Events API to read; both map to the same record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum EventsApi {
    /// `core/v1` `events` (what the OpenTelemetry receiver reads).
    #[default]
    #[serde(rename = "v1")]
    CoreV1,
    /// `events.k8s.io/v1` `events`.
    #[serde(rename = "events.k8s.io/v1")]
    EventsV1,
}

/// Where to start when there is no checkpoint to resume from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// Only events that happen from now on (the OpenTelemetry receiver's behaviour).
    #[default]
    Now,
    /// Every event the API server still holds (it keeps them for about an hour).
    All,
}

/// `receivers.k8s_events`.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct K8sEventsConfig {
    /// `serviceAccount` (default), `kubeConfig` or `none`.
    pub auth_type: AuthType,
    /// The kubeconfig context to use with `auth_type: kubeConfig`; empty = the current one.
    pub context: Option<String>,
    /// Namespaces to watch; empty (default) = one cluster-wide watch.
    pub namespaces: Vec<String>,
    /// Id of a `k8s_leader_elector` extension: only the lease holder watches and ships.
    pub k8s_leader_elector: Option<String>,
    /// Id of a `file_storage` extension: resume from the last checkpoint Loki acknowledged.
    pub storage: Option<String>,
    /// Throttle repeats of the same event (by uid) to one per interval. OpenTelemetry's
    /// negative value ("drop every update") is written `drop_updates: true` here.
    pub dedup_interval: Option<ConfigDuration>,
    /// Ours: ship only the first occurrence of each event, never its count bumps (what a
    /// negative `dedup_interval` means in OpenTelemetry).
    pub drop_updates: bool,
    /// Ours: `v1` (default) or `events.k8s.io/v1`.
    pub api: EventsApi,
    /// Ours: `now` (default, OpenTelemetry's behaviour) or `all`, used when no checkpoint exists.
    pub start_from: StartFrom,
    /// Ours: LIST page size, so start-up memory does not grow with the number of events
    /// (default 500, the same as client-go).
    pub page_size: Option<u32>,
}

impl K8sEventsConfig {
    /// The LIST page size in effect.
    pub fn page_size(&self) -> u32 {
        self.page_size.unwrap_or(500)
    }
}
