//! The two requests the receiver makes, a LIST page and a WATCH of Events, built as raw HTTP
//! requests for kube's client, and what a failed one means.

use std::fmt;

use crate::config::receivers::EventsApi;

use super::stats::ErrorClass;
use super::wire::{Status, WireError};

/// What one list/watch loop reads: all namespaces or one, through one Events API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `None`: cluster-wide.
    pub namespace: Option<String>,
    pub api: EventsApi,
}

/// The verb of a request, as RBAC names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    List,
    Watch,
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verb::List => "list",
            Verb::Watch => "watch",
        })
    }
}

impl Scope {
    /// The resource's path: `/api/v1/events`, `/apis/events.k8s.io/v1/namespaces/<ns>/events`, ...
    pub fn path(&self) -> String {
        let group_version = match self.api {
            EventsApi::CoreV1 => "/api/v1",
            EventsApi::EventsV1 => "/apis/events.k8s.io/v1",
        };
        match &self.namespace {
            None => format!("{group_version}/events"),
            Some(ns) => format!("{group_version}/namespaces/{ns}/events"),
        }
    }

    /// The RBAC API group of the resource (`""` is core).
    pub fn api_group(&self) -> &'static str {
        match self.api {
            EventsApi::CoreV1 => "",
            EventsApi::EventsV1 => "events.k8s.io",
        }
    }

    /// Where, in the words of the API server's messages: `at the cluster scope`,
    /// `in the namespace "shop"`.
    pub fn where_(&self) -> String {
        match &self.namespace {
            None => "at the cluster scope".into(),
            Some(ns) => format!("in the namespace {ns:?}"),
        }
    }

    /// A LIST page of at most `limit` events, after `continue_token` (none: the first page).
    /// Without a resourceVersion the API server reads the newest state (a consistent read).
    pub fn list(&self, limit: u32, continue_token: Option<&str>) -> http::Request<Vec<u8>> {
        let mut query = format!("limit={limit}");
        if let Some(token) = continue_token {
            query.push_str("&continue=");
            query.push_str(&encode(token));
        }
        self.get(&query)
    }

    /// A watch from `resource_version` that the API server ends after `timeout_seconds`, with
    /// BOOKMARKs so that a quiet watch still moves its position.
    pub fn watch(&self, resource_version: &str, timeout_seconds: u64) -> http::Request<Vec<u8>> {
        let query = format!(
            "watch=1&allowWatchBookmarks=true&resourceVersion={}&timeoutSeconds={timeout_seconds}",
            encode(resource_version)
        );
        let mut request = self.get(&query);
        // One JSON object per line, uncompressed: a gzip watch stream arrives in members kube's
        // decoder does not all read (kube-client's own watch does the same).
        request.headers_mut().insert(
            http::header::ACCEPT_ENCODING,
            http::HeaderValue::from_static("identity"),
        );
        request
    }

    fn get(&self, query: &str) -> http::Request<Vec<u8>> {
        let mut request = http::Request::new(Vec::new());
        // The path and query are built from a validated namespace and percent-encoded values,
        // so they always form a valid URI; an empty one would only fail the request.
        if let Ok(uri) = format!("{}?{query}", self.path()).parse() {
            *request.uri_mut() = uri;
        }
        request.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        request
    }
}

/// Percent-encodes a query value (continue tokens are base64 and may hold `=`, `+`, `/`).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `name` is a valid namespace name (an RFC 1123 label), so it can go in a path as is.
pub fn is_namespace_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Why a request gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The API server answered with an error `Status`: an HTTP 4xx/5xx, or a watch ERROR line.
    Status(Status),
    /// No answer: connection refused, TLS, a timeout, a body cut short.
    Transport(String),
    /// An answer that is not what was asked for (a LIST body that is not an event list).
    Malformed(String),
}

impl Failure {
    /// Classifies an error of kube's client. kube turns every 4xx/5xx into `Error::Api` with the
    /// body's `Status` (or one it makes up from the HTTP code when the body is not a Status).
    pub fn from_kube(error: kube::Error) -> Failure {
        match error {
            kube::Error::Api(status) => Failure::Status(Status {
                kind: "Status".into(),
                status: status.status.map(|s| format!("{s:?}")).unwrap_or_default(),
                message: status.message,
                reason: status.reason,
                code: i32::from(status.code),
            }),
            other => Failure::Transport(other.to_string()),
        }
    }

    /// Classifies an answer `wire.rs` could not read as an event list.
    pub fn from_wire(error: WireError) -> Failure {
        match error {
            WireError::Status(status) => Failure::Status(status),
            other => Failure::Malformed(other.to_string()),
        }
    }

    /// The metric class.
    pub fn class(&self) -> ErrorClass {
        match self {
            Failure::Status(status) => ErrorClass::of_code(status.code),
            Failure::Transport(_) => ErrorClass::Transport,
            Failure::Malformed(_) => ErrorClass::Other,
        }
    }

    /// 401 or 403: only a change of credentials or RBAC helps.
    pub fn is_access_denied(&self) -> bool {
        matches!(self, Failure::Status(s) if s.is_unauthorized() || s.is_forbidden())
    }

    /// 410: the resourceVersion is too old.
    pub fn is_expired(&self) -> bool {
        matches!(self, Failure::Status(s) if s.is_expired())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status(status) => write!(f, "{status}"),
            Failure::Transport(error) => write!(f, "no answer: {error}"),
            Failure::Malformed(error) => write!(f, "{error}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn scope(namespace: Option<&str>, api: EventsApi) -> Scope {
        Scope {
            namespace: namespace.map(str::to_owned),
            api,
        }
    }

    #[test]
    fn requests() {
        let cluster = scope(None, EventsApi::CoreV1);
        let list = cluster.list(500, None);
        assert_eq!(list.method(), http::Method::GET);
        assert_eq!(list.uri(), "/api/v1/events?limit=500");
        assert_eq!(list.headers()["accept"], "application/json");
        assert_eq!(
            cluster.list(2, Some("eyJ2Ijo=+/")).uri(),
            "/api/v1/events?limit=2&continue=eyJ2Ijo%3D%2B%2F"
        );
        let shop = scope(Some("shop"), EventsApi::EventsV1);
        let watch = shop.watch("418", 290);
        assert_eq!(
            watch.uri(),
            "/apis/events.k8s.io/v1/namespaces/shop/events?watch=1&allowWatchBookmarks=true&resourceVersion=418&timeoutSeconds=290"
        );
        assert_eq!(watch.headers()["accept-encoding"], "identity");
        assert_eq!(shop.where_(), "in the namespace \"shop\"");
        assert_eq!(shop.api_group(), "events.k8s.io");
        assert_eq!(cluster.where_(), "at the cluster scope");
    }

    #[test]
    fn namespace_names() {
        for ok in ["shop", "kube-system", "a", "0ab"] {
            assert!(is_namespace_name(ok), "{ok}");
        }
        for bad in ["", "Shop", "-a", "a-", "a/b", "a b", &"a".repeat(64)] {
            assert!(!is_namespace_name(bad), "{bad}");
        }
    }

    #[test]
    fn failures_from_kube() {
        let status = kube::core::Status::failure("events is forbidden", "Forbidden").with_code(403);
        let failure = Failure::from_kube(kube::Error::Api(status.boxed()));
        assert!(failure.is_access_denied());
        assert_eq!(failure.class(), ErrorClass::Forbidden);
        let Failure::Status(status) = &failure else {
            panic!("{failure:?}")
        };
        assert_eq!(
            (status.message.as_str(), status.reason.as_str()),
            ("events is forbidden", "Forbidden")
        );
        let gone = Failure::from_wire(WireError::Status(Status {
            code: 410,
            ..Status::default()
        }));
        assert!(gone.is_expired());
        assert_eq!(gone.class(), ErrorClass::Gone);
        let malformed = Failure::from_wire(WireError::NotStatus("x".into()));
        assert_eq!(malformed.class(), ErrorClass::Other);
    }
}
