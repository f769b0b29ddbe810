//! Test support for the receiver's network side: the captured API answers
//! (`collector/tests/fixtures/kube/`, see its README) and the records they should give.

#![allow(clippy::unwrap_used)]

use crate::config::receivers::K8sEventsConfig;
use crate::record::LogRecord;

use super::wire::{EventList, WatchEvent};

pub const PAGE1: &str = "list-core-page1.json";
pub const PAGE2: &str = "list-core-page2.json";
pub const WATCH: &str = "watch-core.jsonl";
pub const WATCH_EXPIRED: &str = "watch-core-expired-rv.jsonl";
pub const LIST_EXPIRED: &str = "list-core-expired-continue.json";
pub const LIST_FORBIDDEN: &str = "list-core-forbidden-sa.json";

/// A captured answer's body: the file without its leading `# HTTP ...` lines.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/kube/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A captured LIST page made the last one (its `continue` emptied): the capture went on for
/// 80 pages, the tests stop after two.
pub fn last_page(name: &str) -> String {
    let mut list: serde_json::Value = serde_json::from_str(&fixture(name)).unwrap();
    list["metadata"]["continue"] = "".into();
    list.to_string()
}

/// The continue token of a captured page.
pub fn continue_token(name: &str) -> String {
    let body = fixture(name);
    EventList::from_json(&body)
        .unwrap()
        .continue_token()
        .unwrap()
        .to_owned()
}

/// The records of a LIST page's items with the given resourceVersions, as the mapping makes them.
pub fn listed(name: &str, resource_versions: &[&str]) -> Vec<LogRecord> {
    let body = fixture(name);
    let list = EventList::from_json(&body).unwrap();
    resource_versions
        .iter()
        .map(|rv| {
            let event = list
                .items
                .iter()
                .find(|e| e.resource_version() == *rv)
                .unwrap();
            event.to_log_record().unwrap()
        })
        .collect()
}

/// The records of a watch capture's lines with the given resourceVersions.
pub fn watched(name: &str, resource_versions: &[&str]) -> Vec<LogRecord> {
    let body = fixture(name);
    let events: Vec<WatchEvent<'_>> = body
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| WatchEvent::from_json(l).unwrap())
        .collect();
    resource_versions
        .iter()
        .map(|rv| {
            let event = events
                .iter()
                .find_map(|w| match w {
                    WatchEvent::Added(e) | WatchEvent::Modified(e)
                        if e.resource_version() == *rv =>
                    {
                        Some(e)
                    }
                    _ => None,
                })
                .unwrap();
            event.to_log_record().unwrap()
        })
        .collect()
}

/// `records` with their observed timestamps checked (set, within the test's run) and cleared,
/// to compare with the mapping's records.
pub fn observed(mut records: Vec<LogRecord>) -> Vec<LogRecord> {
    for record in &mut records {
        let observed = record.observed_unix_nano.take().unwrap();
        // After 2024 and not in the future.
        assert!(observed > 1_700_000_000_000_000_000, "{observed}");
        assert!(observed <= super::watcher::Moment::now().unix_nanos);
    }
    records
}

/// The config of a receiver reading core/v1 events cluster-wide.
pub fn config(yaml_like: impl FnOnce(&mut K8sEventsConfig)) -> K8sEventsConfig {
    let mut config = K8sEventsConfig::default();
    yaml_like(&mut config);
    config
}
