//! A canonical YAML rendering of pushes or stored streams, for insta snapshots: the same input
//! always gives the same text, whatever the arrival times or the body format.
//!
//! Tenants are sorted (no tenant first, as `~`); streams by labels string, with labels sorted
//! by name (so `{b="2", a="1"}` and `{a="1", b="2"}` are one stream); entries keep their order. Timestamps are ranked: every distinct timestamp becomes `t0`, `t1`, ... by value, so
//! `t0` is the earliest and equal timestamps stay visibly equal. Structured metadata is sorted
//! by name, because JSON bodies carry it as an object (sorted on decode) and protobuf bodies as a
//! list (in the sender's order). Every scalar is double-quoted except the ranks, so no line
//! content can change the YAML's shape. Auth shows the user only: `basic <user>:[REDACTED]`.

use std::collections::{BTreeMap, BTreeSet};

use super::labels;
use super::record::{LogEntry, LogStream, RecordedPush};

/// Entries by normalized labels string.
type Streams<'a> = BTreeMap<String, Vec<&'a LogEntry>>;

/// The pushes given, per tenant: the auth they came with and their streams merged by labels
/// (entries in push order, duplicates kept). Filter first to render only some, e.g. the
/// accepted ones ([`RecordedPush::accepted`]).
pub fn canonical_yaml(pushes: &[RecordedPush]) -> String {
    // Per tenant: the auth seen, and the streams.
    let mut tenants: BTreeMap<Option<&str>, (BTreeSet<String>, Streams<'_>)> = BTreeMap::new();
    for push in pushes {
        let (auth, streams) = tenants.entry(push.tenant.as_deref()).or_default();
        auth.insert(push.auth.to_string());
        for stream in &push.streams {
            streams
                .entry(normalized(&stream.labels))
                .or_default()
                .extend(&stream.entries);
        }
    }
    let ranks = Ranks::of(
        tenants
            .values()
            .flat_map(|(_, streams)| streams.values().flatten().copied()),
    );
    let mut out = String::from("tenants:\n");
    for (tenant, (auth, streams)) in &tenants {
        tenant_line(&mut out, *tenant);
        out.push_str("    auth:\n");
        for shown in auth {
            out.push_str(&format!("      - {}\n", quote(shown)));
        }
        write_streams(&mut out, streams, &ranks);
    }
    if tenants.is_empty() {
        out = "tenants: []\n".to_owned();
    }
    out
}

/// Stored streams per tenant (as [`FakeLoki::stored`](super::FakeLoki::stored) gives them).
pub(crate) fn stored_yaml(tenants: &BTreeMap<String, Vec<LogStream>>) -> String {
    let ranks = Ranks::of(tenants.values().flatten().flat_map(|s| &s.entries));
    if tenants.is_empty() {
        return "tenants: []\n".to_owned();
    }
    let mut out = String::from("tenants:\n");
    for (tenant, streams) in tenants {
        tenant_line(&mut out, Some(tenant));
        let streams: Streams<'_> = streams
            .iter()
            .map(|s| (normalized(&s.labels), s.entries.iter().collect()))
            .collect();
        write_streams(&mut out, &streams, &ranks);
    }
    out
}

fn tenant_line(out: &mut String, tenant: Option<&str>) {
    match tenant {
        Some(tenant) => out.push_str(&format!("  - tenant: {}\n", quote(tenant))),
        None => out.push_str("  - tenant: ~\n"),
    }
}

/// The labels string with its labels sorted by name; as given when it does not parse.
fn normalized(labels_string: &str) -> String {
    match labels::parse(labels_string) {
        Ok(mut pairs) => {
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            labels::to_string(&pairs)
        }
        Err(_) => labels_string.to_owned(),
    }
}

fn write_streams(out: &mut String, streams: &Streams<'_>, ranks: &Ranks) {
    if streams.is_empty() {
        out.push_str("    streams: []\n");
        return;
    }
    out.push_str("    streams:\n");
    for (labels_string, entries) in streams {
        match labels::parse(labels_string) {
            Ok(pairs) if !pairs.is_empty() => {
                out.push_str("      - labels:\n");
                for (name, value) in pairs {
                    out.push_str(&format!("          {}: {}\n", key(&name), quote(&value)));
                }
            }
            // Shown as sent when it is not a label set Loki would read.
            _ => out.push_str(&format!("      - labels: {}\n", quote(labels_string))),
        }
        if entries.is_empty() {
            out.push_str("        entries: []\n");
            continue;
        }
        out.push_str("        entries:\n");
        for entry in entries {
            out.push_str(&format!("          - at: {}\n", ranks.of_entry(entry)));
            out.push_str(&format!("            line: {}\n", quote(&entry.line)));
            if !entry.structured_metadata.is_empty() {
                let mut metadata: Vec<&(String, String)> =
                    entry.structured_metadata.iter().collect();
                metadata.sort_by(|a, b| a.0.cmp(&b.0));
                out.push_str("            structured_metadata:\n");
                for (name, value) in metadata {
                    out.push_str(&format!("              {}: {}\n", key(name), quote(value)));
                }
            }
        }
    }
}

/// Distinct timestamps by value.
struct Ranks(Vec<i64>);

impl Ranks {
    fn of<'a>(entries: impl Iterator<Item = &'a LogEntry>) -> Self {
        let distinct: BTreeSet<i64> = entries.map(|e| e.timestamp_unix_nano).collect();
        Self(distinct.into_iter().collect())
    }

    fn of_entry(&self, entry: &LogEntry) -> String {
        // Every entry rendered was ranked, so the search always finds it.
        let rank = self
            .0
            .binary_search(&entry.timestamp_unix_nano)
            .unwrap_or_else(|i| i);
        format!("t{rank}")
    }
}

/// A mapping key: bare when it is a plain identifier, else quoted.
fn key(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
    // `y`, `n`, `null`, `true`... would read as other types in YAML 1.1.
    let reserved = matches!(
        name.to_ascii_lowercase().as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
    );
    if plain && !reserved {
        name.to_owned()
    } else {
        quote(name)
    }
}

/// A YAML double-quoted scalar.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            // Controls, and the characters YAML treats as line breaks.
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let code = u32::from(c);
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02x}"));
                } else {
                    out.push_str(&format!("\\u{code:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::super::record::AuthSeen;
    use super::*;

    fn entry(ts: i64, line: &str, metadata: &[(&str, &str)]) -> LogEntry {
        LogEntry {
            timestamp_unix_nano: ts,
            line: line.to_owned(),
            structured_metadata: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn push(tenant: Option<&str>, received: u64, streams: Vec<LogStream>) -> RecordedPush {
        RecordedPush {
            received_at: SystemTime::UNIX_EPOCH + Duration::from_secs(received),
            tenant: tenant.map(str::to_owned),
            auth: AuthSeen::Basic {
                user: "collector".into(),
            },
            auth_ok: true,
            status: 204,
            answer: String::new(),
            injected: false,
            content_type: None,
            content_encoding: None,
            body_bytes: 0,
            streams,
            decode_error: None,
        }
    }

    fn pushes(base: i64, received: u64) -> Vec<RecordedPush> {
        vec![
            push(
                Some("tenant-b"),
                received,
                vec![LogStream {
                    labels: r#"{job="z"}"#.into(),
                    entries: vec![entry(base + 5, "b", &[])],
                }],
            ),
            push(
                Some("tenant-a"),
                received + 1,
                vec![
                    LogStream {
                        labels: r#"{level="info", job="y"}"#.into(),
                        entries: vec![
                            entry(base + 9, "line: \"q\"\n", &[("z", "1"), ("a", "2")]),
                            entry(base, "first", &[]),
                        ],
                    },
                    LogStream {
                        labels: r#"{job="x"}"#.into(),
                        entries: vec![entry(base + 9, "same time", &[])],
                    },
                ],
            ),
        ]
    }

    #[test]
    fn renders_sorted_ranked_and_quoted() {
        let yaml = canonical_yaml(&pushes(1_700_000_000_000_000_000, 10));
        assert_eq!(
            yaml,
            r#"tenants:
  - tenant: "tenant-a"
    auth:
      - "basic collector:[REDACTED]"
    streams:
      - labels:
          job: "x"
        entries:
          - at: t2
            line: "same time"
      - labels:
          job: "y"
          level: "info"
        entries:
          - at: t2
            line: "line: \"q\"\n"
            structured_metadata:
              a: "2"
              z: "1"
          - at: t0
            line: "first"
  - tenant: "tenant-b"
    auth:
      - "basic collector:[REDACTED]"
    streams:
      - labels:
          job: "z"
        entries:
          - at: t1
            line: "b"
"#
        );
    }

    #[test]
    fn is_deterministic_across_runs_clocks_and_push_order() {
        let a = canonical_yaml(&pushes(1_700_000_000_000_000_000, 10));
        let mut other = pushes(1_800_000_000_000_000_000, 99);
        other.reverse();
        assert_eq!(a, canonical_yaml(&other));
        assert_eq!(canonical_yaml(&[]), "tenants: []\n");
    }

    #[test]
    fn awkward_text_stays_one_quoted_scalar() {
        assert_eq!(quote("a\u{1}b\u{2028}\\"), "\"a\\x01b\\u2028\\\\\"");
        assert_eq!(key("true"), "\"true\"");
        assert_eq!(key("k8s.pod"), "\"k8s.pod\"");
        assert_eq!(key("k8s_pod"), "k8s_pod");
    }

    #[test]
    fn stored_yaml_lists_tenants_and_streams() {
        let tenants = BTreeMap::from([(
            "t".to_owned(),
            vec![LogStream {
                labels: r#"{job="x", service_name="x"}"#.into(),
                entries: vec![entry(7, "a", &[]), entry(9, "b", &[])],
            }],
        )]);
        let yaml = stored_yaml(&tenants);
        assert!(yaml.contains("          service_name: \"x\"\n"), "{yaml}");
        assert!(
            yaml.contains("          - at: t1\n            line: \"b\"\n"),
            "{yaml}"
        );
        assert_eq!(stored_yaml(&BTreeMap::new()), "tenants: []\n");
    }
}
