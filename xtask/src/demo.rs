//! `cargo xtask demo`: the collector on the reference config users run today, fed with events
//! recorded from a real kube-apiserver, showing exactly what it would push to Loki.

use crate::process::{cargo, exec, workspace_root};

/// The reference config's variables, as its `spec.env` would set them in a cluster.
const DEMO_ENV: &[(&str, &str)] = &[
    ("K8S_NODE_NAME", "demo-node"),
    ("OPEN_TELEMETRY_COLLECTOR_ORGID", "demo-tenant"),
    ("OPEN_TELEMETRY_COLLECTOR_USERNAME", "demo"),
    ("OPEN_TELEMETRY_COLLECTOR_PASSWORD", "demo-password"),
];

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("`demo` takes no arguments yet (got `{extra}`)"));
    }
    let root = workspace_root();
    let config = root.join("collector/tests/fixtures/config/reference-otel-operator.yaml");
    let events = root.join("collector/tests/fixtures/kube/watch-core.jsonl");
    let bin = ["run", "--quiet", "--package", "k8s-event-collector", "--"];

    eprintln!("== 1. The reference config users run today, checked");
    exec(
        cargo()
            .args(bin)
            .arg("validate")
            .arg("--config")
            .arg(&config)
            .envs(DEMO_ENV.iter().copied()),
    )?;
    eprintln!("\n== 2. The same config as it will run: variables expanded, the password redacted");
    exec(
        cargo()
            .args(bin)
            .arg("print-config")
            .arg("--config")
            .arg(&config)
            .envs(DEMO_ENV.iter().copied()),
    )?;
    eprintln!("\n== 3. Events recorded from a real kube-apiserver watch, through that pipeline:");
    eprintln!("      what the loki exporter would push");
    exec(
        cargo()
            .args(bin)
            .arg("replay")
            .arg("--config")
            .arg(&config)
            .arg("--events")
            .arg(&events)
            .envs(DEMO_ENV.iter().copied()),
    )?;
    Ok(())
}
