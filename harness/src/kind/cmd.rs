//! A command line to run, built as a value so tests can check its exact argv before anything
//! runs, and a transcript of every command the kind environment ran.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tokio::io::AsyncWriteExt;

/// One command: program, arguments, extra environment, working directory and bytes for stdin.
///
/// Secrets (the Loki password, keys) never go into the argv: they travel in files or on stdin,
/// so a command line can be printed, recorded and shown in a CI log as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
}

impl Cmd {
    /// `program` with no arguments yet.
    pub fn new(program: &str) -> Cmd {
        Cmd {
            program: program.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            dir: None,
            stdin: None,
        }
    }

    /// Appends one argument.
    #[must_use]
    pub fn arg(mut self, arg: impl AsRef<str>) -> Cmd {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    #[must_use]
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> Cmd {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the command (on top of ours).
    #[must_use]
    pub fn env(mut self, key: &str, value: &str) -> Cmd {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs the command in `dir`.
    #[must_use]
    pub fn current_dir(mut self, dir: &Path) -> Cmd {
        self.dir = Some(dir.to_path_buf());
        self
    }

    /// Feeds `bytes` to the command's stdin (`kubectl apply -f -`).
    #[must_use]
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(bytes.into());
        self
    }

    /// The program and its arguments, as the process gets them.
    pub fn argv(&self) -> Vec<&str> {
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect()
    }

    /// The extra environment.
    pub fn envs(&self) -> &[(String, String)] {
        &self.env
    }

    /// The working directory, when it is not ours.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// What the command reads on stdin.
    pub fn stdin_bytes(&self) -> Option<&[u8]> {
        self.stdin.as_deref()
    }

    /// The command as a shell line a user can paste: `KEY=v program 'arg with space'`.
    pub fn line(&self) -> String {
        self.env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .chain(self.argv().into_iter().map(shell_quote))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs it: stdout is captured and returned, stderr goes to ours, so the progress of
    /// `docker build` or `kind create cluster` and kubectl's errors are seen as they happen.
    pub async fn run(&self) -> Result<String, String> {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        let line = self.line();
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot run `{line}`: {e}"))?;
        if let (Some(bytes), Some(mut pipe)) = (&self.stdin, child.stdin.take()) {
            pipe.write_all(bytes)
                .await
                .map_err(|e| format!("`{line}`: cannot write its stdin: {e}"))?;
            // Dropping the pipe closes it: the command sees the end of its input.
        }
        let output = child
            .wait_with_output()
            .await
            .map_err(|e| format!("`{line}`: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "`{line}` failed ({}); its error output is above",
                output.status
            ))
        }
    }

    /// Runs it to completion with both outputs captured, blocking: for quick probes such as
    /// `docker info`, whose error text goes into a message rather than onto the console.
    pub fn probe(&self) -> std::io::Result<Output> {
        let mut command = std::process::Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        command.output()
    }
}

impl fmt::Debug for Cmd {
    /// The command line; stdin by its size only (it may hold a Secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cmd")
            .field("line", &self.line())
            .field("dir", &self.dir)
            .field(
                "stdin",
                &self.stdin.as_ref().map(|b| format!("{} bytes", b.len())),
            )
            .finish()
    }
}

/// `word` as the shell reads it back: as is when it is plain, else in single quotes.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%^{}".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Every command the kind environment ran, in order, as shell lines: printed as they start,
/// and written next to the JUnit report so a failed CI run can be replayed by hand.
#[derive(Debug, Default)]
pub struct Transcript {
    lines: Vec<String>,
}

impl Transcript {
    /// Records `cmd`, prints it, runs it; see [`Cmd::run`].
    pub async fn run(&mut self, cmd: &Cmd) -> Result<String, String> {
        self.record(cmd);
        cmd.run().await
    }

    /// Like [`Transcript::run`] for a command whose failure is expected at times (removing a
    /// container that may not exist, collecting diagnostics): the failure is recorded, not
    /// returned.
    pub async fn run_allowing_failure(&mut self, cmd: &Cmd) -> Option<String> {
        match self.run(cmd).await {
            Ok(out) => Some(out),
            Err(e) => {
                self.lines.push(format!("# (allowed to fail) {e}"));
                None
            }
        }
    }

    fn record(&mut self, cmd: &Cmd) {
        let mut line = format!("$ {}", cmd.line());
        if let Some(dir) = cmd.dir() {
            line.push_str(&format!("    # in {}", dir.display()));
        }
        if let Some(stdin) = cmd.stdin_bytes() {
            line.push_str(&format!("    # stdin: {} bytes", stdin.len()));
        }
        eprintln!("{line}");
        self.lines.push(line);
    }

    /// The recorded lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn line_quotes_what_the_shell_would_split() {
        let cmd = Cmd::new("kubectl")
            .args(["create", "-f", "-"])
            .arg("it's here")
            .env("DOCKER_BUILDKIT", "1");
        assert_eq!(cmd.argv(), ["kubectl", "create", "-f", "-", "it's here"]);
        assert_eq!(
            cmd.line(),
            r"DOCKER_BUILDKIT=1 kubectl create -f - 'it'\''s here'"
        );
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("127.0.0.1::3100"), "127.0.0.1::3100");
    }

    #[test]
    fn debug_hides_stdin() {
        let cmd = Cmd::new("kubectl").stdin("PASSWORD: hunter2");
        let shown = format!("{cmd:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("17 bytes"), "{shown}");
    }

    #[tokio::test]
    async fn run_returns_stdout_and_feeds_stdin() {
        let out = Cmd::new("cat").stdin("piped").run().await.unwrap();
        assert_eq!(out, "piped");
        let err = Cmd::new("false").run().await.unwrap_err();
        assert!(err.starts_with("`false` failed"), "{err}");
        let err = Cmd::new("no-such-program-here").run().await.unwrap_err();
        assert!(
            err.starts_with("cannot run `no-such-program-here`"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn transcript_records_every_line() {
        let mut t = Transcript::default();
        t.run(&Cmd::new("true").current_dir(Path::new("/")))
            .await
            .unwrap();
        assert_eq!(t.run_allowing_failure(&Cmd::new("false")).await, None);
        assert_eq!(t.lines()[0], "$ true    # in /");
        assert_eq!(t.lines()[1], "$ false");
        assert!(t.lines()[2].starts_with("# (allowed to fail) `false` failed"));
    }
}
