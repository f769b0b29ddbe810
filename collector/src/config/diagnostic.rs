//! What `validate` and start-up say about a config: errors, warnings and notes, each with the
//! file, line, column and key path they are about.

use std::fmt;

use super::de::DeError;
use super::yaml::Mark;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The config cannot run.
    Error,
    /// It runs, but probably not as the user thinks.
    Warning,
    /// A suggestion.
    Note,
}

/// One finding about a config, located.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file as the user named it.
    pub file: String,
    pub mark: Option<Mark>,
    /// Dotted key path (`exporters.loki.tls.insecure_skip_verify`); empty for the whole file.
    pub path: String,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(
        file: &str,
        mark: Option<Mark>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Error, file, mark, path, message)
    }

    pub fn warning(
        file: &str,
        mark: Option<Mark>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, file, mark, path, message)
    }

    pub fn note(
        file: &str,
        mark: Option<Mark>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Note, file, mark, path, message)
    }

    fn new(
        severity: Severity,
        file: &str,
        mark: Option<Mark>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            file: file.to_owned(),
            mark,
            path: path.into(),
            message: message.into(),
            help: None,
        }
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// A deserialization error found under `prefix` (the component's own path).
    pub fn from_de(file: &str, prefix: &[&str], err: DeError) -> Self {
        let mut segments: Vec<String> = prefix.iter().map(|s| (*s).to_owned()).collect();
        segments.extend(err.path.iter().cloned());
        Diagnostic {
            severity: Severity::Error,
            file: file.to_owned(),
            mark: err.mark,
            path: super::de::join_path(&segments),
            message: err.message,
            help: err.help,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: error: key.path: message`, then `  help: ...` on its own line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(mark) = self.mark {
            write!(f, ":{}:{}", mark.line, mark.column)?;
        }
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        write!(f, ": {severity}: ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_a_compiler() {
        let d = Diagnostic::error(
            "config.yaml",
            Some(Mark {
                line: 12,
                column: 7,
            }),
            "exporters.loki.tls.insecure_skp_verify",
            "unknown key `insecure_skp_verify`",
        )
        .with_help("did you mean `insecure_skip_verify`?");
        assert_eq!(
            d.to_string(),
            "config.yaml:12:7: error: exporters.loki.tls.insecure_skp_verify: unknown key `insecure_skp_verify`\n  help: did you mean `insecure_skip_verify`?"
        );
        let d = Diagnostic::error("c.yaml", None, "", "the file is empty");
        assert_eq!(d.to_string(), "c.yaml: error: the file is empty");
    }
}
