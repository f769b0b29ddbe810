//! Faults on the real servers of a [`LocalScenario`], for `resilience.feature`:
//!
//! | step | what really happens |
//! |---|---|
//! | Loki is down / up again | the Loki process is SIGKILLed (nginx answers 502) and started again with the same ports and data directory |
//! | Loki answers 500 to the next N pushes | nginx's user file is swapped for a symlink loop: nginx answers a real `500 Internal Server Error` (it cannot read the file) until its access log shows N such pushes, then the file is put back |
//! | Loki answers slowly, N second(s) per push | Loki is CPU-starved: SIGSTOPped for N s, SIGCONTed for a slice, over and over, as a container throttled by its CPU limit is |
//! | the API server closes every watch | kube-apiserver is SIGKILLed and started again (same port, certificates, keys, etcd): every connection ends |
//! | the API server answers 503 to the next N list or watch requests | the collector is frozen (SIGSTOP) until the history is compacted (see [`LocalScenario::hold_collector_off_the_api`]) |
//! | the API server compacts its history | etcd is compacted (physically) at its current revision, through its v3 HTTP gateway |
//! | replicas, the leader killed or stopped | more collector processes with their own ports and storage, on a real Lease |
//!
//! What a real server cannot be told (answer exactly the next N pushes with 429 and a
//! Retry-After) stays with the simulator: see the reasons in `harness/tests/features.rs`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::LocalScenario;
use super::process::signal_pid;
use crate::collector::{CollectorProcess, http_get};
use crate::scenario::Replica;

/// A background task that is stopped when dropped (a `JoinHandle` alone would detach it).
#[derive(Debug)]
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The faults in progress and the extra replicas of one local scenario.
#[derive(Debug, Default)]
pub struct LocalFaults {
    /// Extra replicas of the Deployment (leader election), by pod name.
    pub replicas: BTreeMap<String, Replica>,
    /// Stops and continues Loki over and over ("answers slowly").
    slow_loki: Option<Task>,
    /// Puts nginx's user file back after N answers of 500.
    failing_gateway: Option<Task>,
    /// The collector is SIGSTOPped until the API server's history is compacted.
    collector_held: bool,
    /// Pushes the gateway had answered 5xx when Loki went down.
    failed_pushes_before_down: usize,
}

impl LocalFaults {
    /// Every log line of the running replicas, each prefixed with the replica's name.
    pub fn replica_log(&self) -> Vec<String> {
        crate::scenario::replica_log(&self.replicas)
    }
}

/// The push path's 500 answers in nginx's access log (tab-separated: msec, status, method, uri).
fn gateway_500s(access_log: &Path) -> usize {
    std::fs::read_to_string(access_log)
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            fields.get(1) == Some(&"500") && fields.get(3) == Some(&crate::sim::loki::PUSH_PATH)
        })
        .count()
}

/// Replaces `path` atomically with `text` (write a sibling, rename over).
fn replace_file(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("restored");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

impl LocalScenario {
    /// "Loki is down": SIGKILL. nginx stays up and answers 502 (connection refused upstream),
    /// as a gateway does while its Loki is gone.
    pub fn loki_down(&mut self) -> Result<(), String> {
        if self.loki.server.exited().is_some() {
            return Err("Loki is already down".into());
        }
        self.faults.failed_pushes_before_down = self
            .nginx
            .pushes()
            .iter()
            .filter(|p| p.status >= 500)
            .count();
        self.loki.server.kill();
        Ok(())
    }

    /// "Loki is up again": once the gateway has answered a push 502 since Loki went down (the
    /// collector met the fault; an error after 30 s without), the same command again (same
    /// ports, config and data directory); returns once `/ready` is 200.
    pub async fn loki_up(&mut self) -> Result<(), String> {
        if self.loki.server.exited().is_none() {
            return Err("Loki is not down: nothing to bring up".into());
        }
        // Up only once the collector has met the fault: a push answered 502 by the gateway.
        let failed = |sc: &LocalScenario| {
            sc.nginx.pushes().iter().filter(|p| p.status >= 500).count()
                > sc.faults.failed_pushes_before_down
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !failed(self) {
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "the collector pushed nothing while Loki was down (30 s): the fault was not \
                     met; the gateway's answers: {:?}",
                    self.nginx.statuses()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.loki.server.restart()?;
        self.loki.wait_ready(Duration::from_secs(60)).await
    }

    /// "Loki answers 500 to the next `n` pushes": nginx, in front of Loki, cannot read its
    /// basic-auth user file (here: a symlink to itself, ELOOP) and answers every request with a
    /// real 500. A task watches the access log and puts the file back, atomically, once it
    /// shows `n` pushes answered 500 (a push racing that moment may get one more 500).
    /// Only 500: what a real gateway answers for that fault; nothing real answers another
    /// status to a chosen number of pushes.
    pub fn loki_fail_next(&mut self, n: usize, status: u16) -> Result<(), String> {
        if status != 500 {
            return Err(format!(
                "Loki answering {status} to the next {n} pushes cannot be staged on local \
                 (only 500, from nginx unable to read its user file)"
            ));
        }
        let access_log = self.nginx.access_log_path();
        let prefix = access_log
            .parent()
            .map(Path::to_path_buf)
            .ok_or("nginx's access log has no folder")?;
        let htpasswd = prefix.join("htpasswd");
        let kept = std::fs::read_to_string(&htpasswd)
            .map_err(|e| format!("{}: {e}", htpasswd.display()))?;
        let before = gateway_500s(&access_log);
        let broken = prefix.join("htpasswd.loop");
        let _ = std::fs::remove_file(&broken);
        // Relative: once renamed to `htpasswd`, the link points at itself.
        std::os::unix::fs::symlink("htpasswd", &broken)
            .map_err(|e| format!("{}: {e}", broken.display()))?;
        std::fs::rename(&broken, &htpasswd).map_err(|e| format!("{}: {e}", htpasswd.display()))?;
        self.faults.failing_gateway = Some(Task(tokio::spawn(async move {
            while gateway_500s(&access_log) < before + n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if let Err(e) = replace_file(&htpasswd, &kept) {
                eprintln!("putting nginx's user file back: {e}");
            }
        })));
        Ok(())
    }

    /// "Loki answers slowly, taking `per_push` per push": Loki runs a 100 ms slice, then is
    /// SIGSTOPped for `per_push`, over and over until the scenario ends (a CPU-throttled
    /// container): a push waits up to `per_push` (more when it needs several slices), its
    /// connection held open by nginx meanwhile.
    pub fn loki_slow(&mut self, per_push: Duration) -> Result<(), String> {
        let pid = self.loki.server.pid().ok_or("Loki is not running")?;
        self.faults.slow_loki = Some(Task(tokio::spawn(async move {
            loop {
                if signal_pid(pid, "STOP").is_err() {
                    return;
                }
                tokio::time::sleep(per_push).await;
                if signal_pid(pid, "CONT").is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })));
        Ok(())
    }

    /// "The API server closes every watch": kube-apiserver is SIGKILLed and started again with
    /// the same flags, port, certificates, service-account keys and etcd; returns once
    /// `/readyz` is 200. The harness's own client is made anew (its connections died too).
    pub async fn restart_api_server(&mut self) -> Result<(), String> {
        self.api.server.restart()?;
        self.api.wait_ready(Duration::from_secs(90)).await?;
        self.client = super::kube::admin_client(&self.api.kubeconfig).await?;
        Ok(())
    }

    /// "The API server answers 503 to the next N list or watch requests". A real API server
    /// cannot be told to fail one client's next N requests; what those failures do in the
    /// scenario is keep the collector from watching while the history moves on and is
    /// compacted, so that its next watch, from its old position, gets 410 Gone. That is staged
    /// by freezing the collector (SIGSTOP): it makes none of its next requests until
    /// [`LocalScenario::compact`] lets it go on (SIGCONT), after the restart ("closes every
    /// watch") has cut its connection and etcd has been compacted.
    pub fn hold_collector_off_the_api(&mut self) -> Result<(), String> {
        let pid = self
            .collector
            .as_ref()
            .and_then(CollectorProcess::pid)
            .ok_or("no collector running to keep off the API server")?;
        signal_pid(pid, "STOP")?;
        self.faults.collector_held = true;
        Ok(())
    }

    /// "The API server compacts its history": etcd's current revision (from a range request's
    /// header) is compacted physically through etcd's v3 HTTP gateway, as kube-apiserver's own
    /// compactor does every 5 minutes; a watch from an older resourceVersion then gets 410
    /// Gone. A collector frozen by [`LocalScenario::hold_collector_off_the_api`] goes on.
    pub async fn compact(&mut self) -> Result<(), String> {
        let http = super::loki::http_client()?;
        let post = |path: &'static str, body: Value| {
            let url = format!("{}{path}", self.etcd.url);
            let request = http
                .post(&url)
                .header("content-type", "application/json")
                .body(body.to_string());
            async move {
                let response = request
                    .send()
                    .await
                    .map_err(|e| format!("POST {url}: {e}"))?;
                let status = response.status().as_u16();
                let text = response
                    .text()
                    .await
                    .map_err(|e| format!("POST {url}: {e}"))?;
                let answer: Value = serde_json::from_str(&text)
                    .map_err(|e| format!("POST {url}: {status} {text}: {e}"))?;
                if status == 200 {
                    Ok(answer)
                } else {
                    Err(format!("POST {url}: {status} {text}"))
                }
            }
        };
        // Any key: the header carries the store's revision.
        let range = post("/v3/kv/range", json!({"key": "L3JlZ2lzdHJ5"})).await?;
        let revision = range["header"]["revision"]
            .as_str()
            .and_then(|r| r.parse::<u64>().ok())
            .ok_or_else(|| format!("etcd's range answer has no header.revision: {range}"))?;
        post(
            "/v3/kv/compaction",
            json!({"revision": revision.to_string(), "physical": true}),
        )
        .await
        .map_err(|e| format!("compacting etcd at revision {revision}: {e}"))?;
        self.release_collector()
    }

    /// SIGCONT for a collector frozen by [`LocalScenario::hold_collector_off_the_api`].
    pub fn release_collector(&mut self) -> Result<(), String> {
        if !std::mem::take(&mut self.faults.collector_held) {
            return Ok(());
        }
        let pid = self
            .collector
            .as_ref()
            .and_then(CollectorProcess::pid)
            .ok_or("the frozen collector is gone")?;
        signal_pid(pid, "CONT")
    }

    /// SIGTERM to the collector, as the kubelet sends when a pod stops.
    pub fn terminate_collector(&self) -> Result<(), String> {
        self.collector
            .as_ref()
            .ok_or("no collector running")?
            .terminate()
            .map_err(|e| format!("SIGTERM to the collector: {e}"))
    }

    /// The collector's LISTs of events in the audit log (the first, and every re-list).
    pub fn event_lists(&self) -> usize {
        self.collector_requests()
            .iter()
            .filter(|r| {
                r.verb == "list" && r.uri.split('?').next().unwrap_or("").ends_with("/events")
            })
            .count()
    }

    /// Starts replica `name` (its pod name): the deployed config with this replica's own listen
    /// ports and checkpoint directory, and `POD_NAME` set as the Downward API would.
    pub async fn start_replica(&mut self, name: &str) -> Result<(), String> {
        if self.faults.replicas.contains_key(name) {
            return Err(format!("replica {name} is already running"));
        }
        self.apply_secret().await?;
        let (shared_config, env) = self.mount().await?;
        let replica = Replica::start(&self.dir, name, &shared_config, env)?;
        self.faults.replicas.insert(name.to_owned(), replica);
        Ok(())
    }

    /// Removes replica `name` from the running ones, to stop it.
    pub fn take_replica(&mut self, name: &str) -> Result<Replica, String> {
        self.faults
            .replicas
            .remove(name)
            .ok_or_else(|| format!("no replica {name:?} is running"))
    }

    /// Replica `name`'s `/metrics` text (empty when it does not answer).
    pub async fn replica_metrics(&self, name: &str) -> String {
        let Some(replica) = self.faults.replicas.get(name) else {
            return String::new();
        };
        http_get(&replica.metrics_address, "/metrics")
            .await
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// Entries Loki's distributors received since Loki started, all tenants
    /// (`loki_distributor_lines_received_total`): every entry of every accepted push, counted
    /// before the ingester drops an identical (timestamp, line) it already holds.
    pub async fn loki_lines_received(&self) -> Result<usize, String> {
        let url = format!("{}/metrics", self.loki.url());
        let request = super::loki::http_client()?.get(&url);
        let (status, body) = super::loki::get_text(request, &url).await?;
        if status != 200 {
            return Err(format!("GET {url}: {status}"));
        }
        let total: f64 = body
            .lines()
            .filter(|l| l.starts_with("loki_distributor_lines_received_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        // A count: whole and far below 2^52.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(total as usize)
    }
}
