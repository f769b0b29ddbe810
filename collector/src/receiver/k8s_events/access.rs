//! What a 401 or 403 means for the person running the collector: one line naming the identity,
//! the verb, the resource and scope, and the RBAC rule or credential to fix.

use super::api::{Scope, Verb};
use super::wire::Status;

/// The line to log for a 401/403 `status` answering `verb` on `scope`'s events. `credentials`
/// says whose credentials were sent (for 401, where the API server names nobody).
pub fn denied_line(status: &Status, verb: Verb, scope: &Scope, credentials: &str) -> String {
    let group = scope.api_group();
    let where_ = scope.where_();
    if status.is_unauthorized() && !status.is_forbidden() {
        return format!(
            "unauthorized: the API server did not accept {credentials} (expired, revoked, or \
             for another cluster?) to {verb} events {where_}; retrying"
        );
    }
    let rule = format!("get, list, watch on events (apiGroups: [{group:?}])");
    let binding = match &scope.namespace {
        None => "with a ClusterRole bound to it".to_owned(),
        Some(ns) => format!("with a Role in the namespace {ns:?} bound to it"),
    };
    match user(&status.message) {
        Some("system:anonymous") => format!(
            "forbidden: anonymous requests (no credentials were sent) cannot {verb} events \
             {where_}: use auth_type serviceAccount or kubeConfig, whose identity is granted \
             {rule}; retrying"
        ),
        Some(user) => {
            let identity = if user.starts_with("system:serviceaccount:") {
                format!("the service account {user}")
            } else {
                format!("the user {user:?}")
            };
            format!(
                "forbidden: {identity} cannot {verb} events {where_}: grant {rule} {binding}; retrying"
            )
        }
        // A message in another shape (a proxy, a webhook authorizer): keep its words.
        None => format!(
            "forbidden: this collector cannot {verb} events {where_} ({}): grant its identity \
             {rule} {binding}; retrying",
            status.message
        ),
    }
}

/// The user a 403 message names: `... User "system:serviceaccount:otel:collector" cannot ...`.
fn user(message: &str) -> Option<&str> {
    let rest = &message[message.find("User \"")? + "User \"".len()..];
    rest.split_once('"').map(|(user, _)| user)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::receivers::EventsApi;

    fn status(body: &str) -> Status {
        let body = body
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<String>();
        Status::from_json(&body).unwrap()
    }

    const CREDENTIALS: &str =
        "the service account token /var/run/secrets/kubernetes.io/serviceaccount/token";

    fn scope(namespace: Option<&str>, api: EventsApi) -> Scope {
        Scope {
            namespace: namespace.map(str::to_owned),
            api,
        }
    }

    #[test]
    fn forbidden_service_account() {
        let forbidden = status(include_str!(
            "../../../tests/fixtures/kube/list-core-forbidden-sa.json"
        ));
        assert_eq!(
            denied_line(
                &forbidden,
                Verb::List,
                &scope(None, EventsApi::CoreV1),
                CREDENTIALS
            ),
            "forbidden: the service account system:serviceaccount:otel:no-rbac cannot list events \
             at the cluster scope: grant get, list, watch on events (apiGroups: [\"\"]) with a \
             ClusterRole bound to it; retrying"
        );
        let watch = status(include_str!(
            "../../../tests/fixtures/kube/watch-core-forbidden-sa.json"
        ));
        assert_eq!(
            denied_line(
                &watch,
                Verb::Watch,
                &scope(None, EventsApi::EventsV1),
                CREDENTIALS
            ),
            "forbidden: the service account system:serviceaccount:otel:no-rbac cannot watch \
             events at the cluster scope: grant get, list, watch on events (apiGroups: \
             [\"events.k8s.io\"]) with a ClusterRole bound to it; retrying"
        );
        let namespaced = status(include_str!(
            "../../../tests/fixtures/kube/list-namespace-forbidden-sa.json"
        ));
        assert_eq!(
            denied_line(
                &namespaced,
                Verb::List,
                &scope(Some("shop"), EventsApi::CoreV1),
                CREDENTIALS
            ),
            "forbidden: the service account system:serviceaccount:otel:no-rbac cannot list events \
             in the namespace \"shop\": grant get, list, watch on events (apiGroups: [\"\"]) with \
             a Role in the namespace \"shop\" bound to it; retrying"
        );
    }

    #[test]
    fn forbidden_anonymous_and_others() {
        let anonymous = status(include_str!(
            "../../../tests/fixtures/kube/list-core-forbidden-anonymous.json"
        ));
        let cluster = scope(None, EventsApi::CoreV1);
        assert_eq!(
            denied_line(&anonymous, Verb::List, &cluster, "no credentials"),
            "forbidden: anonymous requests (no credentials were sent) cannot list events at the \
             cluster scope: use auth_type serviceAccount or kubeConfig, whose identity is granted \
             get, list, watch on events (apiGroups: [\"\"]); retrying"
        );
        let user = Status {
            code: 403,
            message: "events is forbidden: User \"alice\" cannot list resource \"events\"".into(),
            ..Status::default()
        };
        assert!(denied_line(&user, Verb::List, &cluster, "").starts_with(
            "forbidden: the user \"alice\" cannot list events at the cluster scope: grant"
        ));
        let proxy = Status {
            code: 403,
            message: "blocked by policy".into(),
            ..Status::default()
        };
        assert_eq!(
            denied_line(&proxy, Verb::Watch, &cluster, ""),
            "forbidden: this collector cannot watch events at the cluster scope (blocked by \
             policy): grant its identity get, list, watch on events (apiGroups: [\"\"]) with a \
             ClusterRole bound to it; retrying"
        );
    }

    #[test]
    fn unauthorized() {
        let unauthorized = status(include_str!(
            "../../../tests/fixtures/kube/list-core-unauthorized.json"
        ));
        let line = denied_line(
            &unauthorized,
            Verb::List,
            &scope(None, EventsApi::CoreV1),
            CREDENTIALS,
        );
        assert_eq!(
            line,
            "unauthorized: the API server did not accept the service account token \
             /var/run/secrets/kubernetes.io/serviceaccount/token (expired, revoked, or for another \
             cluster?) to list events at the cluster scope; retrying"
        );
    }
}
