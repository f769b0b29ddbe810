//! The exact Loki push requests for a canonical set of events, decoded and snapshotted into
//! `snapshots/loki/`. A change here changes what dashboards query: review it as a product
//! change.

use k8s_event_collector::config::{self, ProcessorConfig};
use k8s_event_collector::exporter::loki::{
    EncodeOptions, PushRequest, decode_json, decode_protobuf, encode_json, encode_protobuf,
    encode_records,
};
use k8s_event_collector::processor::{self, Outcome, Stage};
use k8s_event_collector::receiver::k8s_events::{EventList, WatchEvent};
use k8s_event_collector::record::LogRecord;
use k8s_event_collector::replay::read_events;

/// Wire data captured from a real kube-apiserver, without its `# HTTP` header lines.
fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/kube/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A kubelet-style core/v1 Event with this message.
fn crafted(name: &str, kind: &str, message: &str) -> String {
    serde_json::json!({
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                     "resourceVersion": "900", "creationTimestamp": "2026-11-24T22:49:14Z"},
        "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web-7", "uid": "pod-uid",
                           "apiVersion": "v1", "resourceVersion": "4711"},
        "reason": "Crafted", "message": message, "type": kind, "count": 1,
        "firstTimestamp": "2026-11-24T22:49:14Z", "lastTimestamp": "2026-11-24T22:49:15Z",
        "source": {"component": "kubelet", "host": "node-2"}
    })
    .to_string()
}

/// The canonical events: captured core/v1 and events.k8s.io/v1 (with a count bump and a
/// series bump), plus unicode, multi-line, `<>&` and a 300 KiB message.
fn canonical_records() -> Vec<LogRecord> {
    let mut records = Vec::new();
    for watch in ["watch-core.jsonl", "watch-eventsv1.jsonl"] {
        let recorded = read_events(&fixture(watch));
        assert!(!recorded.records.is_empty(), "{watch} gave no records");
        records.extend(recorded.records);
    }
    let crafted_lines = [
        crafted(
            "unicode.1",
            "Normal",
            "Pulled image \"ghcr.io/ünïcødé/app:1.0\" — 成功 ✓",
        ),
        crafted(
            "multiline.1",
            "Warning",
            "Liveness probe failed:\nHTTP 500\n\tat /healthz",
        ),
        crafted(
            "escapes.1",
            "Warning",
            "query <select> & \"quotes\" \\ backslash",
        ),
        crafted("huge.1", "Warning", &"x".repeat(300 * 1024)),
    ];
    for line in crafted_lines {
        let recorded = read_events(&line);
        assert_eq!(recorded.records.len(), 1, "{:?}", recorded.skipped);
        records.extend(recorded.records);
    }
    records
}

/// Runs the resource processor written in YAML over the records.
fn with_resource_actions(records: &[LogRecord], actions_yaml: &str) -> Vec<LogRecord> {
    let node = config::yaml::parse(actions_yaml)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("bad test YAML"));
    let config: config::processors::ResourceProcessorConfig =
        config::de::from_node(&node).unwrap_or_else(|e| panic!("{e}"));
    let Stage::Record(p) = processor::build(&ProcessorConfig::Resource(config)) else {
        panic!("not a record processor")
    };
    records
        .iter()
        .cloned()
        .filter_map(|mut r| match p.process(&mut r) {
            Outcome::Keep => Some(r),
            Outcome::Drop(_) => None,
        })
        .collect()
}

const REFERENCE_ACTIONS: &str = "attributes:
  - {action: insert, key: cluster, value: tenant-a}
  - {action: insert, key: node, value: node-a}
  - {action: insert, key: receiver, value: k8s_event}
  - {action: insert, key: loki.resource.labels, value: 'node,receiver,cluster'}
";

/// Decoded push requests in a stable text form; lines over 4000 characters (only the 300 KiB
/// message) are shortened to their ends and length, so they do not drown the snapshot.
fn render(pushes: &[(Option<String>, PushRequest)]) -> String {
    let mut out = String::new();
    for (tenant, push) in pushes {
        out.push_str(&format!(
            "tenant: {}\n",
            tenant.as_deref().unwrap_or("(header)")
        ));
        for stream in &push.streams {
            out.push_str(&format!("  stream: {}\n", stream.labels));
            for entry in &stream.entries {
                let ts = entry.timestamp.map_or(0, |t| t.seconds);
                let line = if entry.line.chars().count() > 4000 {
                    let head: String = entry.line.chars().take(120).collect();
                    let tail: String = entry
                        .line
                        .chars()
                        .rev()
                        .take(60)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    format!("{head}…{tail} ({} bytes)", entry.line.len())
                } else {
                    entry.line.clone()
                };
                out.push_str(&format!("    - {ts} {line}\n"));
                for pair in &entry.structured_metadata {
                    out.push_str(&format!("      {}={}\n", pair.name, pair.value));
                }
            }
        }
    }
    out
}

/// Encodes both ways, checks both decode to the same request, returns it per tenant.
fn pushes_of(records: &[LogRecord]) -> Vec<(Option<String>, PushRequest)> {
    let batch = encode_records(records, &EncodeOptions::default(), 0);
    batch
        .pushes
        .iter()
        .map(|push| {
            let proto = decode_protobuf(&encode_protobuf(push).unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_else(|e| panic!("{e}"));
            let json = decode_json(&encode_json(push)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(proto, json, "protobuf and JSON carry different requests");
            (push.tenant.clone(), proto)
        })
        .collect()
}

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({
            snapshot_path => "../../snapshots/loki",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

#[test]
fn each_line_format() {
    let records = canonical_records();
    for format in ["json", "logfmt", "raw"] {
        let actions = format!(
            "{REFERENCE_ACTIONS}  - {{action: insert, key: loki.format, value: {format}}}\n"
        );
        let pushes = pushes_of(&with_resource_actions(&records, &actions));
        snapshot!(format!("canonical_events_{format}"), render(&pushes));
    }
}

#[test]
fn per_record_tenant_and_structured_metadata() {
    let records = canonical_records();
    let actions = format!(
        "{REFERENCE_ACTIONS}  - {{action: insert, key: loki.tenant, value: k8s.namespace.name}}\n  - {{action: insert, key: loki.structured_metadata, value: k8s.event.uid}}\n"
    );
    let pushes = pushes_of(&with_resource_actions(&records, &actions));
    assert!(pushes.len() > 1, "one push per namespace tenant");
    snapshot!("canonical_events_tenant_per_namespace", render(&pushes));
}

#[test]
fn the_huge_message_is_truncated_below_lokis_limit() {
    let records = canonical_records();
    let batch = encode_records(&records, &EncodeOptions::default(), 0);
    let longest = batch
        .pushes
        .iter()
        .flat_map(|p| &p.streams)
        .flat_map(|s| &s.entries)
        .map(|e| e.line.len())
        .max()
        .unwrap_or(0);
    assert!(
        longest <= 256 * 1024,
        "a line of {longest} bytes would be rejected by Loki"
    );
    assert_eq!(batch.truncated_lines, 1);
    // The captured lists decode too (the same events the watches carry).
    assert!(EventList::from_json(&fixture("list-core-page1.json")).is_ok());
    assert!(
        WatchEvent::from_json(fixture("watch-core.jsonl").lines().next().unwrap_or("")).is_ok()
    );
}
