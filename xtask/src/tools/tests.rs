//! Unit tests of `cargo xtask tools`: the pure parts, and the committed files in `tools/`.

#![allow(clippy::unwrap_used)]

use super::*;

fn pins() -> Pins {
    Pins {
        kubernetes: "v1.37.2".into(),
        etcd: "v3.7.0".into(),
        loki: "v3.7.8".into(),
    }
}

fn committed_pins() -> Pins {
    pins::parse(include_str!("../../../tools/versions.toml")).unwrap()
}

/// The committed go.mod and tools.go of each upstream.
fn committed(upstream: &Upstream) -> (&'static str, &'static str) {
    match upstream.dir {
        "kubernetes" => (
            include_str!("../../../tools/go/kubernetes/go.mod"),
            include_str!("../../../tools/go/kubernetes/tools.go"),
        ),
        "etcd" => (
            include_str!("../../../tools/go/etcd/go.mod"),
            include_str!("../../../tools/go/etcd/tools.go"),
        ),
        "loki" => (
            include_str!("../../../tools/go/loki/go.mod"),
            include_str!("../../../tools/go/loki/tools.go"),
        ),
        other => panic!("no committed module for {other}"),
    }
}

#[test]
fn each_go_mod_requires_exactly_the_pinned_version() {
    let pins = committed_pins();
    for upstream in UPSTREAMS {
        let (go_mod, _) = committed(upstream);
        let ours = gomod::parse(go_mod).unwrap();
        assert_eq!(gomod::check(upstream, &pins, &ours), Vec::<String>::new());
    }
}

#[test]
fn lokis_push_module_is_the_published_version_loki_requires() {
    let ours = gomod::parse(committed(&LOKI).0).unwrap();
    let push = "github.com/grafana/loki/pkg/push";
    let replace = ours.replacement(push).unwrap();
    assert_eq!(replace.new, push);
    assert_eq!(replace.new_version.as_deref(), ours.required(push));
}

#[test]
fn each_tools_go_imports_the_packages_built_from_its_module() {
    for upstream in UPSTREAMS {
        let (_, tools_go) = committed(upstream);
        let wanted: Vec<&str> = TOOLS
            .iter()
            .filter(|tool| tool.upstream.dir == upstream.dir)
            .map(|tool| tool.package)
            .collect();
        assert_eq!(
            gomod::tools_go_imports(tools_go),
            wanted,
            "{}",
            upstream.dir
        );
        assert!(
            tools_go.starts_with("//go:build tools\n"),
            "{}",
            upstream.dir
        );
    }
}

#[test]
fn options() {
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(parse(&[]).unwrap(), Some(Options::default()));
    assert_eq!(parse(&args(&["--help"])).unwrap(), None);
    let opts = parse(&args(&["--bin-dir", "/opt/k8s", "--install-system", "-v"]))
        .unwrap()
        .unwrap();
    assert_eq!(opts.bin_dir, Some(PathBuf::from("/opt/k8s")));
    assert!(opts.install_system && opts.verbose && !opts.check);
    let opts = parse(&args(&["--bin-dir=rel"])).unwrap().unwrap();
    assert_eq!(opts.bin_dir, Some(PathBuf::from("rel")));
    for (bad, says) in [
        (&["--bin-dir"][..], "`--bin-dir` needs a directory"),
        (&["--bin-dir="][..], "`--bin-dir` needs a directory"),
        (&["--bin-dir", "a", "--bin-dir", "b"][..], "given twice"),
        (&["--check", "--update-go-mod"][..], "exclude each other"),
        (&["--bin-dir", "a", "--check"][..], "exclude each other"),
        (&["--cache"][..], "`tools` has no option `--cache`"),
    ] {
        let error = parse(&args(bad)).unwrap_err();
        let first = error.lines().next().unwrap();
        assert!(first.contains(says), "{bad:?}: {error}");
    }
}

#[test]
fn the_cache_is_under_xdg_cache_home_else_home() {
    let some = |s: &str| Some(OsString::from(s));
    assert_eq!(
        cache_root_from(some("/xdg"), some("/home/u")),
        Some(PathBuf::from("/xdg/k8s-event-collector/tools"))
    );
    assert_eq!(
        cache_root_from(None, some("/home/u")),
        Some(PathBuf::from("/home/u/.cache/k8s-event-collector/tools"))
    );
    assert_eq!(
        cache_root_from(some("relative"), some("/home/u")),
        Some(PathBuf::from("/home/u/.cache/k8s-event-collector/tools"))
    );
    assert_eq!(cache_root_from(some(""), None), None);
    assert_eq!(
        cached_binary(Path::new("/c"), &TOOLS[0], "v1.37.2"),
        PathBuf::from("/c/kube-apiserver-v1.37.2/kube-apiserver")
    );
    assert_eq!(
        cached_binary(Path::new("/c"), &TOOLS[2], "v3.7.8"),
        PathBuf::from("/c/loki-v3.7.8/loki")
    );
}

#[test]
fn the_build_commands() {
    let root = Path::new("/w");
    let kube = go_build(
        &TOOLS[0],
        "v1.37.2",
        &root.join("tools/go/kubernetes"),
        Path::new("/c/kube-apiserver-v1.37.2/.kube-apiserver.partial-7"),
        false,
    );
    assert_eq!(kube.env, [("CGO_ENABLED", "0".to_owned())]);
    assert_eq!(kube.dir, PathBuf::from("/w/tools/go/kubernetes"));
    assert_eq!(
        kube.argv,
        [
            "nice",
            "-n",
            "10",
            "go",
            "build",
            "-trimpath",
            "-ldflags",
            "-s -w \
             -X k8s.io/component-base/version.gitVersion=v1.37.2 \
             -X k8s.io/component-base/version.gitMajor=1 \
             -X k8s.io/component-base/version.gitMinor=37 \
             -X k8s.io/client-go/pkg/version.gitVersion=v1.37.2 \
             -X k8s.io/client-go/pkg/version.gitMajor=1 \
             -X k8s.io/client-go/pkg/version.gitMinor=37",
            "-o",
            "/c/kube-apiserver-v1.37.2/.kube-apiserver.partial-7",
            "k8s.io/kubernetes/cmd/kube-apiserver",
        ]
    );
    let loki = go_build(
        &TOOLS[2],
        "v3.7.8",
        &root.join("tools/go/loki"),
        Path::new("/c/l"),
        true,
    );
    assert_eq!(
        loki.shown(root),
        "(cd tools/go/loki && CGO_ENABLED=0 nice -n 10 go build -trimpath -v -tags netgo \
         -ldflags '-s -w -X github.com/grafana/loki/v3/pkg/util/build.Version=3.7.8' \
         -o /c/l github.com/grafana/loki/v3/cmd/loki)"
    );
    let etcd = go_build(
        &TOOLS[1],
        "v3.7.0",
        &root.join("tools/go/etcd"),
        Path::new("/c/e"),
        false,
    );
    assert_eq!(
        etcd.shown(root),
        "(cd tools/go/etcd && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags '-s -w' \
         -o /c/e go.etcd.io/etcd/server/v3)"
    );
    assert_eq!(TOOLS[3].package, "k8s.io/kubernetes/cmd/kubectl");
    assert_eq!(ldflags(&TOOLS[3], "v1.37.2"), ldflags(&TOOLS[0], "v1.37.2"));
}

#[test]
fn a_missing_go_is_one_line_with_both_ways_out() {
    let line = no_go_message("go is not installed (no `go` on PATH)", "1.26.5", &pins());
    assert_eq!(
        line,
        "tools: go is not installed (no `go` on PATH): install Go 1.26.5 or newer, or pass \
         --bin-dir DIR with release binaries of kube-apiserver v1.37.2, etcd v3.7.0, \
         loki v3.7.8, kubectl v1.37.2"
    );
    assert!(!line.contains('\n'));
    let proxy = download_failed(
        &LOKI,
        &pins(),
        "https://proxy.golang.org,direct",
        "go: github.com/x@v1: Get \"https://proxy.golang.org/...\": dial tcp: lookup proxy.golang.org: no such host\n",
    );
    assert!(proxy.starts_with(
        "tools: cannot download the Go modules of github.com/grafana/loki/v3 v3.7.8 through \
         GOPROXY=https://proxy.golang.org,direct (go: github.com/x@v1: Get"
    ));
    assert!(proxy.ends_with("pass --bin-dir DIR with release binaries of kube-apiserver v1.37.2, etcd v3.7.0, loki v3.7.8, kubectl v1.37.2"));
    assert!(!proxy.contains('\n'));
}

#[test]
fn an_old_go_is_refused_only_when_it_cannot_switch_toolchains() {
    let go = |version: &str, toolchain: &str| GoEnv {
        version: version.into(),
        toolchain: toolchain.into(),
        proxy: "https://proxy.golang.org,direct".into(),
    };
    assert!(go_can_build(&go("go1.26.8", "local"), "1.26.5"));
    assert!(go_can_build(&go("go1.26.5", "local"), "1.26.5"));
    assert!(!go_can_build(&go("go1.26.4", "local"), "1.26.5"));
    assert!(!go_can_build(&go("go1.24.1", "local"), "1.26"));
    assert!(go_can_build(&go("go1.24.1", "auto"), "1.26.5"));
    assert!(go_can_build(&go("devel go1.27-abc", "local"), "1.26.5"));
}

#[test]
fn tools_env_names_every_tool_and_quotes_when_needed() {
    let paths = ToolPaths {
        kube_apiserver: "/c/kube-apiserver-v1.37.2/kube-apiserver".into(),
        etcd: "/c/etcd-v3.7.0/etcd".into(),
        loki: "/c/loki-v3.7.8/loki".into(),
        kubectl: "/c/kubectl-v1.37.2/kubectl".into(),
        nginx: "/my tools/nginx".into(),
    };
    let text = env_file_text(Path::new("/c/bin"), &paths);
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        [
            "HARNESS_TOOLS_DIR=/c/bin",
            "KUBE_APISERVER=/c/kube-apiserver-v1.37.2/kube-apiserver",
            "ETCD=/c/etcd-v3.7.0/etcd",
            "LOKI=/c/loki-v3.7.8/loki",
            "KUBECTL=/c/kubectl-v1.37.2/kubectl",
            "NGINX='/my tools/nginx'",
        ]
    );
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
    assert_eq!(shell_quote(""), "''");
}

#[test]
fn durations_read_as_minutes_and_seconds() {
    assert_eq!(duration(Duration::from_millis(4_250)), "4.2s");
    assert_eq!(duration(Duration::from_secs(62)), "1m02s");
    assert_eq!(duration(Duration::from_secs(725)), "12m05s");
}

#[test]
fn go_json_fields_are_read() {
    let json = "{\n\t\"Path\": \"k8s.io/kubernetes\",\n\t\"GoMod\": \"/root/go/pkg/mod/cache/download/k8s.io/kubernetes/@v/v1.37.2.mod\",\n}";
    assert_eq!(
        json_string(json, "GoMod").as_deref(),
        Some("/root/go/pkg/mod/cache/download/k8s.io/kubernetes/@v/v1.37.2.mod")
    );
    assert_eq!(json_string(json, "Dir"), None);
}

#[cfg(unix)]
#[test]
fn tools_are_found_in_a_directory_by_name() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("xtask-tools-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let make = |name: &str, mode: u32| {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    for name in ["kube-apiserver", "etcd", "kubectl", "nginx"] {
        make(name, 0o755);
    }
    make("loki", 0o644);
    let error = tool_paths_in(&dir, None).unwrap_err();
    assert!(error.contains("no executable loki in"), "{error}");
    make("loki", 0o755);
    let paths = tool_paths_in(&dir, None).unwrap();
    assert_eq!(paths.loki, dir.join("loki"));
    for tool in &TOOLS {
        assert_eq!(paths.get(tool.name), Some(dir.join(tool.name).as_path()));
    }
    assert_eq!(paths.nginx, dir.join("nginx"));
    // Without one in the directory, nginx comes from PATH.
    std::fs::remove_file(dir.join("nginx")).unwrap();
    let elsewhere = dir.join("path");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("nginx"), "").unwrap();
    std::fs::set_permissions(
        elsewhere.join("nginx"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let paths = tool_paths_in(&dir, Some(elsewhere.clone().into_os_string())).unwrap();
    assert_eq!(paths.nginx, elsewhere.join("nginx"));
    std::fs::remove_dir_all(&dir).unwrap();
}
