//! The `local` environment end to end, on real servers: an event created through the real
//! kube-apiserver reaches the real Loki through the collector and nginx, and `query_range`
//! finds it. Needs the tools of `cargo xtask tools`, so it is ignored by default:
//!
//! ```sh
//! cargo build -p k8s-event-collector
//! cargo test -p harness --test local_env -- --ignored --nocapture
//! ```
//!
//! Without the tools it fails with one line naming `cargo xtask tools`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

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
