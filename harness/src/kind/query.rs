//! Reading Loki back: the `query_range` request (URL and tenant header) for what a scenario
//! expects, and finding the expected line in Loki's answer.

use std::collections::BTreeMap;

use serde_json::Value;

/// An HTTP GET to send to Loki.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LokiRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// `GET <base>/loki/api/v1/query_range` for `logql` between `start_ns` and `end_ns` (Unix
/// nanoseconds), newest first, as tenant `tenant` (`X-Scope-OrgID`: Loki runs with
/// `auth_enabled: true`, so a query without it is refused).
pub fn query_range(
    base: &str,
    tenant: &str,
    logql: &str,
    start_ns: u128,
    end_ns: u128,
) -> LokiRequest {
    LokiRequest {
        url: format!(
            "{}/loki/api/v1/query_range?query={}&start={start_ns}&end={end_ns}&limit=100&direction=backward",
            base.trim_end_matches('/'),
            percent_encode(logql)
        ),
        headers: vec![("X-Scope-OrgID".to_owned(), tenant.to_owned())],
    }
}

/// `GET <base>/ready`: 200 once Loki's ring and ingester are up.
pub fn ready(base: &str) -> LokiRequest {
    LokiRequest {
        url: format!("{}/ready", base.trim_end_matches('/')),
        headers: Vec::new(),
    }
}

/// The LogQL for lines of stream `{cluster="<cluster>"}` (the label `deploy/`'s config sets
/// from the tenant) that contain `text`.
pub fn lines_containing(cluster: &str, text: &str) -> String {
    format!(
        "{{cluster=\"{}\"}} |= \"{}\"",
        logql_escape(cluster),
        logql_escape(text)
    )
}

fn logql_escape(s: &str) -> String {
    s.replace('\\', r"\\").replace('"', "\\\"")
}

/// Percent-encodes all but RFC 3986's unreserved characters, for a query parameter.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A line Loki returned, and the labels of its stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLine {
    pub labels: BTreeMap<String, String>,
    pub line: String,
}

/// The first line containing `text` in a `query_range` answer (`resultType: streams`); `None`
/// when Loki has none yet; `Err` when the answer is not what Loki sends.
pub fn find_line(body: &str, text: &str) -> Result<Option<FoundLine>, String> {
    let answer: Value =
        serde_json::from_str(body).map_err(|e| format!("Loki's answer is not JSON: {e}"))?;
    if answer["status"] != "success" {
        return Err(format!("Loki's answer is not a success: {body}"));
    }
    let streams = answer["data"]["result"]
        .as_array()
        .ok_or_else(|| format!("Loki's answer has no data.result: {body}"))?;
    for stream in streams {
        let labels = stream["stream"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let values = stream["values"].as_array().map_or(&[][..], Vec::as_slice);
        // Each value is [timestamp, line] or, with structured metadata, [timestamp, line, {..}].
        if let Some(line) = values
            .iter()
            .filter_map(|v| v.get(1).and_then(Value::as_str))
            .find(|line| line.contains(text))
        {
            return Ok(Some(FoundLine {
                labels,
                line: line.to_owned(),
            }));
        }
    }
    Ok(None)
}

/// The address `docker port <container> <port>/tcp` printed, IPv4 first (`127.0.0.1:32768`),
/// as an HTTP base URL.
pub fn published_base_url(docker_port_output: &str) -> Option<String> {
    let addresses: Vec<&str> = docker_port_output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    addresses
        .iter()
        .find(|a| !a.starts_with('['))
        .or_else(|| addresses.first())
        .map(|a| format!("http://{a}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn query_range_url_and_tenant_header() {
        let q = lines_containing("tenant-a", "smoke 1f");
        assert_eq!(q, r#"{cluster="tenant-a"} |= "smoke 1f""#);
        let req = query_range("http://127.0.0.1:32768/", "tenant-a", &q, 10, 20);
        assert_eq!(
            req.url,
            "http://127.0.0.1:32768/loki/api/v1/query_range\
             ?query=%7Bcluster%3D%22tenant-a%22%7D%20%7C%3D%20%22smoke%201f%22\
             &start=10&end=20&limit=100&direction=backward"
        );
        assert_eq!(
            req.headers,
            [("X-Scope-OrgID".to_owned(), "tenant-a".to_owned())]
        );
        assert_eq!(ready("http://h:1").url, "http://h:1/ready");
    }

    #[test]
    fn logql_strings_are_escaped() {
        assert_eq!(
            lines_containing(r#"a"b"#, r"c\d"),
            r#"{cluster="a\"b"} |= "c\\d""#
        );
    }

    #[test]
    fn finds_the_line_and_its_labels() {
        let body = r#"{"status":"success","data":{"resultType":"streams","result":[
            {"stream":{"cluster":"tenant-a","level":"INFO"},
             "values":[["1","other"],["2","{\"msg\":\"smoke 1f\"}",{"k8s.event.uid":"u"}]]}]}}"#;
        let found = find_line(body, "smoke 1f").unwrap().unwrap();
        assert_eq!(found.line, r#"{"msg":"smoke 1f"}"#);
        assert_eq!(found.labels["cluster"], "tenant-a");
        assert_eq!(find_line(body, "absent").unwrap(), None);
        let empty = r#"{"status":"success","data":{"resultType":"streams","result":[]}}"#;
        assert_eq!(find_line(empty, "x").unwrap(), None);
        assert!(find_line("no org id", "x").is_err());
        assert!(find_line(r#"{"status":"error"}"#, "x").is_err());
    }

    #[test]
    fn published_port_prefers_ipv4() {
        assert_eq!(
            published_base_url("[::1]:32768\n127.0.0.1:32768\n").as_deref(),
            Some("http://127.0.0.1:32768")
        );
        assert_eq!(
            published_base_url("[::1]:5\n").as_deref(),
            Some("http://[::1]:5")
        );
        assert_eq!(published_base_url(""), None);
    }
}
