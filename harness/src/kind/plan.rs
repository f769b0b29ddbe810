//! Every command the kind environment runs, as pure functions of where things are: cluster,
//! image, the Loki and gateway containers, kubectl. Nothing here runs anything.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::cmd::Cmd;
use super::gateway::{LOKI_CONF, LOKI_PORT, NGINX_CERTS, NGINX_CONF, NGINX_HTPASSWD};
use super::objects::{self, DEPLOYMENT};

/// The kind cluster, reused from one run to the next (creating one takes a minute).
pub const CLUSTER: &str = "k8s-event-collector-e2e";

/// The Docker network kind puts its nodes on; containers on it are reachable from pods by
/// name (kind points the nodes' DNS at Docker's).
pub const NETWORK: &str = "kind";

/// The containers beside the cluster, named after it so a leftover is recognisable.
pub const LOKI_CONTAINER: &str = "k8s-event-collector-e2e-loki";
pub const GATEWAY_CONTAINER: &str = "k8s-event-collector-e2e-gateway";

/// Loki and nginx images, pinned so that a run means the same thing next month.
pub const LOKI_IMAGE: &str = "grafana/loki:3.4.2";
pub const NGINX_IMAGE: &str = "nginx:1.27-alpine";

/// How long `kind create cluster` and `kubectl rollout status` may wait.
const CLUSTER_WAIT: &str = "120s";
const ROLLOUT_TIMEOUT: &str = "--timeout=180s";

/// Where the files are that the commands use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The workspace: `deploy/` and the Docker build context.
    pub root: PathBuf,
    /// Generated files (`<root>/target/e2e/kind`): certificates, configs, the overlay.
    /// Inside the workspace so that Docker Desktop can mount it, and outside the build
    /// context (`.dockerignore` leaves `target/` out).
    pub work: PathBuf,
    /// The namespace `deploy/` installs into.
    pub namespace: String,
}

impl Plan {
    /// The plan for the workspace at `root`, deploying into `namespace`.
    pub fn new(root: &Path, namespace: &str) -> Plan {
        Plan {
            root: root.to_path_buf(),
            work: work_dir(root),
            namespace: namespace.to_owned(),
        }
    }

    /// The collector's Loki endpoint: the gateway, by container name, on 443.
    pub fn endpoint(&self) -> String {
        format!("https://{GATEWAY_CONTAINER}/loki/api/v1/push")
    }

    pub fn certs_dir(&self) -> PathBuf {
        self.work.join("certs")
    }
    pub fn loki_config(&self) -> PathBuf {
        self.work.join("loki.yaml")
    }
    pub fn nginx_config(&self) -> PathBuf {
        self.work.join("nginx.conf")
    }
    pub fn htpasswd(&self) -> PathBuf {
        self.work.join("htpasswd")
    }
    pub fn overlay_dir(&self) -> PathBuf {
        self.work.join("overlay")
    }

    /// `deploy/` as the overlay's `resources` entry: relative, because kustomize resolves a
    /// base from the overlay's folder (`target/e2e/kind/overlay` -> `../../../../deploy`).
    pub fn deploy_from_overlay(&self) -> String {
        let depth = self
            .overlay_dir()
            .strip_prefix(&self.root)
            .map_or(0, |p| p.components().count());
        format!("{}deploy", "../".repeat(depth))
    }

    /// `kind get clusters`: one name a line.
    pub fn list_clusters(&self) -> Cmd {
        Cmd::new("kind").args(["get", "clusters"])
    }

    /// `kind create cluster`, waiting until its node is ready.
    pub fn create_cluster(&self) -> Cmd {
        Cmd::new("kind").args([
            "create",
            "cluster",
            "--name",
            CLUSTER,
            "--wait",
            CLUSTER_WAIT,
        ])
    }

    /// The collector image, from `deploy/Dockerfile` as `deploy/README.md` builds it.
    pub fn build_image(&self) -> Cmd {
        Cmd::new("docker")
            .args(["build", "-f", "deploy/Dockerfile", "-t"])
            .arg(objects::image())
            .arg(".")
            .current_dir(&self.root)
            // The Dockerfile's cache mounts need BuildKit (the default since Docker 23).
            .env("DOCKER_BUILDKIT", "1")
    }

    /// Copies the image into the cluster's node, where `imagePullPolicy: Never` finds it.
    pub fn load_image(&self) -> Cmd {
        Cmd::new("kind")
            .args(["load", "docker-image"])
            .arg(objects::image())
            .args(["--name", CLUSTER])
    }

    /// Removes a container (a leftover of an interrupted run, or ours at the end).
    pub fn remove_container(&self, name: &str) -> Cmd {
        Cmd::new("docker").args(["rm", "--force", name])
    }

    /// Loki on the kind network, its port published on loopback only (on a port Docker picks)
    /// so that the harness can query it.
    pub fn run_loki(&self) -> Cmd {
        Cmd::new("docker")
            .args([
                "run",
                "--detach",
                "--name",
                LOKI_CONTAINER,
                "--network",
                NETWORK,
            ])
            .arg("--publish")
            .arg(format!("127.0.0.1::{LOKI_PORT}"))
            .arg("--volume")
            .arg(mount(&self.loki_config(), LOKI_CONF))
            .arg(LOKI_IMAGE)
            .arg(format!("-config.file={LOKI_CONF}"))
    }

    /// The nginx gateway on the kind network, with its config, htpasswd and certificates.
    /// Only pods reach it (it needs no published port).
    pub fn run_gateway(&self) -> Cmd {
        Cmd::new("docker")
            .args([
                "run",
                "--detach",
                "--name",
                GATEWAY_CONTAINER,
                "--network",
                NETWORK,
            ])
            .arg("--volume")
            .arg(mount(&self.nginx_config(), NGINX_CONF))
            .arg("--volume")
            .arg(mount(&self.htpasswd(), NGINX_HTPASSWD))
            .arg("--volume")
            .arg(mount(&self.certs_dir(), NGINX_CERTS))
            .arg(NGINX_IMAGE)
    }

    /// Where Docker published Loki's port on the host.
    pub fn loki_address(&self) -> Cmd {
        Cmd::new("docker")
            .args(["port", LOKI_CONTAINER])
            .arg(format!("{LOKI_PORT}/tcp"))
    }

    /// The last lines a container logged, for a failure report.
    pub fn container_logs(&self, name: &str) -> Cmd {
        Cmd::new("docker").args(["logs", "--tail", "50", name])
    }

    /// `kubectl`, always against the kind cluster's context: never whatever cluster the
    /// user's kubeconfig points at.
    fn kubectl(&self) -> Cmd {
        Cmd::new("kubectl").args(["--context", &format!("kind-{CLUSTER}")])
    }

    /// The namespace first: the Secret and the ConfigMap go into it before `apply -k`.
    pub fn apply_namespace(&self) -> Cmd {
        self.kubectl()
            .args(["apply", "-f", "deploy/base/namespace.yaml"])
            .current_dir(&self.root)
    }

    /// `kubectl <verb> -f -` with `objects` on stdin (a Secret's values stay out of argv).
    fn with_stdin(&self, verb: &str, objects: &Value) -> Cmd {
        self.kubectl()
            .args([verb, "-f", "-"])
            .stdin(objects.to_string())
    }

    /// `kubectl apply -f -` with `objects` on stdin.
    pub fn apply_objects(&self, objects: &Value) -> Cmd {
        self.with_stdin("apply", objects)
    }

    /// `kubectl apply -k` of the overlay on `deploy/`.
    pub fn apply_overlay(&self) -> Cmd {
        self.kubectl()
            .args(["apply", "-k"])
            .arg(self.overlay_dir().to_string_lossy())
    }

    /// A new pod: on a reused cluster the image, the Secret or the CA may have changed, and
    /// the collector reads them at start-up (`deploy/README.md`).
    pub fn restart_collector(&self) -> Cmd {
        self.on_collector(&["rollout", "restart"])
    }

    /// Waits until the collector is ready (`/readyz`: it has listed events and is watching).
    pub fn wait_for_collector(&self) -> Cmd {
        self.on_collector(&["rollout", "status"])
            .arg(ROLLOUT_TIMEOUT)
    }

    /// `kubectl create -f -` with a core/v1 Event on stdin.
    pub fn create_event(&self, event: &Value) -> Cmd {
        self.with_stdin("create", event)
    }

    /// The collector's log, for a failure report.
    pub fn collector_logs(&self) -> Cmd {
        self.on_collector(&["logs"]).arg("--tail=100")
    }

    /// `kubectl --namespace <ns> <verbs> deployment/<collector>`.
    fn on_collector(&self, verbs: &[&str]) -> Cmd {
        self.kubectl()
            .args(["--namespace", &self.namespace])
            .args(verbs)
            .arg(format!("deployment/{DEPLOYMENT}"))
    }

    /// The namespace's pods and events, for a failure report (why a pod is not ready).
    pub fn describe_pods(&self) -> Cmd {
        self.kubectl().args([
            "--namespace",
            &self.namespace,
            "get",
            "pods,events",
            "-o",
            "wide",
        ])
    }
}

/// Where the kind environment writes its files for the workspace at `root`.
pub fn work_dir(root: &Path) -> PathBuf {
    root.join("target").join("e2e").join("kind")
}

/// `--volume` value mounting `host` read-only at `container`.
fn mount(host: &Path, container: &str) -> String {
    format!("{}:{container}:ro", host.display())
}

/// Whether `kind get clusters` printed `name`.
pub fn has_cluster(list_output: &str, name: &str) -> bool {
    list_output.lines().any(|l| l.trim() == name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plan() -> Plan {
        Plan::new(Path::new("/src/repo"), "otel")
    }

    #[test]
    fn cluster_create_and_reuse() {
        assert_eq!(plan().list_clusters().argv(), ["kind", "get", "clusters"]);
        assert_eq!(
            plan().create_cluster().argv(),
            [
                "kind",
                "create",
                "cluster",
                "--name",
                "k8s-event-collector-e2e",
                "--wait",
                "120s"
            ]
        );
        assert!(has_cluster("kind\nk8s-event-collector-e2e\n", CLUSTER));
        assert!(!has_cluster("k8s-event-collector-e2e-old\n", CLUSTER));
        assert!(!has_cluster("", CLUSTER));
    }

    #[test]
    fn image_is_built_from_deploy_dockerfile_and_loaded() {
        let build = plan().build_image();
        assert_eq!(
            build.argv(),
            [
                "docker",
                "build",
                "-f",
                "deploy/Dockerfile",
                "-t",
                "k8s-event-collector:e2e",
                "."
            ]
        );
        assert_eq!(build.dir(), Some(Path::new("/src/repo")));
        assert_eq!(
            build.envs(),
            [("DOCKER_BUILDKIT".to_owned(), "1".to_owned())]
        );
        assert_eq!(
            plan().load_image().argv(),
            [
                "kind",
                "load",
                "docker-image",
                "k8s-event-collector:e2e",
                "--name",
                "k8s-event-collector-e2e"
            ]
        );
    }

    #[test]
    fn loki_runs_on_the_kind_network_with_its_config() {
        assert_eq!(
            plan().run_loki().line(),
            "docker run --detach --name k8s-event-collector-e2e-loki --network kind \
             --publish 127.0.0.1::3100 \
             --volume /src/repo/target/e2e/kind/loki.yaml:/etc/loki/e2e.yaml:ro \
             grafana/loki:3.4.2 -config.file=/etc/loki/e2e.yaml"
        );
        assert_eq!(
            plan().loki_address().argv(),
            ["docker", "port", "k8s-event-collector-e2e-loki", "3100/tcp"]
        );
    }

    #[test]
    fn gateway_runs_on_the_kind_network_with_its_files() {
        assert_eq!(
            plan().run_gateway().line(),
            "docker run --detach --name k8s-event-collector-e2e-gateway --network kind \
             --volume /src/repo/target/e2e/kind/nginx.conf:/etc/nginx/nginx.conf:ro \
             --volume /src/repo/target/e2e/kind/htpasswd:/etc/nginx/htpasswd:ro \
             --volume /src/repo/target/e2e/kind/certs:/etc/nginx/certs:ro \
             nginx:1.27-alpine"
        );
        assert_eq!(
            plan().endpoint(),
            "https://k8s-event-collector-e2e-gateway/loki/api/v1/push"
        );
        assert_eq!(
            plan().remove_container(GATEWAY_CONTAINER).argv(),
            ["docker", "rm", "--force", "k8s-event-collector-e2e-gateway"]
        );
    }

    #[test]
    fn kubectl_always_names_the_kind_context() {
        let p = plan();
        assert_eq!(
            p.apply_namespace().line(),
            "kubectl --context kind-k8s-event-collector-e2e apply -f deploy/base/namespace.yaml"
        );
        assert_eq!(p.apply_namespace().dir(), Some(Path::new("/src/repo")));
        assert_eq!(
            p.apply_overlay().line(),
            "kubectl --context kind-k8s-event-collector-e2e apply -k \
             /src/repo/target/e2e/kind/overlay"
        );
        assert_eq!(
            p.restart_collector().line(),
            "kubectl --context kind-k8s-event-collector-e2e --namespace otel rollout restart \
             deployment/k8s-event-collector"
        );
        assert_eq!(
            p.wait_for_collector().line(),
            "kubectl --context kind-k8s-event-collector-e2e --namespace otel rollout status \
             deployment/k8s-event-collector --timeout=180s"
        );
        let secret = json!({"kind": "Secret", "stringData": {"PASSWORD": "hunter2"}});
        let apply = p.apply_objects(&secret);
        assert_eq!(
            apply.line(),
            "kubectl --context kind-k8s-event-collector-e2e apply -f -"
        );
        assert_eq!(apply.stdin_bytes(), Some(secret.to_string().as_bytes()));
        let event = json!({"kind": "Event"});
        let create = p.create_event(&event);
        assert_eq!(
            create.argv(),
            [
                "kubectl",
                "--context",
                "kind-k8s-event-collector-e2e",
                "create",
                "-f",
                "-"
            ]
        );
        assert_eq!(
            create.stdin_bytes(),
            Some(br#"{"kind":"Event"}"#.as_slice())
        );
        for cmd in [p.collector_logs(), p.describe_pods()] {
            assert!(
                cmd.line().starts_with(
                    "kubectl --context kind-k8s-event-collector-e2e --namespace otel "
                )
            );
        }
    }

    #[test]
    fn the_overlay_reaches_deploy_from_its_folder() {
        let p = plan();
        assert_eq!(p.deploy_from_overlay(), "../../../../deploy");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let real = Plan::new(&root, "otel");
        // Lexically, as kustomize does: the overlay's folder need not exist yet.
        let mut resolved = real.overlay_dir();
        for part in real.deploy_from_overlay().split('/') {
            if part == ".." {
                resolved.pop();
            } else {
                resolved.push(part);
            }
        }
        assert!(
            resolved.join("kustomization.yaml").is_file(),
            "{resolved:?}"
        );
    }
}
