//! LIST of Events: pages over a consistent snapshot (`limit` + `continue`), `resourceVersion` and
//! `resourceVersionMatch` as the API server reads them, and its 410/422/504 answers.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::Shared;
use super::convert::{self, Api};
use super::json;
use super::params::Params;
use super::status::{self, Status};
use super::store::{At, Store};
use super::token::Continue;

/// Answers a LIST of `api`'s Events in `namespace` (all when `None`).
pub(super) fn respond(
    shared: &Shared,
    api: Api,
    namespace: Option<&str>,
    params: &Params,
) -> Response {
    let state = shared.lock();
    match page(
        &state.store,
        api,
        namespace,
        params,
        shared.config.page_size_cap,
    ) {
        Ok(body) => status::json_response(StatusCode::OK, body),
        Err(status) => status.response(),
    }
}

/// Where a LIST reads: a snapshot revision and the key to start at.
struct Read {
    rv: u64,
    start: Option<String>,
    /// The continue token this read came from (its expiry answers differently).
    token: Option<Continue>,
}

/// The options' error, as `ListOptions` validation words it.
fn invalid_options(error: &str) -> Status {
    status::invalid("ListOptions.meta.k8s.io", "", error)
}

/// Decides the snapshot from `continue`, `resourceVersion` and `resourceVersionMatch`.
fn read_at(store: &Store, params: &Params, prefix: &str) -> Result<Read, Status> {
    let rv_param = params.resource_version.as_deref();
    let exact = match params.resource_version_match.as_deref() {
        None => None,
        Some("Exact") => Some(true),
        Some("NotOlderThan") => Some(false),
        Some(other) => {
            return Err(invalid_options(&format!(
                "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""
            )));
        }
    };
    if exact.is_some() && rv_param.is_none() {
        return Err(invalid_options(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        ));
    }
    if let Some(token) = &params.continue_token {
        if exact.is_some() {
            return Err(invalid_options(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        if rv_param.is_some_and(|rv| rv != "0") {
            return Err(status::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let token = Continue::decode(token)
            .map_err(|e| status::bad_request(format!("invalid continue token: {e}")))?;
        return Ok(Read {
            rv: u64::try_from(token.rv).unwrap_or(store.rv()),
            start: Some(format!("{prefix}{}", token.start)),
            token: Some(token),
        });
    }
    let latest = Read {
        rv: store.rv(),
        start: None,
        token: None,
    };
    let Some(rv_param) = rv_param else {
        return Ok(latest);
    };
    if rv_param == "0" {
        if exact == Some(true) {
            return Err(invalid_options(
                "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
        // "Any": the newest state is as good as any.
        return Ok(latest);
    }
    let rv: u64 = rv_param
        .parse()
        .map_err(|_| status::bad_request(format!("invalid resource version: {rv_param:?}")))?;
    // Without a match, a limit makes the resourceVersion exact (a page of that snapshot),
    // else it means "not older than".
    if exact.unwrap_or(params.limit > 0) {
        Ok(Read {
            rv,
            start: None,
            token: None,
        })
    } else if rv > store.rv() {
        Err(status::too_large_resource_version(rv, store.rv()))
    } else {
        Ok(latest)
    }
}

/// The body of one page.
fn page(
    store: &Store,
    api: Api,
    namespace: Option<&str>,
    params: &Params,
    cap: Option<usize>,
) -> Result<String, Status> {
    let prefix = namespace.map(|ns| format!("{ns}/")).unwrap_or_default();
    let read = read_at(store, params, &prefix)?;
    let events = store
        .events_at(read.rv)
        .map_err(|at| match (at, &read.token) {
            (At::Expired, Some(token)) => status::expired_continue(
                Continue {
                    rv: -1,
                    start: token.start.clone(),
                }
                .encode(),
            ),
            (At::Expired, None) => status::expired_list(),
            (At::TooLarge { current }, _) => status::too_large_resource_version(read.rv, current),
        })?;
    let limit = match (usize::try_from(params.limit).unwrap_or(usize::MAX), cap) {
        (0, _) => usize::MAX,
        (limit, Some(cap)) => limit.min(cap.max(1)),
        (limit, None) => limit,
    };
    let lower = read.start.clone().unwrap_or_else(|| prefix.clone());
    let mut matching = events
        .range(lower..)
        .take_while(|(key, _)| key.starts_with(&prefix));
    let items: Vec<(&String, &Map<String, Value>)> = matching.by_ref().take(limit).collect();
    let remaining = matching.count();
    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), read.rv.to_string().into());
    if remaining > 0
        && let Some((last, _)) = items.last()
    {
        let relative = last.strip_prefix(&prefix).unwrap_or(last);
        let token = Continue {
            rv: i64::try_from(read.rv).unwrap_or(i64::MAX),
            start: format!("{relative}\0"),
        };
        metadata.insert("continue".into(), token.encode().into());
        metadata.insert("remainingItemCount".into(), remaining.into());
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|(_, event)| convert::list_item(event, api))
        .collect();
    Ok(json::list_body(
        "EventList",
        api.api_version(),
        &Value::Object(metadata),
        &items,
        api.shape(),
    ))
}
