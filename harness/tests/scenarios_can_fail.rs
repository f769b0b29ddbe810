//! Proof that the conformance scenarios can fail: each runs on a copy of deploy/ that is
//! broken the way an operator could break it, and must fail there while passing on an intact
//! copy, and its failure must show why (for the ClusterRole without `watch`, the API server's
//! own 403 text). Run by `cargo test -p harness --test scenarios_can_fail`; with
//! `HARNESS_ENV=local` on the real servers (`cargo xtask ci` does both).

#[path = "steps/mod.rs"]
mod steps;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cucumber::writer::{self, Coloring, Stats as _};
use cucumber::{World as _, WriterExt as _};
use steps::{DEPLOY_DIR_OVERRIDE, E2e, workspace_root};

/// A way to break deploy/, and the scenario that must catch it.
struct Mutation {
    what: &'static str,
    file: &'static str,
    from: &'static str,
    to: &'static str,
    scenario: &'static str,
    /// Text the failed run's output must show: the reason, as the server or collector says it.
    says: &'static str,
}

const MUTATIONS: &[Mutation] = &[
    Mutation {
        what: "`watch` removed from the ClusterRole",
        file: "base/clusterrole.yaml",
        from: "verbs: [get, list, watch]\n  - apiGroups: [events.k8s.io]",
        to: "verbs: [get, list]\n  - apiGroups: [events.k8s.io]",
        scenario: "The shipped ClusterRole is enough to ship events",
        // The API server's RBAC denial, as kube-apiserver words it (the sim copies it).
        says: "cannot watch resource \"events\" in API group \"\" at the cluster scope",
    },
    Mutation {
        what: "the Secret's password changed (Loki's gateway keeps the real one)",
        file: "secret.example.yaml",
        from: "PASSWORD: change-me",
        to: "PASSWORD: changed-by-mistake",
        scenario: "The Secret's values reach Loki as basic auth and the tenant header",
        says: "rejected the credentials",
    },
    Mutation {
        what: "the Loki CA dropped from the config",
        file: "base/configmap.yaml",
        from: "          ca_file: /etc/loki-ca/ca.crt\n",
        to: "",
        scenario: "https with a CA-signed certificate and the CA in ca_file",
        says: "certificate not trusted",
    },
];

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// A fresh copy of deploy/, with `mutation` applied when given.
fn deploy_copy(name: &str, mutation: Option<&Mutation>) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("kec-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&workspace_root().join("deploy"), &dir).map_err(|e| e.to_string())?;
    if let Some(m) = mutation {
        let path = dir.join(m.file);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !text.contains(m.from) {
            return Err(format!(
                "deploy/{} no longer contains {:?}: update this test",
                m.file, m.from
            ));
        }
        std::fs::write(&path, text.replacen(m.from, m.to, 1)).map_err(|e| e.to_string())?;
    }
    Ok(dir)
}

/// Cucumber's console output, kept to check what a failed run said.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Ok(mut out) = self.0.lock() {
            out.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        self.0
            .lock()
            .map(|out| String::from_utf8_lossy(&out).into_owned())
            .unwrap_or_default()
    }
}

/// Runs one scenario (by name) against `deploy`; returns whether it passed, and its output.
async fn run_scenario(deploy: &Path, scenario: &'static str) -> Result<(bool, String), String> {
    if let Ok(mut o) = DEPLOY_DIR_OVERRIDE.lock() {
        *o = Some(deploy.display().to_string());
    }
    let output = Captured::default();
    let writer = E2e::cucumber()
        .with_writer(
            writer::Basic::raw(output.clone(), Coloring::Never, 0)
                .summarized()
                .normalized(),
        )
        .fail_on_skipped()
        .after(|_, _, _, _, world| {
            Box::pin(async move {
                if let Some(world) = world {
                    world.finish().await;
                }
            })
        })
        .filter_run(workspace_root().join("features"), move |_, _, sc| {
            sc.name == scenario
        })
        .await;
    if writer.scenarios_stats().total() != 1 {
        return Err(format!(
            "found {} scenarios named {scenario:?}",
            writer.scenarios_stats().total()
        ));
    }
    Ok((!writer.execution_has_failed(), output.text()))
}

/// The lines of `output` that contain `text`, to show the reason a run failed.
fn lines_with<'a>(output: &'a str, text: &str) -> Vec<&'a str> {
    output
        .lines()
        .filter(|l| l.contains(text))
        .map(str::trim)
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (mut passed, mut failed) = (0, 0);
    for (i, m) in MUTATIONS.iter().enumerate() {
        let outcome = async {
            let intact = deploy_copy(&format!("intact-{i}"), None)?;
            let (passed, output) = run_scenario(&intact, m.scenario).await?;
            if !passed {
                return Err(format!(
                    "{:?} fails on an intact deploy/: fix that first\n{output}",
                    m.scenario
                ));
            }
            let broken = deploy_copy(&format!("broken-{i}"), Some(m))?;
            let (passed, output) = run_scenario(&broken, m.scenario).await?;
            let _ = std::fs::remove_dir_all(&intact);
            let _ = std::fs::remove_dir_all(&broken);
            let shown = lines_with(&output, m.says);
            if passed {
                Err(format!(
                    "{:?} still passes with {}: it cannot catch that",
                    m.scenario, m.what
                ))
            } else if shown.is_empty() {
                Err(format!(
                    "{:?} fails with {}, but its output does not say {:?}:\n{output}",
                    m.scenario, m.what, m.says
                ))
            } else {
                Ok(shown.join("\n    "))
            }
        }
        .await;
        match outcome {
            Ok(shown) => {
                passed += 1;
                println!(
                    "ok on {}: {:?} fails with {}; its output says:\n    {shown}",
                    steps::kind().name(),
                    m.scenario,
                    m.what
                );
            }
            Err(e) => {
                failed += 1;
                println!("FAILED: {e}");
            }
        }
    }
    println!("\nscenarios_can_fail: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
