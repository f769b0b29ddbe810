//! Loki's reading of a stream's labels string `{a="x", b="y"}` (`syntax.ParseLabels`, which is
//! Prometheus' `ParseMetric`), and the Go formatting of a label set back into one.
//!
//! The lexer's errors are Prometheus' own text and position (`1:5: parse error: unexpected
//! character inside braces: '.'`, column = byte offset + 1), which is what a collector sending an
//! invalid label name meets. Errors Prometheus' generated parser would give (a token in the
//! wrong place) keep its format but their wording is ours.

use std::fmt;

use k8s_event_collector::exporter::loki::LabelSet;

/// Why a labels string does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    /// Byte offset of the offending token.
    pos: usize,
    message: String,
    input: String,
}

impl fmt::Display for ParseError {
    /// `LINE:COL: parse error: MESSAGE`, as Prometheus' `ParseErr`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let before = self.input.get(..self.pos).unwrap_or(&self.input);
        let line = 1 + before.matches('\n').count();
        let col = self.pos - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        write!(f, "{line}:{col}: parse error: {}", self.message)
    }
}

/// The labels of `input` in the order written (a leading metric name becomes `__name__`).
/// Names are not sorted, nor duplicates removed: Loki's validation reports those.
pub(crate) fn parse(input: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut lexer = Lexer {
        input,
        pos: 0,
        start: 0,
    };
    let mut labels = Vec::new();
    lexer.skip_space();
    if lexer.peek().is_some_and(|c| is_alpha(c) || c == ':') {
        let name = lexer.identifier(true);
        labels.push(("__name__".to_owned(), name));
        lexer.skip_space();
    }
    match lexer.peek() {
        None if labels.is_empty() => return Err(lexer.error_here("unexpected end of input")),
        None => return Ok(labels),
        Some('{') => lexer.pos += 1,
        Some(c) => return Err(lexer.error_here(format!("unexpected character: {}", go_rune(c)))),
    }
    loop {
        // A label name, or the end of the set (also after a trailing comma).
        match lexer.token()? {
            Token::RightBrace => break,
            Token::Identifier(name) => {
                expect(&mut lexer, |t| matches!(t, Token::Equal), "\"=\"")?;
                let value = match lexer.token()? {
                    Token::Str(value) => value,
                    other => return Err(unexpected(&lexer, &other, "string")),
                };
                labels.push((name, value));
            }
            other => return Err(unexpected(&lexer, &other, "identifier or \"}\"")),
        }
        match lexer.token()? {
            Token::Comma => continue,
            Token::RightBrace => break,
            other => return Err(unexpected(&lexer, &other, "\",\" or \"}\"")),
        }
    }
    lexer.skip_space();
    match lexer.peek() {
        None => Ok(labels),
        Some(c) => Err(lexer.error_here(format!(
            "unexpected character after the label set: {}",
            go_rune(c)
        ))),
    }
}

/// `{a="x", b="y"}` of pairs already in order, values quoted like Go's `strconv.Quote`
/// (Prometheus `labels.String()`); duplicates are kept, as Loki prints them.
pub(crate) fn to_string(pairs: &[(String, String)]) -> String {
    let items: Vec<String> = pairs
        .iter()
        .map(|(name, value)| {
            // The collector's `LabelSet` prints one pair with Go's quoting; only the braces
            // around it are dropped.
            let one = LabelSet::from_pairs([(name.clone(), value.clone())]).to_string();
            one.get(1..one.len().saturating_sub(1))
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

enum Token {
    Identifier(String),
    Str(String),
    Equal,
    Comma,
    RightBrace,
    /// `=~`, `!=`, `!~`: matchers, valid in a query but not in a label set.
    Matcher(&'static str),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Identifier(name) => format!("identifier {name:?}"),
            Token::Str(_) => "string".to_owned(),
            Token::Equal => "\"=\"".to_owned(),
            Token::Comma => "\",\"".to_owned(),
            Token::RightBrace => "\"}\"".to_owned(),
            Token::Matcher(m) => format!("{m:?}"),
        }
    }
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    /// Where the last token read started: errors about a token point there.
    start: usize,
}

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn expect(
    lexer: &mut Lexer<'_>,
    ok: impl Fn(&Token) -> bool,
    what: &str,
) -> Result<(), ParseError> {
    let token = lexer.token()?;
    if ok(&token) {
        Ok(())
    } else {
        Err(unexpected(lexer, &token, what))
    }
}

fn unexpected(lexer: &Lexer<'_>, token: &Token, expected: &str) -> ParseError {
    lexer.error_at(
        lexer.start,
        format!(
            "unexpected {} in label set, expected {expected}",
            token.describe()
        ),
    )
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.input
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            pos,
            message: message.into(),
            input: self.input.to_owned(),
        }
    }

    fn error_here(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.pos, message)
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, plus `:` for a metric name.
    fn identifier(&mut self, metric: bool) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| is_alpha(c) || c.is_ascii_digit() || (metric && c == ':'))
        {
            self.pos += 1;
        }
        self.input
            .get(start..self.pos)
            .unwrap_or_default()
            .to_owned()
    }

    /// The next token inside braces, Prometheus' `lexInsideBraces`.
    fn token(&mut self) -> Result<Token, ParseError> {
        self.skip_space();
        let start = self.pos;
        self.start = start;
        let Some(c) = self.bump() else {
            return Err(self.error_at(start, "unexpected end of input inside braces"));
        };
        Ok(match c {
            c if is_alpha(c) => {
                self.pos = start;
                Token::Identifier(self.identifier(false))
            }
            ',' => Token::Comma,
            '"' | '\'' => Token::Str(self.string(start, c)?),
            '`' => Token::Str(self.raw_string(start)?),
            '=' if self.peek() == Some('~') => {
                self.pos += 1;
                Token::Matcher("=~")
            }
            '=' => Token::Equal,
            '!' => match self.bump() {
                Some('=') => Token::Matcher("!="),
                Some('~') => Token::Matcher("!~"),
                next => {
                    let shown = next.map_or("EOF".to_owned(), go_rune);
                    return Err(self.error_at(
                        start,
                        format!("unexpected character after '!' inside braces: {shown}"),
                    ));
                }
            },
            '{' => {
                return Err(self.error_at(start, format!("unexpected left brace {}", go_rune(c))));
            }
            '}' => Token::RightBrace,
            c => {
                return Err(self.error_at(
                    start,
                    format!("unexpected character inside braces: {}", go_rune(c)),
                ));
            }
        })
    }

    /// A `"` or `'` string with Go escapes, opened at `start`.
    fn string(&mut self, start: usize, quote: char) -> Result<String, ParseError> {
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None | Some('\n') => {
                    return Err(self.error_at(start, "unterminated quoted string"));
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') => out.push(self.escape(at, quote)?),
                Some(c) => out.push(c),
            }
        }
    }

    fn raw_string(&mut self, start: usize) -> Result<String, ParseError> {
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error_at(start, "unterminated raw string")),
                Some('`') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    /// The character of the escape after a `\` at `at`, Go's `strconv.UnquoteChar`.
    fn escape(&mut self, at: usize, quote: char) -> Result<char, ParseError> {
        let Some(c) = self.bump() else {
            return Err(self.error_at(at, "escape sequence not terminated"));
        };
        let simple = match c {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            c if c == quote => Some(c),
            _ => None,
        };
        if let Some(simple) = simple {
            return Ok(simple);
        }
        let (digits, radix) = match c {
            '0'..='7' => (2, 8),
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            c => {
                return Err(self.error_at(
                    at,
                    format!(
                        "unknown escape sequence U+{:04X} {}",
                        u32::from(c),
                        go_rune(c)
                    ),
                ));
            }
        };
        let mut value = if radix == 8 {
            c.to_digit(8).unwrap_or(0)
        } else {
            0
        };
        for _ in 0..digits {
            let digit = self.bump().and_then(|d| d.to_digit(radix));
            let Some(digit) = digit else {
                return Err(self.error_at(at, "illegal character in escape sequence"));
            };
            value = value.saturating_mul(radix).saturating_add(digit);
        }
        // \ooo and \xhh are bytes; Go then reads the string as UTF-8, which for a byte above
        // 0x7f alone is invalid: such a label value is kept as U+FFFD.
        let value = if radix == 8 && value > 255 {
            return Err(self.error_at(at, "octal escape value > 255"));
        } else if (radix == 8 || digits == 2) && value > 0x7f {
            u32::from(char::REPLACEMENT_CHARACTER)
        } else {
            value
        };
        char::from_u32(value)
            .ok_or_else(|| self.error_at(at, "escape sequence is invalid Unicode code point"))
    }
}

/// A rune as Go's `%q` shows it: `'.'`, `'\n'`, `'\x00'`.
fn go_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".to_owned(),
        '\\' => "'\\\\'".to_owned(),
        '\u{7}' => "'\\a'".to_owned(),
        '\u{8}' => "'\\b'".to_owned(),
        '\u{c}' => "'\\f'".to_owned(),
        '\n' => "'\\n'".to_owned(),
        '\r' => "'\\r'".to_owned(),
        '\t' => "'\\t'".to_owned(),
        '\u{b}' => "'\\v'".to_owned(),
        c if (c as u32) < 0x20 || c == '\u{7f}' => format!("'\\x{:02x}'", c as u32),
        c if c.is_control() => format!("'\\u{:04x}'", c as u32),
        c => format!("'{c}'"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pairs(input: &str) -> Vec<(String, String)> {
        parse(input).unwrap()
    }

    fn error(input: &str) -> String {
        parse(input).unwrap_err().to_string()
    }

    #[test]
    fn reads_label_sets_as_the_collector_writes_them() {
        assert_eq!(
            pairs(r#"{job="x", level="info"}"#),
            [("job".into(), "x".into()), ("level".into(), "info".into())]
        );
        assert_eq!(pairs("{}"), []);
        assert_eq!(pairs(r#"{ a = "1" , }"#), [("a".into(), "1".into())]);
        assert_eq!(
            pairs(r#"{a="q\"\\\n\u00e9\x41", b='s', c=`r\n`}"#),
            [
                ("a".into(), "q\"\\\néA".into()),
                ("b".into(), "s".into()),
                ("c".into(), "r\\n".into())
            ]
        );
        assert_eq!(pairs("up{}"), [("__name__".into(), "up".into())]);
    }

    #[test]
    fn invalid_label_names_fail_with_prometheus_text_and_column() {
        // The captured Loki answer for `k8s.ns`.
        assert_eq!(
            error(r#"{k8s.ns="v"}"#),
            "1:5: parse error: unexpected character inside braces: '.'"
        );
        assert_eq!(
            error(r#"{job="x", 1a="v"}"#),
            "1:11: parse error: unexpected character inside braces: '1'"
        );
        assert_eq!(
            error(r#"{a-b="v"}"#),
            "1:3: parse error: unexpected character inside braces: '-'"
        );
        assert_eq!(
            error(r#"{a="v""#),
            "1:7: parse error: unexpected end of input inside braces"
        );
        assert_eq!(
            error(r#"{a="v}"#),
            "1:4: parse error: unterminated quoted string"
        );
        assert!(error(r#"{a=~"v"}"#).starts_with("1:3: parse error: unexpected \"=~\""));
        assert!(error(r#"{a="v" b="w"}"#).starts_with("1:8: parse error: unexpected identifier"));
        assert_eq!(error(""), "1:1: parse error: unexpected end of input");
    }

    #[test]
    fn prints_like_prometheus_labels_string() {
        let labels = vec![
            ("a".to_owned(), "x\"y".to_owned()),
            ("a".to_owned(), "é\n".to_owned()),
        ];
        assert_eq!(to_string(&labels), r#"{a="x\"y", a="é\n"}"#);
        assert_eq!(to_string(&[]), "{}");
    }
}
