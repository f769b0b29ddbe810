//! Before anything runs on kind: are `docker`, `kind` and `kubectl` there and working? If not,
//! one line says which is missing, why, and what to do.

use std::process::Output;

use super::cmd::Cmd;

/// A tool the kind environment needs, how to check it, and what to do when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// The program, as on `PATH`.
    pub name: &'static str,
    /// Its arguments for a check that needs it to work, not just exist.
    pub check: &'static [&'static str],
    /// What to do when it is not installed.
    pub install: &'static str,
    /// What to do when it is installed but the check fails.
    pub repair: &'static str,
}

/// The tools, in the order they are needed.
pub const TOOLS: [Tool; 3] = [
    Tool {
        name: "docker",
        // `docker info` talks to the daemon; `docker version` would pass without one.
        check: &["info"],
        install: "install Docker (https://docs.docker.com/engine/install/)",
        repair: "start the Docker daemon (or point DOCKER_HOST at one)",
    },
    Tool {
        name: "kind",
        check: &["version"],
        install: "install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)",
        repair: "repair the kind installation",
    },
    Tool {
        name: "kubectl",
        check: &["version", "--client"],
        install: "install kubectl (https://kubernetes.io/docs/tasks/tools/)",
        repair: "repair the kubectl installation",
    },
];

/// Why a tool cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The program could not be started (not on `PATH`, not executable): the OS error.
    NotInstalled(String),
    /// It ran and failed: the last line it printed, or its exit status.
    Failed(String),
}

/// A tool and its problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub tool: Tool,
    pub problem: Problem,
}

/// The check of `tool` as a command: `docker info`, `kind version`, `kubectl version --client`.
pub fn check_command(tool: &Tool) -> Cmd {
    Cmd::new(tool.name).args(tool.check)
}

/// Checks every tool; `Err` is one line naming each missing one, why, and what to do.
pub fn preflight() -> Result<(), String> {
    let missing: Vec<Missing> = TOOLS
        .iter()
        .filter_map(|tool| {
            let problem = match check_command(tool).probe() {
                Err(e) => Problem::NotInstalled(e.to_string()),
                Ok(output) if output.status.success() => return None,
                Ok(output) => Problem::Failed(last_line(&output)),
            };
            Some(Missing {
                tool: *tool,
                problem,
            })
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(message(&missing))
    }
}

/// The one line for `missing` (not empty), e.g. `kind environment: docker is not available
/// (docker info failed: Cannot connect to the Docker daemon ...): start the Docker daemon (or
/// point DOCKER_HOST at one), or run with --env sim`.
pub fn message(missing: &[Missing]) -> String {
    let problems: Vec<String> = missing
        .iter()
        .map(|m| {
            let check = check_command(&m.tool).line();
            match &m.problem {
                Problem::NotInstalled(e) => {
                    format!(
                        "{} is not installed (cannot run `{check}`: {e})",
                        m.tool.name
                    )
                }
                Problem::Failed(detail) => {
                    format!(
                        "{} is not available ({check} failed: {detail})",
                        m.tool.name
                    )
                }
            }
        })
        .collect();
    let fixes: Vec<&str> = missing
        .iter()
        .map(|m| match m.problem {
            Problem::NotInstalled(_) => m.tool.install,
            Problem::Failed(_) => m.tool.repair,
        })
        .collect();
    format!(
        "kind environment: {}: {}, or run with --env sim",
        problems.join("; "),
        fixes.join(", ")
    )
}

/// The last non-empty line of stderr (else stdout), whitespace collapsed and cut at 200
/// characters, so that the whole message stays one line; else the exit status.
fn last_line(output: &Output) -> String {
    let pick = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    };
    match pick(&output.stderr).or_else(|| pick(&output.stdout)) {
        Some(line) if line.chars().count() > 200 => {
            format!("{}...", line.chars().take(200).collect::<String>())
        }
        Some(line) => line,
        None => output.status.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use super::*;

    fn output(code: i32, stdout: &str, stderr: &str) -> Output {
        Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn checks_are_the_documented_commands() {
        let lines: Vec<String> = TOOLS.iter().map(|t| check_command(t).line()).collect();
        assert_eq!(
            lines,
            ["docker info", "kind version", "kubectl version --client"]
        );
    }

    #[test]
    fn a_stopped_docker_daemon_is_one_clear_line() {
        let daemon = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. \
                      Is the docker daemon running?";
        let problem = Problem::Failed(last_line(&output(1, "Client:\n Version: 28\n", daemon)));
        let line = message(&[Missing {
            tool: TOOLS[0],
            problem,
        }]);
        assert_eq!(
            line,
            format!(
                "kind environment: docker is not available (docker info failed: {daemon}): \
                 start the Docker daemon (or point DOCKER_HOST at one), or run with --env sim"
            )
        );
    }

    #[test]
    fn several_missing_tools_share_the_one_line() {
        let line = message(&[
            Missing {
                tool: TOOLS[1],
                problem: Problem::NotInstalled("No such file or directory (os error 2)".into()),
            },
            Missing {
                tool: TOOLS[2],
                problem: Problem::Failed("exit status: 1".into()),
            },
        ]);
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with(
                "kind environment: kind is not installed (cannot run `kind version`: \
                 No such file or directory (os error 2)); kubectl is not available \
                 (kubectl version --client failed: exit status: 1): install kind ("
            ),
            "{line}"
        );
        assert!(line.ends_with(", or run with --env sim"), "{line}");
    }

    #[test]
    fn last_line_prefers_stderr_and_stays_short() {
        assert_eq!(last_line(&output(1, "out\n", "a\nb  c\n\n")), "b c");
        assert_eq!(last_line(&output(1, "only stdout\n", "")), "only stdout");
        assert_eq!(last_line(&output(3, "", "")), "exit status: 3");
        let long = "x".repeat(300);
        assert_eq!(last_line(&output(1, "", &long)).len(), 203);
    }

    #[test]
    fn a_program_that_is_not_there_is_not_installed() {
        let err = Cmd::new("no-such-tool-k8s-e2e").probe().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
