//! Delivery tests of the otlphttp exporter against a wiremock OTLP endpoint: path, headers,
//! body, gzip, retries and drops.

use std::io::Read;

use tokio::sync::watch;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::*;
use crate::config::duration::ConfigDuration;
use crate::config::http::{OrderedStrings, RetryConfig};
use crate::exporter::loki::test_support::k8s_event_record;
use crate::exporter::otlp::encode::decode_protobuf;
use crate::exporter::otlp::proto::{ExportLogsServiceRequest, Value};
use crate::exporter::stats::StatusClass;
use prost::Message;

const LOGS: &str = "/otlp/v1/logs";

/// A config for `server`'s `/otlp`, uncompressed, with retry waits of a few milliseconds.
fn config(server: &MockServer) -> OtlpHttpExporterConfig {
    OtlpHttpExporterConfig {
        endpoint: Some(format!("{}/otlp", server.uri())),
        logs_endpoint: None,
        headers: OrderedStrings(vec![("X-Scope-OrgID".into(), "team-a".into())]),
        timeout: ConfigDuration::from_secs(5),
        tls: Default::default(),
        auth: None,
        compression: Compression::None,
        encoding: OtlpEncoding::Proto,
        retry_on_failure: RetryConfig {
            enabled: true,
            initial_interval: ConfigDuration::from_millis(10),
            max_interval: ConfigDuration::from_millis(50),
            max_elapsed_time: ConfigDuration::from_secs(10),
            multiplier: 2.0,
            randomization_factor: 0.5,
        },
        sending_queue: Default::default(),
        namespace_as_resource: false,
    }
}

fn records(n: usize) -> Vec<LogRecord> {
    (0..n)
        .map(|i| {
            let mut r = k8s_event_record();
            r.body = format!("event {i}").into();
            r
        })
        .collect()
}

fn no_shutdown() -> watch::Receiver<bool> {
    // A receiver whose sender is gone: shutdown can never come.
    watch::channel(false).1
}

async fn respond(server: &MockServer, status: u16, times: Option<u64>) {
    let mock = Mock::given(method("POST"))
        .and(path(LOGS))
        .respond_with(ResponseTemplate::new(status));
    match times {
        Some(n) => mock.up_to_n_times(n).with_priority(1),
        None => mock,
    }
    .mount(server)
    .await;
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_batch_is_one_protobuf_post_to_v1_logs() {
    let server = MockServer::start().await;
    respond(&server, 200, None).await;
    let mut c = config(&server);
    c.namespace_as_resource = true;
    let exporter = OtlpHttpExporter::new("otlphttp", &c, None).unwrap();
    let batch = records(3);
    let outcome = exporter.export(&batch, &mut no_shutdown()).await;
    assert_eq!(
        outcome,
        ExportOutcome {
            accepted: 3,
            ..Default::default()
        }
    );
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.url.path(), LOGS);
    assert_eq!(
        header(request, "content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(header(request, "x-scope-orgid"), Some("team-a"));
    assert_eq!(header(request, "content-encoding"), None);
    let body = ExportLogsServiceRequest::decode(request.body.as_slice()).unwrap();
    assert_eq!(body.resource_logs.len(), 1);
    let rl = &body.resource_logs[0];
    let resource = &rl.resource.as_ref().unwrap().attributes;
    assert!(resource.iter().any(|kv| kv.key == "k8s.namespace.name"));
    assert!(resource.iter().any(|kv| kv.key == "k8s.object.name"));
    let logs = &rl.scope_logs[0].log_records;
    assert_eq!(logs.len(), 3);
    assert_eq!(logs[2].time_unix_nano, 1_714_557_600_000_000_000);
    assert_eq!(logs[2].severity_number, 9);
    assert_eq!(logs[2].severity_text, "Normal");
    assert_eq!(
        logs[2].body.clone().unwrap().value,
        Some(Value::StringValue("event 2".into()))
    );
    assert!(
        logs[2]
            .attributes
            .iter()
            .any(|kv| kv.key == "k8s.event.reason")
    );
    assert_eq!(exporter.stats().records_sent(), 3);
}

#[tokio::test]
async fn gzip_is_announced_and_applied() {
    let server = MockServer::start().await;
    respond(&server, 200, None).await;
    let mut c = config(&server);
    c.compression = Compression::Gzip;
    c.endpoint = None;
    c.logs_endpoint = Some(format!("{}{LOGS}", server.uri()));
    let exporter = OtlpHttpExporter::new("otlphttp", &c, None).unwrap();
    let batch = records(2);
    exporter.export(&batch, &mut no_shutdown()).await;
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(header(&sent[0], "content-encoding"), Some("gzip"));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(sent[0].body.as_slice())
        .read_to_end(&mut plain)
        .unwrap();
    let mut expected = batch.clone();
    expected
        .iter_mut()
        .for_each(|r| r.observed_unix_nano = None);
    assert_eq!(decode_protobuf(&plain).unwrap(), expected);
}

#[tokio::test]
async fn a_503_is_retried_then_delivered() {
    let server = MockServer::start().await;
    respond(&server, 503, Some(2)).await;
    respond(&server, 200, None).await;
    let exporter = OtlpHttpExporter::new("otlphttp", &config(&server), None).unwrap();
    let outcome = exporter.export(&records(2), &mut no_shutdown()).await;
    assert_eq!(outcome.accepted, 2);
    assert_eq!(outcome.rejected, 0);
    assert_eq!(requests(&server).await.len(), 3);
    assert_eq!(exporter.stats().retries(), 2);
}

#[tokio::test]
async fn a_400_or_a_500_drops_the_batch_without_retrying() {
    for (status, reason) in [
        (400, DropReason::BadRequest),
        (500, DropReason::UnexpectedStatus),
    ] {
        let server = MockServer::start().await;
        respond(&server, status, None).await;
        let exporter = OtlpHttpExporter::new("otlphttp", &config(&server), None).unwrap();
        let outcome = exporter.export(&records(2), &mut no_shutdown()).await;
        assert_eq!(outcome.rejected, 2, "{status}");
        assert_eq!(outcome.accepted, 0);
        assert_eq!(requests(&server).await.len(), 1, "{status}: not retried");
        assert_eq!(exporter.stats().dropped(reason), 2);
        assert_eq!(exporter.stats().requests(StatusClass::of_status(status)), 1);
    }
}

#[test]
fn the_logs_path_is_appended_once_and_logs_endpoint_wins() {
    let mut c = OtlpHttpExporterConfig {
        endpoint: Some("https://loki.example.com/otlp/".into()),
        ..config_without_server()
    };
    assert_eq!(
        logs_url(&c).as_deref(),
        Some("https://loki.example.com/otlp/v1/logs")
    );
    c.logs_endpoint = Some("https://other.example.com/logs".into());
    assert_eq!(
        logs_url(&c).as_deref(),
        Some("https://other.example.com/logs")
    );
}

#[test]
fn json_encoding_and_a_missing_endpoint_are_refused_at_start() {
    let mut c = config_without_server();
    c.endpoint = Some("http://localhost:3100/otlp".into());
    c.encoding = OtlpEncoding::Json;
    let error = OtlpHttpExporter::new("otlphttp", &c, None).unwrap_err();
    assert!(error.to_string().contains("encoding: json"), "{error}");
    let c = config_without_server();
    let error = OtlpHttpExporter::new("otlphttp", &c, None).unwrap_err();
    assert!(error.to_string().contains("logs_endpoint"), "{error}");
}

fn config_without_server() -> OtlpHttpExporterConfig {
    OtlpHttpExporterConfig {
        endpoint: None,
        logs_endpoint: None,
        headers: OrderedStrings::default(),
        timeout: ConfigDuration::from_secs(5),
        tls: Default::default(),
        auth: None,
        compression: Compression::Gzip,
        encoding: OtlpEncoding::Proto,
        retry_on_failure: Default::default(),
        sending_queue: Default::default(),
        namespace_as_resource: false,
    }
}
