//! What `deploy/` gives the collector, read as Kubernetes would: the RBAC objects, the Secret,
//! the ConfigMap's collector config and the Deployment's container environment. Scenarios
//! change these (delete a binding, change a password) exactly where an operator would.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::manifests::{self, EnvSource, EnvVar};
use crate::sim::apiserver::yaml_documents;

/// The deployed objects a scenario works with.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// ClusterRoles, ClusterRoleBindings, Roles and RoleBindings, as JSON objects.
    pub rbac: Vec<Value>,
    /// The Secret `loki-creds`: key -> value.
    pub secret: BTreeMap<String, String>,
    /// The ConfigMap's `collector.yaml`, as JSON (JSON is YAML, so it is written back as is).
    pub config: Value,
    /// The collector container's `env`.
    pub env: Vec<EnvVar>,
    /// The collector's identity: `system:serviceaccount:<namespace>:<name>`.
    pub service_account: String,
    /// The namespace everything is deployed in.
    pub namespace: String,
}

/// `kubectl kustomize <dir>`: the manifests as the real tool renders them (the tools' kubectl
/// when `cargo xtask tools` provided one, else the one on PATH).
fn kustomize(dir: &Path) -> Result<String, String> {
    let kubectl = crate::local::tools::tools_dir()
        .map(|d| d.join("kubectl"))
        .ok()
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "kubectl".into());
    let out = std::process::Command::new(&kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|e| {
            format!(
                "{} is not deploy/'s layout (no base/), so it is rendered with `kubectl \
                 kustomize`, but {} cannot run ({e}): run `cargo xtask tools`",
                dir.display(),
                kubectl.display()
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "kubectl kustomize {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The Secret the Deployment reads its credentials from.
pub const SECRET_NAME: &str = "loki-creds";

fn read_documents(path: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    yaml_documents(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
}

impl Deployment {
    /// Reads `<root>/<dir>/base` (deploy/'s layout: the manifests as files) or, for any other
    /// kustomize directory (a platform team's overlay), what `kubectl kustomize <dir>` renders;
    /// and the Secret example `<dir>/secret.example.yaml`, else deploy/'s (the harness's Loki
    /// gateway accepts its credentials).
    pub fn load(root: &Path, dir: &str) -> Result<Deployment, String> {
        let base = root.join(dir).join("base");
        let (mut docs, manifests) = if base.is_dir() {
            let mut docs = Vec::new();
            for file in manifests::yaml_files(root, &format!("{dir}/base"))? {
                if file.ends_with("kustomization.yaml") {
                    continue;
                }
                docs.extend(read_documents(&root.join(&file))?);
            }
            (docs, manifests::load_dir(root, &format!("{dir}/base"))?)
        } else {
            let text = kustomize(&root.join(dir))?;
            let origin = format!("kubectl kustomize {dir}");
            let docs = yaml_documents(&text).map_err(|e| format!("{origin}: {e}"))?;
            (docs, manifests::parse_text(&origin, &text)?)
        };
        let secret_example = [root.join(dir), root.join("deploy")]
            .map(|d| d.join("secret.example.yaml"))
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| format!("{dir}: no secret.example.yaml, and deploy/ has none"))?;
        docs.extend(read_documents(&secret_example)?);
        let kind = |d: &Value| str_at(d, &["kind"]).unwrap_or_default().to_owned();

        let rbac = docs
            .iter()
            .filter(|d| {
                matches!(
                    kind(d).as_str(),
                    "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding"
                )
            })
            .cloned()
            .collect();
        let secret_doc = docs
            .iter()
            .find(|d| kind(d) == "Secret" && str_at(d, &["metadata", "name"]) == Some(SECRET_NAME))
            .ok_or_else(|| format!("{dir}: no Secret {SECRET_NAME}"))?;
        let secret = secret_data(secret_doc);
        let config_text = docs
            .iter()
            .find(|d| kind(d) == "ConfigMap")
            .and_then(|d| str_at(d, &["data", "collector.yaml"]))
            .ok_or_else(|| format!("{}: no ConfigMap with collector.yaml", base.display()))?;
        let config = yaml_documents(config_text)
            .map_err(|e| format!("the ConfigMap's collector.yaml: {e}"))?
            .into_iter()
            .next()
            .ok_or("the ConfigMap's collector.yaml is empty")?;
        let deployment = docs
            .iter()
            .find(|d| kind(d) == "Deployment")
            .ok_or_else(|| format!("{}: no Deployment", base.display()))?;
        let account = str_at(
            deployment,
            &["spec", "template", "spec", "serviceAccountName"],
        )
        .ok_or("the Deployment names no serviceAccountName")?;
        let namespace = str_at(deployment, &["metadata", "namespace"]).unwrap_or("default");
        let env = env_of_collector(&manifests, dir)?;
        Ok(Deployment {
            rbac,
            secret,
            config,
            env,
            service_account: format!("system:serviceaccount:{namespace}:{account}"),
            namespace: namespace.to_owned(),
        })
    }

    /// The container environment the kubelet would give: Secret keys and pod fields resolved.
    /// A key missing from the Secret leaves its variable unset (as `optional: true` would);
    /// the collector must then refuse to start, naming it.
    pub fn render_env(&self, node_name: &str) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for var in &self.env {
            let value = match &var.source {
                EnvSource::Value(v) => Some(v.clone()),
                EnvSource::SecretKey { name, key } if name == SECRET_NAME => {
                    self.secret.get(key).cloned()
                }
                EnvSource::Field(path) if path == "spec.nodeName" => Some(node_name.to_owned()),
                EnvSource::Field(path) if path == "metadata.namespace" => {
                    Some(self.namespace.clone())
                }
                _ => None,
            };
            if let Some(value) = value {
                env.insert(var.name.clone(), value);
            }
        }
        env
    }

    /// The Secret's value under `key` ("" when the key is absent).
    pub fn secret_value(&self, key: &str) -> String {
        self.secret.get(key).cloned().unwrap_or_default()
    }

    /// The RBAC object of `kind` named `name`, for a scenario to change.
    pub fn rbac_object(&mut self, kind: &str, name: &str) -> Option<&mut Value> {
        self.rbac.iter_mut().find(|d| {
            str_at(d, &["kind"]) == Some(kind) && str_at(d, &["metadata", "name"]) == Some(name)
        })
    }

    /// Removes the RBAC object of `kind` named `name`; returns it.
    pub fn remove_rbac(&mut self, kind: &str, name: &str) -> Option<Value> {
        let at = self.rbac.iter().position(|d| {
            str_at(d, &["kind"]) == Some(kind) && str_at(d, &["metadata", "name"]) == Some(name)
        })?;
        Some(self.rbac.remove(at))
    }
}

/// `stringData` as is, `data` base64-decoded.
fn secret_data(secret: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(data) = secret.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            if let Some(decoded) = v.as_str().and_then(base64_decode) {
                out.insert(k.clone(), decoded);
            }
        }
    }
    if let Some(data) = secret.get("stringData").and_then(Value::as_object) {
        for (k, v) in data {
            if let Some(s) = v.as_str() {
                out.insert(k.clone(), s.to_owned());
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = ALPHABET.iter().position(|a| *a == c)?;
        bits = (bits << 6) | u32::try_from(v).ok()?;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(u8::try_from((bits >> count) & 0xff).ok()?);
        }
    }
    String::from_utf8(out).ok()
}

/// The first container's `env` of the Deployment under `dir`, parsed by [`manifests`].
fn env_of_collector(all: &[manifests::Manifest], dir: &str) -> Result<Vec<EnvVar>, String> {
    let deployment = all
        .iter()
        .find(|m| m.kind() == Some("Deployment"))
        .ok_or_else(|| format!("{dir}: no Deployment"))?;
    let containers = manifests::containers(deployment);
    let (_, container) = containers
        .first()
        .ok_or_else(|| format!("{dir}: the Deployment has no container"))?;
    Ok(manifests::env_vars(deployment, container.get("env")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn reads_what_deploy_gives_the_collector() {
        let d = Deployment::load(&root(), "deploy").unwrap();
        assert_eq!(
            d.service_account,
            "system:serviceaccount:otel:k8s-event-collector"
        );
        assert!(d.secret.contains_key("PASSWORD"));
        assert!(d.rbac.iter().any(|r| r["kind"] == "ClusterRole"));
        assert!(d.config.pointer("/exporters/loki").is_some());
        let env = d.render_env("node-a");
        assert_eq!(env.get("K8S_NODE_NAME").map(String::as_str), Some("node-a"));
        assert_eq!(env.get("LOKI_PASSWORD"), d.secret.get("PASSWORD"));
    }

    #[test]
    fn a_missing_secret_key_leaves_its_variable_unset() {
        let mut d = Deployment::load(&root(), "deploy").unwrap();
        d.secret.remove("PASSWORD");
        assert!(!d.render_env("n").contains_key("LOKI_PASSWORD"));
    }

    #[test]
    fn base64_decodes_secret_data() {
        assert_eq!(base64_decode("aHVudGVyMg==").as_deref(), Some("hunter2"));
        assert_eq!(base64_decode("!!"), None);
    }
}
