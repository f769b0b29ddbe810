//! Proof that the conformance scenarios can fail: each runs on a copy of deploy/ that is
//! broken the way an operator could break it, and must fail there while passing on an intact
//! copy. Run by `cargo test -p harness --test scenarios_can_fail`.

#[path = "steps/mod.rs"]
mod steps;

use std::path::{Path, PathBuf};

use cucumber::World as _;
use cucumber::writer::Stats as _;
use steps::{DEPLOY_DIR_OVERRIDE, E2e, workspace_root};

/// A way to break deploy/, and the scenario that must catch it.
struct Mutation {
    what: &'static str,
    file: &'static str,
    from: &'static str,
    to: &'static str,
    scenario: &'static str,
}

const MUTATIONS: &[Mutation] = &[
    Mutation {
        what: "`watch` removed from the ClusterRole",
        file: "base/clusterrole.yaml",
        from: "verbs: [get, list, watch]\n  - apiGroups: [events.k8s.io]",
        to: "verbs: [get, list]\n  - apiGroups: [events.k8s.io]",
        scenario: "The shipped ClusterRole is enough to ship events",
    },
    Mutation {
        what: "the Secret's password changed (Loki's gateway keeps the real one)",
        file: "secret.example.yaml",
        from: "PASSWORD: change-me",
        to: "PASSWORD: changed-by-mistake",
        scenario: "The Secret's values reach Loki as basic auth and the tenant header",
    },
    Mutation {
        what: "the Loki CA dropped from the config",
        file: "base/configmap.yaml",
        from: "          ca_file: /etc/loki-ca/ca.crt\n",
        to: "",
        scenario: "https with a CA-signed certificate and the CA in ca_file",
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

/// Runs one scenario (by name) against `deploy`; returns whether it passed.
async fn scenario_passes(deploy: &Path, scenario: &'static str) -> Result<bool, String> {
    if let Ok(mut o) = DEPLOY_DIR_OVERRIDE.lock() {
        *o = Some(deploy.display().to_string());
    }
    let writer = E2e::cucumber()
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
    Ok(!writer.execution_has_failed())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (mut passed, mut failed) = (0, 0);
    for (i, m) in MUTATIONS.iter().enumerate() {
        let outcome = async {
            let intact = deploy_copy(&format!("intact-{i}"), None)?;
            if !scenario_passes(&intact, m.scenario).await? {
                return Err(format!(
                    "{:?} fails on an intact deploy/: fix that first",
                    m.scenario
                ));
            }
            let broken = deploy_copy(&format!("broken-{i}"), Some(m))?;
            let result = scenario_passes(&broken, m.scenario).await?;
            let _ = std::fs::remove_dir_all(&intact);
            let _ = std::fs::remove_dir_all(&broken);
            if result {
                Err(format!(
                    "{:?} still passes with {}: it cannot catch that",
                    m.scenario, m.what
                ))
            } else {
                Ok(())
            }
        }
        .await;
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("ok: {:?} fails with {}", m.scenario, m.what);
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
