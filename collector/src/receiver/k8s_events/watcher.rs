//! One list/watch loop (cluster-wide, or one namespace) as an explicit state machine: the
//! [`State`] says what the next API call is, [`Watcher::step`] makes it, and the `on_*` handlers,
//! which do no I/O, decide what ships and which state comes next.
//!
//! The position is the resourceVersion through which every change has been seen. It moves with
//! each watch line and BOOKMARK, and to a LIST's resourceVersion only after the LIST's last page
//! (a checkpoint taken mid-LIST must not skip the pages still to come). It never moves backwards.
//!
//! De-duplication when a LIST is read again (after `410 Gone`, a watch that ends at once, or a
//! restart): an item is skipped if its resourceVersion is at or below the position (both read as
//! integers), if an interrupted LIST read it ([`ListCoverage`]), or if its `uid@resourceVersion`
//! is in the bounded shipped-set. The first rule relies on etcd's resourceVersions being one
//! increasing counter: every change up to the position has been seen, so an item at or below it
//! is a state seen before (shipped, or deliberately not: `start_from: now`, a throttled update).
//! The second covers a LIST restarted part-way (its pages shipped so far are above the
//! position). The shipped-set covers what neither can: servers whose resourceVersions are not
//! numbers, a LIST out of key order; only such occurrences are put in it, so it stays empty on
//! a normal API server.

use std::fmt::Display;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::receivers::{K8sEventsConfig, StartFrom};
use crate::record::LogRecord;

use super::access::denied_line;
use super::api::{Failure, Scope, Verb};
use super::batch::{Sink, Stopped};
use super::coverage::ListCoverage;
use super::dedup::{
    SHIPPED_CAPACITY, ShippedSet, UPDATES_CAPACITY, UpdatePolicy, UpdateThrottle,
    parse_resource_version,
};
use super::event::Event;
use super::lines::{Line, Lines, MAX_LINE};
use super::retry::{Backoff, LogLimiter};
use super::stats::{ReceiverStats, WatchType};
use super::wire::{EventList, WatchEvent};

/// Timings and bounds of a loop. The defaults are for production; tests shorten them.
#[derive(Debug, Clone)]
pub(crate) struct Tuning {
    /// Between failed attempts: 1 s doubling to 5 min.
    pub backoff: Backoff,
    /// The `timeoutSeconds` asked of each watch (the API server ends it then; kube-runtime and
    /// client-go ask about 5 min too).
    pub watch_timeout: Duration,
    /// How much longer than `watch_timeout` a watch may stay silent before it is taken for a
    /// dead connection.
    pub idle_grace: Duration,
    /// For a LIST page, or a watch's response headers, to arrive.
    pub request_timeout: Duration,
    /// A watch that ends sooner than this with no line at all is taken as expired.
    pub early_close: Duration,
    /// How often an unchanged 401/403 is logged again.
    pub denied_relog: Duration,
    /// At most one line per this for other API errors, and for malformed objects.
    pub log_every: Duration,
    pub shipped_capacity: usize,
    pub updates_capacity: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            backoff: Backoff {
                first: Duration::from_secs(1),
                max: Duration::from_secs(300),
            },
            watch_timeout: Duration::from_secs(290),
            idle_grace: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
            early_close: Duration::from_secs(2),
            denied_relog: Duration::from_secs(600),
            log_every: Duration::from_secs(30),
            shipped_capacity: SHIPPED_CAPACITY,
            updates_capacity: UPDATES_CAPACITY,
        }
    }
}

/// What the loop does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    /// LIST one event (`limit=1`) only for the newest resourceVersion, ship nothing, then watch
    /// from there: `start_from: now` with no position to resume from.
    Positioning,
    /// LIST the page after `continue_token` (`None`: the first page), ship what was not seen
    /// before; after the last page, watch from the LIST's resourceVersion. `start_from: all`,
    /// and every re-list.
    Listing { continue_token: Option<String> },
    /// WATCH from the position, shipping runs of lines as they arrive. A clean end watches
    /// again from the new position; `410 Gone` (or an end at once with no line) lists again.
    Watching,
    /// Wait `delay` (backoff after a failure), then do `then`.
    Waiting { delay: Duration, then: Box<State> },
}

/// The moment something was received: the clock for throttling, and the observed timestamp.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment {
    pub instant: Instant,
    pub unix_nanos: i64,
}

impl Moment {
    pub(crate) fn now() -> Moment {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Moment {
            instant: Instant::now(),
            unix_nanos: i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX),
        }
    }
}

/// What one watch line did.
#[derive(Debug, PartialEq)]
pub(crate) enum LineOutcome {
    /// An occurrence to ship.
    Record(LogRecord),
    /// Only the position moved (DELETED, BOOKMARK, an occurrence not shipped).
    Moved,
    /// An empty line.
    Blank,
    /// A line that could not be read, skipped (counted as malformed).
    Skipped,
    /// The line ends this watch (an ERROR line); the next state is set.
    End,
}

/// How a watch response ended.
#[derive(Debug)]
pub(crate) enum WatchEnd {
    /// The API server closed it (normally at `timeoutSeconds`).
    Closed { lines: usize, lasted: Duration },
    /// The connection failed or went silent.
    Failed(Failure),
}

/// One list/watch loop. See the module documentation.
#[derive(Debug)]
pub(crate) struct Watcher {
    scope: Scope,
    state: State,
    /// The resourceVersion through which every change has been seen; `None` before the first
    /// LIST completes.
    position: Option<String>,
    page_size: u32,
    shipped: ShippedSet,
    coverage: ListCoverage,
    updates: UpdateThrottle,
    /// Consecutive failed calls, for the backoff; cleared by a good LIST page or watch line.
    failures: u32,
    /// Consecutive re-lists with no watch line in between; the second and later wait.
    relists_in_a_row: u32,
    ready: bool,
    /// The pending 401/403 line and when it was last logged.
    denied: Option<(String, Instant)>,
    errors_log: LogLimiter,
    malformed_log: LogLimiter,
    credentials: Arc<str>,
    stats: Arc<ReceiverStats>,
    tuning: Tuning,
}

impl Watcher {
    /// A loop over `scope`, resuming from `resume_from` when given, else starting as
    /// `start_from` says.
    pub(crate) fn new(
        scope: Scope,
        config: &K8sEventsConfig,
        resume_from: Option<String>,
        credentials: Arc<str>,
        stats: Arc<ReceiverStats>,
        tuning: Tuning,
    ) -> Self {
        let state = match (&resume_from, config.start_from) {
            (Some(_), _) => State::Watching,
            (None, StartFrom::Now) => State::Positioning,
            (None, StartFrom::All) => State::Listing {
                continue_token: None,
            },
        };
        let policy =
            UpdatePolicy::from_config(config.drop_updates, config.dedup_interval.map(|d| d.0));
        Watcher {
            scope,
            state,
            position: resume_from,
            page_size: config.page_size().max(1),
            shipped: ShippedSet::new(tuning.shipped_capacity),
            coverage: ListCoverage::default(),
            updates: UpdateThrottle::new(policy, tuning.updates_capacity),
            failures: 0,
            relists_in_a_row: 0,
            ready: false,
            denied: None,
            errors_log: LogLimiter::new(tuning.log_every),
            malformed_log: LogLimiter::new(tuning.log_every),
            credentials,
            stats,
            tuning,
        }
    }

    pub(crate) fn scope(&self) -> &Scope {
        &self.scope
    }

    pub(crate) fn state(&self) -> &State {
        &self.state
    }

    pub(crate) fn position(&self) -> Option<&str> {
        self.position.as_deref()
    }

    /// How many occurrences the shipped-set remembers.
    #[cfg(test)]
    pub(crate) fn shipped_len(&self) -> usize {
        self.shipped.len()
    }

    /// Steps until shutdown.
    pub(crate) async fn run(mut self, client: kube::Client, mut sink: Sink) {
        while self.step(&client, &mut sink).await.is_ok() {}
        tracing::debug!(
            "k8s_events: stopped watching events {}",
            self.scope.where_()
        );
    }

    /// Makes the call the current state asks for, sends what it yields, and moves on.
    pub(crate) async fn step(
        &mut self,
        client: &kube::Client,
        sink: &mut Sink,
    ) -> Result<(), Stopped> {
        match std::mem::replace(&mut self.state, State::Watching) {
            State::Waiting { delay, then } => {
                sink.sleep(delay).await?;
                self.state = *then;
            }
            from @ (State::Positioning | State::Listing { .. }) => {
                let (limit, token) = match &from {
                    State::Listing { continue_token } => {
                        (self.page_size, continue_token.as_deref())
                    }
                    _ => (1, None),
                };
                let request = self.scope.list(limit, token);
                let timeout = self.tuning.request_timeout;
                let answer = sink
                    .until_shutdown(async {
                        match tokio::time::timeout(timeout, client.request_text(request)).await {
                            Ok(answer) => answer.map_err(Failure::from_kube),
                            Err(_) => Err(no_answer(timeout)),
                        }
                    })
                    .await?;
                let before = self.position.clone();
                let records = self.on_list(from, answer, Moment::now());
                if !records.is_empty() || before != self.position {
                    sink.send(self.position.as_deref(), records).await?;
                }
            }
            State::Watching => self.watch(client, sink).await?,
        }
        Ok(())
    }

    /// One watch response, from opening it to its end.
    async fn watch(&mut self, client: &kube::Client, sink: &mut Sink) -> Result<(), Stopped> {
        let Some(resource_version) = self.position.clone() else {
            // Not reachable (every way into Watching sets a position), but a LIST is the answer.
            self.state = State::Listing {
                continue_token: None,
            };
            return Ok(());
        };
        let request = self
            .scope
            .watch(&resource_version, self.tuning.watch_timeout.as_secs());
        let timeout = self.tuning.request_timeout;
        let opened = sink
            .until_shutdown(tokio::time::timeout(
                timeout,
                client.request_stream(request),
            ))
            .await?;
        let body = match opened {
            Ok(Ok(body)) => body,
            Ok(Err(error)) => {
                self.state =
                    self.on_failure(Failure::from_kube(error), Verb::Watch, State::Watching);
                return Ok(());
            }
            Err(_) => {
                self.state = self.on_failure(no_answer(timeout), Verb::Watch, State::Watching);
                return Ok(());
            }
        };
        self.answered();

        let started = Instant::now();
        let idle = self.tuning.watch_timeout + self.tuning.idle_grace;
        let mut lines = Lines::new(Box::pin(body), MAX_LINE);
        let mut run = Vec::new();
        let mut moved = false;
        let mut count = 0;
        let end = loop {
            let line = match sink
                .until_shutdown(tokio::time::timeout(idle, lines.next_line()))
                .await?
            {
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) => {
                    break Some(WatchEnd::Closed {
                        lines: count,
                        lasted: started.elapsed(),
                    });
                }
                Ok(Err(error)) => {
                    break Some(WatchEnd::Failed(Failure::Transport(error.to_string())));
                }
                Err(_) => {
                    break Some(WatchEnd::Failed(Failure::Transport(format!(
                        "the watch sent nothing for {}s",
                        idle.as_secs()
                    ))));
                }
            };
            match self.on_watch_line(line, Moment::now()) {
                LineOutcome::Record(record) => {
                    run.push(record);
                    moved = true;
                    count += 1;
                }
                LineOutcome::Moved => {
                    moved = true;
                    count += 1;
                }
                LineOutcome::Skipped => count += 1,
                LineOutcome::Blank => {}
                LineOutcome::End => break None,
            }
            // A run ends when no further line has arrived yet, or at a page's worth.
            if moved && (run.len() >= self.page_size as usize || !lines.line_waiting()) {
                sink.send(self.position.as_deref(), std::mem::take(&mut run))
                    .await?;
                moved = false;
            }
        };
        if moved {
            sink.send(self.position.as_deref(), run).await?;
        }
        if let Some(end) = end {
            self.on_watch_end(end);
        }
        Ok(())
    }

    /// A LIST answer (for `from`, a [`State::Positioning`] or [`State::Listing`]): the records to
    /// ship; sets the next state.
    pub(crate) fn on_list(
        &mut self,
        from: State,
        answer: Result<String, Failure>,
        now: Moment,
    ) -> Vec<LogRecord> {
        let list = answer.and_then(|body| {
            let list = EventList::from_json(&body).map_err(Failure::from_wire)?;
            Ok(self.read_list(&from, &list, now))
        });
        match list {
            Ok((records, next)) => {
                self.state = next;
                records
            }
            Err(failure) => {
                self.state = self.on_failure(failure, Verb::List, from);
                Vec::new()
            }
        }
    }

    fn read_list(
        &mut self,
        from: &State,
        list: &EventList<'_>,
        now: Moment,
    ) -> (Vec<LogRecord>, State) {
        self.answered();
        self.failures = 0;
        self.stats.listed(list.items.len());
        let mut records = Vec::new();
        if let State::Listing { continue_token } = from {
            if continue_token.is_none() {
                self.coverage.start();
            }
            self.coverage
                .page(parse_resource_version(list.resource_version()));
            let floor = self.position.as_deref().and_then(parse_resource_version);
            for event in &list.items {
                let rv = parse_resource_version(event.resource_version());
                let covered = self.coverage.read(event.namespace(), event.name(), rv);
                if floor.zip(rv).is_some_and(|(floor, rv)| rv <= floor)
                    || rv
                        .is_some_and(|rv| self.coverage.covers(event.namespace(), event.name(), rv))
                {
                    continue;
                }
                // An item whose uid shipped lately is an update missed while not watching.
                let update = self.updates.knows(event.uid(), now.instant);
                records.extend(self.occurrence(event, update, now, !covered));
            }
            if let Some(token) = list.continue_token() {
                let next = State::Listing {
                    continue_token: Some(token.to_owned()),
                };
                return (records, next);
            }
        }
        self.advance(list.resource_version());
        self.coverage.complete();
        let next = if self.position.is_some() {
            State::Watching
        } else {
            let failure = Failure::Malformed("the event list has no resourceVersion".into());
            let retry = match from {
                State::Positioning => State::Positioning,
                _ => State::Listing {
                    continue_token: None,
                },
            };
            self.on_failure(failure, Verb::List, retry)
        };
        (records, next)
    }

    /// One line of a watch response.
    pub(crate) fn on_watch_line(&mut self, line: Line<'_>, now: Moment) -> LineOutcome {
        let text = match line {
            Line::TooLong(length) => {
                self.malformed(format_args!(
                    "a watch line of {length} bytes (no event is that long)"
                ));
                return LineOutcome::Skipped;
            }
            Line::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => text.trim(),
                Err(_) => {
                    self.malformed("a watch line that is not UTF-8");
                    return LineOutcome::Skipped;
                }
            },
        };
        if text.is_empty() {
            return LineOutcome::Blank;
        }
        let event = match WatchEvent::from_json(text) {
            Ok(event) => event,
            Err(error) => {
                self.malformed(error);
                return LineOutcome::Skipped;
            }
        };
        // A line at or below the position is a state seen before (a server sending it again).
        let replayed = event
            .resource_version()
            .is_some_and(|rv| self.at_or_below_position(rv));
        if let Some(rv) = event.resource_version() {
            self.advance(rv);
        }
        match event {
            WatchEvent::Added(event) => {
                self.progressed(WatchType::Added);
                self.watched_occurrence(&event, false, replayed, now)
            }
            // A new resourceVersion of an event is a new occurrence (a count or series bump).
            WatchEvent::Modified(event) => {
                self.progressed(WatchType::Modified);
                self.watched_occurrence(&event, true, replayed, now)
            }
            // An event expiring or being deleted did not happen again.
            WatchEvent::Deleted(event) => {
                self.progressed(WatchType::Deleted);
                self.updates.forget(event.uid());
                LineOutcome::Moved
            }
            WatchEvent::Bookmark { .. } => {
                self.progressed(WatchType::Bookmark);
                LineOutcome::Moved
            }
            WatchEvent::Expired(status) => {
                self.state = self.on_failure(Failure::Status(status), Verb::Watch, State::Watching);
                LineOutcome::End
            }
            WatchEvent::Error(status) => {
                self.stats.watch_restarted();
                self.state = self.on_failure(Failure::Status(status), Verb::Watch, State::Watching);
                LineOutcome::End
            }
        }
    }

    /// The end of a watch response; sets the next state.
    pub(crate) fn on_watch_end(&mut self, end: WatchEnd) {
        self.state = match end {
            // Events bypass the API server's watch cache: a watch from a compacted
            // resourceVersion can end at once without an ERROR line. Only a LIST tells what
            // happened meanwhile.
            WatchEnd::Closed { lines: 0, lasted } if lasted < self.tuning.early_close => {
                self.relist("the watch ended at once without events", State::Watching)
            }
            WatchEnd::Closed { lasted, .. } => {
                self.stats.answered(unix_seconds());
                if lasted >= self.tuning.early_close {
                    self.failures = 0;
                    self.relists_in_a_row = 0;
                }
                self.stats.watch_restarted();
                State::Watching
            }
            WatchEnd::Failed(failure) => {
                self.stats.watch_restarted();
                self.on_failure(failure, Verb::Watch, State::Watching)
            }
        };
    }

    /// A call failed: counts and logs it, and returns what to do next (`retry`, after a backoff;
    /// a LIST from scratch for 410).
    pub(crate) fn on_failure(&mut self, failure: Failure, verb: Verb, retry: State) -> State {
        self.stats.api_error(failure.class());
        if failure.is_expired() {
            return self.relist(format_args!("{verb}: {failure}"), retry);
        }
        self.failures += 1;
        let delay = self.tuning.backoff.delay(self.failures);
        let now = Instant::now();
        if let Failure::Status(status) = &failure
            && failure.is_access_denied()
        {
            let line = denied_line(status, verb, &self.scope, &self.credentials);
            self.set_ready(false);
            let repeat = self.denied.as_ref().is_some_and(|(last, logged)| {
                *last == line && now.saturating_duration_since(*logged) < self.tuning.denied_relog
            });
            if !repeat {
                // The API server's own words too: they are what an admin searches for.
                tracing::warn!(api_server = %status.message, "k8s_events: {line}");
                self.denied = Some((line, now));
            }
        } else if let Some(held_back) = self.errors_log.allow(now) {
            tracing::warn!(
                "k8s_events: cannot {verb} events {}: {failure}; retrying in {:.1}s{}",
                self.scope.where_(),
                delay.as_secs_f64(),
                held_back_note(held_back)
            );
        }
        State::Waiting {
            delay,
            then: Box::new(retry),
        }
    }

    /// The position expired: LIST again (for `from` = [`State::Positioning`], position again).
    /// The first re-list in a row is immediate; more without a watch line in between back off.
    fn relist(&mut self, why: impl Display, from: State) -> State {
        self.stats.relisted();
        self.relists_in_a_row += 1;
        tracing::info!(
            "k8s_events: listing events {} again ({why}); what was already shipped is skipped",
            self.scope.where_()
        );
        let next = match from {
            State::Positioning => State::Positioning,
            _ => State::Listing {
                continue_token: None,
            },
        };
        match self.relists_in_a_row {
            0 | 1 => next,
            n => State::Waiting {
                delay: self.tuning.backoff.delay(n - 1),
                then: Box::new(next),
            },
        }
    }

    /// Whether `rv` and the position are numbers and `rv` is not above the position.
    fn at_or_below_position(&self, rv: &str) -> bool {
        let position = self.position.as_deref().and_then(parse_resource_version);
        position
            .zip(parse_resource_version(rv))
            .is_some_and(|(position, rv)| rv <= position)
    }

    /// An ADDED or MODIFIED watch line, after the position moved to it: its record, unless it
    /// was `replayed` or is not shipped. The position keeps a re-list from shipping it again
    /// when both are numbers; otherwise the shipped-set must.
    fn watched_occurrence(
        &mut self,
        event: &Event<'_>,
        update: bool,
        replayed: bool,
        now: Moment,
    ) -> LineOutcome {
        if replayed {
            return LineOutcome::Moved;
        }
        let remember = !self.at_or_below_position(event.resource_version());
        self.occurrence(event, update, now, remember)
            .map_or(LineOutcome::Moved, LineOutcome::Record)
    }

    /// Whether `event` ships as an occurrence (an `update` is subject to `dedup_interval` and
    /// `drop_updates`); if so, its record. `remember`: put it in the shipped-set (nothing else
    /// will keep a re-list from shipping it again).
    fn occurrence(
        &mut self,
        event: &Event<'_>,
        update: bool,
        now: Moment,
        remember: bool,
    ) -> Option<LogRecord> {
        let (uid, rv) = (event.uid(), event.resource_version());
        if self.shipped.contains(uid, rv)
            || (update && !self.updates.admits_update(uid, now.instant))
        {
            return None;
        }
        match event.to_log_record() {
            Ok(mut record) => {
                record.observed_unix_nano = Some(now.unix_nanos);
                if remember {
                    self.shipped.insert(uid, rv);
                }
                self.updates.shipped(uid, now.instant);
                Some(record)
            }
            Err(error) => {
                self.malformed(format_args!(
                    "event {}/{} (uid {uid}): {error}",
                    event.namespace(),
                    event.name()
                ));
                None
            }
        }
    }

    /// Moves the position to `rv`, never backwards (when both are numbers).
    fn advance(&mut self, rv: &str) {
        if rv.is_empty() {
            return;
        }
        let new = parse_resource_version(rv);
        let old = self.position.as_deref().and_then(parse_resource_version);
        if new.zip(old).is_some_and(|(new, old)| new < old) {
            return;
        }
        if let Some(new) = new {
            self.stats.resource_version(new);
        }
        match &mut self.position {
            Some(position) => {
                position.clear();
                position.push_str(rv);
            }
            None => self.position = Some(rv.to_owned()),
        }
    }

    /// A watch line of `kind` was read: the watch works.
    fn progressed(&mut self, kind: WatchType) {
        self.stats.received(kind);
        self.failures = 0;
        self.relists_in_a_row = 0;
    }

    /// A successful answer: ready, and access recovered if it was denied.
    fn answered(&mut self) {
        self.stats.answered(unix_seconds());
        if let Some((line, _)) = self.denied.take() {
            tracing::info!(
                "k8s_events: access to events {} recovered (it was: {line})",
                self.scope.where_()
            );
        }
        self.set_ready(true);
    }

    fn set_ready(&mut self, ready: bool) {
        if self.ready != ready {
            self.ready = ready;
            self.stats.stream_ready(ready);
        }
    }

    fn malformed(&mut self, what: impl Display) {
        self.stats.malformed();
        if let Some(held_back) = self.malformed_log.allow(Instant::now()) {
            tracing::warn!(
                "k8s_events: skipped {what} (events {}){}",
                self.scope.where_(),
                held_back_note(held_back)
            );
        }
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn no_answer(timeout: Duration) -> Failure {
    Failure::Transport(format!("no answer within {}s", timeout.as_secs()))
}

fn held_back_note(held_back: u64) -> String {
    if held_back == 0 {
        String::new()
    } else {
        format!(" ({held_back} similar lines held back)")
    }
}
