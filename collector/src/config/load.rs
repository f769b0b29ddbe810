//! Reading a config file into a validated [`Config`]: YAML -> (OpenTelemetryCollector resource
//! unwrapped) -> environment expanded -> typed per component -> cross-checked.
//!
//! Every problem found is collected, not just the first, so one `validate` run shows them all.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::de::{DeError, from_node};
use super::diagnostic::Diagnostic;
use super::expand::{self, ExpandError, RefForm};
use super::model::*;
use super::operator::{self, OperatorResource};
use super::service::{PipelineConfig, TelemetryConfig};
use super::suggest::closest;
use super::validate;
use super::yaml::{self, Mark, Node, NodeValue, ScalarKind};

/// Looks up an environment variable; `None` when unset.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A config that passed validation, with what `print-config` and `validate` show.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    /// Warnings and notes (no errors).
    pub diagnostics: Vec<Diagnostic>,
    /// The collector config after expansion, for `print-config`.
    pub expanded: Node,
    /// Paths (segments) of values that came from secrets, redacted when printed.
    pub secret_paths: Vec<Vec<String>>,
    /// Set when the file was an `OpenTelemetryCollector` resource.
    pub operator: Option<OperatorResource>,
}

/// Why a config could not be loaded.
#[derive(Debug, Clone)]
pub enum LoadError {
    /// The file could not be read (exit code 2 of `validate`).
    Unreadable { file: String, reason: String },
    /// The config is wrong (exit code 1); holds errors and any warnings found with them.
    Invalid(Vec<Diagnostic>),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Unreadable { file, reason } => write!(f, "{file}: cannot read: {reason}"),
            LoadError::Invalid(diagnostics) => {
                let mut first = true;
                for d in diagnostics {
                    if !first {
                        writeln!(f)?;
                    }
                    first = false;
                    write!(f, "{d}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads and validates the config at `path`.
pub fn load_file(path: &Path, env: EnvLookup<'_>) -> Result<LoadedConfig, LoadError> {
    let file = path.display().to_string();
    let text = std::fs::read(path).map_err(|e| LoadError::Unreadable {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    let text = String::from_utf8(text).map_err(|e| LoadError::Unreadable {
        file: file.clone(),
        reason: format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })?;
    load_str(&file, &text, env)
}

/// Validates config `text`; `file` names it in diagnostics.
pub fn load_str(file: &str, text: &str, env: EnvLookup<'_>) -> Result<LoadedConfig, LoadError> {
    let mut loader = Loader {
        file,
        diagnostics: Vec::new(),
        unset: Vec::new(),
    };
    let root =
        match yaml::parse(text) {
            Ok(Some(root)) => root,
            Ok(None) => {
                return Err(LoadError::Invalid(vec![
                    Diagnostic::error(
                        file,
                        Some(Mark { line: 1, column: 1 }),
                        "",
                        "the file is empty",
                    )
                    .with_help(
                        "expected a collector config (receivers, exporters, service) or an \
                 OpenTelemetryCollector resource with spec.config",
                    ),
                ]));
            }
            Err(e) => {
                return Err(LoadError::Invalid(vec![Diagnostic::error(
                file,
                Some(e.mark),
                "",
                format!("invalid YAML: {}", e.message),
            )
            .with_help(
                "look for an unclosed [ { or quote, a missing space after `:`, or a tab in the \
                 indentation, on this line or just above it",
            )]));
            }
        };

    let (mut config_node, operator) = match operator::unwrap(file, root) {
        Ok(found) => found,
        Err(diagnostics) => return Err(LoadError::Invalid(diagnostics)),
    };
    if config_node.as_map().is_none() {
        return Err(LoadError::Invalid(vec![Diagnostic::error(
            file,
            Some(config_node.mark),
            "",
            format!(
                "a collector config is a map of sections (receivers, processors, exporters, \
                 extensions, service), found {}",
                config_node.describe()
            ),
        )]));
    }

    let secret_paths = loader.expand_tree(&mut config_node, env, operator.as_ref());
    if let Some(op) = &operator {
        loader.note_unset_operator_env(op, env);
    }
    let config = loader.typed_config(&config_node);

    if !loader.has_errors() {
        loader
            .diagnostics
            .extend(validate::check(file, &config, &config_node));
    }
    loader.diagnostics.sort_by_key(|d| (d.severity, d.mark));
    if loader.has_errors() {
        return Err(LoadError::Invalid(loader.diagnostics));
    }
    Ok(LoadedConfig {
        config,
        diagnostics: loader.diagnostics,
        expanded: config_node,
        secret_paths,
        operator,
    })
}

struct Loader<'f> {
    file: &'f str,
    diagnostics: Vec<Diagnostic>,
    /// Variables already reported as unset, so each is named once.
    unset: Vec<String>,
}

/// Env variable names that hold secrets by convention: their values are redacted.
fn is_secret_variable(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "APIKEY",
        "API_KEY",
        "CREDENTIAL",
        "PRIVATE",
    ]
    .iter()
    .any(|word| upper.contains(word))
}

impl Loader<'_> {
    fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Expands variables in every scalar value (not keys); returns the paths of secret values.
    fn expand_tree(
        &mut self,
        root: &mut Node,
        env: EnvLookup<'_>,
        operator: Option<&OperatorResource>,
    ) -> Vec<Vec<String>> {
        let mut secret_paths = Vec::new();
        let mut bare_noted: Vec<String> = Vec::new();
        let mut path = Vec::new();
        self.expand_node(
            root,
            env,
            operator,
            &mut path,
            &mut secret_paths,
            &mut bare_noted,
        );
        secret_paths
    }

    fn expand_node(
        &mut self,
        node: &mut Node,
        env: EnvLookup<'_>,
        operator: Option<&OperatorResource>,
        path: &mut Vec<String>,
        secret_paths: &mut Vec<Vec<String>>,
        bare_noted: &mut Vec<String>,
    ) {
        let mark = node.mark;
        match &mut node.value {
            NodeValue::Scalar { text, kind } => {
                if !text.contains('$') {
                    return;
                }
                match expand::expand(text, env) {
                    Ok(expanded) => {
                        for r in &expanded.references {
                            if r.form == RefForm::Bare && !bare_noted.contains(&r.name) {
                                bare_noted.push(r.name.clone());
                                self.diagnostics.push(
                                    Diagnostic::note(
                                        self.file,
                                        Some(mark),
                                        super::de::join_path(path),
                                        format!("`${}` is expanded here, but current OpenTelemetry collectors leave a bare `$VAR` as literal text", r.name),
                                    )
                                    .with_help(format!("write `${{env:{}}}` to work with both", r.name)),
                                );
                            }
                        }
                        if expanded
                            .references
                            .iter()
                            .any(|r| is_secret_variable(&r.name))
                        {
                            secret_paths.push(path.clone());
                        }
                        if !expanded.references.is_empty() {
                            *kind = ScalarKind::Expanded;
                        }
                        *text = expanded.text;
                    }
                    Err(err) => {
                        let mut d = Diagnostic::error(
                            self.file,
                            Some(mark),
                            super::de::join_path(path),
                            err.to_string(),
                        );
                        if let ExpandError::Unset { name } = &err {
                            self.unset.push(name.clone());
                            let declared = operator.and_then(|op| op.env_source(name));
                            d = d.with_help(match declared {
                                Some(source) => format!(
                                    "spec.env sets `{name}` {source} in the cluster; export it to validate here"
                                ),
                                None => format!(
                                    "set `{name}`, or write `${{env:{name}:-default}}` to fall back to a default"
                                ),
                            });
                        }
                        self.diagnostics.push(d);
                    }
                }
            }
            NodeValue::Seq(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    path.push(format!("[{i}]"));
                    self.expand_node(item, env, operator, path, secret_paths, bare_noted);
                    path.pop();
                }
            }
            NodeValue::Map(entries) => {
                for (key, value) in entries.iter_mut() {
                    path.push(key.as_str().unwrap_or("<key>").to_owned());
                    self.expand_node(value, env, operator, path, secret_paths, bare_noted);
                    path.pop();
                }
            }
        }
    }

    /// `spec.env` documents what the config needs: name what is unset here but not used.
    fn note_unset_operator_env(&mut self, op: &OperatorResource, env: EnvLookup<'_>) {
        for var in &op.env {
            if env(&var.name).is_none() && !self.unset.contains(&var.name) {
                self.diagnostics.push(Diagnostic::note(
                    self.file,
                    Some(var.mark),
                    "spec.env",
                    format!(
                        "`{}` is not set in this environment (in the cluster it comes {})",
                        var.name, var.source
                    ),
                ));
            }
        }
    }

    fn typed_config(&mut self, root: &Node) -> Config {
        let mut config = Config::default();
        let Some(sections) = root.as_map() else {
            return config;
        };
        const SECTIONS: &[&str] = &[
            "receivers",
            "processors",
            "exporters",
            "extensions",
            "service",
        ];
        for (key, value) in sections {
            match key.as_str().unwrap_or("") {
                "receivers" => config.receivers = self.components(value, "receivers", RECEIVER_TYPES, receiver),
                "processors" => config.processors = self.components(value, "processors", PROCESSOR_TYPES, processor),
                "exporters" => config.exporters = self.components(value, "exporters", EXPORTER_TYPES, exporter),
                "extensions" => config.extensions = self.components(value, "extensions", EXTENSION_TYPES, extension),
                "service" => config.service = self.service(value),
                "connectors" => self.diagnostics.push(Diagnostic::error(
                    self.file,
                    Some(key.mark),
                    "connectors",
                    "connectors are not supported: this collector runs logs pipelines from k8s_events",
                )),
                other => {
                    let mut d = Diagnostic::error(self.file, Some(key.mark), other, format!("unknown section `{other}`"));
                    d = d.with_help(match closest(other, SECTIONS.iter().copied()) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!("sections are: {}", SECTIONS.join(", ")),
                    });
                    self.diagnostics.push(d);
                }
            }
        }
        // A misspelt `service:` already got a "did you mean"; do not also call it missing.
        let misspelt_service = self
            .diagnostics
            .iter()
            .any(|d| d.help.as_deref() == Some("did you mean `service`?"));
        if root.get("service").is_none() && !misspelt_service {
            self.diagnostics.push(Diagnostic::error(
                self.file,
                Some(root.mark),
                "service",
                "missing required section `service` (its `pipelines` say what runs)",
            ));
        }
        config
    }

    fn components<T>(
        &mut self,
        section_node: &Node,
        section: &str,
        known: &[&str],
        build: fn(&str, &Node) -> Result<T, DeError>,
    ) -> Vec<Component<T>> {
        let mut out = Vec::new();
        let entries = match &section_node.value {
            NodeValue::Map(entries) => entries.as_slice(),
            _ if section_node.is_null() => &[],
            _ => {
                self.diagnostics.push(Diagnostic::error(
                    self.file,
                    Some(section_node.mark),
                    section,
                    format!(
                        "expected a map of component ids to settings, found {}",
                        section_node.describe()
                    ),
                ));
                return out;
            }
        };
        for (key, value) in entries {
            let raw_id = key.as_str().unwrap_or("");
            let path = format!("{section}.{raw_id}");
            let id = match ComponentId::parse(raw_id) {
                Ok(id) => id,
                Err(e) => {
                    self.diagnostics
                        .push(Diagnostic::error(self.file, Some(key.mark), path, e));
                    continue;
                }
            };
            if !known.contains(&id.kind.as_str()) {
                let kind_word = section.trim_end_matches('s');
                let help = match closest(&id.kind, known.iter().copied()) {
                    Some(near) => format!(
                        "did you mean `{near}`? supported {section}: {}",
                        known.join(", ")
                    ),
                    None => format!("supported {section}: {}", known.join(", ")),
                };
                self.diagnostics.push(
                    Diagnostic::error(
                        self.file,
                        Some(key.mark),
                        path,
                        format!("unknown {kind_word} type `{}`", id.kind),
                    )
                    .with_help(help),
                );
                continue;
            }
            match build(&id.kind, value) {
                Ok(config) => out.push(Component { id, config }),
                Err(err) => {
                    self.diagnostics
                        .push(Diagnostic::from_de(self.file, &[section, raw_id], err))
                }
            }
        }
        out
    }

    fn service(&mut self, node: &Node) -> ServiceConfig {
        let mut service = ServiceConfig::default();
        let Some(entries) = node.as_map() else {
            if !node.is_null() {
                self.diagnostics.push(Diagnostic::error(
                    self.file,
                    Some(node.mark),
                    "service",
                    format!("expected a map, found {}", node.describe()),
                ));
            }
            return service;
        };
        const KEYS: &[&str] = &["extensions", "pipelines", "telemetry"];
        for (key, value) in entries {
            let name = key.as_str().unwrap_or("");
            match name {
                "extensions" => {
                    if let Some(v) = self.typed::<Vec<String>>(value, &["service", "extensions"]) {
                        service.extensions = v;
                    }
                }
                "telemetry" => {
                    if let Some(v) = self.typed::<TelemetryConfig>(value, &["service", "telemetry"])
                    {
                        service.telemetry = v;
                    }
                }
                "pipelines" => service.pipelines = self.pipelines(value),
                other => {
                    let help = match closest(other, KEYS.iter().copied()) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!("known keys: {}", KEYS.join(", ")),
                    };
                    self.diagnostics.push(
                        Diagnostic::error(
                            self.file,
                            Some(key.mark),
                            format!("service.{other}"),
                            format!("unknown key `{other}`"),
                        )
                        .with_help(help),
                    );
                }
            }
        }
        service
    }

    fn pipelines(&mut self, node: &Node) -> Vec<Pipeline> {
        let mut out = Vec::new();
        let Some(entries) = node.as_map() else {
            self.diagnostics.push(Diagnostic::error(
                self.file,
                Some(node.mark),
                "service.pipelines",
                format!("expected a map of pipelines, found {}", node.describe()),
            ));
            return out;
        };
        for (key, value) in entries {
            let raw = key.as_str().unwrap_or("");
            let path = format!("service.pipelines.{raw}");
            let id = match ComponentId::parse(raw) {
                Ok(id) if id.kind == "logs" => id,
                Ok(id) if matches!(id.kind.as_str(), "traces" | "metrics" | "profiles") => {
                    self.diagnostics.push(Diagnostic::error(self.file, Some(key.mark), path, format!("`{}` pipelines are not supported: this collector ships Kubernetes events as logs", id.kind)).with_help("name the pipeline `logs` or `logs/<name>`"));
                    continue;
                }
                Ok(_) | Err(_) => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            self.file,
                            Some(key.mark),
                            path,
                            format!("`{raw}` is not a pipeline id"),
                        )
                        .with_help("name the pipeline `logs` or `logs/<name>`"),
                    );
                    continue;
                }
            };
            if let Some(config) =
                self.typed::<PipelineConfig>(value, &["service", "pipelines", raw])
            {
                out.push(Pipeline { id, config });
            }
        }
        out
    }

    fn typed<T: DeserializeOwned>(&mut self, node: &Node, prefix: &[&str]) -> Option<T> {
        match from_node(node) {
            Ok(v) => Some(v),
            Err(err) => {
                self.diagnostics
                    .push(Diagnostic::from_de(self.file, prefix, err));
                None
            }
        }
    }
}

fn unknown(kind: &str) -> DeError {
    DeError::new(format!("unknown component type `{kind}`"))
}

fn receiver(kind: &str, node: &Node) -> Result<ReceiverConfig, DeError> {
    match kind {
        "k8s_events" => from_node(node).map(ReceiverConfig::K8sEvents),
        _ => Err(unknown(kind)),
    }
}

fn processor(kind: &str, node: &Node) -> Result<ProcessorConfig, DeError> {
    match kind {
        "resource" => from_node(node).map(ProcessorConfig::Resource),
        "attributes" => from_node(node).map(ProcessorConfig::Attributes),
        "filter" => from_node(node).map(ProcessorConfig::Filter),
        "batch" => from_node(node).map(ProcessorConfig::Batch),
        _ => Err(unknown(kind)),
    }
}

fn exporter(kind: &str, node: &Node) -> Result<ExporterConfig, DeError> {
    match kind {
        "loki" => from_node(node).map(|c| ExporterConfig::Loki(Box::new(c))),
        "otlphttp" | "otlp_http" => from_node(node).map(|c| ExporterConfig::OtlpHttp(Box::new(c))),
        "debug" => from_node(node).map(ExporterConfig::Debug),
        _ => Err(unknown(kind)),
    }
}

fn extension(kind: &str, node: &Node) -> Result<ExtensionConfig, DeError> {
    match kind {
        "basicauth" => from_node(node).map(ExtensionConfig::BasicAuth),
        "bearertokenauth" => from_node(node).map(ExtensionConfig::BearerTokenAuth),
        "health_check" => from_node(node).map(ExtensionConfig::HealthCheck),
        "file_storage" => from_node(node).map(ExtensionConfig::FileStorage),
        "k8s_leader_elector" => from_node(node).map(ExtensionConfig::K8sLeaderElector),
        _ => Err(unknown(kind)),
    }
}
