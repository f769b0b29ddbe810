//! What a run leaves for people and CI besides the console and JUnit: each step's timing, and
//! a JSON summary (`summary.json`: per scenario its feature, line, status, error, duration
//! and steps; the scenarios not run, with why). A failed scenario's folder in `target/e2e/`
//! also gets `steps.txt`: its steps, how long each took, and the error.
//!
//! [`Record`] is a cucumber writer teed beside the console and JUnit ones; it sees the
//! normalized events, each stamped with the time it happened.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cucumber::event::{self, Cucumber, Feature, Hook, RetryableScenario, Rule, Scenario, Step};
use cucumber::{Event, World, Writer, cli, gherkin, parser};
use serde_json::{Value, json};

/// A scenario's folder name: its words and line, e.g. `rbac-12-a-clusterrole-without-watch`.
pub fn slug(file: &str, line: usize, name: &str) -> String {
    let stem = file.trim_end_matches(".feature");
    let words: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let words: Vec<&str> = words.split('-').filter(|w| !w.is_empty()).collect();
    let mut out = format!("{stem}-{line}-{}", words.join("-"));
    out.truncate(100);
    out
}

/// The file name of a feature (`rbac.feature`).
pub fn feature_file(feature: &gherkin::Feature) -> String {
    feature
        .path
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One step as it ran.
#[derive(Debug, Clone, PartialEq)]
struct StepRun {
    text: String,
    began: SystemTime,
    took: Option<Duration>,
    /// passed, failed or skipped; "running" until it ends.
    status: &'static str,
    error: Option<String>,
}

/// One scenario as it ran.
#[derive(Debug, Clone, PartialEq)]
struct ScenarioRun {
    feature: String,
    name: String,
    line: usize,
    began: SystemTime,
    took: Duration,
    steps: Vec<StepRun>,
    hook_error: Option<String>,
}

impl ScenarioRun {
    fn status(&self) -> &'static str {
        if self.hook_error.is_some() || self.steps.iter().any(|s| s.status == "failed") {
            "failed"
        } else if self.steps.iter().any(|s| s.status != "passed") {
            "skipped"
        } else {
            "passed"
        }
    }

    fn error(&self) -> Option<String> {
        self.steps
            .iter()
            .find(|s| s.status == "failed")
            .map(|s| format!("{}: {}", s.text, s.error.as_deref().unwrap_or_default()))
            .or_else(|| self.hook_error.clone())
    }

    fn slug(&self) -> String {
        slug(&self.feature, self.line, &self.name)
    }

    /// `steps.txt`: each step with its start (after the scenario's), duration and outcome.
    fn steps_text(&self) -> String {
        let mut out = format!(
            "{}:{}  {}\n{} in {}\n\n",
            self.feature,
            self.line,
            self.name,
            self.status(),
            shown(self.took)
        );
        for step in &self.steps {
            let at = step.began.duration_since(self.began).unwrap_or_default();
            let took = step.took.map_or_else(|| "-".to_owned(), shown);
            out.push_str(&format!(
                "+{:<8} {took:>8}  {:<7} {}\n",
                shown(at),
                step.status,
                step.text
            ));
            if let Some(error) = &step.error {
                for line in error.lines() {
                    out.push_str(&format!("{:28}{line}\n", ""));
                }
            }
        }
        if let Some(error) = &self.hook_error {
            out.push_str(&format!("hook failed: {error}\n"));
        }
        out
    }

    fn json(&self, dir: &Path) -> Value {
        let failed = self.status() == "failed";
        json!({
            "feature": self.feature,
            "scenario": self.name,
            "line": self.line,
            "status": self.status(),
            "duration_ms": self.took.as_millis(),
            "error": self.error(),
            "diagnostics": failed.then(|| dir.join(self.slug()).display().to_string()),
            "steps": self.steps.iter().map(|s| json!({
                "step": s.text,
                "status": s.status,
                "duration_ms": s.took.map(|t| t.as_millis()),
                "error": s.error,
            })).collect::<Vec<_>>(),
        })
    }
}

fn shown(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// The writer: collects every scenario's steps and timings; writes `steps.txt` for a failed
/// one and `summary.json` at the end.
pub struct Record {
    environment: &'static str,
    /// `target/e2e`: the failed scenarios' folders are there.
    dir: PathBuf,
    summary: PathBuf,
    /// The scenarios left out, with why: (feature file, scenario, why).
    not_run: fn() -> Vec<(String, String, String)>,
    began: Option<SystemTime>,
    running: HashMap<(String, usize), ScenarioRun>,
    done: Vec<ScenarioRun>,
    parse_errors: Vec<String>,
}

impl Record {
    pub fn new(
        environment: &'static str,
        dir: PathBuf,
        summary: PathBuf,
        not_run: fn() -> Vec<(String, String, String)>,
    ) -> Record {
        Record {
            environment,
            dir,
            summary,
            not_run,
            began: None,
            running: HashMap::new(),
            done: Vec::new(),
            parse_errors: Vec::new(),
        }
    }

    fn on_scenario<W>(
        &mut self,
        feature: &gherkin::Feature,
        scenario: &gherkin::Scenario,
        event: &Scenario<W>,
        at: SystemTime,
    ) {
        let key = (feature_file(feature), scenario.position.line);
        match event {
            Scenario::Started => {
                let run = ScenarioRun {
                    feature: key.0.clone(),
                    name: scenario.name.clone(),
                    line: key.1,
                    began: at,
                    took: Duration::ZERO,
                    steps: Vec::new(),
                    hook_error: None,
                };
                self.running.insert(key, run);
            }
            Scenario::Background(step, ev) => self.on_step(&key, "(background) ", step, ev, at),
            Scenario::Step(step, ev) => self.on_step(&key, "", step, ev, at),
            Scenario::Hook(which, Hook::Failed(_, info)) => {
                if let Some(run) = self.running.get_mut(&key) {
                    run.hook_error = Some(format!("{which:?} hook: {}", panic_text(info)));
                }
            }
            Scenario::Finished => {
                if let Some(mut run) = self.running.remove(&key) {
                    run.took = at.duration_since(run.began).unwrap_or_default();
                    if run.status() == "failed" {
                        self.write_steps(&run);
                    }
                    self.done.push(run);
                }
            }
            Scenario::Hook(..) | Scenario::Log(_) => {}
        }
    }

    fn on_step<W>(
        &mut self,
        key: &(String, usize),
        prefix: &str,
        step: &gherkin::Step,
        event: &Step<W>,
        at: SystemTime,
    ) {
        let Some(run) = self.running.get_mut(key) else {
            return;
        };
        let text = format!("{prefix}{}{}", step.keyword, step.value);
        if let Step::Started = event {
            run.steps.push(StepRun {
                text,
                began: at,
                took: None,
                status: "running",
                error: None,
            });
            return;
        }
        // A step skipped before it started (none matched) has no Started event.
        let open = run
            .steps
            .iter()
            .rposition(|s| s.text == text && s.status == "running");
        let index = open.unwrap_or_else(|| {
            run.steps.push(StepRun {
                text,
                began: at,
                took: None,
                status: "running",
                error: None,
            });
            run.steps.len() - 1
        });
        let step_run = &mut run.steps[index];
        step_run.took = Some(at.duration_since(step_run.began).unwrap_or_default());
        match event {
            Step::Passed(..) => step_run.status = "passed",
            Step::Skipped => step_run.status = "skipped",
            Step::Failed(_, _, _, error) => {
                step_run.status = "failed";
                step_run.error = Some(error.to_string());
            }
            Step::Started => {}
        }
    }

    fn write_steps(&self, run: &ScenarioRun) {
        let dir = self.dir.join(run.slug());
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("steps.txt"), run.steps_text()));
        if let Err(e) = written {
            eprintln!("steps.txt of {}: {e}", dir.display());
        }
    }

    /// The JSON summary of the whole run.
    fn summary_json(&self, finished: SystemTime) -> Value {
        let count = |status: &str| self.done.iter().filter(|r| r.status() == status).count();
        let took = self
            .began
            .and_then(|b| finished.duration_since(b).ok())
            .unwrap_or_default();
        let not_run: Vec<Value> = (self.not_run)()
            .into_iter()
            .map(|(feature, scenario, why)| json!({"feature": feature, "scenario": scenario, "why": why}))
            .collect();
        json!({
            "environment": self.environment,
            "duration_ms": took.as_millis(),
            "scenarios": self.done.len(),
            "passed": count("passed"),
            "failed": count("failed"),
            "skipped": count("skipped"),
            "not_run": not_run,
            "parse_errors": self.parse_errors,
            "results": self.done.iter().map(|r| r.json(&self.dir)).collect::<Vec<_>>(),
        })
    }

    fn write_summary(&self, finished: SystemTime) {
        let text = serde_json::to_string_pretty(&self.summary_json(finished)).unwrap_or_default();
        if let Some(dir) = self.summary.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match std::fs::write(&self.summary, text) {
            Ok(()) => eprintln!("JSON summary: {}", self.summary.display()),
            Err(e) => eprintln!("JSON summary: {}: {e}", self.summary.display()),
        }
    }
}

/// A panic payload's text (steps fail by panicking).
fn panic_text(info: &event::Info) -> String {
    if let Some(s) = info.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = info.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "(no message)".to_owned()
    }
}

impl<W: World> Writer<W> for Record {
    type Cli = cli::Empty;

    async fn handle_event(&mut self, event: parser::Result<Event<Cucumber<W>>>, _cli: &Self::Cli) {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                self.parse_errors.push(e.to_string());
                return;
            }
        };
        let at = event.at;
        match &event.value {
            Cucumber::Started => self.began = Some(at),
            Cucumber::Feature(feature, Feature::Scenario(scenario, retryable))
            | Cucumber::Feature(feature, Feature::Rule(_, Rule::Scenario(scenario, retryable))) => {
                let RetryableScenario { event, .. } = retryable;
                self.on_scenario(feature, scenario, event, at);
            }
            Cucumber::Finished => self.write_summary(at),
            _ => {}
        }
    }
}
