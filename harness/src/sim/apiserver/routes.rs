//! Every request: authentication, the route, authorization, injected faults, the answer, and
//! the request log, in the real server's order (401 before 404 before 403).

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::{self, Identity};
use super::convert::{self, Api};
use super::json;
use super::leases::{self, LEASES};
use super::params::Params;
use super::status::{self, Resource, Status};
use super::{RequestRecord, Shared, list, objects, store, watch};

/// The server's routes: one handler that reads the path itself, so that unknown paths and
/// methods get the real server's `Status` answers.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Version,
    Health,
    /// `/api`.
    CoreVersions,
    /// `/apis`.
    Groups,
    /// `/api/v1`, `/apis/<group>/v1`: the resources of a group version.
    Resources(&'static str),
    Events {
        api: Api,
        namespace: Option<&'a str>,
        name: Option<&'a str>,
    },
    Leases {
        namespace: Option<&'a str>,
        name: Option<&'a str>,
    },
}

const EVENTS_GV: &str = "events.k8s.io/v1";
const COORDINATION_GV: &str = "coordination.k8s.io/v1";

fn route(path: &str) -> Option<Route<'_>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    Some(match segments.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz"] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["api", "v1"] => Route::Resources("v1"),
        ["apis", "events.k8s.io", "v1"] => Route::Resources(EVENTS_GV),
        ["apis", "coordination.k8s.io", "v1"] => Route::Resources(COORDINATION_GV),
        ["api", "v1", rest @ ..] => {
            let (namespace, name) = scoped(rest, "events")?;
            Route::Events {
                api: Api::Core,
                namespace,
                name,
            }
        }
        ["apis", "events.k8s.io", "v1", rest @ ..] => {
            let (namespace, name) = scoped(rest, "events")?;
            Route::Events {
                api: Api::EventsV1,
                namespace,
                name,
            }
        }
        ["apis", "coordination.k8s.io", "v1", rest @ ..] => {
            let (namespace, name) = scoped(rest, "leases")?;
            Route::Leases { namespace, name }
        }
        _ => return None,
    })
}

/// `<resource>`, `namespaces/<ns>/<resource>`, `namespaces/<ns>/<resource>/<name>`.
fn scoped<'a>(rest: &[&'a str], resource: &str) -> Option<(Option<&'a str>, Option<&'a str>)> {
    match rest {
        [r] if *r == resource => Some((None, None)),
        ["namespaces", ns, r] if *r == resource && !ns.is_empty() => Some((Some(*ns), None)),
        ["namespaces", ns, r, name] if *r == resource && !ns.is_empty() && !name.is_empty() => {
            Some((Some(*ns), Some(*name)))
        }
        _ => None,
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let query = uri.query().unwrap_or_default();
    let (caller, identity) = {
        let state = shared.lock();
        auth::authenticate(&headers, &state.tokens, shared.config.anonymous)
    };
    let (response, verb) = match &identity {
        None => (status::unauthorized().response(), None),
        Some(identity) => respond(&shared, &method, path, query, identity, &body),
    };
    shared.lock().log.push(RequestRecord {
        method: method.to_string(),
        path: path.to_owned(),
        query: query.to_owned(),
        user: caller,
        verb,
        status: response.status().as_u16(),
        at: SystemTime::now(),
    });
    response
}

/// The answer to an authenticated request, and its RBAC verb if it is a resource request.
fn respond(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &str,
    identity: &Identity,
    body: &Bytes,
) -> (Response, Option<&'static str>) {
    let Some(route) = route(path) else {
        return (status::path_not_found().response(), None);
    };
    match route {
        Route::Events {
            api,
            namespace,
            name,
        } => events(
            shared,
            method,
            query,
            identity,
            (api, namespace, name),
            body,
        ),
        Route::Leases { namespace, name } => {
            let Some(verb) = leases::verb(method, namespace, name) else {
                return (status::method_not_allowed().response(), None);
            };
            let response = match authorize(shared, identity, verb, LEASES, namespace, name) {
                Ok(()) => leases::respond(shared, verb, namespace, name, body),
                Err(denied) => denied.response(),
            };
            (response, Some(verb))
        }
        other => (discovery(shared, method, path, identity, other), None),
    }
}

/// 403 unless RBAC lets `identity` do `verb`.
fn authorize(
    shared: &Shared,
    identity: &Identity,
    verb: &str,
    resource: Resource,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Result<(), Status> {
    let allowed = shared.lock().rbac.allows_name(
        &identity.name,
        &identity.groups,
        verb,
        resource.group,
        resource.resource,
        namespace,
        name,
    );
    if allowed {
        Ok(())
    } else {
        Err(status::forbidden(
            &identity.name,
            verb,
            resource,
            namespace,
            name,
        ))
    }
}

/// A request on Events: list, watch, get, create, delete.
fn events(
    shared: &Arc<Shared>,
    method: &Method,
    query: &str,
    identity: &Identity,
    (api, namespace, name): (Api, Option<&str>, Option<&str>),
    body: &Bytes,
) -> (Response, Option<&'static str>) {
    let params = match Params::parse(query) {
        Ok(params) => params,
        Err(bad) => return (bad.response(), None),
    };
    let verb = match (method.as_str(), namespace, name, params.watch) {
        ("GET", _, None, true) => "watch",
        ("GET", _, None, false) => "list",
        ("GET", Some(_), Some(_), false) => "get",
        ("POST", Some(_), None, _) => "create",
        ("DELETE", Some(_), Some(_), _) => "delete",
        _ => return (status::method_not_allowed().response(), None),
    };
    let resource = api.resource();
    if let Err(denied) = authorize(shared, identity, verb, resource, namespace, name) {
        return (denied.response(), Some(verb));
    }
    if matches!(verb, "list" | "watch")
        && let Some(code) = shared.take_failure()
    {
        let injected = status::injected(code, &identity.name, verb, resource, namespace);
        return (injected.response(), Some(verb));
    }
    let response = match (verb, namespace, name) {
        ("watch", _, _) => watch::respond(shared, api, namespace, &params),
        ("list", _, _) => list::respond(shared, api, namespace, &params),
        ("get", Some(ns), Some(name)) => get_event(shared, api, ns, name),
        ("create", Some(ns), _) => create_event(shared, api, ns, body),
        ("delete", Some(ns), Some(name)) => delete_event(shared, api, ns, name),
        _ => status::method_not_allowed().response(),
    };
    (response, Some(verb))
}

fn event_response(code: StatusCode, stored: &serde_json::Map<String, Value>, api: Api) -> Response {
    let view = Value::Object(convert::view(stored, api));
    status::json_response(code, json::to_string(&view, api.shape()))
}

fn get_event(shared: &Shared, api: Api, namespace: &str, name: &str) -> Response {
    let state = shared.lock();
    match state.store.event(&store::key(namespace, name)) {
        Some(event) => event_response(StatusCode::OK, event, api),
        None => status::not_found(api.resource(), name).response(),
    }
}

/// POST of an Event in the request's API version into `namespace`.
fn create_event(shared: &Shared, api: Api, namespace: &str, body: &Bytes) -> Response {
    let mut event = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(event)) => event,
        _ => {
            return status::bad_request(
                "the object provided is unrecognized (must be of type Event)",
            )
            .response();
        }
    };
    if let Some(ns) = objects::meta_str(&event, "namespace")
        && !ns.is_empty()
        && ns != namespace
    {
        return status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )
        .response();
    }
    event.insert("apiVersion".into(), api.api_version().into());
    let name = objects::meta_str(&event, "name")
        .unwrap_or_default()
        .to_owned();
    match shared.put_event(Value::Object(event), Some(namespace), false) {
        Some(stored) => event_response(StatusCode::CREATED, &stored, api),
        None => status::already_exists(api.resource(), &name).response(),
    }
}

fn delete_event(shared: &Shared, api: Api, namespace: &str, name: &str) -> Response {
    let uid = {
        let state = shared.lock();
        state
            .store
            .event(&store::key(namespace, name))
            .and_then(|e| objects::meta_str(e, "uid"))
            .unwrap_or_default()
            .to_owned()
    };
    if shared.remove_event(namespace, name) {
        status::deleted(api.resource(), name, &uid)
    } else {
        status::not_found(api.resource(), name).response()
    }
}

/// `/version`, `/api`, `/apis`, group versions and health: open to every authenticated user;
/// anonymous users get only `/version` and health (`system:public-info-viewer`).
fn discovery(
    shared: &Shared,
    method: &Method,
    path: &str,
    identity: &Identity,
    route: Route<'_>,
) -> Response {
    if method != Method::GET {
        return status::method_not_allowed().response();
    }
    let anonymous = identity
        .groups
        .iter()
        .any(|g| g == "system:unauthenticated");
    if anonymous && !matches!(route, Route::Version | Route::Health) {
        return status::forbidden_path(&identity.name, path).response();
    }
    let body = match route {
        Route::Health => {
            return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "ok").into_response();
        }
        Route::Version => json!({
            "major": "1",
            "minor": "24",
            "gitVersion": "v1.24.17+sim",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.20.10",
            "compiler": "gc",
            "platform": "linux/amd64",
        }),
        Route::CoreVersions => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": shared.addr.to_string()}
            ],
        }),
        Route::Groups => {
            let group = |name: &str| {
                let version = json!({"groupVersion": format!("{name}/v1"), "version": "v1"});
                json!({"name": name, "versions": [version], "preferredVersion": version})
            };
            json!({
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [group("coordination.k8s.io"), group("events.k8s.io")],
            })
        }
        Route::Resources(group_version) => {
            let (name, kind, verbs) = if group_version == COORDINATION_GV {
                (
                    "leases",
                    "Lease",
                    json!(["create", "delete", "get", "list", "update"]),
                )
            } else {
                (
                    "events",
                    "Event",
                    json!(["create", "delete", "get", "list", "watch"]),
                )
            };
            json!({
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": group_version,
                "resources": [{
                    "name": name,
                    "singularName": "",
                    "namespaced": true,
                    "kind": kind,
                    "verbs": verbs,
                }],
            })
        }
        Route::Events { .. } | Route::Leases { .. } => return status::path_not_found().response(),
    };
    status::json_response(StatusCode::OK, body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_routes() {
        assert_eq!(
            route("/api/v1/namespaces/shop/events"),
            Some(Route::Events {
                api: Api::Core,
                namespace: Some("shop"),
                name: None
            })
        );
        assert_eq!(
            route("/apis/events.k8s.io/v1/events"),
            Some(Route::Events {
                api: Api::EventsV1,
                namespace: None,
                name: None
            })
        );
        assert_eq!(
            route("/apis/coordination.k8s.io/v1/namespaces/otel/leases/x"),
            Some(Route::Leases {
                namespace: Some("otel"),
                name: Some("x")
            })
        );
        for unknown in [
            "/",
            "/api/v1/pods",
            "/api/v1/namespaces//events",
            "/api/v1/events/x",
            "/apis/x/v1/events",
        ] {
            assert_eq!(route(unknown), None, "{unknown}");
        }
    }
}
