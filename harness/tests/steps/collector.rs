//! Steps about the collector: how it is deployed, started, stopped, and what it says.

use std::time::Duration;

use cucumber::{given, then, when};
use harness::scenario::{ConfigChange, EVENTUALLY, SETTLE};
use serde_json::{Value, json};

use super::{E2e, eventually, tail, workspace_root};

const RESOURCE_ACTIONS: &str = "/processors/resource~1k8s_events/attributes";

fn change(w: &mut E2e, c: ConfigChange) -> Result<(), String> {
    w.env
        .as_mut()
        .ok_or("no scenario")?
        .config_changes()
        .push(c);
    Ok(())
}

/// Appends an action to the deployed resource processor.
fn add_resource_attribute(w: &mut E2e, key: &str, value: &str) -> Result<(), String> {
    let env = w.env.as_mut().ok_or("no scenario")?;
    let config = &mut env.deployment_mut()?.config;
    let actions = config
        .pointer_mut(RESOURCE_ACTIONS)
        .and_then(Value::as_array_mut)
        .ok_or("the deployed config has no resource/k8s_events processor")?;
    actions.push(json!({"action": "insert", "key": key, "value": value}));
    Ok(())
}

#[given(expr = "the collector is deployed from {string}")]
async fn deployed(w: &mut E2e, dir: String) -> Result<(), String> {
    w.env().await?.deploy(&super::deploy_dir(&dir)).await
}

#[given(expr = "the collector is deployed from {string} with Loki over plain http")]
async fn deployed_http(w: &mut E2e, dir: String) -> Result<(), String> {
    w.env().await?.deploy(&super::deploy_dir(&dir)).await?;
    change(w, ConfigChange::Remove("/exporters/loki/tls".into()))
}

#[given(expr = "the collector is deployed from {string} trusting the Loki CA")]
async fn deployed_ca(w: &mut E2e, dir: String) -> Result<(), String> {
    // deploy/ mounts the Loki CA at tls.ca_file; the scenario's CA is what is mounted there.
    w.env().await?.deploy(&super::deploy_dir(&dir)).await
}

#[given(
    expr = "the collector is deployed from {string} trusting the Loki CA with a client certificate"
)]
async fn deployed_mtls(w: &mut E2e, dir: String) -> Result<(), String> {
    let env = w.env().await?;
    env.deploy(&super::deploy_dir(&dir)).await?;
    let cert = env.cert_paths().client_cert.display().to_string();
    let key = env.cert_paths().client_key.display().to_string();
    change(
        w,
        ConfigChange::Set("/exporters/loki/tls/cert_file".into(), json!(cert)),
    )?;
    change(
        w,
        ConfigChange::Set("/exporters/loki/tls/key_file".into(), json!(key)),
    )
}

fn skip_verify(w: &mut E2e) -> Result<(), String> {
    change(
        w,
        ConfigChange::Remove("/exporters/loki/tls/ca_file".into()),
    )?;
    change(
        w,
        ConfigChange::Set(
            "/exporters/loki/tls/insecure_skip_verify".into(),
            json!(true),
        ),
    )
}

#[given(expr = "the collector is deployed from {string} with insecure_skip_verify")]
async fn deployed_skip_verify(w: &mut E2e, dir: String) -> Result<(), String> {
    w.env().await?.deploy(&super::deploy_dir(&dir)).await?;
    skip_verify(w)
}

#[given(expr = "the collector is deployed from {string} with loki.format {string}")]
async fn deployed_format(w: &mut E2e, dir: String, format: String) -> Result<(), String> {
    w.env().await?.deploy(&super::deploy_dir(&dir)).await?;
    add_resource_attribute(w, "loki.format", &format)
}

#[given(
    expr = "the collector is deployed from {string} with the tenant taken from each event's namespace"
)]
async fn deployed_tenant(w: &mut E2e, dir: String) -> Result<(), String> {
    w.env().await?.deploy(&super::deploy_dir(&dir)).await?;
    add_resource_attribute(w, "loki.tenant", "k8s.namespace.name")
}

#[given(expr = "the collector is deployed from {string} with the event uid as structured metadata")]
async fn deployed_metadata(w: &mut E2e, dir: String) -> Result<(), String> {
    w.env().await?.deploy(&super::deploy_dir(&dir)).await?;
    add_resource_attribute(w, "loki.structured_metadata", "k8s.event.uid")
}

#[given("the collector runs the reference config")]
async fn reference(w: &mut E2e) -> Result<(), String> {
    let env = w.env().await?;
    env.deploy("deploy").await?;
    let text = std::fs::read_to_string(
        workspace_root().join("collector/tests/fixtures/config/reference-otel-operator.yaml"),
    )
    .map_err(|e| e.to_string())?;
    let resource = harness::sim::apiserver::yaml_documents(&text)
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or("empty reference file")?;
    let config_text = resource
        .pointer("/spec/config")
        .and_then(Value::as_str)
        .ok_or("the reference has no spec.config string")?;
    let config = harness::sim::apiserver::yaml_documents(config_text)
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or("empty spec.config")?;
    let metrics = env.metrics_address();
    let d = env.deployment_mut()?;
    d.config = config;
    // The reference's spec.env reads the same Secret keys as deploy/ does, under its own names.
    let manifest = harness::manifests::parse_text("reference-otel-operator.yaml", &text)?
        .into_iter()
        .next()
        .ok_or("empty reference file")?;
    d.env = harness::manifests::env_vars(&manifest, manifest.at(&["spec", "env"]));
    // Its endpoint names the article's Loki host; DNS would send it to this scenario's Loki.
    change(
        w,
        ConfigChange::Set(
            "/exporters/loki/endpoint".into(),
            json!("${env:LOKI_ENDPOINT}"),
        ),
    )?;
    change(
        w,
        ConfigChange::Set("/service/telemetry/metrics/address".into(), json!(metrics)),
    )
}

#[given(expr = "the collector watches only the namespaces {string}")]
async fn namespaces(w: &mut E2e, list: String) -> Result<(), String> {
    let names: Vec<&str> = list.split(',').map(str::trim).collect();
    change(
        w,
        ConfigChange::Set("/receivers/k8s_events/namespaces".into(), json!(names)),
    )
}

#[given("the exporter retries quickly: first after 200ms, at most every 1s")]
async fn quick_retries(w: &mut E2e) -> Result<(), String> {
    change(
        w,
        ConfigChange::Set(
            "/exporters/loki/retry_on_failure/initial_interval".into(),
            json!("200ms"),
        ),
    )?;
    change(
        w,
        ConfigChange::Set(
            "/exporters/loki/retry_on_failure/max_interval".into(),
            json!("1s"),
        ),
    )
}

#[when("the collector starts")]
async fn starts(w: &mut E2e) -> Result<(), String> {
    w.env().await?.start_collector().await
}

#[when("the collector starts again")]
async fn starts_again(w: &mut E2e) -> Result<(), String> {
    w.env().await?.start_collector().await
}

#[when(expr = "the collector starts with start_from {string}")]
async fn starts_from(w: &mut E2e, from: String) -> Result<(), String> {
    change(
        w,
        ConfigChange::Set("/receivers/k8s_events/start_from".into(), json!(from)),
    )?;
    w.env().await?.start_collector().await
}

#[when("the collector is killed")]
async fn killed(w: &mut E2e) -> Result<(), String> {
    w.env().await?.kill_collector().await
}

#[when("the collector is redeployed with insecure_skip_verify and restarted")]
async fn redeployed(w: &mut E2e) -> Result<(), String> {
    w.env().await?.kill_collector().await?;
    skip_verify(w)?;
    w.env().await?.start_collector().await
}

#[when("the collector receives SIGTERM")]
async fn sigterm(w: &mut E2e) -> Result<(), String> {
    let env = w.env().await?;
    // Let the watch deliver what was just created before the signal.
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.terminate_collector()
}

#[then("the collector is ready")]
async fn is_ready(w: &mut E2e) -> Result<(), String> {
    let sc = w.env().await?;
    eventually(EVENTUALLY, || async {
        if sc.ready().await {
            Ok(())
        } else {
            Err(format!("/readyz is not 200\n{}", tail(&sc.log(), 10)))
        }
    })
    .await
}

#[then("the collector is not ready")]
async fn not_ready(w: &mut E2e) -> Result<(), String> {
    tokio::time::sleep(SETTLE).await;
    let sc = w.env().await?;
    if sc.ready().await {
        Err("/readyz answers 200".into())
    } else {
        Ok(())
    }
}

#[then(expr = "the collector log says {string}")]
async fn log_says(w: &mut E2e, text: String) -> Result<(), String> {
    let sc = w.env().await?;
    eventually(EVENTUALLY, || async {
        let log = sc.log();
        if log.iter().any(|l| l.contains(&text)) {
            Ok(())
        } else {
            Err(format!(
                "no log line contains {text:?}; last lines:\n{}",
                tail(&log, 15)
            ))
        }
    })
    .await
}

#[then(expr = "the collector log names the service account {string}")]
async fn log_names(w: &mut E2e, account: String) -> Result<(), String> {
    log_says(w, account).await
}

#[then(expr = "the collector exits with code {int}")]
async fn exits(w: &mut E2e, code: i32) -> Result<(), String> {
    let env = w.env().await?;
    match env.wait_collector_exit(Duration::from_secs(30)).await? {
        Some(c) if c == code => Ok(()),
        Some(c) => Err(format!(
            "exited with {c}, expected {code}\n{}",
            tail(&env.log(), 15)
        )),
        None => Err(format!("still running after 30s\n{}", tail(&env.log(), 15))),
    }
}

#[then(expr = "the text {string} appears nowhere in the collector's output or metrics")]
async fn nowhere(w: &mut E2e, secret: String) -> Result<(), String> {
    let sc = w.env().await?;
    let metrics = sc.metrics().await;
    if metrics.is_empty() {
        return Err("the collector serves no metrics to check".into());
    }
    let leaks: Vec<String> = sc
        .log()
        .into_iter()
        .filter(|l| l.contains(&secret))
        .collect();
    if !leaks.is_empty() {
        return Err(format!("the secret is in the log: {leaks:?}"));
    }
    if metrics.contains(&secret) {
        return Err("the secret is in /metrics".into());
    }
    Ok(())
}

#[then(expr = "the collector re-listed at least once")]
async fn relisted(w: &mut E2e) -> Result<(), String> {
    let env = w.env().await?;
    eventually(EVENTUALLY, || env.relisted()).await
}
