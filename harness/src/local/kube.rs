//! The harness's side of the real API server, with kube-rs as the admin: server-side apply of
//! manifests, deletes, TokenRequests, namespaces and events.

use std::path::Path;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::Value;

/// The field manager of everything the harness applies.
pub const FIELD_MANAGER: &str = "k8s-event-collector-harness";

/// A client for the admin identity of `kubeconfig`.
pub async fn admin_client(kubeconfig: &Path) -> Result<Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc =
        Kubeconfig::read_from(kubeconfig).map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
    Client::try_from(config).map_err(|e| format!("kube client: {e}"))
}

/// `GET path` as text (`/readyz`, `/version`).
pub async fn get_text(client: &Client, path: &str) -> Result<String, String> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    client
        .request_text(request)
        .await
        .map_err(|e| format!("GET {path}: {e}"))
}

/// Kinds that live outside namespaces (of those the harness applies).
const CLUSTER_SCOPED: [&str; 4] = ["Namespace", "ClusterRole", "ClusterRoleBinding", "Node"];

/// The API of `object`'s kind, in its namespace when it has one.
fn api_for(client: &Client, object: &Value) -> Result<(Api<DynamicObject>, String), String> {
    let api_version = object["apiVersion"]
        .as_str()
        .ok_or("an object without apiVersion")?;
    let kind = object["kind"].as_str().ok_or("an object without kind")?;
    let name = object["metadata"]["name"]
        .as_str()
        .ok_or_else(|| format!("a {kind} without metadata.name"))?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    // Every kind the harness applies has the regular plural.
    let resource = ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", kind.to_lowercase()));
    let api = if CLUSTER_SCOPED.contains(&kind) {
        Api::all_with(client.clone(), &resource)
    } else {
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default");
        Api::namespaced_with(client.clone(), ns, &resource)
    };
    Ok((api, name.to_owned()))
}

fn describe(object: &Value) -> String {
    format!(
        "{} {}{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["namespace"]
            .as_str()
            .map(|ns| format!("{ns}/"))
            .unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Server-side apply of `object` (JSON of any manifest), taking ownership of its fields.
pub async fn apply(client: &Client, object: &Value) -> Result<(), String> {
    let (api, name) = api_for(client, object)?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(object))
        .await
        .map(|_| ())
        .map_err(|e| format!("applying {}: {e}", describe(object)))
}

/// Deletes `object` (its kind, namespace and name); already gone is fine.
pub async fn delete(client: &Client, object: &Value) -> Result<(), String> {
    let (api, name) = api_for(client, object)?;
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(format!("deleting {}: {e}", describe(object))),
    }
}

/// A token for the ServiceAccount `namespace/name`, as the kubelet requests for a pod's
/// projected volume (audience: the API server's, one hour).
pub async fn token_request(client: &Client, namespace: &str, name: &str) -> Result<String, String> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let answer = api
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .map_err(|e| format!("TokenRequest for {namespace}/{name}: {e}"))?;
    answer
        .status
        .and_then(|s| s.token)
        .ok_or_else(|| format!("TokenRequest for {namespace}/{name}: no token in the answer"))
}

/// Creates namespace `name` unless it exists.
pub async fn ensure_namespace(client: &Client, name: &str) -> Result<(), String> {
    apply(
        client,
        &serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    )
    .await
}

fn events_api(client: &Client, namespace: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("", "v1", "Event");
    Api::namespaced_with(
        client.clone(),
        namespace,
        &ApiResource::from_gvk_with_plural(&gvk, "events"),
    )
}

fn to_dynamic(mut event: Value) -> Result<DynamicObject, String> {
    event["apiVersion"] = "v1".into();
    event["kind"] = "Event".into();
    serde_json::from_value(event).map_err(|e| format!("an event that is not an object: {e}"))
}

/// Creates a core/v1 Event; returns it as the API server stored it (its uid, resourceVersion).
pub async fn create_event(client: &Client, namespace: &str, event: Value) -> Result<Value, String> {
    let created = events_api(client, namespace)
        .create(&PostParams::default(), &to_dynamic(event)?)
        .await
        .map_err(|e| format!("creating an event in {namespace}: {e}"))?;
    serde_json::to_value(created).map_err(|e| e.to_string())
}

/// Reads event `namespace/name`, changes it with `edit`, and replaces it (a count bump).
pub async fn update_event(
    client: &Client,
    namespace: &str,
    name: &str,
    edit: impl FnOnce(&mut Value),
) -> Result<Value, String> {
    let api = events_api(client, namespace);
    let current = api
        .get(name)
        .await
        .map_err(|e| format!("reading event {namespace}/{name}: {e}"))?;
    let mut value = serde_json::to_value(current).map_err(|e| e.to_string())?;
    edit(&mut value);
    let replaced = api
        .replace(name, &PostParams::default(), &to_dynamic(value)?)
        .await
        .map_err(|e| format!("updating event {namespace}/{name}: {e}"))?;
    serde_json::to_value(replaced).map_err(|e| e.to_string())
}
