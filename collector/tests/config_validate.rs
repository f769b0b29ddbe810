//! The config as users meet it: the reference setup validates and prints unchanged, and every
//! broken config gets an error that names file, line, column and key (messages snapshotted).

use k8s_event_collector::config::{self, LoadError};

const REFERENCE: &str = include_str!("fixtures/config/reference-otel-operator.yaml");

/// The variables the reference resource's `spec.env` gives the pod.
fn reference_env(name: &str) -> Option<String> {
    match name {
        "K8S_NODE_NAME" => Some("kind-worker".into()),
        "OPEN_TELEMETRY_COLLECTOR_ORGID" => Some("tenant-a".into()),
        "OPEN_TELEMETRY_COLLECTOR_USERNAME" => Some("otel".into()),
        "OPEN_TELEMETRY_COLLECTOR_PASSWORD" => Some("s3cr3t-Pa55".into()),
        _ => None,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({
            snapshot_path => "../../snapshots/config",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

#[test]
fn reference_config_validates_unchanged() {
    let loaded = config::load_str("reference-otel-operator.yaml", REFERENCE, &reference_env)
        .unwrap_or_else(|e| panic!("{e}"));
    let c = &loaded.config;
    assert_eq!(c.receivers.len(), 1);
    assert_eq!(c.service.pipelines.len(), 1);
    assert_eq!(c.service.extensions, ["basicauth/client"]);
    assert!(loaded.operator.is_some());
    let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
    assert_eq!(errors, 0);
    let rendered: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
    snapshot!("reference_validate", rendered.join("\n"));
}

#[test]
fn reference_config_prints_expanded_with_the_password_redacted() {
    let loaded = config::load_str("reference-otel-operator.yaml", REFERENCE, &reference_env)
        .unwrap_or_else(|e| panic!("{e}"));
    let printed = config::print::render(&loaded.expanded, &loaded.secret_paths);
    assert!(!printed.contains("s3cr3t-Pa55"), "{printed}");
    assert!(printed.contains("password: [REDACTED]"), "{printed}");
    assert!(printed.contains("X-Scope-OrgID: tenant-a"), "{printed}");
    assert!(printed.contains("value: kind-worker"), "{printed}");
    snapshot!("reference_print_config", printed);
}

#[test]
fn reference_config_without_its_env_names_each_variable_and_where_it_comes_from() {
    let Err(LoadError::Invalid(diagnostics)) =
        config::load_str("reference-otel-operator.yaml", REFERENCE, &no_env)
    else {
        panic!("expected the unset variables to be errors");
    };
    let text: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    let text = text.join("\n");
    assert!(
        text.contains("from Secret `loki-creds` key `PASSWORD`"),
        "{text}"
    );
    snapshot!("reference_unset_env", text);
}

/// A small valid config the broken cases start from.
const BASE: &str = r#"receivers:
  k8s_events:
    namespaces: []
processors:
  resource/k8s_events:
    attributes:
      - action: insert
        key: cluster
        value: prod
exporters:
  loki:
    endpoint: https://loki.example.com/loki/api/v1/push
    headers:
      X-Scope-OrgID: ${env:ORGID}
    auth:
      authenticator: basicauth/client
extensions:
  basicauth/client:
    client_auth:
      username: ${env:USER}
      password: ${env:PASSWORD}
service:
  extensions: [basicauth/client]
  pipelines:
    logs:
      receivers: [k8s_events]
      processors: [resource/k8s_events]
      exporters: [loki]
"#;

fn base_env(name: &str) -> Option<String> {
    match name {
        "ORGID" => Some("tenant-a".into()),
        "USER" => Some("otel".into()),
        "PASSWORD" => Some("hunter2".into()),
        _ => None,
    }
}

fn diagnostics_of(file: &str, text: &str) -> String {
    match config::load_str(file, text, &base_env) {
        Ok(loaded) => {
            let mut lines: Vec<String> =
                loaded.diagnostics.iter().map(ToString::to_string).collect();
            lines.push("(valid)".into());
            lines.join("\n")
        }
        Err(e) => e.to_string(),
    }
}

#[test]
fn base_config_is_valid_and_quiet() {
    assert_eq!(diagnostics_of("base.yaml", BASE), "(valid)");
}

/// Each broken config: a name, a change to BASE (from -> to), and what the error must mention.
const BROKEN: &[(&str, &str, &str, &str)] = &[
    (
        "typo_in_key",
        "    auth:\n",
        "    tls:\n      insecure_skp_verify: true\n    auth:\n",
        "did you mean `insecure_skip_verify`",
    ),
    (
        "wrong_type",
        "    namespaces: []",
        "    namespaces: default",
        "expected a list",
    ),
    (
        "unknown_component_type",
        "  loki:\n",
        "  lokki:\n",
        "unknown exporter type `lokki`",
    ),
    (
        "undefined_pipeline_member",
        "processors: [resource/k8s_events]",
        "processors: [resource/k8s_event]",
        "did you mean `resource/k8s_events`",
    ),
    (
        "missing_extension",
        "  extensions: [basicauth/client]\n",
        "",
        "not enabled in service.extensions",
    ),
    (
        "bad_duration",
        "    auth:\n",
        "    timeout: 5 sec\n    auth:\n",
        "invalid duration",
    ),
    (
        "unset_variable",
        "${env:PASSWORD}",
        "${env:LOKI_PASSWORD}",
        "`LOKI_PASSWORD` is not set",
    ),
    (
        "https_with_insecure",
        "    auth:\n",
        "    tls:\n      insecure: true\n    auth:\n",
        "has no effect on an https:// endpoint",
    ),
    (
        "skip_verify_with_ca_file",
        "    auth:\n",
        "    tls:\n      insecure_skip_verify: true\n      ca_file: /etc/loki/ca.crt\n    auth:\n",
        "ca_file is ignored",
    ),
    (
        "invalid_yaml",
        "    namespaces: []",
        "    namespaces: [default",
        "invalid YAML",
    ),
    (
        "unknown_action",
        "action: insert",
        "action: inset",
        "did you mean `insert`",
    ),
    (
        "unknown_section",
        "service:\n",
        "servce:\n",
        "did you mean `service`",
    ),
    (
        "traces_pipeline",
        "    logs:\n",
        "    traces:\n",
        "`traces` pipelines are not supported",
    ),
    (
        "tls_1_0",
        "    auth:\n",
        "    tls:\n      min_version: \"1.0\"\n    auth:\n",
        "TLS 1.0 is not supported",
    ),
    (
        "wrong_authenticator_kind",
        "authenticator: basicauth/client",
        "authenticator: k8s_events",
        "not defined in `extensions`",
    ),
    (
        "bad_regex",
        "processors:\n",
        "processors:\n  filter/noise:\n    logs:\n      exclude:\n        match_type: regexp\n        reasons: ['(BackOff']\n",
        "invalid regular expression",
    ),
];

#[test]
fn broken_configs_are_located_and_explained() {
    for (name, from, to, must_mention) in BROKEN {
        assert!(
            BASE.contains(from),
            "{name}: BASE does not contain {from:?}"
        );
        let text = BASE.replacen(from, to, 1);
        let out = diagnostics_of(&format!("{name}.yaml"), &text);
        assert!(out.contains(must_mention), "{name}: {out}");
        assert!(
            out.lines()
                .next()
                .is_some_and(|l| l.starts_with(&format!("{name}.yaml:"))
                    && l.split(':')
                        .nth(1)
                        .is_some_and(|n| n.parse::<usize>().is_ok())),
            "{name}: the first line must name file:line:column: {out}"
        );
        snapshot!(
            *name,
            format!("--- {name}.yaml\n{text}--- diagnostics\n{out}")
        );
    }
}

#[test]
fn empty_file_is_explained() {
    let out = diagnostics_of("empty.yaml", "# nothing here\n");
    assert!(
        out.starts_with("empty.yaml:1:1: error: the file is empty"),
        "{out}"
    );
    snapshot!("empty_file", out);
}

#[test]
fn operator_resource_without_config_is_explained() {
    let text = "apiVersion: opentelemetry.io/v1beta1\nkind: OpenTelemetryCollector\nmetadata:\n  name: events\nspec:\n  mode: deployment\n";
    let out = diagnostics_of("no-config.yaml", text);
    assert!(
        out.starts_with("no-config.yaml:5:1: error: spec.config:"),
        "{out}"
    );
    snapshot!("operator_without_config", out);
}

#[test]
fn errors_inside_spec_config_point_into_the_outer_file() {
    let text = REFERENCE.replace(
        "insecure_skip_verify: true",
        "insecure_skip_verify: yes please",
    );
    let Err(LoadError::Invalid(diagnostics)) =
        config::load_str("reference.yaml", &text, &reference_env)
    else {
        panic!("expected an error");
    };
    let d = &diagnostics[0];
    let line = text
        .lines()
        .position(|l| l.contains("insecure_skip_verify"))
        .map(|i| i + 1);
    assert_eq!(d.mark.map(|m| m.line), line, "{d}");
    assert_eq!(d.path, "exporters.loki.tls.insecure_skip_verify");
    snapshot!("operator_spec_config_error", d.to_string());
}
