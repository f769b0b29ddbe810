//! The Secret as the kubelet reads it for a pod's `secretKeyRef` env: from the API server,
//! values decoded. The collector's env is rendered from what the API holds, not from the
//! harness's copy, so a scenario that changes the Secret changes it where an operator would.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

/// The keys and values of Secret `namespace/name`; an error naming it when it is missing or a
/// value is not UTF-8 (the values never appear in the error).
pub async fn read(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, String>, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get(name)
        .await
        .map_err(|e| format!("reading Secret {namespace}/{name}: {e}"))?;
    let mut out = BTreeMap::new();
    for (key, value) in secret.data.unwrap_or_default() {
        let text = String::from_utf8(value.0)
            .map_err(|_| format!("Secret {namespace}/{name}: the value of {key} is not UTF-8"))?;
        out.insert(key, text);
    }
    // stringData is write-only (the API server merges it into data), but a server that echoed
    // it would give the same values.
    for (key, value) in secret.string_data.unwrap_or_default() {
        out.insert(key, value);
    }
    Ok(out)
}
