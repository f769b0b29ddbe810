//! A regular expression written in the config, compiled when the config is read so that a bad
//! pattern is a located config error, not a failure on the first record.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer};

/// A compiled config regex that remembers its source text.
#[derive(Clone)]
pub struct Pattern(regex::Regex);

impl Pattern {
    pub fn new(source: &str) -> Result<Self, String> {
        regex::Regex::new(source).map(Pattern).map_err(|e| {
            // The regex crate's message spans several lines with a caret; keep its last line.
            let detail = e.to_string();
            let reason = detail
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_owned();
            format!("invalid regular expression `{source}`: {reason}")
        })
    }

    pub fn regex(&self) -> &regex::Regex {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.0.as_str())
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Pattern::new(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bad_patterns_say_why() {
        let err = Pattern::new("(unclosed").unwrap_err();
        assert!(
            err.starts_with("invalid regular expression `(unclosed`: "),
            "{err}"
        );
        assert!(err.contains("unclosed group"), "{err}");
        assert!(Pattern::new("^kube-.*$").is_ok_and(|p| p.is_match("kube-system")));
    }
}
