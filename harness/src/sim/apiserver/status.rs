//! The `Status` bodies of the API server's errors, with the real server's reasons and messages.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::json::{self, Shape};

/// What a resource is called in messages and `details`: `events`, `events.events.k8s.io`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Resource {
    pub resource: &'static str,
    pub group: &'static str,
}

impl Resource {
    /// `events` for the core group, `leases.coordination.k8s.io` otherwise.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_owned()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// `details`: `{"name":..,"group":..,"kind":<resource>}` without empty fields.
    fn details(&self, name: Option<&str>) -> Value {
        let mut details = Map::new();
        if let Some(name) = name {
            details.insert("name".into(), name.into());
        }
        if !self.group.is_empty() {
            details.insert("group".into(), self.group.into());
        }
        details.insert("kind".into(), self.resource.into());
        Value::Object(details)
    }
}

/// A `Status` answer: HTTP code, reason and message, optional details and continue token.
#[derive(Debug, Clone)]
pub(super) struct Status {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// `metadata.continue`: set on the 410 for an expired continue token.
    pub continue_token: Option<String>,
    /// `Retry-After` seconds (429).
    pub retry_after: Option<u64>,
}

impl Status {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Status {
        Status {
            code,
            reason,
            message: message.into(),
            details: None,
            continue_token: None,
            retry_after: None,
        }
    }

    fn with_details(mut self, details: Value) -> Status {
        self.details = Some(details);
        self
    }

    /// The JSON body, byte for byte as the real server writes it.
    pub fn body(&self) -> String {
        let mut metadata = Map::new();
        if let Some(token) = &self.continue_token {
            metadata.insert("continue".into(), token.as_str().into());
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": metadata,
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let (Some(details), Some(map)) = (&self.details, status.as_object_mut()) {
            map.insert("details".into(), details.clone());
        }
        json::to_string(&status, Shape::Status)
    }

    /// The HTTP answer carrying this status.
    pub fn response(&self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = json_response(code, self.body());
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A JSON answer with the headers the real server sets.
pub(super) fn json_response(code: StatusCode, body: String) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache, private"),
        ],
        body,
    )
        .into_response()
}

/// 401 for a missing (anonymous disabled) or unknown bearer token.
pub(super) fn unauthorized() -> Status {
    Status::new(401, "Unauthorized", "Unauthorized")
}

/// 403 from the authorizer: names the user, verb, resource, group and scope.
pub(super) fn forbidden(
    user: &str,
    verb: &str,
    resource: Resource,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Status {
    let subject = match name {
        Some(name) => format!("{} \"{name}\"", resource.qualified()),
        None => resource.qualified(),
    };
    let scope = match namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_owned(),
    };
    Status::new(
        403,
        "Forbidden",
        format!(
            "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
            resource.resource, resource.group
        ),
    )
    .with_details(resource.details(name))
}

/// 403 for a path outside the API resources (`/api` for an anonymous user).
pub(super) fn forbidden_path(user: &str, path: &str) -> Status {
    Status::new(
        403,
        "Forbidden",
        format!("forbidden: User \"{user}\" cannot get path \"{path}\""),
    )
    .with_details(json!({}))
}

/// 410 for a LIST at a compacted resourceVersion.
pub(super) fn expired_list() -> Status {
    Status::new(
        410,
        "Expired",
        "The resourceVersion for the provided list is too old.",
    )
}

/// 410 (inside a watch stream, as an ERROR line) for a watch from a compacted resourceVersion.
pub(super) fn expired_watch() -> Status {
    Status::new(
        410,
        "Expired",
        "The resourceVersion for the provided watch is too old.",
    )
}

/// 410 for a continue token whose snapshot is compacted, carrying a token that continues at
/// the newest state (what etcd3's store answers).
pub(super) fn expired_continue(inconsistent_token: String) -> Status {
    let mut status = Status::new(
        410,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You \
         can start a new list without the continue parameter, or use the continue token in this \
         response to retrieve the remainder of the results. Continuing with the provided token \
         results in an inconsistent list - objects that were created, modified, or deleted \
         between the time the first chunk was returned and now may show up in the list.",
    );
    status.continue_token = Some(inconsistent_token);
    status
}

/// 504 for a resourceVersion newer than the server's.
pub(super) fn too_large_resource_version(asked: u64, current: u64) -> Status {
    Status::new(
        504,
        "Timeout",
        format!("Too large resource version: {asked}, current: {current}"),
    )
    .with_details(json!({
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": 1,
    }))
}

/// 400 with a message.
pub(super) fn bad_request(message: impl Into<String>) -> Status {
    Status::new(400, "BadRequest", message)
}

/// 422 for invalid list options or objects: `<Kind> "<name>" is invalid: <field>: <error>`.
pub(super) fn invalid(kind: &str, name: &str, field_error: &str) -> Status {
    Status::new(
        422,
        "Invalid",
        format!("{kind} \"{name}\" is invalid: {field_error}"),
    )
}

/// 404 for a path the server does not serve.
pub(super) fn path_not_found() -> Status {
    Status::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
    .with_details(json!({}))
}

/// 404 for a missing object.
pub(super) fn not_found(resource: Resource, name: &str) -> Status {
    Status::new(
        404,
        "NotFound",
        format!("{} \"{name}\" not found", resource.qualified()),
    )
    .with_details(resource.details(Some(name)))
}

/// 409 for a create of an existing object.
pub(super) fn already_exists(resource: Resource, name: &str) -> Status {
    Status::new(
        409,
        "AlreadyExists",
        format!("{} \"{name}\" already exists", resource.qualified()),
    )
    .with_details(resource.details(Some(name)))
}

/// 409 for an update from a stale resourceVersion.
pub(super) fn conflict(resource: Resource, name: &str) -> Status {
    Status::new(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            resource.qualified()
        ),
    )
    .with_details(resource.details(Some(name)))
}

/// 405 for a method the resource does not support.
pub(super) fn method_not_allowed() -> Status {
    Status::new(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    )
    .with_details(json!({}))
}

/// The `Success` status a DELETE answers with.
pub(super) fn deleted(resource: Resource, name: &str, uid: &str) -> Response {
    let mut details = resource.details(Some(name));
    if let Some(map) = details.as_object_mut() {
        map.insert("uid".into(), uid.into());
    }
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    });
    json_response(StatusCode::OK, json::to_string(&body, Shape::Status))
}

/// The answer `fail_next` injects for `code`, with the reason and message the real server uses.
pub(super) fn injected(
    code: u16,
    user: &str,
    verb: &str,
    resource: Resource,
    namespace: Option<&str>,
) -> Status {
    match code {
        400 => bad_request("injected fault"),
        401 => unauthorized(),
        403 => forbidden(user, verb, resource, namespace, None),
        404 => path_not_found(),
        410 if verb == "watch" => expired_watch(),
        410 => expired_list(),
        429 => {
            let mut status = Status::new(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
            )
            .with_details(json!({"retryAfterSeconds": 1}));
            status.retry_after = Some(1);
            status
        }
        500 => Status::new(
            500,
            "InternalError",
            "Internal error occurred: injected fault",
        )
        .with_details(json!({"causes": [{"message": "injected fault"}]})),
        503 => Status::new(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => Status::new(
            504,
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be \
             processing the request",
        ),
        code if code >= 500 => Status::new(code, "InternalError", "injected fault"),
        code => Status::new(code, "BadRequest", "injected fault"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sim::apiserver::testutil::fixture;

    const EVENTS: Resource = Resource {
        resource: "events",
        group: "",
    };

    #[test]
    fn bodies_match_the_fixtures_byte_for_byte() {
        let user = "system:serviceaccount:otel:no-rbac";
        assert_eq!(
            forbidden(user, "list", EVENTS, None, None).body(),
            fixture("list-core-forbidden-sa.json")
        );
        assert_eq!(
            forbidden(user, "watch", EVENTS, None, None).body(),
            fixture("watch-core-forbidden-sa.json")
        );
        assert_eq!(
            forbidden(user, "list", EVENTS, Some("shop"), None).body(),
            fixture("list-namespace-forbidden-sa.json")
        );
        assert_eq!(
            unauthorized().body(),
            fixture("list-core-unauthorized.json")
        );
        assert_eq!(
            expired_list().body(),
            fixture("list-core-expired-continue.json")
        );
        let anonymous: Value =
            serde_json::from_str(&fixture("list-core-forbidden-anonymous.json")).unwrap();
        let ours: Value =
            serde_json::from_str(&forbidden("system:anonymous", "list", EVENTS, None, None).body())
                .unwrap();
        assert_eq!(ours, anonymous);
    }

    #[test]
    fn named_and_grouped_resources_are_qualified() {
        let leases = Resource {
            resource: "leases",
            group: "coordination.k8s.io",
        };
        let body = forbidden("u", "get", leases, Some("otel"), Some("l")).body();
        assert_eq!(
            body,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"leases.coordination.k8s.io \"l\" is forbidden: User \"u\" cannot get resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"otel\"","reason":"Forbidden","details":{"name":"l","group":"coordination.k8s.io","kind":"leases"},"code":403}"#
        );
    }
}
