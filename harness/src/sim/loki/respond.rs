//! The fake Loki's HTTP answers, as wiremock's responder: what nginx checks (basic auth), the
//! scripted faults, then what Loki checks (tenant, body), then Loki's write path ([`ingest`]).
//!
//! Faults come after the gateway's auth check and before Loki's own checks: a scripted 429 or
//! 503 stands for Loki (or the path to it) failing, which a request the gateway refuses never
//! reaches; so a refused request does not use up a scripted fault.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_event_collector::exporter::loki::{CONTENT_TYPE_JSON, decode_json, decode_protobuf};
use wiremock::{Request, Respond, ResponseTemplate};

use super::LokiConfig;
use super::ingest::{self, Answer, Store};
use super::record::{AuthSeen, LogStream, RecordedPush, streams_of};
use crate::tls::nginx;

/// The push path.
pub const PUSH_PATH: &str = "/loki/api/v1/push";

/// The tenant Loki files everything under when it runs without multi-tenancy.
pub const SINGLE_TENANT: &str = "fake";

/// Loki's default ingestion rate limit (4 MB/s), as its 429 text prints it.
const RATE_LIMIT_BYTES: u64 = 4 * 1024 * 1024;

/// The fake Loki's state, shared between the server and the [`FakeLoki`](super::FakeLoki)
/// handle.
#[derive(Debug)]
pub(crate) struct State {
    pub config: LokiConfig,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    /// The credentials the gateway accepts now (they start as the config's and can rotate).
    pub credentials: Option<super::BasicAuth>,
    pub faults: VecDeque<Fault>,
    pub delay: Duration,
    pub pushes: Vec<RecordedPush>,
    pub store: Store,
}

/// A scripted answer for the next `remaining` pushes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fault {
    pub remaining: usize,
    pub status: u16,
    pub retry_after: Option<u64>,
}

/// An HTTP answer before it becomes a wiremock template.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn text(answer: Answer) -> Self {
        Self {
            status: answer.status,
            // Go's http.Error.
            content_type: "text/plain; charset=utf-8",
            body: answer.body,
            headers: vec![("X-Content-Type-Options", "nosniff".to_owned())],
        }
    }

    fn html(status: u16, page: String) -> Self {
        Self {
            status,
            content_type: "text/html",
            body: page,
            headers: vec![],
        }
    }

    fn unauthorized() -> Self {
        let mut reply = Self::html(401, nginx::error_page(401).unwrap_or_default());
        reply.headers.push((
            "WWW-Authenticate",
            format!("Basic realm=\"{}\"", nginx::REALM),
        ));
        reply
    }

    fn into_template(self, delay: Duration) -> ResponseTemplate {
        let mut template = ResponseTemplate::new(self.status);
        for (name, value) in self.headers {
            template = template.insert_header(name, value);
        }
        if !self.body.is_empty() {
            template = template.set_body_raw(self.body, self.content_type);
        }
        if !delay.is_zero() {
            template = template.set_delay(delay);
        }
        template
    }
}

/// wiremock's view of the fake Loki.
pub(crate) struct LokiResponder(pub Arc<State>);

impl Respond for LokiResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let (reply, delay) = self.0.handle(request);
        reply.into_template(delay)
    }
}

impl State {
    pub(crate) fn new(config: LokiConfig) -> Self {
        let inner = Inner {
            credentials: config.basic_auth.clone(),
            ..Inner::default()
        };
        Self {
            config,
            inner: Mutex::new(inner),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn handle(&self, request: &Request) -> (Reply, Duration) {
        let delay = self.lock().delay;
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (auth, credentials) = read_authorization(header("authorization").as_deref());
        let expected = self.lock().credentials.clone();
        let auth_ok = match &expected {
            None => true,
            Some(expected) => credentials.is_some_and(|(user, password)| {
                user == expected.user && password == expected.password
            }),
        };

        if request.url.path() != PUSH_PATH {
            let reply = match (auth_ok, request.url.path()) {
                (false, _) => Reply::unauthorized(),
                (true, "/ready") => Reply::text(Answer::error(200, "ready")),
                // Go's http.NotFound.
                (true, _) => Reply::text(Answer::error(404, "404 page not found")),
            };
            return (reply, delay);
        }
        if request.method.as_str() != "POST" {
            // The route accepts POST only (gorilla/mux answers 405 with no body).
            return (Reply::html(405, String::new()), delay);
        }

        let tenant = header("x-scope-orgid");
        let content_type = header("content-type");
        let content_encoding = header("content-encoding");
        let decoded = decode(
            content_type.as_deref(),
            content_encoding.as_deref(),
            &request.body,
        );
        let now = SystemTime::now();

        let mut inner = self.lock();
        let mut injected = false;
        let reply = if !auth_ok {
            Reply::unauthorized()
        } else if let Some(fault) = take_fault(&mut inner.faults) {
            injected = true;
            let shown_tenant = tenant.as_deref().unwrap_or(SINGLE_TENANT);
            fault_reply(fault, shown_tenant, decoded.as_deref().ok())
        } else {
            let stored_tenant = if self.config.require_tenant {
                tenant.as_deref().filter(|t| !t.is_empty())
            } else {
                Some(SINGLE_TENANT)
            };
            match (stored_tenant, &decoded) {
                // dskit's tenant middleware.
                (None, _) => Reply::text(Answer::error(401, "no org id")),
                (Some(_), Err(answer)) => Reply::text(answer.clone()),
                (Some(stored_tenant), Ok(streams)) => Reply::text(ingest::push(
                    &mut inner.store,
                    stored_tenant,
                    streams,
                    &self.config.limits,
                    unix_nano(now),
                )),
            }
        };
        let (streams, decode_error) = match decoded {
            Ok(streams) => (streams, None),
            Err(answer) => (Vec::new(), Some(answer.body.trim_end().to_owned())),
        };
        inner.pushes.push(RecordedPush {
            received_at: now,
            tenant,
            auth,
            auth_ok,
            status: reply.status,
            answer: reply.body.clone(),
            injected,
            content_type,
            content_encoding,
            body_bytes: request.body.len(),
            streams,
            decode_error,
        });
        (reply, delay)
    }
}

/// The body's streams, or Loki's answer to a body it cannot read.
fn decode(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
) -> Result<Vec<LogStream>, Answer> {
    let encoding = content_encoding
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty());
    match encoding.as_deref() {
        // Loki ignores `snappy` here: protobuf bodies are snappy-compressed anyway.
        None | Some("snappy") => {}
        // Real Loki decodes these; the harness has no gzip decoder among its dependencies.
        Some(e @ ("gzip" | "deflate")) => {
            return Err(Answer::error(
                415,
                format!("Content-Encoding {e:?} is not supported by the harness's fake Loki"),
            ));
        }
        Some(other) => {
            return Err(Answer::error(
                400,
                format!("Content-Encoding {other:?} not supported"),
            ));
        }
    }
    let media = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    // Loki reads anything but JSON as protobuf, also without a Content-Type.
    let request = if media.as_deref() == Some(CONTENT_TYPE_JSON) {
        decode_json(body)
    } else {
        decode_protobuf(body)
    };
    request
        .map(|r| streams_of(&r))
        .map_err(|e| Answer::error(400, e.to_string()))
}

fn take_fault(faults: &mut VecDeque<Fault>) -> Option<Fault> {
    let fault = faults.front_mut()?;
    let taken = *fault;
    fault.remaining = fault.remaining.saturating_sub(1);
    if fault.remaining == 0 {
        faults.pop_front();
    }
    Some(taken)
}

/// A scripted failure, in the words of whoever would answer it: Loki's rate limiter for 429,
/// the gateway's page for 502/503/504, else a short text.
fn fault_reply(fault: Fault, tenant: &str, streams: Option<&[LogStream]>) -> Reply {
    let mut reply = match fault.status {
        429 => {
            let entries = streams.unwrap_or_default().iter().flat_map(|s| &s.entries);
            let (lines, bytes) = entries.fold((0usize, 0usize), |(n, b), e| {
                let metadata: usize = e
                    .structured_metadata
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum();
                (n + 1, b + e.line.len() + metadata)
            });
            Reply::text(Answer::error(
                429,
                format!(
                    "Ingestion rate limit exceeded for user {tenant} (limit: {RATE_LIMIT_BYTES} bytes/sec) while attempting to ingest '{lines}' lines totaling '{bytes}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased"
                ),
            ))
        }
        status @ (502..=504) => Reply::html(status, nginx::error_page(status).unwrap_or_default()),
        status => Reply::text(Answer::error(
            status,
            format!("simulated failure: status {status}"),
        )),
    };
    if let Some(seconds) = fault.retry_after {
        reply.headers.push(("Retry-After", seconds.to_string()));
    }
    reply
}

fn unix_nano(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// What the `Authorization` header shows, and the basic credentials when it holds some.
fn read_authorization(value: Option<&str>) -> (AuthSeen, Option<(String, String)>) {
    let Some(value) = value else {
        return (AuthSeen::None, None);
    };
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return (
            AuthSeen::Other {
                scheme: scheme.to_owned(),
            },
            None,
        );
    }
    let decoded = base64_decode(rest.trim()).and_then(|b| String::from_utf8(b).ok());
    match decoded {
        Some(pair) => {
            let (user, password) = pair.split_once(':').unwrap_or((&pair, ""));
            (
                AuthSeen::Basic {
                    user: user.to_owned(),
                },
                Some((user.to_owned(), password.to_owned())),
            )
        }
        None => (
            AuthSeen::Other {
                scheme: "basic (undecodable)".to_owned(),
            },
            None,
        ),
    }
}

/// Standard base64 (RFC 4648), padding optional; `None` for anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    // A lone 6-bit group cannot end a valid encoding.
    (bits < 6).then_some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_rfc_4648_vectors() {
        for (encoded, plain) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg", "foob"),
            ("Zm9vYmFy", "foobar"),
            ("dXNlcjpwYXNz", "user:pass"),
        ] {
            assert_eq!(
                base64_decode(encoded).unwrap(),
                plain.as_bytes(),
                "{encoded}"
            );
        }
        assert_eq!(base64_decode("Z"), None);
        assert_eq!(base64_decode("Zm9v!"), None);
    }

    #[test]
    fn authorization_is_read_without_keeping_the_password() {
        let (seen, credentials) = read_authorization(Some("basic dXNlcjpwYTpzcw=="));
        assert_eq!(
            seen,
            AuthSeen::Basic {
                user: "user".into()
            }
        );
        assert_eq!(credentials, Some(("user".into(), "pa:ss".into())));
        assert_eq!(seen.to_string(), "basic user:[REDACTED]");
        let (seen, credentials) = read_authorization(Some("Bearer abc"));
        assert_eq!(seen.to_string(), "bearer [REDACTED]");
        assert_eq!(credentials, None);
        assert_eq!(read_authorization(None).0, AuthSeen::None);
    }

    #[test]
    fn faults_run_down_in_order() {
        let mut faults = VecDeque::from([
            Fault {
                remaining: 2,
                status: 429,
                retry_after: Some(1),
            },
            Fault {
                remaining: 1,
                status: 503,
                retry_after: None,
            },
        ]);
        let statuses: Vec<u16> = std::iter::from_fn(|| take_fault(&mut faults))
            .map(|f| f.status)
            .collect();
        assert_eq!(statuses, [429, 429, 503]);
    }

    #[test]
    fn unknown_encodings_are_refused_before_decoding() {
        assert_eq!(decode(None, Some("gzip"), b"").unwrap_err().status, 415);
        assert_eq!(
            decode(None, Some("br"), b"").unwrap_err(),
            Answer::error(400, "Content-Encoding \"br\" not supported")
        );
        // Without a Content-Type, protobuf is assumed.
        assert!(
            decode(None, None, b"{}")
                .unwrap_err()
                .body
                .contains("snappy")
        );
        assert!(
            decode(
                Some("application/json; charset=utf-8"),
                None,
                br#"{"streams":[]}"#
            )
            .is_ok()
        );
    }
}
