//! WATCH of Events: a chunked HTTP 200 stream of `{"type":..,"object":..}` lines, replayed from
//! `resourceVersion`, with BOOKMARKs, `timeoutSeconds`, and the 410 `ERROR` line for a
//! compacted resourceVersion (inside the 200, as the real server sends it).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::Shared;
use super::convert::{self, Api};
use super::json;
use super::params::Params;
use super::status::{self, Status};
use super::store::Change;

/// One watch line.
fn line(kind: &str, object: &Value, shape: json::Shape) -> Bytes {
    let mut out = String::from("{\"type\":");
    json::write_str(&mut out, kind);
    out.push_str(",\"object\":");
    json::write(&mut out, object, shape);
    out.push_str("}\n");
    Bytes::from(out)
}

/// The MODIFIED line a core/v1 watch sends for a stored Event (without its newline): for
/// callers that replay the server's lines without a server (the bench's floor).
pub fn modified_line(event: &Value) -> String {
    let mut out = String::from("{\"type\":\"MODIFIED\",\"object\":");
    json::write(&mut out, event, Api::Core.shape());
    out.push('}');
    out
}

/// The ERROR line carrying a `Status`.
fn error_line(status: &Status) -> Bytes {
    Bytes::from(format!(
        "{{\"type\":\"ERROR\",\"object\":{}}}\n",
        status.body()
    ))
}

/// A BOOKMARK: an empty Event of the watched API but for its resourceVersion (Go's zero value,
/// so `creationTimestamp: null` and the always-present fields are there).
fn bookmark(api: Api, rv: u64) -> Bytes {
    let zero = json!({
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": rv.to_string(), "creationTimestamp": null},
        "involvedObject": {},
        "source": {},
        "firstTimestamp": null,
        "lastTimestamp": null,
        "eventTime": null,
        "reportingComponent": "",
        "reportingInstance": "",
    });
    let object = match (&zero, api) {
        (Value::Object(core), Api::EventsV1) => Value::Object(convert::core_to_v1(core)),
        _ => zero,
    };
    line("BOOKMARK", &object, api.shape())
}

fn event_line(kind: &str, event: &Map<String, Value>, api: Api) -> Bytes {
    line(kind, &Value::Object(convert::view(event, api)), api.shape())
}

/// A 200 streaming `lines` as they come, like the real server's watch answer.
fn streaming(rx: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache, private"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Counts an open watch for as long as it lives.
struct OpenWatch<'a>(&'a AtomicUsize);

impl<'a> OpenWatch<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        OpenWatch(count)
    }
}

impl Drop for OpenWatch<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What one watch streams.
struct Watch {
    api: Api,
    /// `ns/`, or empty for all namespaces.
    prefix: String,
    /// The revision up to which everything has been sent.
    sent_up_to: u64,
    bookmarks: bool,
    timeout: Duration,
}

impl Watch {
    fn wanted(&self, change: &Change) -> bool {
        change.key.starts_with(&self.prefix)
    }
}

/// Answers a watch of `api`'s Events in `namespace` (all when `None`).
pub(super) fn respond(
    shared: &Arc<Shared>,
    api: Api,
    namespace: Option<&str>,
    params: &Params,
) -> Response {
    if params.resource_version_match.is_some() {
        return status::invalid(
            "ListOptions.meta.k8s.io",
            "",
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch",
        )
        .response();
    }
    let asked = match params.resource_version.as_deref() {
        None | Some("0") => None,
        Some(rv) => match rv.parse::<u64>() {
            Ok(rv) => Some(rv),
            Err(_) => {
                return status::bad_request(format!("invalid resource version: {rv:?}")).response();
            }
        },
    };
    let (tx, rx) = mpsc::channel(64);
    if shared.take_empty_watch() {
        return streaming(rx);
    }
    let limit = shared.config.max_watch_timeout;
    let timeout = match params.timeout_seconds {
        None | Some(0) => limit,
        Some(seconds) => Duration::from_secs(seconds).min(limit),
    };
    let mut watch = Watch {
        api,
        prefix: namespace.map(|ns| format!("{ns}/")).unwrap_or_default(),
        sent_up_to: 0,
        bookmarks: params.allow_watch_bookmarks,
        timeout,
    };
    // Subscribed before reading the store, so that no change or close falls in between.
    let changed = shared.changed.subscribe();
    let closes = shared.closes.subscribe();
    let mut first = Vec::new();
    {
        let state = shared.lock();
        let store = &state.store;
        match asked {
            // No resourceVersion: the current state as ADDED lines, then changes.
            None => {
                first.extend(
                    store
                        .events()
                        .iter()
                        .filter(|(key, _)| key.starts_with(&watch.prefix))
                        .map(|(_, event)| event_line("ADDED", event, api)),
                );
                watch.sent_up_to = store.rv();
            }
            Some(rv) if rv < store.floor() => {
                drop(state);
                let _ = tx.try_send(error_line(&status::expired_watch()));
                return streaming(rx);
            }
            Some(rv) => watch.sent_up_to = rv,
        }
    }
    tokio::spawn(stream(shared.clone(), watch, first, changed, closes, tx));
    streaming(rx)
}

/// `duration` from now; a duration too long for the clock is a year (no overflow panic).
fn after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
}

/// Why a waiting watch woke.
enum Wake {
    Changed,
    Bookmark,
    /// Timeout, `close_watches`, the server's stop, or the client gone.
    End,
}

/// Streams changes until the timeout, a close, the server's stop, or the client leaving.
async fn stream(
    shared: Arc<Shared>,
    mut watch: Watch,
    first: Vec<Bytes>,
    mut changed: tokio::sync::watch::Receiver<u64>,
    mut closes: tokio::sync::watch::Receiver<u64>,
    tx: mpsc::Sender<Bytes>,
) {
    let _open = OpenWatch::new(&shared.open_watches);
    let mut stopping = shared.shutdown.subscribe();
    let deadline = after(watch.timeout);
    let interval = shared
        .config
        .bookmark_interval
        .max(Duration::from_millis(1));
    let mut next_bookmark = after(interval);
    for bytes in first {
        if tx.send(bytes).await.is_err() {
            return;
        }
    }
    loop {
        changed.borrow_and_update();
        let (lines, expired) = {
            let state = shared.lock();
            let store = &state.store;
            // An open watch is not ended by compaction, only by falling out of the history.
            let drained = match store.changes_after(watch.sent_up_to, 0) {
                Ok(changes) => (
                    changes
                        .filter(|c| watch.wanted(c))
                        .map(|c| event_line(c.kind.as_str(), &c.object, watch.api))
                        .collect(),
                    false,
                ),
                Err(_) => (vec![error_line(&status::expired_watch())], true),
            };
            watch.sent_up_to = watch.sent_up_to.max(store.rv());
            drained
        };
        for bytes in lines {
            if tx.send(bytes).await.is_err() {
                return;
            }
        }
        if expired {
            return;
        }
        let wake = tokio::select! {
            result = changed.changed() => match result {
                Ok(()) => Wake::Changed,
                Err(_) => Wake::End,
            },
            () = sleep_until(next_bookmark), if watch.bookmarks => Wake::Bookmark,
            () = sleep_until(deadline) => Wake::End,
            _ = closes.changed() => Wake::End,
            _ = stopping.wait_for(|stop| *stop) => Wake::End,
            () = tx.closed() => Wake::End,
        };
        match wake {
            Wake::Changed => {}
            Wake::Bookmark => {
                next_bookmark = after(interval);
                if tx
                    .send(bookmark(watch.api, watch.sent_up_to))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Wake::End => return,
        }
    }
}
