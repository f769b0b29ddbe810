//! The list/watch state machine's transitions, fed the captured API answers directly: no network,
//! no clock but the one passed in.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use crate::config::duration::ConfigDuration;
use crate::config::receivers::{EventsApi, K8sEventsConfig, StartFrom};
use crate::record::LogRecord;

use super::api::{Failure, Scope, Verb};
use super::lines::Line;
use super::stats::{ErrorClass, ReceiverStats, WatchType};
use super::testing::*;
use super::watcher::{LineOutcome, Moment, State, Tuning, WatchEnd, Watcher};
use super::wire::Status;

fn watcher(config: &K8sEventsConfig, resume_from: Option<&str>) -> (Watcher, Arc<ReceiverStats>) {
    let stats = Arc::new(ReceiverStats::new(1));
    let scope = Scope {
        namespace: None,
        api: EventsApi::CoreV1,
    };
    let w = Watcher::new(
        scope,
        config,
        resume_from.map(str::to_owned),
        "no credentials".into(),
        Arc::clone(&stats),
        Tuning::default(),
    );
    (w, stats)
}

fn all() -> K8sEventsConfig {
    config(|c| c.start_from = StartFrom::All)
}

fn first_page() -> State {
    State::Listing {
        continue_token: None,
    }
}

/// Feeds every line of a watch capture; returns the records and the outcome of each line.
fn watch_lines(w: &mut Watcher, name: &str, now: Moment) -> (Vec<LogRecord>, Vec<&'static str>) {
    let mut records = Vec::new();
    let mut outcomes = Vec::new();
    for line in fixture(name).lines() {
        outcomes.push(match w.on_watch_line(Line::Text(line.as_bytes()), now) {
            LineOutcome::Record(r) => {
                records.push(r);
                "record"
            }
            LineOutcome::Moved => "moved",
            LineOutcome::Blank => "blank",
            LineOutcome::Skipped => "skipped",
            LineOutcome::End => "end",
        });
    }
    (observed(records), outcomes)
}

fn is_waiting_for(state: &State, next: &State) -> bool {
    matches!(state, State::Waiting { then, .. } if **then == *next)
}

#[test]
fn start_from_all_pages_then_watches() {
    let (mut w, stats) = watcher(&all(), None);
    assert_eq!(*w.state(), first_page());
    let records = w.on_list(first_page(), Ok(fixture(PAGE1)), Moment::now());
    assert_eq!(observed(records), listed(PAGE1, &["385", "283"]));
    assert_eq!(
        *w.state(),
        State::Listing {
            continue_token: Some(continue_token(PAGE1))
        }
    );
    // No position until the last page: a checkpoint mid-LIST must not skip the pages to come.
    assert_eq!(w.position(), None);
    let records = w.on_list(w.state().clone(), Ok(last_page(PAGE2)), Moment::now());
    assert_eq!(observed(records), listed(PAGE2, &["369", "198"]));
    assert_eq!(*w.state(), State::Watching);
    assert_eq!(w.position(), Some("395"));
    let s = stats.snapshot();
    assert_eq!((s.listed, s.ready, s.last_resource_version), (4, true, 395));
    // The position and the LIST's coverage account for all of it: nothing per item is kept.
    let (_, outcomes) = watch_lines(&mut w, WATCH, Moment::now());
    assert!(outcomes.contains(&"record"));
    assert_eq!(w.shipped_len(), 0);
}

#[test]
fn start_from_now_ships_nothing_old() {
    let (mut w, stats) = watcher(&K8sEventsConfig::default(), None);
    assert_eq!(*w.state(), State::Positioning);
    let records = w.on_list(State::Positioning, Ok(fixture(PAGE1)), Moment::now());
    assert!(records.is_empty());
    assert_eq!((w.state(), w.position()), (&State::Watching, Some("395")));
    assert!(stats.is_ready());
}

#[test]
fn watch_lines_ship_occurrences_not_deletions() {
    let (mut w, stats) = watcher(&all(), Some("395"));
    assert_eq!(*w.state(), State::Watching);
    let (records, outcomes) = watch_lines(&mut w, WATCH, Moment::now());
    assert_eq!(outcomes, ["record", "record", "record", "record", "moved"]);
    assert_eq!(records, watched(WATCH, &["418", "419", "420", "421"]));
    assert_eq!(w.position(), Some("422"));
    let s = stats.snapshot();
    assert_eq!(
        [
            WatchType::Added,
            WatchType::Modified,
            WatchType::Deleted,
            WatchType::Bookmark
        ]
        .map(|t| s.received(t)),
        [2, 2, 1, 0]
    );
    // The same lines again (a server re-sending them) ship nothing.
    let (again, _) = watch_lines(&mut w, WATCH, Moment::now());
    assert!(again.is_empty());
}

#[test]
fn bookmark_moves_only_the_position() {
    let (mut w, _) = watcher(&all(), Some("395"));
    let line = br#"{"type":"BOOKMARK","object":{"kind":"Event","apiVersion":"v1","metadata":{"resourceVersion":"500"}}}"#;
    assert_eq!(
        w.on_watch_line(Line::Text(line), Moment::now()),
        LineOutcome::Moved
    );
    assert_eq!(w.position(), Some("500"));
}

#[test]
fn expired_in_the_stream_lists_again_and_skips_what_was_seen() {
    // Resumed at 300 after a restart: nothing in memory, only the position.
    let (mut w, stats) = watcher(&K8sEventsConfig::default(), Some("300"));
    let (records, outcomes) = watch_lines(&mut w, WATCH_EXPIRED, Moment::now());
    assert!(records.is_empty());
    assert_eq!(outcomes, ["end"]);
    assert_eq!(*w.state(), first_page());
    let records = w.on_list(first_page(), Ok(fixture(PAGE1)), Moment::now());
    // 385 is newer than the position, 283 older: seen before the restart.
    assert_eq!(observed(records), listed(PAGE1, &["385"]));
    assert_eq!(w.position(), Some("300"));

    // The continue token expired too: the LIST starts over, and the shipped-set (not the
    // position, still 300) keeps 385 from shipping twice.
    let next = w.state().clone();
    let gone = Status::from_json(&fixture(LIST_EXPIRED)).unwrap();
    let records = w.on_list(next, Err(Failure::Status(gone)), Moment::now());
    assert!(records.is_empty());
    // The second re-list with no watch line in between waits a little.
    assert!(is_waiting_for(w.state(), &first_page()), "{:?}", w.state());
    assert!(
        w.on_list(first_page(), Ok(fixture(PAGE1)), Moment::now())
            .is_empty()
    );
    let records = w.on_list(w.state().clone(), Ok(last_page(PAGE2)), Moment::now());
    assert_eq!(observed(records), listed(PAGE2, &["369"]));
    assert_eq!((w.state(), w.position()), (&State::Watching, Some("395")));
    let s = stats.snapshot();
    assert_eq!((s.relists, s.api_errors(ErrorClass::Gone)), (2, 2));
}

#[test]
fn position_never_moves_back() {
    let (mut w, _) = watcher(&all(), Some("422"));
    w.on_watch_end(WatchEnd::Closed {
        lines: 0,
        lasted: Duration::ZERO,
    });
    assert_eq!(*w.state(), first_page());
    // A LIST answered at an older resourceVersion (a stale replica) ships nothing old and
    // leaves the position where it was.
    assert!(
        w.on_list(first_page(), Ok(last_page(PAGE1)), Moment::now())
            .is_empty()
    );
    assert_eq!((w.state(), w.position()), (&State::Watching, Some("422")));
}

#[test]
fn watch_ends() {
    let (mut w, stats) = watcher(&all(), Some("395"));
    let at_once = || WatchEnd::Closed {
        lines: 0,
        lasted: Duration::from_millis(10),
    };
    // Ending at once with nothing: like 410 for events; the second time in a row waits.
    w.on_watch_end(at_once());
    assert_eq!(*w.state(), first_page());
    w.on_list(first_page(), Ok(last_page(PAGE1)), Moment::now());
    w.on_watch_end(at_once());
    assert!(is_waiting_for(w.state(), &first_page()), "{:?}", w.state());
    // A watch that ran its course is watched again at once.
    w.on_watch_end(WatchEnd::Closed {
        lines: 0,
        lasted: Duration::from_secs(290),
    });
    assert_eq!(*w.state(), State::Watching);
    w.on_watch_end(WatchEnd::Failed(Failure::Transport("reset".into())));
    assert!(is_waiting_for(w.state(), &State::Watching));
    let s = stats.snapshot();
    assert_eq!((s.relists, s.watch_restarts), (2, 2));
    assert_eq!(s.api_errors(ErrorClass::Transport), 1);
}

#[test]
fn forbidden_backs_off_and_marks_not_ready() {
    let (mut w, stats) = watcher(&K8sEventsConfig::default(), None);
    let forbidden = || {
        Err(Failure::Status(
            Status::from_json(&fixture(LIST_FORBIDDEN)).unwrap(),
        ))
    };
    let mut delays = Vec::new();
    for _ in 0..3 {
        assert!(
            w.on_list(State::Positioning, forbidden(), Moment::now())
                .is_empty()
        );
        let State::Waiting { delay, then } = w.state().clone() else {
            panic!("{:?}", w.state())
        };
        assert_eq!(*then, State::Positioning);
        delays.push(delay.as_secs_f64());
        assert!(!stats.is_ready());
    }
    assert!(
        (0.8..1.2).contains(&delays[0]) && (3.2..4.8).contains(&delays[2]),
        "{delays:?}"
    );
    w.on_list(State::Positioning, Ok(fixture(PAGE1)), Moment::now());
    assert!(stats.is_ready());
    assert_eq!(stats.snapshot().api_errors(ErrorClass::Forbidden), 3);
    // Access lost again while watching: not ready, the watch is retried (not a LIST).
    let next = w.on_failure(
        Failure::Status(Status::from_json(&fixture("watch-core-forbidden-sa.json")).unwrap()),
        Verb::Watch,
        State::Watching,
    );
    assert!(is_waiting_for(&next, &State::Watching));
    assert!(!stats.is_ready());
}

#[test]
fn drop_updates_ships_only_first_occurrences() {
    let (mut w, _) = watcher(&config(|c| c.drop_updates = true), Some("395"));
    let (records, outcomes) = watch_lines(&mut w, WATCH, Moment::now());
    assert_eq!(outcomes, ["record", "moved", "record", "moved", "moved"]);
    assert_eq!(records, watched(WATCH, &["418", "420"]));
}

#[test]
fn dedup_interval_throttles_updates_per_uid() {
    let interval = config(|c| c.dedup_interval = Some(ConfigDuration::from_secs(60)));
    let (mut w, _) = watcher(&interval, Some("395"));
    let now = Moment::now();
    let lines: Vec<String> = fixture(WATCH).lines().map(str::to_owned).collect();
    let mut feed = |i: usize, now: Moment| w.on_watch_line(Line::Text(lines[i].as_bytes()), now);
    assert!(matches!(feed(0, now), LineOutcome::Record(_)));
    // The count bump 10 s later is held back; another event's, a minute after its first, ships.
    let later = |secs| Moment {
        instant: now.instant + Duration::from_secs(secs),
        ..now
    };
    assert_eq!(feed(1, later(10)), LineOutcome::Moved);
    assert!(matches!(feed(2, later(10)), LineOutcome::Record(_)));
    assert!(matches!(feed(3, later(70)), LineOutcome::Record(_)));
}

#[test]
fn malformed_lines_are_skipped_and_counted() {
    let (mut w, stats) = watcher(&all(), Some("395"));
    let now = Moment::now();
    assert_eq!(
        w.on_watch_line(Line::Text(b"{not json"), now),
        LineOutcome::Skipped
    );
    assert_eq!(
        w.on_watch_line(Line::Text(b"\xff\xfe"), now),
        LineOutcome::Skipped
    );
    assert_eq!(
        w.on_watch_line(Line::TooLong(5 << 20), now),
        LineOutcome::Skipped
    );
    assert_eq!(w.on_watch_line(Line::Text(b"  "), now), LineOutcome::Blank);
    // An event whose time cannot be read is skipped; the position still moves past it.
    let bad_time = br#"{"type":"ADDED","object":{"metadata":{"uid":"u","resourceVersion":"400"},"lastTimestamp":"yesterday"}}"#;
    assert_eq!(
        w.on_watch_line(Line::Text(bad_time), now),
        LineOutcome::Moved
    );
    assert_eq!(w.position(), Some("400"));
    assert_eq!(stats.snapshot().malformed, 4);
    // A LIST body that is not an event list is retried after a backoff.
    w.on_list(first_page(), Ok("<html>".into()), now);
    assert!(is_waiting_for(w.state(), &first_page()));
    assert_eq!(stats.snapshot().api_errors(ErrorClass::Other), 1);
}

#[test]
fn other_watch_errors_retry_the_watch() {
    let (mut w, stats) = watcher(&all(), Some("395"));
    let line = br#"{"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"etcd is unhappy","reason":"InternalError","code":500}}"#;
    assert_eq!(
        w.on_watch_line(Line::Text(line), Moment::now()),
        LineOutcome::End
    );
    assert!(is_waiting_for(w.state(), &State::Watching));
    assert_eq!(w.position(), Some("395"));
    assert_eq!(stats.snapshot().api_errors(ErrorClass::ServerError), 1);
}
