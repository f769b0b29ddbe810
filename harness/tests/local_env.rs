//! The `local` environment end to end, on real servers: an event created through the real
//! kube-apiserver reaches the real Loki through the collector and nginx, and `query_range`
//! finds it; and the payload scenarios store on the real Loki exactly what they store on the
//! sim. Needs the tools of `cargo xtask tools`, so it is ignored by default (`cargo xtask ci`
//! runs it):
//!
//! ```sh
//! cargo build -p k8s-event-collector
//! cargo test -p harness --test local_env -- --ignored --nocapture
//! ```
//!
//! Without the tools it fails with one line naming `cargo xtask tools`.

#[path = "steps/mod.rs"]
mod steps;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use harness::env::Kind;
use harness::local::LocalScenario;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real servers of `cargo xtask tools`"]
async fn one_event_end_to_end() {
    let began = Instant::now();
    let mut sc = match LocalScenario::start(&root()).await {
        Ok(sc) => sc,
        Err(e) => panic!("{e}"),
    };
    println!("bring-up: {:?}", sc.bring_up);
    for (tool, version) in sc.tools.versions() {
        println!("  {tool}: {version}");
    }
    let step = Instant::now();
    sc.deploy("deploy").await.unwrap_or_else(|e| panic!("{e}"));
    println!("deploy/ applied: {:?}", step.elapsed());
    sc.create_event("shop", "web-1.a", "BackOff", "Warning")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sc.config_changes.push(harness::scenario::ConfigChange::Set(
        "/receivers/k8s_events/start_from".into(),
        serde_json::json!("all"),
    ));
    let step = Instant::now();
    sc.start_collector().await.unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let found = loop {
        let stored = sc
            .stored("tenant-a")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let found: Vec<String> = stored
            .iter()
            .flat_map(|s| {
                s.entries
                    .iter()
                    .map(move |e| format!("{} {}", s.labels, e.line))
            })
            .filter(|l| l.contains("web-1.a"))
            .collect();
        if !found.is_empty() || Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!("collector started -> found in Loki: {:?}", step.elapsed());
    let requests: Vec<String> = sc
        .collector_requests()
        .iter()
        .map(ToString::to_string)
        .collect();
    println!(
        "the collector's API requests (audit log):\n  {}",
        requests.join("\n  ")
    );
    println!("gateway pushes: {:?}", sc.nginx.statuses());
    assert_eq!(
        found.len(),
        1,
        "query_range found {found:?}\ncollector log:\n{}\nnginx:\n{}",
        sc.log().join("\n"),
        sc.nginx.error_log_tail(10)
    );
    println!("{}", found[0]);
    assert!(sc.ready().await, "the collector is not ready");
    assert!(
        !requests.is_empty(),
        "the audit log has no request of the collector"
    );
    sc.cleanup();
    println!("total: {:?}", began.elapsed());
}

/// The payload scenarios on sim and on local store the same streams, labels and lines: the
/// same `features/payloads.feature` runs on both, and each scenario's stored streams (times
/// replaced by placeholders, as for the snapshots) are compared directly, local against sim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real servers of `cargo xtask tools`"]
async fn payloads_on_local_equal_sim() {
    use std::collections::BTreeMap;

    let sim = stored_per_scenario(Kind::Sim).await;
    let local = stored_per_scenario(Kind::Local).await;
    assert!(
        sim.len() >= 6,
        "payloads.feature ran {} scenarios on sim",
        sim.len()
    );
    let names = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&sim), names(&local), "the scenarios that ran differ");
    let mut differ = Vec::new();
    for (scenario, on_sim) in &sim {
        let on_local = &local[scenario];
        assert!(
            on_sim.contains("labels:"),
            "{scenario}: sim stored nothing:\n{on_sim}"
        );
        if on_sim != on_local {
            differ.push(format!(
                "{scenario}\n--- sim\n{on_sim}\n--- local\n{on_local}"
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "what the real Loki returns differs from the sim's:\n{}",
        differ.join("\n")
    );
    println!(
        "{} payload scenarios: real Loki and the sim store the same streams",
        sim.len()
    );
}

/// Runs payloads.feature on `kind`; returns each scenario's stored streams, by `name:line`.
async fn stored_per_scenario(kind: Kind) -> std::collections::BTreeMap<String, String> {
    use cucumber::World as _;
    use cucumber::writer::Stats as _;
    use std::sync::{Arc, Mutex};

    if let Ok(mut k) = steps::KIND_OVERRIDE.lock() {
        *k = Some(kind);
    }
    let stored: Arc<Mutex<std::collections::BTreeMap<String, String>>> = Arc::default();
    let sink = stored.clone();
    let writer = steps::E2e::cucumber()
        .fail_on_skipped()
        // libtest's arguments (--ignored, ...) are not cucumber's.
        .with_cli(cucumber::cli::Opts::<_, _, _, cucumber::cli::Empty>::default())
        .max_concurrent_scenarios(2)
        .after(move |_, _, scenario, _, world| {
            let sink = sink.clone();
            Box::pin(async move {
                if let Some(world) = world {
                    let key = format!("{}:{}", scenario.name, scenario.position.line);
                    let text = match world.started() {
                        Ok(env) => env
                            .stored_yaml()
                            .await
                            .map(|t| steps::normalize(&t))
                            .unwrap_or_else(|e| format!("cannot read Loki: {e}")),
                        Err(e) => e,
                    };
                    if let Ok(mut all) = sink.lock() {
                        all.insert(key, text);
                    }
                    world.finish().await;
                }
            })
        })
        .run(root().join("features/payloads.feature"))
        .await;
    assert!(
        !writer.execution_has_failed(),
        "payloads.feature failed on {}",
        kind.name()
    );
    stored.lock().map(|s| s.clone()).unwrap_or_default()
}

/// A platform team's overlay (deploy/examples/platform-team) is read as `kubectl kustomize`
/// renders it: its env patch reaches the collector's environment, deploy/'s RBAC and config
/// come through, and the Secret example falls back to deploy/'s.
#[test]
#[ignore = "needs kubectl from `cargo xtask tools`"]
fn an_overlay_is_read_as_kustomize_renders_it() {
    let d = harness::deployment::Deployment::load(&root(), "deploy/examples/platform-team")
        .unwrap_or_else(|e| panic!("{e}"));
    let env = d.render_env("node-a");
    assert_eq!(
        env.get("LOKI_ENDPOINT").map(String::as_str),
        Some("https://loki.platform.example.com/loki/api/v1/push")
    );
    assert_eq!(env.get("LOKI_PASSWORD"), d.secret.get("PASSWORD"));
    assert!(
        d.rbac
            .iter()
            .any(|r| r["kind"] == "ClusterRole" && r["metadata"]["labels"]["team"] == "platform")
    );
    assert!(d.config.pointer("/exporters/loki").is_some());
    assert_eq!(
        d.service_account,
        "system:serviceaccount:otel:k8s-event-collector"
    );
}
