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
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::extensions::LeaderElectorConfig;
use crate::config::receivers::K8sEventsConfig;
use crate::receiver::k8s_events::client::Connection;
use crate::receiver::k8s_events::{Position, ReceiverError};

use super::lease::{Lease, rv_number};

/// Why one attempt to read or write the Lease failed (retried until `renew_deadline`).
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// 409: the Lease changed since it was read (another replica wrote it), or was created
    /// meanwhile.
    #[error("the Lease was changed by another replica (409 Conflict)")]
    Conflict,
    #[error("{0}")]
    Api(String),
}

/// The timings and names of one elector.
#[derive(Debug, Clone)]
struct Settings {
    name: String,
    /// `None`: the pod's namespace, known once the client exists.
    namespace: Option<String>,
    identity: String,
    lease_duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
}

/// What the elector last knew of the Lease's checkpoint, shared with the runtime.
type Seen = Arc<Mutex<Option<Position>>>;

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
            api: LeaseApi::new(client, &settings),
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

/// Requests on the one Lease.
struct LeaseApi {
    client: kube::Client,
    /// `/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}`.
    path: String,
    /// The collection, for a create.
    collection: String,
    name: String,
    namespace: String,
}

impl LeaseApi {
    fn new(client: kube::Client, settings: &Settings) -> LeaseApi {
        let namespace = settings.namespace.clone().unwrap_or_default();
        let collection = format!("/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases");
        LeaseApi {
            client,
            path: format!("{collection}/{}", settings.name),
            collection,
            name: settings.name.clone(),
            namespace,
        }
    }

    /// The Lease; `None` when it does not exist yet.
    async fn get(&self) -> Result<Option<Lease>, LeaseError> {
        let request = http::Request::get(&self.path).body(Vec::new());
        match self.send(request).await {
            Ok(text) => Lease::parse(&text).map(Some).map_err(LeaseError::Api),
            Err(Failed::NotFound) => Ok(None),
            Err(Failed::Other(e)) => Err(e),
        }
    }

    async fn create(&self, lease: &serde_json::Value) -> Result<Lease, LeaseError> {
        let request = http::Request::post(&self.collection)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(lease).unwrap_or_default());
        self.write(request).await
    }

    async fn update(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        let request = http::Request::put(&self.path)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&lease.0).unwrap_or_default());
        self.write(request).await
    }

    async fn write(
        &self,
        request: Result<http::Request<Vec<u8>>, http::Error>,
    ) -> Result<Lease, LeaseError> {
        match self.send(request).await {
            Ok(text) => Lease::parse(&text).map_err(LeaseError::Api),
            Err(Failed::NotFound) => Err(LeaseError::Api(format!("{}: 404", self.path))),
            Err(Failed::Other(e)) => Err(e),
        }
    }

    async fn send(
        &self,
        request: Result<http::Request<Vec<u8>>, http::Error>,
    ) -> Result<String, Failed> {
        let request = request.map_err(|e| Failed::Other(LeaseError::Api(e.to_string())))?;
        match self.client.request_text(request).await {
            Ok(text) => Ok(text),
            Err(kube::Error::Api(status)) if status.code == 404 => Err(Failed::NotFound),
            // 409 on update (stale resourceVersion) or create (AlreadyExists): someone else won.
            Err(kube::Error::Api(status)) if status.code == 409 => {
                Err(Failed::Other(LeaseError::Conflict))
            }
            Err(kube::Error::Api(status)) => Err(Failed::Other(LeaseError::Api(format!(
                "Lease {}/{}: {} {}",
                self.namespace, self.name, status.code, status.message
            )))),
            Err(e) => Err(Failed::Other(LeaseError::Api(format!(
                "Lease {}/{}: {e}",
                self.namespace, self.name
            )))),
        }
    }
}

enum Failed {
    NotFound,
    Other(LeaseError),
}

/// The outcome of one acquire-or-renew attempt.
#[derive(Debug, PartialEq)]
pub(crate) enum Attempt {
    /// This replica holds the Lease until `renewTime + leaseDurationSeconds`.
    Held,
    /// Another replica holds it and is renewing.
    HeldByOther(String),
}

/// The elector's running state.
struct Term {
    api: LeaseApi,
    settings: Settings,
    acked: Option<watch::Receiver<Option<Position>>>,
    seen: Seen,
}

impl Term {
    /// Tries to take the Lease every `retry_period`; `true` once held, `false` on shutdown.
    async fn stand_by(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let mut last_holder = String::new();
        loop {
            if *shutdown.borrow() {
                return false;
            }
            match self.try_acquire_or_renew(None).await {
                Ok((Attempt::Held, lease)) => {
                    let checkpoint = lease.checkpoint();
                    tracing::info!(
                        identity = %self.settings.identity,
                        checkpoint = ?checkpoint.as_ref().map(|p| p.resource_version.as_str()),
                        "leader election: this replica holds the Lease and ships events"
                    );
                    *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = checkpoint;
                    // Positions acknowledged before this term are not this term's to write.
                    if let Some(acked) = &mut self.acked {
                        acked.borrow_and_update();
                    }
                    return true;
                }
                Ok((Attempt::HeldByOther(holder), _)) => {
                    if holder != last_holder {
                        tracing::info!(%holder, "leader election: standing by, the Lease is held");
                        last_holder = holder;
                    }
                }
                Err(LeaseError::Conflict) => {
                    tracing::debug!("leader election: another replica took the Lease first");
                }
                Err(e) => tracing::warn!("leader election: {e}"),
            }
            let wait = tokio::time::sleep(self.settings.retry_period);
            tokio::select! {
                () = wait => {}
                () = stopped(shutdown) => return false,
            }
        }
    }

    /// Renews until leadership is lost (`false`) or, after shutdown, released (`true`).
    async fn lead(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let retry = self.settings.retry_period;
        let mut last_renewed = Instant::now();
        let mut last_attempt = Instant::now();
        let mut stopping = false;
        let publishes = self.acked.is_some();
        loop {
            let mut next = last_attempt + retry;
            let mut done = false;
            let acked_change = async {
                match &mut self.acked {
                    Some(acked) => acked.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                changed = acked_change => {
                    if changed {
                        // A new checkpoint: write it soon, not more often than 4 times a period.
                        next = last_attempt + retry / 4;
                        tokio::time::sleep_until(next).await;
                    } else {
                        done = true;
                    }
                }
                () = stopped(shutdown), if !stopping => {
                    stopping = true;
                    // Without a pipeline to wait for, release now.
                    done = !publishes;
                    if !done {
                        tracing::info!("leader election: keeping the Lease until what was read is delivered");
                        continue;
                    }
                }
            }
            if done {
                self.release().await;
                return true;
            }
            last_attempt = Instant::now();
            let position = self.acked_position();
            match self.try_acquire_or_renew(position.as_ref()).await {
                Ok((Attempt::Held, _)) => last_renewed = Instant::now(),
                Ok((Attempt::HeldByOther(holder), _)) => {
                    tracing::warn!(%holder, "leader election: the Lease was taken over; stopping the receiver");
                    return false;
                }
                Err(e) => {
                    if last_renewed.elapsed() >= self.settings.renew_deadline {
                        tracing::warn!(
                            "leader election: could not renew the Lease for {:?} ({e}); stopping the receiver",
                            self.settings.renew_deadline
                        );
                        return false;
                    }
                    tracing::debug!("leader election: renew failed, retrying: {e}");
                }
            }
        }
    }

    fn acked_position(&mut self) -> Option<Position> {
        self.acked
            .as_mut()
            .and_then(|acked| acked.borrow_and_update().clone())
    }

    /// One client-go style attempt: read the Lease; create it when missing; take it when free,
    /// ours or expired; else report its holder. `checkpoint` goes into the annotation when it
    /// moved forward (never backwards: an older position would make the next leader re-send).
    async fn try_acquire_or_renew(
        &self,
        checkpoint: Option<&Position>,
    ) -> Result<(Attempt, Lease), LeaseError> {
        let settings = &self.settings;
        let attempt = async {
            let now = SystemTime::now();
            let Some(current) = self.api.get().await? else {
                let lease = Lease::new_held(
                    &self.api.name,
                    &self.api.namespace,
                    &settings.identity,
                    settings.lease_duration,
                    now,
                    checkpoint,
                );
                return Ok((Attempt::Held, self.api.create(&lease).await?));
            };
            if !current.available_to(&settings.identity, now) {
                return Ok((Attempt::HeldByOther(current.holder().to_owned()), current));
            }
            let mut next = current.held_by(&settings.identity, settings.lease_duration, now);
            if let Some(position) = checkpoint
                && moves_forward(current.checkpoint().as_ref(), position)
            {
                next.set_checkpoint(position);
            }
            let written = self.api.update(&next).await?;
            if let Some(position) = checkpoint {
                *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(position.clone());
            }
            Ok((Attempt::Held, written))
        };
        // A hanging API server must not keep a leader past its deadline.
        tokio::time::timeout(settings.renew_deadline.max(retry_floor()), attempt)
            .await
            .unwrap_or_else(|_| Err(LeaseError::Api("the Lease request timed out".into())))
    }

    /// Writes the last acknowledged position and gives the Lease up.
    async fn release(&mut self) {
        let position = self.acked_position();
        let result = async {
            let Some(current) = self.api.get().await? else {
                return Ok(());
            };
            if current.holder() != self.settings.identity {
                return Ok(());
            }
            let mut next = current.released(SystemTime::now());
            if let Some(position) = &position
                && moves_forward(current.checkpoint().as_ref(), position)
            {
                next.set_checkpoint(position);
            }
            self.api.update(&next).await.map(|_| ())
        };
        match tokio::time::timeout(self.settings.renew_deadline.max(retry_floor()), result).await {
            Ok(Ok(())) => tracing::info!(
                checkpoint = ?position.as_ref().map(|p| p.resource_version.as_str()),
                "leader election: released the Lease"
            ),
            Ok(Err(e)) => tracing::warn!("leader election: could not release the Lease: {e}"),
            Err(_) => tracing::warn!("leader election: releasing the Lease timed out"),
        }
    }
}

/// Resolves once `shutdown` turns true or its sender is gone (holding no borrow of it).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The shortest time a Lease request is given.
fn retry_floor() -> Duration {
    Duration::from_secs(1)
}

/// Whether `position` may replace `current` in the Lease: it differs and its resourceVersion
/// is not older (non-numeric ones are compared for equality only).
fn moves_forward(current: Option<&Position>, position: &Position) -> bool {
    match current {
        None => true,
        Some(current) if current == position => false,
        Some(current) => match (rv_number(current), rv_number(position)) {
            (Some(old), Some(new)) => new >= old,
            _ => true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_only_move_forward() {
        let at = Position::at;
        assert!(moves_forward(None, &at("5")));
        assert!(moves_forward(Some(&at("5")), &at("6")));
        assert!(!moves_forward(Some(&at("6")), &at("5")));
        assert!(!moves_forward(Some(&at("6")), &at("6")));
    }

    #[test]
    fn identities_differ_per_elector() {
        let a = default_identity();
        let b = default_identity();
        assert_ne!(a, b);
        assert!(a.contains('_'));
    }
}
