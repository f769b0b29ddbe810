//! Steps about high availability: the `ha` overlay's leader election (its Role, RoleBinding and
//! `k8s_leader_elector` config) on two replicas, and killing the leader.

use std::time::Duration;

use cucumber::{given, then, when};
use harness::env::Environment;
use harness::scenario::ConfigChange;
use harness::sim::apiserver::yaml_documents;
use serde_json::{Value, json};

use super::{E2e, eventually, tail, workspace_root};

/// The metric a replica reports its leadership in.
const LEADER_METRIC: &str = "k8s_event_collector_leader{";

fn read_yaml(path: &std::path::Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    yaml_documents(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The `k8s_leader_elector` parts of the ha overlay's collector config: the extension and the
/// receiver's reference to it.
fn overlay_elector(overlay: &std::path::Path) -> Result<(String, Value), String> {
    let patch = read_yaml(&overlay.join("configmap-patch.yaml"))?;
    let text = patch
        .first()
        .and_then(|d| d.pointer("/data/collector.yaml"))
        .and_then(Value::as_str)
        .ok_or("the ha overlay's ConfigMap patch has no collector.yaml")?;
    let config = yaml_documents(text)
        .map_err(|e| format!("the ha overlay's collector.yaml: {e}"))?
        .into_iter()
        .next()
        .ok_or("the ha overlay's collector.yaml is empty")?;
    let id = config
        .pointer("/receivers/k8s_events/k8s_leader_elector")
        .and_then(Value::as_str)
        .ok_or("the ha overlay's receiver names no k8s_leader_elector")?
        .to_owned();
    let extension = config
        .pointer(&format!("/extensions/{}", id.replace('/', "~1")))
        .cloned()
        .ok_or_else(|| format!("the ha overlay's config has no extension {id}"))?;
    Ok((id, extension))
}

#[given(
    expr = "the ha overlay's leader election is added: lease {string} in {string}, lease_duration {word}, renew_deadline {word}, retry_period {word}"
)]
async fn ha_overlay(
    w: &mut E2e,
    lease: String,
    namespace: String,
    lease_duration: String,
    renew_deadline: String,
    retry_period: String,
) -> Result<(), String> {
    // A deployment under test (`--deploy DIR`) may bring its own ha overlay; else deploy/'s.
    let overlay = [super::deploy_dir("deploy"), "deploy".to_owned()]
        .map(|dir| workspace_root().join(dir).join("overlays/ha"))
        .into_iter()
        .find(|dir| dir.is_dir())
        .ok_or("no overlays/ha in the deployment under test, nor in deploy/")?;
    let (id, mut extension) = overlay_elector(&overlay)?;
    let env = w.env().await?;
    let deployment = env.deployment_mut()?;
    for file in ["role.yaml", "rolebinding.yaml"] {
        deployment.rbac.extend(read_yaml(&overlay.join(file))?);
    }
    env.apply_rbac().await?;
    let timings = [
        ("lease_name", json!(lease)),
        ("lease_namespace", json!(namespace)),
        ("lease_duration", json!(lease_duration)),
        ("renew_deadline", json!(renew_deadline)),
        ("retry_period", json!(retry_period)),
    ];
    for (key, value) in timings {
        extension[key] = value;
    }
    let extension_pointer = format!("/extensions/{}", id.replace('/', "~1"));
    let mut extensions: Vec<Value> = env
        .deployment_mut()?
        .config
        .pointer("/service/extensions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !extensions.contains(&json!(id)) {
        extensions.push(json!(id));
    }
    env.config_changes().extend([
        ConfigChange::Set(extension_pointer, extension),
        ConfigChange::Set("/receivers/k8s_events/k8s_leader_elector".into(), json!(id)),
        ConfigChange::Set("/service/extensions".into(), Value::Array(extensions)),
    ]);
    Ok(())
}

/// `Some(true)` when replica `name` reports itself the leader, `Some(false)` on standby,
/// `None` when it does not answer.
async fn is_leader(env: &Environment, name: &str) -> Option<bool> {
    let metrics = env.replica_metrics(name).await;
    let line = metrics.lines().find(|l| l.starts_with(LEADER_METRIC))?;
    Some(line.trim_end().ends_with(" 1"))
}

/// The one replica reporting itself leader.
async fn the_leader(env: &Environment) -> Result<String, String> {
    let mut leading = Vec::new();
    for name in env.replica_names() {
        if is_leader(env, &name).await == Some(true) {
            leading.push(name);
        }
    }
    match leading.as_slice() {
        [leader] => Ok(leader.clone()),
        _ => Err(format!("not exactly one leader: {leading:?}")),
    }
}

/// Waits until exactly one replica leads and every other one answers as standby.
async fn one_leader(env: &Environment, within: Duration) -> Result<(), String> {
    eventually(within, || async move {
        let mut leading = Vec::new();
        for name in env.replica_names() {
            match is_leader(env, &name).await {
                Some(true) => leading.push(name),
                Some(false) => {}
                None => return Err(format!("replica {name} does not answer /metrics")),
            }
        }
        if leading.len() == 1 {
            Ok(())
        } else {
            Err(format!(
                "leaders: {leading:?}\n{}",
                tail(&env.replica_log(), 20)
            ))
        }
    })
    .await
}

#[when(expr = "replicas {string} and {string} start")]
async fn replicas_start(w: &mut E2e, a: String, b: String) -> Result<(), String> {
    let env = w.env().await?;
    env.start_replica(&a).await?;
    env.start_replica(&b).await?;
    let env: &Environment = env;
    one_leader(env, Duration::from_secs(15)).await?;
    // The leader is ready once its receiver has listed: events created from now on are shipped.
    eventually(Duration::from_secs(15), || async move {
        for name in env.replica_names() {
            env.replica_ready(&name).await?;
        }
        Ok(())
    })
    .await
}

#[then("exactly one replica is the leader")]
async fn exactly_one(w: &mut E2e) -> Result<(), String> {
    one_leader(w.env().await?, Duration::from_secs(5)).await
}

#[when("the leader is killed")]
async fn leader_killed(w: &mut E2e) -> Result<(), String> {
    let env = w.env().await?;
    let leader = the_leader(env).await?;
    let mut replica = env.take_replica(&leader)?;
    replica
        .process
        .kill()
        .await
        .map_err(|e| format!("SIGKILL to {leader}: {e}"))?;
    let _ = replica.process.wait_exit(Duration::from_secs(5)).await;
    // The last lines are still on their way from the pipe.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = replica.process.log();
    env.keep_log(log.iter().map(|l| format!("[{leader}] {l}")).collect());
    Ok(())
}

#[then(expr = "the other replica becomes the leader within {int} seconds")]
async fn takes_over(w: &mut E2e, seconds: u64) -> Result<(), String> {
    one_leader(w.env().await?, Duration::from_secs(seconds)).await
}

#[then("no entry was pushed to Loki twice")]
async fn no_resend(w: &mut E2e) -> Result<(), String> {
    let env = w.env().await?;
    let (accepted, stored) = env.entries_pushed_and_stored().await?;
    if accepted == stored {
        Ok(())
    } else {
        Err(format!(
            "Loki accepted {accepted} entries but stores {stored}: the new leader re-sent some\n{}",
            tail(&env.log(), 30)
        ))
    }
}

#[when("the leader receives SIGTERM and exits")]
async fn leader_terminated(w: &mut E2e) -> Result<(), String> {
    let env = w.env().await?;
    let leader = the_leader(env).await?;
    let mut replica = env.take_replica(&leader)?;
    replica
        .process
        .terminate()
        .map_err(|e| format!("SIGTERM to {leader}: {e}"))?;
    let code = replica.process.wait_exit(Duration::from_secs(25)).await;
    // The last lines are still on their way from the pipe.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = replica.process.log();
    env.keep_log(log.iter().map(|l| format!("[{leader}] {l}")).collect());
    if code != Some(0) {
        return Err(format!("{leader} exited with {code:?}\n{}", tail(&log, 15)));
    }
    // The Lease is given up, not left to expire: the standby need not wait lease_duration.
    if !log.iter().any(|l| l.contains("released the Lease")) {
        return Err(format!(
            "{leader} did not release the Lease\n{}",
            tail(&log, 15)
        ));
    }
    Ok(())
}
