//! `print-config`: the collector config as it will run (variables expanded), with every secret
//! replaced by `[REDACTED]`.

use super::yaml::{Node, NodeValue, Resolved, ScalarKind, resolve_plain};

pub const REDACTED: &str = "[REDACTED]";

/// Keys whose values are secrets wherever they appear (headers included).
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    matches!(
        k.as_str(),
        "password"
            | "token"
            | "key_pem"
            | "secret"
            | "client_secret"
            | "authorization"
            | "proxy_authorization"
            | "api_key"
            | "apikey"
            | "x_api_key"
            | "bearer_token"
    ) || k.ends_with("_password")
        || k.ends_with("_secret")
        || k.ends_with("_token")
}

/// Renders `root` as YAML, redacting secret keys and the values at `secret_paths`.
pub fn render(root: &Node, secret_paths: &[Vec<String>]) -> String {
    let mut out = String::new();
    let mut path = Vec::new();
    emit_block(root, 0, &mut path, secret_paths, &mut out);
    out
}

fn emit_block(
    node: &Node,
    indent: usize,
    path: &mut Vec<String>,
    secrets: &[Vec<String>],
    out: &mut String,
) {
    let pad = " ".repeat(indent);
    match &node.value {
        NodeValue::Map(entries) if !entries.is_empty() => {
            for (key, value) in entries {
                let key_text = key.as_str().unwrap_or("");
                path.push(key_text.to_owned());
                out.push_str(&pad);
                out.push_str(&scalar_text(key_text, ScalarKind::Plain));
                out.push(':');
                let secret = is_secret_key(key_text) || secrets.contains(path);
                emit_value(value, indent, secret, path, secrets, out);
                path.pop();
            }
        }
        NodeValue::Seq(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                path.push(format!("[{i}]"));
                if matches!(&item.value, NodeValue::Map(e) if !e.is_empty()) {
                    // `- key: value` with the map's other keys aligned under the first.
                    let mut block = String::new();
                    emit_block(item, indent + 2, path, secrets, &mut block);
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&block[indent + 2..]);
                } else {
                    out.push_str(&pad);
                    out.push('-');
                    let secret = secrets.contains(path);
                    emit_value(item, indent, secret, path, secrets, out);
                }
                path.pop();
            }
        }
        _ => {
            out.push_str(&pad);
            out.push_str(&inline(node));
            out.push('\n');
        }
    }
}

fn emit_value(
    value: &Node,
    indent: usize,
    secret: bool,
    path: &mut Vec<String>,
    secrets: &[Vec<String>],
    out: &mut String,
) {
    match &value.value {
        NodeValue::Scalar { .. } if secret && !value.is_null() => {
            out.push(' ');
            out.push_str(REDACTED);
            out.push('\n');
        }
        NodeValue::Map(e) if !e.is_empty() => {
            out.push('\n');
            emit_block(value, indent + 2, path, secrets, out);
        }
        NodeValue::Seq(items) if !items.is_empty() => {
            out.push('\n');
            emit_block(value, indent + 2, path, secrets, out);
        }
        _ => {
            out.push(' ');
            out.push_str(&inline(value));
            out.push('\n');
        }
    }
}

fn inline(node: &Node) -> String {
    match &node.value {
        NodeValue::Map(_) => "{}".into(),
        NodeValue::Seq(_) => "[]".into(),
        NodeValue::Scalar { text, kind } => scalar_text(text, *kind),
    }
}

/// A scalar as YAML: plain when that reads back as the same value, double-quoted otherwise.
fn scalar_text(text: &str, kind: ScalarKind) -> String {
    if kind == ScalarKind::Plain {
        if text.is_empty() {
            return "null".into();
        }
        if !matches!(resolve_plain(text), Resolved::Str(_)) {
            return text.to_owned();
        }
    }
    let plain_safe = !text.is_empty()
        && matches!(resolve_plain(text), Resolved::Str(_))
        && !text.starts_with([
            ' ', '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"',
            '%', '@', '`',
        ])
        && !text.ends_with([' ', ':'])
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.chars().any(char::is_control);
    if plain_safe {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::yaml::parse;

    #[test]
    fn round_trips_and_redacts() {
        let src = "a:\n  password: hunter2\n  actions:\n    - {key: k, value: v}\n  list: [x, 'true', 1]\n  empty: {}\n  headers:\n    Authorization: Basic abc\n    X-Scope-OrgID: t1\n  msg: 'a: b'\n";
        let root = parse(src).unwrap().unwrap();
        let out = render(&root, &[]);
        assert_eq!(
            out,
            "a:\n  password: [REDACTED]\n  actions:\n    - key: k\n      value: v\n  list:\n    - x\n    - \"true\"\n    - 1\n  empty: {}\n  headers:\n    Authorization: [REDACTED]\n    X-Scope-OrgID: t1\n  msg: \"a: b\"\n"
        );
        let reparsed = parse(&out).unwrap().unwrap();
        assert_eq!(
            reparsed.get("a").unwrap().get("msg").unwrap().as_str(),
            Some("a: b")
        );
    }

    #[test]
    fn redacts_values_from_secret_variables_by_path() {
        let root = parse("h:\n  X-Custom: s3cret\n").unwrap().unwrap();
        let out = render(&root, &[vec!["h".into(), "X-Custom".into()]]);
        assert_eq!(out, "h:\n  X-Custom: [REDACTED]\n");
    }
}
