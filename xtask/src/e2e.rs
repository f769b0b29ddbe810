//! `cargo xtask e2e`: the conformance scenarios (`features/`) on an environment, with the
//! collector built first, a JUnit report in `target/e2e/junit.xml` and a summary at the end.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::process::{cargo, exec, workspace_root};

pub const USAGE: &str =
    "usage: cargo xtask e2e [--env sim|local|kind|auto] [--tags EXPR] [--name REGEX]
                     [--keep-on-failure] [--deploy DIR]

  --env sim     the in-process simulator (default; no Docker)
  --env local   real kube-apiserver, etcd, Loki and nginx as processes on loopback (the
                tools of `cargo xtask tools`); runs the feature files ported to it and
                lists the scenarios it did not run, with the reason
  --env kind    a kind cluster, Loki and an nginx gateway in Docker (today: one smoke
                flow; the features do not run on kind yet)
  --env auto    kind when docker, kind and kubectl work here, else sim
  --tags EXPR   only scenarios whose tags match (cucumber's -t, e.g. '@tls and not @slow')
  --name REGEX  only scenarios whose name matches (cucumber's -n)
  --deploy DIR  run the scenarios against DIR (a kustomize directory, e.g. your overlay of
                deploy/; see deploy/examples/platform-team) instead of deploy/; a Secret
                example is taken from DIR/secret.example.yaml, else deploy/'s
  --keep-on-failure
                stop at the first failed scenario and keep its servers running until
                Ctrl-C, printing how to reach them (kubeconfig, Loki URL and tenant,
                kubectl and curl commands)

  Every run writes target/e2e/junit.xml and target/e2e/summary.json (per scenario: status,
  error, step timings); a failed scenario leaves its diagnostics in target/e2e/<scenario>/.
";

/// The JUnit report, relative to the workspace (CI uploads `target/e2e/`).
const JUNIT: &str = "target/e2e/junit.xml";

/// The scenarios `local` did not run (`<file>\t<scenario>\t<why>` lines), written by the
/// features runner.
const NOT_RUN: &str = "target/e2e/not-run-on-local.txt";

/// Each server's version as it reports it (first line of `--version`).
fn server_versions(paths: &crate::tools::ToolPaths) -> Vec<(&'static str, String)> {
    let first_line = |bin: &std::path::Path, args: &[&str]| {
        Command::new(bin)
            .args(args)
            .output()
            .map(|o| {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                text.lines().next().unwrap_or_default().trim().to_owned()
            })
            .unwrap_or_else(|e| format!("cannot run {}: {e}", bin.display()))
    };
    vec![
        (
            "kube-apiserver",
            first_line(&paths.kube_apiserver, &["--version"]),
        ),
        ("etcd", first_line(&paths.etcd, &["--version"])),
        ("loki", first_line(&paths.loki, &["--version"])),
        (
            "kubectl",
            first_line(&paths.kubectl, &["version", "--client"]),
        ),
        ("nginx", first_line(&paths.nginx, &["-v"])),
    ]
}

/// How many scenarios `local` did not run, by reason, from the runner's file.
pub fn not_run_summary(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut by_reason: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for line in text.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(file), Some(_name), Some(why)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        by_reason.entry(why).or_default().push(file);
    }
    let total: usize = by_reason.values().map(Vec::len).sum();
    let mut out = format!("not run on local: {total} scenarios\n");
    for (why, files) in &by_reason {
        let mut names: Vec<&str> = files.clone();
        names.dedup();
        out.push_str(&format!(
            "  {:>3}  {why} ({})\n",
            files.len(),
            names.join(", ")
        ));
    }
    out
}

/// Where the scenarios run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Env {
    #[default]
    Sim,
    Local,
    Kind,
    Auto,
}

impl Env {
    /// The name `HARNESS_ENV` and `--env` use.
    fn name(self) -> &'static str {
        match self {
            Env::Sim => "sim",
            Env::Local => "local",
            Env::Kind => "kind",
            Env::Auto => "auto",
        }
    }
}

/// What `e2e` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    pub env: Env,
    pub tags: Option<String>,
    pub name: Option<String>,
    pub keep_on_failure: bool,
    /// A kustomize directory to run the scenarios against instead of deploy/.
    pub deploy: Option<String>,
}

/// Parses `e2e`'s arguments; `Ok(None)` for `--help`.
pub fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut opts = Options::default();
    let mut env_given = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |flag: &str| {
            inline
                .clone()
                .or_else(|| rest.next().cloned())
                .ok_or_else(|| format!("`{flag}` needs a value\n\n{USAGE}"))
        };
        match flag {
            "-h" | "--help" => return Ok(None),
            "--env" => {
                if env_given {
                    return Err(format!("`--env` is given twice\n\n{USAGE}"));
                }
                env_given = true;
                opts.env = match value(flag)?.as_str() {
                    "sim" => Env::Sim,
                    "local" => Env::Local,
                    "kind" => Env::Kind,
                    "auto" => Env::Auto,
                    other => {
                        return Err(format!(
                            "`--env` takes sim, local, kind or auto (got `{other}`)\n\n{USAGE}"
                        ));
                    }
                };
            }
            "--keep-on-failure" => opts.keep_on_failure = true,
            "--deploy" => set_once(&mut opts.deploy, "--deploy", value(flag)?)?,
            "--tags" | "-t" => set_once(&mut opts.tags, "--tags", value(flag)?)?,
            "--name" | "-n" => set_once(&mut opts.name, "--name", value(flag)?)?,
            other => return Err(format!("`e2e` has no option `{other}`\n\n{USAGE}")),
        }
    }
    Ok(Some(opts))
}

fn set_once(slot: &mut Option<String>, flag: &str, value: String) -> Result<(), String> {
    if slot.replace(value).is_some() {
        return Err(format!("`{flag}` is given twice\n\n{USAGE}"));
    }
    Ok(())
}

/// `cargo test` arguments that run the features binary, with cucumber's filters after `--`.
pub fn test_args(opts: &Options) -> Vec<String> {
    let mut args: Vec<String> = ["test", "-p", "harness", "--test", "features", "--"]
        .map(String::from)
        .into();
    if let Some(tags) = &opts.tags {
        args.extend(["-t".to_owned(), tags.clone()]);
    }
    if let Some(name) = &opts.name {
        args.extend(["-n".to_owned(), name.clone()]);
    }
    args
}

/// `auto`'s choice from what the probes found: kind only when all three tools work.
pub fn choose(probes: &[(&str, Result<(), String>)]) -> (Env, String) {
    let broken: Vec<String> = probes
        .iter()
        .filter_map(|(check, result)| result.as_ref().err().map(|e| format!("{check}: {e}")))
        .collect();
    if broken.is_empty() {
        let checks: Vec<&str> = probes.iter().map(|(check, _)| *check).collect();
        (Env::Kind, format!("{} worked", checks.join(", ")))
    } else {
        (Env::Sim, broken.join("; "))
    }
}

/// Runs `program args` quietly; `Err` says why it is not usable (its last line of error).
fn probe(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run it ({e})"))?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr);
    let last = text.lines().map(str::trim).rfind(|l| !l.is_empty());
    Err(last.map_or_else(|| output.status.to_string(), str::to_owned))
}

/// One feature's results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suite {
    pub name: String,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// The names of the failed scenarios.
    pub failures: Vec<String>,
}

/// The suites of a JUnit report (cucumber's writer, or the kind run's): each `testcase` is a
/// scenario; one with a `failure` or `error` failed, one with `skipped` was skipped.
pub fn parse_junit(xml: &str) -> Vec<Suite> {
    let mut suites: Vec<Suite> = Vec::new();
    // The case being read: its name, and what it holds so far.
    let mut case: Option<(String, Option<&str>)> = None;
    for tag in tags(xml) {
        let element = tag.split_whitespace().next().unwrap_or_default();
        match element.trim_end_matches('/') {
            "testsuite" => {
                close_case(&mut suites, &mut case);
                suites.push(Suite {
                    name: attribute(tag, "name").unwrap_or_default(),
                    ..Suite::default()
                });
            }
            "testcase" => {
                close_case(&mut suites, &mut case);
                case = Some((attribute(tag, "name").unwrap_or_default(), None));
            }
            kind @ ("failure" | "error" | "skipped") => {
                if let Some((_, result)) = case.as_mut() {
                    result.get_or_insert(kind);
                }
            }
            _ => {}
        }
    }
    close_case(&mut suites, &mut case);
    suites
}

/// Counts the case being read (if any) in the last suite.
fn close_case(suites: &mut [Suite], case: &mut Option<(String, Option<&str>)>) {
    if let (Some((name, result)), Some(suite)) = (case.take(), suites.last_mut()) {
        match result {
            None => suite.passed += 1,
            Some("skipped") => suite.skipped += 1,
            Some(_) => {
                suite.failed += 1;
                suite.failures.push(name);
            }
        }
    }
}

/// The insides of each tag (`testcase name="x"`), in order; CDATA, comments and declarations
/// are skipped, so a failure text mentioning `<skipped>` counts for nothing.
fn tags(xml: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        let skip_to = |end: &str| rest.find(end).map(|i| i + end.len());
        let next = if rest.starts_with("<![CDATA[") {
            skip_to("]]>")
        } else if rest.starts_with("<!--") {
            skip_to("-->")
        } else if rest.starts_with("<?") || rest.starts_with("<!") {
            skip_to(">")
        } else {
            rest.find('>').map(|end| {
                out.push(&rest[1..end]);
                end + 1
            })
        };
        match next {
            Some(n) => rest = &rest[n..],
            None => break,
        }
    }
    out
}

/// The value of `key="..."` (or `'...'`) in a tag, unescaped.
fn attribute(tag: &str, key: &str) -> Option<String> {
    let mut rest = tag.split_once(char::is_whitespace)?.1;
    loop {
        rest = rest.trim_start();
        let (name, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let quote = after.chars().next()?;
        let (value, tail) = after.get(1..)?.split_once(quote)?;
        if name.trim() == key {
            return Some(unescape(value));
        }
        rest = tail;
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The table printed at the end: one row per feature, a total, and the failed scenarios.
pub fn summary(env: Env, suites: &[Suite], junit: &str) -> String {
    let mut out = format!(
        "\n== e2e summary: environment {}\n{:>9} {:>7} {:>7} {:>8}  feature\n",
        env.name(),
        "scenarios",
        "passed",
        "failed",
        "skipped"
    );
    let row = |name: &str, passed: usize, failed: usize, skipped: usize| {
        format!(
            "{:>9} {passed:>7} {failed:>7} {skipped:>8}  {name}\n",
            passed + failed + skipped
        )
    };
    for s in suites {
        out.push_str(&row(&feature_label(&s.name), s.passed, s.failed, s.skipped));
    }
    let total = |f: fn(&Suite) -> usize| suites.iter().map(f).sum::<usize>();
    out.push_str(&row(
        "total",
        total(|s| s.passed),
        total(|s| s.failed),
        total(|s| s.skipped),
    ));
    for name in suites.iter().flat_map(|s| &s.failures) {
        out.push_str(&format!("  failed: {name}\n"));
    }
    out.push_str(&format!("JUnit report: {junit}\n"));
    out
}

/// `Feature: <title>: <path>/<file>.feature` (cucumber's suite name) as `<file>.feature  <title>`,
/// so the table stays readable; other names as they are.
fn feature_label(suite: &str) -> String {
    let titled = suite.strip_prefix("Feature: ").unwrap_or(suite);
    match titled.rsplit_once(": ") {
        Some((title, path)) if path.ends_with(".feature") => {
            let file = path.rsplit('/').next().unwrap_or(path);
            format!("{file}  {title}")
        }
        _ => suite.to_owned(),
    }
}

/// The collector `cargo build` wrote: beside xtask's own binary (`<target>/debug/`), wherever
/// `CARGO_TARGET_DIR` or a cargo config puts the target directory.
fn collector_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find xtask's binary: {e}"))?;
    Ok(exe.with_file_name(format!(
        "k8s-event-collector{}",
        std::env::consts::EXE_SUFFIX
    )))
}

pub fn run(args: &[String]) -> Result<(), String> {
    let Some(opts) = parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let env = match opts.env {
        Env::Auto => {
            let (env, why) = choose(&[
                ("docker info", probe("docker", &["info"])),
                ("kind version", probe("kind", &["version"])),
                (
                    "kubectl version --client",
                    probe("kubectl", &["version", "--client"]),
                ),
            ]);
            eprintln!("== e2e --env auto: chose {} ({why})", env.name());
            env
        }
        env => env,
    };
    run_on(env, &opts, JUNIT)
}

/// Runs the scenarios on `env` (sim, local or kind, already chosen) with the JUnit report at
/// `junit` (relative to the workspace), then prints the summary.
pub fn run_on(env: Env, opts: &Options, junit_rel: &str) -> Result<(), String> {
    let root = workspace_root();
    // On local, a missing tool is one line before anything builds.
    let versions = match env {
        Env::Local => server_versions(&crate::tools::tool_paths()?),
        _ => Vec::new(),
    };
    let deploy = match &opts.deploy {
        None => String::new(),
        Some(_) if env == Env::Kind => {
            return Err(
                "--deploy runs the features on sim or local; kind runs its smoke flow on deploy/"
                    .into(),
            );
        }
        Some(dir) => {
            let path = std::path::absolute(dir).map_err(|e| format!("--deploy {dir}: {e}"))?;
            if !path.join("kustomization.yaml").is_file() {
                return Err(format!(
                    "--deploy {dir}: no kustomization.yaml in {}",
                    path.display()
                ));
            }
            path.display().to_string()
        }
    };
    exec(cargo().args(["build", "-p", "k8s-event-collector"]))?;
    let junit = root.join(junit_rel);
    // A report from an earlier run must not pass for this one's.
    match std::fs::remove_file(&junit) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot remove the old {}: {e}", junit.display()));
        }
        _ => {}
    }
    let _ = std::fs::remove_file(root.join(NOT_RUN));
    eprintln!("== e2e on {}", env.name());
    let tests = exec(
        cargo()
            .args(test_args(opts))
            .env("HARNESS_ENV", env.name())
            .env("K8S_EVENT_COLLECTOR_BIN", collector_binary()?)
            .env("HARNESS_JUNIT", &junit)
            .env("HARNESS_DEPLOY_DIR", &deploy)
            .env(
                "HARNESS_KEEP_ON_FAILURE",
                if opts.keep_on_failure { "1" } else { "" },
            ),
    );

    let suites = match std::fs::read_to_string(&junit) {
        Ok(xml) => parse_junit(&xml),
        Err(e) => {
            eprintln!("\n== e2e summary: environment {}", env.name());
            eprintln!("no JUnit report ({junit_rel}: {e}): the run failed before any scenario ran");
            return Err(tests
                .err()
                .unwrap_or_else(|| format!("no report in {junit_rel}")));
        }
    };
    print!("{}", summary(env, &suites, junit_rel));
    println!(
        "JSON summary: {}",
        junit_rel
            .replacen("junit", "summary", 1)
            .replace(".xml", ".json")
    );
    if env == Env::Local {
        print!("{}", not_run_summary(&root.join(NOT_RUN)));
        println!("servers:");
        for (tool, version) in &versions {
            println!("  {tool:<15} {version}");
        }
    }
    let failed: usize = suites.iter().map(|s| s.failed).sum();
    let ran: usize = suites.iter().map(|s| s.passed + s.failed + s.skipped).sum();
    match tests {
        Err(e) => Err(format!("e2e on {} failed: {e}", env.name())),
        Ok(()) if failed > 0 => Err(format!(
            "e2e on {}: {failed} of {ran} scenarios failed",
            env.name()
        )),
        Ok(()) if ran == 0 => Err(format!(
            "e2e on {}: no scenario ran (check --tags and --name)",
            env.name()
        )),
        Ok(()) => {
            println!("e2e on {}: all {ran} scenarios passed", env.name());
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_to_sim_without_filters() {
        assert_eq!(parse(&[]).unwrap(), Some(Options::default()));
        assert_eq!(
            test_args(&Options::default()),
            ["test", "-p", "harness", "--test", "features", "--"]
        );
    }

    #[test]
    fn parses_env_tags_and_name_in_both_spellings() {
        let o = parse(&args(&[
            "--env",
            "kind",
            "--tags",
            "@tls and not @slow",
            "-n",
            "CA",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.env, Env::Kind);
        assert_eq!(
            test_args(&o),
            [
                "test",
                "-p",
                "harness",
                "--test",
                "features",
                "--",
                "-t",
                "@tls and not @slow",
                "-n",
                "CA"
            ]
        );
        let o = parse(&args(&["--env=auto", "--name=a=b", "-t", "@x"]))
            .unwrap()
            .unwrap();
        assert_eq!(o.env, Env::Auto);
        assert_eq!(o.name.as_deref(), Some("a=b"));
        assert_eq!(o.tags.as_deref(), Some("@x"));
        assert_eq!(parse(&args(&["--help"])).unwrap(), None);
    }

    #[test]
    fn reads_deploy_and_keep_on_failure() {
        let o = parse(&args(&[
            "--deploy",
            "deploy/examples/platform-team",
            "--keep-on-failure",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.deploy.as_deref(), Some("deploy/examples/platform-team"));
        assert!(o.keep_on_failure);
        assert!(!parse(&[]).unwrap().unwrap().keep_on_failure);
        assert!(
            parse(&args(&["--deploy", "a", "--deploy=b"]))
                .unwrap_err()
                .starts_with("`--deploy` is given twice")
        );
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        let err = |a: &[&str]| parse(&args(a)).unwrap_err();
        assert!(
            err(&["--env", "docker"])
                .starts_with("`--env` takes sim, local, kind or auto (got `docker`)")
        );
        assert!(err(&["--env"]).starts_with("`--env` needs a value"));
        assert!(err(&["--env", "sim", "--env", "kind"]).starts_with("`--env` is given twice"));
        assert!(err(&["-t", "a", "--tags", "b"]).starts_with("`--tags` is given twice"));
        assert!(err(&["--fail-fast"]).starts_with("`e2e` has no option `--fail-fast`"));
        assert!(err(&["--fail-fast"]).contains("usage: cargo xtask e2e"));
    }

    #[test]
    fn auto_chooses_kind_only_when_every_tool_works() {
        let ok = |c| (c, Ok(()));
        let (env, why) = choose(&[ok("docker info"), ok("kind version")]);
        assert_eq!(
            (env, why.as_str()),
            (Env::Kind, "docker info, kind version worked")
        );
        let (env, why) = choose(&[
            (
                "docker info",
                Err("Cannot connect to the Docker daemon".into()),
            ),
            ok("kind version"),
        ]);
        assert_eq!(env, Env::Sim);
        assert_eq!(why, "docker info: Cannot connect to the Docker daemon");
    }

    #[test]
    fn probe_says_why_a_tool_is_unusable() {
        assert_eq!(probe("true", &[]), Ok(()));
        assert!(
            probe("no-such-tool-xtask", &[])
                .unwrap_err()
                .starts_with("cannot run it")
        );
        assert_eq!(probe("false", &[]).unwrap_err(), "exit status: 1");
    }

    const CUCUMBER: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite id="0" name="Feature: RBAC: features/rbac.feature" package="testsuite/x" tests="3" errors="0" failures="1"><testcase name="Scenario: a: features/rbac.feature:3:3" time="1"/><testcase name="Scenario: b &amp; c: features/rbac.feature:9:3" classname="x" time="2"><failure type="Step Panicked" message="m"><![CDATA[ended with <skipped/> in text]]></failure></testcase><testcase name="Scenario: d" time="0"><skipped/></testcase></testsuite><testsuite id="1" name="Feature: TLS" tests="1" errors="1" failures="0"><testcase name="Scenario: e" time="0"><error type="e" message="x"/></testcase></testsuite></testsuites>"#;

    #[test]
    fn junit_counts_each_scenario_once() {
        let suites = parse_junit(CUCUMBER);
        assert_eq!(
            suites,
            [
                Suite {
                    name: "Feature: RBAC: features/rbac.feature".into(),
                    passed: 1,
                    failed: 1,
                    skipped: 1,
                    failures: vec!["Scenario: b & c: features/rbac.feature:9:3".into()],
                },
                Suite {
                    name: "Feature: TLS".into(),
                    passed: 0,
                    failed: 1,
                    skipped: 0,
                    failures: vec!["Scenario: e".into()],
                },
            ]
        );
        assert_eq!(parse_junit("<?xml version=\"1.0\"?><testsuites/>"), []);
    }

    #[test]
    fn summary_has_a_row_per_feature_a_total_and_the_failures() {
        let text = summary(Env::Sim, &parse_junit(CUCUMBER), JUNIT);
        assert!(text.contains("== e2e summary: environment sim\n"), "{text}");
        assert!(
            text.contains("        3       1       1        1  rbac.feature  RBAC\n"),
            "{text}"
        );
        assert!(
            text.contains("        1       0       1        0  Feature: TLS\n"),
            "{text}"
        );
        assert!(
            text.contains("        4       1       2        1  total\n"),
            "{text}"
        );
        assert!(text.contains("  failed: Scenario: e\n"), "{text}");
        assert!(
            text.ends_with("JUnit report: target/e2e/junit.xml\n"),
            "{text}"
        );
    }

    #[test]
    fn not_run_is_counted_by_reason() {
        let dir = std::env::temp_dir().join(format!("xtask-not-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("not-run.txt");
        std::fs::write(
            &path,
            "tls.feature\tPlain http\tnot ported\ntls.feature\tmTLS\tnot ported\nresilience.feature\t429\t@sim-only: x\n",
        )
        .unwrap();
        let text = not_run_summary(&path);
        assert!(
            text.starts_with("not run on local: 3 scenarios\n"),
            "{text}"
        );
        assert!(text.contains("    2  not ported (tls.feature)\n"), "{text}");
        assert!(
            text.contains("    1  @sim-only: x (resilience.feature)\n"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn attribute_reads_only_the_named_key() {
        let tag = r#"testcase classname="c" name='n &lt;1&gt;' time="0""#;
        assert_eq!(attribute(tag, "name").as_deref(), Some("n <1>"));
        assert_eq!(attribute(tag, "classname").as_deref(), Some("c"));
        assert_eq!(attribute(tag, "file"), None);
    }
}
