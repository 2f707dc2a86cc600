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

use crate::alloc::{Allocator, How};
use crate::building::{self, StatsBuilds};
use crate::progress::Progress;
use crate::report::{jn, js};
use crate::{callgrind, report, svg, Opts, Run};
use masu_bench::Rng;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// The goal: counting costs less than this, in percent of time.
pub const GOAL_PCT: f64 = 1.0;

/// Workloads with one thread, pinned to one CPU.
const SINGLE_THREADED: &[&str] = &["dist", "realloc-grow", "large", "burst-idle"];

/// Bootstrap resamples for the interval of the median pair ratio.
const BOOTSTRAP: usize = 10_000;

/// Fewer pairs than this get no bootstrap interval (resampling two or
/// three values says nothing).
const MIN_PAIRS_FOR_INTERVAL: usize = 5;

/// One pair of builds: masu with and without `stats`.
struct Variant {
    /// "masu-rs" (global allocator) or "masu" (libmasu.so, LD_PRELOAD).
    name: &'static str,
    on: Allocator,
    off: Allocator,
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

/// The sorted sample's `q` quantile, interpolating linearly between order
/// statistics (R's type 7).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q;
    let (i, f) = (h.floor() as usize, h - h.floor());
    if i + 1 < sorted.len() {
        sorted[i] + f * (sorted[i + 1] - sorted[i])
    } else {
        sorted[i]
    }
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// A 95 % percentile-bootstrap interval of the median of `v` (fixed seed:
/// the same data give the same interval).
fn bootstrap_median(v: &[f64], resamples: usize) -> (f64, f64) {
    if v.len() < 2 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = Rng::new(0x5747_5f6f_7665_7268);
    let mut medians = Vec::with_capacity(resamples);
    let mut sample = vec![0.0; v.len()];
    for _ in 0..resamples {
        for x in sample.iter_mut() {
            *x = v[rng.below(v.len() as u64) as usize];
        }
        sample.sort_by(f64::total_cmp);
        medians.push(quantile(&sample, 0.5));
    }
    medians.sort_by(f64::total_cmp);
    (quantile(&medians, 0.025), quantile(&medians, 0.975))
}

/// One pair of runs.
struct Pair {
    index: usize,
    with_first: bool,
    with: f64,
    without: f64,
}

/// Instructions of scaled-down runs under callgrind.
struct Count {
    args: Vec<String>,
    /// Each run's total, with stats and without (alternating).
    with_runs: Vec<u64>,
    without_runs: Vec<u64>,
    /// Their medians.
    with: u64,
    without: u64,
    /// The run's operations (its result line's `ops`).
    ops: u64,
}

impl Count {
    /// The larger relative spread (max / min − 1) of the two builds' runs.
    fn spread(&self) -> f64 {
        [&self.with_runs, &self.without_runs]
            .iter()
            .map(|v| {
                let (lo, hi) = (v.iter().min(), v.iter().max());
                match (lo, hi) {
                    (Some(&lo), Some(&hi)) if lo > 0 => hi as f64 / lo as f64 - 1.0,
                    _ => f64::NAN,
                }
            })
            .fold(0.0, f64::max)
    }
}

fn median_u64(v: &[u64]) -> u64 {
    crate::median(v.iter().map(|x| *x as f64).collect()).round() as u64
}

/// Everything measured for one workload and build.
struct Row {
    workload: String,
    variant: &'static str,
    pairs: Vec<Pair>,
    /// Pairs planned.
    planned: usize,
    secs_with: f64,
    secs_without: f64,
    ops_with: f64,
    ops_without: f64,
    ratio_of_medians: f64,
    median_ratio: f64,
    q1: f64,
    q3: f64,
    boot: (f64, f64),
    slower: usize,
    count: Option<Result<Count, String>>,
}

fn pct(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{:+.2} %", (ratio - 1.0) * 100.0)
    } else {
        "-".into()
    }
}

fn pct_range(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() {
        format!("{:+.2} to {:+.2} %", (a - 1.0) * 100.0, (b - 1.0) * 100.0)
    } else {
        "-".into()
    }
}

/// 1234567 → "1,234,567".
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut o = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            o.push(',');
        }
        o.push(c);
    }
    o
}

impl Row {
    fn verdict(&self) -> String {
        let m = (self.median_ratio - 1.0) * 100.0;
        let hi = (self.boot.1 - 1.0) * 100.0;
        if !m.is_finite() {
            "no result".into()
        } else if m >= GOAL_PCT {
            "**missed**".into()
        } else if hi < GOAL_PCT {
            "**met** (the 95 % interval too)".into()
        } else if hi.is_finite() {
            format!("**met** by the median; the 95 % interval reaches {hi:+.2} %")
        } else {
            "**met** by the median (too few pairs for an interval)".into()
        }
    }

    fn cells(&self) -> Vec<String> {
        let f = |v: f64| {
            if v.is_finite() {
                format!("{v:.3}")
            } else {
                "-".into()
            }
        };
        vec![
            self.workload.clone(),
            self.variant.to_string(),
            format!("{}/{}", self.pairs.len(), self.planned),
            f(self.secs_with),
            f(self.secs_without),
            pct(self.ratio_of_medians),
            pct(self.median_ratio),
            pct_range(self.q1, self.q3),
            pct_range(self.boot.0, self.boot.1),
            format!("{}/{}", self.slower, self.pairs.len()),
        ]
    }
}

const HEAD: [&str; 10] = [
    "workload",
    "build",
    "pairs",
    "with stats s",
    "without s",
    "ratio of medians",
    "median pair ratio",
    "IQR of pair ratios",
    "95 % interval (bootstrap)",
    "slower with stats",
];

const COUNT_HEAD: [&str; 9] = [
    "workload",
    "build",
    "callgrind run",
    "runs",
    "spread",
    "instructions with stats",
    "without",
    "difference",
    "added per operation",
];

/// The scaled-down arguments a workload runs with under callgrind, if it
/// has any, and how many runs of each build to take the median of. A
/// count is not exact: masu's purges follow the clock, and `server`'s
/// remote frees follow how callgrind interleaves its threads (about 1 %
/// from run to run; `dist` about 0.05 %). Under callgrind on the 2-core VM:
/// dist about 25 s per million operations, server about 4 s for 250,000
/// operations per thread.
fn callgrind_args(workload: &str, full: bool) -> Option<(Vec<String>, usize)> {
    let (ops, runs) = match (workload, full) {
        ("dist", true) => (1_000_000, 1),
        ("dist", false) => (200_000, 1),
        ("server", true) => (250_000, 5),
        ("server", false) => (50_000, 3),
        _ => return None,
    };
    Some((
        vec![
            workload.to_string(),
            "quick".to_string(),
            format!("ops={ops}"),
        ],
        runs,
    ))
}

fn analyse(workload: &str, v: &Variant, runs: &[Run], firsts: &[bool], reps: usize) -> Row {
    let mut pairs = Vec::new();
    for p in 0..reps {
        let find = |name: &str| {
            runs.iter()
                .zip(firsts)
                .find(|(r, _)| r.workload == workload && r.alloc == name && r.rep == p)
        };
        if let (Some((w, wf)), Some((wo, _))) = (find(v.on.name), find(v.off.name)) {
            if w.ok && wo.ok {
                pairs.push(Pair {
                    index: p,
                    with_first: *wf,
                    with: w.secs,
                    without: wo.secs,
                });
            }
        }
    }
    let ops_of = |name: &str| -> f64 {
        crate::median(
            runs.iter()
                .filter(|r| r.workload == workload && r.alloc == name && r.ok)
                .map(|r| r.ops_per_s)
                .collect(),
        )
    };
    let with: Vec<f64> = pairs.iter().map(|p| p.with).collect();
    let without: Vec<f64> = pairs.iter().map(|p| p.without).collect();
    let ratios: Vec<f64> = pairs.iter().map(|p| p.with / p.without).collect();
    let rs = sorted(&ratios);
    let (secs_with, secs_without) = (crate::median(with), crate::median(without));
    Row {
        workload: workload.to_string(),
        variant: v.name,
        planned: reps,
        secs_with,
        secs_without,
        ops_with: ops_of(v.on.name),
        ops_without: ops_of(v.off.name),
        ratio_of_medians: secs_with / secs_without,
        median_ratio: quantile(&rs, 0.5),
        q1: quantile(&rs, 0.25),
        q3: quantile(&rs, 0.75),
        boot: if ratios.len() >= MIN_PAIRS_FOR_INTERVAL {
            bootstrap_median(&ratios, BOOTSTRAP)
        } else {
            (f64::NAN, f64::NAN)
        },
        slower: ratios.iter().filter(|r| **r > 1.0).count(),
        pairs,
        count: None,
    }
}

pub fn run(o: &Opts) -> Result<(), String> {
    let (_, target) = crate::env::dirs();
    // Under `all`, the lists given for the comparison keep what applies here.
    let all = o.mode == crate::cli::Mode::All;
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

    // The builds must differ the way they claim to.
    let mut checks = Vec::new();
    for v in &variants {
        let with = counted_allocations(&v.on, &ctx.bin_dir)?;
        let without = counted_allocations(&v.off, &ctx.bin_dir)?;
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

    let cpus = allowed_cpus();
    let pin_cpu = (o.pin && cpus.len() >= 2 && taskset_available())
        .then(|| cpus.last().copied())
        .flatten();
    let wrapper = |w: &str| -> Vec<String> {
        match pin_cpu {
            Some(c) if SINGLE_THREADED.contains(&w) => {
                vec!["taskset".into(), "-c".into(), c.to_string()]
            }
            _ => Vec::new(),
        }
    };

    let load_before = crate::env::loadavg();
    let mut bar = Progress::new(
        "stats-overhead",
        reps * workloads.len() * variants.len() * 2,
    );
    let mut runs: Vec<Run> = Vec::new();
    let mut firsts: Vec<bool> = Vec::new();
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
                    let r = crate::runs::run_one_with(&ctx, a, w, p, &[], &wrapper(w));
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
    crate::runs::check_checksums(&mut runs);
    for r in runs.iter().filter(|r| !r.ok) {
        eprintln!(
            "masu-bench: {} under {} (pair {}) failed: {}",
            r.workload,
            r.alloc,
            r.rep + 1,
            r.status
        );
    }
    let load_after = crate::env::loadavg();

    let mut rows: Vec<Row> = Vec::new();
    for w in &workloads {
        for v in &variants {
            rows.push(analyse(w, v, &runs, &firsts, reps));
        }
    }

    // Instruction counts.
    let have_valgrind = callgrind::available();
    let tmp = target.join("masu-bench").join("callgrind");
    let mut per_pair: Vec<(String, Vec<Result<f64, String>>)> = Vec::new();
    if have_valgrind {
        std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
        let counted: Vec<usize> = (0..rows.len())
            .filter(|i| callgrind_args(&rows[*i].workload, o.full).is_some())
            .collect();
        let steps: usize = counted
            .iter()
            .filter_map(|i| callgrind_args(&rows[*i].workload, o.full))
            .map(|(_, n)| 2 * n)
            .sum();
        let mut bar = Progress::new(
            "stats-overhead callgrind",
            steps + allocs.len() * callgrind::CASES.len(),
        );
        for i in counted {
            let (args, repeats) = callgrind_args(&rows[i].workload, o.full).unwrap_or_default();
            let v = variants
                .iter()
                .find(|v| v.name == rows[i].variant)
                .ok_or("variant lost")?;
            let mut one = |a: &Allocator, k: usize| -> Result<(u64, u64), String> {
                let label = format!(
                    "{} · {} (callgrind {}/{repeats})",
                    args.join(" "),
                    a.name,
                    k + 1
                );
                bar.start(&label);
                let (program, preload) = a.program(&ctx.bin_dir);
                let file = tmp.join(format!("{}-{}.out", a.name, rows[i].workload));
                let r = callgrind::count(&program, &args, preload.as_deref(), None, &file);
                bar.finish(
                    &label,
                    &match &r {
                        Ok((n, _)) => format!("{} instructions", thousands(*n)),
                        Err(e) => e.clone(),
                    },
                );
                r
            };
            let mut counted = || -> Result<Count, String> {
                let (mut with_runs, mut without_runs, mut ops) = (Vec::new(), Vec::new(), 0);
                for k in 0..repeats {
                    let (w, n) = one(&v.on, k)?;
                    let (wo, _) = one(&v.off, k)?;
                    with_runs.push(w);
                    without_runs.push(wo);
                    ops = n;
                }
                Ok(Count {
                    args: args.clone(),
                    with: median_u64(&with_runs),
                    without: median_u64(&without_runs),
                    with_runs,
                    without_runs,
                    ops,
                })
            };
            rows[i].count = Some(counted());
        }
        for a in &allocs {
            let mut cells = Vec::new();
            for c in callgrind::CASES {
                let label = format!("{} · {}", a.name, c.name);
                bar.start(&label);
                let r = callgrind::measure(a, &ctx.bin_dir, c, &tmp);
                bar.finish(
                    &label,
                    &match &r {
                        Ok(v) => format!("{v:.1} instructions per pair"),
                        Err(e) => e.clone(),
                    },
                );
                cells.push(r);
            }
            per_pair.push((a.name.to_string(), cells));
        }
        bar.close();
    } else {
        eprintln!("masu-bench: valgrind is not installed: no instruction counts (sudo apt-get install valgrind)");
    }

    // Tables.
    let cells: Vec<Vec<String>> = rows.iter().map(Row::cells).collect();
    let count_cells: Vec<Vec<String>> = rows
        .iter()
        .filter_map(|r| {
            let c = r.count.as_ref()?;
            Some(match c {
                Ok(c) => vec![
                    r.workload.clone(),
                    r.variant.to_string(),
                    c.args.join(" "),
                    format!("{} + {}", c.with_runs.len(), c.without_runs.len()),
                    if c.with_runs.len() > 1 {
                        format!("{:.2} %", c.spread() * 100.0)
                    } else {
                        "-".into()
                    },
                    thousands(c.with),
                    thousands(c.without),
                    pct(c.with as f64 / c.without as f64),
                    format!("{:.2}", (c.with as f64 - c.without as f64) / c.ops as f64),
                ],
                Err(e) => vec![
                    r.workload.clone(),
                    r.variant.to_string(),
                    format!("failed: {e}"),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
            })
        })
        .collect();
    let mut pair_head = vec!["build".to_string()];
    pair_head.extend(callgrind::CASES.iter().map(|c| c.name.to_string()));
    let pair_cells: Vec<Vec<String>> = per_pair
        .iter()
        .map(|(n, cs)| {
            let mut row = vec![n.clone()];
            row.extend(cs.iter().map(|c| match c {
                Ok(v) => format!("{v:.1}"),
                Err(_) => "failed".into(),
            }));
            row
        })
        .collect();
    let pair_head_ref: Vec<&str> = pair_head.iter().map(String::as_str).collect();

    println!(
        "\nstats-overhead ({} scale, {reps} pair{} per workload): time with stats / time without, per pair; \
         overhead = median pair ratio − 1 (goal: under {GOAL_PCT} %)\n",
        ctx.scale,
        if reps == 1 { "" } else { "s" }
    );
    print!("{}", report::text_table(&HEAD, &cells, 2));
    println!();
    for r in &rows {
        println!(
            "goal, {} {}: {}",
            r.workload,
            r.variant,
            r.verdict().replace("**", "")
        );
    }
    if !count_cells.is_empty() {
        println!("\ninstructions (callgrind, whole program, scaled-down runs):\n");
        print!("{}", report::text_table(&COUNT_HEAD, &count_cells, 3));
    }
    if !pair_cells.is_empty() {
        println!("\ninstructions per allocation/free pair (callgrind, `masu-work pairs`):\n");
        print!("{}", report::text_table(&pair_head_ref, &pair_cells, 1));
    }

    // Markdown.
    let mut md = crate::env::header(
        &ctx,
        "Cost of the statistics counters",
        &format!("{load_before} / {load_after}"),
    );
    let _ = write!(
        md,
        "masu built with its `stats` feature (the default: masu-core counts allocations, frees, live and \
         peak bytes: one add per allocation on the fast path, folded in on slow paths) against the same build without it. Both come \
         from `{}`, each into its own target directory; masu-core's features per `cargo tree`: with \
         `{}`, without `{}`. Check before measuring: the `MASU_STATS` report of one `masu-work tiny` run \
         counted {}.\n\n",
        builds.command,
        builds.on_features,
        builds.off_features,
        checks
            .iter()
            .map(|(n, w, wo)| format!("{w} allocations with stats and {wo} without ({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    md.push_str(&crate::allocator_legend(&ctx));
    let _ = write!(
        md,
        "\nEach workload ({} scale) runs in {reps} pairs: one run with stats and one without, back to back, \
         the order alternating from pair to pair, the workloads interleaved. {} A pair's ratio is its time \
         with stats over its time without (time: the workload's measured phase); the overhead is the median \
         of the pair ratios − 1, with the interquartile range of the ratios and a 95 % percentile-bootstrap \
         interval of their median ({BOOTSTRAP} resamples; none with fewer than {MIN_PAIRS_FOR_INTERVAL} pairs). `ratio of medians`: the median time with stats \
         over the median time without; `slower with stats`: pairs whose run with stats took longer. Goal: \
         under {GOAL_PCT} %.\n\n",
        ctx.scale,
        match pin_cpu {
            Some(c) => format!(
                "Single-threaded workloads ({}) run pinned to CPU {c} with `taskset`; the others are not pinned.",
                workloads
                    .iter()
                    .filter(|w| SINGLE_THREADED.contains(&w.as_str()))
                    .map(|w| format!("`{w}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "No run is pinned to a CPU.".to_string(),
        }
    );
    md.push_str(&report::md_table(&HEAD, &cells, 2));
    md.push('\n');
    for r in &rows {
        let _ = writeln!(
            md,
            "Goal, {} ({}): {}.\n",
            r.workload,
            r.variant,
            r.verdict()
        );
    }
    if !count_cells.is_empty() {
        let _ = write!(
            md,
            "Instructions: each workload scaled down (the arguments shown: `masu-work ARGS`), the whole \
             program under `valgrind --tool=callgrind`, the builds alternating; medians of `runs` runs per \
             build. A count barely depends on the load, but is not exact: masu's purges follow the clock, \
             and callgrind runs `server`'s threads one at a time, in an order that changes from run to run \
             and with it the remote frees; `spread` is the larger max / min − 1 of the two builds' runs. \
             `added per operation`: the difference over the run's operations (an operation frees a block \
             and allocates one; the set-up's allocations are in the difference too).\n\n{}",
            report::md_table(&COUNT_HEAD, &count_cells, 3)
        );
    }
    if !pair_cells.is_empty() {
        let _ = write!(
            md,
            "\nInstructions per allocation/free pair, as in the callgrind section (`masu-work pairs`, only \
             inside the `masu_bench_pairs_*` functions):\n\n{}",
            report::md_table(&pair_head_ref, &pair_cells, 1)
        );
    }
    md.push_str("\n![stats-overhead.svg](stats-overhead.svg)\n");

    // Chart.
    let groups: Vec<(String, Vec<svg::Bar>)> = rows
        .iter()
        .map(|r| {
            let label = if variants.len() > 1 {
                format!("{} ({})", r.workload, r.variant)
            } else {
                r.workload.clone()
            };
            let mut bars = vec![svg::Bar {
                name: "time".into(),
                colour: "#d62728",
                value: (r.median_ratio - 1.0) * 100.0,
                interval: Some(((r.boot.0 - 1.0) * 100.0, (r.boot.1 - 1.0) * 100.0))
                    .filter(|(a, b)| a.is_finite() && b.is_finite()),
            }];
            if let Some(Ok(c)) = &r.count {
                bars.push(svg::Bar {
                    name: "instructions".into(),
                    colour: "#7f7f7f",
                    value: (c.with as f64 / c.without as f64 - 1.0) * 100.0,
                    interval: None,
                });
            }
            (label, bars)
        })
        .collect();
    let chart = svg::percent_bars(
        &format!(
            "Cost of masu's statistics counters ({} scale, {reps} pair{})",
            ctx.scale,
            if reps == 1 { "" } else { "s" }
        ),
        "with stats / without − 1",
        &groups,
        Some((GOAL_PCT, "goal: under +1 %")),
        "time: median of the pair ratios, whisker: its 95 % bootstrap interval; instructions: callgrind",
    );

    // Files.
    let mut csv = String::from(
        "workload,build,pairs,planned_pairs,secs_with_stats,secs_without_stats,ops_per_s_with_stats,\
         ops_per_s_without_stats,ratio_of_medians,median_pair_ratio,pair_ratio_q1,pair_ratio_q3,\
         bootstrap95_lo,bootstrap95_hi,pairs_slower_with_stats,callgrind_args,callgrind_runs_per_build,\
         callgrind_spread,instructions_with_stats,instructions_without_stats,instruction_ratio,\
         instructions_added_per_op\n",
    );
    for r in &rows {
        let (cargs, cn, cs, cw, cwo, cr, cp) = match &r.count {
            Some(Ok(c)) => (
                c.args.join(" "),
                c.with_runs.len().to_string(),
                format!("{:.6}", c.spread()),
                c.with.to_string(),
                c.without.to_string(),
                format!("{:.6}", c.with as f64 / c.without as f64),
                format!("{:.3}", (c.with as f64 - c.without as f64) / c.ops as f64),
            ),
            _ => Default::default(),
        };
        let _ = writeln!(
            csv,
            "{},{},{},{},{:.6},{:.6},{:.1},{:.1},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{},{cargs},{cn},{cs},{cw},{cwo},{cr},{cp}",
            r.workload,
            r.variant,
            r.pairs.len(),
            r.planned,
            r.secs_with,
            r.secs_without,
            r.ops_with,
            r.ops_without,
            r.ratio_of_medians,
            r.median_ratio,
            r.q1,
            r.q3,
            r.boot.0,
            r.boot.1,
            r.slower
        );
    }
    let mut runs_csv = String::from(
        "workload,allocator,stats,pair,first_in_pair,ok,status,secs,ops,ops_per_s,wall_s,user_s,sys_s,checksum\n",
    );
    for (r, first) in runs.iter().zip(&firsts) {
        let _ = writeln!(
            runs_csv,
            "{},{},{},{},{},{},\"{}\",{:.6},{},{:.1},{:.3},{:.3},{:.3},{}",
            r.workload,
            r.alloc,
            !r.alloc.ends_with("-nostats"),
            r.rep,
            first,
            r.ok,
            r.status.replace('"', "\"\""),
            r.secs,
            r.ops,
            r.ops_per_s,
            r.out.wall_s,
            r.out.user_s,
            r.out.sys_s,
            r.checksum
        );
    }
    let json = to_json(JsonIn {
        ctx: &ctx,
        o,
        builds: &builds,
        checks: &checks,
        pin_cpu,
        load: (&load_before, &load_after),
        rows: &rows,
        runs: &runs,
        firsts: &firsts,
        per_pair: &per_pair,
    });
    println!("\n{md}");
    report::section(&ctx.out, "stats-overhead.csv", &csv)?;
    report::section(&ctx.out, "stats-overhead-runs.csv", &runs_csv)?;
    report::section(&ctx.out, "stats-overhead.json", &json)?;
    report::section(&ctx.out, "stats-overhead.svg", &chart)?;
    report::section(&ctx.out, "stats-overhead.md", &md)?;
    report::readme(&ctx.out)?;
    eprintln!(
        "masu-bench: stats-overhead results in {}",
        ctx.out.join("stats-overhead.*").display()
    );
    Ok(())
}

struct JsonIn<'a> {
    ctx: &'a crate::Ctx,
    o: &'a Opts,
    builds: &'a StatsBuilds,
    checks: &'a [(&'static str, u64, u64)],
    pin_cpu: Option<usize>,
    load: (&'a str, &'a str),
    rows: &'a [Row],
    runs: &'a [Run],
    firsts: &'a [bool],
    per_pair: &'a [(String, Vec<Result<f64, String>>)],
}

fn path(p: &Path) -> String {
    js(&p.to_string_lossy())
}

fn to_json(x: JsonIn<'_>) -> String {
    let ctx = x.ctx;
    let mut j = String::from("{\n");
    let _ = writeln!(
        j,
        "  \"meta\": {{\"command\": {}, \"date\": {}, \"commit\": {}, \"machine\": {}, \"scale\": {}, \
         \"pairs\": {}, \"goal_pct\": {}, \"bootstrap_resamples\": {}, \"load_before\": {}, \"load_after\": {}, \
         \"pinned_cpu\": {}, \"pin_requested\": {}, \"build_command\": {}, \"build_with_stats\": {}, \
         \"build_without_stats\": {}, \"masu_core_with_stats\": {}, \"masu_core_without_stats\": {}}},",
        js(&ctx.command),
        js(&ctx.date),
        js(&crate::env::commit()),
        js(&ctx.machine),
        js(&ctx.scale),
        ctx.reps,
        GOAL_PCT,
        BOOTSTRAP,
        js(x.load.0),
        js(x.load.1),
        x.pin_cpu.map_or("null".to_string(), |c| c.to_string()),
        x.o.pin,
        js(&x.builds.command),
        path(&x.builds.on),
        path(&x.builds.off),
        js(&x.builds.on_features),
        js(&x.builds.off_features),
    );
    j.push_str("  \"allocators\": [");
    for (i, (n, w)) in ctx.allocator_info.iter().enumerate() {
        let _ = write!(
            j,
            "{}{{\"name\": {}, \"what\": {}}}",
            if i > 0 { ", " } else { "" },
            js(n),
            js(w)
        );
    }
    j.push_str("],\n  \"build_check\": [");
    for (i, (n, w, wo)) in x.checks.iter().enumerate() {
        let _ = write!(
            j,
            "{}{{\"build\": {}, \"allocations_counted_with_stats\": {w}, \"allocations_counted_without\": {wo}}}",
            if i > 0 { ", " } else { "" },
            js(n)
        );
    }
    j.push_str("],\n  \"summary\": [\n");
    for (i, r) in x.rows.iter().enumerate() {
        let count = match &r.count {
            Some(Ok(c)) => format!(
                "{{\"args\": {}, \"instructions_with_stats\": {}, \"instructions_without_stats\": {}, \
                 \"runs_with_stats\": {:?}, \"runs_without_stats\": {:?}, \"spread\": {}, \
                 \"ratio\": {}, \"ops\": {}, \"added_per_op\": {}}}",
                js(&c.args.join(" ")),
                c.with,
                c.without,
                c.with_runs,
                c.without_runs,
                jn(c.spread()),
                jn(c.with as f64 / c.without as f64),
                c.ops,
                jn((c.with as f64 - c.without as f64) / c.ops as f64)
            ),
            Some(Err(e)) => format!("{{\"error\": {}}}", js(e)),
            None => "null".into(),
        };
        let pairs: Vec<String> = r
            .pairs
            .iter()
            .map(|p| {
                format!(
                    "{{\"pair\": {}, \"first\": {}, \"secs_with_stats\": {}, \"secs_without_stats\": {}, \"ratio\": {}}}",
                    p.index,
                    js(if p.with_first { "with" } else { "without" }),
                    jn(p.with),
                    jn(p.without),
                    jn(p.with / p.without)
                )
            })
            .collect();
        let _ = writeln!(
            j,
            "    {{\"workload\": {}, \"build\": {}, \"pairs\": {}, \"planned_pairs\": {}, \"secs_with_stats\": {}, \
             \"secs_without_stats\": {}, \"ops_per_s_with_stats\": {}, \"ops_per_s_without_stats\": {}, \
             \"ratio_of_medians\": {}, \"median_pair_ratio\": {}, \"pair_ratio_q1\": {}, \"pair_ratio_q3\": {}, \
             \"bootstrap95\": [{}, {}], \"pairs_slower_with_stats\": {}, \"goal_met\": {}, \"callgrind\": {count}, \
             \"pair_list\": [{}]}}{}",
            js(&r.workload),
            js(r.variant),
            r.pairs.len(),
            r.planned,
            jn(r.secs_with),
            jn(r.secs_without),
            jn(r.ops_with),
            jn(r.ops_without),
            jn(r.ratio_of_medians),
            jn(r.median_ratio),
            jn(r.q1),
            jn(r.q3),
            jn(r.boot.0),
            jn(r.boot.1),
            r.slower,
            r.median_ratio.is_finite() && (r.median_ratio - 1.0) * 100.0 < GOAL_PCT,
            pairs.join(", "),
            if i + 1 < x.rows.len() { "," } else { "" }
        );
    }
    j.push_str("  ],\n  \"instructions_per_pair\": [\n");
    let mut first = true;
    for (n, cells) in x.per_pair {
        for (c, v) in callgrind::CASES.iter().zip(cells) {
            let _ = write!(
                j,
                "{}    {{\"build\": {}, \"case\": {}, \"size\": {}, \"pairs\": {}, \"instructions_per_pair\": {}}}",
                if first { "" } else { ",\n" },
                js(n),
                js(c.name),
                c.size,
                c.count,
                v.as_ref().map_or("null".to_string(), |v| jn(*v))
            );
            first = false;
        }
    }
    j.push_str("\n  ],\n  \"runs\": [\n");
    for (i, (r, f)) in x.runs.iter().zip(x.firsts).enumerate() {
        let _ = writeln!(
            j,
            "    {{\"workload\": {}, \"allocator\": {}, \"stats\": {}, \"pair\": {}, \"first_in_pair\": {f}, \
             \"ok\": {}, \"status\": {}, \"secs\": {}, \"ops\": {}, \"ops_per_s\": {}, \"wall_s\": {}, \
             \"user_s\": {}, \"sys_s\": {}, \"rss_hwm_kb\": {}, \"checksum\": {}}}{}",
            js(&r.workload),
            js(&r.alloc),
            !r.alloc.ends_with("-nostats"),
            r.rep,
            r.ok,
            js(&r.status),
            jn(r.secs),
            r.ops,
            jn(r.ops_per_s),
            jn(r.out.wall_s),
            jn(r.out.user_s),
            jn(r.out.sys_s),
            r.out.hwm_kb,
            js(&r.checksum),
            if i + 1 < x.runs.len() { "," } else { "" }
        );
    }
    j.push_str("  ]\n}\n");
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert_eq!(quantile(&v, 0.25), 1.75);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert_eq!(quantile(&[7.0], 0.75), 7.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn the_bootstrap_interval_holds_the_median_and_is_reproducible() {
        let v: Vec<f64> = (0..21).map(|i| 1.0 + (i as f64 - 10.0) * 0.001).collect();
        let (lo, hi) = bootstrap_median(&v, 2000);
        assert!(lo < 1.0 && 1.0 < hi, "{lo} {hi}");
        assert!(lo >= 0.99 && hi <= 1.01, "{lo} {hi}");
        assert_eq!(bootstrap_median(&v, 2000), (lo, hi));
        // All equal: a zero-width interval.
        assert_eq!(bootstrap_median(&[1.5; 5], 100), (1.5, 1.5));
        assert!(bootstrap_median(&[1.0], 100).0.is_nan());
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn percentages_of_ratios() {
        assert_eq!(pct(1.0123), "+1.23 %");
        assert_eq!(pct(0.99), "-1.00 %");
        assert_eq!(pct(f64::NAN), "-");
        assert_eq!(pct_range(0.995, 1.01), "-0.50 to +1.00 %");
    }
}
