//! The floor: the collector's own pure path on the same events, in one loop in this process,
//! with no I/O, no channels and no tasks: decode a watch line -> map to a record -> the
//! resource processor's inserts -> batch -> encode the Loki push -> snappy.

use std::time::Instant;

use k8s_event_collector::exporter::loki::{EncodeOptions, encode_protobuf, encode_records};
use k8s_event_collector::receiver::k8s_events::WatchEvent;
use k8s_event_collector::record::LogRecord;
use serde_json::{Value, json};

/// The batch processor's default `send_batch_size`.
const BATCH: usize = 8192;

/// Watch lines (`{"type":"MODIFIED","object":...}`) of stored Events, as the watch serves them.
pub fn watch_lines(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| json!({"type": "MODIFIED", "object": e}).to_string())
        .collect()
}

/// What the floor measured.
#[derive(Debug, Clone, Default)]
pub struct FloorResult {
    pub events: u64,
    pub events_per_sec: f64,
    pub us_per_event: f64,
    /// Compressed push bytes per event.
    pub bytes_per_event: f64,
}

/// The deploy config's `resource/k8s_events` inserts.
fn resource_processor(record: &mut LogRecord) {
    for (key, value) in [
        ("cluster", "bench"),
        ("node", "bench-node"),
        ("receiver", "k8s_event"),
        ("loki.resource.labels", "node,receiver,cluster"),
    ] {
        record.resource.insert(key, value);
    }
}

fn flush(
    batch: &mut Vec<LogRecord>,
    opts: &EncodeOptions,
    bytes: &mut usize,
) -> Result<(), String> {
    let encoded = encode_records(batch, opts, 0);
    for push in &encoded.pushes {
        *bytes += encode_protobuf(push).map_err(|e| e.to_string())?.len();
    }
    batch.clear();
    Ok(())
}

/// Runs `lines` through the pure path, over and over, until at least `n` events are done.
pub fn run(lines: &[String], n: u64) -> Result<FloorResult, String> {
    if lines.is_empty() {
        return Err("no events for the floor".into());
    }
    let opts = EncodeOptions::default();
    let mut batch = Vec::with_capacity(BATCH);
    let mut bytes = 0usize;
    let mut done = 0u64;
    let t0 = Instant::now();
    'outer: loop {
        for line in lines {
            let mut record = match WatchEvent::from_json(line).map_err(|e| e.to_string())? {
                WatchEvent::Added(event) | WatchEvent::Modified(event) => {
                    event.to_log_record().map_err(|e| e.to_string())?
                }
                _ => continue,
            };
            resource_processor(&mut record);
            batch.push(record);
            if batch.len() == BATCH {
                flush(&mut batch, &opts, &mut bytes)?;
            }
            done += 1;
            if done >= n {
                break 'outer;
            }
        }
    }
    flush(&mut batch, &opts, &mut bytes)?;
    let secs = t0.elapsed().as_secs_f64();
    Ok(FloorResult {
        events: done,
        events_per_sec: done as f64 / secs,
        us_per_event: secs * 1e6 / done as f64,
        bytes_per_event: bytes as f64 / done as f64,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_runs_generated_events() {
        let mut events = super::super::events::generate(20, 3);
        for (i, e) in events.iter_mut().enumerate() {
            e["metadata"]["resourceVersion"] = json!(i.to_string());
        }
        let result = run(&watch_lines(&events), 50).unwrap();
        assert_eq!(result.events, 50);
        assert!(result.bytes_per_event > 0.0);
    }
}
