//! `masu-bench`: masu side by side with glibc, mimalloc, jemalloc and
//! tcmalloc, for speed and resident memory over time.
//!
//! ```text
//! masu-bench [MODE] [--quick | --full] [--workloads a,b] [--allocators a,b]
//!            [--reps N] [--out DIR] [--no-build] [--no-pin]
//! ```
//!
//! Modes:
//!
//! * `compare` (the default): every workload of `masu_bench::work` runs as
//!   a child process once per allocator and repetition (allocators
//!   alternating run by run); the child's `VmRSS` is sampled every 10 ms.
//!   Prints a table of medians (time, ops/s, RSS mean / p95 / max, each as a
//!   ratio to mimalloc) and the goals; writes CSV, JSON, SVG charts and a
//!   Markdown section. Also runs the `fixed_region` example (masu-core over
//!   a fixed arena against no_std allocators).
//! * `fixed-overhead`: resident set of a process that makes one small
//!   allocation, per allocator.
//! * `stats-overhead`: masu (as the global allocator) built with and
//!   without its `stats` feature, on `dist` and `server`: runs in pairs
//!   (with, without, order alternating), the ratio of each pair, their
//!   median with a bootstrap 95 % interval, and total instructions under
//!   callgrind. `--reps N` is the number of pairs (quick 5, full 21);
//!   `--allocators masu-rs,masu` adds libmasu.so under LD_PRELOAD; dist
//!   runs pinned to one CPU with `taskset` unless `--no-pin`. See
//!   `stats_overhead/`.
//! * `callgrind`: instructions per allocation/free pair, per allocator.
//! * `all`: all four.
//!
//! `--quick` (the default) scales the workloads down and compares glibc,
//! mimalloc, jemalloc, tcmalloc and masu (LD_PRELOAD and global allocator),
//! 3 runs each, writing to `target/masu-bench/quick/`. `--full` runs the
//! sizes of the issue, adds the mimalloc and jemalloc crates as global
//! allocators, 5 runs each, and writes to `docs/results/`.
//!
//! Unless `--no-build`, it first builds what it runs (`cargo build
//! --release` of `libmasu.so`, the workload binaries and the example).

mod alloc;
mod building;
mod callgrind;
mod charts;
mod child;
mod cli;
mod compare;
mod env;
mod fixed_overhead;
mod progress;
mod report;
mod runs;
mod stats_overhead;

use alloc::Allocator;
use clap::Parser;
use cli::{Mode, Opts};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What a run of the runner is about.
pub struct Ctx {
    /// Workloads, in table order.
    pub workloads: Vec<String>,
    /// Allocators that run, in table order.
    pub allocators: Vec<String>,
    /// (name, description) of each.
    pub allocator_info: Vec<(String, String)>,
    /// Output directory.
    pub out: PathBuf,
    /// "quick" or "full".
    pub scale: String,
    /// Repetitions.
    pub reps: usize,
    /// The command line.
    pub command: String,
    /// UTC date and time.
    pub date: String,
    /// The machine, in one line.
    pub machine: String,
    /// Where the workload binaries are.
    pub bin_dir: PathBuf,
}

/// One child process run.
pub struct Run {
    /// The workload.
    pub workload: String,
    /// The allocator.
    pub alloc: String,
    /// Which repetition (from 0).
    pub rep: usize,
    /// What the child process reported and its samples.
    pub out: child::Output,
    /// It exited cleanly, with the checksum the others agree on.
    pub ok: bool,
    /// "ok", or what went wrong.
    pub status: String,
    /// Seconds of the measured phase.
    pub secs: f64,
    /// Operations of the measured phase.
    pub ops: u64,
    /// `ops / secs`.
    pub ops_per_s: f64,
    /// Mean of the RSS samples, KiB.
    pub rss_mean: f64,
    /// 95th percentile of the RSS samples, KiB.
    pub rss_p95: u64,
    /// Largest RSS sample, KiB.
    pub rss_max_sampled: u64,
    /// The workload's checksum of the data it kept.
    pub checksum: String,
}

/// Medians of one workload and allocator over its successful runs.
pub struct Summary {
    /// The workload.
    pub workload: String,
    /// The allocator.
    pub alloc: String,
    /// Runs made.
    pub runs: usize,
    /// Runs that succeeded.
    pub ok: usize,
    /// The first failed run's status (empty if none).
    pub failure: String,
    /// Median seconds.
    pub secs: f64,
    /// Median operations per second.
    pub ops_per_s: f64,
    /// Median of the runs' mean RSS, KiB.
    pub rss_mean: f64,
    /// Median of the runs' 95th-percentile RSS, KiB.
    pub rss_p95: f64,
    /// Peak resident set (`VmHWM` at the workload's end), KiB.
    pub rss_max: f64,
    /// Medians of the numeric extra figures of the result line ("never" is
    /// infinity).
    pub extra: BTreeMap<String, f64>,
}

/// One line of the fixed-region example.
pub struct FixedRow {
    /// The allocator.
    pub alloc: String,
    /// Largest request of the run, bytes.
    pub max: usize,
    /// Operations per second.
    pub ops_per_s: f64,
    /// Live requested bytes at the first failure over the arena's size.
    pub efficiency: f64,
}

/// One `small-region` line of the fixed-region example: a small arena
/// filled until the first failure.
pub struct SmallRow {
    /// The allocator.
    pub alloc: String,
    /// The arena's size, bytes.
    pub region: usize,
    /// The range of request sizes, "LOW-HIGH" bytes.
    pub sizes: String,
    /// Requested bytes at the first failure over the arena's size.
    pub fill: f64,
}

/// What the fixed-region example printed: its throughput and efficiency
/// rows, and its small-region fills.
#[derive(Default)]
pub struct FixedRegion {
    /// One row per allocator and largest request size.
    pub rows: Vec<FixedRow>,
    /// One row per allocator, arena and range of sizes.
    pub small: Vec<SmallRow>,
}

impl FixedRegion {
    /// True when the example did not run (or printed nothing).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.small.is_empty()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        let (a, b) = (v[n / 2 - 1], v[n / 2]);
        if a.is_infinite() || b.is_infinite() {
            b
        } else {
            (a + b) / 2.0
        }
    }
}

/// Resolves the allocators, printing the ones skipped and why.
/// The allocators to run: `--allocators`, else every one (`--full`) or the
/// short list, with the mimalloc and jemalloc crates standing in for Debian
/// packages that are not installed.
fn allocator_names(o: &Opts) -> Vec<String> {
    match &o.allocators {
        Some(a) => a.clone(),
        None if o.full => alloc::ALL.iter().map(|s| s.to_string()).collect(),
        None => alloc::quick_defaults(alloc::installed),
    }
}

/// Resolves the allocators, printing the ones skipped and why, and the
/// crates standing in for missing packages.
fn allocators(o: &Opts, bin_dir: &Path) -> (Vec<Allocator>, Vec<alloc::Missing>) {
    let names = allocator_names(o);
    for n in &names {
        if let Some(p) = n
            .strip_suffix("-rs")
            .filter(|p| o.allocators.is_none() && !o.full && *p != "masu")
        {
            eprintln!("masu-bench: Debian's {p} is not installed: the {p} crate stands in ({n})");
        }
    }
    let (found, missing) = alloc::resolve(&names, bin_dir);
    for m in &missing {
        eprintln!("masu-bench: skipping {}: {}", m.name, m.why);
    }
    (found, missing)
}

fn skipped_note(missing: &[alloc::Missing]) -> String {
    let mut s = String::new();
    for m in missing {
        s.push_str(&format!("Skipped **{}**: {}.\n\n", m.name, m.why));
    }
    s
}

fn ctx_for(o: &Opts, allocs: &[Allocator], workloads: Vec<String>, reps: usize) -> Ctx {
    let (bin_dir, target) = env::dirs();
    let out = o.out.clone().unwrap_or_else(|| {
        if o.full {
            building::root().join("docs").join("results")
        } else {
            target.join("masu-bench").join("quick")
        }
    });
    Ctx {
        workloads,
        allocators: allocs.iter().map(|a| a.name.to_string()).collect(),
        allocator_info: allocs
            .iter()
            .map(|a| (a.name.to_string(), a.what.clone()))
            .collect(),
        out,
        scale: if o.full { "full" } else { "quick" }.into(),
        reps,
        command: format!(
            "masu-bench {}",
            std::env::args().skip(1).collect::<Vec<_>>().join(" ")
        )
        .trim()
        .to_string(),
        date: env::utc_now(),
        machine: env::machine(),
        bin_dir,
    }
}

fn allocator_legend(ctx: &Ctx) -> String {
    let mut s = String::from("| allocator | what |\n| --- | --- |\n");
    for (n, w) in &ctx.allocator_info {
        s.push_str(&format!("| {n} | {w} |\n"));
    }
    s
}

fn main() -> ExitCode {
    let o = Opts::parse();
    // Before anything is built or written.
    let _ = env::commit();
    // `stats-overhead` alone builds only its own pair of builds.
    if o.build && o.mode != Mode::StatsOverhead {
        let (_, target) = env::dirs();
        let features = if o.full {
            vec!["rust-allocators"]
        } else {
            alloc::features(&allocator_names(&o))
        };
        if let Err(e) = building::build_all(&target, &features) {
            eprintln!("masu-bench: {e}");
            return ExitCode::FAILURE;
        }
    }
    for m in o.mode.expand() {
        let r = match m {
            Mode::Compare => compare::compare(&o),
            Mode::FixedOverhead => fixed_overhead::fixed_overhead(&o),
            Mode::StatsOverhead => stats_overhead::run(&o),
            Mode::Callgrind | Mode::All => callgrind::callgrind_mode(&o),
        };
        if let Err(e) = r {
            eprintln!("masu-bench: {}: {e}", m.name());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        // "never" (infinity) in the upper half does not poison the median.
        assert_eq!(median(vec![1.0, 2.0, f64::INFINITY]), 2.0);
        assert!(median(vec![]).is_nan());
    }

    #[test]
    fn rss_mean_p95_max() {
        let s: Vec<(f64, u64)> = (1..=100).map(|i| (i as f64 * 10.0, i)).collect();
        assert_eq!(child::rss_stats(&s), (50.5, 95, 100));
        assert_eq!(child::rss_stats(&[(0.0, 7)]), (7.0, 7, 7));
    }
}
