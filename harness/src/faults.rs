//! The faults of `resilience.feature`, and extra replicas, in either environment: the
//! simulators' scripted faults on `sim`, the real servers' (`local::faults`) on `local`.

use std::time::Duration;

use crate::collector::http_get;
use crate::env::Environment;
use crate::scenario::Replica;

impl Environment {
    /// "Loki answers `status` to the next `n` pushes" (with `Retry-After: s` when given).
    pub async fn loki_fail_next(
        &mut self,
        n: usize,
        status: u16,
        retry_after: Option<u64>,
    ) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => {
                sc.ensure_loki().await?;
                sc.loki()?.fail_next(n, status, retry_after);
                Ok(())
            }
            Environment::Local(_) if retry_after.is_some() => Err(format!(
                "Loki answering {status} with Retry-After to the next {n} pushes cannot be \
                 staged on local: a real Loki cannot be told to"
            )),
            Environment::Local(sc) => sc.loki_fail_next(n, status),
        }
    }

    /// "Loki is down": connections refused (sim), the Loki process killed (local).
    pub async fn loki_down(&mut self) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => {
                sc.ensure_loki().await?;
                sc.loki()?.set_down(true);
                Ok(())
            }
            Environment::Local(sc) => sc.loki_down(),
        }
    }

    /// "Loki is up again".
    pub async fn loki_up(&mut self) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => {
                let loki = sc.loki()?;
                loki.set_down(false);
                if loki.is_down() {
                    return Err("the simulated Loki cannot listen on its port again".into());
                }
                Ok(())
            }
            Environment::Local(sc) => sc.loki_up().await,
        }
    }

    /// "Loki answers slowly, taking `per_push` per push".
    pub async fn loki_slow(&mut self, per_push: Duration) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => {
                sc.ensure_loki().await?;
                sc.loki()?.set_delay(per_push);
                Ok(())
            }
            Environment::Local(sc) => sc.loki_slow(per_push),
        }
    }

    /// "The API server closes every watch": ended cleanly (sim); the real API server restarted
    /// (local), returning once it is ready.
    pub async fn api_close_watches(&mut self) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => {
                sc.api.close_watches();
                Ok(())
            }
            Environment::Local(sc) => sc.restart_api_server().await,
        }
    }

    /// "The API server answers `status` to the next `n` list or watch requests": scripted
    /// (sim); on local the collector is kept off the API server until the history is
    /// compacted (see [`crate::local::LocalScenario::hold_collector_off_the_api`]).
    pub async fn api_fail_next(&mut self, n: usize, status: u16) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => {
                sc.api.fail_next(n, status);
                Ok(())
            }
            Environment::Local(sc) => sc.hold_collector_off_the_api(),
        }
    }

    /// "The API server compacts its history".
    pub async fn api_compact(&mut self) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => {
                sc.api.compact();
                Ok(())
            }
            Environment::Local(sc) => sc.compact().await,
        }
    }

    /// SIGTERM to the collector.
    pub fn terminate_collector(&self) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => sc
                .collector
                .as_ref()
                .ok_or("no collector running")?
                .terminate()
                .map_err(|e| format!("SIGTERM to the collector: {e}")),
            Environment::Local(sc) => sc.terminate_collector(),
        }
    }

    /// Whether the collector re-listed: its own `relists_total` says so, and on `local` the
    /// API server's audit log shows a LIST of events after the first.
    pub async fn relisted(&self) -> Result<(), String> {
        let metrics = self.metrics().await;
        let relists: f64 = metrics
            .lines()
            .filter(|l| l.starts_with("k8s_event_collector_receiver_relists_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if relists < 1.0 {
            return Err(format!("no re-list in /metrics:\n{metrics}"));
        }
        if let Environment::Local(sc) = self {
            let lists = sc.event_lists();
            if lists < 2 {
                let requests: Vec<String> = sc
                    .collector_requests()
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                return Err(format!(
                    "the audit log shows {lists} LIST of events by the collector, not a re-list:\n{}",
                    requests.join("\n")
                ));
            }
        }
        Ok(())
    }

    /// Starts replica `name` of the Deployment (own ports and storage, `POD_NAME`).
    pub async fn start_replica(&mut self, name: &str) -> Result<(), String> {
        match self {
            Environment::Sim(sc) => sc.start_replica(name).await,
            Environment::Local(sc) => sc.start_replica(name).await,
        }
    }

    /// The running replicas' names.
    pub fn replica_names(&self) -> Vec<String> {
        match self {
            Environment::Sim(sc) => sc.replicas.keys().cloned().collect(),
            Environment::Local(sc) => sc.faults.replicas.keys().cloned().collect(),
        }
    }

    /// Whether replica `name` answers `/readyz` with 200 (else what it answered).
    pub async fn replica_ready(&self, name: &str) -> Result<(), String> {
        let replica = match self {
            Environment::Sim(sc) => sc.replicas.get(name),
            Environment::Local(sc) => sc.faults.replicas.get(name),
        }
        .ok_or_else(|| format!("no replica {name}"))?;
        match http_get(&replica.health_address, "/readyz").await {
            Ok((200, _)) => Ok(()),
            other => Err(format!("replica {name}: /readyz {other:?}")),
        }
    }

    /// Replica `name`'s `/metrics` (empty when it does not answer).
    pub async fn replica_metrics(&self, name: &str) -> String {
        match self {
            Environment::Sim(sc) => sc.replica_metrics(name).await,
            Environment::Local(sc) => sc.replica_metrics(name).await,
        }
    }

    /// The running replicas' log lines, each prefixed with its name.
    pub fn replica_log(&self) -> Vec<String> {
        match self {
            Environment::Sim(sc) => sc.replica_log(),
            Environment::Local(sc) => sc.faults.replica_log(),
        }
    }

    /// Takes replica `name` out of the running ones, to stop it; [`Environment::keep_log`]
    /// its log afterwards.
    pub fn take_replica(&mut self, name: &str) -> Result<Replica, String> {
        match self {
            Environment::Sim(sc) => sc
                .replicas
                .remove(name)
                .ok_or_else(|| format!("no replica {name:?} is running")),
            Environment::Local(sc) => sc.take_replica(name),
        }
    }

    /// Keeps the log lines of a process that stopped, for the scenario's log.
    pub fn keep_log(&mut self, lines: Vec<String>) {
        match self {
            Environment::Sim(sc) => sc.earlier_logs.extend(lines),
            Environment::Local(sc) => sc.earlier_logs.extend(lines),
        }
    }

    /// Entries Loki received in accepted pushes, and entries it stores: equal unless an
    /// entry was pushed twice. Sim: its own counts. Local: `loki_distributor_lines_received_total`
    /// (counted before the ingester drops an entry identical in timestamp and line to one it
    /// holds, which a query would never show) and what `query_range` returns.
    pub async fn entries_pushed_and_stored(&self) -> Result<(usize, usize), String> {
        match self {
            Environment::Sim(sc) => Ok(sc.loki()?.entry_counts()),
            Environment::Local(sc) => {
                let received = sc.loki_lines_received().await?;
                let stored = self.stored_count(None).await?;
                Ok((received, stored))
            }
        }
    }
}
