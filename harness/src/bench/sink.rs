//! A minimal, fast Loki: answers every push `204` and counts its entries by walking the
//! protobuf only as deep as it must; when asked, it reads the ` bench-ts=<nanos>` stamp of each
//! line back and records the event-created -> Loki-accepted latency.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use tokio::task::JoinHandle;

/// The marker [`super::events::occurrence`] appends to a message.
pub const STAMP: &[u8] = b"bench-ts=";

/// What the sink has counted.
#[derive(Debug, Default)]
struct Counts {
    entries: AtomicU64,
    pushes: AtomicU64,
    bad_pushes: AtomicU64,
    /// Read stamps and record latencies.
    stamps: AtomicBool,
    /// Latencies in nanoseconds.
    latencies: Mutex<Vec<u64>>,
}

/// A running sink; it stops when dropped.
#[derive(Debug)]
pub struct Sink {
    addr: SocketAddr,
    counts: Arc<Counts>,
    task: JoinHandle<()>,
}

impl Sink {
    /// Listens on `127.0.0.1:<free port>`.
    pub async fn start() -> std::io::Result<Sink> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Counts::default());
        let app = Router::new()
            .route("/loki/api/v1/push", post(push))
            .layer(DefaultBodyLimit::disable())
            .with_state(counts.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Sink { addr, counts, task })
    }

    /// The push URL (plain HTTP).
    pub fn push_url(&self) -> String {
        format!("http://{}/loki/api/v1/push", self.addr)
    }

    /// Entries accepted so far.
    pub fn entries(&self) -> u64 {
        self.counts.entries.load(Ordering::Relaxed)
    }

    /// Push requests accepted, and those that could not be read.
    pub fn pushes(&self) -> (u64, u64) {
        (
            self.counts.pushes.load(Ordering::Relaxed),
            self.counts.bad_pushes.load(Ordering::Relaxed),
        )
    }

    /// Starts or stops reading stamps (off: count only).
    pub fn read_stamps(&self, on: bool) {
        self.counts.stamps.store(on, Ordering::Relaxed);
    }

    /// Takes the latencies recorded so far (nanoseconds).
    pub fn take_latencies(&self) -> Vec<u64> {
        std::mem::take(
            &mut *self
                .counts
                .latencies
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn push(State(counts): State<Arc<Counts>>, body: Bytes) -> StatusCode {
    let stamps = counts.stamps.load(Ordering::Relaxed);
    let mut found = Vec::new();
    let raw = snap::raw::Decoder::new().decompress_vec(&body);
    let entries = raw
        .ok()
        .and_then(|raw| count_entries(&raw, stamps.then_some(&mut found)));
    match entries {
        Some(n) => {
            counts.entries.fetch_add(n, Ordering::Relaxed);
            counts.pushes.fetch_add(1, Ordering::Relaxed);
        }
        None => {
            counts.bad_pushes.fetch_add(1, Ordering::Relaxed);
        }
    }
    if !found.is_empty() {
        let now = unix_nanos();
        let mut all = counts
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        all.extend(found.into_iter().map(|at| now.saturating_sub(at)));
    }
    StatusCode::NO_CONTENT
}

/// Now, in Unix nanoseconds.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Reads a varint at `*at`.
fn varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The fields of one protobuf message: `(number, bytes)` for length-delimited fields; other
/// wire types are skipped. `None` when the message is malformed.
fn fields(buf: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let key = varint(buf, &mut at)?;
        match key & 7 {
            0 => {
                varint(buf, &mut at)?;
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = usize::try_from(varint(buf, &mut at)?).ok()?;
                let end = at.checked_add(len)?;
                out.push((key >> 3, buf.get(at..end)?));
                at = end;
            }
            _ => return None,
        }
    }
    (at == buf.len()).then_some(out)
}

/// Counts the entries of a `PushRequest` (`streams = 1`, `Stream.entries = 2`); with `stamps`,
/// collects the stamp of each entry's line (`Entry.line = 2`).
pub fn count_entries(push: &[u8], mut stamps: Option<&mut Vec<u64>>) -> Option<u64> {
    let mut n = 0;
    for (number, stream) in fields(push)? {
        if number != 1 {
            continue;
        }
        for (number, entry) in fields(stream)? {
            if number != 2 {
                continue;
            }
            n += 1;
            if let Some(stamps) = stamps.as_deref_mut() {
                let line = fields(entry)?
                    .into_iter()
                    .find_map(|(number, line)| (number == 2).then_some(line));
                if let Some(at) = line.and_then(read_stamp) {
                    stamps.push(at);
                }
            }
        }
    }
    Some(n)
}

/// The number after ` bench-ts=` in a line.
fn read_stamp(line: &[u8]) -> Option<u64> {
    let at = line.windows(STAMP.len()).rposition(|w| w == STAMP)? + STAMP.len();
    let digits: Vec<u8> = line[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use k8s_event_collector::exporter::loki::{EncodeOptions, encode_protobuf, encode_records};
    use k8s_event_collector::record::{AnyValue, LogRecord};

    fn record(body: &str, ns: &str) -> LogRecord {
        let mut r = LogRecord {
            body: AnyValue::Str(body.into()),
            timestamp_unix_nano: Some(1),
            ..LogRecord::default()
        };
        r.resource.push_unique("ns", ns);
        r.resource.push_unique("loki.resource.labels", "ns");
        r
    }

    #[test]
    fn counts_entries_and_reads_stamps_of_a_real_push() {
        let records = vec![
            record("a bench-ts=100", "x"),
            record("b", "y"),
            record("c bench-ts=300", "x"),
        ];
        let batch = encode_records(&records, &EncodeOptions::default(), 0);
        let body = encode_protobuf(&batch.pushes[0]).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let mut stamps = Vec::new();
        assert_eq!(count_entries(&raw, Some(&mut stamps)), Some(3));
        stamps.sort_unstable();
        assert_eq!(stamps, [100, 300]);
        assert_eq!(count_entries(&raw[..raw.len() - 1], None), None);
    }
}
