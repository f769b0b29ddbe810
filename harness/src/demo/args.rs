//! The demo's command line: `[--duration 20s|2m|45]`.

use std::time::Duration;

/// What the demo was asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Stop after this long; `None` runs until Ctrl-C.
    pub duration: Option<Duration>,
    /// `--help`: print [`USAGE`] and exit.
    pub help: bool,
}

pub const USAGE: &str = "usage: cargo xtask demo [--duration 20s]

Runs the collector built from source on deploy/'s config against a simulated API server
and Loki, generates realistic cluster events, and shows live what lands in Loki.
--duration takes seconds (45, 45s) or minutes (2m); without it, Ctrl-C stops.
";

/// Parses the arguments after the program name.
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => {
                options.help = true;
                continue;
            }
            "--duration" => rest
                .next()
                .ok_or("`--duration` needs a value, e.g. `--duration 20s`")?
                .as_str(),
            other => match other.strip_prefix("--duration=") {
                Some(value) => value,
                None => return Err(format!("unknown argument `{other}`\n\n{USAGE}")),
            },
        };
        options.duration = Some(parse_duration(value)?);
    }
    Ok(options)
}

/// `20s`, `2m`, `1h` or plain seconds (`45`); more than zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(n) if n > 0 && scale > 0 => Ok(Duration::from_secs(n.saturating_mul(scale))),
        _ => Err(format!(
            "`{text}` is not a duration: write seconds (20, 20s) or minutes (2m)"
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn durations_in_seconds_minutes_or_plain() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        for bad in ["", "0", "2x", "s", "-3", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arguments() {
        assert_eq!(parse_args(&[]).unwrap(), Options::default());
        let d = Some(Duration::from_secs(20));
        assert_eq!(
            parse_args(&args(&["--duration", "20s"])).unwrap().duration,
            d
        );
        assert_eq!(parse_args(&args(&["--duration=20"])).unwrap().duration, d);
        assert!(parse_args(&args(&["--help"])).unwrap().help);
        assert!(parse_args(&args(&["--duration"])).is_err());
        assert!(
            parse_args(&args(&["--fast"]))
                .unwrap_err()
                .contains("unknown argument")
        );
    }
}
