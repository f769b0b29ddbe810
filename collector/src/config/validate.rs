//! Checks across components, after each was typed: pipelines name defined components,
//! extensions are enabled where used, TLS settings mean what the user thinks.

use super::diagnostic::Diagnostic;
use super::http::{AuthConfig, TlsClientConfig};
use super::model::{Config, ExporterConfig, ExtensionConfig, ReceiverConfig};
use super::yaml::{Mark, Node};

/// Everything found wrong or suspicious in a typed config.
pub fn check(file: &str, config: &Config, root: &Node) -> Vec<Diagnostic> {
    let mut checker = Checker {
        file,
        config,
        root,
        out: Vec::new(),
    };
    checker.pipelines();
    checker.service_extensions();
    checker.unused_components();
    checker.receivers();
    checker.exporters();
    checker.extensions();
    checker.out
}

struct Checker<'a> {
    file: &'a str,
    config: &'a Config,
    root: &'a Node,
    out: Vec<Diagnostic>,
}

/// The position of the node at `path` (keys; `[i]` for list items), or of its nearest parent.
fn mark_at(root: &Node, path: &[&str]) -> Mark {
    let mut node = root;
    for segment in path {
        let next = match segment.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            Some(index) => match (&node.value, index.parse::<usize>()) {
                (super::yaml::NodeValue::Seq(items), Ok(i)) => items.get(i),
                _ => None,
            },
            None => node.get(segment),
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    node.mark
}

impl Checker<'_> {
    fn error(&mut self, path: &[&str], message: impl Into<String>) -> &mut Diagnostic {
        let mark = mark_at(self.root, path);
        self.out.push(Diagnostic::error(
            self.file,
            Some(mark),
            super::de::join_path(&path.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()),
            message,
        ));
        self.out.last_mut().expect("just pushed")
    }

    fn warning(&mut self, path: &[&str], message: impl Into<String>) -> &mut Diagnostic {
        self.error(path, message);
        let last = self.out.last_mut().expect("just pushed");
        last.severity = super::diagnostic::Severity::Warning;
        last
    }

    fn pipelines(&mut self) {
        let config = self.config;
        if config.service.pipelines.is_empty() {
            self.error(&["service", "pipelines"], "no pipeline is defined")
                .help = Some("add service.pipelines.logs with receivers and exporters".into());
        }
        for pipeline in &config.service.pipelines {
            let id = pipeline.id.to_string();
            let ids = |ids: Vec<String>| ids;
            let members = [
                (
                    "receivers",
                    &pipeline.config.receivers,
                    ids(config.receivers.iter().map(|c| c.id.to_string()).collect()),
                ),
                (
                    "processors",
                    &pipeline.config.processors,
                    ids(config.processors.iter().map(|c| c.id.to_string()).collect()),
                ),
                (
                    "exporters",
                    &pipeline.config.exporters,
                    ids(config.exporters.iter().map(|c| c.id.to_string()).collect()),
                ),
            ];
            for (section, names, known) in members {
                for (i, name) in names.iter().enumerate() {
                    if known.contains(name) {
                        continue;
                    }
                    let index = format!("[{i}]");
                    let help = match super::suggest::closest(name, known.iter().map(String::as_str))
                    {
                        Some(near) => format!("did you mean `{near}`?"),
                        None if known.is_empty() => format!("the `{section}` section defines none"),
                        None => format!("defined {section}: {}", known.join(", ")),
                    };
                    self.error(
                        &["service", "pipelines", &id, section, &index],
                        format!(
                            "pipeline `{id}` uses `{name}`, which is not defined in `{section}`"
                        ),
                    )
                    .help = Some(help);
                }
            }
            for section in ["receivers", "exporters"] {
                let empty = match section {
                    "receivers" => pipeline.config.receivers.is_empty(),
                    _ => pipeline.config.exporters.is_empty(),
                };
                if empty {
                    self.error(
                        &["service", "pipelines", &id],
                        format!("pipeline `{id}` has no {section}"),
                    );
                }
            }
        }
    }

    fn service_extensions(&mut self) {
        for (i, name) in self.config.service.extensions.iter().enumerate() {
            if self.config.extension(name).is_none() {
                let index = format!("[{i}]");
                let known: Vec<String> = self
                    .config
                    .extensions
                    .iter()
                    .map(|c| c.id.to_string())
                    .collect();
                let help = match super::suggest::closest(name, known.iter().map(String::as_str)) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => "define it in the `extensions` section".to_owned(),
                };
                self.error(
                    &["service", "extensions", &index],
                    format!(
                        "service.extensions lists `{name}`, which is not defined in `extensions`"
                    ),
                )
                .help = Some(help);
            }
        }
    }

    fn unused_components(&mut self) {
        let used = |section: &str, id: &str| {
            self.config.service.pipelines.iter().any(|p| {
                let list = match section {
                    "receivers" => &p.config.receivers,
                    "processors" => &p.config.processors,
                    _ => &p.config.exporters,
                };
                list.iter().any(|n| n == id)
            })
        };
        let mut unused = Vec::new();
        for c in &self.config.receivers {
            unused.extend(
                (!used("receivers", &c.id.to_string())).then(|| ("receivers", c.id.to_string())),
            );
        }
        for c in &self.config.processors {
            unused.extend(
                (!used("processors", &c.id.to_string())).then(|| ("processors", c.id.to_string())),
            );
        }
        for c in &self.config.exporters {
            unused.extend(
                (!used("exporters", &c.id.to_string())).then(|| ("exporters", c.id.to_string())),
            );
        }
        for (section, id) in unused {
            self.warning(
                &[section, &id],
                format!("`{id}` is defined but no pipeline uses it"),
            );
        }
    }

    /// An extension another component refers to must exist, be of the right type, and be
    /// enabled in `service.extensions` (the OpenTelemetry collector fails at start otherwise).
    fn extension_reference(
        &mut self,
        path: &[&str],
        id: &str,
        what: &str,
        fits: fn(&ExtensionConfig) -> bool,
    ) {
        match self.config.extension(id) {
            None => {
                let known: Vec<String> = self
                    .config
                    .extensions
                    .iter()
                    .map(|c| c.id.to_string())
                    .collect();
                let help = match super::suggest::closest(id, known.iter().map(String::as_str)) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!(
                        "define `{id}` in the `extensions` section and list it in service.extensions"
                    ),
                };
                self.error(path, format!("`{id}` is not defined in `extensions`"))
                    .help = Some(help);
            }
            Some(ext) if !fits(&ext.config) => {
                self.error(path, format!("`{id}` is not {what}"));
            }
            Some(_) if !self.config.service.extensions.iter().any(|e| e == id) => {
                self.error(
                    path,
                    format!("`{id}` is used here but not enabled in service.extensions"),
                )
                .help = Some(format!("add `{id}` to service.extensions"));
            }
            Some(_) => {}
        }
    }

    fn receivers(&mut self) {
        for c in &self.config.receivers {
            let id = c.id.to_string();
            let ReceiverConfig::K8sEvents(r) = &c.config;
            if let Some(storage) = &r.storage {
                self.extension_reference(
                    &["receivers", &id, "storage"],
                    storage,
                    "a file_storage extension",
                    |e| matches!(e, ExtensionConfig::FileStorage(_)),
                );
            }
            if let Some(elector) = &r.k8s_leader_elector {
                self.extension_reference(
                    &["receivers", &id, "k8s_leader_elector"],
                    elector,
                    "a k8s_leader_elector extension",
                    |e| matches!(e, ExtensionConfig::K8sLeaderElector(_)),
                );
            }
            if r.page_size == Some(0) {
                self.error(
                    &["receivers", &id, "page_size"],
                    "page_size must be at least 1",
                );
            }
            for (i, ns) in r.namespaces.iter().enumerate() {
                if ns.trim().is_empty() {
                    let index = format!("[{i}]");
                    self.error(
                        &["receivers", &id, "namespaces", &index],
                        "a namespace name is empty",
                    );
                }
            }
        }
    }

    fn exporters(&mut self) {
        for c in &self.config.exporters {
            let id = c.id.to_string();
            let (endpoint, tls, auth, queue_storage) = match &c.config {
                ExporterConfig::Loki(l) => (
                    Some(l.endpoint.as_str()),
                    &l.tls,
                    &l.auth,
                    &l.sending_queue.storage,
                ),
                ExporterConfig::OtlpHttp(o) => {
                    if o.endpoint.is_none() && o.logs_endpoint.is_none() {
                        self.error(&["exporters", &id], "set `endpoint` (or `logs_endpoint`)");
                    }
                    (
                        o.logs_endpoint.as_deref().or(o.endpoint.as_deref()),
                        &o.tls,
                        &o.auth,
                        &o.sending_queue.storage,
                    )
                }
                ExporterConfig::Debug(_) => continue,
            };
            let endpoint_key = match &c.config {
                ExporterConfig::OtlpHttp(o) if o.logs_endpoint.is_some() => "logs_endpoint",
                _ => "endpoint",
            };
            if let Some(endpoint) = endpoint {
                self.endpoint(&id, endpoint_key, endpoint, tls);
            }
            if let ExporterConfig::Loki(l) = &c.config
                && l.compression == super::exporters::Compression::Gzip
                && l.encoding == super::exporters::LokiEncoding::Protobuf
            {
                self.warning(
                    &["exporters", &id, "compression"],
                    "compression: gzip applies to JSON bodies only; protobuf pushes are always snappy-compressed",
                )
                .help = Some("remove compression, or set encoding: json".into());
            }
            if let Some(AuthConfig { authenticator }) = auth {
                self.extension_reference(
                    &["exporters", &id, "auth", "authenticator"],
                    authenticator,
                    "an authenticator (basicauth or bearertokenauth)",
                    ExtensionConfig::is_authenticator,
                );
            }
            if let Some(storage) = queue_storage {
                self.extension_reference(
                    &["exporters", &id, "sending_queue", "storage"],
                    storage,
                    "a file_storage extension",
                    |e| matches!(e, ExtensionConfig::FileStorage(_)),
                );
            }
        }
    }

    fn endpoint(&mut self, id: &str, key: &str, endpoint: &str, tls: &TlsClientConfig) {
        let scheme = endpoint
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase());
        let host_present = endpoint
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
        match scheme.as_deref() {
            Some("http") | Some("https") if host_present => {}
            _ => {
                self.error(
                    &["exporters", id, key],
                    format!("`{endpoint}` is not an http:// or https:// URL"),
                )
                .help = Some(
                    "write the full URL, e.g. https://loki.example.com/loki/api/v1/push".into(),
                );
                return;
            }
        }
        let https = scheme.as_deref() == Some("https");
        let tls_path = ["exporters", id, "tls"];
        if https && tls.insecure {
            self.warning(
                &["exporters", id, "tls", "insecure"],
                "`insecure: true` has no effect on an https:// endpoint: the connection still uses TLS and verifies the server certificate",
            )
            .help = Some("to connect without TLS use an http:// endpoint; to accept a self-signed test server set insecure_skip_verify: true".into());
        }
        let tls_configured = tls.insecure_skip_verify
            || tls.server_name_override.is_some()
            || tls.min_version.is_some()
            || tls.max_version.is_some()
            || [
                &tls.ca_file,
                &tls.ca_pem,
                &tls.cert_file,
                &tls.cert_pem,
                &tls.key_file,
                &tls.key_pem,
            ]
            .iter()
            .any(|v| v.is_some());
        if !https && tls_configured {
            self.warning(
                &tls_path,
                "the endpoint is http://, so these TLS settings are ignored and everything, credentials included, is sent in plain text",
            )
            .help = Some("use an https:// endpoint".into());
        }
        if tls.insecure_skip_verify {
            let d = self.warning(
                &["exporters", id, "tls", "insecure_skip_verify"],
                "the server certificate will not be verified: anyone on the network path can impersonate Loki and read the credentials",
            );
            d.help = Some("set tls.ca_file to the CA that signed Loki's certificate, and remove insecure_skip_verify".into());
            for (key, set) in [
                ("ca_file", tls.ca_file.is_some()),
                ("ca_pem", tls.ca_pem.is_some()),
            ] {
                if set {
                    self.warning(
                        &["exporters", id, "tls", key],
                        format!("{key} is ignored because insecure_skip_verify is true: no certificate is checked"),
                    )
                    .help = Some("remove insecure_skip_verify to verify against this CA".into());
                }
            }
        }
        for (key, value) in [
            ("min_version", &tls.min_version),
            ("max_version", &tls.max_version),
        ] {
            if let Some(v) = value
                && !matches!(v.as_str(), "1.2" | "1.3")
            {
                let msg = if matches!(v.as_str(), "1.0" | "1.1") {
                    format!("TLS {v} is not supported (it is insecure): use 1.2 or 1.3")
                } else {
                    format!("`{v}` is not a TLS version: use 1.2 or 1.3")
                };
                self.error(&["exporters", id, "tls", key], msg);
            }
        }
        if let (Some(min), Some(max)) = (&tls.min_version, &tls.max_version)
            && min.as_str() > max.as_str()
        {
            self.error(
                &["exporters", id, "tls"],
                format!("min_version {min} is above max_version {max}"),
            );
        }
        let has_cert = tls.cert_file.is_some() || tls.cert_pem.is_some();
        let has_key = tls.key_file.is_some() || tls.key_pem.is_some();
        if has_cert != has_key {
            self.error(&tls_path, "a client certificate needs both a certificate (cert_file or cert_pem) and its key (key_file or key_pem)");
        }
    }

    fn extensions(&mut self) {
        for c in &self.config.extensions {
            let id = c.id.to_string();
            match &c.config {
                ExtensionConfig::BasicAuth(b) => {
                    if b.htpasswd.is_some() {
                        self.error(&["extensions", &id, "htpasswd"], "htpasswd authenticates incoming requests, and this collector receives none")
                            .help = Some("use client_auth with username and password to authenticate to Loki".into());
                    }
                    match &b.client_auth {
                        None if b.htpasswd.is_none() => {
                            self.error(
                                &["extensions", &id],
                                "basicauth needs client_auth with a username and password",
                            );
                        }
                        Some(auth) => {
                            if auth.username.is_none() && auth.username_file.is_none() {
                                self.error(
                                    &["extensions", &id, "client_auth"],
                                    "client_auth has no username (or username_file)",
                                );
                            }
                            if auth.password.is_none() && auth.password_file.is_none() {
                                self.error(
                                    &["extensions", &id, "client_auth"],
                                    "client_auth has no password (or password_file)",
                                );
                            }
                            let literal = self.literal_secret(&[
                                "extensions",
                                &id,
                                "client_auth",
                                "password",
                            ]);
                            if literal {
                                self.warning(&["extensions", &id, "client_auth", "password"], "the password is written in the config file")
                                    .help = Some("keep it in a Secret and write password: ${env:LOKI_PASSWORD}, or use password_file".into());
                            }
                        }
                        None => {}
                    }
                }
                ExtensionConfig::BearerTokenAuth(b) => {
                    if b.token.is_none() && b.filename.is_none() {
                        self.error(
                            &["extensions", &id],
                            "bearertokenauth needs `token` or `filename`",
                        );
                    }
                    if self.literal_secret(&["extensions", &id, "token"]) {
                        self.warning(&["extensions", &id, "token"], "the token is written in the config file")
                            .help = Some("keep it in a Secret and write token: ${env:LOKI_TOKEN}, or use filename".into());
                    }
                }
                ExtensionConfig::K8sLeaderElector(l) => {
                    if l.lease_name.trim().is_empty() {
                        self.error(
                            &["extensions", &id],
                            "k8s_leader_elector needs `lease_name`",
                        );
                    }
                    if l.renew_deadline >= l.lease_duration {
                        self.error(
                            &["extensions", &id, "renew_deadline"],
                            format!(
                                "renew_deadline ({}) must be shorter than lease_duration ({})",
                                l.renew_deadline, l.lease_duration
                            ),
                        );
                    }
                    if l.retry_period >= l.renew_deadline {
                        self.error(
                            &["extensions", &id, "retry_period"],
                            format!(
                                "retry_period ({}) must be shorter than renew_deadline ({})",
                                l.retry_period, l.renew_deadline
                            ),
                        );
                    }
                }
                ExtensionConfig::HealthCheck(_) | ExtensionConfig::FileStorage(_) => {}
            }
        }
    }

    /// Whether the value at `path` was written literally (not expanded from the environment).
    fn literal_secret(&self, path: &[&str]) -> bool {
        let mut node = self.root;
        for segment in path {
            match node.get(segment) {
                Some(n) => node = n,
                None => return false,
            }
        }
        matches!(
            &node.value,
            super::yaml::NodeValue::Scalar { kind, text } if *kind != super::yaml::ScalarKind::Expanded && !text.is_empty()
        )
    }
}
