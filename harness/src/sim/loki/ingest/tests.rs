//! The write path against the answers captured from a real Loki 3.4 (fixtures/loki).

use super::*;

const SECOND: i64 = 1_000_000_000;
const HOUR: i64 = 3600 * SECOND;
const DAY: i64 = 24 * HOUR;
/// 2026-11-24T22:41:48Z.
const NOW: i64 = 1_795_560_108 * SECOND;

fn entry(ts: i64, line: &str) -> LogEntry {
    LogEntry {
        timestamp_unix_nano: ts,
        line: line.to_owned(),
        structured_metadata: vec![],
    }
}

fn stream(labels: &str, entries: Vec<LogEntry>) -> LogStream {
    LogStream {
        labels: labels.to_owned(),
        entries,
    }
}

fn run(store: &mut Store, streams: &[LogStream]) -> Answer {
    push(store, "tenant-a", streams, &LokiLimits::default(), NOW)
}

fn stored(store: &Store) -> Vec<LogStream> {
    store
        .tenants
        .get("tenant-a")
        .map(|streams| streams.iter().map(|(l, s)| s.sorted(l)).collect())
        .unwrap_or_default()
}

#[test]
fn valid_push_is_204_and_stored_with_service_name() {
    let mut store = Store::default();
    let answer = run(
        &mut store,
        &[stream(r#"{job="x", level="info"}"#, vec![entry(NOW, "a")])],
    );
    assert_eq!(answer, Answer::no_content());
    assert_eq!(
        stored(&store),
        [stream(
            r#"{job="x", level="info", service_name="x"}"#,
            vec![entry(NOW, "a")]
        )]
    );
}

#[test]
fn service_name_is_discovered_in_lokis_order() {
    for (labels, expected) in [
        (
            r#"{job="j", app="a"}"#,
            r#"{app="a", job="j", service_name="a"}"#,
        ),
        (
            r#"{service_name="s", app="a"}"#,
            r#"{app="a", service_name="s"}"#,
        ),
        (
            r#"{level="info"}"#,
            r#"{level="info", service_name="unknown_service"}"#,
        ),
        (
            r#"{container="c", job="j", x=""}"#,
            r#"{container="c", job="j", service_name="c"}"#,
        ),
    ] {
        let mut store = Store::default();
        assert_eq!(
            run(&mut store, &[stream(labels, vec![entry(NOW, "a")])]).status,
            204
        );
        assert_eq!(stored(&store)[0].labels, expected, "{labels}");
    }
}

#[test]
fn sixteen_label_names_counting_service_name_is_the_captured_400() {
    let labels: Vec<String> = (0..15).map(|i| format!("l{i}=\"v\"")).collect();
    let labels = format!("{{{}}}", labels.join(", "));
    let mut store = Store::default();
    let answer = run(&mut store, &[stream(&labels, vec![entry(NOW, "a")])]);
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body,
        "entry for stream '{l0=\"v\", l1=\"v\", l10=\"v\", l11=\"v\", l12=\"v\", l13=\"v\", \
         l14=\"v\", l2=\"v\", l3=\"v\", l4=\"v\", l5=\"v\", l6=\"v\", l7=\"v\", l8=\"v\", l9=\"v\", \
         service_name=\"unknown_service\"}' has 16 label names; limit 15\n"
    );
    assert!(stored(&store).is_empty());

    // 14 of the collector's own labels plus service_name fit.
    let labels: Vec<String> = (0..14).map(|i| format!("l{i}=\"v\"")).collect();
    let labels = format!("{{{}}}", labels.join(", "));
    assert_eq!(
        run(&mut store, &[stream(&labels, vec![entry(NOW, "a")])]).status,
        204
    );
}

#[test]
fn invalid_label_name_fails_the_whole_push() {
    let mut store = Store::default();
    let answer = run(
        &mut store,
        &[
            stream(r#"{job="ok"}"#, vec![entry(NOW, "a")]),
            stream(r#"{k8s.ns="v"}"#, vec![entry(NOW, "b")]),
        ],
    );
    assert_eq!(
        answer,
        Answer::error(
            400,
            "couldn't parse labels: 1:5: parse error: unexpected character inside braces: '.'"
        )
    );
    assert!(stored(&store).is_empty());
}

#[test]
fn old_entry_is_the_captured_400_and_the_valid_ones_are_still_stored() {
    let mut store = Store::default();
    let answer = run(
        &mut store,
        &[stream(
            r#"{job="old"}"#,
            vec![entry(NOW - 8 * DAY, "old"), entry(NOW, "new")],
        )],
    );
    assert_eq!(
        answer,
        Answer::error(
            400,
            "entry for stream '{job=\"old\", service_name=\"old\"}' has timestamp too old: \
             2026-11-16T22:41:48Z, oldest acceptable timestamp is: 2026-11-17T22:41:48Z"
        )
    );
    assert_eq!(stored(&store)[0].entries, [entry(NOW, "new")]);
    assert_eq!(store.accepted_entries, 1);
}

#[test]
fn long_line_is_the_captured_400() {
    let mut store = Store::default();
    let line = "x".repeat(307_200);
    let answer = run(
        &mut store,
        &[stream(r#"{job="big"}"#, vec![entry(NOW, &line)])],
    );
    assert_eq!(
        answer,
        Answer::error(
            400,
            "Max entry size '262144' bytes exceeded for stream '{job=\"big\", service_name=\"big\"}' \
             while adding an entry with length '307200' bytes"
        )
    );
    let at_limit = "x".repeat(262_144);
    assert_eq!(
        run(
            &mut store,
            &[stream(r#"{job="big"}"#, vec![entry(NOW, &at_limit)])]
        )
        .status,
        204
    );
}

#[test]
fn entry_too_far_behind_its_stream_is_the_captured_400() {
    let mut store = Store::default();
    let newest = 1_795_560_119 * SECOND; // 22:41:59
    assert_eq!(
        run(
            &mut store,
            &[stream(r#"{job="ooo"}"#, vec![entry(newest, "n")])]
        )
        .status,
        204
    );
    let answer = run(
        &mut store,
        &[stream(
            r#"{job="ooo"}"#,
            vec![entry(newest - 3 * HOUR, "late")],
        )],
    );
    assert_eq!(
        answer.body,
        "entry with timestamp 2026-11-24 19:41:59 +0000 UTC ignored, reason: 'entry too far behind, \
         entry timestamp is: 2026-11-24T19:41:59Z, oldest acceptable timestamp is: 2026-11-24T21:41:59Z',\n\
         user 'tenant-a', total ignored: 1 out of 1 for stream: {job=\"ooo\", service_name=\"ooo\"}\n"
    );
    assert_eq!(answer.status, 400);
    // Within the hour it is accepted, out of order.
    let answer = run(
        &mut store,
        &[stream(
            r#"{job="ooo"}"#,
            vec![entry(newest - HOUR / 2, "ok")],
        )],
    );
    assert_eq!(answer.status, 204);
    assert_eq!(stored(&store)[0].entries.len(), 2);
}

#[test]
fn the_last_streams_ingester_answer_wins() {
    let mut store = Store::default();
    run(&mut store, &[stream(r#"{job="a"}"#, vec![entry(NOW, "n")])]);
    let late = stream(r#"{job="a"}"#, vec![entry(NOW - 3 * HOUR, "late")]);
    let fine = stream(r#"{job="b"}"#, vec![entry(NOW, "fine")]);
    // As in Loki's instance.Push: a later successful stream hides the earlier error.
    assert_eq!(run(&mut store, &[late.clone(), fine.clone()]).status, 204);
    assert_eq!(run(&mut store, &[fine, late]).status, 400);
}

#[test]
fn same_entry_twice_is_received_twice_and_stored_once() {
    let mut store = Store::default();
    let push = [stream(
        r#"{job="d"}"#,
        vec![entry(NOW, "same"), entry(NOW, "other")],
    )];
    assert_eq!(run(&mut store, &push).status, 204);
    assert_eq!(run(&mut store, &push).status, 204);
    assert_eq!(store.accepted_entries, 4);
    assert_eq!(stored(&store)[0].entries.len(), 2);
}

#[test]
fn equal_errors_are_grouped_and_distinct_ones_joined() {
    let mut store = Store::default();
    let answer = run(
        &mut store,
        &[stream(
            r#"{job="g"}"#,
            vec![
                entry(NOW - 8 * DAY, "a"),
                entry(NOW - 8 * DAY, "b"),
                entry(NOW + HOUR, "c"),
            ],
        )],
    );
    let body = answer.body;
    assert!(
        body.starts_with("2 errors like: entry for stream"),
        "{body}"
    );
    assert!(body.contains("; 1 errors like: entry for stream '{job=\"g\", service_name=\"g\"}' has timestamp too new: 2026-11-24T23:41:48Z"), "{body}");
}

#[test]
fn limits_can_be_lifted_for_fixtures_with_fixed_timestamps() {
    let mut store = Store::default();
    let limits = LokiLimits {
        reject_old_samples_max_age: None,
        out_of_order_window: None,
        ..LokiLimits::default()
    };
    let streams = [stream(r#"{job="f"}"#, vec![entry(NOW, "b"), entry(0, "a")])];
    assert_eq!(push(&mut store, "t", &streams, &limits, NOW).status, 204);
}

#[test]
fn empty_push_is_422_and_empty_streams_are_skipped() {
    let mut store = Store::default();
    assert_eq!(run(&mut store, &[]).status, 422);
    assert_eq!(
        run(&mut store, &[stream(r#"{job="e"}"#, vec![])]).status,
        204
    );
    assert!(stored(&store).is_empty());
}
