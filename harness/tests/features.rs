//! Runs `features/*.feature` on the `sim` environment: `cargo test -p harness --test features`.
//! Filter with cucumber's own flags after `--`, e.g. `-- --tags @sim-only` or `-- -n "TLS"`.

mod steps;

use cucumber::World as _;
use steps::E2e;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let features = steps::workspace_root().join("features");
    E2e::cucumber()
        // Each scenario runs its own servers and collector process on free ports.
        .max_concurrent_scenarios(4)
        .fail_on_skipped()
        .after(|_feature, _rule, _scenario, _finished, world| {
            Box::pin(async move {
                if let Some(world) = world {
                    world.finish().await;
                }
            })
        })
        .run_and_exit(features)
        .await;
}
