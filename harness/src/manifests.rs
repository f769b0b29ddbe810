//! The Kubernetes manifests in `deploy/`, read the way the harness needs them.
//!
//! - [`load_dir`] reads every document of every `*.yaml` file under a folder, located, so that a
//!   message can name the file and the line.
//! - [`env_vars`] and [`render_env`] give a container the environment the kubelet would give it
//!   (`value`, `secretKeyRef`, `fieldRef`): the harness starts the collector with it, so the
//!   Secret -> env -> `${env:...}` -> header path is tested as deployed.
//! - [`load_config`] validates a collector config with exactly such an environment.
//! - The checks ([`rule_violations`], [`binding_problems`], [`pod_security_problems`],
//!   [`container_problems`], [`kustomization_problems`]) return their findings as messages that
//!   name the file, the line and the offending field or rule; an empty list means all is well.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use k8s_event_collector::config::yaml::{self, Mark, Node, NodeValue, Resolved};
use k8s_event_collector::config::{
    self, Config, ExporterConfig, ExtensionConfig, LoadError, LoadedConfig,
};

/// One YAML document of a manifest file.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file, as named in messages (`deploy/base/deployment.yaml`).
    pub file: String,
    /// The 1-based line of the file on which the document starts.
    pub first_line: usize,
    /// The document's own text (one document of a multi-document file).
    pub text: String,
    /// The parsed document; its marks count lines from the document's start.
    pub node: Node,
}

impl Manifest {
    /// The node at `path` (map keys) from the document's root.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        at(&self.node, path)
    }

    /// A scalar at `path`, as text.
    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).and_then(Node::as_str)
    }

    /// `kind`.
    pub fn kind(&self) -> Option<&str> {
        self.str_at(&["kind"])
    }

    /// `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        self.str_at(&["metadata", "name"])
    }

    /// `metadata.namespace`.
    pub fn namespace(&self) -> Option<&str> {
        self.str_at(&["metadata", "namespace"])
    }

    /// The line of `node` in the file.
    pub fn line_of(&self, node: &Node) -> usize {
        self.first_line + node.mark.line.saturating_sub(1)
    }

    /// The start of a message about `node`: `file:line: Kind name: `.
    pub fn here(&self, node: &Node) -> String {
        format!(
            "{}:{}: {} {}",
            self.file,
            self.line_of(node),
            self.kind().unwrap_or("(no kind)"),
            self.name().unwrap_or("(no name)")
        )
    }
}

/// The node at `path` (map keys) under `node`.
pub fn at<'a>(node: &'a Node, path: &[&str]) -> Option<&'a Node> {
    path.iter().try_fold(node, |n, key| n.get(key))
}

/// The items of a sequence node; none for anything else (absent, null, a scalar, a map).
pub fn items(node: Option<&Node>) -> &[Node] {
    match node.map(|n| &n.value) {
        Some(NodeValue::Seq(items)) => items,
        _ => &[],
    }
}

/// The scalar items of a sequence node, as text.
pub fn strings(node: Option<&Node>) -> Vec<&str> {
    items(node).iter().filter_map(Node::as_str).collect()
}

/// Splits a multi-document YAML text at its `---` lines: each document's 1-based first line and
/// text. The first document may or may not start with `---`.
pub fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut documents = Vec::new();
    let (mut start_line, mut start_byte, mut offset) = (1, 0, 0);
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") {
            documents.push((start_line, &text[start_byte..offset]));
            start_line = index + 2;
            start_byte = offset + line.len();
        }
        offset += line.len();
    }
    documents.push((start_line, &text[start_byte..]));
    documents
}

/// Parses every document of `text` (named `file` in messages). Empty documents are skipped.
/// A syntax error or a duplicate map key is an error: a duplicate silently hides one value.
pub fn parse_text(file: &str, text: &str) -> Result<Vec<Manifest>, String> {
    let mut manifests = Vec::new();
    let mut errors = Vec::new();
    for (first_line, doc) in split_documents(text) {
        match yaml::parse(doc) {
            Ok(Some(node)) => {
                let manifest = Manifest {
                    file: file.to_owned(),
                    first_line,
                    text: doc.to_owned(),
                    node,
                };
                duplicate_keys(&manifest, &manifest.node, &mut errors);
                manifests.push(manifest);
            }
            Ok(None) => {}
            Err(e) => errors.push(format!(
                "{file}:{}:{}: invalid YAML: {}",
                first_line + e.mark.line.saturating_sub(1),
                e.mark.column,
                e.message
            )),
        }
    }
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(errors.join("\n"))
    }
}

fn duplicate_keys(m: &Manifest, node: &Node, errors: &mut Vec<String>) {
    match &node.value {
        NodeValue::Map(entries) => {
            let mut seen = BTreeSet::new();
            for (key, value) in entries {
                let text = key.as_str().unwrap_or_default();
                if !seen.insert(text) {
                    errors.push(format!(
                        "{}:{}: duplicate key `{text}`",
                        m.file,
                        m.line_of(key)
                    ));
                }
                duplicate_keys(m, value, errors);
            }
        }
        NodeValue::Seq(items) => items
            .iter()
            .for_each(|item| duplicate_keys(m, item, errors)),
        NodeValue::Scalar { .. } => {}
    }
}

/// Every `*.yaml` file under `root/dir`, recursively, as paths relative to `root`, sorted.
pub fn yaml_files(root: &Path, dir: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(root.join(&dir)).map_err(|e| format!("{dir}: {e}"))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{dir}: {e}"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{dir}/{name}");
            if entry.path().is_dir() {
                pending.push(path);
            } else if name.ends_with(".yaml") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Every document of every `*.yaml` file under `root/dir`, recursively; files are named
/// relative to `root`. All files are read, and all their errors reported together.
pub fn load_dir(root: &Path, dir: &str) -> Result<Vec<Manifest>, String> {
    let mut manifests = Vec::new();
    let mut errors = Vec::new();
    for file in yaml_files(root, dir)? {
        let parsed = std::fs::read_to_string(root.join(&file))
            .map_err(|e| format!("{file}: {e}"))
            .and_then(|text| parse_text(&file, &text));
        match parsed {
            Ok(found) => manifests.extend(found),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(errors.join("\n"))
    }
}

// ------------------------------------------------------------------------------------------ RBAC

/// What a role may grant: any of `verbs` on any of `resources` in any of `api_groups`.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    pub api_groups: &'a [&'a str],
    pub resources: &'a [&'a str],
    pub verbs: &'a [&'a str],
}

impl std::fmt::Display for Grant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let groups: Vec<String> = self.api_groups.iter().map(|g| format!("{g:?}")).collect();
        write!(
            f,
            "{} on {} in apiGroups {}",
            self.verbs.join(", "),
            self.resources.join(", "),
            groups.join(", ")
        )
    }
}

/// Whatever a Role or ClusterRole grants beyond `allowed`, one message per rule and grant:
/// each (apiGroup, resource, verb) of each rule must be within one [`Grant`]. Wildcards (`*`),
/// `nonResourceURLs` and an `aggregationRule` (which pulls in other roles' rules) are reported
/// too. `resourceNames` only narrow a rule, so they are allowed.
pub fn rule_violations(role: &Manifest, allowed: &[Grant<'_>]) -> Vec<String> {
    let mut problems = Vec::new();
    let beyond = allowed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if let Some(aggregation) = role.at(&["aggregationRule"]) {
        problems.push(format!(
            "{}: aggregationRule grants whatever the selected roles grant",
            role.here(aggregation)
        ));
    }
    for (index, rule) in items(role.at(&["rules"])).iter().enumerate() {
        let here = role.here(rule);
        if !items(rule.get("nonResourceURLs")).is_empty() {
            problems.push(format!("{here}: rules[{index}] grants nonResourceURLs"));
        }
        let groups = strings(rule.get("apiGroups"));
        let resources = strings(rule.get("resources"));
        for verb in strings(rule.get("verbs")) {
            for group in &groups {
                for resource in &resources {
                    let within = allowed.iter().any(|g| {
                        g.api_groups.contains(group)
                            && g.resources.contains(resource)
                            && g.verbs.contains(&verb)
                    });
                    if !within {
                        problems.push(format!(
                            "{here}: rules[{index}] grants `{verb}` on `{resource}` in apiGroup \
                             {group:?}, beyond: {beyond}"
                        ));
                    }
                }
            }
        }
    }
    problems
}

/// A RoleBinding or ClusterRoleBinding must bind a role defined in `roles` (for a RoleBinding,
/// in its own namespace) to exactly the ServiceAccount `namespace/service_account`.
pub fn binding_problems(
    binding: &Manifest,
    roles: &[&Manifest],
    namespace: &str,
    service_account: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let here = binding.here(&binding.node);
    let ref_kind = binding.str_at(&["roleRef", "kind"]).unwrap_or_default();
    let ref_name = binding.str_at(&["roleRef", "name"]).unwrap_or_default();
    let found = roles.iter().any(|r| {
        r.kind() == Some(ref_kind)
            && r.name() == Some(ref_name)
            && (binding.kind() == Some("ClusterRoleBinding")
                || r.namespace() == binding.namespace())
    });
    if !found {
        problems.push(format!(
            "{here}: roleRef {ref_kind} `{ref_name}` is not a role defined with it"
        ));
    }
    let subjects = items(binding.at(&["subjects"]));
    let expected = |s: &Node| {
        s.get("kind").and_then(Node::as_str) == Some("ServiceAccount")
            && s.get("name").and_then(Node::as_str) == Some(service_account)
            && s.get("namespace").and_then(Node::as_str) == Some(namespace)
    };
    if subjects.len() != 1 || !subjects.iter().all(expected) {
        problems.push(format!(
            "{here}: subjects must be exactly the ServiceAccount {namespace}/{service_account}"
        ));
    }
    problems
}

// ------------------------------------------------------------------------------ pod and container

/// What a field must hold.
#[derive(Debug, Clone, Copy)]
enum Want {
    Bool(bool),
    Int(i64),
    Str(&'static str),
    /// Absent, or false.
    NotTrue,
    /// Present and not null.
    Present,
}

/// Checks each `parent.key` (shown as `path.key`) against its [`Want`].
fn expect(m: &Manifest, parent: Option<&Node>, path: &str, checks: &[(&str, Want)]) -> Vec<String> {
    let mut problems = Vec::new();
    for &(key, want) in checks {
        let value = parent.and_then(|p| p.get(key)).filter(|v| !v.is_null());
        let ok = match (want, value.and_then(Node::resolve)) {
            (Want::NotTrue, found) => !matches!(found, Some(Resolved::Bool(true))),
            (Want::Present, _) => value.is_some(),
            (Want::Bool(b), Some(Resolved::Bool(found))) => found == b,
            (Want::Int(i), Some(Resolved::Int(found))) => found == i,
            (Want::Str(s), Some(Resolved::Str(found))) => found == s,
            _ => false,
        };
        if ok {
            continue;
        }
        let wanted = match want {
            Want::Bool(b) => format!("`{b}`"),
            Want::Int(i) => format!("`{i}`"),
            Want::Str(s) => format!("`{s}`"),
            Want::NotTrue => "absent or `false`".to_owned(),
            Want::Present => "set".to_owned(),
        };
        let (node, found) = match value {
            Some(v) => (v, format!("`{}`", v.as_str().unwrap_or("(not a scalar)"))),
            None => (parent.unwrap_or(&m.node), "nothing".to_owned()),
        };
        let here = m.here(node);
        problems.push(format!(
            "{here}: {path}.{key} must be {wanted}, found {found}"
        ));
    }
    problems
}

/// The pod-level settings every collector pod needs, in `ctx` (shown as `path`): a pod's
/// `securityContext`, or an OpenTelemetryCollector's `spec.podSecurityContext`. `runAsNonRoot`,
/// `runAsUser` and `runAsGroup` 65532 (the image's `nonroot` user), `seccompProfile:
/// RuntimeDefault`.
pub fn pod_security_problems(m: &Manifest, ctx: Option<&Node>, path: &str) -> Vec<String> {
    let mut problems = expect(
        m,
        ctx,
        path,
        &[
            ("runAsNonRoot", Want::Bool(true)),
            ("runAsUser", Want::Int(65532)),
            ("runAsGroup", Want::Int(65532)),
        ],
    );
    let seccomp = ctx.and_then(|c| c.get("seccompProfile"));
    let seccomp_path = format!("{path}.seccompProfile");
    problems.extend(expect(
        m,
        seccomp,
        &seccomp_path,
        &[("type", Want::Str("RuntimeDefault"))],
    ));
    problems
}

/// The container-level settings in `ctx` (shown as `path`): a container's `securityContext`, or
/// an OpenTelemetryCollector's `spec.securityContext`. `allowPrivilegeEscalation: false`, a
/// read-only root filesystem, every capability dropped and none added, not privileged.
pub fn container_security_problems(m: &Manifest, ctx: Option<&Node>, path: &str) -> Vec<String> {
    let mut problems = expect(
        m,
        ctx,
        path,
        &[
            ("allowPrivilegeEscalation", Want::Bool(false)),
            ("readOnlyRootFilesystem", Want::Bool(true)),
            ("privileged", Want::NotTrue),
        ],
    );
    let capabilities = ctx.and_then(|c| c.get("capabilities"));
    if !strings(capabilities.and_then(|c| c.get("drop"))).contains(&"ALL") {
        let here = m.here(capabilities.or(ctx).unwrap_or(&m.node));
        problems.push(format!(
            "{here}: {path}.capabilities.drop must contain `ALL`"
        ));
    }
    let added = capabilities.and_then(|c| c.get("add"));
    if let Some(add) = added.filter(|a| !items(Some(a)).is_empty()) {
        let here = m.here(add);
        problems.push(format!("{here}: {path}.capabilities.add must be empty"));
    }
    problems
}

/// Requests (`cpu`, `memory`) and a memory limit, in `resources` (shown as `path`).
pub fn resources_problems(m: &Manifest, resources: Option<&Node>, path: &str) -> Vec<String> {
    let requests = resources.and_then(|r| r.get("requests"));
    let (cpu, memory) = (("cpu", Want::Present), ("memory", Want::Present));
    let mut problems = expect(m, requests, &format!("{path}.requests"), &[cpu, memory]);
    let limits = resources.and_then(|r| r.get("limits"));
    problems.extend(expect(m, limits, &format!("{path}.limits"), &[memory]));
    problems
}

/// The containers of a Deployment's pod template, with their paths.
pub fn containers(deployment: &Manifest) -> Vec<(String, &Node)> {
    items(deployment.at(&["spec", "template", "spec", "containers"]))
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("spec.template.spec.containers[{i}]"), c))
        .collect()
}

/// The port a probe (or a Service's `targetPort`) reaches: a number, or the name of one of the
/// container's `ports`.
pub fn container_port(container: &Node, port: &Node) -> Option<i64> {
    let int = |n: &Node| match n.resolve()? {
        Resolved::Int(i) => Some(i),
        _ => None,
    };
    match port.resolve()? {
        Resolved::Int(n) => Some(n),
        Resolved::Str(name) => items(container.get("ports"))
            .iter()
            .find(|p| p.get("name").and_then(Node::as_str) == Some(name))
            .and_then(|p| int(p.get("containerPort")?)),
        _ => None,
    }
}

/// The pod of a Deployment: the pod security settings ([`pod_security_problems`]),
/// `automountServiceAccountToken: true` (the receiver's `auth_type: serviceAccount` needs the
/// token), no host namespaces, and each container ([`container_problems`]).
pub fn pod_problems(deployment: &Manifest, probe_port: i64) -> Vec<String> {
    let pod = deployment.at(&["spec", "template", "spec"]);
    let path = "spec.template.spec";
    let ctx = pod.and_then(|p| p.get("securityContext"));
    let mut problems = pod_security_problems(deployment, ctx, &format!("{path}.securityContext"));
    problems.extend(expect(
        deployment,
        pod,
        path,
        &[
            ("automountServiceAccountToken", Want::Bool(true)),
            ("hostNetwork", Want::NotTrue),
            ("hostPID", Want::NotTrue),
            ("hostIPC", Want::NotTrue),
        ],
    ));
    let containers = containers(deployment);
    if containers.is_empty() {
        problems.push(format!(
            "{}: {path}.containers is empty",
            deployment.here(&deployment.node)
        ));
    }
    for (container_path, container) in containers {
        problems.extend(container_problems(
            deployment,
            &container_path,
            container,
            probe_port,
        ));
    }
    problems
}

/// One container of a Deployment (shown as `path`): its `securityContext`
/// ([`container_security_problems`]), its `resources` ([`resources_problems`]), and a liveness
/// probe on `/healthz` and a readiness probe on `/readyz`, both on `probe_port` (the
/// health_check extension's).
pub fn container_problems(
    m: &Manifest,
    path: &str,
    container: &Node,
    probe_port: i64,
) -> Vec<String> {
    let ctx = container.get("securityContext");
    let mut problems = container_security_problems(m, ctx, &format!("{path}.securityContext"));
    let resources = container.get("resources");
    problems.extend(resources_problems(
        m,
        resources,
        &format!("{path}.resources"),
    ));
    for (probe, wanted) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = container.get(probe).and_then(|p| p.get("httpGet"));
        let shown = format!("{path}.{probe}.httpGet");
        problems.extend(expect(m, get, &shown, &[("path", Want::Str(wanted))]));
        let port = get
            .and_then(|g| g.get("port"))
            .and_then(|p| container_port(container, p));
        if port != Some(probe_port) {
            problems.push(format!(
                "{}: {shown}.port must reach the health_check port {probe_port}, found {port:?}",
                m.here(get.unwrap_or(container))
            ));
        }
    }
    problems
}

// ----------------------------------------------------------------------------------- environment

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSource {
    /// `value:`, as written (Kubernetes' `$(VAR)` references are not expanded here).
    Value(String),
    /// `valueFrom.secretKeyRef`.
    SecretKey { name: String, key: String },
    /// `valueFrom.configMapKeyRef`.
    ConfigMapKey { name: String, key: String },
    /// `valueFrom.fieldRef.fieldPath` (`spec.nodeName`, `metadata.namespace`, ...).
    Field(String),
    /// Anything else (`resourceFieldRef`, or nothing): shown as written.
    Other(String),
}

/// One entry of a container's `env` (or of an OpenTelemetryCollector's `spec.env`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub source: EnvSource,
    /// The line of the entry in its file.
    pub line: usize,
}

/// The entries of an `env` list (`containers[].env`, or an OpenTelemetryCollector's `spec.env`).
pub fn env_vars(m: &Manifest, env: Option<&Node>) -> Vec<EnvVar> {
    let text = |n: &Node, path: &[&str]| {
        at(n, path)
            .and_then(Node::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    items(env)
        .iter()
        .map(|entry| {
            let from = entry.get("valueFrom");
            let source = if let Some(value) = entry.get("value") {
                EnvSource::Value(value.as_str().unwrap_or_default().to_owned())
            } else if let Some(r) = from.and_then(|f| f.get("secretKeyRef")) {
                EnvSource::SecretKey {
                    name: text(r, &["name"]),
                    key: text(r, &["key"]),
                }
            } else if let Some(r) = from.and_then(|f| f.get("configMapKeyRef")) {
                EnvSource::ConfigMapKey {
                    name: text(r, &["name"]),
                    key: text(r, &["key"]),
                }
            } else if let Some(r) = from.and_then(|f| f.get("fieldRef")) {
                EnvSource::Field(text(r, &["fieldPath"]))
            } else {
                EnvSource::Other(format!("{:?}", from.map(|f| &f.value)))
            };
            EnvVar {
                name: text(entry, &["name"]),
                source,
                line: m.line_of(entry),
            }
        })
        .collect()
}

/// The environment `vars` give a container: values as written, everything else from `lookup`
/// (a Secret's key, a pod field ...). A source `lookup` cannot resolve is an error naming the
/// variable and its source, as the kubelet refuses to start such a container.
pub fn render_env(
    vars: &[EnvVar],
    lookup: &dyn Fn(&EnvSource) -> Option<String>,
) -> Result<BTreeMap<String, String>, String> {
    vars.iter()
        .map(|var| {
            let value = match &var.source {
                EnvSource::Value(v) => Some(v.clone()),
                other => lookup(other),
            };
            value.map(|v| (var.name.clone(), v)).ok_or_else(|| {
                format!(
                    "line {}: `{}` from {:?} has no value",
                    var.line, var.name, var.source
                )
            })
        })
        .collect()
}

/// The keys a Secret (or ConfigMap) holds, from `data` and `stringData`.
pub fn data_keys(m: &Manifest) -> Vec<&str> {
    ["data", "stringData", "binaryData"]
        .iter()
        .filter_map(|section| m.at(&[section])?.as_map())
        .flatten()
        .filter_map(|(key, _)| key.as_str())
        .collect()
}

// -------------------------------------------------------------------------------- collector config

/// Validates a collector config, or a whole OpenTelemetryCollector resource, with exactly `env`
/// as its environment: an unset variable is an error, as in the cluster. `holder` is the string
/// node that holds the config (a ConfigMap's `data.collector.yaml`), or `None` for the document
/// `m` itself. The error holds every diagnostic, each naming the file, line and key in `m`'s file.
pub fn load_config(
    m: &Manifest,
    holder: Option<&Node>,
    env: &BTreeMap<String, String>,
) -> Result<LoadedConfig, String> {
    let text = match holder {
        Some(node) => node
            .as_str()
            .ok_or_else(|| format!("{}: expected the config as a string", m.here(node)))?,
        None => &m.text,
    };
    let lookup = |name: &str| env.get(name).cloned();
    let shift = |mark: Mark| match holder {
        Some(node) => match node.block_start {
            Some(start) => Mark {
                line: m.line_of(node) - node.mark.line + start.line + mark.line - 1,
                column: start.column + mark.column - 1,
            },
            // A quoted string's inner lines do not map to the file: point at the string.
            None => Mark {
                line: m.line_of(node),
                column: node.mark.column,
            },
        },
        None => Mark {
            line: m.first_line + mark.line - 1,
            column: mark.column,
        },
    };
    config::load_str(&m.file, text, &lookup).map_err(|e| match e {
        LoadError::Invalid(mut diagnostics) => {
            for d in &mut diagnostics {
                d.mark = d.mark.map(shift);
            }
            LoadError::Invalid(diagnostics).to_string()
        }
        unreadable => unreadable.to_string(),
    })
}

/// The files and directories a config reads or writes, with the key that names each: the
/// `file_storage` directories, the exporters' TLS files, the auth extensions' `*_file`s. In a
/// container with a read-only root filesystem, each must be on a mounted volume.
pub fn config_paths(config: &Config) -> Vec<(String, String)> {
    let mut paths = Vec::new();
    let mut add = |key: String, path: &Option<String>| {
        if let Some(path) = path {
            paths.push((key, path.clone()));
        }
    };
    for exporter in &config.exporters {
        let tls = match &exporter.config {
            ExporterConfig::Loki(loki) => &loki.tls,
            ExporterConfig::OtlpHttp(otlp) => &otlp.tls,
            ExporterConfig::Debug(_) => continue,
        };
        let id = &exporter.id;
        add(format!("exporters.{id}.tls.ca_file"), &tls.ca_file);
        add(format!("exporters.{id}.tls.cert_file"), &tls.cert_file);
        add(format!("exporters.{id}.tls.key_file"), &tls.key_file);
    }
    for extension in &config.extensions {
        let id = &extension.id;
        match &extension.config {
            ExtensionConfig::FileStorage(storage) => {
                add(
                    format!("extensions.{id}.directory"),
                    &Some(storage.directory.clone()),
                );
            }
            ExtensionConfig::BasicAuth(basic) => {
                let client = basic.client_auth.as_ref();
                add(
                    format!("extensions.{id}.client_auth.username_file"),
                    &client.and_then(|c| c.username_file.clone()),
                );
                add(
                    format!("extensions.{id}.client_auth.password_file"),
                    &client.and_then(|c| c.password_file.clone()),
                );
            }
            ExtensionConfig::BearerTokenAuth(bearer) => {
                add(format!("extensions.{id}.filename"), &bearer.filename)
            }
            _ => {}
        }
    }
    paths
}

/// The port of the config's `health_check` extension, if one is enabled.
pub fn health_check_port(config: &Config) -> Option<i64> {
    config.extensions.iter().find_map(|e| match &e.config {
        ExtensionConfig::HealthCheck(h)
            if config.service.extensions.contains(&e.id.to_string()) =>
        {
            port_of(&h.endpoint)
        }
        _ => None,
    })
}

/// The port of a `host:port` address.
pub fn port_of(address: &str) -> Option<i64> {
    address.rsplit_once(':')?.1.parse().ok()
}

/// Whether `path` lies on one of the `volumeMounts` (a mount path equal to it or above it).
pub fn is_mounted(volume_mounts: Option<&Node>, path: &str) -> bool {
    items(volume_mounts)
        .iter()
        .filter_map(|m| m.get("mountPath")?.as_str())
        .any(|mount| {
            let mount = mount.trim_end_matches('/');
            path == mount
                || path
                    .strip_prefix(mount)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

// --------------------------------------------------------------------------------- kustomizations

/// The keys of a kustomization whose items name files or folders.
const LISTS: &[&str] = &[
    "resources",
    "components",
    "configurations",
    "crds",
    "patchesStrategicMerge",
];

/// The files and folders `kustomization` names, by key (`patches` counts its `path`s).
pub fn kustomization_entries(kustomization: &Manifest) -> Vec<(&'static str, &str)> {
    let mut entries: Vec<(&'static str, &str)> = LISTS
        .iter()
        .flat_map(|key| {
            strings(kustomization.at(&[key]))
                .into_iter()
                .map(move |s| (*key, s))
        })
        .collect();
    for patch in items(kustomization.at(&["patches"])) {
        if let Some(path) = patch.get("path").and_then(Node::as_str) {
            entries.push(("patches", path));
        }
    }
    entries
}

/// The objects `kubectl apply -k root/dir` creates, as far as the `resources` of the
/// kustomizations go: files are read, folders followed. Patches, components, `replicas` and
/// `images` are not applied, so this is exact for the base (`deploy`), not for an overlay.
pub fn kustomize_resources(root: &Path, dir: &str) -> Result<Vec<Manifest>, String> {
    let file = format!("{dir}/kustomization.yaml");
    let text = std::fs::read_to_string(root.join(&file)).map_err(|e| format!("{file}: {e}"))?;
    let kustomization = parse_text(&file, &text)?;
    let mut objects = Vec::new();
    for entry in kustomization
        .iter()
        .flat_map(|k| strings(k.at(&["resources"])))
    {
        let path = format!("{dir}/{}", entry.trim_start_matches("./"));
        if root.join(&path).is_dir() {
            objects.extend(kustomize_resources(root, &path)?);
        } else {
            let text =
                std::fs::read_to_string(root.join(&path)).map_err(|e| format!("{path}: {e}"))?;
            objects.extend(parse_text(&path, &text)?);
        }
    }
    Ok(objects)
}

/// The kustomization of folder `dir` (relative to `root`), against the folder's files:
/// - the folder has a `kustomization.yaml`, and every file or folder it names exists (a folder
///   with its own `kustomization.yaml`);
/// - every other `*.yaml` file of the folder is named in it, except `*.example.yaml` files,
///   which must not be: applying the folder must never apply an example (the Secret's
///   placeholder credentials would overwrite the real ones);
/// - every document of a file named as a resource or patch, and of an example, is a Kubernetes
///   object (`apiVersion`, `kind`, `metadata.name`); `configurations` files are kustomize's own.
pub fn kustomization_problems(root: &Path, dir: &str, manifests: &[Manifest]) -> Vec<String> {
    let kustomization_file = format!("{dir}/kustomization.yaml");
    let Some(kustomization) = manifests.iter().find(|m| m.file == kustomization_file) else {
        return vec![format!(
            "{dir}: no kustomization.yaml, so nothing here is applied"
        )];
    };
    let mut problems = Vec::new();
    let entries = kustomization_entries(kustomization);
    let here = |entry: &str| {
        let node = kustomization
            .node
            .as_map()
            .into_iter()
            .flatten()
            .find_map(|(_, v)| {
                items(Some(v)).iter().find(|i| {
                    i.as_str() == Some(entry) || i.get("path").and_then(Node::as_str) == Some(entry)
                })
            });
        format!(
            "{kustomization_file}:{}",
            kustomization.line_of(node.unwrap_or(&kustomization.node))
        )
    };
    for (key, entry) in &entries {
        let target = root.join(dir).join(entry);
        let exists = if target.is_dir() {
            target.join("kustomization.yaml").is_file()
        } else {
            target.is_file()
        };
        if !exists {
            problems.push(format!(
                "{}: {key} names `{entry}`, which is not a file or a kustomization folder",
                here(entry)
            ));
        }
    }
    let named = |file: &str| {
        entries
            .iter()
            .find(|(_, e)| e.trim_start_matches("./") == file)
            .map(|(key, _)| *key)
    };
    let files = std::fs::read_dir(root.join(dir))
        .map(|entries| {
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
                .collect();
            names.sort();
            names
        })
        .unwrap_or_default();
    for file in files {
        let path = format!("{dir}/{file}");
        let example = file.ends_with(".example.yaml");
        let key = named(&file);
        match (example, key) {
            (true, Some(key)) => problems.push(format!(
                "{}: {key} names the example `{file}`: applying it would overwrite the real object",
                here(&file)
            )),
            (false, None) => problems.push(format!(
                "{path}: not named in {kustomization_file}, so it is never applied"
            )),
            _ => {}
        }
        if example || matches!(key, Some("resources" | "patches" | "patchesStrategicMerge")) {
            for m in manifests.iter().filter(|m| m.file == path) {
                for field in [&["apiVersion"][..], &["kind"], &["metadata", "name"]] {
                    if m.str_at(field).is_none_or(str::is_empty) {
                        problems.push(format!(
                            "{}:{}: not a Kubernetes object: no {}",
                            m.file,
                            m.first_line,
                            field.join(".")
                        ));
                    }
                }
            }
        }
    }
    problems
}
