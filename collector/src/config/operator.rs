//! The `OpenTelemetryCollector` resource of the OpenTelemetry Operator: users hand us the same
//! file they apply, and the collector config is its `spec.config` (a YAML string or a map).

use super::diagnostic::Diagnostic;
use super::yaml::{self, Mark, Node, NodeValue};

/// What the resource says beyond the config: the environment its pods get.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorResource {
    pub name: Option<String>,
    pub env: Vec<EnvVarSpec>,
}

/// One `spec.env` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvVarSpec {
    pub name: String,
    /// Where the value comes from, in words: "from Secret `loki-creds` key `PASSWORD`".
    pub source: String,
    pub mark: Mark,
}

impl OperatorResource {
    /// Where `spec.env` says `name` comes from, if it declares it.
    pub fn env_source(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.source.as_str())
    }
}

fn is_operator_resource(root: &Node) -> bool {
    root.get("kind").and_then(Node::as_str) == Some("OpenTelemetryCollector")
}

/// Returns the collector config node: `root` itself, or the resource's `spec.config`.
pub fn unwrap(file: &str, root: Node) -> Result<(Node, Option<OperatorResource>), Vec<Diagnostic>> {
    if !is_operator_resource(&root) {
        return Ok((root, None));
    }
    let resource = OperatorResource {
        name: root
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Node::as_str)
            .map(str::to_owned),
        env: root
            .get("spec")
            .and_then(|s| s.get("env"))
            .map(env_specs)
            .unwrap_or_default(),
    };
    let missing = |at: Mark| {
        vec![
            Diagnostic::error(
                file,
                Some(at),
                "spec.config",
                "this OpenTelemetryCollector has no spec.config",
            )
            .with_help(
                "spec.config holds the collector config, as a YAML string (config: |) or a map",
            ),
        ]
    };
    let spec_entry = root
        .as_map()
        .and_then(|entries| entries.iter().find(|(k, _)| k.as_str() == Some("spec")));
    let Some((spec_key, spec)) = spec_entry else {
        return Err(missing(root.mark));
    };
    let Some(config) = spec.get("config").filter(|c| !c.is_null()) else {
        return Err(missing(spec_key.mark));
    };
    let node = match &config.value {
        NodeValue::Map(_) => config.clone(),
        NodeValue::Scalar { text, .. } => parse_embedded(file, text, config)?,
        NodeValue::Seq(_) => {
            return Err(vec![Diagnostic::error(
                file,
                Some(config.mark),
                "spec.config",
                "expected the collector config as a YAML string or a map, found a list",
            )]);
        }
    };
    Ok((node, Some(resource)))
}

/// Parses a config held in a string, with positions moved to where the text stands in the file.
fn parse_embedded(file: &str, text: &str, holder: &Node) -> Result<Node, Vec<Diagnostic>> {
    let shift = |mark: Mark| match holder.block_start {
        Some(start) => Mark {
            line: start.line + mark.line - 1,
            column: start.column + mark.column - 1,
        },
        // A quoted string's inner lines do not map to the file: point at the string.
        None => holder.mark,
    };
    match yaml::parse(text) {
        Ok(Some(mut node)) => {
            relocate(&mut node, &shift);
            Ok(node)
        }
        Ok(None) => Err(vec![Diagnostic::error(
            file,
            Some(holder.mark),
            "spec.config",
            "spec.config is empty",
        )]),
        Err(e) => Err(vec![Diagnostic::error(
            file,
            Some(shift(e.mark)),
            "spec.config",
            format!("invalid YAML in spec.config: {}", e.message),
        )]),
    }
}

fn relocate(node: &mut Node, shift: &dyn Fn(Mark) -> Mark) {
    node.mark = shift(node.mark);
    node.block_start = node.block_start.map(shift);
    match &mut node.value {
        NodeValue::Scalar { .. } => {}
        NodeValue::Seq(items) => items.iter_mut().for_each(|n| relocate(n, shift)),
        NodeValue::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            relocate(k, shift);
            relocate(v, shift);
        }),
    }
}

fn env_specs(env: &Node) -> Vec<EnvVarSpec> {
    let NodeValue::Seq(items) = &env.value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let name = item.get("name")?.as_str()?.to_owned();
            Some(EnvVarSpec {
                source: describe_source(item),
                name,
                mark: item.mark,
            })
        })
        .collect()
}

fn describe_source(item: &Node) -> String {
    let text = |n: Option<&Node>, key: &str| {
        n.and_then(|n| n.get(key))
            .and_then(Node::as_str)
            .unwrap_or("?")
            .to_owned()
    };
    if item.get("value").is_some() {
        return "as a literal value in spec.env".into();
    }
    let from = item.get("valueFrom");
    if let Some(secret) = from.and_then(|f| f.get("secretKeyRef")) {
        return format!(
            "from Secret `{}` key `{}`",
            text(Some(secret), "name"),
            text(Some(secret), "key")
        );
    }
    if let Some(cm) = from.and_then(|f| f.get("configMapKeyRef")) {
        return format!(
            "from ConfigMap `{}` key `{}`",
            text(Some(cm), "name"),
            text(Some(cm), "key")
        );
    }
    if let Some(field) = from.and_then(|f| f.get("fieldRef")) {
        return format!("from the pod field `{}`", text(Some(field), "fieldPath"));
    }
    "from spec.env".into()
}
