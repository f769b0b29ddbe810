//! `replay`: recorded Kubernetes events through a config's pipelines, printing what each
//! exporter would send, without a cluster or a Loki. A dry run for config changes.

use std::fmt::Write;

use crate::config::exporters::LokiExporterConfig;
use crate::config::{Config, ExporterConfig};
use crate::exporter::{debug, loki};
use crate::processor::{self, Outcome, Stage};
use crate::receiver::k8s_events::{Event, EventList, WatchEvent};
use crate::record::LogRecord;

/// Events read from a file, with what was skipped and why.
#[derive(Debug, Default)]
pub struct Recorded {
    pub records: Vec<LogRecord>,
    /// One line per input item that did not become a record.
    pub skipped: Vec<String>,
}

/// Reads events from a LIST body (`{"items": [...]}`), watch lines (`{"type": ..., "object":
/// ...}`, one per line) or Event objects (one per line). Lines starting with `#` are comments.
pub fn read_events(text: &str) -> Recorded {
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Recorded::default();
    if let Ok(list) = EventList::from_json(&body)
        && !list.items.is_empty()
    {
        for event in &list.items {
            push_event(&mut out, event);
        }
        return out;
    }
    for (i, line) in body
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match WatchEvent::from_json(line) {
            Ok(WatchEvent::Added(e) | WatchEvent::Modified(e)) => push_event(&mut out, &e),
            Ok(WatchEvent::Deleted(_)) => out
                .skipped
                .push(format!("item {}: DELETED is not a new occurrence", i + 1)),
            Ok(WatchEvent::Bookmark { .. }) => {}
            Ok(WatchEvent::Expired(status) | WatchEvent::Error(status)) => {
                out.skipped
                    .push(format!("item {}: watch error: {status}", i + 1));
            }
            Err(_) => match Event::from_json(line) {
                Ok(event) => push_event(&mut out, &event),
                Err(e) => out
                    .skipped
                    .push(format!("item {}: not an event: {e}", i + 1)),
            },
        }
    }
    out
}

fn push_event(out: &mut Recorded, event: &Event<'_>) {
    match event.to_log_record() {
        Ok(record) => out.records.push(record),
        Err(e) => out.skipped.push(format!("event {}: {e}", event.name())),
    }
}

/// Runs `records` through every pipeline of `config`; returns the report of what each exporter
/// would send. `now_unix_nano` stamps entries of records without a time.
pub fn replay(config: &Config, records: &[LogRecord], now_unix_nano: i64) -> String {
    let mut out = String::new();
    for pipeline in &config.service.pipelines {
        let stages: Vec<Stage> = pipeline
            .config
            .processors
            .iter()
            .filter_map(|id| config.processor(id))
            .map(|p| processor::build(&p.config))
            .collect();
        let mut kept = Vec::with_capacity(records.len());
        let mut dropped = 0;
        'records: for record in records {
            let mut record = record.clone();
            for stage in &stages {
                if let Stage::Record(p) = stage
                    && let Outcome::Drop(_) = p.process(&mut record)
                {
                    dropped += 1;
                    continue 'records;
                }
            }
            kept.push(record);
        }
        let _ = writeln!(
            out,
            "pipeline {}: {} records in, {} dropped by processors",
            pipeline.id,
            records.len(),
            dropped
        );
        for id in &pipeline.config.exporters {
            let Some(exporter) = config.exporter(id) else {
                continue;
            };
            match &exporter.config {
                ExporterConfig::Loki(loki_config) => {
                    out.push_str(&describe_loki(id, loki_config, &kept, now_unix_nano));
                }
                ExporterConfig::Debug(d) => {
                    let _ = writeln!(out, "exporter {id} would print:");
                    out.push_str(&debug::render(&kept, d.verbosity));
                }
                ExporterConfig::OtlpHttp(o) => {
                    let url = o.logs_endpoint.clone().unwrap_or_else(|| {
                        format!(
                            "{}/v1/logs",
                            o.endpoint.as_deref().unwrap_or("").trim_end_matches('/')
                        )
                    });
                    let _ = writeln!(
                        out,
                        "exporter {id} would POST {} records to {url}:",
                        kept.len()
                    );
                    out.push_str(&debug::render(
                        &kept,
                        crate::config::exporters::Verbosity::Normal,
                    ));
                }
            }
        }
    }
    out
}

fn describe_loki(id: &str, config: &LokiExporterConfig, records: &[LogRecord], now: i64) -> String {
    let mut out = String::new();
    let batch = loki::encode_records(records, &loki::send::encode_options(config), now);
    let header_tenant = config.headers.get_ignore_case("X-Scope-OrgID");
    for push in &batch.pushes {
        let tenant = push.tenant.as_deref().or(header_tenant).unwrap_or("(none)");
        let _ = writeln!(
            out,
            "exporter {id} would POST {} ({:?}, tenant {tenant}): {} streams, {} entries",
            config.endpoint,
            config.encoding,
            push.streams.len(),
            push.entry_count()
        );
        for stream in &push.streams {
            let _ = writeln!(out, "  stream {}", stream.labels_string);
            for entry in &stream.entries {
                let _ = writeln!(out, "    {} {}", entry.timestamp_unix_nano, entry.line);
            }
        }
    }
    if batch.dropped.total() > 0 {
        let _ = writeln!(
            out,
            "exporter {id} would drop {} records (unknown loki.format or unencodable values)",
            batch.dropped.total()
        );
    }
    out
}
