//! The HTTP side of the Loki exporter: one reqwest client with the config's TLS, headers,
//! timeout and authenticator; one `POST` per request body; and what Loki's answer means.
//!
//! Knows nothing of labels or retries: it turns a [`TenantPush`] into a body, sends a body for
//! a tenant, and classifies the answer.
//!
//! The otlphttp exporter sends its own bodies through this client too (same TLS, auth, headers
//! and `application/x-protobuf`), with no tenant.

use std::fmt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};

use super::proto::{CONTENT_TYPE_PROTOBUF, EncodeError, encode_protobuf};
use super::push_json::{CONTENT_TYPE_JSON, encode_json};
use super::retry::parse_retry_after;
use super::streams::TenantPush;
use crate::config::ExtensionConfig;
use crate::config::exporters::{Compression, LokiEncoding, LokiExporterConfig};
use crate::exporter::auth::{AuthError, Authenticator};
use crate::exporter::problem::display_endpoint;
use crate::exporter::stats::DropReason;
use crate::exporter::tls::{self, TlsError};

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("k8s-event-collector/", env!("CARGO_PKG_VERSION"));

/// The tenant header of multi-tenant Loki.
pub const X_SCOPE_ORGID: HeaderName = HeaderName::from_static("x-scope-orgid");

/// How much of an answer's body is read: Loki's reasons are short, gateways' HTML pages too.
const MAX_ANSWER_BYTES: usize = 4096;

/// How much of Loki's reason goes into a log line.
const MAX_REASON_BYTES: usize = 300;

/// Why a Loki exporter cannot be built from its config. Never holds a secret: header values,
/// credentials and the endpoint's user info stay out.
#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    #[error("exporter {id}: endpoint is not a valid URL ({reason})")]
    Endpoint { id: String, reason: String },
    #[error("exporter {id}: endpoint {endpoint} is not http:// or https://")]
    Scheme { id: String, endpoint: String },
    #[error("exporter {id}: {source}")]
    Tls { id: String, source: TlsError },
    #[error("exporter {id}: {source}")]
    Auth { id: String, source: AuthError },
    #[error("exporter {id}: auth.authenticator {authenticator} names no configured extension")]
    NoAuthenticator { id: String, authenticator: String },
    #[error("exporter {id}: headers.{name} is not a valid HTTP header (name or value)")]
    Header { id: String, name: String },
    #[error("exporter {id}: cannot build the HTTP client: {reason}")]
    Client { id: String, reason: String },
    #[error("exporter {id}: {reason}")]
    Unsupported { id: String, reason: String },
}

/// The HTTP client of one Loki exporter.
pub struct LokiClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    shown_endpoint: String,
    /// The configured headers, in config order.
    headers: Vec<(HeaderName, HeaderValue)>,
    auth: Option<Authenticator>,
    /// Where the credentials come from, for messages.
    credentials: Option<String>,
    encoding: LokiEncoding,
    /// Gzip the body (`compression: gzip`), as OpenTelemetry's confighttp does for any body.
    gzip: bool,
    timeout: Duration,
}

/// Why a request body cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("gzip compression failed: {0}")]
    Gzip(#[from] std::io::Error),
}

/// Loki's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// From `Retry-After` on 429 and 503.
    pub retry_after: Option<Duration>,
    /// The start of the body, lossily decoded.
    pub body: String,
}

/// What an answer means for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// 429, 5xx: try again, not before `retry_after`.
    Retry {
        retry_after: Option<Duration>,
    },
    /// Final: trying again cannot succeed.
    Reject(DropReason),
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Connection, TLS or timeout.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
    /// The authenticator could not give a header (e.g. a rotated secret file with a newline
    /// inside).
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The record's tenant cannot be an `X-Scope-OrgID` value.
    #[error("tenant is not a valid X-Scope-OrgID header value")]
    Tenant,
}

impl LokiClient {
    /// The client of exporter `id`; `auth` is the extension `auth.authenticator` names.
    pub fn new(
        id: &str,
        config: &LokiExporterConfig,
        auth: Option<&ExtensionConfig>,
    ) -> Result<Self, ExporterError> {
        let endpoint =
            reqwest::Url::parse(config.endpoint.trim()).map_err(|e| ExporterError::Endpoint {
                id: id.to_owned(),
                reason: e.to_string(),
            })?;
        let shown_endpoint = display_endpoint(&endpoint);
        let tls = match endpoint.scheme() {
            "https" => tls::client_config(&config.tls),
            "http" => tls::plaintext_client_config(),
            _ => {
                return Err(ExporterError::Scheme {
                    id: id.to_owned(),
                    endpoint: shown_endpoint,
                });
            }
        }
        .map_err(|source| ExporterError::Tls {
            id: id.to_owned(),
            source,
        })?;
        let auth = match (auth, &config.auth) {
            (Some(extension), configured) => {
                let auth_id = configured
                    .as_ref()
                    .map_or("auth", |a| a.authenticator.as_str());
                Some(
                    Authenticator::from_extension(auth_id, extension).map_err(|source| {
                        ExporterError::Auth {
                            id: id.to_owned(),
                            source,
                        }
                    })?,
                )
            }
            (None, Some(configured)) => {
                return Err(ExporterError::NoAuthenticator {
                    id: id.to_owned(),
                    authenticator: configured.authenticator.clone(),
                });
            }
            (None, None) => None,
        };
        let headers = config
            .headers
            .0
            .iter()
            .map(|(name, value)| {
                let bad = || ExporterError::Header {
                    id: id.to_owned(),
                    name: name.clone(),
                };
                let name = HeaderName::try_from(name.as_str()).map_err(|_| bad())?;
                let mut value = HeaderValue::try_from(value.as_str()).map_err(|_| bad())?;
                // Configured headers may carry API keys: keep them out of HPACK and Debug.
                value.set_sensitive(true);
                Ok((name, value))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let timeout = *config.timeout;
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(USER_AGENT)
            // A redirected push would need its body again, and could carry the credentials
            // elsewhere: a 3xx is reported instead.
            .redirect(reqwest::redirect::Policy::none());
        // 0 means no timeout, as in OpenTelemetry.
        if !timeout.is_zero() {
            builder = builder.timeout(timeout);
        }
        let http = builder.build().map_err(|e| ExporterError::Client {
            id: id.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            http,
            endpoint,
            shown_endpoint,
            headers,
            credentials: auth.as_ref().map(Authenticator::describe),
            auth,
            encoding: config.encoding,
            gzip: config.compression == Compression::Gzip,
            timeout,
        })
    }

    /// The endpoint as messages show it (no user info, no query).
    pub fn shown_endpoint(&self) -> &str {
        &self.shown_endpoint
    }

    /// Where the credentials come from, if any are configured.
    pub fn credentials(&self) -> Option<&str> {
        self.credentials.as_deref()
    }

    /// The request timeout (zero: none).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The request body of `push` in the configured encoding, gzipped with `compression:
    /// gzip` (Loki un-gzips any push, so a snappy protobuf body may be gzipped too; it only
    /// costs CPU, but it is what OpenTelemetry sent with that setting).
    pub fn body(&self, push: &TenantPush) -> Result<Bytes, BodyError> {
        let encoded = match self.encoding {
            LokiEncoding::Protobuf => encode_protobuf(push)?,
            LokiEncoding::Json => encode_json(push),
        };
        if !self.gzip {
            return Ok(Bytes::from(encoded));
        }
        Ok(gzip(&encoded)?)
    }

    fn content_type(&self) -> HeaderValue {
        HeaderValue::from_static(match self.encoding {
            LokiEncoding::Protobuf => CONTENT_TYPE_PROTOBUF,
            LokiEncoding::Json => CONTENT_TYPE_JSON,
        })
    }

    /// The headers of a request for `tenant`: the configured ones in order, then
    /// `X-Scope-OrgID` for a record's tenant (replacing a configured one, as the old exporter
    /// did), then the authenticator's `Authorization` and the content type.
    pub fn headers(&self, tenant: Option<&str>) -> Result<HeaderMap, PushError> {
        let mut headers = HeaderMap::with_capacity(self.headers.len() + 3);
        for (name, value) in &self.headers {
            if tenant.is_none() || *name != X_SCOPE_ORGID {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Some(tenant) = tenant {
            let value = HeaderValue::try_from(tenant).map_err(|_| PushError::Tenant)?;
            headers.insert(X_SCOPE_ORGID, value);
        }
        if let Some(auth) = &self.auth {
            headers.insert(AUTHORIZATION, auth.header()?);
        }
        headers.insert(CONTENT_TYPE, self.content_type());
        if self.gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        Ok(headers)
    }

    /// Sends `body` for `tenant` once and reads the answer.
    pub async fn push(&self, tenant: Option<&str>, body: Bytes) -> Result<Answer, PushError> {
        let headers = self.headers(tenant)?;
        let mut response = self
            .http
            .post(self.endpoint.clone())
            .headers(headers)
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let retry_after = match status {
            429 | 503 => response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now())),
            _ => None,
        };
        // Read to the end when short, so the connection can be reused.
        let mut body = Vec::new();
        while body.len() < MAX_ANSWER_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        body.truncate(MAX_ANSWER_BYTES);
        Ok(Answer {
            status,
            retry_after,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// `encoded` gzipped, as a request body.
pub fn gzip(encoded: &[u8]) -> std::io::Result<Bytes> {
    // Fastest level: bodies are sent once and CPU is the scarcer resource here.
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(encoded.len() / 4),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut gz, encoded)?;
    Ok(Bytes::from(gz.finish()?))
}

impl fmt::Debug for LokiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("LokiClient")
            .field("endpoint", &self.shown_endpoint)
            .field("headers", &header_names)
            .field("auth", &self.credentials)
            .field("encoding", &self.encoding)
            .field("gzip", &self.gzip)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Answer {
    /// What the answer means: 2xx accepted; 429 and 5xx retried; 401 and 403 retried too
    /// (credentials are fixed or rotated while the API server still holds the events: dropping
    /// would lose them; the backoff keeps it from becoming a storm, and `max_elapsed_time`
    /// bounds it); any other status final.
    pub fn verdict(&self) -> Verdict {
        match self.status {
            200..=299 => Verdict::Accepted,
            429 | 500..=599 => Verdict::Retry {
                retry_after: self.retry_after,
            },
            401 | 403 => Verdict::Retry { retry_after: None },
            400 => Verdict::Reject(DropReason::BadRequest),
            413 => Verdict::Reject(DropReason::TooLarge),
            402..=499 => Verdict::Reject(DropReason::Other4xx),
            _ => Verdict::Reject(DropReason::UnexpectedStatus),
        }
    }

    /// Loki's reason on one line, at most about 300 bytes: the body, or the `<title>` of a
    /// gateway's HTML page.
    pub fn reason(&self) -> String {
        let body = self.body.as_str();
        let text = match (body.find("<title>"), body.find("</title>")) {
            (Some(start), Some(end)) if start + 7 <= end => &body[start + 7..end],
            _ => body,
        };
        let one_line: String = text
            .split(|c: char| c.is_control())
            .filter(|s| !s.trim().is_empty())
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        if one_line.len() <= MAX_REASON_BYTES {
            return one_line;
        }
        let mut cut = MAX_REASON_BYTES;
        while !one_line.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &one_line[..cut])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::config::http::OrderedStrings;

    pub(crate) fn config(endpoint: &str) -> LokiExporterConfig {
        LokiExporterConfig {
            endpoint: endpoint.into(),
            headers: OrderedStrings::default(),
            timeout: crate::config::duration::ConfigDuration::from_secs(5),
            tls: Default::default(),
            auth: None,
            default_labels_enabled: Default::default(),
            retry_on_failure: Default::default(),
            sending_queue: Default::default(),
            encoding: LokiEncoding::Protobuf,
            compression: Compression::None,
            max_request_bytes: None,
            max_line_bytes: None,
            keep_namespace_label: false,
            logfmt_message_field: false,
        }
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            retry_after: None,
            body: body.into(),
        }
    }

    #[test]
    fn statuses_are_classified_like_the_old_exporter_plus_reasons() {
        assert_eq!(answer(204, "").verdict(), Verdict::Accepted);
        assert_eq!(
            answer(429, "").verdict(),
            Verdict::Retry { retry_after: None }
        );
        assert_eq!(
            answer(502, "").verdict(),
            Verdict::Retry { retry_after: None }
        );
        assert_eq!(
            answer(400, "").verdict(),
            Verdict::Reject(DropReason::BadRequest)
        );
        assert_eq!(
            answer(401, "").verdict(),
            Verdict::Retry { retry_after: None }
        );
        assert_eq!(
            answer(403, "").verdict(),
            Verdict::Retry { retry_after: None }
        );
        assert_eq!(
            answer(413, "").verdict(),
            Verdict::Reject(DropReason::TooLarge)
        );
        assert_eq!(
            answer(404, "").verdict(),
            Verdict::Reject(DropReason::Other4xx)
        );
        assert_eq!(
            answer(302, "").verdict(),
            Verdict::Reject(DropReason::UnexpectedStatus)
        );
    }

    #[test]
    fn reasons_are_one_short_line() {
        let ooo = "entry with timestamp 2026-11-24 19:41:59 +0000 UTC ignored, reason: 'entry too far behind',\nuser 'tenant-a', total ignored: 1 out of 1";
        assert_eq!(
            answer(400, ooo).reason(),
            "entry with timestamp 2026-11-24 19:41:59 +0000 UTC ignored, reason: 'entry too far behind', user 'tenant-a', total ignored: 1 out of 1"
        );
        let html = "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>...";
        assert_eq!(answer(401, html).reason(), "401 Authorization Required");
        let long = "é".repeat(400);
        let reason = answer(400, &long).reason();
        assert!(reason.len() <= MAX_REASON_BYTES + "…".len() && reason.ends_with('…'));
    }

    #[test]
    fn build_errors_never_show_header_values_or_user_info() {
        let mut c = config("https://user:hunter2@loki.example/loki/api/v1/push?key=hunter2");
        c.headers = OrderedStrings(vec![("X-Api-Key".into(), "hunter2\n".into())]);
        let err = LokiClient::new("loki", &c, None).unwrap_err().to_string();
        assert_eq!(
            err,
            "exporter loki: headers.X-Api-Key is not a valid HTTP header (name or value)"
        );
        c.headers = OrderedStrings(vec![("X-Api-Key".into(), "hunter2".into())]);
        let client = LokiClient::new("loki", &c, None).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("https://loki.example/loki/api/v1/push"),
            "{shown}"
        );
        c.endpoint = "ftp://user:hunter2@loki.example/".into();
        let err = LokiClient::new("loki", &c, None).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_record_tenant_replaces_the_configured_one_after_the_other_headers() {
        let mut c = config("http://loki.example/loki/api/v1/push");
        c.headers = OrderedStrings(vec![
            ("X-Scope-OrgID".into(), "configured".into()),
            ("X-First".into(), "1".into()),
        ]);
        let client = LokiClient::new("loki", &c, None).unwrap();
        let names = |h: &HeaderMap| h.keys().map(|k| k.as_str().to_owned()).collect::<Vec<_>>();
        let own = client.headers(None).unwrap();
        assert_eq!(names(&own), ["x-scope-orgid", "x-first", "content-type"]);
        assert_eq!(own[X_SCOPE_ORGID], "configured");
        let theirs = client.headers(Some("tenant-b")).unwrap();
        assert_eq!(names(&theirs), ["x-first", "x-scope-orgid", "content-type"]);
        assert_eq!(theirs[X_SCOPE_ORGID], "tenant-b");
        assert!(matches!(
            client.headers(Some("bad\ntenant")),
            Err(PushError::Tenant)
        ));
    }

    #[test]
    fn gzip_compresses_the_encoded_body() {
        let mut c = config("http://loki.example/loki/api/v1/push");
        c.compression = Compression::Gzip;
        c.encoding = LokiEncoding::Json;
        let client = LokiClient::new("loki", &c, None).unwrap();
        let push = TenantPush {
            tenant: None,
            streams: Vec::new(),
        };
        let body = client.body(&push).unwrap();
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, encode_json(&push));
        assert_eq!(client.headers(None).unwrap()[CONTENT_ENCODING], "gzip");
    }
}
