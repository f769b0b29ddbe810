//! Where the API server is and how to authenticate to it, from `auth_type`: a pod's service
//! account, a kubeconfig, or no credentials. Built without network I/O; errors say what is
//! missing.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::config::receivers::{AuthType, K8sEventsConfig};

use super::receiver::ReceiverError;

/// Overrides the service account directory (tests, and pods that mount the token elsewhere).
pub const SERVICEACCOUNT_DIR_ENV: &str = "K8S_EVENT_COLLECTOR_SERVICEACCOUNT_DIR";
/// The API server URL, for `auth_type: none` (and, when set, for `serviceAccount` too): takes
/// precedence over `KUBERNETES_SERVICE_HOST`/`PORT`.
pub const API_SERVER_ENV: &str = "K8S_EVENT_COLLECTOR_API_SERVER";
/// Where Kubernetes mounts a pod's service account token, CA and namespace.
pub const DEFAULT_SERVICEACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How to reach the API server: a complete `kube::Config`, or a kubeconfig still to be resolved
/// (kube resolves those asynchronously, so that finishes in [`Connection::into_client`]).
#[derive(Debug)]
pub(crate) struct Connection {
    target: Target,
    /// Whose credentials these are, in words, for the line logged on 401.
    pub(crate) credentials: String,
}

enum Target {
    Ready(Box<kube::Config>),
    KubeConfig {
        kubeconfig: Box<Kubeconfig>,
        options: KubeConfigOptions,
    },
}

impl Connection {
    /// Reads what `auth_type` needs from the environment (`env` looks up a variable) and the
    /// files it names.
    pub(crate) fn from_env(
        config: &K8sEventsConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Connection, ReceiverError> {
        let sa_dir = PathBuf::from(
            env(SERVICEACCOUNT_DIR_ENV).unwrap_or_else(|| DEFAULT_SERVICEACCOUNT_DIR.to_owned()),
        );
        match config.auth_type {
            AuthType::ServiceAccount => service_account(&sa_dir, &env),
            AuthType::KubeConfig => kubeconfig(config.context.as_deref()),
            AuthType::None => anonymous(&sa_dir, &env),
        }
    }

    /// No credentials, at `url` (tests, and `K8S_EVENT_COLLECTOR_API_SERVER`).
    pub(crate) fn anonymous_at(url: &str) -> Result<Connection, ReceiverError> {
        Ok(Connection {
            target: Target::Ready(Box::new(kube::Config::new(parse_url(url, API_SERVER_ENV)?))),
            credentials: "no credentials (auth_type: none)".into(),
        })
    }

    /// The client. kube's client spawns a task, so this needs the Tokio runtime.
    pub(crate) async fn into_client(self) -> Result<kube::Client, ReceiverError> {
        let config = match self.target {
            Target::Ready(config) => *config,
            Target::KubeConfig {
                kubeconfig,
                options,
            } => kube::Config::from_custom_kubeconfig(*kubeconfig, &options)
                .await
                .map_err(|e| ReceiverError::Connection(format!("kubeConfig auth: {e}")))?,
        };
        kube::Client::try_from(config).map_err(|e| {
            ReceiverError::Connection(format!("cannot set up the Kubernetes API client: {e}"))
        })
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // kube::Config's Debug hides the token; the kubeconfig may hold inline secrets.
            Target::Ready(config) => write!(f, "{}", config.cluster_url),
            Target::KubeConfig { options, .. } => {
                write!(f, "kubeconfig, context {:?}", options.context)
            }
        }
    }
}

/// `auth_type: serviceAccount`: the pod's token (re-read by kube when it rotates), CA and
/// namespace, and the API server from `KUBERNETES_SERVICE_HOST`/`PORT`.
fn service_account(
    dir: &Path,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Connection, ReceiverError> {
    let url = match env(API_SERVER_ENV) {
        Some(url) => parse_url(&url, API_SERVER_ENV)?,
        None => in_cluster_url(env, "serviceAccount")?,
    };
    let token = dir.join("token");
    // Opened, never read: kube reads it, and no token text passes through this crate.
    std::fs::File::open(&token).map_err(|e| {
        ReceiverError::Connection(format!(
            "serviceAccount auth: cannot read the token {}: {e}; is a service account token \
             mounted in this pod (automountServiceAccountToken), or is {SERVICEACCOUNT_DIR_ENV} \
             pointing at the right directory?",
            token.display()
        ))
    })?;
    let ca = dir.join("ca.crt");
    let root_cert = read_ca(&ca)?.ok_or_else(|| {
        ReceiverError::Connection(format!(
            "serviceAccount auth: cannot read the cluster CA {}: not found",
            ca.display()
        ))
    })?;
    let mut config = kube::Config::new(url);
    config.root_cert = Some(root_cert);
    // kube re-reads the CA file when it changes (CA rotation).
    config.root_cert_file = Some(ca);
    config.auth_info.token_file = Some(token.to_string_lossy().into_owned());
    if let Ok(namespace) = std::fs::read_to_string(dir.join("namespace")) {
        config.default_namespace = namespace.trim().to_owned();
    }
    Ok(Connection {
        target: Target::Ready(Box::new(config)),
        credentials: format!("the service account token {}", token.display()),
    })
}

/// `auth_type: kubeConfig`: `$KUBECONFIG` or `~/.kube/config`, the named or current context.
fn kubeconfig(context: Option<&str>) -> Result<Connection, ReceiverError> {
    let kubeconfig = Kubeconfig::read().map_err(|e| {
        ReceiverError::Connection(format!(
            "kubeConfig auth: cannot read a kubeconfig ($KUBECONFIG or ~/.kube/config): {e}"
        ))
    })?;
    let context = context.filter(|c| !c.is_empty()).map(str::to_owned);
    let chosen = context
        .clone()
        .or_else(|| kubeconfig.current_context.clone());
    let Some(chosen) = chosen else {
        return Err(ReceiverError::Connection(
            "kubeConfig auth: the kubeconfig has no current-context; set `context` in the receiver"
                .into(),
        ));
    };
    if !kubeconfig.contexts.iter().any(|c| c.name == chosen) {
        let known: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(ReceiverError::Connection(format!(
            "kubeConfig auth: the kubeconfig has no context {chosen:?} (it has: {})",
            known.join(", ")
        )));
    }
    Ok(Connection {
        target: Target::KubeConfig {
            kubeconfig: Box::new(kubeconfig),
            options: KubeConfigOptions {
                context,
                ..KubeConfigOptions::default()
            },
        },
        credentials: format!("the credentials of kubeconfig context {chosen:?}"),
    })
}

/// `auth_type: none`: `K8S_EVENT_COLLECTOR_API_SERVER`, else the in-cluster service address;
/// the service account's CA is trusted when it is mounted (it is not a credential).
fn anonymous(
    dir: &Path,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Connection, ReceiverError> {
    if let Some(url) = env(API_SERVER_ENV) {
        return Connection::anonymous_at(&url);
    }
    let url = in_cluster_url(env, "none").map_err(|_| {
        ReceiverError::Connection(format!(
            "auth_type none needs {API_SERVER_ENV} (the API server URL) or \
             KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT"
        ))
    })?;
    let mut config = kube::Config::new(url);
    config.root_cert = read_ca(&dir.join("ca.crt")).ok().flatten();
    Ok(Connection {
        target: Target::Ready(Box::new(config)),
        credentials: "no credentials (auth_type: none)".into(),
    })
}

/// `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`, as client-go builds it.
fn in_cluster_url(
    env: &impl Fn(&str) -> Option<String>,
    auth: &str,
) -> Result<http::Uri, ReceiverError> {
    let missing = |var: &str| {
        ReceiverError::Connection(format!(
            "{auth} auth needs {var}; is this running in a pod? (outside a cluster use \
             auth_type kubeConfig)"
        ))
    };
    let host = env("KUBERNETES_SERVICE_HOST")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| missing("KUBERNETES_SERVICE_HOST"))?;
    let port = env("KUBERNETES_SERVICE_PORT")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| missing("KUBERNETES_SERVICE_PORT"))?;
    let port: u16 = port.parse().map_err(|_| {
        ReceiverError::Connection(format!(
            "KUBERNETES_SERVICE_PORT is {port:?}, not a port number"
        ))
    })?;
    // An IPv6 address needs brackets in a URL.
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    parse_url(&format!("https://{host}:{port}"), "KUBERNETES_SERVICE_HOST")
}

fn parse_url(url: &str, source: &str) -> Result<http::Uri, ReceiverError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| ReceiverError::Connection(format!("{source}: {url:?} is not a URL: {e}")))?;
    if uri.scheme().is_none() || uri.host().is_none() {
        return Err(ReceiverError::Connection(format!(
            "{source}: {url:?} is not a URL (write it like https://10.0.0.1:6443)"
        )));
    }
    Ok(uri)
}

/// The certificates of a PEM CA bundle (DER); `None` when the file does not exist.
fn read_ca(path: &Path) -> Result<Option<Vec<Vec<u8>>>, ReceiverError> {
    let pem = match std::fs::read(path) {
        Ok(pem) => pem,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ReceiverError::Connection(format!(
                "cannot read the cluster CA {}: {e}",
                path.display()
            )));
        }
    };
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .map(|c| c.map(|der| der.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ReceiverError::Connection(format!("the cluster CA {}: {e}", path.display()))
        })?;
    if certs.is_empty() {
        return Err(ReceiverError::Connection(format!(
            "the cluster CA {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(Some(certs))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(auth_type: AuthType) -> K8sEventsConfig {
        K8sEventsConfig {
            auth_type,
            ..K8sEventsConfig::default()
        }
    }

    fn error(result: Result<Connection, ReceiverError>) -> String {
        result.unwrap_err().to_string()
    }

    /// A service account directory with a token and a CA (a self-signed certificate).
    fn sa_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "k8s-event-collector-sa-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "not-a-real-token").unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["kubernetes".into()]).unwrap();
        std::fs::write(dir.join("ca.crt"), cert.cert.pem()).unwrap();
        std::fs::write(dir.join("namespace"), "otel\n").unwrap();
        dir
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn service_account_outside_a_pod() {
        let err = error(Connection::from_env(
            &config(AuthType::ServiceAccount),
            env(&[]),
        ));
        assert_eq!(
            err,
            "serviceAccount auth needs KUBERNETES_SERVICE_HOST; is this running in a pod? \
             (outside a cluster use auth_type kubeConfig)"
        );
        let err = error(Connection::from_env(
            &config(AuthType::ServiceAccount),
            env(&[
                ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
                ("KUBERNETES_SERVICE_PORT", "x"),
            ]),
        ));
        assert_eq!(err, "KUBERNETES_SERVICE_PORT is \"x\", not a port number");
    }

    #[test]
    fn service_account_without_a_token() {
        let dir = std::env::temp_dir().join("k8s-event-collector-sa-empty");
        let err = error(Connection::from_env(
            &config(AuthType::ServiceAccount),
            env(&[
                ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
                ("KUBERNETES_SERVICE_PORT", "443"),
                (SERVICEACCOUNT_DIR_ENV, dir.to_str().unwrap()),
            ]),
        ));
        assert!(
            err.starts_with("serviceAccount auth: cannot read the token "),
            "{err}"
        );
        assert!(err.contains("automountServiceAccountToken"), "{err}");
    }

    #[test]
    fn service_account_in_a_pod() {
        let dir = sa_dir("ok");
        let connection = Connection::from_env(
            &config(AuthType::ServiceAccount),
            env(&[
                ("KUBERNETES_SERVICE_HOST", "fd00::1"),
                ("KUBERNETES_SERVICE_PORT", "6443"),
                (SERVICEACCOUNT_DIR_ENV, dir.to_str().unwrap()),
            ]),
        )
        .unwrap();
        let Target::Ready(kube_config) = &connection.target else {
            panic!("{connection:?}")
        };
        assert_eq!(
            kube_config.cluster_url.to_string(),
            "https://[fd00::1]:6443/"
        );
        assert_eq!(
            kube_config.auth_info.token_file.as_deref(),
            Some(dir.join("token").to_str().unwrap())
        );
        assert!(kube_config.auth_info.token.is_none());
        assert_eq!(kube_config.root_cert.as_ref().map(Vec::len), Some(1));
        assert_eq!(kube_config.default_namespace, "otel");
        assert!(!format!("{connection:?}").contains("not-a-real-token"));
        assert!(connection.credentials.ends_with("/token"));
    }

    #[test]
    fn none_needs_an_address() {
        let err = error(Connection::from_env(&config(AuthType::None), env(&[])));
        assert_eq!(
            err,
            "auth_type none needs K8S_EVENT_COLLECTOR_API_SERVER (the API server URL) or \
             KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT"
        );
        let c = Connection::from_env(
            &config(AuthType::None),
            env(&[(API_SERVER_ENV, "http://127.0.0.1:8001")]),
        )
        .unwrap();
        assert_eq!(format!("{:?}", c.target), "http://127.0.0.1:8001/");
        let err = error(Connection::anonymous_at("127.0.0.1:8001"));
        assert!(err.contains("is not a URL"), "{err}");
    }
}
