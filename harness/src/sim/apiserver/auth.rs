//! Authentication: `Authorization: Bearer <token>` to a user and groups, as the API server's
//! token and anonymous authenticators decide.

use std::collections::HashMap;
use std::fmt;

use axum::http::{HeaderMap, header};

/// A user and the groups the authenticator gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub groups: Vec<String>,
}

impl Identity {
    /// `user` with the groups the real authenticators derive: a service account
    /// (`system:serviceaccount:<ns>:<name>`) is in `system:serviceaccounts` and
    /// `system:serviceaccounts:<ns>`; everyone authenticated is in `system:authenticated`.
    pub fn user(user: &str, extra_groups: &[&str]) -> Identity {
        let mut groups: Vec<String> = extra_groups.iter().map(|g| (*g).to_owned()).collect();
        if let Some(rest) = user.strip_prefix("system:serviceaccount:")
            && let Some((namespace, _)) = rest.split_once(':')
        {
            groups.push("system:serviceaccounts".into());
            groups.push(format!("system:serviceaccounts:{namespace}"));
        }
        groups.push("system:authenticated".into());
        Identity {
            name: user.to_owned(),
            groups,
        }
    }

    /// `system:anonymous` in `system:unauthenticated`.
    pub fn anonymous() -> Identity {
        Identity {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }
}

/// Who sent a request, as the request log records it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A known bearer token's user.
    User(String),
    /// No credentials, admitted as `system:anonymous`.
    Anonymous,
    /// A bearer token the server does not know: 401.
    InvalidToken,
    /// No credentials while anonymous requests are off: 401.
    NoCredentials,
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::User(user) => f.write_str(user),
            Caller::Anonymous => f.write_str("system:anonymous"),
            Caller::InvalidToken => f.write_str("<invalid token>"),
            Caller::NoCredentials => f.write_str("<no credentials>"),
        }
    }
}

/// Authenticates a request's headers. A bearer token is either known or a 401, even when
/// anonymous requests are allowed (the real server fails on a bad token rather than falling back);
/// no bearer token at all is anonymous when allowed.
pub(super) fn authenticate(
    headers: &HeaderMap,
    tokens: &HashMap<String, Identity>,
    anonymous: bool,
) -> (Caller, Option<Identity>) {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match bearer {
        Some(token) => match tokens.get(token) {
            Some(identity) if !token.is_empty() => {
                (Caller::User(identity.name.clone()), Some(identity.clone()))
            }
            _ => (Caller::InvalidToken, None),
        },
        None if anonymous => (Caller::Anonymous, Some(Identity::anonymous())),
        None => (Caller::NoCredentials, None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn service_accounts_get_their_groups() {
        let id = Identity::user("system:serviceaccount:otel:k8s-event-collector", &[]);
        assert_eq!(
            id.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:otel",
                "system:authenticated"
            ]
        );
        assert_eq!(
            Identity::user("alice", &["devs"]).groups,
            ["devs", "system:authenticated"]
        );
    }

    #[test]
    fn tokens_anonymous_and_bad_tokens() {
        let tokens = HashMap::from([("t0k".to_owned(), Identity::user("alice", &[]))]);
        let mut headers = HeaderMap::new();
        assert_eq!(
            authenticate(&headers, &tokens, false).0,
            Caller::NoCredentials
        );
        assert_eq!(authenticate(&headers, &tokens, true).0, Caller::Anonymous);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer t0k"),
        );
        assert_eq!(
            authenticate(&headers, &tokens, false).0,
            Caller::User("alice".into())
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer nope"),
        );
        assert_eq!(
            authenticate(&headers, &tokens, true).0,
            Caller::InvalidToken
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dTpw"),
        );
        assert_eq!(authenticate(&headers, &tokens, true).0, Caller::Anonymous);
    }
}
