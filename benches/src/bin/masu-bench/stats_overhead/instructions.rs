//! Instruction counts of the two builds under callgrind: scaled-down
//! whole-program runs of each workload, and the instructions per
//! allocation/free pair of the `pairs` cases.

use super::analysis::{thousands, Row};
use super::Variant;
use crate::alloc::Allocator;
use crate::callgrind;
use crate::progress::Progress;
use crate::Ctx;
use std::path::Path;

/// The instructions per pair of each build, per case (`callgrind::CASES`).
pub type PerPair = Vec<(String, Vec<Result<f64, String>>)>;

/// Instructions of scaled-down runs under callgrind.
pub struct Count {
    pub args: Vec<String>,
    /// Each run's total, with stats and without (alternating).
    pub with_runs: Vec<u64>,
    pub without_runs: Vec<u64>,
    /// Their medians.
    pub with: u64,
    pub without: u64,
    /// The run's operations (its result line's `ops`).
    pub ops: u64,
}

impl Count {
    /// The larger relative spread (max / min − 1) of the two builds' runs.
    pub fn spread(&self) -> f64 {
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

pub const COUNT_HEAD: [&str; 9] = [
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

/// Counts the instructions of the rows' workloads (those with scaled-down
/// arguments) into their `count`, and the instructions per pair of every
/// build. Nothing (and a note) when valgrind is missing.
pub fn measure(
    full: bool,
    target: &Path,
    ctx: &Ctx,
    variants: &[Variant],
    allocs: &[Allocator],
    rows: &mut [Row],
) -> Result<PerPair, String> {
    if !callgrind::available() {
        eprintln!("masu-bench: valgrind is not installed: no instruction counts (sudo apt-get install valgrind)");
        return Ok(Vec::new());
    }
    let tmp = target.join("masu-bench").join("callgrind");
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let counted: Vec<usize> = (0..rows.len())
        .filter(|i| callgrind_args(&rows[*i].workload, full).is_some())
        .collect();
    let steps: usize = counted
        .iter()
        .filter_map(|i| callgrind_args(&rows[*i].workload, full))
        .map(|(_, n)| 2 * n)
        .sum();
    let mut bar = Progress::new(
        "stats-overhead callgrind",
        steps + allocs.len() * callgrind::CASES.len(),
    );
    for i in counted {
        let v = variants
            .iter()
            .find(|v| v.name == rows[i].variant)
            .ok_or("variant lost")?;
        rows[i].count = Some(count_workload(
            full,
            ctx,
            v,
            &rows[i].workload,
            &tmp,
            &mut bar,
        ));
    }
    let per_pair = allocs
        .iter()
        .map(|a| (a.name.to_string(), per_pair(a, ctx, &tmp, &mut bar)))
        .collect();
    bar.close();
    Ok(per_pair)
}

/// The instruction counts of `workload` under both builds of `v`.
fn count_workload(
    full: bool,
    ctx: &Ctx,
    v: &Variant,
    workload: &str,
    tmp: &Path,
    bar: &mut Progress,
) -> Result<Count, String> {
    let (args, repeats) = callgrind_args(workload, full).unwrap_or_default();
    let mut one = |a: &Allocator, k: usize| -> Result<(u64, u64), String> {
        let label = format!(
            "{} · {} (callgrind {}/{repeats})",
            args.join(" "),
            a.name,
            k + 1
        );
        bar.start(&label);
        let (program, preload) = a.program(&ctx.bin_dir);
        let file = tmp.join(format!("{}-{workload}.out", a.name));
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
}

/// The instructions per pair of build `a`, per case.
fn per_pair(a: &Allocator, ctx: &Ctx, tmp: &Path, bar: &mut Progress) -> Vec<Result<f64, String>> {
    let mut cells = Vec::new();
    for c in callgrind::CASES {
        let label = format!("{} · {}", a.name, c.name);
        bar.start(&label);
        let r = callgrind::measure(a, &ctx.bin_dir, c, tmp);
        bar.finish(
            &label,
            &match &r {
                Ok(v) => format!("{v:.1} instructions per pair"),
                Err(e) => e.clone(),
            },
        );
        cells.push(r);
    }
    cells
}
