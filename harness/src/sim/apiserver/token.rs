//! LIST continue tokens in the real server's format: unpadded URL-safe base64 of
//! `{"v":"meta.k8s.io/v1","rv":<snapshot>,"start":"<next key>\u0000"}`.

use serde_json::Value;

const VERSION: &str = "meta.k8s.io/v1";

/// A decoded continue token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Continue {
    /// The snapshot revision; -1 asks for the newest state (the token a 410 hands out).
    pub rv: i64,
    /// The key to start at, relative to the request's prefix (`ns/name\0` cluster-wide,
    /// `name\0` in a namespace).
    pub start: String,
}

impl Continue {
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Go's order: v, rv, start.
        text.push_str("{\"v\":");
        super::json::write_str(&mut text, VERSION);
        text.push_str(",\"rv\":");
        text.push_str(&self.rv.to_string());
        text.push_str(",\"start\":");
        super::json::write_str(&mut text, &self.start);
        text.push('}');
        base64url_encode(text.as_bytes())
    }

    /// Reads a token; the error is the real server's wording after "invalid continue token: ".
    pub fn decode(token: &str) -> Result<Continue, String> {
        let bytes = base64url_decode(token)
            .ok_or_else(|| "continue key is not valid: illegal base64 data".to_owned())?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("continue key is not valid: {e}"))?;
        match value.get("v").and_then(Value::as_str) {
            Some(VERSION) => {}
            other => {
                return Err(format!(
                    "continue key is not valid: server does not recognize this encoded version {:?}",
                    other.unwrap_or_default()
                ));
            }
        }
        let rv = value.get("rv").and_then(Value::as_i64).unwrap_or(0);
        if rv == 0 || rv < -1 {
            return Err(format!(
                "continue key is not valid: incorrect encoded start resourceVersion (version {VERSION})"
            ));
        }
        let start = value
            .get("start")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if start.is_empty() {
            return Err("continue key is not valid: encoded start key empty".to_owned());
        }
        Ok(Continue {
            rv,
            start: start.to_owned(),
        })
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64, URL-safe alphabet, no padding (Go's `base64.RawURLEncoding`).
fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..=chunk.len() {
            let index = (n >> (18 - 6 * i)) & 63;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

/// The inverse of [`base64url_encode`]; `None` on a character outside the alphabet or a
/// dangling one.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|a| *a == c)?;
        acc = acc << 6 | u32::try_from(value).ok()?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    // 6 leftover bits cannot come from whole bytes.
    (bits < 6).then_some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The tokens of `list-core-page1.json` and `list-core-namespace-page1.json`.
    const CLUSTER: &str = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mzk1LCJzdGFydCI6InBheW1lbnRzL3dlYi0wLjVjZTI2MWE4ZGYzODRkYTFcdTAwMDAifQ";
    const NAMESPACED: &str = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6Mzk1LCJzdGFydCI6IndlYi0wLjQ4YzRlMWUxNjc3MzRkZmRcdTAwMDAifQ";

    #[test]
    fn tokens_are_byte_for_byte_the_real_servers() {
        let token = Continue {
            rv: 395,
            start: "payments/web-0.5ce261a8df384da1\0".into(),
        };
        assert_eq!(token.encode(), CLUSTER);
        assert_eq!(Continue::decode(CLUSTER).unwrap(), token);
        let token = Continue::decode(NAMESPACED).unwrap();
        assert_eq!(token.start, "web-0.48c4e1e167734dfd\0");
        assert_eq!(token.encode(), NAMESPACED);
    }

    #[test]
    fn bad_tokens_are_errors() {
        assert!(Continue::decode("not base64!").is_err());
        assert!(Continue::decode(&base64url_encode(b"{}")).is_err());
        assert!(
            Continue::decode(&base64url_encode(
                br#"{"v":"meta.k8s.io/v1","rv":0,"start":"a"}"#
            ))
            .is_err()
        );
        assert_eq!(
            Continue::decode(&base64url_encode(
                br#"{"v":"meta.k8s.io/v1","rv":-1,"start":"a"}"#
            ))
            .unwrap()
            .rv,
            -1
        );
        for n in 0..7 {
            let bytes: Vec<u8> = (0..n).map(|i| i * 37).collect();
            assert_eq!(base64url_decode(&base64url_encode(&bytes)).unwrap(), bytes);
        }
        assert!(base64url_decode("A").is_none());
    }
}
