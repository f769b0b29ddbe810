//! `tools/versions.toml`, and reading versions out of what tools and Go print.

/// The pinned versions: `tools/versions.toml`, the one place they are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    /// k8s.io/kubernetes: kube-apiserver and kubectl.
    pub kubernetes: String,
    /// go.etcd.io/etcd/server/v3: etcd.
    pub etcd: String,
    /// github.com/grafana/loki/v3: loki.
    pub loki: String,
}

/// Which pin a Go module in `tools/go/` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    Kubernetes,
    Etcd,
    Loki,
}

impl Pin {
    /// Its key in `tools/versions.toml`.
    pub fn key(self) -> &'static str {
        match self {
            Pin::Kubernetes => "kubernetes",
            Pin::Etcd => "etcd",
            Pin::Loki => "loki",
        }
    }
}

impl Pins {
    pub fn get(&self, pin: Pin) -> &str {
        match pin {
            Pin::Kubernetes => &self.kubernetes,
            Pin::Etcd => &self.etcd,
            Pin::Loki => &self.loki,
        }
    }
}

/// Parses `name = "version"` lines (blank lines and `#` comments allowed). Every pin must be
/// there once, nothing else may be, and each version must read `vMAJOR.MINOR.PATCH`. Errors
/// start with `line N: ` where they have a line.
pub fn parse(text: &str) -> Result<Pins, String> {
    const KEYS: [Pin; 3] = [Pin::Kubernetes, Pin::Etcd, Pin::Loki];
    let mut found: [Option<String>; 3] = Default::default();
    for (index, raw) in text.lines().enumerate() {
        let at = |what: String| format!("line {}: {what}", index + 1);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, rest)) = line.split_once('=') else {
            return Err(at(format!("expected `name = \"version\"`, got `{line}`")));
        };
        let key = key.trim();
        let value = quoted(rest.trim()).ok_or_else(|| {
            at(format!(
                "the value of `{key}` must be a quoted string, as in `{key} = \"v1.2.3\"`"
            ))
        })?;
        let Some(slot) = KEYS.iter().position(|pin| pin.key() == key) else {
            let known: Vec<&str> = KEYS.iter().map(|pin| pin.key()).collect();
            return Err(at(format!(
                "unknown tool `{key}` (known: {})",
                known.join(", ")
            )));
        };
        if !value.starts_with('v') || release(value).is_none() {
            return Err(at(format!(
                "`{key}`: `{value}` is not a release version like v1.2.3"
            )));
        }
        if found[slot].replace(value.to_owned()).is_some() {
            return Err(at(format!("`{key}` is pinned twice")));
        }
    }
    let [kubernetes, etcd, loki] = found;
    let missing = |pin: Pin| format!("`{}` is not pinned", pin.key());
    Ok(Pins {
        kubernetes: kubernetes.ok_or_else(|| missing(Pin::Kubernetes))?,
        etcd: etcd.ok_or_else(|| missing(Pin::Etcd))?,
        loki: loki.ok_or_else(|| missing(Pin::Loki))?,
    })
}

/// The insides of `"..."`, with an optional `# comment` after it.
fn quoted(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('"')?;
    let (value, after) = rest.split_once('"')?;
    let after = after.trim();
    (after.is_empty() || after.starts_with('#')).then_some(value)
}

/// `MAJOR.MINOR.PATCH` of a release version (`v1.37.2`, `1.37.2`), and nothing more: a
/// pre-release or build suffix gives `None`.
pub fn release(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.strip_prefix('v').unwrap_or(version).split('.');
    let mut next = || parts.next()?.parse::<u64>().ok();
    let triple = (next()?, next()?, next()?);
    parts.next().is_none().then_some(triple)
}

/// The published version of Kubernetes' staging modules (`k8s.io/api`, ...) for a
/// Kubernetes release: `v1.37.2` -> `v0.37.2`.
pub fn staging_version(kubernetes: &str) -> Option<String> {
    let (major, minor, patch) = release(kubernetes)?;
    (major == 1).then(|| format!("v0.{minor}.{patch}"))
}

/// The first `MAJOR.MINOR.PATCH` in what a tool prints about its version, without a leading
/// `v`: `Kubernetes v1.37.2`, `etcd Version: 3.7.0`, `loki, version 3.7.8 (branch: ...)`,
/// `Client Version: v1.37.2`, `nginx version: nginx/1.22.1`.
pub fn version_in(output: &str) -> Option<String> {
    output
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '/' | '(' | ')' | ':' | '"'))
        .find_map(|word| {
            let word = word.strip_prefix('v').unwrap_or(word);
            // `1.22.1-9+deb12u11` and `3.7.0-rc.0` count by their release part.
            let core = word.split(['-', '+']).next().unwrap_or(word);
            release(core).map(|_| word.to_owned())
        })
}

/// Whether a tool's version output is the pinned version (`v1.37.2` matches `Kubernetes
/// v1.37.2`, not `v1.37.2-dirty` or `v1.37.20`).
pub fn matches_pin(output: &str, pin: &str) -> bool {
    version_in(output).is_some_and(|found| found == pin.strip_prefix('v').unwrap_or(pin))
}

/// A Go version as `go version`/`go env GOVERSION` (`go1.26.8`, `go1.26rc1`) or a go.mod `go`
/// line (`1.26`, `1.26.0`) writes it: major, minor and patch (a missing patch or a release
/// candidate counts as 0). `None` for a development build (`devel ...`).
pub fn go_version(version: &str) -> Option<(u64, u64, u64)> {
    let version = version.trim();
    let version = version.strip_prefix("go").unwrap_or(version);
    let numeric: String = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = numeric.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_pins_parse() {
        let pins = parse(include_str!("../../../tools/versions.toml")).unwrap();
        for version in [&pins.kubernetes, &pins.etcd, &pins.loki] {
            assert!(release(version).is_some(), "{version}");
        }
        assert!(staging_version(&pins.kubernetes).is_some());
    }

    #[test]
    fn pins_parse_with_comments_and_any_order() {
        let text =
            "# tools\n\nloki = \"v3.7.8\"  # Loki\n  etcd=\"v3.7.0\"\nkubernetes = \"v1.37.2\"\n";
        assert_eq!(
            parse(text).unwrap(),
            Pins {
                kubernetes: "v1.37.2".into(),
                etcd: "v3.7.0".into(),
                loki: "v3.7.8".into(),
            }
        );
    }

    #[test]
    fn bad_pins_say_which_line_and_what_is_wrong() {
        let ok = "kubernetes = \"v1.37.2\"\netcd = \"v3.7.0\"\nloki = \"v3.7.8\"\n";
        let cases = [
            (
                format!("{ok}nginx = \"1.22\"\n"),
                "line 4: unknown tool `nginx`",
            ),
            (
                format!("{ok}loki = \"v3.7.9\"\n"),
                "line 4: `loki` is pinned twice",
            ),
            (
                ok.replace("\"v3.7.0\"", "v3.7.0"),
                "line 2: the value of `etcd`",
            ),
            (
                ok.replace("v3.7.0", "3.7.0"),
                "line 2: `etcd`: `3.7.0` is not a release",
            ),
            (
                ok.replace("v3.7.0", "v3.7"),
                "line 2: `etcd`: `v3.7` is not a release",
            ),
            (ok.replace("v3.7.8", "v3.7.8-rc.1"), "line 3: `loki`"),
            (
                ok.replace("etcd =", "etcd"),
                "line 2: expected `name = \"version\"`",
            ),
            (
                ok.replace("\"v1.37.2\"", "\"v1.37.2\" trailing"),
                "line 1: the value of `kubernetes`",
            ),
            (
                ok.replace("etcd = \"v3.7.0\"\n", ""),
                "`etcd` is not pinned",
            ),
        ];
        for (text, want) in cases {
            let error = parse(&text).unwrap_err();
            assert!(error.starts_with(want), "{text:?}: {error}");
        }
    }

    #[test]
    fn staging_modules_follow_the_kubernetes_release() {
        assert_eq!(staging_version("v1.37.2").as_deref(), Some("v0.37.2"));
        assert_eq!(staging_version("v1.30.0").as_deref(), Some("v0.30.0"));
        assert_eq!(staging_version("v2.0.0"), None);
        assert_eq!(staging_version("v1.37"), None);
    }

    #[test]
    fn versions_are_read_from_what_each_tool_prints() {
        let cases = [
            ("Kubernetes v1.37.2\n", "1.37.2"),
            (
                "etcd Version: 3.7.0\nGit SHA: Not provided\nGo Version: go1.26.8\n",
                "3.7.0",
            ),
            (
                "loki, version 3.7.8 (branch: , revision: )\n  build user: \n",
                "3.7.8",
            ),
            (
                "Client Version: v1.37.2\nKustomize Version: v5.8.1\n",
                "1.37.2",
            ),
            ("nginx version: nginx/1.22.1\n", "1.22.1"),
            ("Kubernetes v1.37.2-dirty\n", "1.37.2-dirty"),
        ];
        for (output, want) in cases {
            assert_eq!(version_in(output).as_deref(), Some(want), "{output:?}");
        }
        assert_eq!(version_in("usage: loki [flags]"), None);
        assert!(matches_pin("Kubernetes v1.37.2\n", "v1.37.2"));
        assert!(matches_pin("etcd Version: 3.7.0\n", "v3.7.0"));
        assert!(!matches_pin("Kubernetes v1.37.20\n", "v1.37.2"));
        assert!(!matches_pin("Kubernetes v1.37.2-dirty\n", "v1.37.2"));
        assert!(!matches_pin("no version", "v1.37.2"));
    }

    #[test]
    fn go_versions_compare_as_numbers() {
        assert_eq!(go_version("go1.26.8"), Some((1, 26, 8)));
        assert_eq!(go_version("1.26"), Some((1, 26, 0)));
        assert_eq!(go_version("1.26.5"), Some((1, 26, 5)));
        assert_eq!(go_version("go1.27rc1"), Some((1, 27, 0)));
        assert_eq!(go_version("devel go1.27-abcdef"), None);
        assert!(go_version("go1.26.10") > go_version("1.26.5"));
        assert!(go_version("go1.9.0") < go_version("1.26"));
    }
}
