//! A fake multi-tenant Loki behind basic auth, recording every push.
//!
//! It answers what a Loki 3.4 with `auth_enabled: true` and default limits answers behind an
//! nginx gateway doing basic auth (`shared/fixtures/loki/responses.md`): nginx's 401 page,
//! `no org id`, Loki's 400 texts, 204 for a valid push, and it stores what Loki would store
//! (partial acceptance, de-duplication, `service_name` added). Put a
//! [`TlsTerminator`](crate::tls::TlsTerminator) in front of [`FakeLoki::addr`] for the
//! gateway's TLS.
//!
//! Built on wiremock, as the design says: a [`MockServer`] whose one mock computes each answer
//! from the request ([`respond`]). wiremock cannot stop accepting connections and start again
//! on the same port, so the public address is our own listener ([`Gate`]) that copies bytes to
//! the wiremock server: [`FakeLoki::set_down`] shuts that listener and every open connection at
//! once, and the collector sees a real connection refusal, not an HTTP answer.
//!
//! Simplified: gzip and deflate bodies are answered 415 (real Loki decodes them; the harness has
//! no gzip decoder in its dependencies); the tenant ID is not checked for the characters Loki
//! refuses; no `detected_level` is added to stored entries; rate and stream limits exist only
//! as scripted faults ([`FakeLoki::fail_next`]).

mod canonical;
mod gotime;
mod ingest;
mod labels;
mod record;
mod respond;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

use crate::tls::gate::Gate;
use respond::{Fault, LokiResponder, State};

pub use canonical::canonical_yaml;
pub(crate) use canonical::stored_yaml;
pub use ingest::{DISCOVER_SERVICE_NAME, SERVICE_NAME};
pub use record::{AuthSeen, LogEntry, LogStream, RecordedPush, StoredStream};
pub use respond::{PUSH_PATH, SINGLE_TENANT};

/// Basic-auth credentials the gateway requires.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

/// Loki's limits that reject data, with Loki 3.4's defaults (`limits_config`, `ingester`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LokiLimits {
    /// `max_label_names_per_series`: 15, counting the `service_name` Loki adds.
    pub max_label_names_per_series: usize,
    /// `max_label_name_length`: 1024 bytes.
    pub max_label_name_length: usize,
    /// `max_label_value_length`: 2048 bytes.
    pub max_label_value_length: usize,
    /// `max_line_size`: 256 KiB (0 = no limit).
    pub max_line_size: usize,
    /// `reject_old_samples_max_age`: 7 days; `None` = `reject_old_samples: false`, for
    /// fixtures with fixed old timestamps.
    pub reject_old_samples_max_age: Option<Duration>,
    /// `creation_grace_period`: entries more than 10 minutes in the future are rejected.
    pub creation_grace_period: Duration,
    /// Half of the ingester's `max_chunk_age` (2 h): an entry older than the newest of its
    /// stream by more than this is rejected; `None` = no window.
    pub out_of_order_window: Option<Duration>,
    /// `max_structured_metadata_size`: 64 KiB (0 = no limit).
    pub max_structured_metadata_size: usize,
    /// `max_structured_metadata_entries_count`: 128 (0 = no limit).
    pub max_structured_metadata_entries_count: usize,
}

impl Default for LokiLimits {
    fn default() -> Self {
        Self {
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            max_line_size: 256 * 1024,
            reject_old_samples_max_age: Some(Duration::from_secs(7 * 24 * 3600)),
            creation_grace_period: Duration::from_secs(10 * 60),
            out_of_order_window: Some(Duration::from_secs(3600)),
            max_structured_metadata_size: 64 * 1024,
            max_structured_metadata_entries_count: 128,
        }
    }
}

/// How the fake Loki and its gateway are set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LokiConfig {
    /// The gateway's credentials; `None` = no basic auth.
    pub basic_auth: Option<BasicAuth>,
    /// Multi-tenant (`auth_enabled: true`): a push needs `X-Scope-OrgID`. When `false`,
    /// everything is stored under the tenant [`SINGLE_TENANT`] whatever the header says.
    pub require_tenant: bool,
    pub limits: LokiLimits,
}

impl Default for LokiConfig {
    /// No basic auth, tenant required, default limits.
    fn default() -> Self {
        Self {
            basic_auth: None,
            require_tenant: true,
            limits: LokiLimits::default(),
        }
    }
}

impl LokiConfig {
    /// The gateway requires these basic-auth credentials.
    #[must_use]
    pub fn with_basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some(BasicAuth {
            user: user.into(),
            password: password.into(),
        });
        self
    }

    /// Single-tenant Loki (`auth_enabled: false`).
    #[must_use]
    pub fn single_tenant(mut self) -> Self {
        self.require_tenant = false;
        self
    }

    /// These limits instead of Loki's defaults.
    #[must_use]
    pub fn with_limits(mut self, limits: LokiLimits) -> Self {
        self.limits = limits;
        self
    }
}

/// A running fake Loki; it stops when dropped.
pub struct FakeLoki {
    state: Arc<State>,
    gate: Gate,
    // Kept for its lifetime: dropping it stops the wiremock server.
    _server: MockServer,
}

impl fmt::Debug for FakeLoki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeLoki")
            .field("url", &self.url())
            .field("down", &self.is_down())
            .field("pushes", &self.state.lock().pushes.len())
            .finish()
    }
}

impl FakeLoki {
    /// Starts a fake Loki on `127.0.0.1:PORT`.
    ///
    /// # Panics
    /// When no loopback port can be bound (as wiremock's own `MockServer::start` does); use
    /// [`FakeLoki::try_start`] to get the error instead.
    pub async fn start(config: LokiConfig) -> FakeLoki {
        match Self::try_start(config).await {
            Ok(loki) => loki,
            Err(e) => panic!("cannot start the fake Loki on loopback: {e}"),
        }
    }

    /// Starts a fake Loki on `127.0.0.1:PORT`, or says why it cannot listen.
    pub async fn try_start(config: LokiConfig) -> io::Result<FakeLoki> {
        let state = Arc::new(State::new(config));
        let server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        Mock::given(any())
            .respond_with(LokiResponder(state.clone()))
            .mount(&server)
            .await;
        let backend = *server.address();
        let gate = Gate::bind(Arc::new(move |mut client: TcpStream| {
            Box::pin(async move {
                if let Ok(mut upstream) = TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            })
        }))?;
        Ok(FakeLoki {
            state,
            gate,
            _server: server,
        })
    }

    /// `http://127.0.0.1:PORT` (pushes go to [`PUSH_PATH`] under it).
    pub fn url(&self) -> String {
        format!("http://{}", self.gate.addr())
    }

    /// The full push URL, `http://127.0.0.1:PORT/loki/api/v1/push`.
    pub fn push_url(&self) -> String {
        format!("{}{PUSH_PATH}", self.url())
    }

    /// The listening address; it stays the same across [`FakeLoki::set_down`].
    pub fn addr(&self) -> SocketAddr {
        self.gate.addr()
    }

    /// Changes the credentials the gateway accepts, as an operator rotating them does.
    pub fn set_basic_auth(&self, user: impl Into<String>, password: impl Into<String>) {
        self.state.lock().credentials = Some(BasicAuth {
            user: user.into(),
            password: password.into(),
        });
    }

    /// The configuration it started with.
    pub fn config(&self) -> &LokiConfig {
        &self.state.config
    }

    /// The next `n` pushes that pass the gateway's auth are answered `status` (with
    /// `Retry-After: <seconds>` when given) and not stored; then answers are normal again.
    /// Calls queue up: `fail_next(2, 429, ..)` then `fail_next(1, 503, None)` gives 429, 429, 503.
    pub fn fail_next(&self, n: usize, status: u16, retry_after: Option<u64>) {
        if n > 0 {
            self.state.lock().faults.push_back(Fault {
                remaining: n,
                status,
                retry_after,
            });
        }
    }

    /// Down: the port refuses connections and every open connection is closed, at once (a
    /// real refusal, so the collector sees a transport error, not an HTTP status). Up: it
    /// listens on the same port again. Should the port have been taken meanwhile, it stays down
    /// and the reason is printed on stderr; [`FakeLoki::is_down`] tells.
    pub fn set_down(&self, down: bool) {
        if down {
            self.gate.close();
        } else if let Err(e) = self.gate.open() {
            eprintln!(
                "fake Loki: cannot listen again on {}: {e}",
                self.gate.addr()
            );
        }
    }

    /// Whether it refuses connections.
    pub fn is_down(&self) -> bool {
        !self.gate.is_open()
    }

    /// Every answer (faults included) is sent this much later.
    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().delay = delay;
    }

    /// Every push request received, in arrival order.
    pub fn pushes(&self) -> Vec<RecordedPush> {
        self.state.lock().pushes.clone()
    }

    /// What Loki holds for `tenant` after de-duplication: streams sorted by labels string
    /// (Loki's form, with `service_name`), entries by timestamp.
    pub fn stored(&self, tenant: &str) -> Vec<StoredStream> {
        self.state
            .lock()
            .store
            .tenants
            .get(tenant)
            .map(|streams| {
                streams
                    .iter()
                    .map(|(labels, held)| held.sorted(labels))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The tenants that hold streams, sorted.
    pub fn tenants(&self) -> Vec<String> {
        self.state.lock().store.tenants.keys().cloned().collect()
    }

    /// `(entries accepted, duplicates included; entries stored once)` over all tenants.
    pub fn entry_counts(&self) -> (usize, usize) {
        let inner = self.state.lock();
        let stored = inner
            .store
            .tenants
            .values()
            .flat_map(|streams| streams.values())
            .map(|held| held.entries.len())
            .sum();
        (inner.store.accepted_entries, stored)
    }

    /// Everything stored, as canonical YAML (see [`canonical_yaml`]).
    pub fn stored_yaml(&self) -> String {
        let tenants: BTreeMap<String, Vec<StoredStream>> = self
            .tenants()
            .into_iter()
            .map(|tenant| {
                let streams = self.stored(&tenant);
                (tenant, streams)
            })
            .collect();
        canonical::stored_yaml(&tenants)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
