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
//!   `stats_overhead.rs`.
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
mod child;
mod progress;
mod report;
mod stats_overhead;
mod svg;

use alloc::Allocator;
use masu_bench::work::WORKLOADS;
use progress::Progress;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

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
    pub workload: String,
    pub alloc: String,
    pub rep: usize,
    pub out: child::Output,
    pub ok: bool,
    pub status: String,
    pub secs: f64,
    pub ops: u64,
    pub ops_per_s: f64,
    pub rss_mean: f64,
    pub rss_p95: u64,
    pub rss_max_sampled: u64,
    pub checksum: String,
}

/// Medians of one workload and allocator over its successful runs.
pub struct Summary {
    pub workload: String,
    pub alloc: String,
    pub runs: usize,
    pub ok: usize,
    pub failure: String,
    pub secs: f64,
    pub ops_per_s: f64,
    pub rss_mean: f64,
    pub rss_p95: f64,
    /// Peak resident set (`VmHWM` at the workload's end), KiB.
    pub rss_max: f64,
    /// Medians of the numeric extra figures of the result line ("never" is
    /// infinity).
    pub extra: BTreeMap<String, f64>,
}

/// One line of the fixed-region example.
pub struct FixedRow {
    pub alloc: String,
    pub max: usize,
    pub ops_per_s: f64,
    pub efficiency: f64,
}

struct Opts {
    mode: String,
    full: bool,
    workloads: Option<Vec<String>>,
    allocators: Option<Vec<String>>,
    reps: Option<usize>,
    out: Option<PathBuf>,
    build: bool,
    /// `stats-overhead`: pin single-threaded workloads to one CPU.
    pin: bool,
}

const USAGE: &str =
    "usage: masu-bench [compare|fixed-overhead|stats-overhead|callgrind|all] [--quick|--full]
                  [--workloads a,b,...] [--allocators a,b,...] [--reps N] [--out DIR] [--no-build]
                  [--no-pin]";

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        mode: "compare".into(),
        full: false,
        workloads: None,
        allocators: None,
        reps: None,
        out: None,
        build: true,
        pin: true,
    };
    let mut args = std::env::args().skip(1);
    let list = |v: Option<String>| -> Result<Vec<String>, String> {
        let v = v.ok_or("a list is missing")?;
        Ok(v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect())
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "compare" | "fixed-overhead" | "stats-overhead" | "callgrind" | "all" => o.mode = a,
            "--quick" => o.full = false,
            "--full" => o.full = true,
            "--workloads" => o.workloads = Some(list(args.next())?),
            "--allocators" => o.allocators = Some(list(args.next())?),
            "--reps" => {
                o.reps = Some(
                    args.next()
                        .and_then(|v| v.parse().ok())
                        .filter(|n| *n > 0)
                        .ok_or("--reps needs a positive number")?,
                )
            }
            "--out" => o.out = Some(args.next().ok_or("--out needs a directory")?.into()),
            "--no-build" => o.build = false,
            "--no-pin" => o.pin = false,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if let Some(ws) = &o.workloads {
        for w in ws {
            if !WORKLOADS.contains(&w.as_str()) && w != "fixed-region" {
                return Err(format!(
                    "unknown workload {w:?} (known: {}, fixed-region)",
                    WORKLOADS.join(", ")
                ));
            }
        }
    }
    Ok(o)
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

/// UTC "YYYY-MM-DD HH:MM" without a date crate.
fn utc_now() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn first_line(cmd: &str, args: &[&str]) -> Option<String> {
    let o = std::process::Command::new(cmd).args(args).output().ok()?;
    let s = String::from_utf8_lossy(&o.stdout)
        .lines()
        .next()?
        .trim()
        .to_string();
    (o.status.success() && !s.is_empty()).then_some(s)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or("?".into(), |kb| format!("{:.0} GiB", kb / 1048576.0));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let debian = std::fs::read_to_string("/etc/debian_version")
        .map(|v| format!(", Debian {}", v.trim()))
        .unwrap_or_default();
    format!(
        "{cores} cores ({cpu}), {mem} RAM, {} {}, Linux {}{debian}",
        std::env::consts::ARCH,
        std::env::consts::OS,
        kernel.trim()
    )
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The commit the run measures, read once, before the run writes its own
/// result files (which would otherwise count as uncommitted changes).
fn commit() -> String {
    static COMMIT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COMMIT.get_or_init(read_commit).clone()
}

fn read_commit() -> String {
    let root = building::root();
    let root = root.to_string_lossy();
    let head = first_line("git", &["-C", &root, "rev-parse", "--short", "HEAD"])
        .unwrap_or_else(|| "?".into());
    let dirty = std::process::Command::new("git")
        .args(["-C", &root, "status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    if dirty {
        format!("{head} with uncommitted changes")
    } else {
        head
    }
}

/// Where `target/release` is: beside this binary if it is a release
/// build, else `../release`.
fn dirs() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe()
        .unwrap_or_else(|_| building::root().join("target/release/masu-bench"));
    let profile_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let target = profile_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| building::root().join("target"));
    (target.join("release"), target)
}

fn header(ctx: &Ctx, title: &str, load: &str) -> String {
    format!(
        "## {title}\n\n\
         `{}` — {}, commit {}.\n\n\
         Machine: {}. Load average before / after: {load} (nothing else was started during \
         the run; the load average still counts what ran just before it). The machine is a small \
         2-core VM, so timings are noisy: a difference of several percent between two allocators \
         is within what two runs of the same one can show. Instruction counts (callgrind) are the \
         stable figures.\n\n",
        ctx.command,
        ctx.date,
        commit(),
        ctx.machine,
    )
}

fn run_one(ctx: &Ctx, a: &Allocator, workload: &str, rep: usize, extra_args: &[String]) -> Run {
    run_one_with(ctx, a, workload, rep, extra_args, &[])
}

/// [`run_one`] through a `wrapper` command that execs the workload (for
/// instance `taskset -c 1`); none if empty.
fn run_one_with(
    ctx: &Ctx,
    a: &Allocator,
    workload: &str,
    rep: usize,
    extra_args: &[String],
    wrapper: &[String],
) -> Run {
    let (program, preload) = a.program(&ctx.bin_dir);
    let mut args = vec![workload.to_string(), ctx.scale.clone()];
    args.extend_from_slice(extra_args);
    let timeout = Duration::from_secs(if ctx.scale == "full" { 600 } else { 120 });
    let out = match wrapper.split_first() {
        None => child::run(&program, &args, preload.as_deref(), &[], timeout),
        Some((first, rest)) => {
            let mut all: Vec<String> = rest.to_vec();
            all.push(program.to_string_lossy().into_owned());
            all.extend(args);
            child::run(Path::new(first), &all, preload.as_deref(), &[], timeout)
        }
    };
    let (rss_mean, rss_p95, rss_max_sampled) = child::rss_stats(&out.samples);
    let num = |k: &str| out.result.get(k).and_then(|v| v.parse::<f64>().ok());
    let secs = num("secs").unwrap_or(f64::NAN);
    let ops = num("ops").unwrap_or(0.0) as u64;
    let mut status = out.status.clone();
    let mut ok = out.ok;
    if ok && out.result.get("corrupt").is_some_and(|c| c != "0") {
        ok = false;
        status = "corrupt contents".into();
    }
    if !ok && !out.stderr_tail.is_empty() {
        let last = out.stderr_tail.lines().last().unwrap_or("");
        status = format!("{status}: {last}");
    }
    Run {
        workload: workload.to_string(),
        alloc: a.name.to_string(),
        rep,
        checksum: out.result.get("checksum").cloned().unwrap_or_default(),
        ok,
        status,
        secs,
        ops,
        ops_per_s: if secs > 0.0 {
            ops as f64 / secs
        } else {
            f64::NAN
        },
        rss_mean,
        rss_p95,
        rss_max_sampled,
        out,
    }
}

/// Marks runs whose checksum differs from the one most runs of their
/// workload agree on: an allocator that lost or corrupted a block.
fn check_checksums(runs: &mut [Run]) {
    let mut by_workload: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.ok) {
        *by_workload
            .entry(r.workload.clone())
            .or_default()
            .entry(r.checksum.clone())
            .or_default() += 1;
    }
    for r in runs.iter_mut().filter(|r| r.ok) {
        let common = by_workload[&r.workload]
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(c, _)| c.clone());
        if common.as_ref() != Some(&r.checksum) {
            r.ok = false;
            r.status = format!(
                "checksum {} differs from the other allocators' {}",
                r.checksum,
                common.unwrap_or_default()
            );
        }
    }
}

fn summarize(ctx: &Ctx, runs: &[Run]) -> Vec<Summary> {
    let mut sums = Vec::new();
    for w in &ctx.workloads {
        for a in &ctx.allocators {
            let all: Vec<&Run> = runs
                .iter()
                .filter(|r| &r.workload == w && &r.alloc == a)
                .collect();
            if all.is_empty() {
                continue;
            }
            let ok: Vec<&Run> = all.iter().copied().filter(|r| r.ok).collect();
            let m = |f: &dyn Fn(&Run) -> f64| median(ok.iter().map(|r| f(r)).collect());
            let mut extra = BTreeMap::new();
            if let Some(first) = ok.first() {
                for k in first.out.result.keys() {
                    if ["workload", "ops", "secs", "checksum", "corrupt"].contains(&k.as_str()) {
                        continue;
                    }
                    let vals: Vec<f64> = ok
                        .iter()
                        .filter_map(|r| r.out.result.get(k))
                        .filter_map(|v| {
                            if v == "never" {
                                Some(f64::INFINITY)
                            } else {
                                v.parse().ok()
                            }
                        })
                        .collect();
                    if vals.len() == ok.len() {
                        extra.insert(k.clone(), median(vals));
                    }
                }
            }
            sums.push(Summary {
                workload: w.clone(),
                alloc: a.clone(),
                runs: all.len(),
                ok: ok.len(),
                failure: all
                    .iter()
                    .find(|r| !r.ok)
                    .map(|r| r.status.clone())
                    .unwrap_or_default(),
                secs: m(&|r| r.secs),
                ops_per_s: m(&|r| r.ops_per_s),
                rss_mean: m(&|r| r.rss_mean),
                rss_p95: m(&|r| r.rss_p95 as f64),
                rss_max: m(&|r| r.out.hwm_kb as f64),
                extra,
            });
        }
    }
    sums
}

/// The run of `w`/`a` whose time is the median (for the charts).
fn median_run<'a>(runs: &'a [Run], w: &str, a: &str) -> Option<&'a Run> {
    let mut ok: Vec<&Run> = runs
        .iter()
        .filter(|r| r.workload == w && r.alloc == a && r.ok)
        .collect();
    ok.sort_by(|x, y| x.secs.total_cmp(&y.secs));
    ok.get(ok.len() / 2).copied()
}

fn charts(ctx: &Ctx, runs: &[Run], sums: &[Summary]) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    for w in ctx.workloads.iter().filter(|w| *w != "fixed-region") {
        let mut series = Vec::new();
        let mut marks = Vec::new();
        for a in &ctx.allocators {
            if let Some(r) = median_run(runs, w, a) {
                series.push(svg::Series {
                    name: a.clone(),
                    points: r
                        .out
                        .samples
                        .iter()
                        .map(|(t, kb)| (t / 1e3, *kb as f64 / 1024.0))
                        .collect(),
                });
            }
        }
        // Phase marks of masu's run (the workload's own clock, which starts
        // about a millisecond after the sampling one).
        let mut order = vec!["masu", "masu-rs"];
        order.extend(ctx.allocators.iter().map(String::as_str));
        let marked = order
            .iter()
            .find_map(|a| median_run(runs, w, a).filter(|r| !r.out.phases.is_empty()));
        if let Some(r) = marked {
            for p in r.out.phases.iter().filter(|p| p.name != "idle") {
                marks.push((format!("{} ({})", p.name, r.alloc), p.t_ms / 1e3));
            }
        }
        if series.is_empty() {
            continue;
        }
        let name = format!("rss-{w}.svg");
        let title = format!(
            "{w}: resident set over time (median-time run of each allocator, {})",
            ctx.scale
        );
        report::section(
            &ctx.out,
            &name,
            &svg::lines(&title, "seconds since start", "RSS (MiB)", &series, &marks),
        )?;
        files.push(name);
    }
    for (file, what, f) in [
        (
            "ratio-time.svg",
            "time",
            (|s: &Summary| s.secs) as fn(&Summary) -> f64,
        ),
        ("ratio-rss.svg", "mean RSS", |s: &Summary| s.rss_mean),
    ] {
        let mut groups = Vec::new();
        for w in ctx.workloads.iter().filter(|w| *w != "fixed-region") {
            let Some(reference) = sums
                .iter()
                .find(|s| &s.workload == w && s.alloc == alloc::REFERENCE && s.ok > 0)
            else {
                continue;
            };
            let bars = sums
                .iter()
                .filter(|s| &s.workload == w && s.ok > 0 && s.alloc != alloc::REFERENCE)
                .map(|s| (s.alloc.clone(), f(s) / f(reference)))
                .collect();
            groups.push((w.clone(), bars));
        }
        if !groups.is_empty() {
            report::section(
                &ctx.out,
                file,
                &svg::ratio_bars(
                    &format!(
                        "{what}, relative to mimalloc (median of {} runs; lower is better)",
                        ctx.reps
                    ),
                    &groups,
                ),
            )?;
            files.push(file.to_string());
        }
    }
    Ok(files)
}

fn fixed_region(ctx: &Ctx) -> Result<Vec<FixedRow>, String> {
    let exe = ctx.bin_dir.join("examples").join("fixed_region");
    let out = std::process::Command::new(&exe)
        .args([ctx.scale.as_str(), "machine"])
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            exe.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut rows = Vec::new();
    for l in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("fixed-region "))
    {
        let kv: BTreeMap<&str, &str> = l
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .collect();
        rows.push(FixedRow {
            alloc: kv.get("alloc").unwrap_or(&"?").to_string(),
            max: kv.get("max").and_then(|v| v.parse().ok()).unwrap_or(0),
            ops_per_s: kv
                .get("ops_per_s")
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN),
            efficiency: kv
                .get("efficiency")
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN),
        });
    }
    Ok(rows)
}

/// Resolves the allocators, printing the ones skipped and why.
fn allocators(o: &Opts, default: &[&str], bin_dir: &Path) -> (Vec<Allocator>, Vec<alloc::Missing>) {
    let names: Vec<String> = o
        .allocators
        .clone()
        .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect());
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
    let (bin_dir, target) = dirs();
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
        date: utc_now(),
        machine: machine(),
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

fn compare(o: &Opts) -> Result<(), String> {
    let (bin_dir, _) = dirs();
    let default = if o.full { alloc::ALL } else { alloc::QUICK };
    let (allocs, missing) = allocators(o, default, &bin_dir);
    if allocs.is_empty() {
        return Err("no allocator to run".into());
    }
    let workloads: Vec<String> = o.workloads.clone().unwrap_or_else(|| {
        WORKLOADS
            .iter()
            .map(|s| s.to_string())
            .chain(["fixed-region".to_string()])
            .collect()
    });
    let reps = o.reps.unwrap_or(if o.full { 5 } else { 3 });
    let ctx = ctx_for(o, &allocs, workloads, reps);
    std::fs::create_dir_all(&ctx.out).map_err(|e| format!("{}: {e}", ctx.out.display()))?;
    let load_before = loadavg();
    let process: Vec<&String> = ctx
        .workloads
        .iter()
        .filter(|w| *w != "fixed-region")
        .collect();
    let with_fixed = process.len() < ctx.workloads.len();
    let mut bar = Progress::new(
        "compare",
        reps * process.len() * allocs.len() + with_fixed as usize,
    );
    let mut runs = Vec::new();
    for rep in 0..reps {
        for w in &process {
            // Allocators alternate run by run; the order rotates with each
            // repetition so that none always runs first.
            for i in 0..allocs.len() {
                let a = &allocs[(i + rep) % allocs.len()];
                let label = format!("{w} · {} · run {}/{reps}", a.name, rep + 1);
                bar.start(&label);
                let r = run_one(&ctx, a, w, rep, &[]);
                let note = if r.ok {
                    format!(
                        "{:.3} s, RSS mean {} MiB, peak {} MiB",
                        r.secs,
                        report::mib(r.rss_mean),
                        report::mib(r.out.hwm_kb as f64)
                    )
                } else {
                    format!("FAILED: {}", r.status)
                };
                bar.finish(&label, &note);
                runs.push(r);
            }
        }
    }
    let mut fixed = Vec::new();
    if with_fixed {
        bar.start("fixed-region (masu-core, talc, rlsf, buddy, linked_list)");
        match fixed_region(&ctx) {
            Ok(f) => fixed = f,
            Err(e) => eprintln!("masu-bench: fixed-region: {e}"),
        }
        bar.finish("fixed-region", &format!("{} rows", fixed.len()));
    }
    bar.close();
    check_checksums(&mut runs);
    for r in runs.iter().filter(|r| !r.ok) {
        eprintln!(
            "masu-bench: {} under {} (run {}) failed: {}",
            r.workload,
            r.alloc,
            r.rep + 1,
            r.status
        );
    }
    let load_after = loadavg();
    let sums = summarize(&ctx, &runs);
    println!(
        "\nmedians of {reps} runs ({} scale); ×mi: ratio to mimalloc (lower is better); RSS sampled every 10 ms, max = peak (VmHWM)\n",
        ctx.scale
    );
    print!("{}", report::terminal(&ctx, &sums));
    let burst = report::burst_table(&sums);
    if let Some(b) = &burst {
        println!("\nburst-idle, resident set by phase (medians):\n{b}");
    }
    if !fixed.is_empty() {
        println!(
            "\nfixed-region (masu-core over a fixed arena, single thread):\n{}",
            report::fixed_table(&fixed)
        );
    }
    let goals = report::goals(&ctx, &sums, &fixed);
    println!("\ngoals:\n{goals}");
    report::files(&ctx, &runs, &sums, &fixed)?;
    let chart_files = charts(&ctx, &runs, &sums)?;
    let mut md = header(
        &ctx,
        "Speed and resident memory",
        &format!("{load_before} / {load_after}"),
    );
    md.push_str(&skipped_note(&missing));
    md.push_str(&allocator_legend(&ctx));
    md.push_str(&format!(
        "\nMedians of {reps} runs per allocator and workload ({} scale), allocators alternating run by run. \
         `time`: the workload's measured phase (set-up excluded); `×mi`: ratio to mimalloc (Debian's, \
         LD_PRELOAD), lower is better; RSS sampled from `/proc/PID/status` every 10 ms over the whole \
         process; `max`: the peak resident set (the workload's `VmHWM` at its end).\n\n",
        ctx.scale
    ));
    md.push_str(&report::markdown(&ctx, &sums));
    if let Some(b) = burst {
        md.push_str(&format!("\n### burst-idle by phase\n\nResident set read by the workload itself at each phase (medians). The idle is a `sleep`: nothing allocates, so an allocator that gives memory back only from its own slow paths keeps what it held.\n\n{b}"));
    }
    if !fixed.is_empty() {
        md.push_str(&format!(
            "\n### fixed-region\n\n`benches/examples/fixed_region.rs`: single thread, no lock; throughput of random alloc/realloc/free on 1,000 slots over a 64 MiB arena, and heap efficiency: live requested bytes over a 2 MiB arena at the first failed allocation.\n\n{}",
            report::fixed_table(&fixed)
        ));
    }
    md.push_str(&format!("\n### Goals\n\nmasu is `libmasu.so` under LD_PRELOAD; masu-rs is `masu::Masu` as the global allocator. \"Best\" is the lowest median of Debian's mimalloc, jemalloc and tcmalloc.\n\n{goals}"));
    md.push_str("\n### Charts\n\n");
    for f in &chart_files {
        md.push_str(&format!("![{f}]({f})\n"));
    }
    report::section(&ctx.out, "compare.md", &md)?;
    report::readme(&ctx.out)?;
    eprintln!("masu-bench: results in {}", ctx.out.display());
    Ok(())
}

fn fixed_overhead(o: &Opts) -> Result<(), String> {
    let (bin_dir, _) = dirs();
    let default = if o.full { alloc::ALL } else { alloc::QUICK };
    let (allocs, missing) = allocators(o, default, &bin_dir);
    let reps = o.reps.unwrap_or(5);
    let ctx = ctx_for(o, &allocs, vec!["tiny".into()], reps);
    std::fs::create_dir_all(&ctx.out).map_err(|e| e.to_string())?;
    let load = loadavg();
    let mut bar = Progress::new("fixed-overhead", reps * allocs.len());
    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    let mut csv = String::from("allocator,rep,rss_after_alloc_kb,rss_hwm_kb\n");
    for a in &allocs {
        let (mut rss, mut hwm) = (Vec::new(), Vec::new());
        for rep in 0..reps {
            let label = format!("tiny · {} · run {}/{reps}", a.name, rep + 1);
            bar.start(&label);
            let r = run_one(&ctx, a, "tiny", rep, &[]);
            let v = r
                .out
                .result
                .get("rss_kb")
                .and_then(|v| v.parse::<f64>().ok());
            if let (true, Some(v)) = (r.ok, v) {
                rss.push(v);
                hwm.push(r.out.hwm_kb as f64);
                csv.push_str(&format!("{},{rep},{v},{}\n", a.name, r.out.hwm_kb));
            }
            bar.finish(&label, &r.status);
        }
        rows.push((a.name.to_string(), median(rss), median(hwm)));
    }
    bar.close();
    let glibc = rows.iter().find(|r| r.0 == "glibc").map(|r| (r.1, r.2));
    let mut md = header(&ctx, "Fixed overhead", &format!("{load} / {}", loadavg()));
    md.push_str(&skipped_note(&missing));
    md.push_str("A process (`masu-work tiny`, a Rust program) makes one 16-byte allocation and reads its own resident set (`/proc/self/statm`); `peak` is its `VmHWM` just before exit. Medians; the difference is to glibc in the same binary (the `-rs` rows are other binaries, of about the same size). Goal: masu < 64 KiB more than glibc.\n\n| allocator | RSS after one allocation KiB | peak KiB | − glibc KiB | − glibc, peak KiB |\n| --- | ---: | ---: | ---: | ---: |\n");
    for (n, r, h) in &rows {
        let (dr, dh) = glibc.map_or((f64::NAN, f64::NAN), |g| (r - g.0, h - g.1));
        md.push_str(&format!(
            "| {n} | {r:.0} | {h:.0} | {dr:+.0} | {dh:+.0} |\n"
        ));
    }
    for m in ["masu", "masu-rs"] {
        if let (Some(x), Some(g)) = (rows.iter().find(|r| r.0 == m), glibc) {
            md.push_str(&format!(
                "\nGoal, {m}: {:+.0} KiB after the allocation, {:+.0} KiB at the peak — {}.\n",
                x.1 - g.0,
                x.2 - g.1,
                if x.1 - g.0 < 64.0 && x.2 - g.1 < 64.0 {
                    "**met**"
                } else {
                    "**missed**"
                }
            ));
        }
    }
    println!("\n{md}");
    report::section(&ctx.out, "fixed-overhead.csv", &csv)?;
    report::section(&ctx.out, "fixed-overhead.md", &md)?;
    report::readme(&ctx.out)
}

fn callgrind_mode(o: &Opts) -> Result<(), String> {
    let (bin_dir, target) = dirs();
    if !callgrind::available() {
        return Err("valgrind is not installed (sudo apt-get install valgrind)".into());
    }
    let default = if o.full { alloc::ALL } else { alloc::QUICK };
    let (allocs, missing) = allocators(o, default, &bin_dir);
    let ctx = ctx_for(o, &allocs, vec![], 1);
    std::fs::create_dir_all(&ctx.out).map_err(|e| e.to_string())?;
    let tmp = target.join("masu-bench").join("callgrind");
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let load = loadavg();
    let table = callgrind_table(&allocs, &bin_dir, &tmp)?;
    let mut md = header(
        &ctx,
        "Instructions per allocation/free pair",
        &format!("{load} / {}", loadavg()),
    );
    md.push_str(&skipped_note(&missing));
    md.push_str(&callgrind_intro());
    md.push_str(&table.0);
    println!("\n{md}");
    report::section(&ctx.out, "callgrind.csv", &table.1)?;
    report::section(&ctx.out, "callgrind.md", &md)?;
    report::readme(&ctx.out)
}

fn callgrind_intro() -> String {
    format!(
        "Counted with `valgrind --tool=callgrind`, only inside the `masu_bench_pairs_*` functions of `masu-work pairs` \
         (`benches/src/work/pairs.rs`): the allocation and free calls and the loop around them (a few instructions). \
         Cases: {}. The cross-thread case counts both threads (one allocates batches of 1,000, the other frees them). \
         Deterministic up to a few instructions, whatever the load.\n\n",
        callgrind::CASES.iter().map(|c| format!("{} ({} pairs)", c.name, c.count)).collect::<Vec<_>>().join(", ")
    )
}

/// Markdown table and CSV of instructions per pair.
fn callgrind_table(
    allocs: &[Allocator],
    bin_dir: &Path,
    tmp: &Path,
) -> Result<(String, String), String> {
    let mut bar = Progress::new("callgrind", allocs.len() * callgrind::CASES.len());
    let mut md = String::from("| allocator |");
    for c in callgrind::CASES {
        md.push_str(&format!(" {} |", c.name));
    }
    md.push_str("\n| --- |");
    md.push_str(&" ---: |".repeat(callgrind::CASES.len()));
    md.push('\n');
    let mut csv = String::from("allocator,case,size,pairs,instructions_per_pair\n");
    for a in allocs {
        md.push_str(&format!("| {} |", a.name));
        for c in callgrind::CASES {
            let label = format!("{} · {}", a.name, c.name);
            bar.start(&label);
            let r = callgrind::measure(a, bin_dir, c, tmp);
            match &r {
                Ok(v) => {
                    md.push_str(&format!(" {v:.1} |"));
                    csv.push_str(&format!(
                        "{},{},{},{},{v:.2}\n",
                        a.name, c.name, c.size, c.count
                    ));
                }
                Err(e) => {
                    eprintln!("masu-bench: callgrind {label}: {e}");
                    md.push_str(" failed |");
                }
            }
            bar.finish(
                &label,
                &r.map_or_else(|e| e, |v| format!("{v:.1} instructions per pair")),
            );
        }
        md.push('\n');
    }
    bar.close();
    Ok((md, csv))
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("masu-bench: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Before anything is built or written.
    let _ = commit();
    // `stats-overhead` alone builds only its own pair of builds.
    if o.build && o.mode != "stats-overhead" {
        let (_, target) = dirs();
        let rust_allocators = o.full
            || o.allocators
                .as_ref()
                .is_some_and(|a| a.iter().any(|n| n == "mimalloc-rs" || n == "jemalloc-rs"));
        if let Err(e) = building::build_all(&target, rust_allocators) {
            eprintln!("masu-bench: {e}");
            return ExitCode::FAILURE;
        }
    }
    let modes: Vec<&str> = if o.mode == "all" {
        vec!["compare", "fixed-overhead", "stats-overhead", "callgrind"]
    } else {
        vec![o.mode.as_str()]
    };
    for m in modes {
        let r = match m {
            "compare" => compare(&o),
            "fixed-overhead" => fixed_overhead(&o),
            "stats-overhead" => stats_overhead::run(&o),
            _ => callgrind_mode(&o),
        };
        if let Err(e) = r {
            eprintln!("masu-bench: {m}: {e}");
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

    #[test]
    fn dates_are_civil() {
        let d = utc_now();
        assert_eq!(d.len(), "2026-01-01 00:00 UTC".len(), "{d}");
        let month: u32 = d[5..7].parse().unwrap();
        let day: u32 = d[8..10].parse().unwrap();
        assert!((1..=12).contains(&month) && (1..=31).contains(&day), "{d}");
    }

    fn run(w: &str, a: &str, checksum: &str) -> Run {
        Run {
            workload: w.into(),
            alloc: a.into(),
            rep: 0,
            out: child::Output::default(),
            ok: true,
            status: "ok".into(),
            secs: 1.0,
            ops: 1,
            ops_per_s: 1.0,
            rss_mean: 0.0,
            rss_p95: 0,
            rss_max_sampled: 0,
            checksum: checksum.into(),
        }
    }

    #[test]
    fn a_differing_checksum_fails_its_run() {
        let mut runs = vec![
            run("dist", "glibc", "0x1"),
            run("dist", "mimalloc", "0x1"),
            run("dist", "broken", "0x2"),
            run("server", "broken", "0x3"),
        ];
        check_checksums(&mut runs);
        assert!(runs[0].ok && runs[1].ok && runs[3].ok);
        assert!(!runs[2].ok);
        assert!(runs[2].status.contains("differs"), "{}", runs[2].status);
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(report::js("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
        assert_eq!(report::jn(f64::NAN), "null");
    }
}
