//! Steps about the cluster: events, RBAC objects, and what the API server saw.

use cucumber::{given, then, when};
use serde_json::json;

use super::E2e;

#[given(
    expr = "the cluster has an event {string} in {string} with reason {string} and type {string}"
)]
async fn an_event(
    w: &mut E2e,
    name: String,
    ns: String,
    reason: String,
    kind: String,
) -> Result<(), String> {
    w.env()
        .await?
        .create_event(&ns, &name, &reason, &kind)
        .await?;
    w.created.push((ns, name));
    Ok(())
}

#[when(expr = "an event {string} is created in {string} with reason {string} and type {string}")]
async fn event_created(
    w: &mut E2e,
    name: String,
    ns: String,
    reason: String,
    kind: String,
) -> Result<(), String> {
    an_event(w, name, ns, reason, kind).await
}

#[when(expr = "{int} events are created in {string}")]
async fn events_created(w: &mut E2e, n: usize, ns: String) -> Result<(), String> {
    for _ in 0..n {
        let name = format!("burst-{}.e{}", w.created.len(), w.created.len());
        w.env()
            .await?
            .create_event(&ns, &name, "Pulled", "Normal")
            .await?;
        w.created.push((ns.clone(), name));
    }
    Ok(())
}

#[when(expr = "the event {string} in {string} is repeated {int} more times")]
async fn repeated(w: &mut E2e, name: String, ns: String, times: usize) -> Result<(), String> {
    for _ in 0..times {
        w.env().await?.repeat_event(&ns, &name).await?;
        // Distinct lastTimestamps, as a kubelet repeating over seconds would give.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

#[given(expr = "the ClusterRoleBinding {string} is deleted")]
async fn binding_deleted(w: &mut E2e, name: String) -> Result<(), String> {
    let env = w.env().await?;
    let removed = env
        .deployment_mut()?
        .remove_rbac("ClusterRoleBinding", &name)
        .ok_or_else(|| format!("deploy/ has no ClusterRoleBinding {name}"))?;
    env.apply_rbac().await?;
    w.removed.push(removed);
    Ok(())
}

#[when(expr = "the ClusterRoleBinding {string} is applied again")]
async fn binding_applied(w: &mut E2e, name: String) -> Result<(), String> {
    let at = w
        .removed
        .iter()
        .position(|o| o["kind"] == "ClusterRoleBinding" && o["metadata"]["name"] == name.as_str())
        .ok_or_else(|| format!("the ClusterRoleBinding {name} was not deleted before"))?;
    let object = w.removed.remove(at);
    let env = w.env().await?;
    env.deployment_mut()?.rbac.push(object);
    env.apply_rbac().await
}

#[given(expr = "the ClusterRole {string} does not grant {string}")]
async fn role_without(w: &mut E2e, name: String, verb: String) -> Result<(), String> {
    let env = w.env().await?;
    let role = env
        .deployment_mut()?
        .rbac_object("ClusterRole", &name)
        .ok_or_else(|| format!("deploy/ has no ClusterRole {name}"))?;
    let rules = role["rules"]
        .as_array_mut()
        .ok_or("the ClusterRole has no rules")?;
    for rule in rules {
        if let Some(verbs) = rule["verbs"].as_array_mut() {
            verbs.retain(|v| v.as_str() != Some(verb.as_str()));
        }
    }
    env.apply_rbac().await
}

#[given(
    expr = "a Role granting get, list and watch on events in namespace {string} is bound to the collector"
)]
async fn namespaced_role(w: &mut E2e, ns: String) -> Result<(), String> {
    let env = w.env().await?;
    let d = env.deployment_mut()?;
    let account = d
        .service_account
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let account_ns = d.namespace.clone();
    d.rbac.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "read-events", "namespace": ns},
        "rules": [{"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["get", "list", "watch"]}]
    }));
    d.rbac.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "read-events", "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-events"},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": account_ns}]
    }));
    env.apply_rbac().await
}

#[when("the API server closes every watch")]
async fn close_watches(w: &mut E2e) -> Result<(), String> {
    w.env().await?.api_close_watches().await
}

#[when("the API server compacts its history")]
async fn compact(w: &mut E2e) -> Result<(), String> {
    w.env().await?.api_compact().await
}

#[when(expr = "the API server answers {int} to the next {int} list or watch requests")]
async fn api_fails(w: &mut E2e, status: u16, n: usize) -> Result<(), String> {
    w.env().await?.api_fail_next(n, status).await
}

#[then("every API request of the collector was a get, list or watch of events")]
async fn only_reads(w: &mut E2e) -> Result<(), String> {
    let requests = w.env().await?.api_requests();
    if requests.is_empty() {
        return Err("the collector made no API request".into());
    }
    let bad: Vec<String> = requests
        .iter()
        .filter(|r| {
            !(matches!(r.verb.as_deref(), Some("get" | "list" | "watch"))
                && r.path.ends_with("/events"))
        })
        .map(|r| r.shown.clone())
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("requests beyond reading events: {bad:?}"))
    }
}

#[then(expr = "every API request of the collector was authenticated as {string}")]
async fn authenticated_as(w: &mut E2e, user: String) -> Result<(), String> {
    let requests = w.env().await?.api_requests();
    let others: Vec<String> = requests
        .iter()
        .filter(|r| r.user.as_deref() != Some(user.as_str()))
        .map(|r| format!("{} as {:?}", r.shown, r.user))
        .collect();
    if requests.is_empty() {
        Err("the collector made no API request".into())
    } else if others.is_empty() {
        Ok(())
    } else {
        Err(format!("requests not made as {user}: {others:?}"))
    }
}
