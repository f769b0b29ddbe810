//! A YAML document as a tree whose every node knows where it stands in the file.
//!
//! Serde-based YAML crates lose positions once a value is built; users need errors that say
//! "line 12, column 9", so the config is first read into this tree and typed from there.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A 1-based line and column in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

/// How a scalar was written, which decides how it is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// Unquoted: typed by the YAML 1.2 core schema (`true`, `12`, `~` ...).
    Plain,
    /// Quoted or a block scalar: always a string.
    Quoted,
    /// Held an environment reference that was expanded: a string, as the old collector made it.
    Expanded,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Scalar { text: String, kind: ScalarKind },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// One YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub mark: Mark,
    /// Where a block scalar's content starts and its indentation: lets a YAML document held
    /// in a string (`spec.config: |`) report positions in the outer file.
    pub block_start: Option<Mark>,
}

/// The value of a plain scalar under the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Node {
    pub fn scalar(text: impl Into<String>, kind: ScalarKind, mark: Mark) -> Self {
        Node {
            value: NodeValue::Scalar {
                text: text.into(),
                kind,
            },
            mark,
            block_start: None,
        }
    }

    /// The scalar's text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            NodeValue::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key` in a map node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn is_null(&self) -> bool {
        matches!(self.resolve(), Some(Resolved::Null))
    }

    /// What a scalar means: plain scalars are typed, quoted and expanded ones are strings.
    pub fn resolve(&self) -> Option<Resolved<'_>> {
        match &self.value {
            NodeValue::Scalar {
                text,
                kind: ScalarKind::Plain,
            } => Some(resolve_plain(text)),
            NodeValue::Scalar { text, .. } => Some(Resolved::Str(text)),
            _ => None,
        }
    }

    /// A word for what this node is, for error messages ("expected a string, found a map").
    pub fn describe(&self) -> &'static str {
        match (&self.value, self.resolve()) {
            (NodeValue::Seq(_), _) => "a list",
            (NodeValue::Map(_), _) => "a map",
            (_, Some(Resolved::Null)) => "nothing (null)",
            (_, Some(Resolved::Bool(_))) => "a boolean",
            (_, Some(Resolved::Int(_))) => "an integer",
            (_, Some(Resolved::Float(_))) => "a number",
            _ => "a string",
        }
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub fn resolve_plain(text: &str) -> Resolved<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(text) {
        return Resolved::Int(i);
    }
    let looks_numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric && let Ok(f) = text.parse::<f64>() {
        return Resolved::Float(f);
    }
    Resolved::Str(text)
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub mark: Mark,
    pub message: String,
}

/// Parses the first document of `source`. An empty document (or a file of comments) is `None`.
pub fn parse(source: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = TreeBuilder::default();
    for item in Parser::new_from_str(source) {
        let (event, span) = item.map_err(|e| SyntaxError {
            mark: Mark {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
            message: e.info().to_owned(),
        })?;
        if builder.accept(event, span)? {
            break;
        }
    }
    Ok(builder.root)
}

/// An open collection: the node being filled, a map key waiting for its value, its anchor.
struct Frame {
    node: Node,
    pending_key: Option<Node>,
    anchor: usize,
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    /// Nodes with anchors, for aliases (`*name`).
    anchors: Vec<(usize, Node)>,
    root: Option<Node>,
    started: bool,
}

impl TreeBuilder {
    /// Takes one event; returns true when the first document is complete.
    fn accept(&mut self, event: Event<'_>, span: Span) -> Result<bool, SyntaxError> {
        let mark = Mark {
            line: span.start.line(),
            column: span.start.col() + 1,
        };
        match event {
            Event::DocumentStart(_) => self.started = true,
            Event::DocumentEnd | Event::StreamEnd => return Ok(self.started),
            Event::Scalar(text, style, anchor, _tag) => {
                let kind = match style {
                    ScalarStyle::Plain => ScalarKind::Plain,
                    _ => ScalarKind::Quoted,
                };
                let mut node = Node::scalar(text.into_owned(), kind, mark);
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    // The parser's span of a block scalar starts at its content.
                    node.block_start = Some(mark);
                }
                self.complete(node, anchor);
            }
            Event::SequenceStart(anchor, _) => self.open(NodeValue::Seq(Vec::new()), mark, anchor),
            Event::MappingStart(anchor, _) => self.open(NodeValue::Map(Vec::new()), mark, anchor),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    self.complete(frame.node, frame.anchor);
                }
            }
            Event::Alias(id) => {
                let Some((_, node)) = self.anchors.iter().rev().find(|(a, _)| *a == id) else {
                    return Err(SyntaxError {
                        mark,
                        message: "alias refers to an unknown anchor".into(),
                    });
                };
                let mut node = node.clone();
                node.mark = mark;
                self.complete(node, 0);
            }
            Event::StreamStart | Event::Nothing => {}
        }
        Ok(false)
    }

    fn open(&mut self, value: NodeValue, mark: Mark, anchor: usize) {
        let node = Node {
            value,
            mark,
            block_start: None,
        };
        self.stack.push(Frame {
            node,
            pending_key: None,
            anchor,
        });
    }

    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.push((anchor, node.clone()));
        }
        let Some(frame) = self.stack.last_mut() else {
            self.root.get_or_insert(node);
            return;
        };
        match &mut frame.node.value {
            NodeValue::Seq(items) => items.push(node),
            NodeValue::Map(entries) => match frame.pending_key.take() {
                None => frame.pending_key = Some(node),
                Some(key) => entries.push((key, node)),
            },
            NodeValue::Scalar { .. } => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_one_based_lines_and_columns() {
        let root = parse("a:\n  b: 1\n  c: [x, 'y']\n").unwrap().unwrap();
        let a = root.get("a").unwrap();
        assert_eq!(a.mark, Mark { line: 2, column: 3 });
        let b = a.get("b").unwrap();
        assert_eq!(b.mark, Mark { line: 2, column: 6 });
        assert_eq!(b.resolve(), Some(Resolved::Int(1)));
        let NodeValue::Seq(items) = &a.get("c").unwrap().value else {
            panic!("not a seq")
        };
        assert_eq!(items[1].resolve(), Some(Resolved::Str("y")));
        assert_eq!(
            items[1].mark,
            Mark {
                line: 3,
                column: 10
            }
        );
    }

    #[test]
    fn core_schema_resolution() {
        assert_eq!(resolve_plain("~"), Resolved::Null);
        assert_eq!(resolve_plain("True"), Resolved::Bool(true));
        assert_eq!(resolve_plain("-12"), Resolved::Int(-12));
        assert_eq!(resolve_plain("0x1f"), Resolved::Int(31));
        assert_eq!(resolve_plain("1.5"), Resolved::Float(1.5));
        assert_eq!(resolve_plain("1e3"), Resolved::Float(1000.0));
        assert_eq!(resolve_plain("5s"), Resolved::Str("5s"));
        assert_eq!(resolve_plain("yes"), Resolved::Str("yes"));
        assert_eq!(resolve_plain("1.2.3"), Resolved::Str("1.2.3"));
    }

    #[test]
    fn empty_document_is_none_and_syntax_errors_have_marks() {
        assert_eq!(parse("# only a comment\n").unwrap(), None);
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.mark.line >= 1, "{err:?}");
    }

    #[test]
    fn block_scalars_know_where_their_content_starts() {
        let src = "spec:\n  config: |\n    receivers:\n      k8s_events: {}\n";
        let root = parse(src).unwrap().unwrap();
        let config = root.get("spec").unwrap().get("config").unwrap();
        assert_eq!(config.block_start, Some(Mark { line: 3, column: 5 }));
        assert_eq!(config.as_str(), Some("receivers:\n  k8s_events: {}\n"));
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let root = parse("a: &x {k: v}\nb: *x\n").unwrap().unwrap();
        assert_eq!(root.get("b").unwrap().get("k").unwrap().as_str(), Some("v"));
        let root = parse("a: &s hello\nb: *s\n").unwrap().unwrap();
        assert_eq!(root.get("b").unwrap().as_str(), Some("hello"));
    }
}
