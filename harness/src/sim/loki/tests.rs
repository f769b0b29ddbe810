//! The fake Loki over HTTP, fed real pushes from the collector's encoder, with reqwest as the
//! client.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_event_collector::exporter::loki::{
    CONTENT_TYPE_JSON, CONTENT_TYPE_PROTOBUF, EncodeOptions, Entry, LabelSet, Stream, TenantPush,
    encode_json, encode_protobuf, encode_records,
};
use k8s_event_collector::record::{LogRecord, SeverityNumber};

use super::*;
use crate::certs::Certs;
use crate::tls::{TlsMode, TlsTerminator};

fn now_nanos() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_nanos()).unwrap()
}

/// One event record, encoded by the collector as it would push it.
fn collector_push(message: &str, ts: i64) -> TenantPush {
    let record = LogRecord {
        timestamp_unix_nano: Some(ts),
        severity_number: SeverityNumber::INFO,
        severity_text: "Normal".into(),
        body: message.into(),
        resource: [
            ("service.name", "k8s-events"),
            ("k8s.node.name", "kind-worker"),
        ]
        .into_iter()
        .collect(),
        ..LogRecord::default()
    };
    let batch = encode_records(&[record], &EncodeOptions::default(), ts);
    batch.pushes.into_iter().next().unwrap()
}

/// A push of one stream with these labels and one line.
fn labelled_push(pairs: &[(&str, &str)], line: &str, ts: i64) -> TenantPush {
    let labels = LabelSet::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    TenantPush {
        tenant: None,
        streams: vec![Stream {
            labels_string: labels.to_string(),
            labels,
            entries: vec![Entry {
                timestamp_unix_nano: ts,
                line: line.to_owned(),
                structured_metadata: vec![],
                record_index: 0,
            }],
        }],
    }
}

/// reqwest on ring: with `rustls-no-provider` every client needs a ready rustls config.
fn client_with(roots: rustls::RootCertStore) -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .no_proxy()
        .build()
        .unwrap()
}

fn client() -> reqwest::Client {
    client_with(rustls::RootCertStore::empty())
}

/// A push as the collector sends it.
struct Push<'a> {
    body: Vec<u8>,
    content_type: &'a str,
    tenant: Option<&'a str>,
    auth: Option<(&'a str, &'a str)>,
    encoding: Option<&'a str>,
}

impl<'a> Push<'a> {
    fn protobuf(push: &TenantPush) -> Self {
        Self {
            body: encode_protobuf(push).unwrap(),
            content_type: CONTENT_TYPE_PROTOBUF,
            tenant: Some("tenant-a"),
            auth: Some(("collector", "s3cret")),
            encoding: None,
        }
    }

    fn json(push: &TenantPush) -> Self {
        Self {
            body: encode_json(push),
            content_type: CONTENT_TYPE_JSON,
            ..Self::protobuf(push)
        }
    }

    async fn send_to(&self, client: &reqwest::Client, url: &str) -> reqwest::Result<Answered> {
        let mut request = client
            .post(format!("{url}{PUSH_PATH}"))
            .header("Content-Type", self.content_type)
            .body(self.body.clone());
        if let Some(tenant) = self.tenant {
            request = request.header("X-Scope-OrgID", tenant);
        }
        if let Some((user, password)) = self.auth {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(encoding) = self.encoding {
            request = request.header("Content-Encoding", encoding);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (retry_after, www_authenticate) = (header("retry-after"), header("www-authenticate"));
        Ok(Answered {
            status,
            retry_after,
            www_authenticate,
            body: response.text().await?,
        })
    }

    async fn send(&self, loki: &FakeLoki) -> Answered {
        self.send_to(&client(), &loki.url()).await.unwrap()
    }
}

#[derive(Debug)]
struct Answered {
    status: u16,
    retry_after: Option<String>,
    www_authenticate: Option<String>,
    body: String,
}

async fn loki() -> FakeLoki {
    FakeLoki::start(LokiConfig::default().with_basic_auth("collector", "s3cret")).await
}

#[tokio::test]
async fn valid_protobuf_push_is_204_recorded_and_stored() {
    let loki = loki().await;
    let ts = now_nanos();
    let answer = Push::protobuf(&collector_push("Pulled image", ts))
        .send(&loki)
        .await;
    assert_eq!((answer.status, answer.body.as_str()), (204, ""));

    let pushes = loki.pushes();
    assert_eq!(pushes.len(), 1);
    let push = &pushes[0];
    assert_eq!(push.tenant.as_deref(), Some("tenant-a"));
    assert_eq!(push.auth.to_string(), "basic collector:[REDACTED]");
    assert!(push.auth_ok && push.accepted() && !push.injected);
    assert_eq!(push.content_type.as_deref(), Some(CONTENT_TYPE_PROTOBUF));
    assert_eq!(push.entry_count(), 1);
    let entry = &push.streams[0].entries[0];
    assert_eq!(entry.timestamp_unix_nano, ts);
    assert!(entry.line.contains("Pulled image"), "{}", entry.line);

    let stored = loki.stored("tenant-a");
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].labels.contains(r#"job="k8s-events""#)
            && stored[0].labels.contains(r#"service_name="k8s-events""#),
        "{}",
        stored[0].labels
    );
    assert_eq!(loki.tenants(), ["tenant-a"]);
    assert!(loki.stored("tenant-b").is_empty());
}

#[tokio::test]
async fn json_push_decodes_to_the_same_streams() {
    let loki = loki().await;
    let push = collector_push("Scheduled", now_nanos());
    assert_eq!(Push::json(&push).send(&loki).await.status, 204);
    assert_eq!(Push::protobuf(&push).send(&loki).await.status, 204);
    let pushes = loki.pushes();
    assert_eq!(pushes[0].streams, pushes[1].streams);
    assert_eq!(pushes[0].content_type.as_deref(), Some(CONTENT_TYPE_JSON));
    assert_eq!(loki.entry_counts(), (2, 1));
}

#[tokio::test]
async fn missing_or_wrong_credentials_get_nginx_401_page() {
    let loki = loki().await;
    let push = collector_push("x", now_nanos());
    for auth in [
        None,
        Some(("collector", "wrong")),
        Some(("other", "s3cret")),
    ] {
        let answer = Push {
            auth,
            ..Push::protobuf(&push)
        }
        .send(&loki)
        .await;
        assert_eq!(answer.status, 401, "{auth:?}");
        assert_eq!(Some(answer.body), crate::tls::nginx::error_page(401));
        assert_eq!(
            answer.www_authenticate.as_deref(),
            Some("Basic realm=\"Loki\"")
        );
    }
    let pushes = loki.pushes();
    assert_eq!(pushes.len(), 3);
    assert!(pushes.iter().all(|p| !p.auth_ok));
    assert_eq!(pushes[0].auth, AuthSeen::None);
    assert_eq!(pushes[1].auth.to_string(), "basic collector:[REDACTED]");
    assert!(loki.tenants().is_empty());
}

#[tokio::test]
async fn no_tenant_is_401_no_org_id_unless_single_tenant() {
    let loki = loki().await;
    let push = collector_push("x", now_nanos());
    let answer = Push {
        tenant: None,
        ..Push::protobuf(&push)
    }
    .send(&loki)
    .await;
    assert_eq!((answer.status, answer.body.as_str()), (401, "no org id\n"));

    let single = FakeLoki::start(LokiConfig::default().single_tenant()).await;
    let answer = Push {
        tenant: None,
        auth: None,
        ..Push::protobuf(&push)
    }
    .send(&single)
    .await;
    assert_eq!(answer.status, 204);
    assert_eq!(single.tenants(), [SINGLE_TENANT]);
}

#[tokio::test]
async fn sixteen_label_names_are_400_with_lokis_message() {
    let loki = loki().await;
    let names: Vec<String> = (0..15).map(|i| format!("l{i}")).collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    let answer = Push::protobuf(&labelled_push(&pairs, "x", now_nanos()))
        .send(&loki)
        .await;
    assert_eq!(answer.status, 400);
    assert!(
        answer
            .body
            .starts_with("entry for stream '{l0=\"v\", l1=\"v\", l10=\"v\"")
            && answer.body.ends_with(
                "l9=\"v\", service_name=\"unknown_service\"}' has 16 label names; limit 15\n"
            ),
        "{}",
        answer.body
    );
    assert!(loki.tenants().is_empty());
}

#[tokio::test]
async fn invalid_label_name_is_400_couldnt_parse_labels() {
    let loki = loki().await;
    let answer = Push::json(&labelled_push(&[("k8s.ns", "v")], "x", now_nanos()))
        .send(&loki)
        .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (
            400,
            "couldn't parse labels: 1:5: parse error: unexpected character inside braces: '.'\n"
        )
    );
}

#[tokio::test]
async fn line_of_300_kib_is_400_max_entry_size() {
    let loki = loki().await;
    let line = "x".repeat(300 * 1024);
    let answer = Push::protobuf(&labelled_push(&[("job", "big")], &line, now_nanos()))
        .send(&loki)
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body,
        "Max entry size '262144' bytes exceeded for stream '{job=\"big\", service_name=\"big\"}' \
         while adding an entry with length '307200' bytes\n"
    );
}

#[tokio::test]
async fn undecodable_and_gzip_bodies_are_refused() {
    let loki = loki().await;
    let push = collector_push("x", now_nanos());
    let garbage = Push {
        body: b"not snappy".to_vec(),
        ..Push::protobuf(&push)
    };
    let answer = garbage.send(&loki).await;
    assert_eq!(answer.status, 400);
    assert!(loki.pushes()[0].decode_error.is_some());
    let gzip = Push {
        encoding: Some("gzip"),
        ..Push::json(&push)
    };
    assert_eq!(gzip.send(&loki).await.status, 415);
}

#[tokio::test]
async fn fail_next_answers_the_script_then_normally() {
    let loki = loki().await;
    loki.fail_next(2, 429, Some(1));
    let push = Push::protobuf(&collector_push("retry me", now_nanos()));
    for _ in 0..2 {
        let answer = push.send(&loki).await;
        assert_eq!(answer.status, 429);
        assert_eq!(answer.retry_after.as_deref(), Some("1"));
        assert!(
            answer
                .body
                .starts_with("Ingestion rate limit exceeded for user tenant-a")
        );
    }
    let answer = push.send(&loki).await;
    assert_eq!((answer.status, answer.retry_after), (204, None));
    let injected: Vec<bool> = loki.pushes().iter().map(|p| p.injected).collect();
    assert_eq!(injected, [true, true, false]);
    assert_eq!(loki.entry_counts(), (1, 1));
}

#[tokio::test]
async fn set_down_refuses_connections_until_up_again() {
    let loki = loki().await;
    let push = Push::protobuf(&collector_push("x", now_nanos()));
    let client = client();
    assert_eq!(
        push.send_to(&client, &loki.url()).await.unwrap().status,
        204
    );

    loki.set_down(true);
    assert!(loki.is_down());
    let err = push.send_to(&client, &loki.url()).await.unwrap_err();
    // The pooled connection was closed too: whichever the client tried, it is a transport error.
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    let err = push
        .send_to(&self::client(), &loki.url())
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");

    loki.set_down(false);
    assert_eq!(
        push.send_to(&client, &loki.url()).await.unwrap().status,
        204
    );
    assert_eq!(loki.pushes().len(), 2);
}

#[tokio::test]
async fn same_entry_twice_is_received_twice_and_stored_once() {
    let loki = loki().await;
    let push = Push::protobuf(&collector_push("dup", now_nanos()));
    assert_eq!(push.send(&loki).await.status, 204);
    assert_eq!(push.send(&loki).await.status, 204);
    assert_eq!(loki.entry_counts(), (2, 1));
    assert_eq!(loki.stored("tenant-a")[0].entries.len(), 1);
}

#[tokio::test]
async fn set_delay_holds_every_answer() {
    let loki = loki().await;
    loki.set_delay(Duration::from_millis(300));
    let started = Instant::now();
    let answer = Push::protobuf(&collector_push("slow", now_nanos()))
        .send(&loki)
        .await;
    assert_eq!(answer.status, 204);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn behind_the_tls_terminator_pushes_arrive_and_down_is_502() {
    let loki = loki().await;
    let certs = Certs::mint().unwrap();
    let tls = TlsTerminator::start(loki.addr(), TlsMode::CaSigned, &certs).unwrap();
    let client = client_with(certs.root_store());
    let push = Push::protobuf(&collector_push("over tls", now_nanos()));
    assert_eq!(push.send_to(&client, &tls.url()).await.unwrap().status, 204);
    assert_eq!(loki.entry_counts(), (1, 1));

    loki.set_down(true);
    // The pooled connection ends with the backend's (see the tls module); a new one gets 502.
    assert!(push.send_to(&client, &tls.url()).await.is_err());
    let answer = push.send_to(&client, &tls.url()).await.unwrap();
    assert_eq!(answer.status, 502);
    assert_eq!(tls.stats().backend_unreachable, 1);
}

#[tokio::test]
async fn canonical_yaml_is_the_same_for_the_same_pushes() {
    let mut yaml = Vec::new();
    for offset in [0, 3_000_000_000] {
        let loki = loki().await;
        let ts = now_nanos() - 60_000_000_000 + offset;
        Push::protobuf(&collector_push("second", ts + 1))
            .send(&loki)
            .await;
        Push::json(&collector_push("first", ts)).send(&loki).await;
        let accepted: Vec<RecordedPush> = loki
            .pushes()
            .into_iter()
            .filter(RecordedPush::accepted)
            .collect();
        yaml.push((canonical_yaml(&accepted), loki.stored_yaml()));
    }
    assert_eq!(yaml[0], yaml[1]);
    let (pushes, stored) = &yaml[0];
    assert!(pushes.contains("basic collector:[REDACTED]"), "{pushes}");
    assert!(!pushes.contains("s3cret"));
    // Pushed in arrival order; stored by time.
    let second = pushes.find("second").unwrap();
    assert!(second < pushes.find("first").unwrap(), "{pushes}");
    assert!(
        stored.find("first").unwrap() < stored.find("second").unwrap(),
        "{stored}"
    );
    assert!(stored.contains("service_name: \"k8s-events\""), "{stored}");
}
