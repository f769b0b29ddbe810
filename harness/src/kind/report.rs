//! The kind run's result as JUnit XML, in the shape cucumber's JUnit writer gives the `sim`
//! run (`testsuites` > `testsuite` > `testcase`), so CI and `cargo xtask e2e` read both alike.

use std::time::Duration;

/// How a test case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// What it checked did not hold.
    Failed(String),
    /// It could not run (the environment is missing).
    Error(String),
}

/// A JUnit report with one suite holding one case.
pub fn junit(suite: &str, case: &str, outcome: &Outcome, took: Duration) -> String {
    let (failures, errors, body) = match outcome {
        Outcome::Passed => (0, 0, String::new()),
        Outcome::Failed(why) => (1, 0, element("failure", why)),
        Outcome::Error(why) => (0, 1, element("error", why)),
    };
    let time = took.as_secs_f64();
    let suite = escape(suite);
    let case = escape(case);
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <testsuites>\n\
         <testsuite id=\"0\" name=\"{suite}\" package=\"testsuite/{suite}\" tests=\"1\" \
         errors=\"{errors}\" failures=\"{failures}\" time=\"{time}\">\n\
         <testcase name=\"{case}\" time=\"{time}\">{body}</testcase>\n\
         </testsuite>\n\
         </testsuites>\n"
    )
}

/// `<failure>`/`<error>` with the first line as its message and the whole text inside.
fn element(tag: &str, why: &str) -> String {
    let first = why.lines().next().unwrap_or_default();
    format!(
        "<{tag} type=\"{tag}\" message=\"{}\">{}</{tag}>",
        escape(first),
        escape(why)
    )
}

/// Escapes XML's five special characters (text and attribute values alike).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passed_case() {
        let xml = junit(
            "kind",
            "smoke",
            &Outcome::Passed,
            Duration::from_millis(1500),
        );
        assert!(xml.contains(
            "<testsuite id=\"0\" name=\"kind\" package=\"testsuite/kind\" tests=\"1\" \
             errors=\"0\" failures=\"0\" time=\"1.5\">"
        ));
        assert!(xml.contains("<testcase name=\"smoke\" time=\"1.5\"></testcase>"));
    }

    #[test]
    fn a_failure_carries_the_escaped_reason() {
        let xml = junit(
            "kind",
            "smoke",
            &Outcome::Failed("not in Loki: <none> & \"x\"\nlog tail".into()),
            Duration::ZERO,
        );
        assert!(xml.contains("failures=\"1\""));
        assert!(xml.contains(
            "<failure type=\"failure\" message=\"not in Loki: &lt;none&gt; &amp; &quot;x&quot;\">\
             not in Loki: &lt;none&gt; &amp; &quot;x&quot;\nlog tail</failure>"
        ));
        let xml = junit(
            "kind",
            "preflight",
            &Outcome::Error("no docker".into()),
            Duration::ZERO,
        );
        assert!(xml.contains("errors=\"1\" failures=\"0\""));
        assert!(xml.contains("<error type=\"error\" message=\"no docker\">no docker</error>"));
    }
}
