//! The bench's command line.

use std::path::PathBuf;

pub const USAGE: &str = "usage: bench [--quick] [--runs N] [--events N] [--list-events N] \
[--idle-secs N] [--paced-secs N] [--only PHASE]... [--collector PATH] [--out PATH]

  --quick          a smoke run: every phase short, one run
  --runs N         repeat the throughput and floor measurements N times, report medians (3)
  --events N       events per throughput run (100000)
  --list-events N  events existing at start-up for the listing phase (100000)
  --idle-secs N    how long the idle phase lasts (60)
  --paced-secs N   how long each fixed-rate phase lasts (1k/s memory, 200/s latency) (30)
  --only PHASE     run only this phase (throughput, paced, listing, idle); repeatable; the
                   JSON then holds zeros for the others
  --collector PATH the collector binary ($K8S_EVENT_COLLECTOR_BIN, else next to this one)
  --out PATH       where the JSON goes (target/bench/results.json)
";

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub quick: bool,
    pub runs: usize,
    pub events: u64,
    pub list_events: usize,
    pub idle_secs: u64,
    pub paced_secs: u64,
    /// The phases to run; empty = all.
    pub only: Vec<Phase>,
    pub collector: Option<PathBuf>,
    pub out: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            quick: false,
            runs: 3,
            events: 100_000,
            list_events: 100_000,
            idle_secs: 60,
            paced_secs: 30,
            only: Vec::new(),
            collector: None,
            out: PathBuf::from("target/bench/results.json"),
        }
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: Option<&String>) -> Result<T, String> {
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{flag} needs a number\n\n{USAGE}"))
}

impl Options {
    /// Reads the arguments (without the program name). `--quick` shortens what is not given
    /// explicitly.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options::default();
        let quick = args.iter().any(|a| a == "--quick");
        if quick {
            o = Options {
                quick: true,
                runs: 1,
                events: 10_000,
                list_events: 10_000,
                idle_secs: 5,
                paced_secs: 5,
                ..o
            };
        }
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--quick" => {}
                "--runs" => o.runs = number::<usize>(arg, it.next())?.max(1),
                "--events" => o.events = number::<u64>(arg, it.next())?.max(1),
                "--list-events" => o.list_events = number(arg, it.next())?,
                "--idle-secs" => o.idle_secs = number(arg, it.next())?,
                "--paced-secs" => o.paced_secs = number::<u64>(arg, it.next())?.max(1),
                "--only" => {
                    let name = it.next().ok_or("--only needs a phase")?;
                    o.only.push(Phase::parse(name).ok_or_else(|| {
                        format!("--only {name}: no such phase (throughput, paced, listing, idle)")
                    })?);
                }
                "--collector" => {
                    o.collector = Some(it.next().ok_or("--collector needs a path")?.into());
                }
                "--out" => o.out = it.next().ok_or("--out needs a path")?.into(),
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument `{other}`\n\n{USAGE}")),
            }
        }
        Ok(o)
    }
}

/// The bench's phases, for `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Full-rate streaming and the floor.
    Throughput,
    /// Fixed rates: memory at 1k/s, latency at 200/s.
    Paced,
    /// Start-up with a big backlog.
    Listing,
    Idle,
}

impl Phase {
    fn parse(name: &str) -> Option<Phase> {
        Some(match name {
            "throughput" => Phase::Throughput,
            "paced" => Phase::Paced,
            "listing" => Phase::Listing,
            "idle" => Phase::Idle,
            _ => return None,
        })
    }
}

impl Options {
    /// Whether `phase` runs.
    pub fn runs_phase(&self, phase: Phase) -> bool {
        self.only.is_empty() || self.only.contains(&phase)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn quick_shortens_and_flags_win() {
        assert_eq!(parse(&[]).unwrap(), Options::default());
        let o = parse(&["--idle-secs", "2", "--quick"]).unwrap();
        assert!(o.quick);
        assert_eq!((o.idle_secs, o.runs, o.events), (2, 1, 10_000));
        assert!(parse(&["--runs"]).is_err());
        assert!(parse(&["--nope"]).is_err());
        let o = parse(&["--only", "listing"]).unwrap();
        assert!(o.runs_phase(Phase::Listing) && !o.runs_phase(Phase::Idle));
        assert!(parse(&["--only", "nope"]).is_err());
    }
}
