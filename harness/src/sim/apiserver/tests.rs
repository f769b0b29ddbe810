//! The simulator over HTTP against what the real API server answered
//! (`collector/tests/fixtures/kube/`): paging, list+watch, compaction, the events.k8s.io view,
//! RBAC, authentication, faults and Leases.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::testutil::{
    EVENTS_READER, LEADER, Lines, SA, SHOP_BINDING, TOKEN, client, cluster_reader, fixture,
    fixture_lines, get, get_json, kubelet_event, reader_of_both_apis, server, server_with, yaml,
};
use super::{ApiServer, ApiServerConfig, Caller, Rbac};

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["metadata"]["namespace"].as_str().unwrap(),
                i["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn paging_over_five_events_follows_continue_on_one_snapshot() {
    let server = server().await;
    for (ns, name) in [
        ("shop", "e2"),
        ("payments", "e1"),
        ("shop", "e1"),
        ("payments", "e0"),
        ("kube-system", "e9"),
    ] {
        server.create_event(kubelet_event(ns, name));
    }
    let (status, page1) = get_json(&server, "/api/v1/events?limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(page1["kind"], "EventList");
    assert_eq!(page1["apiVersion"], "v1");
    let rv = page1["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(rv, server.current_resource_version().to_string());
    assert_eq!(page1["metadata"]["remainingItemCount"], 3);
    assert!(
        page1["items"][0].get("kind").is_none() && page1["items"][0].get("apiVersion").is_none()
    );

    // Changes between pages do not show: the pages read the first page's snapshot.
    server.create_event(kubelet_event("payments", "e00"));
    assert!(server.delete_event("shop", "e2"));

    let mut seen = names(&page1);
    let mut token = page1["metadata"]["continue"].as_str().unwrap().to_owned();
    let mut remaining = vec![];
    loop {
        let (status, page) =
            get_json(&server, &format!("/api/v1/events?limit=2&continue={token}")).await;
        assert_eq!(status, 200);
        assert_eq!(page["metadata"]["resourceVersion"], rv.as_str());
        seen.extend(names(&page));
        remaining.push(page["metadata"].get("remainingItemCount").cloned());
        match page["metadata"].get("continue") {
            Some(next) => token = next.as_str().unwrap().to_owned(),
            None => break,
        }
    }
    assert_eq!(remaining, [Some(json!(1)), None]);
    assert_eq!(
        seen,
        [
            "kube-system/e9",
            "payments/e0",
            "payments/e1",
            "shop/e1",
            "shop/e2"
        ]
    );

    // In a namespace, with the token's start key relative to it.
    let (_, shop) = get_json(&server, "/api/v1/namespaces/payments/events?limit=1").await;
    assert_eq!(names(&shop), ["payments/e0"]);
    assert_eq!(shop["metadata"]["remainingItemCount"], 2);
    let token = shop["metadata"]["continue"].as_str().unwrap();
    let (_, next) = get_json(
        &server,
        &format!("/api/v1/namespaces/payments/events?limit=5&continue={token}"),
    )
    .await;
    assert_eq!(names(&next), ["payments/e00", "payments/e1"]);
    assert!(next["metadata"].get("continue").is_none());
}

#[tokio::test]
async fn page_size_cap_serves_smaller_pages() {
    let config = ApiServerConfig {
        page_size_cap: Some(1),
        ..ApiServerConfig::default()
    };
    let server = server_with(&cluster_reader(), config).await;
    server.create_event(kubelet_event("a", "x"));
    server.create_event(kubelet_event("a", "y"));
    let (_, page) = get_json(&server, "/api/v1/events?limit=500").await;
    assert_eq!(names(&page), ["a/x"]);
    assert_eq!(page["metadata"]["remainingItemCount"], 1);
    // Without a limit a client would not page: the cap does not apply.
    let (_, all) = get_json(&server, "/api/v1/events").await;
    assert_eq!(names(&all), ["a/x", "a/y"]);
}

/// The next watch line that is not a BOOKMARK (those come at any time).
async fn next_change(watch: &mut Lines) -> String {
    loop {
        let line = watch.next().await.unwrap();
        if !line.starts_with(r#"{"type":"BOOKMARK""#) {
            return line;
        }
    }
}

#[tokio::test]
async fn list_then_watch_sees_added_modified_deleted_and_bookmarks() {
    let server = server().await;
    server.create_event(kubelet_event("shop", "before"));
    let (_, list) = get_json(&server, "/api/v1/events?limit=500").await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut watch = Lines::open(
        &server,
        &format!(
            "/api/v1/events?watch=1&allowWatchBookmarks=true&resourceVersion={rv}&timeoutSeconds=30"
        ),
    )
    .await;

    let created = server.create_event(kubelet_event("shop", "web-7.1"));
    let line = next_change(&mut watch).await;
    assert!(
        line.starts_with(r#"{"type":"ADDED","object":{"kind":"Event","apiVersion":"v1","metadata":{"name":"web-7.1","namespace":"shop","uid":"#),
        "{line}"
    );
    let added: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(added["object"], created);
    let added_rv: u64 = added["object"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(added_rv > rv.parse().unwrap());

    server
        .update_event("shop", "web-7.1", |e| {
            e["count"] = json!(2);
            e["lastTimestamp"] = json!("2026-11-24T22:46:25Z");
        })
        .unwrap();
    let modified: Value = serde_json::from_str(&next_change(&mut watch).await).unwrap();
    assert_eq!(modified["type"], "MODIFIED");
    assert_eq!(modified["object"]["count"], 2);
    assert_eq!(
        modified["object"]["metadata"]["uid"],
        created["metadata"]["uid"]
    );
    let modified_rv: u64 = modified["object"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(modified_rv > added_rv);

    assert!(server.delete_event("shop", "web-7.1"));
    let deleted: Value = serde_json::from_str(&next_change(&mut watch).await).unwrap();
    assert_eq!(deleted["type"], "DELETED");
    assert_eq!(deleted["object"]["count"], 2);
    assert_eq!(
        deleted["object"]["metadata"]["resourceVersion"],
        server.current_resource_version().to_string()
    );

    // A bookmark may have come before the delete was sent; the next one carries its RV.
    let mut bookmark = watch.next().await.unwrap();
    while !bookmark.contains(&format!(
        r#""resourceVersion":"{}""#,
        server.current_resource_version()
    )) {
        bookmark = watch.next().await.unwrap();
    }
    assert_eq!(
        bookmark,
        format!(
            r#"{{"type":"BOOKMARK","object":{{"kind":"Event","apiVersion":"v1","metadata":{{"resourceVersion":"{}","creationTimestamp":null}},"involvedObject":{{}},"source":{{}},"firstTimestamp":null,"lastTimestamp":null,"eventTime":null,"reportingComponent":"","reportingInstance":""}}}}"#,
            server.current_resource_version()
        )
    );

    assert_eq!(server.open_watches(), 1);
    server.close_watches();
    assert_eq!(watch.next().await, None);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.open_watches(), 0);
}

#[tokio::test]
async fn watch_without_resource_version_starts_with_the_current_state_and_filters_namespaces() {
    let server = server().await;
    server.create_event(kubelet_event("shop", "a"));
    server.create_event(kubelet_event("payments", "b"));
    let mut watch = Lines::open(&server, "/api/v1/namespaces/shop/events?watch=true").await;
    let first = watch.next_json().await.unwrap();
    assert_eq!(
        (
            first["type"].as_str(),
            first["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("a"))
    );
    server.create_event(kubelet_event("payments", "c"));
    server.create_event(kubelet_event("shop", "d"));
    let next = watch.next_json().await.unwrap();
    assert_eq!(next["object"]["metadata"]["name"], "d");
}

#[tokio::test]
async fn watch_ends_cleanly_at_timeout_seconds() {
    let server = server().await;
    let started = Instant::now();
    let mut watch = Lines::open(
        &server,
        &format!(
            "/api/v1/events?watch=1&resourceVersion={}&timeoutSeconds=1",
            server.current_resource_version()
        ),
    )
    .await;
    assert_eq!(watch.next().await, None);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // max_watch_timeout caps what the client asks.
    let capped = server_with(
        &cluster_reader(),
        ApiServerConfig {
            max_watch_timeout: Duration::from_millis(300),
            ..ApiServerConfig::default()
        },
    )
    .await;
    let started = Instant::now();
    let mut watch = Lines::open(
        &capped,
        "/api/v1/events?watch=1&resourceVersion=1&timeoutSeconds=600",
    )
    .await;
    assert_eq!(watch.next().await, None);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn watch_from_a_compacted_resource_version_is_an_error_line_in_a_200() {
    let server = server().await;
    server.create_event(kubelet_event("shop", "a"));
    let old = server.current_resource_version();
    server.create_event(kubelet_event("shop", "b"));
    // Before compaction the old revision replays what followed it.
    let mut replay = Lines::open(
        &server,
        &format!("/api/v1/events?watch=1&resourceVersion={old}"),
    )
    .await;
    assert_eq!(
        replay.next_json().await.unwrap()["object"]["metadata"]["name"],
        "b"
    );

    server.compact();
    server.set_rbac(reader_of_both_apis());
    for (path, fixture_name) in [
        ("/api/v1/events", "watch-core-expired-rv.jsonl"),
        (
            "/apis/events.k8s.io/v1/events",
            "watch-eventsv1-expired-rv.jsonl",
        ),
    ] {
        let (status, body) = get(
            &server,
            &format!(
                "{path}?watch=1&allowWatchBookmarks=true&resourceVersion={old}&timeoutSeconds=70"
            ),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body, format!("{}\n", fixture(fixture_name)));
    }
    // An exact LIST at that revision is a 410 as the HTTP status.
    let (status, body) = get(
        &server,
        &format!("/api/v1/events?resourceVersion={old}&resourceVersionMatch=Exact"),
    )
    .await;
    assert_eq!(status, 410);
    assert_eq!(body, fixture("list-core-expired-continue.json"));
    // The open watch goes on, and a watch from now is fine.
    server.create_event(kubelet_event("shop", "c"));
    assert_eq!(
        replay.next_json().await.unwrap()["object"]["metadata"]["name"],
        "c"
    );
    let now = server.current_resource_version();
    let (status, body) = get(
        &server,
        &format!("/api/v1/events?watch=1&resourceVersion={now}&timeoutSeconds=1"),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
}

#[tokio::test]
async fn list_with_an_expired_continue_is_410_with_a_token_to_go_on() {
    let server = server().await;
    for name in ["a", "b", "c"] {
        server.create_event(kubelet_event("shop", name));
    }
    let (_, page1) = get_json(&server, "/api/v1/events?limit=1").await;
    let token = page1["metadata"]["continue"].as_str().unwrap().to_owned();
    server.create_event(kubelet_event("shop", "d"));
    server.compact();
    let (status, expired) =
        get_json(&server, &format!("/api/v1/events?limit=1&continue={token}")).await;
    assert_eq!(status, 410);
    assert_eq!(expired["reason"], "Expired");
    assert_eq!(expired["code"], 410);
    assert!(expired["message"].as_str().unwrap().starts_with(
        "The provided continue parameter is too old to display a consistent list result."
    ));
    // Its token continues at the newest state: the event created after page 1 shows.
    let inconsistent = expired["metadata"]["continue"].as_str().unwrap();
    let (status, rest) =
        get_json(&server, &format!("/api/v1/events?continue={inconsistent}")).await;
    assert_eq!(status, 200);
    assert_eq!(names(&rest), ["shop/b", "shop/c", "shop/d"]);
    assert_eq!(
        rest["metadata"]["resourceVersion"],
        server.current_resource_version().to_string()
    );
}

/// The object of a captured watch line.
fn watch_object(line: &str) -> Value {
    serde_json::from_str::<Value>(line).unwrap()["object"].clone()
}

#[tokio::test]
async fn both_views_match_the_captured_streams_byte_for_byte_but_resource_versions() {
    let server = server().await;
    server.set_rbac(reader_of_both_apis());
    let core = fixture_lines("watch-core.jsonl");
    let v1 = fixture_lines("watch-eventsv1.jsonl");
    let start = server.current_resource_version();
    // The kubelet-style event through core/v1, the controller-style one through events.k8s.io/v1,
    // each with the captured metadata (uid, times, managedFields) so only the RV differs.
    let kubelet = server.create_event(watch_object(&core[0]));
    let controller = server.create_event(watch_object(&v1[2]));
    let rv = |e: &Value| {
        e["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (path, lines) in [
        ("/api/v1/events", &core),
        ("/apis/events.k8s.io/v1/events", &v1),
    ] {
        let mut watch =
            Lines::open(&server, &format!("{path}?watch=1&resourceVersion={start}")).await;
        let expected = [
            lines[0].replace(
                r#""resourceVersion":"418""#,
                &format!(r#""resourceVersion":"{}""#, rv(&kubelet)),
            ),
            lines[2].replace(
                r#""resourceVersion":"420""#,
                &format!(r#""resourceVersion":"{}""#, rv(&controller)),
            ),
        ];
        for line in expected {
            assert_eq!(watch.next().await.unwrap(), line);
        }
    }
}

/// The keys of a JSON tree, as sorted paths.
fn layout(value: &Value, at: &str, out: &mut Vec<String>) {
    if let Value::Object(map) = value {
        for (key, child) in map {
            let path = format!("{at}.{key}");
            out.push(path.clone());
            if key != "fieldsV1" {
                layout(child, &path, out);
            }
        }
    } else if let Value::Array(items) = value
        && let Some(first) = items.first()
    {
        layout(first, &format!("{at}[]"), out);
    }
}

#[tokio::test]
async fn the_events_k8s_io_view_of_a_created_kubelet_event_has_the_fixture_layout() {
    let server = server().await;
    server.create_event(kubelet_event("shop", "web-7.fixture"));
    server.set_rbac(reader_of_both_apis());
    let (status, ours) = get_json(&server, "/apis/events.k8s.io/v1/events?limit=2").await;
    assert_eq!(status, 200);
    let theirs: Value = serde_json::from_str(&fixture("list-eventsv1-page1.json")).unwrap();
    assert_eq!(ours["kind"], theirs["kind"]);
    assert_eq!(ours["apiVersion"], theirs["apiVersion"]);
    let (mut a, mut b) = (vec![], vec![]);
    layout(&ours["items"][0], "", &mut a);
    layout(&theirs["items"][0], "", &mut b);
    assert_eq!(a, b);
    let item = &ours["items"][0];
    assert_eq!(
        item["note"],
        "Back-off restarting failed container app in pod web-7_shop"
    );
    assert_eq!(item["regarding"]["name"], "web-7");
    assert_eq!(item["deprecatedCount"], 1);
    assert_eq!(item["deprecatedSource"]["host"], "node-2");
    assert_eq!(item["eventTime"], Value::Null);
    // A single GET has kind and apiVersion.
    let (_, one) = get_json(
        &server,
        "/apis/events.k8s.io/v1/namespaces/shop/events/web-7.fixture",
    )
    .await;
    assert_eq!(one["apiVersion"], "events.k8s.io/v1");
    assert_eq!(one["reportingController"], "kubelet");
}

/// A fixture's 403 body for our service account.
fn forbidden_fixture(name: &str) -> String {
    fixture(name).replace("system:serviceaccount:otel:no-rbac", SA)
}

#[tokio::test]
async fn a_cluster_role_binding_lets_the_service_account_list_and_watch_everywhere() {
    let server = server().await;
    server.create_event(kubelet_event("shop", "a"));
    assert_eq!(get(&server, "/api/v1/events").await.0, 200);
    assert_eq!(
        get(&server, "/api/v1/namespaces/payments/events").await.0,
        200
    );
    let mut watch = Lines::open(&server, "/api/v1/events?watch=1").await;
    assert_eq!(watch.next_json().await.unwrap()["type"], "ADDED");
    // The group is part of the grant: events.k8s.io is another API group.
    let (status, _) = get(&server, "/apis/events.k8s.io/v1/events").await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn without_the_binding_list_and_watch_are_403_with_the_real_message() {
    let server = server_with(EVENTS_READER, ApiServerConfig::default()).await;
    let (status, body) = get(&server, "/api/v1/events?limit=500").await;
    assert_eq!(
        (status, body),
        (403, forbidden_fixture("list-core-forbidden-sa.json"))
    );
    let (status, body) = get(&server, "/api/v1/events?watch=1&resourceVersion=1").await;
    assert_eq!(
        (status, body),
        (403, forbidden_fixture("watch-core-forbidden-sa.json"))
    );
    let log = server.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].user, Caller::User(SA.into()));
    assert_eq!((log[1].verb, log[1].status), (Some("watch"), 403));
}

#[tokio::test]
async fn a_role_binding_grants_in_its_namespace_only() {
    let server = server_with(
        &yaml(&[EVENTS_READER, SHOP_BINDING]),
        ApiServerConfig::default(),
    )
    .await;
    assert_eq!(get(&server, "/api/v1/namespaces/shop/events").await.0, 200);
    let (status, body) = get(&server, "/api/v1/events").await;
    assert_eq!(
        (status, body),
        (403, forbidden_fixture("list-core-forbidden-sa.json"))
    );
    let (status, body) = get(&server, "/api/v1/namespaces/payments/events").await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        forbidden_fixture("list-namespace-forbidden-sa.json")
            .replace("\\\"shop\\\"", "\\\"payments\\\"")
    );
}

#[tokio::test]
async fn removing_watch_from_the_role_forbids_the_watch_but_not_the_list() {
    let server = server().await;
    let (status, _) = get(&server, "/api/v1/events?watch=1&timeoutSeconds=1").await;
    assert_eq!(status, 200);
    server.set_rbac(
        Rbac::from_yaml_documents(
            &cluster_reader().replace("verbs: [get, list, watch]", "verbs: [get, list]"),
        )
        .unwrap(),
    );
    let (status, body) = get(&server, "/api/v1/events?watch=1&timeoutSeconds=1").await;
    assert_eq!(
        (status, body),
        (403, forbidden_fixture("watch-core-forbidden-sa.json"))
    );
    assert_eq!(get(&server, "/api/v1/events").await.0, 200);
}

#[tokio::test]
async fn unknown_tokens_and_missing_credentials_are_401_anonymous_is_403() {
    let server = server().await;
    let url = format!("{}/api/v1/events", server.url());
    let response = client()
        .get(&url)
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.text().await.unwrap(),
        fixture("list-core-unauthorized.json")
    );
    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        server
            .requests()
            .iter()
            .map(|r| r.user.clone())
            .collect::<Vec<_>>(),
        [Caller::InvalidToken, Caller::NoCredentials]
    );

    let open = server_with(
        &cluster_reader(),
        ApiServerConfig {
            anonymous: true,
            ..ApiServerConfig::default()
        },
    )
    .await;
    let response = client()
        .get(format!("{}/api/v1/events", open.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let expected: Value =
        serde_json::from_str(&fixture("list-core-forbidden-anonymous.json")).unwrap();
    assert_eq!(body, expected);
    // A bad token is still a 401 when anonymous requests are allowed.
    let response = client()
        .get(format!("{}/api/v1/events", open.url()))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Removing a token revokes it.
    server.remove_token(TOKEN);
    assert_eq!(get(&server, "/api/v1/events").await.0, 401);
}

#[tokio::test]
async fn injected_failures_and_empty_watches() {
    let server = server().await;
    server.fail_next(2, 500);
    server.fail_next(1, 429);
    let (status, body) = get_json(&server, "/api/v1/events").await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (500, Some("InternalError"))
    );
    assert_eq!(get(&server, "/api/v1/events?watch=1").await.0, 500);
    let response = client()
        .get(format!("{}/api/v1/events", server.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(get(&server, "/api/v1/events").await.0, 200);

    server.create_event(kubelet_event("shop", "a"));
    server.empty_watches(1);
    let started = Instant::now();
    let (status, body) = get(&server, "/api/v1/events?watch=1").await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert!(started.elapsed() < Duration::from_secs(1));
    let mut watch = Lines::open(&server, "/api/v1/events?watch=1").await;
    assert_eq!(watch.next_json().await.unwrap()["type"], "ADDED");
}

#[tokio::test]
async fn bad_requests_get_status_bodies() {
    let server = server().await;
    for (query, code) in [
        ("limit=two", 400),
        ("watch=maybe", 400),
        ("continue=%%%", 400),
        ("resourceVersion=abc", 400),
        ("resourceVersionMatch=Exact", 422),
        ("resourceVersion=5&resourceVersionMatch=Sometimes", 422),
        (
            "resourceVersion=999999&resourceVersionMatch=NotOlderThan",
            504,
        ),
    ] {
        let (status, body) = get_json(&server, &format!("/api/v1/events?{query}")).await;
        assert_eq!((query, status), (query, code));
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["code"], code);
    }
    let (status, body) = get_json(&server, "/api/v1/pods").await;
    assert_eq!((status, body["reason"].as_str()), (404, Some("NotFound")));
    let response = client()
        .put(format!("{}/api/v1/events", server.url()))
        .bearer_auth(TOKEN)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let (status, version) = get_json(&server, "/version").await;
    assert_eq!((status, version["major"].as_str()), (200, Some("1")));
}

async fn send(
    server: &ApiServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client()
        .request(method, format!("{}{path}", server.url()))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn leases_for_leader_election_with_conflicts_and_resource_names() {
    let server = server_with(LEADER, ApiServerConfig::default()).await;
    let base = "/apis/coordination.k8s.io/v1/namespaces/otel/leases";
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "k8s-event-collector"},
        "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15}});
    let (status, created) = send(&server, reqwest::Method::POST, base, Some(lease.clone())).await;
    assert_eq!(status, 201);
    assert_eq!(created["metadata"]["namespace"], "otel");
    let (status, again) = send(&server, reqwest::Method::POST, base, Some(lease)).await;
    assert_eq!(
        (status, again["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );

    let path = format!("{base}/k8s-event-collector");
    let (status, got) = send(&server, reqwest::Method::GET, &path, None).await;
    assert_eq!((status, &got), (200, &created));

    let mut renewed = got.clone();
    renewed["spec"]["holderIdentity"] = json!("pod-b");
    let (status, updated) = send(&server, reqwest::Method::PUT, &path, Some(renewed.clone())).await;
    assert_eq!(status, 200);
    assert_ne!(
        updated["metadata"]["resourceVersion"],
        got["metadata"]["resourceVersion"]
    );
    assert_eq!(updated["metadata"]["uid"], got["metadata"]["uid"]);
    // The same stale object again: someone else won.
    let (status, conflict) = send(&server, reqwest::Method::PUT, &path, Some(renewed)).await;
    assert_eq!(
        (status, conflict["reason"].as_str()),
        (409, Some("Conflict"))
    );
    assert_eq!(
        server.lease("otel", "k8s-event-collector").unwrap()["spec"]["holderIdentity"],
        "pod-b"
    );

    // resourceNames: only the collector's Lease, and no list or delete.
    let (status, denied) = send(
        &server,
        reqwest::Method::GET,
        &format!("{base}/other"),
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        denied["message"],
        format!(
            "leases.coordination.k8s.io \"other\" is forbidden: User \"{SA}\" cannot get resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"otel\""
        )
    );
    assert_eq!(send(&server, reqwest::Method::GET, base, None).await.0, 403);
    assert_eq!(
        send(&server, reqwest::Method::DELETE, &path, None).await.0,
        403
    );

    server.add_token_with_groups("admin", "kubernetes-admin", &["system:masters"]);
    let response = client()
        .delete(format!("{}{path}", server.url()))
        .bearer_auth("admin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(server.lease("otel", "k8s-event-collector").is_none());
}

#[tokio::test]
async fn stopping_ends_watches_and_closes_the_port() {
    let server = server().await;
    let url = server.url();
    let mut watch = Lines::open(&server, "/api/v1/events?watch=1").await;
    server.stop().await;
    assert_eq!(watch.next().await, None);
    assert!(client().get(format!("{url}/version")).send().await.is_err());
}
