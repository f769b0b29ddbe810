//! `cargo xtask tools`: the real servers the harness's `local` environment runs —
//! `kube-apiserver`, `etcd`, `loki`, `kubectl` (for `kubectl kustomize`) and `nginx` — built
//! once per version into a cache outside the work tree, or checked in a directory of release
//! binaries (`--bin-dir DIR`).
//!
//! The versions are pinned in `tools/versions.toml`. The Go tools are built with the machine's
//! `go` from their published modules, through the small Go modules in `tools/go/<upstream>/`
//! (one per upstream, as their dependency graphs conflict), which carry the `replace` lines the
//! upstream go.mod declares (`--update-go-mod` writes them from the pins). nginx is Debian's
//! package (`--install-system` installs it).
//!
//! # Layout
//!
//! ```text
//! <cache> = $XDG_CACHE_HOME/k8s-event-collector/tools, else ~/.cache/k8s-event-collector/tools
//!   kube-apiserver-<kubernetes>/kube-apiserver
//!   kubectl-<kubernetes>/kubectl            one directory per tool and pinned version, built
//!   etcd-<etcd>/etcd                        once and kept: a fresh clone, or CI restoring
//!   loki-<loki>/loki                        <cache>, builds nothing
//!   bin/{kube-apiserver,etcd,loki,kubectl,nginx}
//!                                           symlinks to what the last run provided: the
//!                                           binaries above, or --bin-dir's, and nginx
//!   tools.env                               KEY=path lines: HARNESS_TOOLS_DIR (= <cache>/bin),
//!                                           KUBE_APISERVER, ETCD, LOKI, KUBECTL, NGINX
//! ```
//!
//! A consumer (the harness's `local` environment) finds the tools with [`tool_paths`]' rule:
//! the directory `$HARNESS_TOOLS_DIR` if set (binaries by those names, e.g. a `--bin-dir`),
//! else `<cache>/bin`; `nginx` may also come from `PATH` or `/usr/sbin/nginx`. Go's own caches
//! (`GOMODCACHE`, `GOCACHE`) stay where Go keeps them, so a build after a version change is
//! incremental.

mod gomod;
mod pins;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{exec, workspace_root};
use gomod::Upstream;
use pins::{Pin, Pins};

pub const USAGE: &str = "usage: cargo xtask tools [--bin-dir DIR] [--install-system] [--verbose]
       cargo xtask tools --check
       cargo xtask tools --update-go-mod

Provides kube-apiserver, etcd, loki and kubectl at the versions in tools/versions.toml, and
nginx: builds the Go ones with `go` from their published modules (the first build takes
minutes), cached by version in $XDG_CACHE_HOME/k8s-event-collector/tools (else
~/.cache/k8s-event-collector/tools); then writes <cache>/tools.env and <cache>/bin/.

  --bin-dir DIR     use release binaries in DIR instead of building (kube-apiserver, kubectl:
                    dl.k8s.io/release/<v>/bin/linux/amd64/; etcd: github.com/etcd-io/etcd
                    releases; loki: github.com/grafana/loki releases, renamed to `loki`);
                    checks that they run and reports their versions; needs no Go
  --install-system  install nginx with apt-get when it is missing (as root)
  --verbose         pass -v to go build (lists packages as they compile)
  --check           check the tools the harness would use ($HARNESS_TOOLS_DIR, else
                    <cache>/bin); build nothing
  --update-go-mod   rewrite tools/go/*/go.mod and tools.go from tools/versions.toml and the
                    upstream go.mod files, then `go mod tidy` (after changing a version)
";

const KUBERNETES: Upstream = Upstream {
    dir: "kubernetes",
    module: "k8s.io/kubernetes",
    pin: Pin::Kubernetes,
};
const ETCD: Upstream = Upstream {
    dir: "etcd",
    module: "go.etcd.io/etcd/server/v3",
    pin: Pin::Etcd,
};
const LOKI: Upstream = Upstream {
    dir: "loki",
    module: "github.com/grafana/loki/v3",
    pin: Pin::Loki,
};
const UPSTREAMS: [&Upstream; 3] = [&KUBERNETES, &ETCD, &LOKI];

/// A tool built from a Go module.
#[derive(Debug)]
pub struct Tool {
    /// The binary's name (in the cache, in `--bin-dir`, in `bin/`).
    pub name: &'static str,
    pub upstream: &'static Upstream,
    /// The `main` package.
    pub package: &'static str,
    /// The arguments that make it print its version.
    pub version_args: &'static [&'static str],
}

/// The Go tools, in the order they are reported.
pub const TOOLS: [Tool; 4] = [
    Tool {
        name: "kube-apiserver",
        upstream: &KUBERNETES,
        package: "k8s.io/kubernetes/cmd/kube-apiserver",
        version_args: &["--version"],
    },
    Tool {
        name: "etcd",
        upstream: &ETCD,
        // etcd's own release build compiles this package (server/main.go).
        package: "go.etcd.io/etcd/server/v3",
        version_args: &["--version"],
    },
    Tool {
        name: "loki",
        upstream: &LOKI,
        package: "github.com/grafana/loki/v3/cmd/loki",
        version_args: &["-version"],
    },
    Tool {
        name: "kubectl",
        upstream: &KUBERNETES,
        package: "k8s.io/kubernetes/cmd/kubectl",
        version_args: &["version", "--client"],
    },
];

const NGINX: &str = "nginx";
const NGINX_INSTALL: &str = "apt-get install -y --no-install-recommends nginx";

/// What `tools` was asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub bin_dir: Option<PathBuf>,
    pub install_system: bool,
    pub verbose: bool,
    pub check: bool,
    pub update_go_mod: bool,
}

/// Parses `tools`' arguments; `Ok(None)` for `--help`.
pub fn parse(args: &[String]) -> Result<Option<Options>, String> {
    let mut opts = Options::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        match flag {
            "-h" | "--help" => return Ok(None),
            "--bin-dir" => {
                let value = inline
                    .or_else(|| rest.next().cloned())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("`--bin-dir` needs a directory\n\n{USAGE}"))?;
                if opts.bin_dir.replace(value.into()).is_some() {
                    return Err(format!("`--bin-dir` is given twice\n\n{USAGE}"));
                }
            }
            "--install-system" => opts.install_system = true,
            "--verbose" | "-v" => opts.verbose = true,
            "--check" => opts.check = true,
            "--update-go-mod" => opts.update_go_mod = true,
            other => return Err(format!("`tools` has no option `{other}`\n\n{USAGE}")),
        }
    }
    let modes = [opts.bin_dir.is_some(), opts.check, opts.update_go_mod];
    if modes.iter().filter(|on| **on).count() > 1 {
        return Err(format!(
            "`--bin-dir`, `--check` and `--update-go-mod` exclude each other\n\n{USAGE}"
        ));
    }
    Ok(Some(opts))
}

pub fn run(args: &[String]) -> Result<(), String> {
    let Some(opts) = parse(args)? else {
        print!("{USAGE}");
        return Ok(());
    };
    let root = workspace_root();
    let pins = load_pins(&root)?;
    if opts.update_go_mod {
        return update_go_mods(&root, &pins);
    }
    if opts.check {
        let dir = tools_dir()?;
        eprintln!("tools: checking the tools in {}", dir.display());
        let paths = tool_paths()?;
        let rows = check_paths(&paths, &pins)?;
        print_summary(&rows);
        return Ok(());
    }
    let cache = cache_root()?;
    // nginx first: it is quick, and a missing one is reported after the builds, not instead.
    let nginx = provide_nginx(opts.bin_dir.as_deref(), opts.install_system);
    let mut rows = match &opts.bin_dir {
        Some(dir) => found_in(dir, &pins)?,
        None => cached_or_built(&root, &cache, &pins, opts.verbose)?,
    };
    let nginx = match nginx {
        Ok(row) => {
            rows.push(row);
            None
        }
        Err(missing) => Some(missing),
    };
    let bin = cache.join("bin");
    link_bin(&bin, &rows)?;
    if let Some(missing) = nginx {
        // The Go tools are in place; the one line on nginx is the error.
        print_summary(&rows);
        return Err(missing);
    }
    let env_file = cache.join("tools.env");
    let paths = tool_paths_in(&bin, None)?;
    write_file(&env_file, &env_file_text(&bin, &paths))?;
    print_summary(&rows);
    eprintln!(
        "tools: HARNESS_TOOLS_DIR={}; the paths are in {}",
        bin.display(),
        env_file.display()
    );
    if let Ok(other) = std::env::var("HARNESS_TOOLS_DIR")
        && Path::new(&other) != bin
    {
        eprintln!(
            "tools: note: HARNESS_TOOLS_DIR is set to {other} here, so the harness uses that directory"
        );
    }
    Ok(())
}

fn load_pins(root: &Path) -> Result<Pins, String> {
    let file = root.join("tools/versions.toml");
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("tools: cannot read {}: {e}", file.display()))?;
    pins::parse(&text).map_err(|e| format!("tools: {}: {e}", file.display()))
}

/// `<cache>`: `$XDG_CACHE_HOME/k8s-event-collector/tools`, else
/// `$HOME/.cache/k8s-event-collector/tools` (relative values are ignored, as the XDG spec says).
pub fn cache_root_from(
    xdg_cache_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let absolute = |value: Option<OsString>| value.map(PathBuf::from).filter(|p| p.is_absolute());
    let base = absolute(xdg_cache_home).or_else(|| absolute(home).map(|h| h.join(".cache")))?;
    Some(base.join("k8s-event-collector").join("tools"))
}

/// `<cache>` for this process's environment.
pub fn cache_root() -> Result<PathBuf, String> {
    cache_root_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME")).ok_or_else(|| {
        "tools: neither XDG_CACHE_HOME nor HOME is an absolute path: set one, or pass --bin-dir DIR"
            .to_owned()
    })
}

/// Where the harness looks for the tools: `$HARNESS_TOOLS_DIR`, else `<cache>/bin`.
pub fn tools_dir() -> Result<PathBuf, String> {
    match std::env::var_os("HARNESS_TOOLS_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(cache_root()?.join("bin")),
    }
}

/// The cached binary of `tool` at `version`: `<cache>/<name>-<version>/<name>`.
pub fn cached_binary(cache: &Path, tool: &Tool, version: &str) -> PathBuf {
    cache
        .join(format!("{}-{version}", tool.name))
        .join(tool.name)
}

/// The paths of the tools, as a consumer finds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolPaths {
    pub kube_apiserver: PathBuf,
    pub etcd: PathBuf,
    pub loki: PathBuf,
    pub kubectl: PathBuf,
    pub nginx: PathBuf,
}

impl ToolPaths {
    /// Each tool's binary name and path.
    pub fn named(&self) -> [(&'static str, &Path); 5] {
        [
            ("kube-apiserver", &self.kube_apiserver),
            ("etcd", &self.etcd),
            ("loki", &self.loki),
            ("kubectl", &self.kubectl),
            (NGINX, &self.nginx),
        ]
    }

    /// The path of the tool named `name`.
    pub fn get(&self, name: &str) -> Option<&Path> {
        let named = self.named();
        named
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, path)| path)
    }
}

/// The tools in [`tools_dir`]: see the module's doc for the rule.
pub fn tool_paths() -> Result<ToolPaths, String> {
    tool_paths_in(&tools_dir()?, std::env::var_os("PATH"))
}

/// The tools in `dir` (each an executable file named after it). `nginx` may instead be found
/// on `path_var` (a `PATH` value) or at `/usr/sbin/nginx`.
pub fn tool_paths_in(dir: &Path, path_var: Option<OsString>) -> Result<ToolPaths, String> {
    let go_tool = |name: &str| {
        let path = dir.join(name);
        if is_executable(&path) {
            Ok(path)
        } else {
            Err(format!(
                "tools: no executable {name} in {}: run `cargo xtask tools` (or set HARNESS_TOOLS_DIR to a directory of release binaries)",
                dir.display()
            ))
        }
    };
    let nginx = Some(dir.join(NGINX))
        .filter(|p| is_executable(p))
        .or_else(|| system_nginx(path_var))
        .ok_or_else(|| nginx_missing(false))?;
    Ok(ToolPaths {
        kube_apiserver: go_tool("kube-apiserver")?,
        etcd: go_tool("etcd")?,
        loki: go_tool("loki")?,
        kubectl: go_tool("kubectl")?,
        nginx,
    })
}

/// The environment variable that names a tool's path in `tools.env` (`KUBE_APISERVER`).
pub fn env_name(tool: &str) -> String {
    tool.to_ascii_uppercase().replace('-', "_")
}

/// `tools.env`: `KEY=value` lines a shell can source (values quoted when they need it) and
/// other code can split at the first `=`.
pub fn env_file_text(bin: &Path, paths: &ToolPaths) -> String {
    let mut text = String::from(
        "# Written by `cargo xtask tools`: where the tools are. HARNESS_TOOLS_DIR holds them all\n\
         # by name; the others name each binary itself.\n",
    );
    text.push_str(&format!(
        "HARNESS_TOOLS_DIR={}\n",
        shell_quote(&bin.to_string_lossy())
    ));
    for (name, path) in paths.named() {
        let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        text.push_str(&format!(
            "{}={}\n",
            env_name(name),
            shell_quote(&target.to_string_lossy())
        ));
    }
    text
}

/// `text` as one shell word.
pub fn shell_quote(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// How a tool was provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    Built(Duration),
    Cached,
    Found,
}

/// One line of the summary.
#[derive(Debug)]
struct Row {
    name: &'static str,
    /// The pinned version (none for nginx).
    pinned: Option<String>,
    how: How,
    path: PathBuf,
    /// The first line of what it prints about its version.
    version_line: String,
}

fn print_summary(rows: &[Row]) {
    eprintln!("tools: summary:");
    for row in rows {
        let how = match row.how {
            How::Built(took) => format!("built in {}", duration(took)),
            How::Cached => "cached".to_owned(),
            How::Found => "found".to_owned(),
        };
        eprintln!(
            "  {:<15} {:<8} {:<15} {}  ({})",
            row.name,
            row.pinned.as_deref().unwrap_or("system"),
            how,
            row.path.display(),
            row.version_line
        );
    }
}

/// `1m02s`, `4.2s`.
pub fn duration(took: Duration) -> String {
    let secs = took.as_secs();
    if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}.{}s", secs, took.subsec_millis() / 100)
    }
}

/// Runs `path` with `args` and returns the first line it prints (stdout or stderr: nginx
/// writes its version to stderr) and all of it, or why it did not run.
fn version_output(path: &Path, args: &[&str]) -> Result<(String, String), String> {
    let output = Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} does not run: {e}", path.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_owned();
    if output.status.success() {
        Ok((first, text))
    } else {
        Err(format!(
            "`{} {}` failed ({}): {first}",
            path.display(),
            args.join(" "),
            output.status
        ))
    }
}

/// Runs the tool's version command; a version other than the pinned one is reported on a line
/// of its own (it is not an error: `--bin-dir` may hold other releases on purpose).
fn describe(tool: &Tool, path: &Path, pinned: &str, how: How) -> Result<Row, String> {
    let (first, all) =
        version_output(path, tool.version_args).map_err(|e| format!("tools: {e}"))?;
    if !pins::matches_pin(&all, pinned) {
        eprintln!(
            "tools: warning: {} says `{first}`, but tools/versions.toml pins {pinned}",
            path.display()
        );
    }
    Ok(Row {
        name: tool.name,
        pinned: Some(pinned.to_owned()),
        how,
        path: path.to_owned(),
        version_line: first,
    })
}

/// `--bin-dir DIR`: each tool must be there and run.
fn found_in(dir: &Path, pins: &Pins) -> Result<Vec<Row>, String> {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for tool in &TOOLS {
        let version = pins.get(tool.upstream.pin);
        let path = dir.join(tool.name);
        if !is_executable(&path) {
            missing.push(format!("{} {version}", tool.name));
            continue;
        }
        let row = describe(tool, &path, version, How::Found)?;
        eprintln!("tools: {} {version}: found {}", tool.name, path.display());
        rows.push(row);
    }
    if missing.is_empty() {
        Ok(rows)
    } else {
        Err(format!(
            "tools: {} has no executable {}: put the release binaries there under those names, or leave out --bin-dir to build them",
            dir.display(),
            missing.join(", ")
        ))
    }
}

/// `--check`: the tools at `paths` run.
fn check_paths(paths: &ToolPaths, pins: &Pins) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for tool in &TOOLS {
        let path = paths
            .get(tool.name)
            .ok_or_else(|| format!("tools: no path for {}", tool.name))?;
        rows.push(describe(
            tool,
            path,
            pins.get(tool.upstream.pin),
            How::Found,
        )?);
    }
    rows.push(nginx_row(&paths.nginx)?);
    Ok(rows)
}

/// The Go tools: cached when `<cache>/<name>-<version>/<name>` is there, else built.
fn cached_or_built(
    root: &Path,
    cache: &Path,
    pins: &Pins,
    verbose: bool,
) -> Result<Vec<Row>, String> {
    let mut to_build = Vec::new();
    for tool in &TOOLS {
        let version = pins.get(tool.upstream.pin);
        let path = cached_binary(cache, tool, version);
        if is_executable(&path) {
            eprintln!("tools: {} {version}: cached {}", tool.name, path.display());
        } else {
            to_build.push(tool);
        }
    }
    // Tools of one module one after the other: kubectl after kube-apiserver only links.
    to_build.sort_by_key(|tool| UPSTREAMS.iter().position(|u| u.dir == tool.upstream.dir));
    let mut built: Vec<(&str, Duration)> = Vec::new();
    if !to_build.is_empty() {
        let go = go_ready(root, pins, &to_build)?;
        let mut downloaded: Vec<&str> = Vec::new();
        for tool in &to_build {
            if !downloaded.contains(&tool.upstream.dir) {
                download(root, tool.upstream, pins, &go)?;
                downloaded.push(tool.upstream.dir);
            }
            built.push((tool.name, build(root, cache, tool, pins, verbose)?));
        }
    }
    let mut rows = Vec::new();
    for tool in &TOOLS {
        let version = pins.get(tool.upstream.pin);
        let path = cached_binary(cache, tool, version);
        let how = match built.iter().find(|(name, _)| *name == tool.name) {
            Some((_, took)) => How::Built(*took),
            None => How::Cached,
        };
        rows.push(describe(tool, &path, version, how)?);
    }
    Ok(rows)
}

/// What `go env` says about the Go that builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoEnv {
    /// `GOVERSION`: `go1.26.8`.
    pub version: String,
    /// `GOTOOLCHAIN`: `local` means go never fetches a newer toolchain itself.
    pub toolchain: String,
    /// `GOPROXY`.
    pub proxy: String,
}

/// The releases `--bin-dir` needs, for messages: `kube-apiserver v1.37.2, etcd v3.7.0, ...`.
pub fn releases(pins: &Pins) -> String {
    TOOLS
        .iter()
        .map(|tool| format!("{} {}", tool.name, pins.get(tool.upstream.pin)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The one line for a Go that cannot build: what is wrong, and the two ways out.
pub fn no_go_message(problem: &str, need: &str, pins: &Pins) -> String {
    format!(
        "tools: {problem}: install Go {need} or newer, or pass --bin-dir DIR with release binaries of {}",
        releases(pins)
    )
}

/// Whether a Go of version `have` (`go1.26.8`) builds a go.mod whose `go` line is `need`;
/// a toolchain that can switch itself (`GOTOOLCHAIN` not `local`) always can.
pub fn go_can_build(go: &GoEnv, need: &str) -> bool {
    if !go.toolchain.starts_with("local") {
        return true;
    }
    match (pins::go_version(&go.version), pins::go_version(need)) {
        (Some(have), Some(need)) => have >= need,
        // A development build: let go itself say.
        _ => true,
    }
}

/// Checks that `go` is there and new enough for the modules of `tools`.
fn go_ready(root: &Path, pins: &Pins, tools: &[&Tool]) -> Result<GoEnv, String> {
    let mut need = String::from("1.0");
    let mut needed_by = String::new();
    for tool in tools {
        let file = root.join("tools/go").join(tool.upstream.dir).join("go.mod");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("tools: cannot read {}: {e}", file.display()))?;
        let module = gomod::parse(&text).map_err(|e| format!("tools: {}: {e}", file.display()))?;
        if pins::go_version(&module.go) > pins::go_version(&need) {
            need = module.go;
            needed_by = format!("tools/go/{}/go.mod", tool.upstream.dir);
        }
    }
    let output = Command::new("go")
        .args(["env", "GOVERSION", "GOTOOLCHAIN", "GOPROXY"])
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(no_go_message(
                "go is not installed (no `go` on PATH)",
                &need,
                pins,
            ));
        }
        Err(e) => return Err(no_go_message(&format!("cannot run go ({e})"), &need, pins)),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines().map(str::trim);
    let mut next = || lines.next().unwrap_or_default().to_owned();
    let go = GoEnv {
        version: next(),
        toolchain: next(),
        proxy: next(),
    };
    if !output.status.success() || go.version.is_empty() {
        let error = String::from_utf8_lossy(&output.stderr);
        let last = error
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or_default();
        return Err(no_go_message(
            &format!("`go env` failed ({}): {last}", output.status),
            &need,
            pins,
        ));
    }
    if !go_can_build(&go, &need) {
        return Err(no_go_message(
            &format!(
                "{} is older than Go {need}, which {needed_by} needs (and GOTOOLCHAIN={} keeps it from fetching one)",
                go.version, go.toolchain
            ),
            &need,
            pins,
        ));
    }
    eprintln!(
        "tools: using {} (GOTOOLCHAIN={}, GOPROXY={})",
        go.version, go.toolchain, go.proxy
    );
    Ok(go)
}

/// `go mod download` in the tool's module: the one step that needs the module proxy, so that
/// an unreachable proxy gets its own line.
fn download(root: &Path, upstream: &Upstream, pins: &Pins, go: &GoEnv) -> Result<(), String> {
    let dir = root.join("tools/go").join(upstream.dir);
    eprintln!("$ (cd tools/go/{} && go mod download)", upstream.dir);
    let started = Instant::now();
    let output = Command::new("go")
        .args(["mod", "download"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("tools: cannot run go: {e}"))?;
    if !output.status.success() {
        return Err(download_failed(
            upstream,
            pins,
            &go.proxy,
            &String::from_utf8_lossy(&output.stderr),
        ));
    }
    eprintln!(
        "tools: the modules of tools/go/{} are in GOMODCACHE ({})",
        upstream.dir,
        duration(started.elapsed())
    );
    Ok(())
}

/// The one line for modules that could not be downloaded.
pub fn download_failed(upstream: &Upstream, pins: &Pins, proxy: &str, stderr: &str) -> String {
    let last = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no output");
    format!(
        "tools: cannot download the Go modules of {} {} through GOPROXY={proxy} ({last}): make the proxy reachable, or pass --bin-dir DIR with release binaries of {}",
        upstream.module,
        pins.get(upstream.pin),
        releases(pins)
    )
}

/// A `go build` to run: in `dir`, with `env` added, `argv[0]` the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoBuild {
    pub dir: PathBuf,
    pub env: Vec<(&'static str, String)>,
    pub argv: Vec<String>,
}

impl GoBuild {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..]).current_dir(&self.dir);
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd
    }

    /// The command as a shell would take it, from the workspace root.
    pub fn shown(&self, root: &Path) -> String {
        let dir = self.dir.strip_prefix(root).unwrap_or(&self.dir);
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(key, value)| format!("{key}={}", shell_quote(value)))
            .collect();
        words.extend(self.argv.iter().map(|a| shell_quote(a)));
        format!(
            "(cd {} && {})",
            shell_quote(&dir.to_string_lossy()),
            words.join(" ")
        )
    }
}

/// The `-ldflags` for a tool: symbols stripped, and the version stamped where the upstream
/// release build stamps it (`kube-apiserver --version` says `Kubernetes v1.37.2`, not
/// `v0.0.0-master`; `loki -version` says `3.7.8`). etcd's version is in its source.
pub fn ldflags(tool: &Tool, version: &str) -> String {
    let mut flags = vec!["-s".to_owned(), "-w".to_owned()];
    match tool.upstream.pin {
        Pin::Kubernetes => {
            if let Some((major, minor, _)) = pins::release(version) {
                for package in [
                    "k8s.io/component-base/version",
                    "k8s.io/client-go/pkg/version",
                ] {
                    for (key, value) in [
                        ("gitVersion", version.to_owned()),
                        ("gitMajor", major.to_string()),
                        ("gitMinor", minor.to_string()),
                    ] {
                        flags.push(format!("-X {package}.{key}={value}"));
                    }
                }
            }
        }
        Pin::Etcd => {}
        Pin::Loki => flags.push(format!(
            "-X github.com/grafana/loki/v3/pkg/util/build.Version={}",
            version.trim_start_matches('v')
        )),
    }
    flags.join(" ")
}

/// The build of `tool` at `version` into `out`, in its module `module_dir`: static
/// (`CGO_ENABLED=0`, as the upstream releases are), `-trimpath`, at low priority (`nice -n
/// 10`) as other builds share the machine; Loki with its release's `netgo` tag.
pub fn go_build(
    tool: &Tool,
    version: &str,
    module_dir: &Path,
    out: &Path,
    verbose: bool,
) -> GoBuild {
    let mut argv: Vec<String> = Vec::new();
    if cfg!(unix) {
        argv.extend(["nice", "-n", "10"].map(String::from));
    }
    argv.extend(["go", "build", "-trimpath"].map(String::from));
    if verbose {
        argv.push("-v".into());
    }
    if tool.upstream.pin == Pin::Loki {
        argv.extend(["-tags", "netgo"].map(String::from));
    }
    argv.extend([
        "-ldflags".into(),
        ldflags(tool, version),
        "-o".into(),
        out.to_string_lossy().into_owned(),
        tool.package.into(),
    ]);
    GoBuild {
        dir: module_dir.to_owned(),
        env: vec![("CGO_ENABLED", "0".into())],
        argv,
    }
}

/// Builds `tool` into a temporary file next to its place in the cache, then renames it in, so
/// an interrupted build never leaves a binary that looks cached.
fn build(
    root: &Path,
    cache: &Path,
    tool: &Tool,
    pins: &Pins,
    verbose: bool,
) -> Result<Duration, String> {
    let version = pins.get(tool.upstream.pin);
    let path = cached_binary(cache, tool, version);
    let dir = path.parent().unwrap_or(cache);
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("tools: cannot create {}: {e}", dir.display()))?;
    let partial = dir.join(format!(".{}.partial-{}", tool.name, std::process::id()));
    let module_dir = root.join("tools/go").join(tool.upstream.dir);
    let job = go_build(tool, version, &module_dir, &partial, verbose);
    eprintln!(
        "tools: {} {version}: building (a first build takes minutes; later ones reuse Go's cache)",
        tool.name
    );
    eprintln!("$ {}", job.shown(root));
    let started = Instant::now();
    let status = job
        .command()
        .status()
        .map_err(|e| format!("tools: cannot run `{}`: {e}", job.argv.join(" ")))?;
    if !status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(format!(
            "tools: building {} {version} failed ({status}); go's output above says why",
            tool.name
        ));
    }
    std::fs::rename(&partial, &path).map_err(|e| {
        format!(
            "tools: cannot move {} to {}: {e}",
            partial.display(),
            path.display()
        )
    })?;
    let took = started.elapsed();
    eprintln!(
        "tools: {} {version}: built in {} {}",
        tool.name,
        duration(took),
        path.display()
    );
    Ok(took)
}

/// nginx from `--bin-dir`, else the system's; installed with apt-get when asked to.
fn provide_nginx(bin_dir: Option<&Path>, install: bool) -> Result<Row, String> {
    let in_bin_dir = bin_dir
        .map(|dir| dir.join(NGINX))
        .filter(|p| is_executable(p))
        .map(|p| std::path::absolute(&p).unwrap_or(p));
    let found = in_bin_dir.or_else(|| system_nginx(std::env::var_os("PATH")));
    let path = match found {
        Some(path) => path,
        None if install => {
            install_nginx()?;
            system_nginx(std::env::var_os("PATH")).ok_or_else(|| {
                "tools: apt-get installed nginx, but it is neither on PATH nor at /usr/sbin/nginx"
                    .to_owned()
            })?
        }
        None => return Err(nginx_missing(true)),
    };
    let row = nginx_row(&path)?;
    eprintln!(
        "tools: nginx: found {} ({})",
        path.display(),
        row.version_line
    );
    Ok(row)
}

fn nginx_row(path: &Path) -> Result<Row, String> {
    let (first, _) = version_output(path, &["-v"]).map_err(|e| format!("tools: {e}"))?;
    Ok(Row {
        name: NGINX,
        pinned: None,
        how: How::Found,
        path: path.to_owned(),
        version_line: first,
    })
}

/// The one line for a missing nginx.
pub fn nginx_missing(offer_install: bool) -> String {
    let mut line = format!(
        "tools: nginx is not installed (not on PATH, not /usr/sbin/nginx): run `{NGINX_INSTALL}` as root (Debian, Ubuntu)"
    );
    if offer_install {
        line.push_str(", or `cargo xtask tools --install-system` to have it run");
    }
    line
}

/// `nginx` on `path_var`, else `/usr/sbin/nginx` (not on a user's PATH on Debian).
fn system_nginx(path_var: Option<OsString>) -> Option<PathBuf> {
    let on_path = path_var
        .as_deref()
        .map(std::env::split_paths)
        .into_iter()
        .flatten()
        .map(|dir| dir.join(NGINX))
        .find(|p| is_executable(p));
    on_path.or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| is_executable(p)))
}

/// `apt-get install` nginx, as root only.
fn install_nginx() -> Result<(), String> {
    let uid = Command::new("id").arg("-u").output().ok();
    let root = uid.is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        return Err(format!(
            "tools: nginx is not installed, and --install-system needs root: run `sudo {NGINX_INSTALL}`"
        ));
    }
    let apt = || {
        let mut cmd = Command::new("apt-get");
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    let install: Vec<&str> = NGINX_INSTALL.split(' ').skip(1).collect();
    if exec(apt().args(&install)).is_err() {
        // Empty or stale package lists are the usual reason.
        exec(apt().arg("update"))
            .and_then(|()| exec(apt().args(&install)))
            .map_err(|e| format!("tools: installing nginx failed: {e}"))?;
    }
    Ok(())
}

/// `<cache>/bin/<name>` -> each row's binary.
fn link_bin(bin: &Path, rows: &[Row]) -> Result<(), String> {
    std::fs::create_dir_all(bin)
        .map_err(|e| format!("tools: cannot create {}: {e}", bin.display()))?;
    for row in rows {
        let link = bin.join(row.name);
        let target = std::fs::canonicalize(&row.path).unwrap_or_else(|_| row.path.clone());
        if std::fs::canonicalize(&link).is_ok_and(|now| now == target) {
            continue;
        }
        if link.symlink_metadata().is_ok() {
            std::fs::remove_file(&link)
                .map_err(|e| format!("tools: cannot replace {}: {e}", link.display()))?;
        }
        #[cfg(unix)]
        let made = std::os::unix::fs::symlink(&target, &link);
        #[cfg(not(unix))]
        let made = std::fs::copy(&target, &link).map(|_| ());
        made.map_err(|e| format!("tools: cannot link {}: {e}", link.display()))?;
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("tools: cannot write {}: {e}", path.display()))
}

/// An executable file (following symlinks).
fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// `--update-go-mod`: our go.mod and tools.go for each upstream, from the pins and the
/// upstream go.mod, then `go mod tidy`; and the result checked.
fn update_go_mods(root: &Path, pins: &Pins) -> Result<(), String> {
    for upstream in UPSTREAMS {
        let version = pins.get(upstream.pin);
        let dir = root.join("tools/go").join(upstream.dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("tools: cannot create {}: {e}", dir.display()))?;
        let spec = format!("{}@{version}", upstream.module);
        eprintln!("$ go mod download -json {spec}");
        let output = Command::new("go")
            .args(["mod", "download", "-json", &spec])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| no_go_message(&format!("cannot run go ({e})"), "1.21", pins))?;
        let json = String::from_utf8_lossy(&output.stdout);
        let go_mod = json_string(&json, "GoMod").ok_or_else(|| {
            download_failed(
                upstream,
                pins,
                "(go env GOPROXY)",
                &String::from_utf8_lossy(&output.stderr),
            )
        })?;
        let theirs = std::fs::read_to_string(&go_mod)
            .map_err(|e| format!("tools: cannot read {go_mod}: {e}"))
            .and_then(|text| gomod::parse(&text).map_err(|e| format!("tools: {go_mod}: {e}")))?;
        let text =
            gomod::generate(upstream, version, &theirs).map_err(|e| format!("tools: {e}"))?;
        write_file(&dir.join("go.mod"), &text)?;
        let packages: Vec<&str> = TOOLS
            .iter()
            .filter(|tool| tool.upstream.dir == upstream.dir)
            .map(|tool| tool.package)
            .collect();
        write_file(&dir.join("tools.go"), &gomod::tools_go(&packages))?;
        exec(Command::new("go").args(["mod", "tidy"]).current_dir(&dir))
            .map_err(|e| format!("tools: {e}"))?;
        let ours = std::fs::read_to_string(dir.join("go.mod"))
            .map_err(|e| format!("tools: cannot read go.mod back: {e}"))
            .and_then(|text| gomod::parse(&text).map_err(|e| format!("tools: go.mod: {e}")))?;
        let problems = gomod::check(upstream, pins, &ours);
        if !problems.is_empty() {
            return Err(format!("tools: after go mod tidy: {}", problems.join("; ")));
        }
        eprintln!("tools: tools/go/{} follows {spec}", upstream.dir);
    }
    Ok(())
}

/// The string value of `"key": "..."` in `go ... -json` output (Go escapes no characters in
/// paths that matter here but `\\`).
fn json_string(json: &str, key: &str) -> Option<String> {
    let start = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = json[start..].trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].replace("\\\\", "\\"))
}

#[cfg(test)]
mod tests;
