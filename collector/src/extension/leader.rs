//! The `k8s_leader_elector` extension: one replica at a time holds a `coordination.k8s.io/v1`
//! Lease, in the style of client-go's `leaderelection`, and the Lease carries the acknowledged
//! checkpoint so that the next holder resumes exactly where the last accepted batch ended.
//!
//! - Standby: tries every `retry_period` to take the Lease when it is free, already ours, or
//!   expired (`renewTime + leaseDurationSeconds` is past). Create is a POST, take-over a PUT
//!   carrying the resourceVersion read: a 409 means another replica won the race.
//! - Leader: renews every `retry_period` (sooner when a new position was acknowledged, which
//!   then goes into the annotation); when renewing keeps failing for `renew_deadline`, or the
//!   Lease shows another holder, it is no longer the leader.
//! - Shutdown: the leader keeps renewing until the pipeline has delivered what was read (its
//!   acknowledgement channel closes), writes the final checkpoint and releases the Lease, so a
//!   standby takes over at its next try instead of after `lease_duration`.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::config::extensions::LeaderElectorConfig;
use crate::config::receivers::K8sEventsConfig;
use crate::receiver::k8s_events::client::Connection;
use crate::receiver::k8s_events::{Position, ReceiverError};

use super::lease_api::LeaseApi;
use super::term::Term;

/// The timings and names of one elector.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) name: String,
    /// `None`: the pod's namespace, known once the client exists.
    pub(super) namespace: Option<String>,
    pub(super) identity: String,
    pub(super) lease_duration: Duration,
    pub(super) renew_deadline: Duration,
    pub(super) retry_period: Duration,
}

/// What the elector last knew of the Lease's checkpoint, shared with the runtime.
pub(super) type Seen = Arc<Mutex<Option<Position>>>;

/// A leader elector on one Lease. See the module documentation.
#[derive(Debug)]
pub struct LeaderElector {
    connection: Connection,
    settings: Settings,
    acked: Option<watch::Receiver<Option<Position>>>,
    seen: Seen,
}

/// A handle on the checkpoint the elector found in the Lease when it became leader.
#[derive(Debug, Clone)]
pub struct LeaseCheckpoint(Seen);

impl LeaseCheckpoint {
    /// The checkpoint annotation as it was when leadership was gained (`None`: none, or not
    /// leader yet).
    pub fn checkpoint_from_lease(&self) -> Option<Position> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl LeaderElector {
    /// An elector for `config`, connecting as its `auth_type` says (the receiver's rules,
    /// reading the same environment); identity: `POD_NAME` or the hostname, plus a random
    /// suffix (two processes in one pod, or a restarted pod, are different holders).
    pub fn new(config: &LeaderElectorConfig) -> Result<LeaderElector, ReceiverError> {
        let receiver_like = K8sEventsConfig {
            auth_type: config.auth_type,
            ..K8sEventsConfig::default()
        };
        let connection = Connection::from_env(&receiver_like, |name| std::env::var(name).ok())?;
        Ok(Self::with_connection(
            config,
            connection,
            default_identity(),
        ))
    }

    /// [`LeaderElector::new`] with the connection and identity given (tests).
    pub(crate) fn with_connection(
        config: &LeaderElectorConfig,
        connection: Connection,
        identity: String,
    ) -> LeaderElector {
        let namespace = config
            .lease_namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .or_else(|| {
                std::env::var("POD_NAMESPACE")
                    .ok()
                    .filter(|ns| !ns.is_empty())
            });
        LeaderElector {
            connection,
            settings: Settings {
                name: config.lease_name.clone(),
                namespace,
                identity,
                lease_duration: config.lease_duration.0,
                renew_deadline: config.renew_deadline.0,
                retry_period: config.retry_period.0.max(Duration::from_millis(10)),
            },
            acked: None,
            seen: Arc::new(Mutex::new(None)),
        }
    }

    /// This replica's `holderIdentity`.
    pub fn identity(&self) -> &str {
        &self.settings.identity
    }

    /// Acknowledged positions to keep in the Lease while leading. When this channel closes
    /// (the pipeline is done) after shutdown, the last one is written and the Lease released.
    pub fn publish_checkpoints(&mut self, acked: watch::Receiver<Option<Position>>) {
        self.acked = Some(acked);
    }

    /// The checkpoint found in the Lease when leadership was gained.
    pub fn checkpoint_from_lease(&self) -> Option<Position> {
        self.lease_checkpoint().checkpoint_from_lease()
    }

    /// A handle for [`LeaseCheckpoint::checkpoint_from_lease`] that outlives [`LeaderElector::run`].
    pub fn lease_checkpoint(&self) -> LeaseCheckpoint {
        LeaseCheckpoint(Arc::clone(&self.seen))
    }

    /// Elects until `shutdown` turns true (or its sender is dropped): publishes `true` on
    /// `is_leader` while this replica holds the Lease, `false` otherwise. Returns `Err` only when
    /// the API client cannot be set up; API errors are retried and logged.
    pub async fn run(
        self,
        is_leader: watch::Sender<bool>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), ReceiverError> {
        let client = self.connection.into_client().await?;
        let mut settings = self.settings;
        if settings.namespace.is_none() {
            settings.namespace = Some(client.default_namespace().to_owned());
        }
        let mut term = Term {
            api: LeaseApi::new(
                client,
                settings.namespace.as_deref().unwrap_or_default(),
                &settings.name,
            ),
            settings,
            acked: self.acked,
            seen: self.seen,
        };
        tracing::info!(
            lease = %term.api.path, identity = %term.settings.identity,
            "leader election: standing by until this replica holds the Lease"
        );
        loop {
            if !term.stand_by(&mut shutdown).await {
                is_leader.send_replace(false);
                return Ok(());
            }
            is_leader.send_replace(true);
            let released = term.lead(&mut shutdown).await;
            is_leader.send_replace(false);
            if released {
                return Ok(());
            }
        }
    }
}

/// `POD_NAME` (the Downward API) or the hostname, with a random suffix.
fn default_identity() -> String {
    let base = std::env::var("POD_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|n| !n.is_empty()))
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "k8s-event-collector".into());
    // RandomState is seeded randomly per process: enough to tell two holders apart.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{base}_{:08x}", hasher.finish() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_differ_per_elector() {
        let a = default_identity();
        let b = default_identity();
        assert_ne!(a, b);
        assert!(a.contains('_'));
    }
}
