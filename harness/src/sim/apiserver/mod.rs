//! A simulated kube-apiserver: Events list/watch (core/v1 and events.k8s.io/v1), Leases,
//! bearer-token authentication and RBAC from the deploy manifests, with faults at will.
//!
//! It speaks the wire format captured from a real API server (`collector/tests/fixtures/kube/`):
//! paged LISTs with `continue`/`remainingItemCount` over a consistent snapshot, watch streams of
//! one JSON object per line with BOOKMARKs and a 410 `ERROR` line for a compacted
//! resourceVersion, and `Status` bodies with the real reasons and messages. Plain HTTP on
//! loopback; TLS is put in front of it by the caller.
//!
//! ```ignore
//! let server = ApiServer::start(ApiServerConfig::default()).await?;
//! server.add_token("t0ken", "system:serviceaccount:otel:k8s-event-collector");
//! server.set_rbac(Rbac::from_yaml_documents(&rbac_yaml)?);
//! server.create_event(json!({"metadata": {"namespace": "shop"}, "reason": "BackOff", ...}));
//! ```

mod auth;
mod convert;
mod json;
mod leases;
mod list;
mod objects;
mod params;
mod rbac;
mod routes;
mod status;
mod store;
mod token;
mod watch;
mod yaml;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

pub use auth::Caller;
pub use rbac::Rbac;
pub use watch::modified_line;
pub use yaml::{YamlError, documents as yaml_documents};

use auth::Identity;
use convert::Api;
use store::Store;

/// How the simulated server behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiServerConfig {
    /// How often a watch with `allowWatchBookmarks=true` gets a BOOKMARK (the real server: about
    /// a minute; short here so that tests see them).
    pub bookmark_interval: Duration,
    /// The longest a watch stays open: caps `timeoutSeconds`, and is the timeout when the client
    /// gives none.
    pub max_watch_timeout: Duration,
    /// Serve LIST pages of at most this many items even when the client asks for more (a server
    /// may return fewer than `limit`; clients must follow `continue`).
    pub page_size_cap: Option<usize>,
    /// Admit requests without credentials as `system:anonymous` (else 401).
    pub anonymous: bool,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        ApiServerConfig {
            bookmark_interval: Duration::from_secs(1),
            max_watch_timeout: Duration::from_secs(1800),
            page_size_cap: None,
            anonymous: false,
        }
    }
}

/// One request the server answered, for assertions and diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The raw query string (`limit=500&continue=...`).
    pub query: String,
    /// Who sent it (never the token).
    pub user: Caller,
    /// The RBAC verb of the request (`list`, `watch`, `get`, `create`, `update`, `delete`), for
    /// resource requests that got that far.
    pub verb: Option<&'static str>,
    /// The HTTP status (200 for a watch that was opened, whatever came inside it).
    pub status: u16,
    pub at: SystemTime,
}

/// What the server holds between requests.
#[derive(Debug, Default)]
struct State {
    store: Store,
    tokens: HashMap<String, Identity>,
    rbac: Rbac,
    /// Statuses the next list/watch requests answer with, in order.
    failures: VecDeque<u16>,
    /// How many of the next watches close at once, empty.
    empty_watches: usize,
    log: Vec<RequestRecord>,
}

/// The state shared by the handle and the request handlers.
#[derive(Debug)]
struct Shared {
    config: ApiServerConfig,
    /// Where it listens (discovery names it).
    addr: SocketAddr,
    state: Mutex<State>,
    /// The newest revision, sent on every Event change: wakes open watches.
    changed: signal::Sender<u64>,
    /// Bumped by `close_watches`: open watches end.
    closes: signal::Sender<u64>,
    /// Set when the server stops.
    shutdown: signal::Sender<bool>,
    open_watches: AtomicUsize,
}

impl Shared {
    /// The state; a panic elsewhere while holding it leaves it usable (no request may panic).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores an Event (core/v1 or events.k8s.io/v1 JSON) and wakes watches. `namespace` is the
    /// request path's, which wins over the body's. An existing Event of that name is replaced
    /// (MODIFIED) when `replace`, else `None` (a POST's 409).
    fn put_event(
        &self,
        event: Value,
        namespace: Option<&str>,
        replace: bool,
    ) -> Option<Map<String, Value>> {
        let written = match event {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let api = Api::of(&written);
        let mut core = Value::Object(match api {
            Api::Core => written,
            Api::EventsV1 => convert::v1_to_core(&written),
        });
        objects::normalize_core(&mut core);
        let Value::Object(mut core) = core else {
            return None;
        };
        objects::ensure_name(&mut core, "involvedObject");
        objects::with_metadata(&mut core, |meta| {
            let given = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
            let ns = namespace.unwrap_or(if given.is_empty() { "default" } else { given });
            meta.insert("namespace".into(), ns.into());
        });
        let mut state = self.lock();
        let store = &mut state.store;
        let key = store::event_key(&core);
        if let Some(old) = store.event(&key) {
            if !replace {
                return None;
            }
            // A replaced event keeps its identity unless the caller gives a new one.
            let old_meta = old.get("metadata").cloned().unwrap_or_default();
            objects::with_metadata(&mut core, |meta| {
                for field in ["uid", "creationTimestamp"] {
                    if !meta.contains_key(field)
                        && let Some(v) = old_meta.get(field)
                    {
                        meta.insert(field.into(), v.clone());
                    }
                }
            });
        }
        let rv = store.next_rv();
        objects::fill_metadata(&mut core, None, rv);
        objects::add_managed_fields(&mut core, api, &objects::now());
        store.put_event(core.clone());
        drop(state);
        self.changed.send_replace(rv);
        Some(core)
    }

    /// Applies `f` to a stored Event at a new revision (MODIFIED).
    fn modify_event(
        &self,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Map<String, Value>> {
        let key = store::key(namespace, name);
        // `f` runs without the lock: it may call back into the server.
        let old = self.lock().store.event(&key)?.clone();
        let mut event = Value::Object(old.clone());
        f(&mut event);
        objects::normalize_core(&mut event);
        let Value::Object(mut event) = event else {
            return None;
        };
        let old_meta = old.get("metadata").cloned().unwrap_or_default();
        objects::with_metadata(&mut event, |meta| {
            // Name, namespace and identity cannot change on update.
            for field in ["name", "namespace", "uid", "creationTimestamp"] {
                if let Some(v) = old_meta.get(field) {
                    meta.insert(field.into(), v.clone());
                }
            }
        });
        let mut state = self.lock();
        let store = &mut state.store;
        store.event(&key)?;
        let rv = store.next_rv();
        objects::fill_metadata(&mut event, Some(namespace), rv);
        objects::update_managed_fields(&mut event, &objects::now());
        store.put_event(event.clone());
        drop(state);
        self.changed.send_replace(rv);
        Some(event)
    }

    /// Deletes a stored Event at a new revision (DELETED).
    fn remove_event(&self, namespace: &str, name: &str) -> bool {
        let mut state = self.lock();
        let deleted = state.store.delete_event(&store::key(namespace, name));
        let rv = state.store.rv();
        drop(state);
        if deleted {
            self.changed.send_replace(rv);
        }
        deleted
    }

    /// Takes the next injected failure for a list/watch request, if any.
    fn take_failure(&self) -> Option<u16> {
        self.lock().failures.pop_front()
    }

    /// Whether this watch is one of those that close at once.
    fn take_empty_watch(&self) -> bool {
        let mut state = self.lock();
        if state.empty_watches > 0 {
            state.empty_watches -= 1;
            true
        } else {
            false
        }
    }
}

/// A running simulated API server. Dropping it (or [`ApiServer::stop`]) stops it and ends its
/// watches.
pub struct ApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.addr)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl ApiServer {
    /// Starts a server on `127.0.0.1:<free port>` with no tokens, no RBAC rules (everything is
    /// forbidden but to `system:masters`) and no events.
    pub async fn start(config: ApiServerConfig) -> std::io::Result<ApiServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            addr,
            state: Mutex::new(State::default()),
            changed: signal::Sender::new(0),
            closes: signal::Sender::new(0),
            shutdown: signal::Sender::new(false),
            open_watches: AtomicUsize::new(0),
        });
        let mut stopped = shared.shutdown.subscribe();
        let app = routes::router(shared.clone());
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // An error means the handle is gone: stop too.
                let _ = stopped.wait_for(|stop| *stop).await;
            });
            // A failing accept loop ends the server, as a crashed API server would.
            let _ = serve.await;
        });
        Ok(ApiServer {
            shared,
            addr,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address (for a TLS front).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Accepts `Authorization: Bearer <token>` as `user`. A service account's user
    /// (`system:serviceaccount:<ns>:<name>`) gets `system:serviceaccounts` and
    /// `system:serviceaccounts:<ns>`; everyone gets `system:authenticated`.
    pub fn add_token(&self, token: &str, user: &str) {
        self.add_token_with_groups(token, user, &[]);
    }

    /// [`ApiServer::add_token`] with more groups (`system:masters` is allowed everything).
    pub fn add_token_with_groups(&self, token: &str, user: &str, groups: &[&str]) {
        self.shared
            .lock()
            .tokens
            .insert(token.to_owned(), Identity::user(user, groups));
    }

    /// Stops accepting `token` (its next request is a 401), as when a token is revoked.
    pub fn remove_token(&self, token: &str) {
        self.shared.lock().tokens.remove(token);
    }

    /// Replaces the authorization rules; the next request sees them.
    pub fn set_rbac(&self, rules: Rbac) {
        self.shared.lock().rbac = rules;
    }

    /// Stores an Event and emits ADDED (MODIFIED if one of that namespace and name exists).
    ///
    /// Takes core/v1 JSON, or events.k8s.io/v1 JSON (`apiVersion: events.k8s.io/v1`, stored
    /// converted as the real server does). Fills `metadata.name` (from `generateName` or the
    /// involved object's name), `namespace` (`default`), `uid`, `creationTimestamp` and
    /// `managedFields` when missing; `resourceVersion` always. Returns the stored core/v1 Event.
    pub fn create_event(&self, event: Value) -> Value {
        Value::Object(self.shared.put_event(event, None, true).unwrap_or_default())
    }

    /// Changes a stored Event with `f` (core/v1 JSON; a `count` bump, a new `lastTimestamp`)
    /// at a new resourceVersion and emits MODIFIED. `None` when there is no such Event.
    pub fn update_event(
        &self,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        self.shared
            .modify_event(namespace, name, f)
            .map(Value::Object)
    }

    /// Deletes an Event (DELETED, at a new resourceVersion); `false` when there is none.
    pub fn delete_event(&self, namespace: &str, name: &str) -> bool {
        self.shared.remove_event(namespace, name)
    }

    /// The stored Events (core/v1), in key order.
    pub fn events(&self) -> Vec<Value> {
        let state = self.shared.lock();
        state
            .store
            .events()
            .values()
            .map(|e| Value::Object(e.clone()))
            .collect()
    }

    /// A stored Lease.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Value> {
        let state = self.shared.lock();
        state
            .store
            .lease(&store::key(namespace, name))
            .map(|l| Value::Object(l.clone()))
    }

    /// Forgets history up to now: LISTs (exact resourceVersion or continue token) and watches
    /// from older resourceVersions get 410 Expired. Open watches go on.
    pub fn compact(&self) {
        self.shared.lock().store.compact();
    }

    /// The newest resourceVersion (the etcd revision: Events and Leases share it).
    pub fn current_resource_version(&self) -> u64 {
        self.shared.lock().store.rv()
    }

    /// Ends every open watch stream now, cleanly (as at its timeout).
    pub fn close_watches(&self) {
        self.shared.closes.send_modify(|n| *n += 1);
    }

    /// The next `n` list/watch requests on Events (after authentication and authorization)
    /// answer HTTP `status` with the real server's `Status` body for it (429 with
    /// `Retry-After: 1`). Adds to failures already queued.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.shared
            .lock()
            .failures
            .extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` watches answer 200 and close at once, with no events.
    pub fn empty_watches(&self, n: usize) {
        self.shared.lock().empty_watches += n;
    }

    /// How many watch streams are open now.
    pub fn open_watches(&self) -> usize {
        self.shared.open_watches.load(Ordering::SeqCst)
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().log.clone()
    }

    /// Stops the server: ends its watches, closes its port, and waits (at most 5 s) until it
    /// has.
    pub async fn stop(mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}
