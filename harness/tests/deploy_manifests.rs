//! The manifests in `deploy/` are what users apply: every one parses, is applied by its
//! kustomization, runs the collector locked down, grants nothing beyond reading events (and, in
//! the ha overlay, its own Lease), and gives the collector a config that validates with the
//! environment its pod gets. Each failure names the file, the line and the field or rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use harness::manifests::{self, EnvSource, EnvVar, Grant, Manifest};
use k8s_event_collector::config::yaml::Node;

const NAMESPACE: &str = "otel";
const SERVICE_ACCOUNT: &str = "k8s-event-collector";
const DEPLOYMENT: &str = "deploy/base/deployment.yaml";
const OPERATOR: &str = "deploy/overlays/operator/opentelemetrycollector.yaml";
const SECRET_EXAMPLE: &str = "deploy/secret.example.yaml";
const HA: &str = "deploy/overlays/ha/";

const READ_EVENTS: &[Grant<'_>] = &[Grant {
    api_groups: &["", "events.k8s.io"],
    resources: &["events"],
    verbs: &["get", "list", "watch"],
}];
const LEADER_ELECTION: &[Grant<'_>] = &[Grant {
    api_groups: &["coordination.k8s.io"],
    resources: &["leases"],
    verbs: &["get", "create", "update"],
}];

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn all() -> Vec<Manifest> {
    manifests::load_dir(root(), "deploy").unwrap_or_else(|e| panic!("{e}"))
}

fn only<'a>(all: &'a [Manifest], file: &str) -> &'a Manifest {
    match all.iter().filter(|m| m.file == file).collect::<Vec<_>>()[..] {
        [one] => one,
        _ => panic!("{file}: expected exactly one document"),
    }
}

fn of_kind<'a>(all: &'a [Manifest], kinds: &[&str]) -> Vec<&'a Manifest> {
    all.iter()
        .filter(|m| m.kind().is_some_and(|k| kinds.contains(&k)))
        .collect()
}

fn assert_none(problems: Vec<String>) {
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// The environment the pod gets: made-up values for the Secret's keys and the node name.
fn rendered(vars: &[EnvVar]) -> BTreeMap<String, String> {
    let lookup = |source: &EnvSource| match source {
        EnvSource::SecretKey { name, key } => Some(format!("{name}-{key}-value")),
        EnvSource::Field(path) if path == "spec.nodeName" => Some("node-1".to_owned()),
        _ => None,
    };
    manifests::render_env(vars, &lookup).unwrap_or_else(|e| panic!("{e}"))
}

fn deployment_env(all: &[Manifest]) -> Vec<EnvVar> {
    let deployment = only(all, DEPLOYMENT);
    let containers = manifests::containers(deployment);
    assert_eq!(containers.len(), 1, "{DEPLOYMENT}: one container expected");
    manifests::env_vars(deployment, containers[0].1.get("env"))
}

/// The ConfigMaps that hold a `collector.yaml` (the base's, and the ha overlay's patch).
fn config_maps(all: &[Manifest]) -> Vec<(&Manifest, &Node)> {
    of_kind(all, &["ConfigMap"])
        .into_iter()
        .filter_map(|m| Some((m, m.at(&["data", "collector.yaml"])?)))
        .collect()
}

#[test]
fn every_manifest_parses_and_its_folder_kustomization_applies_it() {
    let all = all();
    let dirs: BTreeSet<&str> = all
        .iter()
        .filter_map(|m| m.file.rsplit_once('/'))
        .map(|(d, _)| d)
        .collect();
    assert_none(
        dirs.iter()
            .flat_map(|dir| manifests::kustomization_problems(root(), dir, &all))
            .collect(),
    );
    let applied =
        manifests::kustomize_resources(root(), "deploy").unwrap_or_else(|e| panic!("{e}"));
    let base: Vec<_> = applied.iter().filter_map(Manifest::kind).collect();
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
    ] {
        assert!(
            base.contains(&kind),
            "kubectl apply -k deploy/ creates no {kind}"
        );
    }
    let secret = "kubectl apply -k deploy/ must not overwrite the real Secret";
    assert!(!base.contains(&"Secret"), "{secret}");
}

#[test]
fn the_pods_run_locked_down() {
    let all = all();
    let deployment = only(&all, DEPLOYMENT);
    assert_none(manifests::pod_problems(deployment, 13133));
    let cr = only(&all, OPERATOR);
    for (m, field) in [
        (
            deployment,
            &["spec", "template", "spec", "serviceAccountName"][..],
        ),
        (cr, &["spec", "serviceAccount"]),
    ] {
        let account = m.str_at(field);
        assert_eq!(
            account,
            Some(SERVICE_ACCOUNT),
            "{}: {}",
            m.file,
            field.join(".")
        );
    }
    let mut problems = manifests::pod_security_problems(
        cr,
        cr.at(&["spec", "podSecurityContext"]),
        "spec.podSecurityContext",
    );
    problems.extend(manifests::container_security_problems(
        cr,
        cr.at(&["spec", "securityContext"]),
        "spec.securityContext",
    ));
    problems.extend(manifests::resources_problems(
        cr,
        cr.at(&["spec", "resources"]),
        "spec.resources",
    ));
    assert_none(problems);
}

#[test]
fn roles_read_events_and_only_the_ha_overlay_touches_its_lease_in_its_namespace() {
    let all = all();
    let roles = of_kind(&all, &["ClusterRole", "Role"]);
    let mut problems = Vec::new();
    for role in &roles {
        if role.file.starts_with(HA) {
            problems.extend(manifests::rule_violations(role, LEADER_ELECTION));
            if role.kind() != Some("Role") || role.namespace() != Some(NAMESPACE) {
                problems.push(format!(
                    "{}: leader election must be a Role in namespace {NAMESPACE}",
                    role.file
                ));
            }
        } else {
            problems.extend(manifests::rule_violations(role, READ_EVENTS));
        }
    }
    for binding in of_kind(&all, &["ClusterRoleBinding", "RoleBinding"]) {
        problems.extend(manifests::binding_problems(
            binding,
            &roles,
            NAMESPACE,
            SERVICE_ACCOUNT,
        ));
    }
    assert_none(problems);
    assert!(
        roles.iter().any(|r| r.file.starts_with(HA)),
        "{HA}: no Role for the Lease"
    );
}

#[test]
fn the_role_check_reports_a_wider_grant() {
    let all = all();
    let role = only(&all, "deploy/base/clusterrole.yaml");
    let widen = |from: &str, to: &str| {
        assert!(
            role.text.contains(from),
            "{}: `{from}` not found to modify",
            role.file
        );
        let text = role.text.replacen(from, to, 1);
        let modified = manifests::parse_text(&role.file, &text).unwrap_or_else(|e| panic!("{e}"));
        manifests::rule_violations(&modified[0], READ_EVENTS).join("\n")
    };
    let found = widen(
        "verbs: [get, list, watch]",
        "verbs: [get, list, watch, create]",
    );
    assert!(
        found.contains("deploy/base/clusterrole.yaml:") && found.contains("`create` on `events`"),
        "{found}"
    );
    let found = widen("resources: [events]", "resources: [events, secrets]");
    assert!(found.contains("`get` on `secrets`"), "{found}");
    let found = widen("apiGroups: [\"\"]", "apiGroups: [\"*\"]");
    assert!(found.contains("apiGroup \"*\""), "{found}");
}

#[test]
fn every_config_validates_with_the_environment_its_pod_gets() {
    let all = all();
    let (_, container) = manifests::containers(only(&all, DEPLOYMENT))[0];
    let env = rendered(&deployment_env(&all));
    let maps = config_maps(&all);
    assert_eq!(
        maps.len(),
        2,
        "expected the base's ConfigMap and the ha overlay's patch"
    );
    let mut problems = Vec::new();
    let mut check = |m: &Manifest, holder: Option<&Node>, env, mounts: Option<&Node>| {
        let loaded = manifests::load_config(m, holder, env).unwrap_or_else(|e| panic!("{e}"));
        for (key, path) in manifests::config_paths(&loaded.config) {
            if !manifests::is_mounted(mounts, &path) {
                problems.push(format!(
                    "{}: {key} `{path}` is on no mounted volume (the root filesystem is read-only)",
                    m.file
                ));
            }
        }
        let config = loaded.config;
        let health = manifests::health_check_port(&config);
        assert_eq!(
            health,
            Some(13133),
            "{}: the probes need health_check on 13133",
            m.file
        );
        let metrics = manifests::port_of(&config.service.telemetry.metrics.address);
        assert_eq!(
            metrics,
            Some(8888),
            "{}: the Service scrapes /metrics on 8888",
            m.file
        );
        let leader = config.extension("k8s_leader_elector").is_some();
        assert_eq!(
            leader,
            m.file.starts_with(HA),
            "{}: k8s_leader_elector only in ha",
            m.file
        );
    };
    for (config_map, holder) in &maps {
        check(
            config_map,
            Some(holder),
            &env,
            container.get("volumeMounts"),
        );
    }
    let cr = only(&all, OPERATOR);
    let cr_env = rendered(&manifests::env_vars(cr, cr.at(&["spec", "env"])));
    check(cr, None, &cr_env, cr.at(&["spec", "volumeMounts"]));
    assert_none(problems);
    let args = manifests::strings(container.get("args"));
    assert_eq!(
        args,
        ["--config=/conf/collector.yaml"],
        "{DEPLOYMENT}: args"
    );
    assert!(manifests::is_mounted(
        container.get("volumeMounts"),
        "/conf/collector.yaml"
    ));

    // The check can fail: without one of the Deployment's variables the config is invalid, and
    // the error points into the ConfigMap's file.
    let mut missing = env.clone();
    missing.remove("LOKI_PASSWORD");
    let (config_map, holder) = maps[0];
    let error = manifests::load_config(config_map, Some(holder), &missing).err();
    let error = error.unwrap_or_default();
    assert!(error.contains("`LOKI_PASSWORD` is not set"), "{error}");
    assert!(error.starts_with("deploy/base/configmap.yaml:"), "{error}");
}

#[test]
fn every_secret_key_ref_names_a_key_of_the_secret_example() {
    let all = all();
    let secret = only(&all, SECRET_EXAMPLE);
    let keys = manifests::data_keys(secret);
    let cr = only(&all, OPERATOR);
    let mut vars: Vec<(&str, EnvVar)> = deployment_env(&all)
        .into_iter()
        .map(|v| (DEPLOYMENT, v))
        .collect();
    vars.extend(
        manifests::env_vars(cr, cr.at(&["spec", "env"]))
            .into_iter()
            .map(|v| (OPERATOR, v)),
    );
    let mut problems = Vec::new();
    for (file, var) in &vars {
        if let EnvSource::SecretKey { name, key } = &var.source
            && (Some(name.as_str()) != secret.name() || !keys.contains(&key.as_str()))
        {
            let (line, var, keys) = (var.line, &var.name, keys.join(", "));
            problems.push(format!(
                "{file}:{line}: {var} reads key `{key}` of Secret `{name}`, which \
                 {SECRET_EXAMPLE} does not have (keys: {keys})"
            ));
        }
    }
    assert_none(problems);
    assert!(
        vars.iter()
            .any(|(_, v)| matches!(v.source, EnvSource::SecretKey { .. })),
        "no secretKeyRef at all"
    );
}
