//! The live demo: a [`Scenario`] set up as the conformance scenarios set it up (deploy/'s
//! RBAC, Secret, ConfigMap and Deployment; Loki behind TLS with basic auth and a tenant), the
//! [`Generator`] feeding the API server, and the screen refreshed about once a second.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::args::Options;
use super::generator::{Generator, apply};
use super::screen;
use super::state::{DemoState, Setup, parse_metrics};
use crate::scenario::Scenario;
use crate::sim::loki::LokiConfig;
use crate::tls::TlsMode;

/// One generator tick; the screen refreshes every second tick.
const TICK: Duration = Duration::from_millis(500);
/// Without a terminal, a status block this often.
const STATUS_EVERY: Duration = Duration::from_secs(5);
/// With `--duration`, the generator stops this long before the end, so the last events can
/// land before the summary.
const QUIET_END: Duration = Duration::from_secs(2);
/// At the end, how long to wait for what is still on its way.
const DRAIN: Duration = Duration::from_secs(5);
/// While draining, how long with nothing new arriving means nothing more will.
const STUCK: Duration = Duration::from_secs(2);
/// Collector log lines shown when nothing arrived.
const LOG_TAIL: usize = 15;

/// Runs the demo, printing as it goes; returns the final state (the caller exits non-zero when
/// nothing was stored).
pub async fn run(root: &Path, options: &Options) -> Result<DemoState, String> {
    let mut out = Output::new();
    let mut sc = Scenario::start(root).await?;
    let result = live(&mut sc, root, options, &mut out).await;
    out.restore();
    let log = sc.log();
    if !log.is_empty() && (result.is_err() || result.as_ref().is_ok_and(|s| s.stored == 0)) {
        let start = log.len().saturating_sub(LOG_TAIL);
        out.print(&["The collector's log, last lines:".to_owned()]);
        // Wrapped, not cut: this is what explains the failure.
        let lines: Vec<String> = log[start..]
            .iter()
            .flat_map(|l| screen::wrap_text(l, "  ", "      "))
            .collect();
        out.print(&lines);
    }
    if let Ok(state) = &result {
        out.print(&screen::summary(state));
    }
    let _ = sc.kill_collector().await;
    sc.cleanup();
    result
}

async fn live(
    sc: &mut Scenario,
    root: &Path,
    options: &Options,
    out: &mut Output,
) -> Result<DemoState, String> {
    sc.deploy("deploy")?;
    let deployment = sc.deployment.clone().ok_or("deploy/ did not load")?;
    let secret = |key: &str| deployment.secret.get(key).cloned().unwrap_or_default();
    // Loki's gateway accepts the credentials of deploy/'s Secret example, as the scenarios
    // configure it (harness/tests/steps/loki.rs), and serves TLS with the CA deploy/ mounts.
    sc.loki_config =
        Some(LokiConfig::default().with_basic_auth(secret("USER"), secret("PASSWORD")));
    sc.loki_tls_mode = Some(TlsMode::CaSigned);
    let binary = crate::collector::binary_path()?;
    let mut state = DemoState {
        setup: Setup {
            rbac: rbac_summary(&deployment.rbac),
            loki_user: secret("USER"),
            tenant: secret("X-SCOPE-ORGID"),
            binary: relative(root, &binary),
            config: config_file(root),
        },
        duration: options.duration,
        ..DemoState::default()
    };
    out.begin(&state);

    sc.start_collector().await?;
    let ready_by = Instant::now() + Duration::from_secs(10);
    while !sc.ready().await {
        if let Some(code) = sc.collector_exit_code() {
            return Err(format!("the collector exited at start (code {code})"));
        }
        if Instant::now() > ready_by {
            return Err("the collector did not become ready within 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let started = Instant::now();
    let generate_for = options
        .duration
        .map(|d| d.saturating_sub(QUIET_END).max(d / 2));
    let mut generator = Generator::new();
    let mut ticker = tokio::time::interval(TICK);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut ctrl_c_armed = true;
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            signal = &mut ctrl_c, if ctrl_c_armed => {
                ctrl_c_armed = false;
                // Without a handler (it could not be installed) Ctrl-C ends the process anyway.
                if signal.is_ok() {
                    break;
                }
            }
        }
        let elapsed = started.elapsed();
        if options.duration.is_some_and(|d| elapsed >= d) {
            break;
        }
        if generate_for.is_none_or(|g| elapsed < g) {
            for action in generator.step() {
                apply(&sc.api, &action);
            }
        }
        ticks += 1;
        if ticks.is_multiple_of(2) {
            refresh(&mut state, sc, &generator, started).await;
            out.show(&state);
        }
    }

    // Give the last occurrences a moment to land (the collector may also be shutting down:
    // Ctrl-C in a terminal reaches it too, and it delivers what it read before exiting), but
    // stop waiting once nothing moves.
    let drain_until = Instant::now() + DRAIN;
    let mut progress = (usize::MAX, Instant::now());
    loop {
        refresh(&mut state, sc, &generator, started).await;
        if state.received != progress.0 {
            progress = (state.received, Instant::now());
        }
        let landed = state.received as u64 >= state.occurrences;
        let stuck = progress.1.elapsed() >= STUCK;
        if landed || stuck || state.collector_exit.is_some() || Instant::now() > drain_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    out.end(&state);
    Ok(state)
}

async fn refresh(state: &mut DemoState, sc: &mut Scenario, generator: &Generator, since: Instant) {
    state.elapsed = since.elapsed();
    state.events = generator.events;
    state.occurrences = generator.occurrences;
    if let Ok(loki) = sc.loki() {
        let tenant = state.setup.tenant.clone();
        state.observe_loki(loki, &tenant);
    }
    state.collector_exit = sc.collector_exit_code();
    if state.collector_exit.is_none() {
        // Kept when it stops answering: the last numbers it reported.
        if let Some(metrics) = parse_metrics(&sc.metrics().await) {
            state.metrics = Some(metrics);
        }
    }
}

/// What the ClusterRoles grant, e.g. `events: get, list, watch`.
pub fn rbac_summary(rbac: &[Value]) -> String {
    let mut grants: Vec<String> = Vec::new();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for role in rbac.iter().filter(|o| o["kind"] == "ClusterRole") {
        for rule in role["rules"].as_array().into_iter().flatten() {
            let grant = format!(
                "{}: {}",
                strings(&rule["resources"]).join(", "),
                strings(&rule["verbs"]).join(", ")
            );
            if !grants.contains(&grant) {
                grants.push(grant);
            }
        }
    }
    if grants.is_empty() {
        "nothing".into()
    } else {
        grants.join("; ")
    }
}

/// The deploy/ file that holds the collector config (the ConfigMap).
fn config_file(root: &Path) -> String {
    let base = root.join("deploy/base");
    let mut files: Vec<_> = std::fs::read_dir(&base)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
        .iter()
        .find(|p| {
            std::fs::read_to_string(p).is_ok_and(|t| t.lines().any(|l| l == "kind: ConfigMap"))
        })
        .map_or_else(|| "deploy/".to_owned(), |p| relative(root, p))
}

/// `path` relative to the workspace when it is inside it.
fn relative(root: &Path, path: &Path) -> String {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    path.strip_prefix(&root)
        .unwrap_or(&path)
        .display()
        .to_string()
}

/// Where the screen goes: redrawn in place on a terminal, status blocks in logs.
#[derive(Debug)]
struct Output {
    terminal: bool,
    last_status: Option<Instant>,
}

/// ANSI: clear the screen, home the cursor, clear to the end of the line / of the screen,
/// hide and show the cursor.
const CLEAR: &str = "\x1b[2J";
const HOME: &str = "\x1b[H";
const CLEAR_LINE: &str = "\x1b[K";
const CLEAR_BELOW: &str = "\x1b[J";
const HIDE_CURSOR: &str = "\x1b[?25l";
const SHOW_CURSOR: &str = "\x1b[?25h";

impl Output {
    fn new() -> Output {
        Output {
            terminal: std::io::stdout().is_terminal(),
            last_status: None,
        }
    }

    fn begin(&mut self, state: &DemoState) {
        if self.terminal {
            self.write(&format!("{HIDE_CURSOR}{CLEAR}"));
            self.redraw(state);
        } else {
            let mut lines = screen::header(&state.setup);
            lines
                .push("Starting; a status every 5 s (run in a terminal for the live view).".into());
            self.print(&lines);
        }
    }

    fn show(&mut self, state: &DemoState) {
        if self.terminal {
            self.redraw(state);
        } else if self.last_status.is_none_or(|t| t.elapsed() >= STATUS_EVERY) {
            self.last_status = Some(Instant::now());
            self.print(&screen::status_block(state));
        }
    }

    /// The last frame stays on screen (in logs: the full panel once), above the summary.
    fn end(&mut self, state: &DemoState) {
        if self.terminal {
            self.redraw(state);
        } else {
            self.print(&screen::panel(state));
        }
    }

    fn restore(&mut self) {
        if self.terminal {
            self.write(SHOW_CURSOR);
        }
    }

    /// Overwrites the previous frame line by line (no blank screen in between: no flicker).
    fn redraw(&mut self, state: &DemoState) {
        let mut text = String::from(HOME);
        for line in screen::frame(state) {
            text.push_str(&line);
            text.push_str(CLEAR_LINE);
            text.push('\n');
        }
        text.push_str(CLEAR_BELOW);
        self.write(&text);
    }

    fn print(&mut self, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        self.write(&text);
    }

    fn write(&mut self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`| head`) is no reason to stop the demo.
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_rbac_summary_lists_each_grant_once() {
        let role = json!({"kind": "ClusterRole", "rules": [
            {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["get", "list", "watch"]},
        ]});
        let binding = json!({"kind": "ClusterRoleBinding"});
        assert_eq!(rbac_summary(&[role, binding]), "events: get, list, watch");
        assert_eq!(rbac_summary(&[]), "nothing");
    }

    #[test]
    fn the_config_comes_from_deploy() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(config_file(&root), "deploy/base/configmap.yaml");
    }
}
