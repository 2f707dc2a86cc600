//! The `compare` mode: every workload under every allocator, alternating
//! run by run; the tables, goals, files and charts of the comparison.

use crate::alloc::{self, Allocator};
use crate::cli::Opts;
use crate::env::{dirs, header, loadavg};
use crate::progress::Progress;
use crate::runs::{check_checksums, median_run, run_one, summarize};
use crate::{allocator_legend, allocators, charts, ctx_for, report, skipped_note};
use crate::{Ctx, FixedRegion, FixedRow, Run, SmallRow, Summary};
use masu_bench::work::WORKLOADS;
use std::collections::BTreeMap;

fn charts(ctx: &Ctx, runs: &[Run], sums: &[Summary]) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    for w in ctx.workloads.iter().filter(|w| *w != "fixed-region") {
        let mut series = Vec::new();
        let mut marks = Vec::new();
        for a in &ctx.allocators {
            if let Some(r) = median_run(runs, w, a) {
                series.push(charts::Series {
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
            &charts::lines(&title, "seconds since start", "RSS (MiB)", &series, &marks)?,
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
        let ref_name = alloc::reference(&ctx.allocators);
        for w in ctx.workloads.iter().filter(|w| *w != "fixed-region") {
            let Some(reference) = sums
                .iter()
                .find(|s| &s.workload == w && s.alloc == ref_name && s.ok > 0)
            else {
                continue;
            };
            let bars = sums
                .iter()
                .filter(|s| &s.workload == w && s.ok > 0 && s.alloc != ref_name)
                .map(|s| (s.alloc.clone(), f(s) / f(reference)))
                .collect();
            groups.push((w.clone(), bars));
        }
        if !groups.is_empty() {
            report::section(
                &ctx.out,
                file,
                &charts::ratio_bars(
                    &format!(
                        "{what}, relative to mimalloc (median of {} runs; lower is better)",
                        ctx.reps
                    ),
                    &groups,
                )?,
            )?;
            files.push(file.to_string());
        }
    }
    Ok(files)
}

fn fixed_region(ctx: &Ctx) -> Result<FixedRegion, String> {
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
    let mut f = FixedRegion::default();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let kv: BTreeMap<&str, &str> = l
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .collect();
        let text = |k: &str| kv.get(k).unwrap_or(&"?").to_string();
        let num = |k: &str| kv.get(k).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
        let int = |k: &str| kv.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
        if l.starts_with("fixed-region ") {
            f.rows.push(FixedRow {
                alloc: text("alloc"),
                max: int("max"),
                ops_per_s: num("ops_per_s"),
                efficiency: num("efficiency"),
            });
        } else if l.starts_with("small-region ") {
            f.small.push(SmallRow {
                alloc: text("alloc"),
                region: int("region"),
                sizes: text("sizes"),
                fill: num("fill"),
            });
        }
    }
    Ok(f)
}

/// The `compare` mode.
pub fn compare(o: &Opts) -> Result<(), String> {
    let (bin_dir, _) = dirs();
    let (allocs, missing) = allocators(o, &bin_dir);
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
    let (mut runs, fixed) = run_all(&ctx, &allocs);
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
    let load = format!("{load_before} / {}", loadavg());
    let sums = summarize(&ctx, &runs);
    let goals = report::goals(&ctx, &sums, &fixed);
    print_results(&ctx, &sums, &fixed, &goals);
    report::files(&ctx, &runs, &sums, &fixed)?;
    let chart_files = charts(&ctx, &runs, &sums)?;
    let md = markdown(&ctx, &load, &missing, &sums, &fixed, &goals, &chart_files);
    report::section(&ctx.out, "compare.md", &md)?;
    report::readme(&ctx.out)?;
    eprintln!("masu-bench: results in {}", ctx.out.display());
    Ok(())
}

/// Every run (repetitions outermost; allocators alternating run by run,
/// their order rotating with each repetition so that none always runs
/// first), then the fixed-region example if asked for.
fn run_all(ctx: &Ctx, allocs: &[Allocator]) -> (Vec<Run>, FixedRegion) {
    let reps = ctx.reps;
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
            for i in 0..allocs.len() {
                let a = &allocs[(i + rep) % allocs.len()];
                let label = format!("{w} · {} · run {}/{reps}", a.name, rep + 1);
                bar.start(&label);
                let r = run_one(ctx, a, w, rep, &[]);
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
    let mut fixed = FixedRegion::default();
    if with_fixed {
        bar.start("fixed-region (masu-core, talc, rlsf, buddy, linked_list)");
        match fixed_region(ctx) {
            Ok(f) => fixed = f,
            Err(e) => eprintln!("masu-bench: fixed-region: {e}"),
        }
        bar.finish(
            "fixed-region",
            &format!("{} rows, {} fills", fixed.rows.len(), fixed.small.len()),
        );
    }
    bar.close();
    (runs, fixed)
}

/// The tables and goals on the terminal.
fn print_results(ctx: &Ctx, sums: &[Summary], fixed: &FixedRegion, goals: &str) {
    println!(
        "\nmedians of {} runs ({} scale); ×mi: ratio to mimalloc (lower is better); RSS sampled every 10 ms, max = peak (VmHWM)\n",
        ctx.reps, ctx.scale
    );
    print!("{}", report::terminal(ctx, sums));
    if let Some(b) = report::burst_table(sums) {
        println!("\nburst-idle, resident set by phase (medians):\n{b}");
    }
    if !fixed.is_empty() {
        println!(
            "\nfixed-region (masu-core over a fixed arena, single thread):\n{}\nsmall regions:\n{}",
            report::fixed_table(&fixed.rows),
            report::small_table(&fixed.small)
        );
    }
    println!("\ngoals:\n{goals}");
}

/// The `compare.md` section.
fn markdown(
    ctx: &Ctx,
    load: &str,
    missing: &[alloc::Missing],
    sums: &[Summary],
    fixed: &FixedRegion,
    goals: &str,
    chart_files: &[String],
) -> String {
    let mut md = header(ctx, "Speed and resident memory", load);
    md.push_str(&skipped_note(missing));
    md.push_str(&allocator_legend(ctx));
    md.push_str(&format!(
        "\nMedians of {} runs per allocator and workload ({} scale), allocators alternating run by run. \
         `time`: the workload's measured phase (set-up excluded); `×mi`: ratio to mimalloc (Debian's, \
         LD_PRELOAD), lower is better; RSS sampled from `/proc/PID/status` every 10 ms over the whole \
         process; `max`: the peak resident set (the workload's `VmHWM` at its end).\n\n",
        ctx.reps, ctx.scale
    ));
    md.push_str(&report::markdown(ctx, sums));
    if let Some(b) = report::burst_table(sums) {
        md.push_str(&format!("\n### burst-idle by phase\n\nResident set read by the workload itself at each phase (medians). The idle is a `sleep`: nothing allocates, so an allocator that gives memory back only from its own slow paths keeps what it held.\n\n{b}"));
    }
    if !fixed.is_empty() {
        md.push_str(&format!(
            "\n### fixed-region\n\n`benches/examples/fixed_region.rs`: single thread, no lock; throughput of random alloc/realloc/free on 1,000 slots over a 64 MiB arena, and heap efficiency: live requested bytes over a 2 MiB arena at the first failed allocation; throughput the median of 5 rounds of 200 ms, allocators alternating round by round, efficiency the mean of 100 seeds.\n\n{}\nSmall regions: a 16 KiB and a 64 KiB arena filled with random requests of each range of sizes until the first failure (no frees), requested bytes over the arena, mean of 100 seeds.\n\n{}",
            report::fixed_table(&fixed.rows),
            report::small_table(&fixed.small)
        ));
    }
    md.push_str(&format!("\n### Goals\n\nmasu is `libmasu.so` under LD_PRELOAD; masu-rs is `masu::Masu` as the global allocator. \"Best\" is the lowest median of Debian's mimalloc, jemalloc and tcmalloc.\n\n{goals}"));
    md.push_str("\n### Charts\n\n");
    for f in chart_files {
        md.push_str(&format!("![{f}]({f})\n"));
    }
    md
}
