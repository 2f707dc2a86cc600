//! Tables (terminal and Markdown), CSV and JSON files, the goals, and the
//! results README.

use crate::{Ctx, FixedRegion, FixedRow, Run, SmallRow, Summary};
use serde::Serialize;
use std::collections::BTreeMap;
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
    let ref_name = crate::alloc::reference(&ctx.allocators);
    for w in &ctx.workloads {
        let reference = sums
            .iter()
            .find(|s| &s.workload == w && s.alloc == ref_name && s.ok > 0);
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

/// The small-region fills.
pub fn small_table(rows: &[SmallRow]) -> String {
    let mut s = String::from(
        "| allocator | region KiB | sizes B | filled |\n| --- | ---: | ---: | ---: |\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} % |",
            r.alloc,
            r.region >> 10,
            r.sizes,
            r.fill * 100.0
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
pub fn goals(ctx: &Ctx, sums: &[Summary], fixed: &FixedRegion) -> String {
    let g = Goals {
        sums,
        peers: crate::alloc::peers(&ctx.allocators),
        masus: ["masu", "masu-rs"]
            .into_iter()
            .filter(|m| ctx.allocators.iter().any(|a| a == m))
            .collect(),
    };
    let mut s = String::new();
    if ctx.workloads.iter().any(|w| w != "fixed-region") {
        let _ = writeln!(
            s,
            "| goal | {} |\n| --- |{}",
            g.masus.join(" | "),
            " --- |".repeat(g.masus.len())
        );
    }
    if ctx.workloads.iter().any(|w| w == "dist") {
        g.dist_rows(&mut s);
    }
    for w in &ctx.workloads {
        g.peer_rows(&mut s, w);
    }
    if ctx.workloads.iter().any(|w| w == "burst-idle") {
        g.burst_row(&mut s);
    }
    if !fixed.is_empty() {
        fixed_goals(&mut s, fixed);
    }
    s
}

/// The goals table's rows, a cell per masu build that ran.
struct Goals<'a> {
    sums: &'a [Summary],
    /// The allocators "the best" is taken over (crate builds standing in
    /// for missing packages).
    peers: Vec<&'static str>,
    masus: Vec<&'static str>,
}

impl Goals<'_> {
    /// The summary of `w` under `a`, if any run of it succeeded.
    fn get(&self, w: &str, a: &str) -> Option<&Summary> {
        self.sums
            .iter()
            .find(|s| s.workload == w && s.alloc == a && s.ok > 0)
    }

    /// A row: `goal`, then `cell` of each masu build's summary of `w`.
    fn row(&self, s: &mut String, goal: String, w: &str, cell: impl Fn(&Summary) -> String) {
        let cells: Vec<String> = self
            .masus
            .iter()
            .map(|m| self.get(w, m).map_or_else(|| "no result".into(), &cell))
            .collect();
        let _ = writeln!(s, "| {goal} | {} |", cells.join(" | "));
    }

    /// dist: ops/s and mean RSS against mimalloc.
    fn dist_rows(&self, s: &mut String) {
        let Some(mi) = self.get("dist", "mimalloc") else {
            return;
        };
        self.row(
            s,
            format!("dist: ops/s ≥ mimalloc ({:.2} M)", mi.ops_per_s / 1e6),
            "dist",
            |x| {
                format!(
                    "{:.2} M = {:.2}× — {}",
                    x.ops_per_s / 1e6,
                    x.ops_per_s / mi.ops_per_s,
                    verdict(x.ops_per_s >= mi.ops_per_s)
                )
            },
        );
        self.row(
            s,
            format!("dist: mean RSS ≤ mimalloc ({} MiB)", mib(mi.rss_mean)),
            "dist",
            |x| {
                format!(
                    "{} MiB = {:.2}× — {}",
                    mib(x.rss_mean),
                    x.rss_mean / mi.rss_mean,
                    verdict(x.rss_mean <= mi.rss_mean)
                )
            },
        );
    }

    /// `w`: time and mean RSS within 1.10× of the best peer.
    fn peer_rows(&self, s: &mut String, w: &str) {
        for (what, f) in [
            ("time", (|x: &Summary| x.secs) as fn(&Summary) -> f64),
            ("mean RSS", |x: &Summary| x.rss_mean),
        ] {
            let best = self
                .peers
                .iter()
                .filter_map(|p| self.get(w, p).map(|x| (*p, f(x))))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            let Some((best_name, best_v)) = best else {
                continue;
            };
            self.row(
                s,
                format!("{w}: {what} within 1.10× of the best of mimalloc/jemalloc/tcmalloc ({best_name})"),
                w,
                |x| format!("{:.2}× — {}", f(x) / best_v, verdict(f(x) <= 1.10 * best_v)),
            );
        }
    }

    /// burst-idle: memory back within 1 s of the frees.
    fn burst_row(&self, s: &mut String) {
        self.row(
            s,
            "burst-idle: RSS back within 10 % of pre-burst within 1 s of the frees".into(),
            "burst-idle",
            |x| {
                let g = |k: &str| x.extra.get(k).copied().unwrap_or(f64::NAN);
                let rec = g("recovered_ms");
                format!(
                    "pre {} MiB, 1 s into the idle {} MiB, end {} MiB — {}",
                    mib(g("rss_pre_kb")),
                    mib(g("rss_idle_1s_kb")),
                    mib(g("rss_idle_end_kb")),
                    verdict(rec.is_finite() && rec <= 1000.0)
                )
            },
        );
    }
}

/// The masu-core presets whose fixed-region goals are checked.
const FIXED_GOAL_PRESETS: [&str; 2] = ["masu-core", "masu-core/compact"];

/// A goal's verdict, and when missed, by how much: `short` is the shortfall
/// already written with its unit.
fn verdict_by(ok: bool, short: String) -> String {
    if ok {
        verdict(true).to_string()
    } else {
        format!("{}: short by {short}", verdict(false))
    }
}

/// The fixed-region goals of masu-core (issue 13): throughput against talc
/// and heap efficiency per largest request size, then the small regions'
/// fills; each miss says by how much, and a line after the table where the
/// reasons are written.
fn fixed_goals(out: &mut String, fixed: &FixedRegion) {
    let _ = writeln!(
        out,
        "\n| fixed-region goal (masu-core) | max B | figure | |\n| --- | ---: | ---: | --- |"
    );
    let rows = &fixed.rows;
    let of = |name: &str, max: usize| rows.iter().find(|t| t.alloc == name && t.max == max);
    for r in rows
        .iter()
        .filter(|r| FIXED_GOAL_PRESETS.contains(&r.alloc.as_str()))
    {
        if let Some(t) = of("talc", r.max) {
            // Issue 13: 1.5× talc up to 3000 B, 1.0× above.
            let goal = if r.max <= 3000 { 1.5 } else { 1.0 };
            let x = r.ops_per_s / t.ops_per_s;
            let short = format!("{:.1} %", (1.0 - x / goal) * 100.0);
            let _ = writeln!(
                out,
                "| {}: throughput ≥ {goal}× talc | {} | {x:.3}× | {} |",
                r.alloc,
                r.max,
                verdict_by(x >= goal, short)
            );
        }
        let best = [of("talc", r.max), of("rlsf", r.max)]
            .into_iter()
            .flatten()
            .map(|t| t.efficiency)
            .fold(0.95f64, f64::max);
        let short = format!("{:.2} points", (best - r.efficiency) * 100.0);
        let _ = writeln!(
            out,
            "| {}: efficiency ≥ 95 % and ≥ talc, rlsf ({:.1} %) | {} | {:.1} % | {} |",
            r.alloc,
            best * 100.0,
            r.max,
            r.efficiency * 100.0,
            verdict_by(r.efficiency >= best, short)
        );
    }
    for r in fixed
        .small
        .iter()
        .filter(|r| FIXED_GOAL_PRESETS.contains(&r.alloc.as_str()))
    {
        // Issue 13: 16–256 B requests fill ≥ 90 % of a 16 or 64 KiB region,
        // 16–4096 B ≥ 85 %.
        let goal = if r.sizes == "16-256" { 0.90 } else { 0.85 };
        let short = format!("{:.2} points", (goal - r.fill) * 100.0);
        let _ = writeln!(
            out,
            "| {}: {} KiB region, {} B requests fill ≥ {:.0} % | | {:.1} % | {} |",
            r.alloc,
            r.region >> 10,
            r.sizes,
            goal * 100.0,
            r.fill * 100.0,
            verdict_by(r.fill >= goal, short)
        );
    }
    let _ = writeln!(
        out,
        "\nWhy the fixed-region goals that are missed are missed, and the figures of longer \
         series (alternating rounds, 1000 seeds, a 16-core machine): \
         [docs/embedded.md, where the goals stand](../embedded.md#where-the-goals-stand)."
    );
}

/// `v` rounded to `digits` decimals (what the result files keep).
pub fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `rows` as a CSV file with a header line from their fields.
pub fn write_csv<T: Serialize>(
    path: &Path,
    rows: impl IntoIterator<Item = T>,
) -> Result<(), String> {
    let err = |e: csv::Error| format!("{}: {e}", path.display());
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    for r in rows {
        w.serialize(r).map_err(err)?;
    }
    w.flush().map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `value` as pretty JSON (non-finite numbers as `null`).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    write(path, &(text + "\n"))
}

/// A row of runs.csv.
#[derive(Serialize)]
struct RunRow<'a> {
    workload: &'a str,
    allocator: &'a str,
    rep: usize,
    ok: bool,
    status: &'a str,
    secs: f64,
    ops: u64,
    ops_per_s: f64,
    wall_s: f64,
    user_s: f64,
    sys_s: f64,
    rss_mean_kb: f64,
    rss_p95_kb: u64,
    rss_max_sampled_kb: u64,
    rss_hwm_kb: u64,
    samples: usize,
    checksum: &'a str,
    /// The result line's other `KEY=VALUE` pairs, space-separated.
    extra: String,
}

impl<'a> RunRow<'a> {
    fn of(run: &'a Run) -> RunRow<'a> {
        let extra: Vec<String> = run
            .out
            .result
            .iter()
            .filter(|(k, _)| {
                !["workload", "ops", "secs", "checksum", "corrupt"].contains(&k.as_str())
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        RunRow {
            workload: &run.workload,
            allocator: &run.alloc,
            rep: run.rep,
            ok: run.ok,
            status: &run.status,
            secs: round(run.secs, 6),
            ops: run.ops,
            ops_per_s: round(run.ops_per_s, 1),
            wall_s: round(run.out.wall_s, 3),
            user_s: round(run.out.user_s, 3),
            sys_s: round(run.out.sys_s, 3),
            rss_mean_kb: round(run.rss_mean, 0),
            rss_p95_kb: run.rss_p95,
            rss_max_sampled_kb: run.rss_max_sampled,
            rss_hwm_kb: run.out.hwm_kb,
            samples: run.out.samples.len(),
            checksum: &run.checksum,
            extra: extra.join(" "),
        }
    }
}

/// A row of samples.csv.
#[derive(Serialize)]
struct SampleRow<'a> {
    workload: &'a str,
    allocator: &'a str,
    rep: usize,
    t_ms: f64,
    rss_kb: u64,
}

/// A row of summary.csv.
#[derive(Serialize)]
struct SummaryRow<'a> {
    workload: &'a str,
    allocator: &'a str,
    ok_runs: usize,
    runs: usize,
    secs: f64,
    ops_per_s: f64,
    rss_mean_kb: f64,
    rss_p95_kb: f64,
    rss_max_kb: f64,
}

impl<'a> SummaryRow<'a> {
    fn of(s: &'a Summary) -> SummaryRow<'a> {
        SummaryRow {
            workload: &s.workload,
            allocator: &s.alloc,
            ok_runs: s.ok,
            runs: s.runs,
            secs: round(s.secs, 6),
            ops_per_s: round(s.ops_per_s, 1),
            rss_mean_kb: round(s.rss_mean, 0),
            rss_p95_kb: round(s.rss_p95, 0),
            rss_max_kb: round(s.rss_max, 0),
        }
    }
}

/// A row of fixed-region.csv, and an entry of results.json.
#[derive(Serialize)]
struct FixedOut<'a> {
    allocator: &'a str,
    max: usize,
    ops_per_s: f64,
    efficiency: f64,
}

impl<'a> FixedOut<'a> {
    fn of(f: &'a FixedRow) -> FixedOut<'a> {
        FixedOut {
            allocator: &f.alloc,
            max: f.max,
            ops_per_s: round(f.ops_per_s, 0),
            efficiency: round(f.efficiency, 5),
        }
    }
}

/// A row of small-region.csv, and an entry of results.json.
#[derive(Serialize)]
struct SmallOut<'a> {
    allocator: &'a str,
    region: usize,
    sizes: &'a str,
    fill: f64,
}

impl<'a> SmallOut<'a> {
    fn of(f: &'a SmallRow) -> SmallOut<'a> {
        SmallOut {
            allocator: &f.alloc,
            region: f.region,
            sizes: &f.sizes,
            fill: round(f.fill, 5),
        }
    }
}

/// results.json: the run's facts, every run with its result line, phases
/// and samples, the summaries, the fixed-region rows and the small-region
/// fills.
#[derive(Serialize)]
struct Results<'a> {
    meta: Meta<'a>,
    allocators: Vec<AllocatorInfo<'a>>,
    runs: Vec<RunJson<'a>>,
    summary: Vec<SummaryJson<'a>>,
    fixed_region: Vec<FixedOut<'a>>,
    small_region: Vec<SmallOut<'a>>,
}

#[derive(Serialize)]
struct Meta<'a> {
    command: &'a str,
    date: &'a str,
    machine: &'a str,
    scale: &'a str,
    reps: usize,
    sample_period_ms: u32,
}

#[derive(Serialize)]
struct AllocatorInfo<'a> {
    name: &'a str,
    what: &'a str,
}

/// A run in results.json: the columns of runs.csv but the sample count and
/// the extra pairs, then the whole result line, the phases and the samples.
#[derive(Serialize)]
struct RunJson<'a> {
    workload: &'a str,
    allocator: &'a str,
    rep: usize,
    ok: bool,
    status: &'a str,
    secs: f64,
    ops: u64,
    ops_per_s: f64,
    wall_s: f64,
    user_s: f64,
    sys_s: f64,
    rss_mean_kb: f64,
    rss_p95_kb: u64,
    rss_max_sampled_kb: u64,
    rss_hwm_kb: u64,
    checksum: &'a str,
    result: &'a BTreeMap<String, String>,
    phases: Vec<PhaseJson<'a>>,
    samples: Vec<(f64, u64)>,
}

impl<'a> RunJson<'a> {
    fn of(r: &'a Run) -> RunJson<'a> {
        let row = RunRow::of(r);
        RunJson {
            workload: row.workload,
            allocator: row.allocator,
            rep: row.rep,
            ok: row.ok,
            status: row.status,
            secs: row.secs,
            ops: row.ops,
            ops_per_s: row.ops_per_s,
            wall_s: row.wall_s,
            user_s: row.user_s,
            sys_s: row.sys_s,
            rss_mean_kb: row.rss_mean_kb,
            rss_p95_kb: row.rss_p95_kb,
            rss_max_sampled_kb: row.rss_max_sampled_kb,
            rss_hwm_kb: row.rss_hwm_kb,
            checksum: row.checksum,
            result: &r.out.result,
            phases: r
                .out
                .phases
                .iter()
                .map(|p| PhaseJson {
                    name: &p.name,
                    t_ms: p.t_ms,
                    rss_kb: p.rss_kb,
                })
                .collect(),
            samples: r
                .out
                .samples
                .iter()
                .map(|&(t, kb)| (round(t, 1), kb))
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct PhaseJson<'a> {
    name: &'a str,
    t_ms: f64,
    rss_kb: u64,
}

#[derive(Serialize)]
struct SummaryJson<'a> {
    #[serde(flatten)]
    row: SummaryRow<'a>,
    extra: &'a BTreeMap<String, f64>,
}

/// Writes runs.csv, samples.csv, summary.csv, fixed-region.csv,
/// small-region.csv and results.json.
pub fn files(ctx: &Ctx, runs: &[Run], sums: &[Summary], fixed: &FixedRegion) -> Result<(), String> {
    write_csv(&ctx.out.join("runs.csv"), runs.iter().map(RunRow::of))?;
    let samples = runs.iter().flat_map(|r| {
        r.out.samples.iter().map(|&(t, kb)| SampleRow {
            workload: &r.workload,
            allocator: &r.alloc,
            rep: r.rep,
            t_ms: round(t, 1),
            rss_kb: kb,
        })
    });
    write_csv(&ctx.out.join("samples.csv"), samples)?;
    write_csv(
        &ctx.out.join("summary.csv"),
        sums.iter().map(SummaryRow::of),
    )?;
    if !fixed.rows.is_empty() {
        write_csv(
            &ctx.out.join("fixed-region.csv"),
            fixed.rows.iter().map(FixedOut::of),
        )?;
    }
    if !fixed.small.is_empty() {
        write_csv(
            &ctx.out.join("small-region.csv"),
            fixed.small.iter().map(SmallOut::of),
        )?;
    }
    write_json(
        &ctx.out.join("results.json"),
        &results(ctx, runs, sums, fixed),
    )
}

fn results<'a>(
    ctx: &'a Ctx,
    runs: &'a [Run],
    sums: &'a [Summary],
    fixed: &'a FixedRegion,
) -> Results<'a> {
    Results {
        meta: Meta {
            command: &ctx.command,
            date: &ctx.date,
            machine: &ctx.machine,
            scale: &ctx.scale,
            reps: ctx.reps,
            sample_period_ms: 10,
        },
        allocators: ctx
            .allocator_info
            .iter()
            .map(|(name, what)| AllocatorInfo { name, what })
            .collect(),
        runs: runs.iter().map(RunJson::of).collect(),
        summary: sums
            .iter()
            .map(|s| SummaryJson {
                row: SummaryRow::of(s),
                extra: &s.extra,
            })
            .collect(),
        fixed_region: fixed.rows.iter().map(FixedOut::of).collect(),
        small_region: fixed.small.iter().map(SmallOut::of).collect(),
    }
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
         (all of it, with each run's phases and samples), `fixed-region.csv`, `small-region.csv`, \
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(alloc: &str, max: usize, ops_per_s: f64, efficiency: f64) -> FixedRow {
        FixedRow {
            alloc: alloc.into(),
            max,
            ops_per_s,
            efficiency,
        }
    }

    fn fill(alloc: &str, region: usize, sizes: &str, fill: f64) -> SmallRow {
        SmallRow {
            alloc: alloc.into(),
            region,
            sizes: sizes.into(),
            fill,
        }
    }

    /// Each fixed-region goal is judged against its own bound, and a miss
    /// says by how much.
    #[test]
    fn fixed_goals_say_by_how_much_a_goal_is_missed() {
        let fixed = FixedRegion {
            rows: vec![
                row("masu-core/compact", 200, 147.0, 0.896),
                row("talc", 200, 100.0, 0.883),
                row("rlsf", 200, 120.0, 0.758),
                row("masu-core/compact", 10000, 101.0, 0.976),
                row("talc", 10000, 100.0, 0.975),
                row("rlsf", 10000, 120.0, 0.972),
            ],
            small: vec![
                fill("masu-core/compact", 16 << 10, "16-256", 0.899),
                fill("masu-core/compact", 16 << 10, "16-4096", 0.86),
                fill("talc", 16 << 10, "16-256", 0.5),
            ],
        };
        let mut s = String::new();
        fixed_goals(&mut s, &fixed);
        let line = |needle: &str| {
            s.lines()
                .find(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no line with {needle:?} in\n{s}"))
                .to_string()
        };
        // 1.47× against 1.5×: 2 % short.
        assert!(line("throughput ≥ 1.5× talc | 200")
            .ends_with("| 1.470× | **missed**: short by 2.0 % |"));
        // 89.6 % against 95 % (above talc's and rlsf's): 5.40 points.
        assert!(line("(95.0 %) | 200").ends_with("**missed**: short by 5.40 points |"));
        assert!(line("throughput ≥ 1× talc | 10000").ends_with("**met** |"));
        // The bound is talc's 97.5 %, above 95 %.
        assert!(line("(97.5 %) | 10000").ends_with("**met** |"));
        assert!(
            line("16-256 B requests fill ≥ 90 %").ends_with("**missed**: short by 0.10 points |")
        );
        assert!(line("16-4096 B requests fill ≥ 85 %").ends_with("**met** |"));
        // Only masu-core's presets have goals.
        assert!(!s.contains("| talc:"));
        assert!(s.contains("(../embedded.md#where-the-goals-stand)"));
    }
}
