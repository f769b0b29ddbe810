//! Authorization by Kubernetes RBAC objects (`ClusterRole`, `ClusterRoleBinding`, `Role`,
//! `RoleBinding`) read from manifests, decided as the RBAC authorizer decides.
//!
//! This is what makes a scenario fail when `deploy/` grants too little: the simulator is given
//! the very RBAC manifests a cluster would get.

use std::collections::BTreeMap;

use serde_json::Value;

use super::yaml::{self, YamlError};

/// One rule of a role.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Rule {
    api_groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
    resource_names: Vec<String>,
}

impl Rule {
    fn matches(&self, verb: &str, api_group: &str, resource: &str, name: Option<&str>) -> bool {
        let has = |list: &[String], wanted: &str| list.iter().any(|x| x == "*" || x == wanted);
        has(&self.verbs, verb)
            && has(&self.api_groups, api_group)
            && has(&self.resources, resource)
            // A rule naming objects grants nothing on requests without a name (list, watch,
            // create), as in the real authorizer.
            && (self.resource_names.is_empty()
                || name.is_some_and(|n| self.resource_names.iter().any(|x| x == n)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RoleKind {
    ClusterRole,
    Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Subject {
    kind: String,
    name: String,
    namespace: Option<String>,
}

impl Subject {
    /// Whether the subject is this user; `binding_namespace` is where a RoleBinding lives (a
    /// ServiceAccount subject without a namespace means one of that namespace).
    fn applies_to<S: AsRef<str>>(
        &self,
        user: &str,
        groups: &[S],
        binding_namespace: Option<&str>,
    ) -> bool {
        match self.kind.as_str() {
            "User" => self.name == user,
            "Group" => groups.iter().any(|g| g.as_ref() == self.name),
            "ServiceAccount" => {
                let namespace = self.namespace.as_deref().or(binding_namespace);
                namespace
                    .is_some_and(|ns| user == format!("system:serviceaccount:{ns}:{}", self.name))
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    /// `None` for a ClusterRoleBinding.
    namespace: Option<String>,
    role_kind: RoleKind,
    role_name: String,
    subjects: Vec<Subject>,
}

/// The authorization rules of a simulated cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rbac {
    allow_all: bool,
    cluster_roles: BTreeMap<String, Vec<Rule>>,
    roles: BTreeMap<(String, String), Vec<Rule>>,
    cluster_role_bindings: Vec<Binding>,
    role_bindings: Vec<Binding>,
    problems: Vec<String>,
}

impl Rbac {
    /// Rules that allow every request (for scenarios that are not about RBAC).
    pub fn allow_all() -> Rbac {
        Rbac {
            allow_all: true,
            ..Rbac::default()
        }
    }

    /// Reads the RBAC objects among `docs` (other kinds are skipped; `kind: List` is opened).
    /// What cannot be read grants nothing and is noted in [`Rbac::problems`].
    pub fn from_manifests(docs: &[Value]) -> Rbac {
        let mut rbac = Rbac::default();
        for doc in docs {
            rbac.add(doc);
        }
        rbac
    }

    /// Reads a multi-document YAML file (documents separated by `---` lines) of manifests.
    pub fn from_yaml_documents(text: &str) -> Result<Rbac, YamlError> {
        Ok(Rbac::from_manifests(&yaml::documents(text)?))
    }

    /// What was skipped while reading: fields the simulator does not know, missing ones.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// Whether `user` (in `groups`) may `verb` the `resource` of `api_group` (`""` is core) in
    /// `namespace` (`None`: at the cluster scope).
    pub fn allows<S: AsRef<str>>(
        &self,
        user: &str,
        groups: &[S],
        verb: &str,
        api_group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> bool {
        self.allows_name(user, groups, verb, api_group, resource, namespace, None)
    }

    /// [`Rbac::allows`] for a request on one named object (`get`, `update`, `delete`), which
    /// rules with `resourceNames` may grant.
    #[allow(clippy::too_many_arguments)]
    pub fn allows_name<S: AsRef<str>>(
        &self,
        user: &str,
        groups: &[S],
        verb: &str,
        api_group: &str,
        resource: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> bool {
        // The bootstrap `cluster-admin` binding of every cluster.
        if self.allow_all || groups.iter().any(|g| g.as_ref() == "system:masters") {
            return true;
        }
        let grants = |binding: &Binding| {
            binding
                .subjects
                .iter()
                .any(|s| s.applies_to(user, groups, binding.namespace.as_deref()))
                && self
                    .rules(binding)
                    .iter()
                    .any(|r| r.matches(verb, api_group, resource, name))
        };
        if self.cluster_role_bindings.iter().any(grants) {
            return true;
        }
        // A RoleBinding grants only in its own namespace, also when it refers to a ClusterRole.
        namespace.is_some_and(|ns| {
            self.role_bindings
                .iter()
                .filter(|b| b.namespace.as_deref() == Some(ns))
                .any(grants)
        })
    }

    fn rules(&self, binding: &Binding) -> &[Rule] {
        let rules = match (binding.role_kind, &binding.namespace) {
            (RoleKind::ClusterRole, _) => self.cluster_roles.get(&binding.role_name),
            (RoleKind::Role, Some(ns)) => self.roles.get(&(ns.clone(), binding.role_name.clone())),
            (RoleKind::Role, None) => None,
        };
        rules.map_or(&[], Vec::as_slice)
    }

    fn add(&mut self, doc: &Value) {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind == "List" {
            for item in doc
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.add(item);
            }
            return;
        }
        if !matches!(
            kind,
            "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding"
        ) {
            return;
        }
        let name = doc
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let what = format!("{kind} {name:?}");
        if let Some(api_version) = doc.get("apiVersion").and_then(Value::as_str)
            && api_version != "rbac.authorization.k8s.io/v1"
        {
            self.problems.push(format!(
                "{what}: apiVersion {api_version:?} (expected rbac.authorization.k8s.io/v1)"
            ));
        }
        let namespace = match kind {
            "Role" | "RoleBinding" => Some(self.namespace_of(doc, &what)),
            _ => None,
        };
        match kind {
            "ClusterRole" | "Role" => {
                if doc.get("aggregationRule").is_some() {
                    self.problems.push(format!(
                        "{what}: aggregationRule is not supported by the simulator"
                    ));
                }
                let rules = self.read_rules(doc.get("rules"), &what);
                match namespace {
                    Some(ns) => {
                        self.roles.insert((ns, name), rules);
                    }
                    None => {
                        self.cluster_roles.insert(name, rules);
                    }
                }
            }
            _ => {
                if let Some(binding) = self.read_binding(doc, namespace, &what) {
                    match binding.namespace {
                        Some(_) => self.role_bindings.push(binding),
                        None => self.cluster_role_bindings.push(binding),
                    }
                }
            }
        }
    }

    fn namespace_of(&mut self, doc: &Value, what: &str) -> String {
        match doc
            .get("metadata")
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
        {
            Some(ns) if !ns.is_empty() => ns.to_owned(),
            _ => {
                self.problems.push(format!(
                    "{what}: no metadata.namespace, taken as \"default\" (as kubectl would)"
                ));
                "default".to_owned()
            }
        }
    }

    fn read_rules(&mut self, rules: Option<&Value>, what: &str) -> Vec<Rule> {
        let mut out = Vec::new();
        for (i, rule) in rules
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("{what}: rules[{i}]");
            let Some(map) = rule.as_object() else {
                self.problems.push(format!("{at}: not a map"));
                continue;
            };
            for key in map.keys() {
                if !matches!(
                    key.as_str(),
                    "apiGroups" | "resources" | "verbs" | "resourceNames" | "nonResourceURLs"
                ) {
                    self.problems.push(format!("{at}: unknown field {key:?}"));
                }
            }
            let mut list = |key: &str| strings(map.get(key), &at, key, &mut self.problems);
            let rule = Rule {
                api_groups: list("apiGroups"),
                resources: list("resources"),
                verbs: list("verbs"),
                resource_names: list("resourceNames"),
            };
            if rule.verbs.is_empty() {
                self.problems.push(format!("{at}: no verbs"));
            }
            out.push(rule);
        }
        out
    }

    fn read_binding(
        &mut self,
        doc: &Value,
        namespace: Option<String>,
        what: &str,
    ) -> Option<Binding> {
        let role_ref = doc.get("roleRef");
        let role_kind = match role_ref.and_then(|r| r.get("kind")).and_then(Value::as_str) {
            Some("ClusterRole") => RoleKind::ClusterRole,
            Some("Role") if namespace.is_some() => RoleKind::Role,
            other => {
                self.problems.push(format!(
                    "{what}: roleRef.kind {other:?} cannot be bound here"
                ));
                return None;
            }
        };
        let Some(role_name) = role_ref.and_then(|r| r.get("name")).and_then(Value::as_str) else {
            self.problems.push(format!("{what}: roleRef.name missing"));
            return None;
        };
        let mut subjects = Vec::new();
        for (i, subject) in doc
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let field = |key: &str| subject.get(key).and_then(Value::as_str).map(str::to_owned);
            match (field("kind"), field("name")) {
                (Some(kind), Some(name)) => subjects.push(Subject {
                    kind,
                    name,
                    namespace: field("namespace").filter(|ns| !ns.is_empty()),
                }),
                _ => self
                    .problems
                    .push(format!("{what}: subjects[{i}] needs a kind and a name")),
            }
        }
        Some(Binding {
            namespace,
            role_kind,
            role_name: role_name.to_owned(),
            subjects,
        })
    }
}

/// A list of strings (a rule's `verbs`, ...); anything else is noted and read as empty.
fn strings(value: Option<&Value>, at: &str, key: &str, problems: &mut Vec<String>) -> Vec<String> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(s.clone()),
                other => {
                    problems.push(format!("{at}: {key} holds {other}, not a string"));
                    None
                }
            })
            .collect(),
        Some(other) => {
            problems.push(format!("{at}: {key} is {other}, not a list"));
            Vec::new()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use crate::sim::apiserver::testutil::{EVENTS_READER, LEADER, SA, SHOP_BINDING, yaml};

    const SA_GROUPS: [&str; 3] = [
        "system:serviceaccounts",
        "system:serviceaccounts:otel",
        "system:authenticated",
    ];

    /// A second binding of the leader Role: a ServiceAccount without a namespace (one of the
    /// binding's) and a Group.
    const OPS_BINDING: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: leader-ops, namespace: otel}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: leader}
subjects:
  - {kind: ServiceAccount, name: other-sa}
  - {kind: Group, name: "team:ops"}
"#;

    fn manifests() -> Rbac {
        Rbac::from_yaml_documents(&yaml(&[EVENTS_READER, SHOP_BINDING, LEADER, OPS_BINDING]))
            .unwrap()
    }

    #[test]
    fn role_bindings_grant_in_their_namespace_only() {
        let rbac = manifests();
        assert!(rbac.problems().is_empty(), "{:?}", rbac.problems());
        let can = |verb, ns| rbac.allows(SA, &SA_GROUPS, verb, "", "events", ns);
        assert!(can("list", Some("shop")));
        assert!(can("watch", Some("shop")));
        assert!(!can("list", None));
        assert!(!can("list", Some("payments")));
        assert!(!can("create", Some("shop")));
        assert!(!rbac.allows(
            SA,
            &SA_GROUPS,
            "list",
            "events.k8s.io",
            "events",
            Some("shop")
        ));
        assert!(!rbac.allows(
            "system:serviceaccount:other:k8s-event-collector",
            &SA_GROUPS,
            "list",
            "",
            "events",
            Some("shop")
        ));
    }

    #[test]
    fn resource_names_limit_named_requests() {
        let rbac = manifests();
        let lease = |verb, name| {
            rbac.allows_name(
                SA,
                &SA_GROUPS,
                verb,
                "coordination.k8s.io",
                "leases",
                Some("otel"),
                name,
            )
        };
        assert!(lease("create", None));
        assert!(lease("get", Some("k8s-event-collector")));
        assert!(lease("update", Some("k8s-event-collector")));
        assert!(!lease("get", Some("another")));
        assert!(!lease("list", None));
        assert!(!lease("delete", Some("k8s-event-collector")));
        // The ServiceAccount subject without a namespace is one of the binding's namespace;
        // groups bind too.
        let other = "system:serviceaccount:otel:other-sa";
        assert!(rbac.allows(
            other,
            &["system:authenticated"],
            "create",
            "coordination.k8s.io",
            "leases",
            Some("otel")
        ));
        assert!(!rbac.allows(
            "system:serviceaccount:shop:other-sa",
            &["x"],
            "create",
            "coordination.k8s.io",
            "leases",
            Some("otel")
        ));
        assert!(rbac.allows_name(
            "bob",
            &["team:ops"],
            "create",
            "coordination.k8s.io",
            "leases",
            Some("otel"),
            None
        ));
    }

    #[test]
    fn cluster_role_bindings_grant_everywhere_and_wildcards_match() {
        let docs = [serde_json::json!({
            "kind": "List",
            "items": [
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                 "metadata": {"name": "all-events"},
                 "rules": [{"apiGroups": ["*"], "resources": ["events"], "verbs": ["*"]}]},
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                 "metadata": {"name": "b"},
                 "roleRef": {"kind": "ClusterRole", "name": "all-events"},
                 "subjects": [{"kind": "User", "name": "alice"}]},
            ]
        })];
        let rbac = Rbac::from_manifests(&docs);
        for ns in [None, Some("x")] {
            assert!(rbac.allows(
                "alice",
                &[] as &[&str],
                "watch",
                "events.k8s.io",
                "events",
                ns
            ));
        }
        assert!(!rbac.allows("alice", &[] as &[&str], "list", "", "pods", None));
        assert!(!rbac.allows("bob", &[] as &[&str], "list", "", "events", None));
        assert!(Rbac::default().allows("root", &["system:masters"], "delete", "", "pods", None));
        assert!(!Rbac::default().allows("root", &["x"], "get", "", "pods", None));
        assert!(Rbac::allow_all().allows("x", &[] as &[&str], "get", "", "pods", None));
    }

    #[test]
    fn mistakes_are_noted_and_grant_nothing() {
        let rbac = Rbac::from_yaml_documents(
            "kind: ClusterRole\nmetadata: {name: r}\nrules:\n  - apiGroups: ['']\n    resources: [events]\n    verb: [list]\n",
        )
        .unwrap();
        assert_eq!(
            rbac.problems(),
            [
                "ClusterRole \"r\": rules[0]: unknown field \"verb\"",
                "ClusterRole \"r\": rules[0]: no verbs"
            ]
        );
    }
}
