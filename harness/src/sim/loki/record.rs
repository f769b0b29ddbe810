//! What the fake Loki records: every push as received and answered, and the streams it holds.

use std::fmt;
use std::time::SystemTime;

use k8s_event_collector::exporter::loki::PushRequest;

/// One log entry: as pushed, or as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_unix_nano: i64,
    pub line: String,
    /// Structured metadata `(name, value)` pairs, in the order sent.
    pub structured_metadata: Vec<(String, String)>,
}

/// A stream: its labels string and its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStream {
    /// In a push, the labels string as sent (`{job="x"}`); stored, Loki's form of it: sorted,
    /// empty values dropped, `service_name` added (`{job="x", service_name="x"}`).
    pub labels: String,
    /// In a push, in the order sent; stored, by timestamp (equal timestamps in arrival order).
    pub entries: Vec<LogEntry>,
}

/// A stream as Loki holds it after de-duplication.
pub type StoredStream = LogStream;

/// The `Authorization` header of a push, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSeen {
    /// No `Authorization` header.
    None,
    /// `Basic` credentials that decode; the password is not kept.
    Basic { user: String },
    /// Anything else (`Bearer ...`, undecodable `Basic`): its scheme.
    Other { scheme: String },
}

impl fmt::Display for AuthSeen {
    /// `none`, `basic <user>:[REDACTED]`, `<scheme> [REDACTED]`: safe for snapshots and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthSeen::None => f.write_str("none"),
            AuthSeen::Basic { user } => write!(f, "basic {user}:[REDACTED]"),
            AuthSeen::Other { scheme } => write!(f, "{} [REDACTED]", scheme.to_lowercase()),
        }
    }
}

/// One push request as received, and the answer it got.
#[derive(Debug, Clone)]
pub struct RecordedPush {
    pub received_at: SystemTime,
    /// The `X-Scope-OrgID` header, as sent.
    pub tenant: Option<String>,
    pub auth: AuthSeen,
    /// Whether the gateway let it through (always, without configured credentials).
    pub auth_ok: bool,
    /// The status answered.
    pub status: u16,
    /// The body answered (empty for 204).
    pub answer: String,
    /// Whether the answer came from [`FakeLoki::fail_next`](super::FakeLoki::fail_next).
    pub injected: bool,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    /// The body's size on the wire.
    pub body_bytes: usize,
    /// The decoded streams, whatever the answer (empty when the body does not decode).
    pub streams: Vec<LogStream>,
    /// Why the body did not decode.
    pub decode_error: Option<String>,
}

impl RecordedPush {
    /// Whether Loki took every entry (204).
    pub fn accepted(&self) -> bool {
        self.status == 204
    }

    /// The number of entries in the body.
    pub fn entry_count(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }
}

/// The streams of a decoded push request.
pub(crate) fn streams_of(request: &PushRequest) -> Vec<LogStream> {
    request
        .streams
        .iter()
        .map(|stream| LogStream {
            labels: stream.labels.clone(),
            entries: stream
                .entries
                .iter()
                .map(|entry| LogEntry {
                    timestamp_unix_nano: entry.timestamp.map_or(0, |t| {
                        // Beyond the i64 range only for absurd seconds: clamp by sign.
                        t.unix_nano()
                            .unwrap_or(if t.seconds < 0 { i64::MIN } else { i64::MAX })
                    }),
                    line: entry.line.clone(),
                    structured_metadata: entry
                        .structured_metadata
                        .iter()
                        .map(|pair| (pair.name.clone(), pair.value.clone()))
                        .collect(),
                })
                .collect(),
        })
        .collect()
}
