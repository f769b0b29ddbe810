//! Delivery tests of the Loki exporter against a wiremock Loki over plain HTTP: headers, bodies,
//! retries, drops, per-tenant retry, shutdown, and secrets kept out of logs.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::*;
use crate::config::duration::ConfigDuration;
use crate::config::extensions::{BasicAuthConfig, BasicClientAuth};
use crate::config::http::{AuthConfig, OrderedStrings};
use crate::exporter::loki::client::tests::config;
use crate::exporter::loki::test_support::k8s_event_record;
use crate::exporter::loki::{PushRequest, decode_protobuf, to_push_request};

const PUSH: &str = "/loki/api/v1/push";

/// A config for `server` with retry waits of a few milliseconds.
fn fast_config(server: &MockServer) -> LokiExporterConfig {
    let mut c = config(&format!("{}{PUSH}", server.uri()));
    c.retry_on_failure = RetryConfig {
        enabled: true,
        initial_interval: ConfigDuration::from_millis(10),
        max_interval: ConfigDuration::from_millis(50),
        max_elapsed_time: ConfigDuration::from_secs(10),
        multiplier: 2.0,
        randomization_factor: 0.5,
    };
    c
}

fn basic_auth(password: &str) -> ExtensionConfig {
    ExtensionConfig::BasicAuth(BasicAuthConfig {
        client_auth: Some(BasicClientAuth {
            username: Some("tenant-a".into()),
            password: Some(password.into()),
            ..BasicClientAuth::default()
        }),
        htpasswd: None,
    })
}

/// `n` event records; with `tenant`, each names it through the `loki.tenant` hint.
fn records(n: usize, tenant: Option<&str>) -> Vec<LogRecord> {
    (0..n)
        .map(|i| {
            let mut r = k8s_event_record();
            r.body = format!("event {i}").into();
            r.timestamp_unix_nano = Some(1_714_557_600_000_000_000 + i64::try_from(i).unwrap_or(0));
            if let Some(tenant) = tenant {
                r.resource.upsert("tenant_name", tenant);
                r.resource.upsert("loki.tenant", "tenant_name");
            }
            r
        })
        .collect()
}

fn no_shutdown() -> watch::Receiver<bool> {
    // A receiver whose sender is gone: shutdown can never come.
    watch::channel(false).1
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

fn header_of<'a>(request: &'a Request, name: &str) -> Vec<&'a str> {
    request
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

fn decoded(request: &Request) -> PushRequest {
    decode_protobuf(&request.body).unwrap()
}

async fn respond(server: &MockServer, status: u16) {
    Mock::given(method("POST"))
        .and(path(PUSH))
        .respond_with(ResponseTemplate::new(status))
        .mount(server)
        .await;
}

/// Answers `status` `times` times, before any mock mounted later.
async fn respond_first(server: &MockServer, status: u16, times: u64, retry_after: Option<&str>) {
    let mut template = ResponseTemplate::new(status);
    if let Some(v) = retry_after {
        template = template.insert_header("Retry-After", v);
    }
    Mock::given(method("POST"))
        .and(path(PUSH))
        .respond_with(template)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn requests_carry_the_configured_headers_auth_tenant_and_protobuf_body() {
    let server = MockServer::start().await;
    respond(&server, 204).await;
    let mut c = fast_config(&server);
    c.headers = OrderedStrings(vec![
        ("X-Scope-OrgID".into(), "configured".into()),
        ("X-Custom".into(), "1".into()),
    ]);
    c.auth = Some(AuthConfig {
        authenticator: "basicauth/client".into(),
    });
    let exporter = LokiExporter::new("loki", &c, Some(&basic_auth("s3cr3t"))).unwrap();
    let mut batch = records(2, None);
    batch.extend(records(1, Some("tenant-b")));

    let outcome = exporter.export(&batch, &mut no_shutdown()).await;
    assert_eq!(
        outcome,
        ExportOutcome {
            accepted: 3,
            rejected: 0,
            interrupted: false
        }
    );

    let got = requests(&server).await;
    assert_eq!(got.len(), 2);
    let expected = encode_records(&batch, &encode_options(&c), 0).pushes;
    for request in &got {
        let tenant = header_of(request, "x-scope-orgid");
        let push = match tenant.as_slice() {
            ["configured"] => &expected[0],
            ["tenant-b"] => &expected[1],
            other => panic!("unexpected X-Scope-OrgID {other:?}"),
        };
        assert_eq!(decoded(request), to_push_request(push));
        assert_eq!(
            header_of(request, "authorization"),
            ["Basic dGVuYW50LWE6czNjcjN0"]
        );
        assert_eq!(
            header_of(request, "content-type"),
            ["application/x-protobuf"]
        );
        assert_eq!(header_of(request, "x-custom"), ["1"]);
        assert_eq!(
            header_of(request, "user-agent"),
            [concat!("k8s-event-collector/", env!("CARGO_PKG_VERSION"))]
        );
    }
    let stats = exporter.stats();
    assert_eq!(stats.records_sent(), 3);
    assert_eq!(stats.requests(StatusClass::Success), 2);
}

#[tokio::test]
async fn json_encoding_sends_json() {
    let server = MockServer::start().await;
    respond(&server, 204).await;
    let mut c = fast_config(&server);
    c.encoding = crate::config::exporters::LokiEncoding::Json;
    let exporter = LokiExporter::new("loki", &c, None).unwrap();
    let batch = records(2, None);
    assert_eq!(
        exporter.export(&batch, &mut no_shutdown()).await.accepted,
        2
    );
    let got = requests(&server).await;
    assert_eq!(header_of(&got[0], "content-type"), ["application/json"]);
    let expected = encode_records(&batch, &encode_options(&c), 0).pushes;
    assert_eq!(
        crate::exporter::loki::decode_json(&got[0].body).unwrap(),
        to_push_request(&expected[0])
    );
}

#[tokio::test]
async fn a_server_error_is_retried_and_the_push_delivered_once() {
    let server = MockServer::start().await;
    respond_first(&server, 500, 1, None).await;
    respond(&server, 204).await;
    let exporter = LokiExporter::new("loki", &fast_config(&server), None).unwrap();

    let outcome = exporter.export(&records(3, None), &mut no_shutdown()).await;
    assert_eq!(outcome.accepted, 3);
    let got = requests(&server).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, got[1].body, "a retry sends the same bytes");
    let stats = exporter.stats();
    assert_eq!(stats.retries(), 1);
    assert_eq!(stats.requests(StatusClass::ServerError), 1);
    assert_eq!(stats.records_sent(), 3);
}

#[tokio::test]
async fn retry_after_is_honoured_on_429() {
    let server = MockServer::start().await;
    respond_first(&server, 429, 1, Some("1")).await;
    respond(&server, 204).await;
    let exporter = LokiExporter::new("loki", &fast_config(&server), None).unwrap();

    let started = Instant::now();
    let outcome = exporter.export(&records(1, None), &mut no_shutdown()).await;
    assert_eq!(outcome.accepted, 1);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited only {:?}",
        started.elapsed()
    );
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn a_bad_request_is_dropped_not_retried_and_counted() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string(
            "entry for stream '{job=\"old\"}' has timestamp too old: 2026-11-16T22:41:48Z",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let exporter = LokiExporter::new("loki", &fast_config(&server), None).unwrap();

    let outcome = exporter.export(&records(2, None), &mut no_shutdown()).await;
    assert_eq!(
        outcome,
        ExportOutcome {
            accepted: 0,
            rejected: 2,
            interrupted: false
        }
    );
    assert_dropped_without_retry(&exporter, DropReason::BadRequest, 2);
}

fn assert_dropped_without_retry(exporter: &LokiExporter, reason: DropReason, records: u64) {
    let stats = exporter.stats();
    assert_eq!(stats.dropped(reason), records);
    assert_eq!(stats.retries(), 0);
}

#[tokio::test]
async fn rejected_credentials_are_retried_with_backoff_until_they_work() {
    // A password rotated at the gateway before the Secret: nothing may be lost meanwhile.
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    respond(&server, 204).await;
    let exporter = LokiExporter::new("loki", &fast_config(&server), None).unwrap();

    let outcome = exporter.export(&records(2, None), &mut no_shutdown()).await;
    assert_eq!((outcome.accepted, outcome.rejected), (2, 0));
    assert_eq!(
        requests(&server).await.len(),
        3,
        "two refusals, then delivered"
    );
    let stats = exporter.stats();
    assert_eq!(stats.retries(), 2);
    assert_eq!(stats.dropped(DropReason::Unauthorized), 0);
}

/// A Loki that accepts tenant `good` and answers `bad` for tenant `bad`.
async fn tenants_good_and_bad(bad: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(header("X-Scope-OrgID", "good"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(header("X-Scope-OrgID", "bad"))
        .respond_with(bad)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_tenant_that_was_accepted_is_not_sent_again_when_another_fails() {
    let server = tenants_good_and_bad(ResponseTemplate::new(503)).await;
    let mut c = fast_config(&server);
    c.retry_on_failure.max_elapsed_time = ConfigDuration::from_millis(300);
    let exporter = LokiExporter::new("loki", &c, None).unwrap();
    let mut batch = records(2, Some("good"));
    batch.extend(records(3, Some("bad")));

    let outcome = exporter.export(&batch, &mut no_shutdown()).await;
    assert_eq!(
        outcome,
        ExportOutcome {
            accepted: 2,
            rejected: 3,
            interrupted: false
        }
    );
    let got = requests(&server).await;
    let to = |tenant: &str| {
        got.iter()
            .filter(|r| header_of(r, "x-scope-orgid") == [tenant])
            .count()
    };
    assert_eq!(to("good"), 1);
    assert!(to("bad") > 1, "the failing tenant was retried");
    assert_eq!(exporter.stats().dropped(DropReason::RetriesExhausted), 3);
}

#[tokio::test]
async fn a_permanently_refused_tenant_does_not_resend_the_other() {
    let server =
        tenants_good_and_bad(ResponseTemplate::new(400).set_body_string("bad labels")).await;
    let exporter = LokiExporter::new("loki", &fast_config(&server), None).unwrap();
    let mut batch = records(1, Some("bad"));
    batch.extend(records(2, Some("good")));

    let outcome = exporter.export(&batch, &mut no_shutdown()).await;
    assert_eq!((outcome.accepted, outcome.rejected), (2, 1));
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn shutdown_stops_retrying() {
    let server = MockServer::start().await;
    respond(&server, 503).await;
    let mut c = fast_config(&server);
    c.retry_on_failure.max_elapsed_time = ConfigDuration::from_secs(0); // forever
    let exporter = LokiExporter::new("loki", &c, None).unwrap();
    let (tx, mut rx) = watch::channel(false);
    let batch = records(2, None);

    let export = exporter.export(&batch, &mut rx);
    let stop = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = tx.send(true);
    };
    let (outcome, ()) =
        tokio::time::timeout(Duration::from_secs(5), async { tokio::join!(export, stop) })
            .await
            .unwrap();
    assert_eq!(
        outcome,
        ExportOutcome {
            accepted: 0,
            rejected: 0,
            interrupted: true
        }
    );
    assert!(requests(&server).await.len() > 1);
}

#[tokio::test]
async fn large_pushes_are_split_into_requests_in_order() {
    let server = MockServer::start().await;
    respond(&server, 204).await;
    let mut c = fast_config(&server);
    c.max_request_bytes = Some(2048);
    let exporter = LokiExporter::new("loki", &c, None).unwrap();
    let batch = records(20, None);

    assert_eq!(
        exporter.export(&batch, &mut no_shutdown()).await.accepted,
        20
    );
    let got = requests(&server).await;
    assert!(got.len() > 1, "split into {} requests", got.len());
    let lines: Vec<String> = got
        .iter()
        .flat_map(|r| decoded(r).streams)
        .flat_map(|s| s.entries)
        .map(|e| e.line)
        .collect();
    let expected: Vec<String> = encode_records(&batch, &encode_options(&c), 0).pushes[0].streams[0]
        .entries
        .iter()
        .map(|e| e.line.clone())
        .collect();
    assert_eq!(lines, expected);
}

#[tokio::test]
async fn records_that_cannot_be_encoded_are_rejected_and_counted() {
    let server = MockServer::start().await;
    respond(&server, 204).await;
    let exporter = LokiExporter::new("loki", &fast_config(&server), None).unwrap();
    let mut batch = records(2, None);
    batch[0].resource.upsert("loki.format", "yaml");

    let outcome = exporter.export(&batch, &mut no_shutdown()).await;
    assert_eq!((outcome.accepted, outcome.rejected), (1, 1));
    assert_eq!(exporter.stats().dropped(DropReason::UnknownFormat), 1);
}

/// Log output, captured.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn secrets_stay_out_of_logs_metrics_errors_and_debug() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    respond_first(&server, 500, 1, None).await;
    respond_first(&server, 400, 1, None).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string("401 Authorization Required"))
        .mount(&server)
        .await;
    let password = "hunter2-password";
    let api_key = "hunter2-api-key";
    let mut c = fast_config(&server);
    c.endpoint = format!("{}{PUSH}?api_key={api_key}", server.uri());
    c.headers = OrderedStrings(vec![("X-Api-Key".into(), api_key.into())]);
    c.auth = Some(AuthConfig {
        authenticator: "basicauth/client".into(),
    });
    let exporter = LokiExporter::new("loki", &c, Some(&basic_auth(password))).unwrap();
    for _ in 0..3 {
        exporter.export(&records(1, None), &mut no_shutdown()).await;
    }
    // And a transport failure: nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    c.endpoint = format!("http://127.0.0.1:{port}{PUSH}?api_key={api_key}");
    c.retry_on_failure.enabled = false;
    let down = LokiExporter::new("loki", &c, Some(&basic_auth(password))).unwrap();
    down.export(&records(1, None), &mut no_shutdown()).await;

    let text = logs.text();
    assert!(text.contains("rejected the credentials (401)"), "{text}");
    assert!(
        text.contains("cannot connect to http://127.0.0.1"),
        "{text}"
    );
    // No storm: at most one warning for the repeated 401. Not "exactly one": a scoped test
    // subscriber can miss a callsite that another test's thread registered at the same moment
    // (tracing caches interest across threads), which made this flaky in CI. That the first
    // failure warns and repeats stay quiet is held exactly by problem.rs's unit tests.
    let warnings = text
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("rejected the credentials"));
    assert!(
        warnings.count() <= 1,
        "one warning at most for a repeated 401: {text}"
    );
    let shown = format!(
        "{text}\n{exporter:?}\n{down:?}\n{}",
        ExporterStats::render_all(&[&exporter.stats(), &down.stats()])
    );
    let basic = crate::gofmt::base64(format!("tenant-a:{password}").as_bytes());
    for secret in ["hunter2", basic.as_str()] {
        assert!(!shown.contains(secret), "{secret} shown in:\n{shown}");
    }
}
