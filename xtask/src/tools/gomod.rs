//! The Go modules in `tools/go/`: reading a go.mod, checking ours against the pins, and writing
//! ours from an upstream go.mod.

use super::pins::{Pin, Pins, staging_version};

/// A go.mod, as far as building tools needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoMod {
    pub module: String,
    /// The `go` line (`1.26.0`).
    pub go: String,
    /// `godebug` settings (`default=go1.26`).
    pub godebug: Vec<String>,
    /// `require`d modules and versions, direct and indirect.
    pub requires: Vec<(String, String)>,
    pub replaces: Vec<Replace>,
    /// `exclude`d modules and versions.
    pub excludes: Vec<(String, String)>,
}

/// One `replace old [version] => new [version]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replace {
    pub old: String,
    pub old_version: Option<String>,
    pub new: String,
    /// `None` when `new` is a directory (`./pkg/push`): only usable inside that repository.
    pub new_version: Option<String>,
}

impl Replace {
    /// The line as go.mod writes it, without the `replace` verb.
    pub fn line(&self) -> String {
        let side = |path: &str, version: &Option<String>| match version {
            Some(version) => format!("{path} {version}"),
            None => path.to_owned(),
        };
        format!(
            "{} => {}",
            side(&self.old, &self.old_version),
            side(&self.new, &self.new_version)
        )
    }
}

impl GoMod {
    /// The version `module` is required at, if it is.
    pub fn required(&self, module: &str) -> Option<&str> {
        self.requires
            .iter()
            .find(|(path, _)| path == module)
            .map(|(_, version)| version.as_str())
    }

    /// What `module` is replaced with, if it is.
    pub fn replacement(&self, module: &str) -> Option<&Replace> {
        self.replaces.iter().find(|r| r.old == module)
    }
}

/// Reads the directives of a go.mod: single lines and `verb ( ... )` blocks, `//` comments
/// ignored. Directives it does not need (`toolchain`, `retract`, `tool`, `ignore`) are skipped.
pub fn parse(text: &str) -> Result<GoMod, String> {
    let mut module = GoMod::default();
    let mut block: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split("//").next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line
            .split_whitespace()
            .map(|w| w.trim_matches('"'))
            .collect();
        let (verb, args): (&str, &[&str]) = match &block {
            Some(_) if line == ")" => {
                block = None;
                continue;
            }
            Some(verb) => (verb, &words),
            None => match words.as_slice() {
                [verb, "("] => {
                    block = Some((*verb).to_owned());
                    continue;
                }
                [verb, args @ ..] => (verb, args),
                [] => continue,
            },
        };
        let bad = || format!("line {}: cannot read `{line}`", index + 1);
        match verb {
            "module" => module.module = args.first().ok_or_else(bad)?.to_string(),
            "go" => module.go = args.first().ok_or_else(bad)?.to_string(),
            "godebug" => module.godebug.push(args.join(" ")),
            "require" | "exclude" => {
                let [path, version] = args else {
                    return Err(bad());
                };
                let pair = (path.to_string(), version.to_string());
                if verb == "require" {
                    module.requires.push(pair);
                } else {
                    module.excludes.push(pair);
                }
            }
            "replace" => {
                let arrow = args.iter().position(|w| *w == "=>").ok_or_else(bad)?;
                let (old, new) = (&args[..arrow], &args[arrow + 1..]);
                let (Some(old_path), Some(new_path)) = (old.first(), new.first()) else {
                    return Err(bad());
                };
                if old.len() > 2 || new.len() > 2 {
                    return Err(bad());
                }
                module.replaces.push(Replace {
                    old: old_path.to_string(),
                    old_version: old.get(1).map(|v| v.to_string()),
                    new: new_path.to_string(),
                    new_version: new.get(1).map(|v| v.to_string()),
                });
            }
            _ => {}
        }
    }
    Ok(module)
}

/// A Go module in `tools/go/`, made to build commands of one upstream module.
#[derive(Debug)]
pub struct Upstream {
    /// Its directory under `tools/go/`.
    pub dir: &'static str,
    /// The module it requires, at the pinned version.
    pub module: &'static str,
    pub pin: Pin,
}

impl Upstream {
    /// The module path of our module.
    pub fn our_module(&self) -> String {
        format!("k8s-event-collector/tools/go/{}", self.dir)
    }
}

/// Checks one of our go.mod files against the pins: it requires the upstream module at the
/// pinned version, and replaces no module with a directory. For k8s.io/kubernetes, every
/// `k8s.io/*` replacement is the published staging module of the same release, and every
/// staging module required as `v0.0.0` is replaced. Every problem is listed.
pub fn check(upstream: &Upstream, pins: &Pins, ours: &GoMod) -> Vec<String> {
    let version = pins.get(upstream.pin);
    let mut problems = Vec::new();
    let dir = format!("tools/go/{}/go.mod", upstream.dir);
    if ours.module != upstream.our_module() {
        problems.push(format!(
            "{dir}: module is `{}`, expected `{}`",
            ours.module,
            upstream.our_module()
        ));
    }
    match ours.required(upstream.module) {
        Some(required) if required == version => {}
        Some(required) => problems.push(format!(
            "{dir}: requires {} {required}, but tools/versions.toml pins {} = \"{version}\"",
            upstream.module,
            upstream.pin.key()
        )),
        None => problems.push(format!("{dir}: does not require {}", upstream.module)),
    }
    for replace in &ours.replaces {
        if replace.new_version.is_none() {
            problems.push(format!(
                "{dir}: `replace {}` points at a directory, which only exists inside the upstream repository",
                replace.line()
            ));
        }
    }
    if upstream.pin == Pin::Kubernetes {
        let Some(staging) = staging_version(version) else {
            problems.push(format!(
                "{dir}: no staging version for Kubernetes {version}"
            ));
            return problems;
        };
        for replace in ours
            .replaces
            .iter()
            .filter(|r| r.old.starts_with("k8s.io/"))
        {
            if replace.new != replace.old || replace.new_version.as_deref() != Some(&staging) {
                problems.push(format!(
                    "{dir}: `replace {}`, expected `{} => {} {staging}`",
                    replace.line(),
                    replace.old,
                    replace.old
                ));
            }
        }
        for (path, required) in &ours.requires {
            if path.starts_with("k8s.io/")
                && required == "v0.0.0"
                && ours.replacement(path).is_none()
            {
                problems.push(format!(
                    "{dir}: {path} is required as v0.0.0 but not replaced with {path} {staging}"
                ));
            }
        }
    }
    problems
}

/// Our go.mod for `upstream` at `version`, before `go mod tidy`: it requires the upstream
/// module and carries the `replace` and `exclude` directives of the upstream go.mod (Go
/// ignores them in a dependency). Where upstream replaces a module with a directory of its own
/// repository, the published module stands in: at the version upstream requires, or, for
/// Kubernetes' staging modules (required as `v0.0.0`), at the matching `v0.X.Y`. Replacements
/// of modules upstream does not require are left out (they are unused, and some are not
/// published at all).
pub fn generate(upstream: &Upstream, version: &str, theirs: &GoMod) -> Result<String, String> {
    let staging = staging_version(version);
    let mut replaces = Vec::new();
    for replace in &theirs.replaces {
        if replace.new_version.is_some() {
            replaces.push(replace.line());
            continue;
        }
        let Some(required) = theirs.required(&replace.old) else {
            continue;
        };
        let published = match (required, &staging) {
            ("v0.0.0", Some(staging)) if upstream.pin == Pin::Kubernetes => staging.clone(),
            ("v0.0.0", _) => {
                return Err(format!(
                    "{} {version} requires {} as v0.0.0 and replaces it with {}: no published version to use",
                    upstream.module, replace.old, replace.new
                ));
            }
            (required, _) => required.to_owned(),
        };
        replaces.push(format!("{} => {} {published}", replace.old, replace.old));
    }
    let mut text = format!(
        "// Generated by `cargo xtask tools --update-go-mod` from tools/versions.toml and the go.mod
// of {module} {version}; `go mod tidy` added the rest. Change those, not this file.
module {ours}

go {go}
",
        module = upstream.module,
        ours = upstream.our_module(),
        go = theirs.go,
    );
    for setting in &theirs.godebug {
        text.push_str(&format!("\ngodebug {setting}\n"));
    }
    text.push_str(&format!("\nrequire {} {version}\n", upstream.module));
    if !replaces.is_empty() {
        text.push_str(&format!(
            "
// The replace directives of {module} {version}'s own go.mod, which Go ignores in a
// dependency. Where it replaces a module with a directory of its repository, the published
// module stands in for the directory.
replace (
",
            module = upstream.module,
        ));
        for line in &replaces {
            text.push_str(&format!("\t{line}\n"));
        }
        text.push_str(")\n");
    }
    if !theirs.excludes.is_empty() {
        text.push_str(&format!(
            "\n// The exclude directives of {} {version}'s go.mod.\nexclude (\n",
            upstream.module
        ));
        for (path, version) in &theirs.excludes {
            text.push_str(&format!("\t{path} {version}\n"));
        }
        text.push_str(")\n");
    }
    Ok(text)
}

/// `tools.go`: imports the commands built from the module, under the `tools` build tag, so
/// that `go mod tidy` keeps what they need.
pub fn tools_go(packages: &[&str]) -> String {
    let mut text = String::from(
        "//go:build tools

// Package tools names the commands `cargo xtask tools` builds from this module, so that
// `go mod tidy` keeps their dependencies in go.mod and go.sum. Generated by
// `cargo xtask tools --update-go-mod`.
package tools

import (
",
    );
    for package in packages {
        text.push_str(&format!("\t_ \"{package}\"\n"));
    }
    text.push_str(")\n");
    text
}

/// The packages a `tools.go` imports.
#[cfg(test)]
pub fn tools_go_imports(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("_ \""))
        .filter_map(|rest| rest.strip_suffix('"'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KUBERNETES: Upstream = Upstream {
        dir: "kubernetes",
        module: "k8s.io/kubernetes",
        pin: Pin::Kubernetes,
    };
    const LOKI: Upstream = Upstream {
        dir: "loki",
        module: "github.com/grafana/loki/v3",
        pin: Pin::Loki,
    };

    fn pins() -> Pins {
        Pins {
            kubernetes: "v1.37.2".into(),
            etcd: "v3.7.0".into(),
            loki: "v3.7.8".into(),
        }
    }

    /// The shape of k8s.io/kubernetes's go.mod (shortened).
    const UPSTREAM_KUBERNETES: &str = "// This is a generated file. Do not edit directly.
module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
	github.com/spf13/cobra v1.10.2
	k8s.io/api v0.0.0
	k8s.io/client-go v0.0.0
	k8s.io/klog/v2 v2.140.0
)

require go.etcd.io/etcd/server/v3 v3.7.0 // indirect

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	k8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
";

    /// The shape of Loki's go.mod (shortened).
    const UPSTREAM_LOKI: &str = "module github.com/grafana/loki/v3

go 1.26.5

ignore ./tools/dev

require (
	github.com/grafana/loki/pkg/push v0.0.0-20250630054201-94c0ba7b0952
	github.com/hashicorp/memberlist v0.5.1 // indirect
)

replace github.com/Azure/azure-sdk-for-go => github.com/Azure/azure-sdk-for-go v68.0.0+incompatible

exclude k8s.io/client-go v8.0.0+incompatible

// Replace memberlist with our fork
replace github.com/hashicorp/memberlist => github.com/grafana/memberlist v0.3.1-0.20251126142931-6f9f62ab6f86

replace github.com/grafana/loki/pkg/push => ./pkg/push
";

    #[test]
    fn go_mod_directives_are_read_from_lines_and_blocks() {
        let module = parse(UPSTREAM_KUBERNETES).unwrap();
        assert_eq!(module.module, "k8s.io/kubernetes");
        assert_eq!(module.go, "1.26.0");
        assert_eq!(module.godebug, ["default=go1.26"]);
        assert_eq!(module.required("k8s.io/api"), Some("v0.0.0"));
        assert_eq!(module.required("go.etcd.io/etcd/server/v3"), Some("v3.7.0"));
        assert_eq!(module.requires.len(), 5);
        assert_eq!(
            module.replacement("k8s.io/client-go"),
            Some(&Replace {
                old: "k8s.io/client-go".into(),
                old_version: None,
                new: "./staging/src/k8s.io/client-go".into(),
                new_version: None,
            })
        );
        let loki = parse(UPSTREAM_LOKI).unwrap();
        assert_eq!(
            loki.excludes,
            [("k8s.io/client-go".into(), "v8.0.0+incompatible".into())]
        );
        assert_eq!(loki.replaces.len(), 3);
        assert_eq!(
            loki.replaces[1].line(),
            "github.com/hashicorp/memberlist => github.com/grafana/memberlist v0.3.1-0.20251126142931-6f9f62ab6f86"
        );
        assert!(parse("require (\n\tk8s.io/api\n)\n").is_err());
        assert!(parse("replace a => \n").is_err());
    }

    #[test]
    fn kubernetes_staging_modules_become_the_published_ones_of_the_release() {
        let text = generate(&KUBERNETES, "v1.37.2", &parse(UPSTREAM_KUBERNETES).unwrap()).unwrap();
        assert_eq!(
            text,
            "// Generated by `cargo xtask tools --update-go-mod` from tools/versions.toml and the go.mod
// of k8s.io/kubernetes v1.37.2; `go mod tidy` added the rest. Change those, not this file.
module k8s-event-collector/tools/go/kubernetes

go 1.26.0

godebug default=go1.26

require k8s.io/kubernetes v1.37.2

// The replace directives of k8s.io/kubernetes v1.37.2's own go.mod, which Go ignores in a
// dependency. Where it replaces a module with a directory of its repository, the published
// module stands in for the directory.
replace (
\tk8s.io/api => k8s.io/api v0.37.2
\tk8s.io/client-go => k8s.io/client-go v0.37.2
)
"
        );
        // What it writes passes the check (before tidy adds the requirements).
        assert_eq!(
            check(&KUBERNETES, &pins(), &parse(&text).unwrap()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn lokis_own_replacements_are_carried_and_push_is_the_published_module() {
        let text = generate(&LOKI, "v3.7.8", &parse(UPSTREAM_LOKI).unwrap()).unwrap();
        let ours = parse(&text).unwrap();
        assert_eq!(ours.go, "1.26.5");
        let lines: Vec<String> = ours.replaces.iter().map(Replace::line).collect();
        assert_eq!(
            lines,
            [
                "github.com/Azure/azure-sdk-for-go => github.com/Azure/azure-sdk-for-go v68.0.0+incompatible",
                "github.com/hashicorp/memberlist => github.com/grafana/memberlist v0.3.1-0.20251126142931-6f9f62ab6f86",
                "github.com/grafana/loki/pkg/push => github.com/grafana/loki/pkg/push v0.0.0-20250630054201-94c0ba7b0952",
            ]
        );
        assert_eq!(ours.excludes, parse(UPSTREAM_LOKI).unwrap().excludes);
        assert_eq!(check(&LOKI, &pins(), &ours), Vec::<String>::new());
    }

    #[test]
    fn a_placeholder_requirement_outside_kubernetes_cannot_be_replaced() {
        let theirs = parse("module x\ngo 1.26\nrequire a/b v0.0.0\nreplace a/b => ./b\n").unwrap();
        let error = generate(&LOKI, "v3.7.8", &theirs).unwrap_err();
        assert!(error.contains("a/b as v0.0.0"), "{error}");
    }

    #[test]
    fn drift_from_the_pins_is_reported() {
        let ours = parse(
            "module k8s-event-collector/tools/go/kubernetes
go 1.26.0
require (
	k8s.io/kubernetes v1.36.3
	k8s.io/api v0.0.0 // indirect
	k8s.io/kubectl v0.0.0 // indirect
)
replace (
	k8s.io/api => k8s.io/api v0.36.3
	k8s.io/metrics => ./staging/src/k8s.io/metrics
)
",
        )
        .unwrap();
        let problems = check(&KUBERNETES, &pins(), &ours);
        assert_eq!(
            problems,
            [
                "tools/go/kubernetes/go.mod: requires k8s.io/kubernetes v1.36.3, but tools/versions.toml pins kubernetes = \"v1.37.2\"",
                "tools/go/kubernetes/go.mod: `replace k8s.io/metrics => ./staging/src/k8s.io/metrics` points at a directory, which only exists inside the upstream repository",
                "tools/go/kubernetes/go.mod: `replace k8s.io/api => k8s.io/api v0.36.3`, expected `k8s.io/api => k8s.io/api v0.37.2`",
                "tools/go/kubernetes/go.mod: `replace k8s.io/metrics => ./staging/src/k8s.io/metrics`, expected `k8s.io/metrics => k8s.io/metrics v0.37.2`",
                "tools/go/kubernetes/go.mod: k8s.io/kubectl is required as v0.0.0 but not replaced with k8s.io/kubectl v0.37.2",
            ]
        );
    }

    #[test]
    fn tools_go_lists_its_imports() {
        let text = tools_go(&[
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kubectl",
        ]);
        assert!(text.starts_with("//go:build tools\n"));
        assert_eq!(
            tools_go_imports(&text),
            [
                "k8s.io/kubernetes/cmd/kube-apiserver",
                "k8s.io/kubernetes/cmd/kubectl"
            ]
        );
    }
}
