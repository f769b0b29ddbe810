//! Loki's write path for one decoded push of one tenant, as Loki 3.4 runs it: the push parser
//! (labels parsed, `service_name` added), the distributor's validation (per stream and per
//! entry, invalid ones dropped, the rest kept), then the ingester (out-of-order window,
//! de-duplication). Pure: no I/O, `now` passed in.
//!
//! Faithful to Loki: which entries are kept when some are invalid (a 400 does not mean nothing
//! was stored), the error texts, and which error wins (an ingester error over validation
//! errors; of the ingester's, the last stream's, even when a later stream succeeded, as
//! `instance.Push` overwrites its error). Ours: several distinct validation errors are listed
//! in order of first appearance where Loki iterates a Go map (random order).

use std::collections::{BTreeMap, HashSet};

use super::LokiLimits;
use super::gotime;
use super::labels;
use super::record::{LogEntry, LogStream};

/// The `service_name` label Loki adds to every stream.
pub const SERVICE_NAME: &str = "service_name";

/// Loki 3.4's `discover_service_name` default: the first of these labels with a value names the
/// service; without any, `unknown_service`.
pub const DISCOVER_SERVICE_NAME: [&str; 13] = [
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

/// What Loki answers: a status and its `text/plain` body (with Go's `http.Error` newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    fn no_content() -> Self {
        Self {
            status: 204,
            body: String::new(),
        }
    }

    pub(crate) fn error(status: u16, message: impl Into<String>) -> Self {
        let mut body = message.into();
        body.push('\n');
        Self { status, body }
    }
}

/// What Loki holds: per tenant, per stream (Loki's labels string).
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub tenants: BTreeMap<String, BTreeMap<String, HeldStream>>,
    /// Entries that passed validation and the out-of-order window, duplicates included.
    pub accepted_entries: usize,
}

/// One stream in the ingester.
#[derive(Debug, Default)]
pub(crate) struct HeldStream {
    /// In arrival order.
    pub entries: Vec<LogEntry>,
    seen: HashSet<(i64, String)>,
    highest: Option<i64>,
    last: Option<(i64, String)>,
}

impl HeldStream {
    /// The stream as a query reads it: by timestamp, equal timestamps in arrival order.
    pub(crate) fn sorted(&self, labels: &str) -> LogStream {
        let mut entries = self.entries.clone();
        entries.sort_by_key(|e| e.timestamp_unix_nano);
        LogStream {
            labels: labels.to_owned(),
            entries,
        }
    }
}

/// A stream after the push parser: its labels (Loki's sorted form, `service_name` included).
struct Parsed<'a> {
    labels: Vec<(String, String)>,
    labels_string: String,
    entries: &'a [LogEntry],
}

/// Runs one push of `tenant` through Loki's write path, storing what Loki would store.
pub(crate) fn push(
    store: &mut Store,
    tenant: &str,
    streams: &[LogStream],
    limits: &LokiLimits,
    now_unix_nano: i64,
) -> Answer {
    // The push parser: one unparsable labels string fails the whole request.
    let mut parsed = Vec::with_capacity(streams.len());
    for stream in streams {
        match parse_stream_labels(&stream.labels) {
            Ok((labels, labels_string)) => parsed.push(Parsed {
                labels,
                labels_string,
                entries: &stream.entries,
            }),
            Err(e) => return Answer::error(400, format!("couldn't parse labels: {e}")),
        }
    }
    if parsed.is_empty() {
        return Answer::error(
            422,
            "error at least one valid stream is required for ingestion",
        );
    }

    // The distributor: invalid streams and entries are dropped, the rest goes on.
    let mut errors = GroupedErrors::default();
    let mut valid: Vec<(String, Vec<LogEntry>)> = Vec::new();
    for stream in &parsed {
        if stream.entries.is_empty() {
            continue;
        }
        if let Err(e) = validate_labels(stream, limits) {
            errors.add(e);
            continue;
        }
        let kept: Vec<LogEntry> = stream
            .entries
            .iter()
            .filter(|entry| {
                match validate_entry(&stream.labels_string, entry, limits, now_unix_nano) {
                    Ok(()) => true,
                    Err(e) => {
                        errors.add(e);
                        false
                    }
                }
            })
            .cloned()
            .collect();
        if !kept.is_empty() {
            valid.push((stream.labels_string.clone(), kept));
        }
    }

    // The ingester: its answer is the last stream's.
    let mut ingester_error = None;
    for (labels_string, entries) in valid {
        let held = store
            .tenants
            .entry(tenant.to_owned())
            .or_default()
            .entry(labels_string.clone())
            .or_default();
        let (accepted, error) = append(held, &entries, tenant, &labels_string, limits);
        store.accepted_entries += accepted;
        ingester_error = error;
    }

    match (ingester_error, errors.message()) {
        (Some(e), _) => Answer::error(400, e),
        (None, Some(e)) => Answer::error(400, e),
        (None, None) => Answer::no_content(),
    }
}

/// Loki's form of a labels string: parsed, sorted, empty values dropped, `service_name` added.
fn parse_stream_labels(
    labels_string: &str,
) -> Result<(Vec<(String, String)>, String), labels::ParseError> {
    let mut pairs = labels::parse(labels_string)?;
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    // Prometheus' label builder drops a name that has an empty value (every copy of it).
    let empty: HashSet<String> = pairs
        .iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(n, _)| n.clone())
        .collect();
    pairs.retain(|(n, _)| !empty.contains(n));
    if !pairs.iter().any(|(n, _)| n == SERVICE_NAME) {
        let service = DISCOVER_SERVICE_NAME
            .iter()
            .find_map(|name| {
                pairs
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_else(|| "unknown_service".to_owned());
        pairs.push((SERVICE_NAME.to_owned(), service));
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let string = labels::to_string(&pairs);
    Ok((pairs, string))
}

/// The distributor's `ValidateLabels`. Loki 3.4 counts the `service_name` it added (the
/// captured answer says "16 label names; limit 15"); later versions do not.
fn validate_labels(stream: &Parsed<'_>, limits: &LokiLimits) -> Result<(), String> {
    let count = stream.labels.len();
    let shown = &stream.labels_string;
    if count > limits.max_label_names_per_series {
        return Err(format!(
            "entry for stream '{shown}' has {count} label names; limit {}",
            limits.max_label_names_per_series
        ));
    }
    let mut last = "";
    for (name, value) in &stream.labels {
        if name.len() > limits.max_label_name_length {
            return Err(format!(
                "stream '{shown}' has label name too long: '{name}'"
            ));
        }
        if value.len() > limits.max_label_value_length {
            return Err(format!(
                "stream '{shown}' has label value too long: '{value}'"
            ));
        }
        if name == last {
            return Err(format!(
                "stream '{shown}' has duplicate label name: '{name}'"
            ));
        }
        last = name;
    }
    Ok(())
}

/// The distributor's `ValidateEntry`.
fn validate_entry(
    shown: &str,
    entry: &LogEntry,
    limits: &LokiLimits,
    now: i64,
) -> Result<(), String> {
    let ts = entry.timestamp_unix_nano;
    if let Some(max_age) = limits.reject_old_samples_max_age {
        let oldest = now.saturating_sub(nanos(max_age));
        if ts < oldest {
            return Err(format!(
                "entry for stream '{shown}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                gotime::rfc3339(ts),
                gotime::rfc3339(oldest)
            ));
        }
    }
    if ts > now.saturating_add(nanos(limits.creation_grace_period)) {
        return Err(format!(
            "entry for stream '{shown}' has timestamp too new: {}",
            gotime::rfc3339(ts)
        ));
    }
    let max_line = limits.max_line_size;
    if max_line != 0 && entry.line.len() > max_line {
        return Err(format!(
            "Max entry size '{max_line}' bytes exceeded for stream '{shown}' while adding an entry with length '{}' bytes",
            entry.line.len()
        ));
    }
    if !entry.structured_metadata.is_empty() {
        let size: usize = entry
            .structured_metadata
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum();
        let count = entry.structured_metadata.len();
        let max_size = limits.max_structured_metadata_size;
        if max_size != 0 && size > max_size {
            return Err(format!(
                "stream '{shown}' has structured metadata too large: '{size}' bytes, limit: '{max_size}' bytes. Please see `limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it."
            ));
        }
        let max_count = limits.max_structured_metadata_entries_count;
        if max_count != 0 && count > max_count {
            return Err(format!(
                "stream '{shown}' has too many structured metadata labels: '{count}', limit: '{max_count}'. Please see `limits_config.max_structured_metadata_entries_count` or contact your Loki administrator to increase it."
            ));
        }
    }
    Ok(())
}

/// The ingester's `stream.Push`: returns the entries accepted (duplicates included) and the
/// stream's error, if any entry was refused.
fn append(
    held: &mut HeldStream,
    entries: &[LogEntry],
    tenant: &str,
    labels_string: &str,
    limits: &LokiLimits,
) -> (usize, Option<String>) {
    let mut accepted = 0;
    let mut refused = Vec::new();
    for entry in entries {
        let key = (entry.timestamp_unix_nano, entry.line.clone());
        // The same line as the last one appended is dropped before any check.
        if held.last.as_ref() == Some(&key) {
            accepted += 1;
            continue;
        }
        if let (Some(window), Some(highest)) = (limits.out_of_order_window, held.highest) {
            let cutoff = highest.saturating_sub(nanos(window));
            if entry.timestamp_unix_nano < cutoff {
                refused.push(format!(
                    "entry with timestamp {} ignored, reason: 'entry too far behind, entry timestamp is: {}, oldest acceptable timestamp is: {}',\n",
                    gotime::go_string(entry.timestamp_unix_nano),
                    gotime::rfc3339(entry.timestamp_unix_nano),
                    gotime::rfc3339(cutoff)
                ));
                continue;
            }
        }
        accepted += 1;
        held.highest = held.highest.max(Some(entry.timestamp_unix_nano));
        // The head block keeps one copy of an entry with the same timestamp and line.
        if held.seen.insert(key.clone()) {
            held.entries.push(entry.clone());
        }
        held.last = Some(key);
    }
    if refused.is_empty() {
        return (accepted, None);
    }
    let total = refused.len();
    // Loki lists at most 10 (`max_returned_stream_errors`) but counts them all.
    let mut message: String = refused.into_iter().take(10).collect();
    message.push_str(&format!(
        "user '{tenant}', total ignored: {total} out of {} for stream: {labels_string}",
        entries.len()
    ));
    (accepted, Some(message))
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Loki's `util.GroupedErrors`: equal messages counted, distinct ones joined with `; `.
#[derive(Default)]
struct GroupedErrors(Vec<(String, usize)>);

impl GroupedErrors {
    fn add(&mut self, error: String) {
        match self.0.iter_mut().find(|(e, _)| *e == error) {
            Some((_, n)) => *n += 1,
            None => self.0.push((error, 1)),
        }
    }

    fn message(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let distinct = self.0.len();
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(error, n)| {
                if distinct > 1 || *n > 1 {
                    format!("{n} errors like: {error}")
                } else {
                    error.clone()
                }
            })
            .collect();
        Some(parts.join("; "))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
