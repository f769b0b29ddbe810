//! The query parameters of list and watch requests, read as the API server reads them
//! (Go's `strconv` rules for booleans and integers; a bad value is a 400).

use super::status::{self, Status};

/// What a GET on a collection asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Params {
    pub watch: bool,
    /// 0: no limit.
    pub limit: u64,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub allow_watch_bookmarks: bool,
    pub timeout_seconds: Option<u64>,
}

impl Params {
    /// Reads a raw query string.
    pub fn parse(query: &str) -> Result<Params, Status> {
        let pairs = pairs(query);
        // Go's url.Values.Get: the first value of a repeated key.
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let non_empty = |key: &str| get(key).filter(|v| !v.is_empty()).map(str::to_owned);
        Ok(Params {
            watch: get("watch").map(parse_bool).transpose()?.unwrap_or(false),
            // A negative limit is no limit, as in the real server.
            limit: get("limit")
                .map(parse_int)
                .transpose()?
                .map_or(0, |l| u64::try_from(l).unwrap_or(0)),
            continue_token: non_empty("continue"),
            resource_version: non_empty("resourceVersion"),
            resource_version_match: non_empty("resourceVersionMatch"),
            allow_watch_bookmarks: get("allowWatchBookmarks")
                .map(parse_bool)
                .transpose()?
                .unwrap_or(false),
            timeout_seconds: get("timeoutSeconds")
                .map(parse_int)
                .transpose()?
                .map(|t| u64::try_from(t).unwrap_or(0)),
        })
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(value: &str) -> Result<bool, Status> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(status::bad_request(format!(
            "strconv.ParseBool: parsing {value:?}: invalid syntax"
        ))),
    }
}

/// Go's `strconv.ParseInt(value, 10, 64)`.
fn parse_int(value: &str) -> Result<i64, Status> {
    value.parse().map_err(|_| {
        status::bad_request(format!(
            "strconv.ParseInt: parsing {value:?}: invalid syntax"
        ))
    })
}

/// `key=value&...` with percent-decoding (`+` is a space).
pub(super) fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding; a malformed escape stays as written.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_collectors_watch_query() {
        let p = Params::parse(
            "watch=1&allowWatchBookmarks=true&resourceVersion=395&timeoutSeconds=70&limit=-1",
        )
        .unwrap();
        assert!(p.watch && p.allow_watch_bookmarks);
        assert_eq!(p.resource_version.as_deref(), Some("395"));
        assert_eq!(p.timeout_seconds, Some(70));
        assert_eq!(p.limit, 0);
    }

    #[test]
    fn decodes_continue_tokens_and_rejects_bad_values() {
        let p = Params::parse("limit=2&continue=ab%3D%2Bc%2F&watch=false").unwrap();
        assert_eq!(p.continue_token.as_deref(), Some("ab=+c/"));
        assert!(!p.watch);
        let err = Params::parse("limit=two").unwrap_err();
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "strconv.ParseInt: parsing \"two\": invalid syntax"
        );
        assert_eq!(Params::parse("watch=yes").unwrap_err().code, 400);
        assert_eq!(decode("%zz%4"), "%zz%4");
    }
}
