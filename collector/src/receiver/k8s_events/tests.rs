//! The mapping and the wire decoding against answers captured from a real kube-apiserver
//! (`collector/tests/fixtures/kube/`, see its README), plus property tests on generated events.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::time::Time;
use super::time::tests::rfc3339;
use super::*;
use crate::record::{AnyValue, Attributes, LogRecord, SeverityNumber};

/// A captured answer's body: the file without its leading `# HTTP ...` comment lines.
fn body(file: &'static str) -> &'static str {
    let mut rest = file;
    while rest.starts_with('#') {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest
}

macro_rules! fixture {
    ($name:literal) => {
        body(include_str!(concat!(
            "../../../tests/fixtures/kube/",
            $name
        )))
    };
}

/// The lines of a captured watch stream.
fn watch_lines(body: &'static str) -> Vec<WatchEvent<'static>> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| WatchEvent::from_json(l).unwrap())
        .collect()
}

/// What an event's record should be. The attribute names and their order are written out here,
/// independently of the mapping.
struct Expect {
    timestamp_secs: i64,
    severity: SeverityNumber,
    severity_text: &'static str,
    body: &'static str,
    /// node, kind, name, uid, fieldpath, api_version, resource_version.
    resource: [&'static str; 7],
    /// reason, action, start_time, name, uid, namespace.
    attributes: [&'static str; 6],
    count: Option<i64>,
}

impl Expect {
    fn record(&self) -> LogRecord {
        let resource_keys = [
            "k8s.node.name",
            "k8s.object.kind",
            "k8s.object.name",
            "k8s.object.uid",
            "k8s.object.fieldpath",
            "k8s.object.api_version",
            "k8s.object.resource_version",
        ];
        let attribute_keys = [
            "k8s.event.reason",
            "k8s.event.action",
            "k8s.event.start_time",
            "k8s.event.name",
            "k8s.event.uid",
            "k8s.namespace.name",
        ];
        let mut attributes: Attributes = attribute_keys
            .into_iter()
            .zip(self.attributes)
            .map(|(k, v)| (k, AnyValue::from(v)))
            .collect();
        if let Some(count) = self.count {
            attributes.upsert("k8s.event.count", count);
        }
        LogRecord {
            timestamp_unix_nano: Some(self.timestamp_secs * 1_000_000_000),
            observed_unix_nano: None,
            severity_number: self.severity,
            severity_text: self.severity_text.into(),
            body: AnyValue::from(self.body),
            attributes,
            resource: resource_keys.into_iter().zip(self.resource).collect(),
        }
    }
}

// Seconds from `date -u -d <time> +%s`.
const T_22_45_52: i64 = 1_795_560_352;
const T_22_45_53: i64 = 1_795_560_353;
const T_22_46_23: i64 = 1_795_560_383;
const T_22_46_26: i64 = 1_795_560_386;
const T_22_49_14: i64 = 1_795_560_554;
const T_22_49_16: i64 = 1_795_560_556;
const T_22_49_17: i64 = 1_795_560_557;
const T_22_49_18: i64 = 1_795_560_558;

const WEB_7_POD: [&str; 7] = [
    "node-2",
    "Pod",
    "web-7",
    "0b7f5d7e-2f0e-4c55-9d1e-7a1f3c2b9e11",
    "spec.containers{app}",
    "v1",
    "4711",
];
const DB_STATEFULSET: [&str; 7] = [
    "",
    "StatefulSet",
    "db",
    "5e0c3c1a-8d5b-4f0e-a1f2-0c9d8e7f6a5b",
    "",
    "apps/v1",
    "",
];
const BACKOFF: &str = "Back-off restarting failed container app in pod web-7_shop";
const CREATE_DB_0: &str = "create Pod db-0 in StatefulSet db successful";

#[test]
fn kubelet_style_core_event() {
    let ev = Event::from_json(fixture!("create-core.json")).unwrap();
    assert_eq!(ev.api(), EventApi::Core);
    assert_eq!(
        ev.key(),
        EventKey {
            uid: "00eac67b-80b5-4aa9-a394-9270bbe9fcb9".into(),
            resource_version: "396".into(),
        }
    );
    assert_eq!((ev.namespace(), ev.name()), ("shop", "web-7.fixturee80025"));
    let expect = Expect {
        timestamp_secs: T_22_46_23,
        severity: SeverityNumber::WARN,
        severity_text: "Warning",
        body: BACKOFF,
        resource: WEB_7_POD,
        attributes: [
            "BackOff",
            "",
            "2026-11-24 22:46:23 +0000 UTC",
            "web-7.fixturee80025",
            "00eac67b-80b5-4aa9-a394-9270bbe9fcb9",
            "shop",
        ],
        count: Some(1),
    };
    assert_eq!(ev.to_log_record().unwrap(), expect.record());
}

#[test]
fn controller_style_events_v1_event() {
    let ev = Event::from_json(fixture!("create-eventsv1.json")).unwrap();
    assert_eq!(ev.api(), EventApi::EventsV1);
    assert_eq!(
        ev.key(),
        EventKey {
            uid: "a66f3428-dae3-4aba-b3fd-d12a1b15901a".into(),
            resource_version: "398".into(),
        }
    );
    assert_eq!(
        (ev.namespace(), ev.name()),
        ("payments", "db-0.fixtureb464d3")
    );
    let expect = Expect {
        timestamp_secs: T_22_46_26,
        severity: SeverityNumber::INFO,
        severity_text: "Normal",
        body: CREATE_DB_0,
        resource: DB_STATEFULSET,
        attributes: [
            "SuccessfulCreate",
            "Create",
            "2026-11-24 22:46:26 +0000 UTC",
            "db-0.fixtureb464d3",
            "a66f3428-dae3-4aba-b3fd-d12a1b15901a",
            "payments",
        ],
        count: None,
    };
    assert_eq!(ev.to_log_record().unwrap(), expect.record());
}

fn web_7_watch(timestamp_secs: i64, count: i64) -> LogRecord {
    Expect {
        timestamp_secs,
        severity: SeverityNumber::WARN,
        severity_text: "Warning",
        body: BACKOFF,
        resource: WEB_7_POD,
        attributes: [
            "BackOff",
            "",
            "2026-11-24 22:49:14 +0000 UTC",
            "web-7.fixturee66522",
            "0ee70f8e-f51c-44dc-a5f4-c2b9b6c88ce4",
            "shop",
        ],
        count: Some(count),
    }
    .record()
}

fn db_0_watch(timestamp_secs: i64, count: Option<i64>) -> LogRecord {
    Expect {
        timestamp_secs,
        severity: SeverityNumber::INFO,
        severity_text: "Normal",
        body: CREATE_DB_0,
        resource: DB_STATEFULSET,
        attributes: [
            "SuccessfulCreate",
            "Create",
            "2026-11-24 22:49:17 +0000 UTC",
            "db-0.fixturef09d63",
            "8a9ecab2-47c2-4f20-817a-d87e6d137002",
            "payments",
        ],
        count,
    }
    .record()
}

/// The watch fixtures: a kubelet-style event created and its count bumped, a controller-style
/// event created and its series bumped, the first deleted. Each line's record, checked in full.
fn check_watch_stream(lines: &[WatchEvent<'_>], api: EventApi) {
    let expected = [
        ("ADDED", "418", web_7_watch(T_22_49_14, 1)),
        // The count bump: a new occurrence, dated by lastTimestamp.
        ("MODIFIED", "419", web_7_watch(T_22_49_16, 2)),
        ("ADDED", "420", db_0_watch(T_22_49_17, None)),
        // The series bump: dated by series.lastObservedTime, counted by series.count.
        ("MODIFIED", "421", db_0_watch(T_22_49_18, Some(2))),
        ("DELETED", "422", web_7_watch(T_22_49_16, 2)),
    ];
    assert_eq!(lines.len(), expected.len());
    for (line, (kind, rv, record)) in lines.iter().zip(expected) {
        let ev = match (line, kind) {
            (WatchEvent::Added(ev), "ADDED")
            | (WatchEvent::Modified(ev), "MODIFIED")
            | (WatchEvent::Deleted(ev), "DELETED") => ev,
            _ => panic!("expected {kind}, got {line:?}"),
        };
        assert_eq!(ev.api(), api);
        assert_eq!(ev.resource_version(), rv);
        assert_eq!(line.resource_version(), Some(rv));
        assert_eq!(ev.to_log_record().unwrap(), record, "{kind} {rv}");
    }
}

#[test]
fn core_watch_stream() {
    check_watch_stream(&watch_lines(fixture!("watch-core.jsonl")), EventApi::Core);
}

#[test]
fn events_v1_watch_stream() {
    check_watch_stream(
        &watch_lines(fixture!("watch-eventsv1.jsonl")),
        EventApi::EventsV1,
    );
}

/// The same changes seen through both APIs are the same occurrences (keys) and the same records.
#[test]
fn both_apis_give_the_same_records() {
    let core = watch_lines(fixture!("watch-core.jsonl"));
    let v1 = watch_lines(fixture!("watch-eventsv1.jsonl"));
    let event = |w: &WatchEvent<'static>| match w {
        WatchEvent::Added(ev) | WatchEvent::Modified(ev) | WatchEvent::Deleted(ev) => ev.clone(),
        other => panic!("{other:?}"),
    };
    for (c, v) in core.iter().zip(&v1) {
        let (c, v) = (event(c), event(v));
        assert_eq!(c.key(), v.key());
        assert_eq!((c.namespace(), c.name()), (v.namespace(), v.name()));
        assert_eq!(c.to_log_record().unwrap(), v.to_log_record().unwrap());
    }

    let core = EventList::from_json(fixture!("list-core-page1.json")).unwrap();
    let v1 = EventList::from_json(fixture!("list-eventsv1-page1.json")).unwrap();
    assert_eq!(core.items.len(), 2);
    assert_eq!(v1.items.len(), 2);
    for (c, v) in core.items.iter().zip(&v1.items) {
        assert_eq!((c.api(), v.api()), (EventApi::Core, EventApi::EventsV1));
        assert_eq!(c.key(), v.key());
        assert_eq!(c.to_log_record().unwrap(), v.to_log_record().unwrap());
    }
}

#[test]
fn list_pages() {
    let page1 = EventList::from_json(fixture!("list-core-page1.json")).unwrap();
    assert_eq!(page1.kind, "EventList");
    assert_eq!(page1.resource_version(), "395");
    assert_eq!(
        page1.continue_token(),
        Some(
            "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mzk1LCJzdGFydCI6InBheW1lbnRzL3dlYi0wLjVjZTI2MWE4ZGYzODRkYTFcdTAwMDAifQ"
        )
    );
    assert_eq!(page1.metadata.remaining_item_count, Some(161));
    // A scheduler event seen three times: dated by its lastTimestamp, started at its creation.
    let scheduled = Expect {
        timestamp_secs: T_22_45_53,
        severity: SeverityNumber::INFO,
        severity_text: "Normal",
        body: "Successfully assigned payments/web-19 to node-2 [gen-warm-194]",
        resource: [
            "node-2",
            "Pod",
            "web-0",
            "b25e0fdd-01d4-496d-852a-3c8781dd4929",
            "spec.containers{app}",
            "v1",
            "7896",
        ],
        attributes: [
            "Scheduled",
            "",
            "2026-11-24 22:45:52 +0000 UTC",
            "web-0.195b5ba74c464f33",
            "4f383140-8513-4de1-bfe5-0fb0917e5ff0",
            "payments",
        ],
        count: Some(3),
    };
    assert_eq!(page1.items[0].to_log_record().unwrap(), scheduled.record());
    assert_eq!(
        page1.items[1].key(),
        EventKey {
            uid: "66ffae70-2e38-42ac-9f25-65974a10213c".into(),
            resource_version: "283".into(),
        }
    );

    let page2 = EventList::from_json(fixture!("list-core-page2.json")).unwrap();
    assert_eq!(page2.resource_version(), "395");
    assert_eq!(
        page2.continue_token(),
        Some(
            "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mzk1LCJzdGFydCI6InBheW1lbnRzL3dlYi0wLjkwNzhkNTliZmNjMTRlZjBcdTAwMDAifQ"
        )
    );
    assert_eq!(page2.metadata.remaining_item_count, Some(159));
    let unhealthy = page2.items[0].to_log_record().unwrap();
    // JSON escapes in the message are decoded.
    assert_eq!(
        unhealthy.body,
        AnyValue::from(
            "Readiness probe failed: HTTP probe failed with statuscode: 503 <html>&amp;</html> [gen-warm-178]"
        )
    );
    assert_eq!(unhealthy.severity_number, SeverityNumber::WARN);
    assert_eq!(
        unhealthy.timestamp_unix_nano,
        Some(T_22_45_53 * 1_000_000_000)
    );
    let backoff = page2.items[1].to_log_record().unwrap();
    assert_eq!(
        backoff.timestamp_unix_nano,
        Some(T_22_45_52 * 1_000_000_000)
    );

    let ns = EventList::from_json(fixture!("list-core-namespace-page1.json")).unwrap();
    assert_eq!(ns.metadata.remaining_item_count, Some(77));
    assert!(ns.continue_token().is_some());
    for item in &ns.items {
        assert_eq!(item.api(), EventApi::Core);
        assert_eq!(item.namespace(), "shop");
        let r = item.to_log_record().unwrap();
        assert_eq!(
            r.attributes.get("k8s.namespace.name"),
            Some(&AnyValue::from("shop"))
        );
        assert_eq!(
            r.resource.get("k8s.node.name"),
            Some(&AnyValue::from("node-1"))
        );
    }

    let v1 = EventList::from_json(fixture!("list-eventsv1-page1.json")).unwrap();
    assert_eq!(v1.api_version, "events.k8s.io/v1");
    // Items inherit the list's apiVersion.
    assert!(v1.items.iter().all(|i| i.api_version == "events.k8s.io/v1"));
    assert_eq!(v1.continue_token(), page1.continue_token());
}

#[test]
fn watch_expired_is_its_own_variant() {
    for body in [
        fixture!("watch-core-expired-rv.jsonl"),
        fixture!("watch-eventsv1-expired-rv.jsonl"),
    ] {
        let lines = watch_lines(body);
        assert_eq!(lines.len(), 1);
        let WatchEvent::Expired(status) = &lines[0] else {
            panic!("not Expired: {:?}", lines[0]);
        };
        assert_eq!(status.code, 410);
        assert_eq!(status.reason, "Expired");
        assert_eq!(
            status.message,
            "The resourceVersion for the provided watch is too old."
        );
        assert_eq!(lines[0].resource_version(), None);
    }
    // Any other ERROR is just an error.
    let other = WatchEvent::from_json(
        r#"{"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"etcd is down","reason":"InternalError","code":500}}"#,
    )
    .unwrap();
    assert!(matches!(other, WatchEvent::Error(s) if s.code == 500 && s.message == "etcd is down"));
}

#[test]
fn bookmark_moves_only_the_resource_version() {
    let line = r#"{"type":"BOOKMARK","object":{"kind":"Event","apiVersion":"v1","metadata":{"resourceVersion":"12746","creationTimestamp":null},"involvedObject":{},"reportingComponent":"","reportingInstance":""}}"#;
    let ev = WatchEvent::from_json(line).unwrap();
    assert!(
        matches!(&ev, WatchEvent::Bookmark { resource_version } if resource_version == "12746")
    );
    assert_eq!(ev.resource_version(), Some("12746"));
}

#[test]
fn list_expired_is_a_status() {
    let body = fixture!("list-core-expired-continue.json");
    let Err(WireError::Status(status)) = EventList::from_json(body) else {
        panic!("not a Status error");
    };
    assert!(status.is_expired());
    assert_eq!(
        status.message,
        "The resourceVersion for the provided list is too old."
    );
    assert_eq!(Status::from_json(body).unwrap(), status);
}

#[test]
fn forbidden_and_unauthorized_messages() {
    let cases = [
        (
            fixture!("list-core-forbidden-sa.json"),
            r#"events is forbidden: User "system:serviceaccount:otel:no-rbac" cannot list resource "events" in API group "" at the cluster scope"#,
        ),
        (
            fixture!("watch-core-forbidden-sa.json"),
            r#"events is forbidden: User "system:serviceaccount:otel:no-rbac" cannot watch resource "events" in API group "" at the cluster scope"#,
        ),
        (
            fixture!("list-namespace-forbidden-sa.json"),
            r#"events is forbidden: User "system:serviceaccount:otel:no-rbac" cannot list resource "events" in API group "" in the namespace "shop""#,
        ),
        (
            fixture!("list-core-forbidden-anonymous.json"),
            r#"events is forbidden: User "system:anonymous" cannot list resource "events" in API group "" at the cluster scope"#,
        ),
    ];
    for (body, message) in cases {
        let status = Status::from_json(body).unwrap();
        assert!(status.is_forbidden() && !status.is_expired() && !status.is_unauthorized());
        assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
        assert_eq!(status.message, message);
        let err = EventList::from_json(body).unwrap_err();
        assert!(err.to_string().contains(message), "{err}");
    }

    let status = Status::from_json(fixture!("list-core-unauthorized.json")).unwrap();
    assert!(status.is_unauthorized() && !status.is_forbidden());
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
    assert_eq!(
        status.to_string(),
        r#"Unauthorized (reason "Unauthorized", code 401)"#
    );
}

/// The fixture copies are the files the README describes, with their header lines.
#[test]
fn fixtures_are_captured_answers() {
    let raw = include_str!("../../../tests/fixtures/kube/list-core-page1.json");
    assert!(raw.starts_with("# HTTP 200\n"));
    assert!(body(raw).starts_with(r#"{"kind":"EventList""#));
    let anonymous = fixture!("list-core-forbidden-anonymous.json");
    assert!(anonymous.starts_with('{'));
}

// ---- property tests ----

/// Names the mapping reads, so that generated objects hit real fields with wrong shapes.
const FIELD_NAMES: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "reason",
    "action",
    "type",
    "eventTime",
    "series",
    "count",
    "lastObservedTime",
    "involvedObject",
    "regarding",
    "fieldPath",
    "message",
    "note",
    "source",
    "deprecatedSource",
    "host",
    "firstTimestamp",
    "lastTimestamp",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
    "deprecatedCount",
    "items",
    "continue",
    "object",
    "code",
];

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,10}".prop_map(Value::from),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
            .prop_map(Value::from),
        prop::sample::select(vec!["v1", "events.k8s.io/v1", "Status", "ADDED", "ERROR", "BOOKMARK"])
            .prop_map(Value::from),
    ];
    let key = prop_oneof![
        prop::sample::select(FIELD_NAMES).prop_map(String::from),
        "[a-z]{1,5}",
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Everything that reads API server answers, on one input: none may panic.
fn read_everything(text: &str) {
    if let Ok(ev) = Event::from_json(text) {
        let _ = ev.api();
        let _ = ev.key();
        let _ = ev.to_log_record();
    }
    if let Ok(list) = EventList::from_json(text) {
        for item in &list.items {
            let _ = item.to_log_record();
        }
    }
    if let Ok(WatchEvent::Added(ev) | WatchEvent::Modified(ev) | WatchEvent::Deleted(ev)) =
        WatchEvent::from_json(text)
    {
        let _ = ev.to_log_record();
    }
    let _ = Status::from_json(text);
}

/// One generated time field: the instant and how it is written.
#[derive(Debug, Clone, Copy)]
struct GenTime {
    time: Time,
    offset_minutes: i32,
    frac_digits: usize,
}

impl GenTime {
    fn text(self) -> String {
        rfc3339(self.time, self.offset_minutes, self.frac_digits)
    }

    /// The instant the text stands for (the fraction cut to the written digits).
    fn nanos(self) -> i64 {
        let unit = 10i64.pow(9 - self.frac_digits as u32);
        let nanos = i64::from(self.time.subsec_nanos()) / unit * unit;
        self.time.unix_secs() * 1_000_000_000 + nanos
    }
}

fn gen_time() -> impl Strategy<Value = GenTime> {
    // Within the years a nanosecond timestamp holds (1678 to 2261), and often close together so
    // that ties and near-ties happen.
    let secs = prop_oneof![
        -9_000_000_000i64..9_000_000_000,
        1_795_560_350i64..1_795_560_360,
    ];
    (
        secs,
        prop_oneof![Just(0u32), 0u32..1_000_000_000],
        prop_oneof![Just(0), -(23 * 60 + 59)..=(23 * 60 + 59)],
        prop::sample::select(vec![0usize, 0, 3, 6, 6, 9]),
    )
        .prop_map(|(secs, nanos, offset_minutes, frac_digits)| GenTime {
            time: Time::from_unix(secs, nanos).unwrap(),
            offset_minutes,
            frac_digits,
        })
}

/// A generated event, written through either API.
#[derive(Debug, Clone)]
struct GenEvent {
    strings: Vec<Option<String>>,
    event_type: Option<String>,
    /// series.lastObservedTime, last, eventTime, first, creation.
    times: [Option<GenTime>; 5],
    old_count: Option<i64>,
    series_count: Option<i64>,
    with_api_version: bool,
    /// Absent fields are written as `null` rather than left out.
    nulls: bool,
}

const STRING_FIELDS: usize = 14;

fn gen_event() -> impl Strategy<Value = GenEvent> {
    let text = prop::option::of("[a-zA-Z0-9 ._{}<>\"\\\\/é-]{0,8}");
    (
        prop::collection::vec(text, STRING_FIELDS),
        prop::option::of(prop::sample::select(vec![
            "Normal", "Warning", "normal", "WARNING", "Error", "Critical", "Info", "",
        ])),
        [
            prop::option::of(gen_time()),
            prop::option::of(gen_time()),
            prop::option::of(gen_time()),
            prop::option::of(gen_time()),
            prop::option::of(gen_time()),
        ],
        prop::option::of(prop_oneof![Just(0i64), 1i64..1000, any::<i64>()]),
        prop::option::of(prop_oneof![Just(0i64), 1i64..1000]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(strings, event_type, times, old_count, series_count, with_api_version, nulls)| {
                GenEvent {
                    strings,
                    event_type: event_type.map(String::from),
                    times,
                    old_count,
                    series_count,
                    with_api_version,
                    nulls,
                }
            },
        )
}

impl GenEvent {
    fn s(&self, i: usize) -> &str {
        self.strings[i].as_deref().unwrap_or("")
    }

    fn put(&self, obj: &mut Map<String, Value>, key: &str, value: Option<Value>) {
        match value {
            Some(v) => {
                obj.insert(key.into(), v);
            }
            None if self.nulls => {
                obj.insert(key.into(), Value::Null);
            }
            None => {}
        }
    }

    fn text(&self, i: usize) -> Option<Value> {
        self.strings[i].clone().map(Value::from)
    }

    fn time(&self, i: usize) -> Option<Value> {
        self.times[i].map(|t| Value::from(t.text()))
    }

    /// The event as `api` writes it.
    fn json(&self, api: EventApi) -> String {
        let core = api == EventApi::Core;
        let mut meta = Map::new();
        for (i, key) in ["name", "namespace", "uid", "resourceVersion"]
            .iter()
            .enumerate()
        {
            self.put(&mut meta, key, self.text(i));
        }
        self.put(&mut meta, "creationTimestamp", self.time(4));

        let mut object = Map::new();
        let reference_keys = [
            "kind",
            "namespace",
            "name",
            "uid",
            "apiVersion",
            "resourceVersion",
            "fieldPath",
        ];
        for (i, key) in reference_keys.iter().enumerate() {
            self.put(&mut object, key, self.text(4 + i));
        }

        let mut ev = Map::new();
        if self.with_api_version {
            ev.insert("apiVersion".into(), api.api_version().into());
        }
        ev.insert("metadata".into(), Value::Object(meta));
        let (regarding, note, source, first, last, count) = if core {
            (
                "involvedObject",
                "message",
                "source",
                "firstTimestamp",
                "lastTimestamp",
                "count",
            )
        } else {
            (
                "regarding",
                "note",
                "deprecatedSource",
                "deprecatedFirstTimestamp",
                "deprecatedLastTimestamp",
                "deprecatedCount",
            )
        };
        ev.insert(regarding.into(), Value::Object(object));
        self.put(&mut ev, note, self.text(11));
        self.put(&mut ev, "reason", self.text(12));
        self.put(&mut ev, "action", self.text(13));
        let host = self.strings[3]
            .as_ref()
            .map(|h| json!({ "host": h, "component": "c" }));
        self.put(&mut ev, source, host);
        self.put(&mut ev, "type", self.event_type.clone().map(Value::from));
        self.put(&mut ev, last, self.time(1));
        self.put(&mut ev, "eventTime", self.time(2));
        self.put(&mut ev, first, self.time(3));
        self.put(&mut ev, count, self.old_count.map(Value::from));
        if self.series_count.is_some() || self.times[0].is_some() {
            let mut series = Map::new();
            self.put(&mut series, "count", self.series_count.map(Value::from));
            self.put(&mut series, "lastObservedTime", self.time(0));
            ev.insert("series".into(), Value::Object(series));
        }
        Value::Object(ev).to_string()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(v in any_json()) {
        read_everything(&v.to_string());
        for ty in ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"] {
            read_everything(&json!({ "type": ty, "object": v }).to_string());
            read_everything(&json!({ "object": v, "type": ty }).to_string());
        }
        read_everything(&json!({ "kind": "EventList", "apiVersion": "v1", "items": [v] }).to_string());
    }

    /// A valid event with one field, at the top or one level down, replaced by anything.
    #[test]
    fn valid_events_with_a_bad_field_never_panic(
        g in gen_event(),
        core in any::<bool>(),
        nested in prop::option::of(prop::sample::select(vec![
            "metadata", "involvedObject", "regarding", "series", "source", "deprecatedSource",
        ])),
        key in prop::sample::select(FIELD_NAMES),
        bad in any_json(),
    ) {
        let api = if core { EventApi::Core } else { EventApi::EventsV1 };
        let mut ev: Value = serde_json::from_str(&g.json(api)).unwrap();
        let target = match nested {
            Some(field) => ev
                .as_object_mut()
                .unwrap()
                .entry(field)
                .or_insert_with(|| json!({})),
            None => &mut ev,
        };
        if let Some(obj) = target.as_object_mut() {
            obj.insert(key.into(), bad);
        }
        let text = ev.to_string();
        read_everything(&text);
        read_everything(&json!({ "type": "MODIFIED", "object": ev }).to_string());
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,64}") {
        read_everything(&s);
    }

    #[test]
    fn generated_events_map_fully_and_alike_through_both_apis(g in gen_event()) {
        let core_json = g.json(EventApi::Core);
        let v1_json = g.json(EventApi::EventsV1);
        let core = Event::from_json(&core_json).unwrap();
        let v1 = Event::from_json(&v1_json).unwrap();
        let record = core.to_log_record().unwrap();
        prop_assert_eq!(&v1.to_log_record().unwrap(), &record);
        prop_assert_eq!(core.key(), v1.key());

        // The timestamp is the newest time present.
        let newest = g.times.iter().flatten().map(|t| t.nanos()).max();
        prop_assert_eq!(record.timestamp_unix_nano, newest);
        prop_assert_eq!(record.observed_unix_nano, None);

        // Count: the series count when non-zero, else the old counter; left out when 0.
        let count = g.series_count.filter(|&c| c != 0).or(g.old_count).unwrap_or(0);
        prop_assert_eq!(
            record.attributes.get("k8s.event.count").cloned(),
            (count != 0).then_some(AnyValue::Int(count))
        );

        prop_assert_eq!(&record.body, &AnyValue::from(g.s(11)));
        let start = g.times[4].map_or(Time::GO_ZERO, |t| {
            Time::from_unix(t.nanos().div_euclid(1_000_000_000), t.nanos().rem_euclid(1_000_000_000) as u32).unwrap()
        });
        let expected_attrs = [
            ("k8s.event.reason", g.s(12).to_owned()),
            ("k8s.event.action", g.s(13).to_owned()),
            ("k8s.event.start_time", start.to_go_string()),
            ("k8s.event.name", g.s(0).to_owned()),
            ("k8s.event.uid", g.s(2).to_owned()),
            ("k8s.namespace.name", g.s(5).to_owned()),
        ];
        let got: Vec<_> = record.attributes.iter().take(6).map(|(k, v)| (k, v.as_str().unwrap().to_owned())).collect();
        prop_assert_eq!(got, expected_attrs.to_vec());
        let expected_resource = [
            ("k8s.node.name", g.s(3)),
            ("k8s.object.kind", g.s(4)),
            ("k8s.object.name", g.s(6)),
            ("k8s.object.uid", g.s(7)),
            ("k8s.object.fieldpath", g.s(10)),
            ("k8s.object.api_version", g.s(8)),
            ("k8s.object.resource_version", g.s(9)),
        ];
        let got: Vec<_> = record.resource.iter().map(|(k, v)| (k, v.as_str().unwrap())).collect();
        prop_assert_eq!(got, expected_resource.to_vec());

        let ty = g.event_type.as_deref().unwrap_or("");
        let known = ["normal", "warning", "error", "critical"].contains(&ty.to_ascii_lowercase().as_str());
        prop_assert_eq!(record.severity_text.as_str(), if known { ty } else { "" });
        prop_assert_eq!(record.severity_number == SeverityNumber::UNSPECIFIED, !known);
    }
}
