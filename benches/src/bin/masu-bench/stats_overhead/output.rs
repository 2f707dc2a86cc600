//! What `stats-overhead` prints and writes: the tables, the Markdown
//! section, the chart, and the CSV and JSON files.

use super::analysis::{pct, thousands, Row, HEAD};
use super::instructions::{PerPair, COUNT_HEAD};
use super::{BOOTSTRAP, GOAL_PCT, MIN_PAIRS_FOR_INTERVAL, SINGLE_THREADED};
use crate::building::StatsBuilds;
use crate::cli::Opts;
use crate::report::{round, write_csv, write_json};
use crate::{callgrind, charts, report, Ctx, Run};
use serde::Serialize;
use std::fmt::Write as _;

/// Everything the outputs show.
pub struct Report<'a> {
    /// The run's facts.
    pub ctx: &'a Ctx,
    /// The command line.
    pub o: &'a Opts,
    /// The two builds.
    pub builds: &'a StatsBuilds,
    /// Per build: allocations its `MASU_STATS` report counted with and
    /// without `stats`.
    pub checks: &'a [(&'static str, u64, u64)],
    /// The CPU single-threaded workloads ran on, if pinned.
    pub pin_cpu: Option<usize>,
    /// Load averages before and after.
    pub load: (&'a str, &'a str),
    /// The workloads.
    pub workloads: &'a [String],
    /// How many builds (variants) were compared.
    pub variants: usize,
    /// A row per workload and build.
    pub rows: &'a [Row],
    /// Every run, and whether it came first in its pair.
    pub runs: &'a [Run],
    /// See `runs`.
    pub firsts: &'a [bool],
    /// Instructions per pair per build.
    pub per_pair: &'a PerPair,
}

/// Prints the tables and writes every file of the mode.
pub fn write(x: &Report<'_>) -> Result<(), String> {
    let cells: Vec<Vec<String>> = x.rows.iter().map(Row::cells).collect();
    let count_cells = count_cells(x.rows);
    let (pair_head, pair_cells) = pair_cells(x.per_pair);
    let pair_head: Vec<&str> = pair_head.iter().map(String::as_str).collect();
    print_tables(x, &cells, &count_cells, &pair_head, &pair_cells);
    let md = markdown(x, &cells, &count_cells, &pair_head, &pair_cells);
    println!("\n{md}");
    let out = &x.ctx.out;
    write_csv(
        &out.join("stats-overhead.csv"),
        x.rows.iter().map(CsvRow::of),
    )?;
    write_csv(
        &out.join("stats-overhead-runs.csv"),
        x.runs.iter().zip(x.firsts).map(|(r, f)| RunRow::of(r, *f)),
    )?;
    write_json(&out.join("stats-overhead.json"), &json(x))?;
    report::section(out, "stats-overhead.svg", &chart(x)?)?;
    report::section(out, "stats-overhead.md", &md)?;
    report::readme(out)?;
    eprintln!(
        "masu-bench: stats-overhead results in {}",
        out.join("stats-overhead.*").display()
    );
    Ok(())
}

/// The instruction-count table's rows.
fn count_cells(rows: &[Row]) -> Vec<Vec<String>> {
    rows.iter()
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
                Err(e) => {
                    let mut row = vec![
                        r.workload.clone(),
                        r.variant.to_string(),
                        format!("failed: {e}"),
                    ];
                    row.resize(COUNT_HEAD.len(), String::new());
                    row
                }
            })
        })
        .collect()
}

/// The per-pair table's head and rows.
fn pair_cells(per_pair: &PerPair) -> (Vec<String>, Vec<Vec<String>>) {
    let mut head = vec!["build".to_string()];
    head.extend(callgrind::CASES.iter().map(|c| c.name.to_string()));
    let rows = per_pair
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
    (head, rows)
}

fn print_tables(
    x: &Report<'_>,
    cells: &[Vec<String>],
    count_cells: &[Vec<String>],
    pair_head: &[&str],
    pair_cells: &[Vec<String>],
) {
    let reps = x.ctx.reps;
    println!(
        "\nstats-overhead ({} scale, {reps} pair{} per workload): time with stats / time without, per pair; \
         overhead = median pair ratio − 1 (goal: under {GOAL_PCT} %)\n",
        x.ctx.scale,
        if reps == 1 { "" } else { "s" }
    );
    print!("{}", report::text_table(&HEAD, cells, 2));
    println!();
    for r in x.rows {
        println!(
            "goal, {} {}: {}",
            r.workload,
            r.variant,
            r.verdict().replace("**", "")
        );
    }
    if !count_cells.is_empty() {
        println!("\ninstructions (callgrind, whole program, scaled-down runs):\n");
        print!("{}", report::text_table(&COUNT_HEAD, count_cells, 3));
    }
    if !pair_cells.is_empty() {
        println!("\ninstructions per allocation/free pair (callgrind, `masu-work pairs`):\n");
        print!("{}", report::text_table(pair_head, pair_cells, 1));
    }
}

/// The Markdown section.
fn markdown(
    x: &Report<'_>,
    cells: &[Vec<String>],
    count_cells: &[Vec<String>],
    pair_head: &[&str],
    pair_cells: &[Vec<String>],
) -> String {
    let ctx = x.ctx;
    let mut md = crate::env::header(
        ctx,
        "Cost of the statistics counters",
        &format!("{} / {}", x.load.0, x.load.1),
    );
    let _ = write!(
        md,
        "masu built with its `stats` feature (the default: masu-core counts allocations, frees, live and \
         peak bytes: one add per allocation on the fast path, folded in on slow paths) against the same build without it. Both come \
         from `{}`, each into its own target directory; masu-core's features per `cargo tree`: with \
         `{}`, without `{}`. Check before measuring: the `MASU_STATS` report of one `masu-work tiny` run \
         counted {}.\n\n",
        x.builds.command,
        x.builds.on_features,
        x.builds.off_features,
        x.checks
            .iter()
            .map(|(n, w, wo)| format!("{w} allocations with stats and {wo} without ({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    md.push_str(&crate::allocator_legend(ctx));
    let _ = write!(
        md,
        "\nEach workload ({} scale) runs in {} pairs: one run with stats and one without, back to back, \
         the order alternating from pair to pair, the workloads interleaved. {} A pair's ratio is its time \
         with stats over its time without (time: the workload's measured phase); the overhead is the median \
         of the pair ratios − 1, with the interquartile range of the ratios and a 95 % percentile-bootstrap \
         interval of their median ({BOOTSTRAP} resamples; none with fewer than {MIN_PAIRS_FOR_INTERVAL} pairs). `ratio of medians`: the median time with stats \
         over the median time without; `slower with stats`: pairs whose run with stats took longer. Goal: \
         under {GOAL_PCT} %.\n\n",
        ctx.scale,
        ctx.reps,
        match x.pin_cpu {
            Some(c) => format!(
                "Single-threaded workloads ({}) run pinned to CPU {c} with `taskset`; the others are not pinned.",
                x.workloads
                    .iter()
                    .filter(|w| SINGLE_THREADED.contains(&w.as_str()))
                    .map(|w| format!("`{w}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "No run is pinned to a CPU.".to_string(),
        }
    );
    md.push_str(&report::md_table(&HEAD, cells, 2));
    md.push('\n');
    for r in x.rows {
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
            report::md_table(&COUNT_HEAD, count_cells, 3)
        );
    }
    if !pair_cells.is_empty() {
        let _ = write!(
            md,
            "\nInstructions per allocation/free pair, as in the callgrind section (`masu-work pairs`, only \
             inside the `masu_bench_pairs_*` functions):\n\n{}",
            report::md_table(pair_head, pair_cells, 1)
        );
    }
    md.push_str("\n![stats-overhead.svg](stats-overhead.svg)\n");

    md
}

/// The chart: each workload's median overhead with its interval, and the
/// instruction overhead.
fn chart(x: &Report<'_>) -> Result<String, String> {
    let ctx = x.ctx;
    let groups: Vec<(String, Vec<charts::Bar>)> = x
        .rows
        .iter()
        .map(|r| {
            let label = if x.variants > 1 {
                format!("{} ({})", r.workload, r.variant)
            } else {
                r.workload.clone()
            };
            let mut bars = vec![charts::Bar {
                name: "time".into(),
                colour: plotters::style::RGBColor(0xd6, 0x27, 0x28),
                value: (r.median_ratio - 1.0) * 100.0,
                interval: Some(((r.boot.0 - 1.0) * 100.0, (r.boot.1 - 1.0) * 100.0))
                    .filter(|(a, b)| a.is_finite() && b.is_finite()),
            }];
            if let Some(Ok(c)) = &r.count {
                bars.push(charts::Bar {
                    name: "instructions".into(),
                    colour: plotters::style::RGBColor(0x7f, 0x7f, 0x7f),
                    value: (c.with as f64 / c.without as f64 - 1.0) * 100.0,
                    interval: None,
                });
            }
            (label, bars)
        })
        .collect();
    charts::percent_bars(
        &format!(
            "Cost of masu's statistics counters ({} scale, {} pair{})",
            ctx.scale,
            ctx.reps,
            if ctx.reps == 1 { "" } else { "s" }
        ),
        "with stats / without − 1",
        &groups,
        Some((GOAL_PCT, "goal: under +1 %")),
        "time: median of the pair ratios, whisker: its 95 % bootstrap interval; instructions: callgrind",
    )
}

/// A row of stats-overhead.csv.
#[derive(Serialize)]
struct CsvRow<'a> {
    workload: &'a str,
    build: &'a str,
    pairs: usize,
    planned_pairs: usize,
    secs_with_stats: f64,
    secs_without_stats: f64,
    ops_per_s_with_stats: f64,
    ops_per_s_without_stats: f64,
    ratio_of_medians: f64,
    median_pair_ratio: f64,
    pair_ratio_q1: f64,
    pair_ratio_q3: f64,
    bootstrap95_lo: f64,
    bootstrap95_hi: f64,
    pairs_slower_with_stats: usize,
    callgrind_args: String,
    callgrind_runs_per_build: Option<usize>,
    callgrind_spread: Option<f64>,
    instructions_with_stats: Option<u64>,
    instructions_without_stats: Option<u64>,
    instruction_ratio: Option<f64>,
    instructions_added_per_op: Option<f64>,
}

impl<'a> CsvRow<'a> {
    fn of(r: &'a Row) -> CsvRow<'a> {
        let c = r.count.as_ref().and_then(|c| c.as_ref().ok());
        CsvRow {
            workload: &r.workload,
            build: r.variant,
            pairs: r.pairs.len(),
            planned_pairs: r.planned,
            secs_with_stats: round(r.secs_with, 6),
            secs_without_stats: round(r.secs_without, 6),
            ops_per_s_with_stats: round(r.ops_with, 1),
            ops_per_s_without_stats: round(r.ops_without, 1),
            ratio_of_medians: round(r.ratio_of_medians, 6),
            median_pair_ratio: round(r.median_ratio, 6),
            pair_ratio_q1: round(r.q1, 6),
            pair_ratio_q3: round(r.q3, 6),
            bootstrap95_lo: round(r.boot.0, 6),
            bootstrap95_hi: round(r.boot.1, 6),
            pairs_slower_with_stats: r.slower,
            callgrind_args: c.map(|c| c.args.join(" ")).unwrap_or_default(),
            callgrind_runs_per_build: c.map(|c| c.with_runs.len()),
            callgrind_spread: c.map(|c| round(c.spread(), 6)),
            instructions_with_stats: c.map(|c| c.with),
            instructions_without_stats: c.map(|c| c.without),
            instruction_ratio: c.map(|c| round(c.with as f64 / c.without as f64, 6)),
            instructions_added_per_op: c
                .map(|c| round((c.with as f64 - c.without as f64) / c.ops as f64, 3)),
        }
    }
}

/// A row of stats-overhead-runs.csv and a run of stats-overhead.json.
#[derive(Serialize)]
struct RunRow<'a> {
    workload: &'a str,
    allocator: &'a str,
    stats: bool,
    pair: usize,
    first_in_pair: bool,
    ok: bool,
    status: &'a str,
    secs: f64,
    ops: u64,
    ops_per_s: f64,
    wall_s: f64,
    user_s: f64,
    sys_s: f64,
    rss_hwm_kb: u64,
    checksum: &'a str,
}

impl<'a> RunRow<'a> {
    fn of(r: &'a Run, first: bool) -> RunRow<'a> {
        RunRow {
            workload: &r.workload,
            allocator: &r.alloc,
            stats: !r.alloc.ends_with("-nostats"),
            pair: r.rep,
            first_in_pair: first,
            ok: r.ok,
            status: &r.status,
            secs: round(r.secs, 6),
            ops: r.ops,
            ops_per_s: round(r.ops_per_s, 1),
            wall_s: round(r.out.wall_s, 3),
            user_s: round(r.out.user_s, 3),
            sys_s: round(r.out.sys_s, 3),
            rss_hwm_kb: r.out.hwm_kb,
            checksum: &r.checksum,
        }
    }
}

/// stats-overhead.json.
#[derive(Serialize)]
struct Json<'a> {
    meta: Meta<'a>,
    allocators: Vec<Named<'a>>,
    build_check: Vec<BuildCheck<'a>>,
    summary: Vec<SummaryJson<'a>>,
    instructions_per_pair: Vec<PerPairJson<'a>>,
    runs: Vec<RunRow<'a>>,
}

#[derive(Serialize)]
struct Meta<'a> {
    command: &'a str,
    date: &'a str,
    commit: String,
    machine: &'a str,
    scale: &'a str,
    pairs: usize,
    goal_pct: f64,
    bootstrap_resamples: usize,
    load_before: &'a str,
    load_after: &'a str,
    pinned_cpu: Option<usize>,
    pin_requested: bool,
    build_command: &'a str,
    build_with_stats: String,
    build_without_stats: String,
    masu_core_with_stats: &'a str,
    masu_core_without_stats: &'a str,
}

#[derive(Serialize)]
struct Named<'a> {
    name: &'a str,
    what: &'a str,
}

#[derive(Serialize)]
struct BuildCheck<'a> {
    build: &'a str,
    allocations_counted_with_stats: u64,
    allocations_counted_without: u64,
}

#[derive(Serialize)]
struct SummaryJson<'a> {
    workload: &'a str,
    build: &'a str,
    pairs: usize,
    planned_pairs: usize,
    secs_with_stats: f64,
    secs_without_stats: f64,
    ops_per_s_with_stats: f64,
    ops_per_s_without_stats: f64,
    ratio_of_medians: f64,
    median_pair_ratio: f64,
    pair_ratio_q1: f64,
    pair_ratio_q3: f64,
    bootstrap95: [f64; 2],
    pairs_slower_with_stats: usize,
    goal_met: bool,
    callgrind: Option<CountJson<'a>>,
    pair_list: Vec<PairJson>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum CountJson<'a> {
    Counted {
        args: String,
        instructions_with_stats: u64,
        instructions_without_stats: u64,
        runs_with_stats: &'a [u64],
        runs_without_stats: &'a [u64],
        spread: f64,
        ratio: f64,
        ops: u64,
        added_per_op: f64,
    },
    Failed {
        error: &'a str,
    },
}

#[derive(Serialize)]
struct PairJson {
    pair: usize,
    first: &'static str,
    secs_with_stats: f64,
    secs_without_stats: f64,
    ratio: f64,
}

#[derive(Serialize)]
struct PerPairJson<'a> {
    build: &'a str,
    case: &'static str,
    size: usize,
    pairs: usize,
    instructions_per_pair: Option<f64>,
}

fn summary_json(r: &Row) -> SummaryJson<'_> {
    SummaryJson {
        workload: &r.workload,
        build: r.variant,
        pairs: r.pairs.len(),
        planned_pairs: r.planned,
        secs_with_stats: r.secs_with,
        secs_without_stats: r.secs_without,
        ops_per_s_with_stats: r.ops_with,
        ops_per_s_without_stats: r.ops_without,
        ratio_of_medians: r.ratio_of_medians,
        median_pair_ratio: r.median_ratio,
        pair_ratio_q1: r.q1,
        pair_ratio_q3: r.q3,
        bootstrap95: [r.boot.0, r.boot.1],
        pairs_slower_with_stats: r.slower,
        goal_met: r.median_ratio.is_finite() && (r.median_ratio - 1.0) * 100.0 < GOAL_PCT,
        callgrind: r.count.as_ref().map(|c| match c {
            Ok(c) => CountJson::Counted {
                args: c.args.join(" "),
                instructions_with_stats: c.with,
                instructions_without_stats: c.without,
                runs_with_stats: &c.with_runs,
                runs_without_stats: &c.without_runs,
                spread: c.spread(),
                ratio: c.with as f64 / c.without as f64,
                ops: c.ops,
                added_per_op: (c.with as f64 - c.without as f64) / c.ops as f64,
            },
            Err(e) => CountJson::Failed { error: e },
        }),
        pair_list: r
            .pairs
            .iter()
            .map(|p| PairJson {
                pair: p.index,
                first: if p.with_first { "with" } else { "without" },
                secs_with_stats: p.with,
                secs_without_stats: p.without,
                ratio: p.with / p.without,
            })
            .collect(),
    }
}

fn json<'a>(x: &'a Report<'a>) -> Json<'a> {
    let ctx = x.ctx;
    Json {
        meta: Meta {
            command: &ctx.command,
            date: &ctx.date,
            commit: crate::env::commit(),
            machine: &ctx.machine,
            scale: &ctx.scale,
            pairs: ctx.reps,
            goal_pct: GOAL_PCT,
            bootstrap_resamples: BOOTSTRAP,
            load_before: x.load.0,
            load_after: x.load.1,
            pinned_cpu: x.pin_cpu,
            pin_requested: x.o.pin,
            build_command: &x.builds.command,
            build_with_stats: x.builds.on.to_string_lossy().into_owned(),
            build_without_stats: x.builds.off.to_string_lossy().into_owned(),
            masu_core_with_stats: &x.builds.on_features,
            masu_core_without_stats: &x.builds.off_features,
        },
        allocators: ctx
            .allocator_info
            .iter()
            .map(|(name, what)| Named { name, what })
            .collect(),
        build_check: x
            .checks
            .iter()
            .map(|&(build, w, wo)| BuildCheck {
                build,
                allocations_counted_with_stats: w,
                allocations_counted_without: wo,
            })
            .collect(),
        summary: x.rows.iter().map(summary_json).collect(),
        instructions_per_pair: x
            .per_pair
            .iter()
            .flat_map(|(n, cells)| {
                callgrind::CASES
                    .iter()
                    .zip(cells)
                    .map(move |(c, v)| PerPairJson {
                        build: n,
                        case: c.name,
                        size: c.size,
                        pairs: c.count,
                        instructions_per_pair: v.as_ref().ok().copied(),
                    })
            })
            .collect(),
        runs: x
            .runs
            .iter()
            .zip(x.firsts)
            .map(|(r, f)| RunRow::of(r, *f))
            .collect(),
    }
}
