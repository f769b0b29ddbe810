//! The kind smoke flow: a real cluster, the collector image built from `deploy/Dockerfile` and
//! deployed with `deploy/`, a real multi-tenant Loki behind an nginx gateway (TLS, basic auth),
//! one event created with kubectl and read back from Loki with `query_range`.
//!
//! Until the steps drive kind as they drive sim, this is what `HARNESS_ENV=kind` runs. The
//! cluster is kept for the next run; the Loki and gateway containers are removed at the end,
//! whatever the outcome.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::cmd::Transcript;
use super::gateway::{self, LOKI_CONFIG};
use super::objects;
use super::plan::{CLUSTER, GATEWAY_CONTAINER, LOKI_CONTAINER, Plan, has_cluster};
use super::query::{self, FoundLine, LokiRequest};
use crate::certs::Certs;
use crate::deployment::Deployment;

/// How long Loki may take to become ready, and an event to show up in it.
const LOKI_READY_TIMEOUT: Duration = Duration::from_secs(120);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);
const POLL_EVERY: Duration = Duration::from_secs(2);

/// The namespace the smoke event is created in (the collector watches all of them).
const EVENT_NAMESPACE: &str = "default";

/// The Loki credentials `deploy/` gives the collector, from its Secret.
struct Credentials {
    tenant: String,
    user: String,
    password: String,
}

/// Runs the flow; `Ok` is the line Loki returned for the event.
pub async fn run(root: &Path, t: &mut Transcript) -> Result<FoundLine, String> {
    let deployment = Deployment::load(root, "deploy")?;
    let credentials = credentials(&deployment)?;
    let plan = Plan::new(root, &deployment.namespace);
    let ca_pem = write_files(&plan, &credentials)?;
    let since = unix_nanos().saturating_sub(60 * 1_000_000_000);

    let clusters = t.run(&plan.list_clusters()).await?;
    if has_cluster(&clusters, CLUSTER) {
        eprintln!(
            "kind: reusing cluster {CLUSTER} (`kind delete cluster --name {CLUSTER}` removes it)"
        );
    } else {
        t.run(&plan.create_cluster()).await?;
    }
    // Leftovers of an interrupted run hold the names; the cluster made the network they join.
    for name in [GATEWAY_CONTAINER, LOKI_CONTAINER] {
        t.run_allowing_failure(&plan.remove_container(name)).await;
    }
    let outcome = deliver(&plan, &deployment, &credentials, &ca_pem, since, t).await;
    if outcome.is_err() {
        diagnose(&plan, t).await;
    }
    for name in [GATEWAY_CONTAINER, LOKI_CONTAINER] {
        t.run_allowing_failure(&plan.remove_container(name)).await;
    }
    outcome
}

/// LOKI_TENANT, LOKI_USERNAME and LOKI_PASSWORD as the Deployment renders them from the Secret.
fn credentials(deployment: &Deployment) -> Result<Credentials, String> {
    let env = deployment.render_env("kind");
    let get = |name: &str| {
        env.get(name).cloned().ok_or_else(|| {
            format!("deploy/: the Deployment gives the collector no {name} (from the Secret)")
        })
    };
    Ok(Credentials {
        tenant: get("LOKI_TENANT")?,
        user: get("LOKI_USERNAME")?,
        password: get("LOKI_PASSWORD")?,
    })
}

/// Writes certificates, Loki's and nginx's configs, the htpasswd file and the overlay into
/// the plan's work folder; returns the CA for the `loki-ca` ConfigMap.
fn write_files(plan: &Plan, credentials: &Credentials) -> Result<String, String> {
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    std::fs::create_dir_all(plan.overlay_dir())
        .map_err(|e| format!("cannot create {}: {e}", plan.overlay_dir().display()))?;
    let certs = Certs::mint_for(&[GATEWAY_CONTAINER]).map_err(|e| e.to_string())?;
    certs.write_to(&plan.certs_dir()).map_err(|e| {
        format!(
            "cannot write certificates to {}: {e}",
            plan.certs_dir().display()
        )
    })?;
    write(&plan.loki_config(), LOKI_CONFIG)?;
    write(
        &plan.nginx_config(),
        &gateway::nginx_config(GATEWAY_CONTAINER, LOKI_CONTAINER),
    )?;
    write(
        &plan.htpasswd(),
        &gateway::htpasswd_line(&credentials.user, &credentials.password)?,
    )?;
    let overlay = objects::overlay(
        &plan.deploy_from_overlay(),
        &plan.namespace,
        &plan.endpoint(),
    );
    let overlay = serde_json::to_string_pretty(&overlay).map_err(|e| e.to_string())?;
    write(&plan.overlay_dir().join("kustomization.yaml"), &overlay)?;
    Ok(certs.ca_pem)
}

/// Containers, image, deployment, one event, and Loki read back.
async fn deliver(
    plan: &Plan,
    deployment: &Deployment,
    credentials: &Credentials,
    ca_pem: &str,
    since: u128,
    t: &mut Transcript,
) -> Result<FoundLine, String> {
    // Loki first: nginx resolves its upstream when it starts. Both warm up during the build.
    t.run(&plan.run_loki()).await?;
    t.run(&plan.run_gateway()).await?;
    t.run(&plan.build_image()).await?;
    t.run(&plan.load_image()).await?;

    t.run(&plan.apply_namespace()).await?;
    let secret_and_ca = objects::secret_and_ca(&plan.namespace, &deployment.secret, ca_pem);
    t.run(&plan.apply_objects(&secret_and_ca)).await?;
    t.run(&plan.apply_overlay()).await?;
    t.run(&plan.restart_collector()).await?;
    t.run(&plan.wait_for_collector()).await?;

    let address = t.run(&plan.loki_address()).await?;
    let base = query::published_base_url(&address)
        .ok_or_else(|| format!("`docker port {LOKI_CONTAINER}` printed no address"))?;
    let client = &http_client()?;
    let base = &base;
    poll(LOKI_READY_TIMEOUT, || async move {
        match get(client, &query::ready(base)).await? {
            (200, _) => Ok(Some(())),
            (status, body) => Err(format!("Loki is not ready: {status} {}", body.trim())),
        }
    })
    .await?;

    let id = format!("{:x}", unix_nanos());
    let name = format!("k8s-event-collector-e2e-{id}");
    let message = format!("k8s-event-collector e2e smoke {id}");
    t.run(&plan.create_event(&objects::event(EVENT_NAMESPACE, &name, &message)))
        .await?;

    let logql = &query::lines_containing(&credentials.tenant, &message);
    let (name, message) = (&name, &message);
    poll(DELIVERY_TIMEOUT, || async move {
        let request = query::query_range(
            base,
            &credentials.tenant,
            logql,
            since,
            unix_nanos() + 60 * 1_000_000_000,
        );
        match get(client, &request).await? {
            (200, body) => query::find_line(&body, message)?
                .map(Some)
                .ok_or_else(|| format!("event {name} is not in Loki (query `{logql}`)")),
            (status, body) => Err(format!("Loki answered {status}: {}", body.trim())),
        }
    })
    .await
}

/// What a failure report needs: the collector's log, the pods and events of its namespace,
/// and the gateway's and Loki's logs; each printed, none allowed to hide the failure.
async fn diagnose(plan: &Plan, t: &mut Transcript) {
    eprintln!("kind: diagnostics follow");
    for cmd in [
        plan.collector_logs(),
        plan.describe_pods(),
        plan.container_logs(GATEWAY_CONTAINER),
        plan.container_logs(LOKI_CONTAINER),
    ] {
        if let Some(out) = t.run_allowing_failure(&cmd).await {
            eprintln!("{out}");
        }
    }
}

/// Calls `check` until it returns `Ok(Some(_))` or `timeout` passes; the error is the last
/// one seen.
async fn poll<T, F, Fut>(timeout: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(Some(found)) => return Ok(found),
            Ok(None) => "nothing yet".to_owned(),
            Err(e) => e,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("after {timeout:?}: {last}"));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

fn http_client() -> Result<reqwest::Client, String> {
    // reqwest is built without a default crypto provider; even plain HTTP wants one set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))
}

/// Sends `request`; its status and body.
async fn get(client: &reqwest::Client, request: &LokiRequest) -> Result<(u16, String), String> {
    let mut builder = client.get(&request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let response = builder
        .send()
        .await
        .map_err(|e| format!("GET {}: {e}", request.url))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| format!("GET {}: {e}", request.url))?;
    Ok((status, body))
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_deploy_secret() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let deployment = Deployment::load(&root, "deploy").unwrap();
        let c = credentials(&deployment).unwrap();
        assert_eq!(Some(&c.tenant), deployment.secret.get("X-SCOPE-ORGID"));
        assert_eq!(Some(&c.user), deployment.secret.get("USER"));
        assert_eq!(Some(&c.password), deployment.secret.get("PASSWORD"));
    }

    #[test]
    fn write_files_puts_everything_the_containers_mount() {
        let dir = std::env::temp_dir().join(format!("harness-kind-{}", std::process::id()));
        let plan = Plan::new(&dir, "otel");
        let credentials = Credentials {
            tenant: "t".into(),
            user: "u".into(),
            password: "p".into(),
        };
        let ca = write_files(&plan, &credentials).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(&plan.htpasswd()), "u:{PLAIN}p\n");
        assert_eq!(read(&plan.loki_config()), LOKI_CONFIG);
        assert!(
            read(&plan.nginx_config()).contains("server_name k8s-event-collector-e2e-gateway;")
        );
        assert_eq!(read(&plan.certs_dir().join("ca.pem")), ca);
        assert!(plan.certs_dir().join("server-key.pem").is_file());
        let overlay: serde_json::Value =
            serde_json::from_str(&read(&plan.overlay_dir().join("kustomization.yaml"))).unwrap();
        assert_eq!(overlay["resources"][0], "../../../../deploy");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn poll_returns_the_first_success_or_the_last_error() {
        let mut calls = 0;
        let found = poll(Duration::from_secs(10), || {
            calls += 1;
            let n = calls;
            async move { Ok(if n == 1 { Some(n) } else { None }) }
        })
        .await
        .unwrap();
        assert_eq!(found, 1);
        let err = poll::<(), _, _>(Duration::ZERO, || async { Err("down".to_owned()) })
            .await
            .unwrap_err();
        assert_eq!(err, "after 0ns: down");
    }
}
