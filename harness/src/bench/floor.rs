//! The floor: the collector's own pure path on the same events, in one loop in this process,
//! with no I/O, no channels and no tasks: decode a watch line -> map to a record -> the
//! resource processor -> the batch processor (with its weighing) -> encode the Loki push ->
//! split into requests -> protobuf + snappy. The same stages the running collector calls, so
//! a profile of the floor (see `src/bin/floor.rs`) is a profile of that path.

use std::time::Instant;

use k8s_event_collector::config::processors::{
    Action, BatchProcessorConfig, ResourceProcessorConfig, ValueSource,
};
use k8s_event_collector::exporter::loki::split::{DEFAULT_MAX_REQUEST_BYTES, split};
use k8s_event_collector::exporter::loki::{EncodeOptions, encode_protobuf, encode_records};
use k8s_event_collector::processor::{Batcher, Processor};
use k8s_event_collector::receiver::k8s_events::WatchEvent;
use k8s_event_collector::record::{AnyValue, LogRecord};
use serde_json::Value;

use crate::sim::apiserver::modified_line;

/// Watch lines (`{"type":"MODIFIED","object":...}`) of stored Events, as the watch serves them:
/// `type` first and the object's fields in the Go server's order (serde_json's sorted keys
/// would put `object` first, which the receiver reads through a slower fallback).
pub fn watch_lines(events: &[Value]) -> Vec<String> {
    events.iter().map(modified_line).collect()
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
fn resource_processor() -> Processor {
    let insert = |key: &str, value: &str| Action::Insert {
        key: key.to_owned(),
        from: ValueSource::Value(AnyValue::from(value)),
    };
    Processor::Resource(ResourceProcessorConfig {
        attributes: vec![
            insert("cluster", "bench"),
            insert("node", "bench-node"),
            insert("receiver", "k8s_event"),
            insert("loki.resource.labels", "node,receiver,cluster"),
        ],
    })
}

/// What the Loki exporter does with a batch: encode, split into requests, compress.
fn export(
    batches: Vec<Vec<LogRecord>>,
    opts: &EncodeOptions,
    bytes: &mut usize,
) -> Result<(), String> {
    for batch in batches {
        let encoded = encode_records(&batch, opts, 0);
        for push in encoded.pushes {
            for request in split(push, DEFAULT_MAX_REQUEST_BYTES) {
                *bytes += encode_protobuf(&request).map_err(|e| e.to_string())?.len();
            }
        }
    }
    Ok(())
}

/// Runs `lines` through the pure path, over and over, until at least `n` events are done.
pub fn run(lines: &[String], n: u64) -> Result<FloorResult, String> {
    if lines.is_empty() {
        return Err("no events for the floor".into());
    }
    let opts = EncodeOptions::default();
    let processor = resource_processor();
    let mut batcher = Batcher::new(&BatchProcessorConfig::default());
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
            record.observed_unix_nano = Some(1);
            processor.process(&mut record);
            // One clock reading per event, as the pipeline takes one per received batch.
            export(batcher.push(record, t0), &opts, &mut bytes)?;
            done += 1;
            if done >= n {
                break 'outer;
            }
        }
    }
    export(batcher.flush(), &opts, &mut bytes)?;
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
    use serde_json::json;

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
