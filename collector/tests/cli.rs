//! The binary as users run it: exit codes, output streams, and that secrets stay out.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

const REFERENCE: &str = "config/reference-otel-operator.yaml";
const PASSWORD: &str = "pa55-w0rd-never-printed";

fn collector(args: &[&str], with_env: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_k8s-event-collector"));
    cmd.args(args).env_clear();
    if with_env {
        cmd.envs([
            ("K8S_NODE_NAME", "node-a"),
            ("OPEN_TELEMETRY_COLLECTOR_ORGID", "tenant-a"),
            ("OPEN_TELEMETRY_COLLECTOR_USERNAME", "otel"),
            ("OPEN_TELEMETRY_COLLECTOR_PASSWORD", PASSWORD),
        ]);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run the collector: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn validate_exits_0_when_valid_1_when_not_2_when_unreadable() {
    let reference = fixture(REFERENCE);
    let reference = reference.to_str().unwrap_or_default();
    let valid = collector(&["validate", "--config", reference], true);
    assert_eq!(valid.status.code(), Some(0), "{}", text(&valid));
    assert!(
        text(&valid).contains("valid (1 warning, 4 notes)"),
        "{}",
        text(&valid)
    );

    let invalid = collector(&["validate", "--config", reference], false);
    assert_eq!(invalid.status.code(), Some(1), "{}", text(&invalid));
    assert!(text(&invalid).contains("`OPEN_TELEMETRY_COLLECTOR_PASSWORD` is not set"));

    let missing = collector(
        &["validate", "--config", "/nonexistent/collector.yaml"],
        true,
    );
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).starts_with("/nonexistent/collector.yaml: cannot read:"));
}

#[test]
fn the_password_never_reaches_any_output() {
    let reference = fixture(REFERENCE);
    let reference = reference.to_str().unwrap_or_default();
    let events = fixture("kube/watch-core.jsonl");
    let events = events.to_str().unwrap_or_default();
    for args in [
        vec!["validate", "--config", reference],
        vec!["print-config", "--config", reference],
        vec!["replay", "--config", reference, "--events", events],
        vec![&format!("--config={reference}")],
    ] {
        let out = collector(&args, true);
        assert!(
            !text(&out).contains(PASSWORD),
            "{args:?} printed the password:\n{}",
            text(&out)
        );
    }
    let printed = collector(&["print-config", "--config", reference], true);
    assert!(String::from_utf8_lossy(&printed.stdout).contains("password: [REDACTED]"));
}

#[test]
fn replay_shows_the_pushes_loki_would_get() {
    let reference = fixture(REFERENCE);
    let events = fixture("kube/watch-core.jsonl");
    let out = collector(
        &[
            "replay",
            "--config",
            reference.to_str().unwrap_or_default(),
            "--events",
            events.to_str().unwrap_or_default(),
        ],
        true,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("pipeline logs: 4 records in, 0 dropped by processors"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"stream {cluster="tenant-a", exporter="OTLP", level="WARN", node="node-a", receiver="k8s_event"}"#),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("DELETED is not a new occurrence"));
}

#[test]
fn operator_style_config_flag_is_accepted() {
    let reference = fixture(REFERENCE);
    let out = collector(&[&format!("--config={}", reference.display())], false);
    // Without its env the reference config is invalid: the flag was understood as `run`.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("is not set"), "{}", text(&out));
}
