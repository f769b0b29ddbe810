//! What went wrong talking to a backend, in words a user can act on, and a log that says each
//! problem once: on the first failure, then at most once a minute while it lasts, and once more
//! when delivery works again. A Loki outage must not turn into a log storm.
//!
//! Transport failures are told apart by walking the error chain reqwest returns down to the
//! rustls or I/O error inside. Messages name settings and the endpoint (without credentials or
//! query), never a secret.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustls::{AlertDescription, CertificateError};

use crate::config::duration::ConfigDuration;

/// How often an ongoing problem is logged again.
pub const REPEAT_EVERY: Duration = Duration::from_secs(60);

/// A failure a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The server certificate does not chain to a trusted root.
    CertificateNotTrusted,
    /// The server certificate is for other names.
    CertificateWrongName {
        presented: Vec<String>,
        expected: String,
    },
    /// The server certificate has expired.
    CertificateExpired,
    /// The server certificate is not valid yet.
    CertificateNotYetValid,
    /// The server wants a client certificate and we sent none.
    ClientCertificateRequired,
    /// The server refused our client certificate.
    ClientCertificateRejected,
    /// Another TLS failure.
    Tls(String),
    /// Nothing listens on the endpoint's port.
    ConnectionRefused,
    /// The endpoint's host name does not resolve.
    Dns,
    /// No answer within the timeout.
    Timeout,
    /// Another connection failure.
    Connection(String),
    /// 401 or 403 from Loki or its gateway.
    Credentials { status: u16 },
    /// 401 `no org id`: multi-tenant Loki got no `X-Scope-OrgID`.
    NoTenant,
    /// 429.
    RateLimited,
    /// 5xx.
    ServerError { status: u16 },
}

/// What a message may mention besides the problem.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The endpoint, already without credentials or query ([`display_endpoint`]).
    pub endpoint: &'a str,
    /// What to check when credentials are refused ([`Authenticator::describe`]), if an
    /// authenticator is configured.
    ///
    /// [`Authenticator::describe`]: super::auth::Authenticator::describe
    pub credentials: Option<&'a str>,
    /// The request timeout.
    pub timeout: Duration,
}

impl Problem {
    /// The problem behind a failed request (no HTTP answer).
    pub fn of_transport(error: &reqwest::Error) -> Problem {
        let chain = causes(error);
        for cause in &chain {
            if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
                return Self::of_tls(tls);
            }
            if let Some(io) = cause.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::ConnectionRefused
            {
                return Self::ConnectionRefused;
            }
        }
        if error.is_timeout() {
            return Self::Timeout;
        }
        let text: Vec<String> = chain.iter().skip(1).map(|c| c.to_string()).collect();
        if text
            .iter()
            .any(|t| t.contains("dns error") || t.contains("failed to lookup address"))
        {
            return Self::Dns;
        }
        // The innermost causes say most; reqwest's own message would repeat the URL.
        Self::Connection(if text.is_empty() {
            "connection failed".into()
        } else {
            text.join(": ")
        })
    }

    fn of_tls(error: &rustls::Error) -> Problem {
        match error {
            rustls::Error::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    Self::CertificateNotTrusted
                }
                CertificateError::NotValidForNameContext {
                    expected,
                    presented,
                } => Self::CertificateWrongName {
                    presented: presented.iter().map(|p| presented_name(p)).collect(),
                    expected: expected.to_str().into_owned(),
                },
                CertificateError::NotValidForName => Self::CertificateWrongName {
                    presented: Vec::new(),
                    expected: String::new(),
                },
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    Self::CertificateExpired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    Self::CertificateNotYetValid
                }
                other => Self::Tls(format!("invalid server certificate: {other:?}")),
            },
            rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
                Self::ClientCertificateRequired
            }
            rustls::Error::AlertReceived(
                AlertDescription::BadCertificate
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateUnknown
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::CertificateRevoked
                | AlertDescription::CertificateExpired,
            ) => Self::ClientCertificateRejected,
            rustls::Error::AlertReceived(AlertDescription::HandshakeFailure) => Self::Tls(
                "the server ended the handshake: no TLS version or cipher in common (tls.min_version/max_version), or it requires a client certificate (tls.cert_file/key_file)".into(),
            ),
            other => Self::Tls(other.to_string()),
        }
    }

    /// The problem behind an HTTP answer, if it is one a user must hear about once rather than
    /// per request: credentials, tenant, client certificate (nginx answers 400 for those),
    /// rate limit, server errors.
    pub fn of_answer(status: u16, body: &str) -> Option<Problem> {
        match status {
            401 if body.trim() == "no org id" => Some(Self::NoTenant),
            401 | 403 => Some(Self::Credentials { status }),
            400 if body.contains("No required SSL certificate was sent") => {
                Some(Self::ClientCertificateRequired)
            }
            400 if body.contains("The SSL certificate error") => {
                Some(Self::ClientCertificateRejected)
            }
            429 => Some(Self::RateLimited),
            500..=599 => Some(Self::ServerError { status }),
            _ => None,
        }
    }

    /// One line saying what failed and what to do.
    pub fn message(&self, ctx: &Context<'_>) -> String {
        let endpoint = ctx.endpoint;
        match self {
            Self::CertificateNotTrusted => format!(
                "TLS to {endpoint} failed: certificate not trusted: set tls.ca_file to the Loki CA, or tls.insecure_skip_verify: true for a self-signed test server"
            ),
            Self::CertificateWrongName {
                presented,
                expected,
            } => {
                let presented = if presented.is_empty() {
                    "other names".to_owned()
                } else {
                    presented.join(", ")
                };
                let expected = if expected.is_empty() {
                    "this host"
                } else {
                    expected
                };
                format!(
                    "TLS to {endpoint} failed: certificate is for {presented}, not {expected}: use the right host or tls.server_name_override"
                )
            }
            Self::CertificateExpired => format!(
                "TLS to {endpoint} failed: the server certificate has expired (or this machine's clock is wrong): renew Loki's certificate"
            ),
            Self::CertificateNotYetValid => format!(
                "TLS to {endpoint} failed: the server certificate is not valid yet: check the clocks of this machine and the certificate's issuer"
            ),
            Self::ClientCertificateRequired => format!(
                "{endpoint} requires a client certificate: set tls.cert_file and tls.key_file (mTLS)"
            ),
            Self::ClientCertificateRejected => format!(
                "{endpoint} rejected the client certificate: use one signed by a CA the server trusts (tls.cert_file, tls.key_file)"
            ),
            Self::Tls(detail) => format!("TLS to {endpoint} failed: {detail}"),
            Self::ConnectionRefused => format!(
                "cannot connect to {endpoint}: connection refused: is Loki (or its gateway) running, and is the port right?"
            ),
            Self::Dns => format!(
                "cannot resolve the host of {endpoint} (DNS failure): check the endpoint's host name"
            ),
            Self::Timeout => format!(
                "no answer from {endpoint} within the timeout ({}): Loki is slow or unreachable",
                ConfigDuration(ctx.timeout)
            ),
            Self::Connection(detail) => format!("cannot reach {endpoint}: {detail}"),
            Self::Credentials { status } => match ctx.credentials {
                Some(source) => format!(
                    "Loki (or its gateway) at {endpoint} rejected the credentials ({status}): check {source} and the Secret it comes from"
                ),
                None => format!(
                    "Loki (or its gateway) at {endpoint} answered {status} and no credentials are configured: set auth.authenticator to a basicauth extension"
                ),
            },
            Self::NoTenant => format!(
                "Loki at {endpoint} answered 401 \"no org id\": it is multi-tenant; set headers: X-Scope-OrgID: <tenant> (or a loki.tenant hint)"
            ),
            Self::RateLimited => format!(
                "Loki at {endpoint} is rate limiting (429): retrying; raise the tenant's ingestion limits if this lasts"
            ),
            Self::ServerError { status } => {
                format!("Loki at {endpoint} answered {status}: retrying")
            }
        }
    }
}

/// The error and its causes, looking inside `io::Error`s: their `source()` skips the error
/// they wrap (where rustls puts its own), so that one is taken with `get_ref()`.
fn causes<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        out.push(cause);
        next = match cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => cause.source(),
        };
        if out.len() > 32 {
            break; // a cycle would be a bug elsewhere; do not hang on it
        }
    }
    out
}

/// webpki's `DnsName("loki.example")` / `IpAddress(10.0.0.1)` as the bare name.
fn presented_name(debug: &str) -> String {
    let inner = debug
        .strip_prefix("DnsName(")
        .or_else(|| debug.strip_prefix("IpAddress("))
        .and_then(|s| s.strip_suffix(')'));
    match inner {
        Some(name) => name.trim_matches('"').to_owned(),
        None => debug.to_owned(),
    }
}

/// `endpoint` for messages: scheme, host, port and path; no user info, query or fragment.
pub fn display_endpoint(endpoint: &reqwest::Url) -> String {
    let mut out = format!(
        "{}://{}",
        endpoint.scheme(),
        endpoint.host_str().unwrap_or("")
    );
    if let Some(port) = endpoint.port() {
        let _ = write!(out, ":{port}");
    }
    out.push_str(endpoint.path());
    out
}

/// The log of one exporter's ongoing problems, one per tenant (a tenant whose credentials are
/// refused must not make another tenant's successes look like recoveries).
#[derive(Debug)]
pub struct ProblemLog {
    exporter: String,
    ongoing: Mutex<HashMap<String, Ongoing>>,
}

#[derive(Debug)]
struct Ongoing {
    problem: std::mem::Discriminant<Problem>,
    since: Instant,
    last_logged: Instant,
    failures: u64,
}

/// What to log for a failure.
#[derive(Debug, PartialEq, Eq)]
enum Report {
    /// A new problem.
    First,
    /// The same problem, a minute after it was last logged.
    Again { failures: u64, since: Duration },
    /// Logged recently.
    Quiet,
}

impl ProblemLog {
    /// An empty log for exporter `exporter`.
    pub fn new(exporter: &str) -> Self {
        Self {
            exporter: exporter.to_owned(),
            ongoing: Mutex::new(HashMap::new()),
        }
    }

    /// Logs `message` for `problem` of `tenant` ("" for the configured one) unless it was
    /// logged less than [`REPEAT_EVERY`] ago.
    pub fn failed(&self, tenant: &str, problem: &Problem, message: &str) {
        let exporter = &self.exporter;
        // The configured tenant ("") is not worth a field.
        let tenant_field = (!tenant.is_empty()).then_some(tenant);
        match self.note_failure(tenant, problem, Instant::now()) {
            Report::First => {
                tracing::warn!(exporter = %exporter, tenant = tenant_field, "{message}")
            }
            Report::Again { failures, since } => tracing::warn!(
                exporter = %exporter,
                tenant = tenant_field,
                "{message} (still failing: {failures} failures in {})",
                ConfigDuration(Duration::from_secs(since.as_secs()))
            ),
            Report::Quiet => {
                tracing::debug!(exporter = %exporter, tenant = tenant_field, "{message}");
            }
        }
    }

    /// Ends the ongoing problem of `tenant`, if any, with one "recovered" line.
    pub fn succeeded(&self, tenant: &str) {
        if let Some((failures, since)) = self.note_success(tenant, Instant::now()) {
            tracing::info!(
                exporter = %self.exporter,
                tenant = (!tenant.is_empty()).then_some(tenant),
                "delivering again: recovered after {failures} failed attempts in {}",
                ConfigDuration(Duration::from_secs(since.as_secs()))
            );
        }
    }

    fn note_failure(&self, tenant: &str, problem: &Problem, now: Instant) -> Report {
        let mut ongoing = self.ongoing.lock().unwrap_or_else(|p| p.into_inner());
        let kind = std::mem::discriminant(problem);
        match ongoing.get_mut(tenant) {
            Some(o) if o.problem == kind => {
                o.failures += 1;
                if now.saturating_duration_since(o.last_logged) >= REPEAT_EVERY {
                    o.last_logged = now;
                    Report::Again {
                        failures: o.failures,
                        since: now.saturating_duration_since(o.since),
                    }
                } else {
                    Report::Quiet
                }
            }
            _ => {
                ongoing.insert(
                    tenant.to_owned(),
                    Ongoing {
                        problem: kind,
                        since: now,
                        last_logged: now,
                        failures: 1,
                    },
                );
                Report::First
            }
        }
    }

    fn note_success(&self, tenant: &str, now: Instant) -> Option<(u64, Duration)> {
        let mut ongoing = self.ongoing.lock().unwrap_or_else(|p| p.into_inner());
        let ended = ongoing.remove(tenant)?;
        Some((ended.failures, now.saturating_duration_since(ended.since)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ctx() -> Context<'static> {
        Context {
            endpoint: "https://loki.example:3100/loki/api/v1/push",
            credentials: Some(
                "the basicauth username/password (basicauth/client: username from the config, password from the config)",
            ),
            timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn a_problem_is_logged_first_then_once_a_minute_then_recovered() {
        let log = ProblemLog::new("loki");
        let t0 = Instant::now();
        let refused = Problem::ConnectionRefused;
        assert_eq!(log.note_failure("", &refused, t0), Report::First);
        assert_eq!(
            log.note_failure("", &refused, t0 + Duration::from_secs(5)),
            Report::Quiet
        );
        assert_eq!(
            log.note_failure("", &refused, t0 + Duration::from_secs(61)),
            Report::Again {
                failures: 3,
                since: Duration::from_secs(61)
            }
        );
        assert_eq!(
            log.note_failure("", &refused, t0 + Duration::from_secs(62)),
            Report::Quiet
        );
        // Another problem is news at once.
        assert_eq!(
            log.note_failure("", &Problem::Dns, t0 + Duration::from_secs(63)),
            Report::First
        );
        assert_eq!(
            log.note_success("", t0 + Duration::from_secs(73)),
            Some((1, Duration::from_secs(10)))
        );
        assert_eq!(log.note_success("", t0 + Duration::from_secs(74)), None);
    }

    #[test]
    fn answers_that_need_a_user_are_recognized() {
        assert_eq!(
            Problem::of_answer(401, "no org id\n"),
            Some(Problem::NoTenant)
        );
        assert_eq!(
            Problem::of_answer(403, "<html>"),
            Some(Problem::Credentials { status: 403 })
        );
        assert_eq!(
            Problem::of_answer(
                400,
                "<html><head><title>400 No required SSL certificate was sent</title>"
            ),
            Some(Problem::ClientCertificateRequired)
        );
        assert_eq!(Problem::of_answer(400, "entry too far behind"), None);
        assert_eq!(
            Problem::of_answer(503, ""),
            Some(Problem::ServerError { status: 503 })
        );
    }

    #[test]
    fn messages_say_what_to_do() {
        let wrong = Problem::of_tls(&rustls::Error::InvalidCertificate(
            CertificateError::NotValidForNameContext {
                expected: rustls::pki_types::ServerName::try_from("loki.internal").unwrap(),
                presented: vec![
                    "DnsName(\"loki.example\")".into(),
                    "IpAddress(10.0.0.1)".into(),
                ],
            },
        ));
        assert_eq!(
            wrong.message(&ctx()),
            "TLS to https://loki.example:3100/loki/api/v1/push failed: certificate is for loki.example, 10.0.0.1, not loki.internal: use the right host or tls.server_name_override"
        );
        let untrusted = Problem::of_tls(&rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert!(untrusted.message(&ctx()).contains("certificate not trusted: set tls.ca_file to the Loki CA, or tls.insecure_skip_verify: true for a self-signed test server"));
        let creds = Problem::Credentials { status: 401 }.message(&ctx());
        assert!(creds.starts_with("Loki (or its gateway) at https://loki.example:3100/loki/api/v1/push rejected the credentials (401): check the basicauth username/password"), "{creds}");
        assert_eq!(
            Problem::of_tls(&rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired
            )),
            Problem::ClientCertificateRequired
        );
    }

    #[test]
    fn endpoints_are_shown_without_credentials_or_query() {
        let url =
            reqwest::Url::parse("https://user:pw@loki.example:8443/loki/api/v1/push?token=x#f")
                .unwrap();
        assert_eq!(
            display_endpoint(&url),
            "https://loki.example:8443/loki/api/v1/push"
        );
    }
}
