//! Loki 3 as one process (`-target=all`), multi-tenant (`auth_enabled: true`), default limits,
//! filesystem storage in the run's directory, on loopback. Ready when `/ready` is 200.
//! [`query_streams`] reads a tenant's streams back through `/loki/api/v1/query_range`.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::process::{Server, free_port};
use crate::collector::http_get;
use crate::sim::loki::{LogEntry, LogStream};

#[derive(Debug)]
pub struct Loki {
    pub server: Server,
    /// `127.0.0.1:<port>`: Loki's own HTTP port (nginx proxies to it).
    pub address: String,
}

fn config(dir: &Path, http: u16, grpc: u16) -> String {
    let data = dir.display();
    format!(
        "auth_enabled: true
server:
  http_listen_address: 127.0.0.1
  http_listen_port: {http}
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: {grpc}
  log_level: warn
common:
  instance_addr: 127.0.0.1
  path_prefix: {data}
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
  storage:
    filesystem:
      chunks_directory: {data}/chunks
      rules_directory: {data}/rules
ingester:
  lifecycler:
    min_ready_duration: 0s
    final_sleep: 0s
schema_config:
  configs:
    - from: 2024-01-01
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
analytics:
  reporting_enabled: false
"
    )
}

impl Loki {
    pub async fn start(binary: &Path, dir: &Path) -> Result<Loki, String> {
        let data = dir.join("loki");
        std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        let http = free_port()?;
        let grpc = free_port()?;
        let path = data.join("loki.yaml");
        std::fs::write(&path, config(&data, http, grpc))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let server = Server::start(
            "loki",
            binary,
            vec![format!("-config.file={}", path.display())],
            &dir.join("loki.log"),
        )?;
        let mut loki = Loki {
            server,
            address: format!("127.0.0.1:{http}"),
        };
        loki.wait_ready(Duration::from_secs(60)).await?;
        Ok(loki)
    }

    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last;
        loop {
            match http_get(&self.address, "/ready").await {
                Ok((200, _)) => return Ok(()),
                Ok((status, body)) => last = format!("{status} {}", body.trim()),
                Err(e) => last = e,
            }
            if let Some(status) = self.server.exited() {
                return Err(format!(
                    "loki exited ({status}):\n{}",
                    self.server.log_tail(15)
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "loki not ready after {timeout:?} ({last}):\n{}",
                    self.server.log_tail(15)
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// The HTTP client for Loki's query API (plain HTTP on loopback).
pub fn http_client() -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))
}

/// Every stream of `tenant` between `start_ns` and `end_ns`, entries oldest first, with
/// structured metadata apart from the labels (`categorize-labels`), as Loki returns them.
pub async fn query_streams(
    client: &reqwest::Client,
    base: &str,
    tenant: &str,
    start_ns: u128,
    end_ns: u128,
) -> Result<Vec<LogStream>, String> {
    let url = format!(
        "{base}/loki/api/v1/query_range?query={}&start={start_ns}&end={end_ns}&limit=5000&direction=forward",
        crate::kind::query::percent_encode(r#"{service_name=~".+"}"#)
    );
    let request = client
        .get(&url)
        .header("X-Scope-OrgID", tenant)
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels");
    let (status, body) = get_text(request, &url).await?;
    if status != 200 {
        return Err(format!(
            "Loki answered {status} to query_range: {}",
            body.trim()
        ));
    }
    parse_streams(&body)
}

/// Sends a GET; its status and body, or an error naming `url`.
pub async fn get_text(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<(u16, String), String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    Ok((status, body))
}

/// A `query_range` answer (`resultType: streams`) as [`LogStream`]s.
pub fn parse_streams(body: &str) -> Result<Vec<LogStream>, String> {
    let answer: Value =
        serde_json::from_str(body).map_err(|e| format!("Loki's answer is not JSON: {e}"))?;
    if answer["status"] != "success" {
        return Err(format!("Loki's answer is not a success: {body}"));
    }
    let result = answer["data"]["result"]
        .as_array()
        .ok_or_else(|| format!("Loki's answer has no data.result: {body}"))?;
    let mut streams = Vec::new();
    for stream in result {
        let labels: Vec<String> = stream["stream"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let v = v.as_str().unwrap_or_default();
                        format!("{k}=\"{}\"", v.replace('\\', r"\\").replace('"', "\\\""))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut entries = Vec::new();
        for value in stream["values"].as_array().map_or(&[][..], Vec::as_slice) {
            let ts = value[0]
                .as_str()
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(|| format!("an entry without a timestamp: {value}"))?;
            let line = value[1].as_str().unwrap_or_default().to_owned();
            let structured_metadata = value
                .get(2)
                .and_then(|m| m["structuredMetadata"].as_object())
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            entries.push(LogEntry {
                timestamp_unix_nano: ts,
                line,
                structured_metadata,
            });
        }
        streams.push(LogStream {
            labels: format!("{{{}}}", labels.join(", ")),
            entries,
        });
    }
    Ok(streams)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_streams_entries_and_structured_metadata() {
        let body = r#"{"status":"success","data":{"resultType":"streams","result":[
            {"stream":{"cluster":"a","service_name":"unknown_service"},
             "values":[["1","one"],["2","two",{"structuredMetadata":{"k8s_event_uid":"u"}}]]}]}}"#;
        let streams = parse_streams(body).unwrap();
        assert_eq!(streams.len(), 1);
        assert_eq!(
            streams[0].labels,
            r#"{cluster="a", service_name="unknown_service"}"#
        );
        assert_eq!(streams[0].entries[1].timestamp_unix_nano, 2);
        assert_eq!(
            streams[0].entries[1].structured_metadata,
            [("k8s_event_uid".to_owned(), "u".to_owned())]
        );
        assert!(parse_streams("no org id").is_err());
    }
}
