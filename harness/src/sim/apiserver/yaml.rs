//! Multi-document YAML manifests to JSON values, through the collector's located YAML reader.

use k8s_event_collector::config::yaml::{self, Node, NodeValue, Resolved};
use serde_json::{Map, Number, Value};

/// A YAML syntax error, at its line and column in the whole file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The documents of a YAML file, split on lines that are `---`; empty documents are skipped.
pub fn documents(text: &str) -> Result<Vec<Value>, YamlError> {
    let mut docs = Vec::new();
    let mut chunk = String::new();
    // 1-based line of the chunk's first line, to report errors in file lines.
    let mut chunk_start = 1;
    let lines = text.lines().chain(std::iter::once("---"));
    for (i, line) in lines.enumerate() {
        if line.trim_end() == "---" {
            let parsed = yaml::parse(&chunk).map_err(|e| YamlError {
                line: chunk_start + e.mark.line.saturating_sub(1),
                column: e.mark.column,
                message: e.message,
            })?;
            docs.extend(parsed.as_ref().map(to_json));
            chunk.clear();
            chunk_start = i + 2;
        } else {
            chunk.push_str(line);
            chunk.push('\n');
        }
    }
    Ok(docs)
}

/// A YAML node as JSON: plain scalars typed by the YAML 1.2 core schema, quoted ones strings.
pub fn to_json(node: &Node) -> Value {
    match &node.value {
        NodeValue::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeValue::Map(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let key = key
                    .as_str()
                    .map_or_else(|| to_json(key).to_string(), str::to_owned);
                map.insert(key, to_json(value));
            }
            Value::Object(map)
        }
        NodeValue::Scalar { text, .. } => match node.resolve() {
            Some(Resolved::Null) => Value::Null,
            Some(Resolved::Bool(b)) => Value::Bool(b),
            Some(Resolved::Int(i)) => Value::Number(i.into()),
            Some(Resolved::Float(f)) => {
                Number::from_f64(f).map_or_else(|| Value::String(text.clone()), Value::Number)
            }
            Some(Resolved::Str(s)) => Value::String(s.to_owned()),
            None => Value::String(text.clone()),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_are_split_and_typed() {
        let text = "a: 1\nb: '2'\nc: [x, true, ~, 1.5]\n---\n# only a comment\n---\nd: {e: f}\n";
        assert_eq!(
            documents(text).unwrap(),
            [
                json!({"a": 1, "b": "2", "c": ["x", true, null, 1.5]}),
                json!({"d": {"e": "f"}})
            ]
        );
    }

    #[test]
    fn errors_name_the_file_line() {
        let err = documents("a: 1\n---\nb: [1, 2\n").unwrap_err();
        assert!(err.line >= 3, "{err}");
    }
}
