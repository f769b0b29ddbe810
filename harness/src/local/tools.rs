//! Where the `local` environment finds its servers: the rule of `cargo xtask tools`
//! (`xtask/src/tools.rs`): `$HARNESS_TOOLS_DIR` (binaries by name), else
//! `$XDG_CACHE_HOME/k8s-event-collector/tools/bin`, else `~/.cache/k8s-event-collector/tools/bin`;
//! nginx may also be on `PATH` or at `/usr/sbin/nginx`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The binaries the `local` environment runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub kube_apiserver: PathBuf,
    pub etcd: PathBuf,
    pub loki: PathBuf,
    pub kubectl: PathBuf,
    pub nginx: PathBuf,
}

/// The tools directory for this process's environment.
pub fn tools_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("HARNESS_TOOLS_DIR").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let absolute = |v: Option<std::ffi::OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    let base = absolute(std::env::var_os("XDG_CACHE_HOME"))
        .or_else(|| absolute(std::env::var_os("HOME")).map(|h| h.join(".cache")))
        .ok_or("local: neither HARNESS_TOOLS_DIR, XDG_CACHE_HOME nor HOME is set: run `cargo xtask tools`")?;
    Ok(base.join("k8s-event-collector").join("tools").join("bin"))
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Tools {
    /// Finds every tool, or says in one line which is missing and what to run.
    pub fn find() -> Result<Tools, String> {
        Tools::find_in(&tools_dir()?)
    }

    pub fn find_in(dir: &Path) -> Result<Tools, String> {
        let missing: Vec<&str> = ["kube-apiserver", "etcd", "loki", "kubectl"]
            .into_iter()
            .filter(|name| !executable(&dir.join(name)))
            .collect();
        let nginx = [dir.join("nginx"), PathBuf::from("/usr/sbin/nginx")]
            .into_iter()
            .chain(
                std::env::var_os("PATH")
                    .iter()
                    .flat_map(std::env::split_paths)
                    .map(|p| p.join("nginx")),
            )
            .find(|p| executable(p));
        let mut missing: Vec<String> = missing.into_iter().map(str::to_owned).collect();
        if nginx.is_none() {
            missing.push("nginx".into());
        }
        if !missing.is_empty() {
            return Err(format!(
                "local: {} missing in {}: run `cargo xtask tools` (or set HARNESS_TOOLS_DIR)",
                missing.join(", "),
                dir.display()
            ));
        }
        Ok(Tools {
            kube_apiserver: dir.join("kube-apiserver"),
            etcd: dir.join("etcd"),
            loki: dir.join("loki"),
            kubectl: dir.join("kubectl"),
            nginx: nginx.unwrap_or_default(),
        })
    }

    /// Each server's version, as it reports it (`kube-apiserver v1.37.2`, ...).
    pub fn versions(&self) -> Vec<(String, String)> {
        let first_line = |bin: &Path, args: &[&str]| -> String {
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
                .unwrap_or_else(|e| format!("cannot run: {e}"))
        };
        vec![
            (
                "kube-apiserver".into(),
                first_line(&self.kube_apiserver, &["--version"]),
            ),
            ("etcd".into(), first_line(&self.etcd, &["--version"])),
            ("loki".into(), first_line(&self.loki, &["--version"])),
            (
                "kubectl".into(),
                first_line(&self.kubectl, &["version", "--client"]),
            ),
            ("nginx".into(), first_line(&self.nginx, &["-v"])),
        ]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_is_one_line_naming_the_command() {
        let dir = std::env::temp_dir().join(format!("kec-no-tools-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = Tools::find_in(&dir).unwrap_err();
        assert!(
            err.starts_with("local: kube-apiserver, etcd, loki, kubectl"),
            "{err}"
        );
        assert!(err.contains("run `cargo xtask tools`"), "{err}");
        assert_eq!(err.lines().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
