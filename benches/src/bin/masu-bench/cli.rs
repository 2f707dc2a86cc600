//! The command line, parsed with `clap`.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

/// What a run of `masu-bench` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Speed and resident memory of every workload, per allocator.
    Compare,
    /// Resident set of a process that makes one allocation.
    FixedOverhead,
    /// masu with and without its `stats` feature.
    StatsOverhead,
    /// Instructions per allocation/free pair.
    Callgrind,
    /// All four.
    All,
}

impl Mode {
    /// The modes this one runs, in order.
    pub fn expand(self) -> Vec<Mode> {
        match self {
            Mode::All => vec![
                Mode::Compare,
                Mode::FixedOverhead,
                Mode::StatsOverhead,
                Mode::Callgrind,
            ],
            m => vec![m],
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Compare => "compare",
            Mode::FixedOverhead => "fixed-overhead",
            Mode::StatsOverhead => "stats-overhead",
            Mode::Callgrind => "callgrind",
            Mode::All => "all",
        }
    }
}

/// masu side by side with glibc, mimalloc, jemalloc and tcmalloc, for speed
/// and resident memory (see the module documentation of `main.rs`).
#[derive(Clone, Debug, Parser)]
#[command(name = "masu-bench")]
pub struct Opts {
    /// What to measure.
    #[arg(value_enum, default_value_t = Mode::Compare)]
    pub mode: Mode,
    /// Scaled-down workloads, fewer allocators and runs, results under
    /// `target/masu-bench/quick/` (the default).
    #[arg(long, conflicts_with = "full")]
    pub quick: bool,
    /// The sizes, every allocator, more runs, results in
    /// `docs/results/`.
    #[arg(long)]
    pub full: bool,
    /// Workloads to run (comma-separated; `fixed-region` for the example).
    #[arg(long, value_delimiter = ',', value_parser = workload)]
    pub workloads: Option<Vec<String>>,
    /// Allocators to run (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub allocators: Option<Vec<String>>,
    /// Repetitions (pairs, for `stats-overhead`).
    #[arg(long, value_parser = positive)]
    pub reps: Option<usize>,
    /// Output directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Use what is built (no `cargo build` first).
    #[arg(long = "no-build", action = clap::ArgAction::SetFalse)]
    pub build: bool,
    /// `stats-overhead`: do not pin single-threaded workloads to one CPU.
    #[arg(long = "no-pin", action = clap::ArgAction::SetFalse)]
    pub pin: bool,
}

/// A number of at least 1.
fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("a positive number is needed".into()),
    }
}

/// A known workload name.
fn workload(w: &str) -> Result<String, String> {
    let w = w.trim();
    if masu_bench::work::WORKLOADS.contains(&w) || w == "fixed-region" {
        Ok(w.to_string())
    } else {
        Err(format!(
            "unknown workload {w:?} (known: {}, fixed-region)",
            masu_bench::work::WORKLOADS.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_lists() {
        let o = Opts::try_parse_from(["masu-bench"]).unwrap();
        assert_eq!(o.mode, Mode::Compare);
        assert!(!o.full && o.build && o.pin && o.reps.is_none());
        let o = Opts::try_parse_from([
            "masu-bench",
            "stats-overhead",
            "--full",
            "--allocators",
            "masu-rs,masu",
            "--reps",
            "3",
            "--no-pin",
        ])
        .unwrap();
        assert_eq!(o.mode, Mode::StatsOverhead);
        assert!(o.full && !o.pin);
        assert_eq!(o.allocators.unwrap(), ["masu-rs", "masu"]);
        assert_eq!(o.reps, Some(3));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Opts::try_parse_from(["masu-bench", "--reps", "0"]).is_err());
        assert!(Opts::try_parse_from(["masu-bench", "--workloads", "nope"]).is_err());
        assert!(Opts::try_parse_from(["masu-bench", "sideways"]).is_err());
    }
}
