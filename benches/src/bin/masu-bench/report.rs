//! Tables (terminal and Markdown), CSV and JSON files, the goals, and the
//! results README.

use crate::{Ctx, FixedRow, Run, Summary};
use std::fmt::Write as _;
use std::path::Path;

pub fn mib(kb: f64) -> String {
    let m = kb / 1024.0;
    if m < 10.0 {
        format!("{m:.2}")
    } else if m < 100.0 {
        format!("{m:.1}")
    } else {
        format!("{m:.0}")
    }
}

fn ratio(v: f64, r: Option<f64>) -> String {
    match r {
        Some(r) if r > 0.0 && v.is_finite() => format!("{:.2}", v / r),
        _ => "-".into(),
    }
}

/// Operations per second, short: "21.6 M", "318".
pub fn ops(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn secs(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.2}")
    }
}

/// One table row per workload and allocator, as cells.
fn rows(ctx: &Ctx, sums: &[Summary]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for w in &ctx.workloads {
        let reference = sums
            .iter()
            .find(|s| &s.workload == w && s.alloc == crate::alloc::REFERENCE && s.ok > 0);
        for s in sums.iter().filter(|s| &s.workload == w) {
            if s.ok == 0 {
                rows.push(vec![
                    w.clone(),
                    s.alloc.clone(),
                    format!("FAILED ({})", s.failure),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    format!("0/{}", s.runs),
                ]);
                continue;
            }
            let r = |f: fn(&Summary) -> f64| reference.map(f);
            rows.push(vec![
                w.clone(),
                s.alloc.clone(),
                secs(s.secs),
                ratio(s.secs, r(|x| x.secs)),
                ops(s.ops_per_s),
                mib(s.rss_mean),
                ratio(s.rss_mean, r(|x| x.rss_mean)),
                mib(s.rss_p95),
                ratio(s.rss_p95, r(|x| x.rss_p95)),
                mib(s.rss_max),
                ratio(s.rss_max, r(|x| x.rss_max)),
                format!("{}/{}", s.ok, s.runs),
            ]);
        }
    }
    rows
}

const HEAD: [&str; 12] = [
    "workload",
    "allocator",
    "time s",
    "×mi",
    "ops/s",
    "RSS mean MiB",
    "×mi",
    "p95 MiB",
    "×mi",
    "max MiB",
    "×mi",
    "runs",
];

/// The comparison as a terminal table.
pub fn terminal(ctx: &Ctx, sums: &[Summary]) -> String {
    let rows = rows(ctx, sums);
    let mut width: Vec<usize> = HEAD.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = width[i] - c.chars().count();
            if i < 2 {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
            s.push_str("  ");
        }
        s.trim_end().to_string()
    };
    let mut out = String::new();
    out.push_str(&line(&HEAD.map(String::from)));
    out.push('\n');
    let mut last = String::new();
    for r in &rows {
        if r[0] != last && !last.is_empty() {
            out.push('\n');
        }
        last = r[0].clone();
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

/// The comparison as a Markdown table.
pub fn markdown(ctx: &Ctx, sums: &[Summary]) -> String {
    let mut s = format!("| {} |\n|", HEAD.join(" | "));
    for (i, _) in HEAD.iter().enumerate() {
        s.push_str(if i < 2 { " --- |" } else { " ---: |" });
    }
    s.push('\n');
    for r in rows(ctx, sums) {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
    s
}

/// Any table for the terminal: columns padded to their widest cell, the
/// first `left` left-aligned and the others right-aligned.
pub fn text_table(head: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(width.len()) {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate().take(width.len()) {
            let pad = " ".repeat(width[i] - c.chars().count());
            if i < left {
                s.push_str(c);
                s.push_str(&pad);
            } else {
                s.push_str(&pad);
                s.push_str(c);
            }
            s.push_str("  ");
        }
        s.trim_end().to_string()
    };
    let mut out = line(&head.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

/// Any table as Markdown, the first `left` columns left-aligned.
pub fn md_table(head: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let mut s = format!("| {} |\n|", head.join(" | "));
    for i in 0..head.len() {
        s.push_str(if i < left { " --- |" } else { " ---: |" });
    }
    s.push('\n');
    for r in rows {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
    s
}

/// The burst-idle figures (resident set at each phase; medians).
pub fn burst_table(sums: &[Summary]) -> Option<String> {
    let b: Vec<&Summary> = sums
        .iter()
        .filter(|s| s.workload == "burst-idle" && s.ok > 0)
        .collect();
    if b.is_empty() {
        return None;
    }
    let mut s = String::from(
        "| allocator | pre-burst MiB | peak MiB | after the frees MiB | 1 s into the idle MiB | end of idle MiB | back within 10 % of pre-burst after |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for x in b {
        let g = |k: &str| x.extra.get(k).copied().unwrap_or(f64::NAN);
        let rec = g("recovered_ms");
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            x.alloc,
            mib(g("rss_pre_kb")),
            mib(g("rss_peak_kb")),
            mib(g("rss_freed_kb")),
            mib(g("rss_idle_1s_kb")),
            mib(g("rss_idle_end_kb")),
            if rec.is_finite() {
                format!("{rec:.0} ms")
            } else {
                "never (within the idle)".into()
            }
        );
    }
    Some(s)
}

/// The fixed-region figures.
pub fn fixed_table(rows: &[FixedRow]) -> String {
    let mut s = String::from(
        "| allocator | max B | Mops/s | ×talc | efficiency |\n| --- | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        let talc = rows
            .iter()
            .find(|t| t.alloc == "talc" && t.max == r.max)
            .map(|t| t.ops_per_s);
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | {} | {:.1} % |",
            r.alloc,
            r.max,
            r.ops_per_s / 1e6,
            ratio(r.ops_per_s, talc),
            r.efficiency * 100.0
        );
    }
    s
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**missed**"
    }
}

/// The goals of the issue, checked against the medians.
pub fn goals(ctx: &Ctx, sums: &[Summary], fixed: &[FixedRow]) -> String {
    let get = |w: &str, a: &str| {
        sums.iter()
            .find(|s| s.workload == w && s.alloc == a && s.ok > 0)
    };
    let masus: Vec<&str> = ["masu", "masu-rs"]
        .into_iter()
        .filter(|m| ctx.allocators.iter().any(|a| a == m))
        .collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| goal | {} |\n| --- |{}",
        masus.join(" | "),
        " --- |".repeat(masus.len())
    );
    let mut row = |goal: String, cells: Vec<String>| {
        let _ = writeln!(s, "| {goal} | {} |", cells.join(" | "));
    };
    if ctx.workloads.iter().any(|w| w == "dist") {
        if let Some(mi) = get("dist", "mimalloc") {
            row(
                format!("dist: ops/s ≥ mimalloc ({:.2} M)", mi.ops_per_s / 1e6),
                masus
                    .iter()
                    .map(|m| match get("dist", m) {
                        Some(x) => format!(
                            "{:.2} M = {:.2}× — {}",
                            x.ops_per_s / 1e6,
                            x.ops_per_s / mi.ops_per_s,
                            verdict(x.ops_per_s >= mi.ops_per_s)
                        ),
                        None => "no result".into(),
                    })
                    .collect(),
            );
            row(
                format!("dist: mean RSS ≤ mimalloc ({} MiB)", mib(mi.rss_mean)),
                masus
                    .iter()
                    .map(|m| match get("dist", m) {
                        Some(x) => format!(
                            "{} MiB = {:.2}× — {}",
                            mib(x.rss_mean),
                            x.rss_mean / mi.rss_mean,
                            verdict(x.rss_mean <= mi.rss_mean)
                        ),
                        None => "no result".into(),
                    })
                    .collect(),
            );
        }
    }
    for w in &ctx.workloads {
        for (what, f) in [
            ("time", (|x: &Summary| x.secs) as fn(&Summary) -> f64),
            ("mean RSS", |x: &Summary| x.rss_mean),
        ] {
            let best = crate::alloc::PEERS
                .iter()
                .filter_map(|p| get(w, p).map(|x| (*p, f(x))))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let Some((best_name, best_v)) = best else {
                continue;
            };
            row(
                format!("{w}: {what} within 1.10× of the best of mimalloc/jemalloc/tcmalloc ({best_name})"),
                masus
                    .iter()
                    .map(|m| match get(w, m) {
                        Some(x) => format!(
                            "{:.2}× — {}",
                            f(x) / best_v,
                            verdict(f(x) <= 1.10 * best_v)
                        ),
                        None => "no result".into(),
                    })
                    .collect(),
            );
        }
    }
    if ctx.workloads.iter().any(|w| w == "burst-idle") {
        row(
            "burst-idle: RSS back within 10 % of pre-burst within 1 s of the frees".into(),
            masus
                .iter()
                .map(|m| match get("burst-idle", m) {
                    Some(x) => {
                        let g = |k: &str| x.extra.get(k).copied().unwrap_or(f64::NAN);
                        let rec = g("recovered_ms");
                        format!(
                            "pre {} MiB, 1 s into the idle {} MiB, end {} MiB — {}",
                            mib(g("rss_pre_kb")),
                            mib(g("rss_idle_1s_kb")),
                            mib(g("rss_idle_end_kb")),
                            verdict(rec.is_finite() && rec <= 1000.0)
                        )
                    }
                    None => "no result".into(),
                })
                .collect(),
        );
    }
    let mut out = s;
    if !fixed.is_empty() {
        let _ = writeln!(
            out,
            "\n| fixed-region goal (masu-core) | max B | figure | |\n| --- | ---: | ---: | --- |"
        );
        for r in fixed.iter().filter(|r| r.alloc == "masu-core") {
            if let Some(t) = fixed.iter().find(|t| t.alloc == "talc" && t.max == r.max) {
                let x = r.ops_per_s / t.ops_per_s;
                let _ = writeln!(
                    out,
                    "| throughput ≥ 2× talc | {} | {x:.2}× | {} |",
                    r.max,
                    verdict(x >= 2.0)
                );
            }
            let _ = writeln!(
                out,
                "| efficiency ≥ 95 % | {} | {:.1} % | {} |",
                r.max,
                r.efficiency * 100.0,
                verdict(r.efficiency >= 0.95)
            );
        }
    }
    out
}

/// A JSON string literal.
pub fn js(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A JSON number (null if not finite).
pub fn jn(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

/// A CSV field.
fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes runs.csv, samples.csv, summary.csv, fixed-region.csv and results.json.
pub fn files(ctx: &Ctx, runs: &[Run], sums: &[Summary], fixed: &[FixedRow]) -> Result<(), String> {
    let mut r = String::from("workload,allocator,rep,ok,status,secs,ops,ops_per_s,wall_s,user_s,sys_s,rss_mean_kb,rss_p95_kb,rss_max_sampled_kb,rss_hwm_kb,samples,checksum,extra\n");
    let mut smp = String::from("workload,allocator,rep,t_ms,rss_kb\n");
    let mut j = String::from("{\n");
    let _ = writeln!(j, "  \"meta\": {{\"command\": {}, \"date\": {}, \"machine\": {}, \"scale\": {}, \"reps\": {}, \"sample_period_ms\": 10}},",
        js(&ctx.command), js(&ctx.date), js(&ctx.machine), js(&ctx.scale), ctx.reps);
    j.push_str("  \"allocators\": [");
    for (i, a) in ctx.allocator_info.iter().enumerate() {
        let _ = write!(
            j,
            "{}{{\"name\": {}, \"what\": {}}}",
            if i > 0 { ", " } else { "" },
            js(&a.0),
            js(&a.1)
        );
    }
    j.push_str("],\n  \"runs\": [\n");
    for (i, run) in runs.iter().enumerate() {
        let extra: Vec<String> = run
            .out
            .result
            .iter()
            .filter(|(k, _)| {
                !["workload", "ops", "secs", "checksum", "corrupt"].contains(&k.as_str())
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            r,
            "{},{},{},{},{},{:.6},{},{:.1},{:.3},{:.3},{:.3},{:.0},{},{},{},{},{},{}",
            run.workload,
            run.alloc,
            run.rep,
            run.ok,
            csv(&run.status),
            run.secs,
            run.ops,
            run.ops_per_s,
            run.out.wall_s,
            run.out.user_s,
            run.out.sys_s,
            run.rss_mean,
            run.rss_p95,
            run.rss_max_sampled,
            run.out.hwm_kb,
            run.out.samples.len(),
            run.checksum,
            csv(&extra.join(" "))
        );
        for (t, kb) in &run.out.samples {
            let _ = writeln!(
                smp,
                "{},{},{},{t:.1},{kb}",
                run.workload, run.alloc, run.rep
            );
        }
        let _ = write!(
            j,
            "    {{\"workload\": {}, \"allocator\": {}, \"rep\": {}, \"ok\": {}, \"status\": {}, \"secs\": {}, \"ops\": {}, \"ops_per_s\": {}, \"wall_s\": {}, \"user_s\": {}, \"sys_s\": {}, \"rss_mean_kb\": {}, \"rss_p95_kb\": {}, \"rss_max_sampled_kb\": {}, \"rss_hwm_kb\": {}, \"checksum\": {}, \"result\": {{",
            js(&run.workload), js(&run.alloc), run.rep, run.ok, js(&run.status), jn(run.secs), run.ops, jn(run.ops_per_s),
            jn(run.out.wall_s), jn(run.out.user_s), jn(run.out.sys_s), jn(run.rss_mean), run.rss_p95, run.rss_max_sampled, run.out.hwm_kb, js(&run.checksum)
        );
        for (k, (key, v)) in run.out.result.iter().enumerate() {
            let _ = write!(j, "{}{}: {}", if k > 0 { ", " } else { "" }, js(key), js(v));
        }
        j.push_str("}, \"phases\": [");
        for (k, p) in run.out.phases.iter().enumerate() {
            let _ = write!(
                j,
                "{}{{\"name\": {}, \"t_ms\": {}, \"rss_kb\": {}}}",
                if k > 0 { ", " } else { "" },
                js(&p.name),
                jn(p.t_ms),
                p.rss_kb
            );
        }
        j.push_str("], \"samples\": [");
        for (k, (t, kb)) in run.out.samples.iter().enumerate() {
            let _ = write!(j, "{}[{t:.1}, {kb}]", if k > 0 { ", " } else { "" });
        }
        let _ = writeln!(j, "]}}{}", if i + 1 < runs.len() { "," } else { "" });
    }
    j.push_str("  ],\n  \"summary\": [\n");
    let mut su = String::from(
        "workload,allocator,ok_runs,runs,secs,ops_per_s,rss_mean_kb,rss_p95_kb,rss_max_kb\n",
    );
    for (i, s) in sums.iter().enumerate() {
        let _ = writeln!(
            su,
            "{},{},{},{},{:.6},{:.1},{:.0},{:.0},{:.0}",
            s.workload,
            s.alloc,
            s.ok,
            s.runs,
            s.secs,
            s.ops_per_s,
            s.rss_mean,
            s.rss_p95,
            s.rss_max
        );
        let _ = write!(j, "    {{\"workload\": {}, \"allocator\": {}, \"ok_runs\": {}, \"runs\": {}, \"secs\": {}, \"ops_per_s\": {}, \"rss_mean_kb\": {}, \"rss_p95_kb\": {}, \"rss_max_kb\": {}, \"extra\": {{",
            js(&s.workload), js(&s.alloc), s.ok, s.runs, jn(s.secs), jn(s.ops_per_s), jn(s.rss_mean), jn(s.rss_p95), jn(s.rss_max));
        for (k, (key, v)) in s.extra.iter().enumerate() {
            let _ = write!(
                j,
                "{}{}: {}",
                if k > 0 { ", " } else { "" },
                js(key),
                jn(*v)
            );
        }
        let _ = writeln!(j, "}}}}{}", if i + 1 < sums.len() { "," } else { "" });
    }
    j.push_str("  ],\n  \"fixed_region\": [\n");
    let mut fx = String::from("allocator,max,ops_per_s,efficiency\n");
    for (i, f) in fixed.iter().enumerate() {
        let _ = writeln!(
            fx,
            "{},{},{:.0},{:.5}",
            f.alloc, f.max, f.ops_per_s, f.efficiency
        );
        let _ = writeln!(
            j,
            "    {{\"allocator\": {}, \"max\": {}, \"ops_per_s\": {}, \"efficiency\": {}}}{}",
            js(&f.alloc),
            f.max,
            jn(f.ops_per_s),
            jn(f.efficiency),
            if i + 1 < fixed.len() { "," } else { "" }
        );
    }
    j.push_str("  ]\n}\n");
    write(&ctx.out.join("runs.csv"), &r)?;
    write(&ctx.out.join("samples.csv"), &smp)?;
    write(&ctx.out.join("summary.csv"), &su)?;
    if !fixed.is_empty() {
        write(&ctx.out.join("fixed-region.csv"), &fx)?;
    }
    write(&ctx.out.join("results.json"), &j)
}

/// Sections of the results README, in order, each written by one mode.
pub const SECTIONS: &[&str] = &[
    "compare.md",
    "fixed-overhead.md",
    "stats-overhead.md",
    "callgrind.md",
];

/// Rewrites README.md in `out` from the sections present there.
pub fn readme(out: &Path) -> Result<(), String> {
    let mut s = String::from(
        "# Benchmark results\n\n\
         Written by `masu-bench` (`benches/src/bin/masu-bench/`); every figure below comes from \
         the files beside this one, from the run named in each section. Do not edit by hand: \
         rerun the command of a section instead (`scripts/compare all --full` runs them all; `masu-bench ARGS` in a section is `scripts/compare ARGS`).\n\n\
         Files: `runs.csv` (one row per run), `samples.csv` (every RSS sample: workload, \
         allocator, run, ms since start, KiB), `summary.csv` (medians), `results.json` \
         (all of it, with each run's phases and samples), `fixed-region.csv`, \
         `fixed-overhead.csv`, `stats-overhead.csv` (per workload, with and without masu's `stats` \
         feature), `stats-overhead-runs.csv`, `stats-overhead.json`, `callgrind.csv`; charts \
         `rss-WORKLOAD.svg` (resident set over time, the median-time run of each allocator), \
         `ratio-time.svg` and `ratio-rss.svg` (medians over mimalloc's), `stats-overhead.svg` \
         (the cost of the statistics counters).\n\n\
         What the workloads do: `benches/src/work/` (one file each, described at its top) and \
         `benches/examples/fixed_region.rs`.\n",
    );
    for sec in SECTIONS {
        if let Ok(t) = std::fs::read_to_string(out.join(sec)) {
            s.push('\n');
            s.push_str(&t);
        }
    }
    write(&out.join("README.md"), &s)
}

/// Writes a section file.
pub fn section(out: &Path, name: &str, text: &str) -> Result<(), String> {
    write(&out.join(name), text)
}
