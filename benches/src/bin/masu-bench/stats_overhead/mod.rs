//! `stats-overhead`: what masu's statistics counters cost in time, on
//! `dist` and `server` (the goal: under 1 %).
//!
//! Two builds that differ only in the `stats` feature: the same cargo
//! command (`libmasu.so`, `masu-work`, `masu-work-masu`) into two target
//! directories under `target/masu-bench/`, the second with
//! `--no-default-features` (masu-bench's `stats` forwards to masu's and
//! masu-core's). Before measuring, each build's `MASU_STATS` report of one
//! `tiny` run must say it counted allocations (with) or none (without).
//!
//! Each workload then runs in pairs: with and without stats back to back,
//! the order alternating from pair to pair, the workloads interleaved. A
//! pair's ratio is its time with stats over its time without (the
//! workload's measured phase); the overhead is the median of the pair
//! ratios − 1, given with the interquartile range of the ratios and a
//! 95 % percentile-bootstrap interval of their median. Pairing cancels the
//! slow drift of a shared machine's load; the median discards the pairs a
//! burst of other work hit. Single-threaded workloads run pinned to one
//! CPU (`taskset`), so that migrations between CPUs do not add noise.
//!
//! Instruction counts barely depend on the load: scaled-down runs of each
//! workload under `valgrind --tool=callgrind` (whole program, both builds,
//! alternating; the median of a few runs where the count moves from run to
//! run, see [`callgrind_args`]), and the instructions per allocation/free
//! pair of the `pairs` cases (as in the `callgrind` mode).

mod analysis;
mod instructions;
mod output;

use crate::alloc::{Allocator, How};
use crate::building::{self, StatsBuilds};
use crate::cli::{Mode, Opts};
use crate::env::{dirs, loadavg};
use crate::progress::Progress;
use crate::runs::{check_checksums, run_one_with};
use crate::{Ctx, Run};
use std::path::Path;
use std::process::Command;

/// The goal: counting costs less than this, in percent of time.
pub const GOAL_PCT: f64 = 1.0;

/// Workloads with one thread, pinned to one CPU.
const SINGLE_THREADED: &[&str] = &["dist", "realloc-grow", "large", "burst-idle"];

/// Bootstrap resamples for the interval of the median pair ratio.
pub const BOOTSTRAP: usize = 10_000;

/// Fewer pairs than this get no bootstrap interval (resampling two or
/// three values says nothing).
pub const MIN_PAIRS_FOR_INTERVAL: usize = 5;
/// One pair of builds: masu with and without `stats`.
pub struct Variant {
    /// "masu-rs" (global allocator) or "masu" (libmasu.so, LD_PRELOAD).
    pub name: &'static str,
    /// The build with `stats`.
    pub on: Allocator,
    /// The build without.
    pub off: Allocator,
}

fn variants(names: &[String], b: &StatsBuilds) -> Result<Vec<Variant>, String> {
    let mut v = Vec::new();
    for n in names {
        match n.as_str() {
            "masu-rs" => v.push(Variant {
                name: "masu-rs",
                on: Allocator {
                    name: "masu-rs",
                    what: "masu::Masu as #[global_allocator], with `stats` (the default)".into(),
                    how: How::Binary(b.on.join("masu-work-masu")),
                },
                off: Allocator {
                    name: "masu-rs-nostats",
                    what: crate::alloc::describe("masu-rs-nostats").into(),
                    how: How::Binary(b.off.join("masu-work-masu")),
                },
            }),
            "masu" => v.push(Variant {
                name: "masu",
                on: Allocator {
                    name: "masu",
                    what: "libmasu.so with `stats` (the default), LD_PRELOAD".into(),
                    how: How::Preload(Some(b.on.join("libmasu.so"))),
                },
                off: Allocator {
                    name: "masu-nostats",
                    what: crate::alloc::describe("masu-nostats").into(),
                    how: How::Preload(Some(b.off.join("libmasu.so"))),
                },
            }),
            other => {
                return Err(format!(
                    "stats-overhead compares masu-rs (the default) and masu, not {other:?}"
                ))
            }
        }
    }
    if v.is_empty() {
        return Err("no build to compare".into());
    }
    Ok(v)
}

/// Blocks the `MASU_STATS` report of one `tiny` run under `a` counts.
fn counted_allocations(a: &Allocator, bin_dir: &Path) -> Result<u64, String> {
    let (program, preload) = a.program(bin_dir);
    let mut cmd = Command::new(&program);
    cmd.args(["tiny", "quick"])
        .env_remove("LD_PRELOAD")
        .env("MASU_STATS", "1");
    if let Some(lib) = preload {
        cmd.env("LD_PRELOAD", lib);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!("{} tiny: {}", program.display(), out.status));
    }
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.trim().strip_prefix("blocks allocated"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            format!(
                "{} tiny: no `blocks allocated` line in the MASU_STATS report",
                a.name
            )
        })
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid (empty) set; the call writes at
    // most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

fn taskset_available() -> bool {
    Command::new("taskset")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
/// The builds (`masu-rs`, `masu`) and workloads asked for. Under `all`, the
/// lists given for the comparison keep what applies here.
fn selection(o: &Opts) -> Result<(Vec<String>, Vec<String>), String> {
    let all = o.mode == Mode::All;
    let mut names: Vec<String> = o.allocators.clone().unwrap_or_default();
    if all {
        names.retain(|n| n == "masu-rs" || n == "masu");
    }
    if names.is_empty() {
        names.push("masu-rs".into());
    }
    if let Some(n) = names.iter().find(|n| *n != "masu-rs" && *n != "masu") {
        return Err(format!(
            "stats-overhead compares masu-rs (the default) and masu, not {n:?}"
        ));
    }
    let mut workloads: Vec<String> = o.workloads.clone().unwrap_or_default();
    if all {
        workloads.retain(|w| w != "fixed-region");
    }
    if workloads.is_empty() {
        workloads = vec!["dist".into(), "server".into()];
    }
    if workloads.iter().any(|w| w == "fixed-region") {
        return Err("fixed-region has no masu build to compare; leave it out".into());
    }
    Ok((names, workloads))
}

/// Checks that each build differs the way it claims to: its `MASU_STATS`
/// report counts allocations with `stats` and none without. Returns (build,
/// counted with, counted without) per variant.
fn check_builds(
    variants: &[Variant],
    bin_dir: &Path,
    builds: &StatsBuilds,
) -> Result<Vec<(&'static str, u64, u64)>, String> {
    let mut checks = Vec::new();
    for v in variants {
        let with = counted_allocations(&v.on, bin_dir)?;
        let without = counted_allocations(&v.off, bin_dir)?;
        if with == 0 || without != 0 {
            return Err(format!(
                "{}: the MASU_STATS report counts {with} allocations with `stats` and {without} \
                 without; expected some and none (builds: {}, {})",
                v.name,
                builds.on.display(),
                builds.off.display()
            ));
        }
        checks.push((v.name, with, without));
    }
    Ok(checks)
}

/// The CPU single-threaded workloads are pinned to, if any.
fn pin_cpu(o: &Opts) -> Option<usize> {
    let cpus = allowed_cpus();
    (o.pin && cpus.len() >= 2 && taskset_available())
        .then(|| cpus.last().copied())
        .flatten()
}

/// Runs every pair: per repetition, workload and variant, one run with
/// stats and one without, the order alternating. Returns the runs and, for
/// each, whether it came first in its pair.
fn measure_pairs(
    ctx: &Ctx,
    workloads: &[String],
    variants: &[Variant],
    pin_cpu: Option<usize>,
) -> (Vec<Run>, Vec<bool>) {
    let reps = ctx.reps;
    let wrapper = |w: &str| -> Vec<String> {
        match pin_cpu {
            Some(c) if SINGLE_THREADED.contains(&w) => {
                vec!["taskset".into(), "-c".into(), c.to_string()]
            }
            _ => Vec::new(),
        }
    };
    let mut bar = Progress::new(
        "stats-overhead",
        reps * workloads.len() * variants.len() * 2,
    );
    let (mut runs, mut firsts) = (Vec::new(), Vec::new());
    for p in 0..reps {
        for (wi, w) in workloads.iter().enumerate() {
            for (vi, v) in variants.iter().enumerate() {
                let with_first = (p + wi + vi) % 2 == 0;
                for (k, with) in [with_first, !with_first].into_iter().enumerate() {
                    let a = if with { &v.on } else { &v.off };
                    let label = format!(
                        "{w} · {} · pair {}/{reps} · {}",
                        v.name,
                        p + 1,
                        if with { "with stats" } else { "without" }
                    );
                    bar.start(&label);
                    let r = run_one_with(ctx, a, w, p, &[], &wrapper(w));
                    let note = if r.ok {
                        format!("{:.3} s", r.secs)
                    } else {
                        format!("FAILED: {}", r.status)
                    };
                    bar.finish(&label, &note);
                    runs.push(r);
                    firsts.push(k == 0);
                }
            }
        }
    }
    bar.close();
    check_checksums(&mut runs);
    for r in runs.iter().filter(|r| !r.ok) {
        eprintln!(
            "masu-bench: {} under {} (pair {}) failed: {}",
            r.workload,
            r.alloc,
            r.rep + 1,
            r.status
        );
    }
    (runs, firsts)
}

/// The `stats-overhead` mode.
pub fn run(o: &Opts) -> Result<(), String> {
    let (_, target) = dirs();
    let (names, workloads) = selection(o)?;
    let builds = building::build_stats_pair(&target, o.build)?;
    let variants = variants(&names, &builds)?;
    let reps = o.reps.unwrap_or(if o.full { 21 } else { 5 });
    let allocs: Vec<Allocator> = variants
        .iter()
        .flat_map(|v| [v.on.clone(), v.off.clone()])
        .collect();
    let mut ctx = crate::ctx_for(o, &allocs, workloads.clone(), reps);
    // `masu-work` (for libmasu.so under LD_PRELOAD) of the stats-on build;
    // both builds' are the same program, which does not use masu.
    ctx.bin_dir = builds.on.clone();
    std::fs::create_dir_all(&ctx.out).map_err(|e| format!("{}: {e}", ctx.out.display()))?;
    let checks = check_builds(&variants, &ctx.bin_dir, &builds)?;
    let pin_cpu = pin_cpu(o);
    let load_before = loadavg();
    let (runs, firsts) = measure_pairs(&ctx, &workloads, &variants, pin_cpu);
    let load_after = loadavg();
    let mut rows = analysis::analyse_all(&workloads, &variants, &runs, &firsts, reps);
    let per_pair = instructions::measure(o.full, &target, &ctx, &variants, &allocs, &mut rows)?;
    output::write(&output::Report {
        ctx: &ctx,
        o,
        builds: &builds,
        checks: &checks,
        pin_cpu,
        load: (&load_before, &load_after),
        workloads: &workloads,
        variants: variants.len(),
        rows: &rows,
        runs: &runs,
        firsts: &firsts,
        per_pair: &per_pair,
    })
}
