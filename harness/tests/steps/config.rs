//! Steps about the config as users check it: validate, print-config, and the Secret.

use cucumber::{given, then, when};
use harness::scenario::ConfigChange;

use super::{E2e, workspace_root};

const REFERENCE: &str = "collector/tests/fixtures/config/reference-otel-operator.yaml";
const REFERENCE_ENV: &[(&str, &str)] = &[
    ("K8S_NODE_NAME", "node-a"),
    ("OPEN_TELEMETRY_COLLECTOR_ORGID", "tenant-a"),
    ("OPEN_TELEMETRY_COLLECTOR_USERNAME", "otel"),
    ("OPEN_TELEMETRY_COLLECTOR_PASSWORD", "pa55"),
];

async fn run_binary(w: &mut E2e, args: &[String], env: &[(String, String)]) -> Result<(), String> {
    let binary = harness::collector::binary_path()?;
    let out = tokio::process::Command::new(&binary)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    w.last_command = Some((out.status.code().unwrap_or(-1), text));
    Ok(())
}

fn reference_env() -> Vec<(String, String)> {
    REFERENCE_ENV
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[given(expr = "the Secret {string} has {string} set to {string}")]
async fn secret_set(w: &mut E2e, _name: String, key: String, value: String) -> Result<(), String> {
    let env = w.env().await?;
    env.deployment_mut()?.secret.insert(key, value);
    env.apply_secret().await
}

#[given(expr = "the password in the Secret and at Loki's gateway is {string}")]
async fn shared_password(w: &mut E2e, password: String) -> Result<(), String> {
    let env = w.env().await?;
    let user = env.deployment_mut()?.secret_value("USER");
    env.deployment_mut()?
        .secret
        .insert("PASSWORD".into(), password.clone());
    env.apply_secret().await?;
    env.change_loki_basic_auth(&user, &password).await
}

#[when(expr = "the password at Loki's gateway is changed to {string}")]
async fn gateway_password(w: &mut E2e, password: String) -> Result<(), String> {
    let env = w.env().await?;
    let user = env.deployment_mut()?.secret_value("USER");
    env.change_loki_basic_auth(&user, &password).await
}

/// Writes the password file as the kubelet updates a Secret volume: a new file, then a rename.
fn write_password_file(path: &std::path::Path, password: &str) -> Result<(), String> {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, password).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

#[given(expr = "the collector is deployed from {string} reading the Loki password from a file")]
async fn password_file(w: &mut E2e, dir: String) -> Result<(), String> {
    let env = w.env().await?;
    env.deploy(&super::deploy_dir(&dir)).await?;
    let password = env
        .deployment_mut()?
        .secret
        .get("PASSWORD")
        .cloned()
        .unwrap_or_default();
    let path = env.dir().join("loki-password");
    write_password_file(&path, &password)?;
    let auth = "/extensions/basicauth~1client/client_auth";
    let changes = env.config_changes();
    changes.push(ConfigChange::Remove(format!("{auth}/password")));
    changes.push(ConfigChange::Set(
        format!("{auth}/password_file"),
        serde_json::json!(path.display().to_string()),
    ));
    Ok(())
}

#[when(expr = "the password is rotated to {string} in the file and at Loki's gateway")]
async fn rotate(w: &mut E2e, password: String) -> Result<(), String> {
    let env = w.env().await?;
    let user = env.deployment_mut()?.secret_value("USER");
    write_password_file(&env.dir().join("loki-password"), &password)?;
    env.change_loki_basic_auth(&user, &password).await
}

#[given(expr = "the Secret {string} has no key {string}")]
async fn secret_without(w: &mut E2e, _name: String, key: String) -> Result<(), String> {
    let env = w.env().await?;
    env.deployment_mut()?.secret.remove(&key);
    env.apply_secret().await
}

#[when("validate runs on the reference config with its env variables set")]
async fn validate_reference(w: &mut E2e) -> Result<(), String> {
    let path = workspace_root().join(REFERENCE).display().to_string();
    run_binary(
        w,
        &["validate".into(), "--config".into(), path],
        &reference_env(),
    )
    .await
}

#[when(expr = "validate runs on the reference config with {string} replaced by {string}")]
async fn validate_broken(w: &mut E2e, from: String, to: String) -> Result<(), String> {
    let text =
        std::fs::read_to_string(workspace_root().join(REFERENCE)).map_err(|e| e.to_string())?;
    if !text.contains(&from) {
        return Err(format!("the reference config does not contain {from:?}"));
    }
    // A file of its own, outside any environment: validating a file needs no servers.
    let dir = std::env::temp_dir().join(format!(
        "kec-validate-{}-{}",
        std::process::id(),
        NEXT_FILE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("broken.yaml");
    std::fs::write(&path, text.replacen(&from, &to, 1))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let ran = run_binary(
        w,
        &[
            "validate".into(),
            "--config".into(),
            path.display().to_string(),
        ],
        &reference_env(),
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    ran
}

static NEXT_FILE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[when("validate runs on a file that does not exist")]
async fn validate_missing(w: &mut E2e) -> Result<(), String> {
    run_binary(
        w,
        &[
            "validate".into(),
            "--config".into(),
            "/nonexistent/collector.yaml".into(),
        ],
        &[],
    )
    .await
}

async fn on_deployed(w: &mut E2e, command: &str) -> Result<(), String> {
    let (path, env) = w.env().await?.mount().await?;
    let env: Vec<(String, String)> = env.into_iter().collect();
    run_binary(
        w,
        &[
            command.into(),
            "--config".into(),
            path.display().to_string(),
        ],
        &env,
    )
    .await
}

#[when("validate runs on the deployed config")]
async fn validate_deployed(w: &mut E2e) -> Result<(), String> {
    on_deployed(w, "validate").await
}

#[when("print-config runs on the deployed config")]
async fn print_deployed(w: &mut E2e) -> Result<(), String> {
    on_deployed(w, "print-config").await
}

fn last(w: &E2e) -> Result<&(i32, String), String> {
    w.last_command
        .as_ref()
        .ok_or_else(|| "no command ran".into())
}

#[then(expr = "it exits with code {int}")]
async fn exit_code(w: &mut E2e, code: i32) -> Result<(), String> {
    let (got, text) = last(w)?;
    if *got == code {
        Ok(())
    } else {
        Err(format!("exit code {got}, expected {code}:\n{text}"))
    }
}

#[then(expr = "its output contains {string}")]
async fn output_contains(w: &mut E2e, needle: String) -> Result<(), String> {
    let (_, text) = last(w)?;
    if text.contains(&needle) {
        Ok(())
    } else {
        Err(format!("the output lacks {needle:?}:\n{text}"))
    }
}

#[then(expr = "its output does not contain {string}")]
async fn output_lacks(w: &mut E2e, needle: String) -> Result<(), String> {
    let (_, text) = last(w)?;
    if text.contains(&needle) {
        Err(format!("the output contains {needle:?}"))
    } else {
        Ok(())
    }
}

#[then("its output names a line and column")]
async fn names_position(w: &mut E2e) -> Result<(), String> {
    let (_, text) = last(w)?;
    let located = regex::Regex::new(r"\.yaml:\d+:\d+: error:").map_err(|e| e.to_string())?;
    if located.is_match(text) {
        Ok(())
    } else {
        Err(format!("no file:line:column in:\n{text}"))
    }
}
