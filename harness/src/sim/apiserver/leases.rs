//! `coordination.k8s.io/v1` Leases for leader election: list, get, create, update (409 on a
//! stale resourceVersion, create on update as the Lease strategy allows) and delete.

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use super::Shared;
use super::json::{self, Shape};
use super::objects;
use super::status::{self, Resource, Status};
use super::store;

/// The resource, as messages and RBAC name it.
pub(super) const LEASES: Resource = Resource {
    resource: "leases",
    group: "coordination.k8s.io",
};

const API_VERSION: &str = "coordination.k8s.io/v1";

/// The RBAC verb of a Lease request; `None` for one the resource does not serve (405).
pub(super) fn verb(
    method: &Method,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Option<&'static str> {
    match (method.as_str(), namespace, name) {
        ("GET", _, None) => Some("list"),
        ("GET", Some(_), Some(_)) => Some("get"),
        ("POST", Some(_), None) => Some("create"),
        ("PUT", Some(_), Some(_)) => Some("update"),
        ("DELETE", Some(_), Some(_)) => Some("delete"),
        _ => None,
    }
}

/// Answers an authorized Lease request of `verb`.
pub(super) fn respond(
    shared: &Shared,
    verb: &str,
    namespace: Option<&str>,
    name: Option<&str>,
    body: &Bytes,
) -> Response {
    let result = match (verb, namespace, name) {
        ("list", _, _) => Ok(list(shared, namespace)),
        ("get", Some(ns), Some(name)) => get(shared, ns, name),
        ("create", Some(ns), _) => parse(body).and_then(|lease| create(shared, ns, lease)),
        ("update", Some(ns), Some(name)) => {
            parse(body).and_then(|lease| update(shared, ns, name, lease))
        }
        ("delete", Some(ns), Some(name)) => delete(shared, ns, name),
        _ => Err(status::method_not_allowed()),
    };
    result.unwrap_or_else(|status| status.response())
}

fn object_response(code: StatusCode, lease: &Map<String, Value>) -> Response {
    status::json_response(
        code,
        json::to_string(&Value::Object(lease.clone()), Shape::Lease),
    )
}

fn parse(body: &Bytes) -> Result<Map<String, Value>, Status> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(lease)) => Ok(lease),
        Ok(_) => Err(status::bad_request(
            "the object provided is unrecognized (must be of type Lease)",
        )),
        Err(e) => Err(status::bad_request(format!(
            "the object provided is unrecognized (must be of type Lease): couldn't get version/kind; json parse error: {e}"
        ))),
    }
}

fn list(shared: &Shared, namespace: Option<&str>) -> Response {
    let state = shared.lock();
    let prefix = namespace.map(|ns| format!("{ns}/")).unwrap_or_default();
    let items: Vec<Value> = state
        .store
        .leases()
        .iter()
        .filter(|(key, _)| key.starts_with(&prefix))
        .map(|(_, lease)| {
            let mut item = lease.clone();
            item.remove("kind");
            item.remove("apiVersion");
            Value::Object(item)
        })
        .collect();
    let metadata = serde_json::json!({"resourceVersion": state.store.rv().to_string()});
    let body = json::list_body("LeaseList", API_VERSION, &metadata, &items, Shape::Lease);
    status::json_response(StatusCode::OK, body)
}

fn get(shared: &Shared, namespace: &str, name: &str) -> Result<Response, Status> {
    let state = shared.lock();
    let lease = state
        .store
        .lease(&store::key(namespace, name))
        .ok_or_else(|| status::not_found(LEASES, name))?;
    Ok(object_response(StatusCode::OK, lease))
}

/// The object's namespace must be the path's (or unset).
fn check_namespace(lease: &Map<String, Value>, namespace: &str) -> Result<(), Status> {
    match objects::meta_str(lease, "namespace") {
        Some(ns) if !ns.is_empty() && ns != namespace => Err(status::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => Ok(()),
    }
}

/// Stamps a Lease as stored: type, namespace, uid, creationTimestamp, resourceVersion; `spec`
/// always present.
fn stamp(lease: &mut Map<String, Value>, namespace: &str, rv: u64) {
    lease.insert("kind".into(), "Lease".into());
    lease.insert("apiVersion".into(), API_VERSION.into());
    objects::fill_metadata(lease, Some(namespace), rv);
    if !lease.get("spec").is_some_and(Value::is_object) {
        lease.insert("spec".into(), Value::Object(Map::new()));
    }
    if let Some(Value::Object(spec)) = lease.get_mut("spec") {
        spec.retain(|_, v| !v.is_null());
    }
}

fn create(
    shared: &Shared,
    namespace: &str,
    mut lease: Map<String, Value>,
) -> Result<Response, Status> {
    check_namespace(&lease, namespace)?;
    let named = |key| objects::meta_str(&lease, key).is_some_and(|n| !n.is_empty());
    if !named("name") {
        if !named("generateName") {
            return Err(status::invalid(
                "Lease.coordination.k8s.io",
                "",
                "metadata.name: Required value: name or generateName is required",
            ));
        }
        objects::ensure_name(&mut lease, "spec");
    }
    let name = objects::meta_str(&lease, "name")
        .unwrap_or_default()
        .to_owned();
    let key = store::key(namespace, &name);
    let mut state = shared.lock();
    if state.store.lease(&key).is_some() {
        return Err(status::already_exists(LEASES, &name));
    }
    // A new object's identity is the server's to give.
    objects::with_metadata(&mut lease, |meta| {
        meta.remove("uid");
        meta.remove("creationTimestamp");
    });
    let rv = state.store.next_rv();
    stamp(&mut lease, namespace, rv);
    state.store.put_lease(key, lease.clone());
    Ok(object_response(StatusCode::CREATED, &lease))
}

fn update(
    shared: &Shared,
    namespace: &str,
    name: &str,
    mut lease: Map<String, Value>,
) -> Result<Response, Status> {
    check_namespace(&lease, namespace)?;
    match objects::meta_str(&lease, "name") {
        Some(given) if given != name => {
            return Err(status::bad_request(format!(
                "the name of the object ({given}) does not match the name on the URL ({name})"
            )));
        }
        Some(_) => {}
        None => objects::with_metadata(&mut lease, |m| {
            m.insert("name".into(), name.into());
        }),
    }
    let key = store::key(namespace, name);
    let mut state = shared.lock();
    let Some(current) = state.store.lease(&key).cloned() else {
        // The Lease strategy allows create on update.
        drop(state);
        return create(shared, namespace, lease);
    };
    let given_rv = objects::meta_str(&lease, "resourceVersion").unwrap_or_default();
    if given_rv.is_empty() {
        return Err(status::invalid(
            "Lease.coordination.k8s.io",
            name,
            "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
        ));
    }
    if Some(given_rv) != objects::meta_str(&current, "resourceVersion") {
        return Err(status::conflict(LEASES, name));
    }
    let kept = current.get("metadata").cloned().unwrap_or_default();
    objects::with_metadata(&mut lease, |meta| {
        for field in ["uid", "creationTimestamp"] {
            if let Some(v) = kept.get(field) {
                meta.insert(field.into(), v.clone());
            }
        }
    });
    let rv = state.store.next_rv();
    stamp(&mut lease, namespace, rv);
    state.store.put_lease(key, lease.clone());
    Ok(object_response(StatusCode::OK, &lease))
}

fn delete(shared: &Shared, namespace: &str, name: &str) -> Result<Response, Status> {
    let mut state = shared.lock();
    let lease = state
        .store
        .delete_lease(&store::key(namespace, name))
        .ok_or_else(|| status::not_found(LEASES, name))?;
    let uid = objects::meta_str(&lease, "uid").unwrap_or_default();
    Ok(status::deleted(LEASES, name, uid))
}
