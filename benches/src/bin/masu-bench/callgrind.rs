//! Instructions per allocation/free pair, counted with callgrind: stable
//! figures on a noisy machine. Only the `masu_bench_pairs_*` functions of
//! the `pairs` workload are counted (see `benches/src/work/pairs.rs`).

use crate::alloc::Allocator;
use crate::cli::Opts;
use crate::env::{dirs, header, loadavg};
use crate::progress::Progress;
use crate::{allocators, ctx_for, report, skipped_note};
use std::path::Path;
use std::process::Command;

/// One measured case.
pub struct Case {
    /// Its name in tables.
    pub name: &'static str,
    /// Block size.
    pub size: usize,
    /// Pairs.
    pub count: usize,
    /// Allocated on one thread, freed on another.
    pub cross: bool,
}

/// The cases: a small, a medium and a large size class, a block above
/// every allocator's size classes, and small blocks freed by another thread.
pub const CASES: &[Case] = &[
    Case {
        name: "small 32 B",
        size: 32,
        count: 200_000,
        cross: false,
    },
    Case {
        name: "medium 1000 B",
        size: 1000,
        count: 200_000,
        cross: false,
    },
    Case {
        name: "large 16 KiB",
        size: 16 << 10,
        count: 100_000,
        cross: false,
    },
    Case {
        name: "huge 256 KiB",
        size: 256 << 10,
        count: 20_000,
        cross: false,
    },
    Case {
        name: "cross-thread 32 B",
        size: 32,
        count: 200_000,
        cross: true,
    },
];

/// Whether valgrind is there.
pub fn available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Instructions per pair of `case` under `a`, or why not.
pub fn measure(a: &Allocator, bin_dir: &Path, case: &Case, tmp: &Path) -> Result<f64, String> {
    let (program, preload) = a.program(bin_dir);
    let file = tmp.join(format!("{}-{}.out", a.name, case.name.replace(' ', "_")));
    let args = [
        "pairs".to_string(),
        format!("case={}", if case.cross { "cross" } else { "local" }),
        format!("size={}", case.size),
        format!("count={}", case.count),
    ];
    let (total, ops) = count(
        &program,
        &args,
        preload.as_deref(),
        Some("masu_bench_pairs_*"),
        &file,
    )?;
    Ok(total as f64 / ops as f64)
}

/// Runs `program args` (with `LD_PRELOAD=preload`, if any) under
/// callgrind and returns the instructions it counted (all of them, or only
/// inside the functions matching `toggle`) and the `ops=` of the workload's
/// result line.
pub fn count(
    program: &Path,
    args: &[String],
    preload: Option<&Path>,
    toggle: Option<&str>,
    file: &Path,
) -> Result<(u64, u64), String> {
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--tool=callgrind",
        "--compress-strings=no",
        "--compress-pos=no",
    ]);
    if let Some(t) = toggle {
        cmd.arg(format!("--toggle-collect={t}"));
    }
    cmd.arg(format!("--callgrind-out-file={}", file.display()))
        .arg(program)
        .args(args)
        .env_remove("LD_PRELOAD");
    if let Some(lib) = preload {
        cmd.env("LD_PRELOAD", lib);
    }
    let out = cmd.output().map_err(|e| format!("valgrind: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err.lines().rev().take(5).collect::<Vec<_>>().join(" / ");
        return Err(format!("valgrind failed ({}): {tail}", out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ops: u64 = stdout
        .lines()
        .find(|l| l.starts_with("result "))
        .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("ops=")))
        .and_then(|v| v.parse().ok())
        .ok_or("no result line")?;
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(file);
    let total: u64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or("no totals in callgrind output")?;
    Ok((total, ops))
}

pub fn callgrind_mode(o: &Opts) -> Result<(), String> {
    let (bin_dir, target) = dirs();
    if !available() {
        return Err("valgrind is not installed (sudo apt-get install valgrind)".into());
    }
    let (allocs, missing) = allocators(o, &bin_dir);
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
        CASES.iter().map(|c| format!("{} ({} pairs)", c.name, c.count)).collect::<Vec<_>>().join(", ")
    )
}

/// Markdown table and CSV of instructions per pair.
fn callgrind_table(
    allocs: &[Allocator],
    bin_dir: &Path,
    tmp: &Path,
) -> Result<(String, String), String> {
    let mut bar = Progress::new("callgrind", allocs.len() * CASES.len());
    let mut md = String::from("| allocator |");
    for c in CASES {
        md.push_str(&format!(" {} |", c.name));
    }
    md.push_str("\n| --- |");
    md.push_str(&" ---: |".repeat(CASES.len()));
    md.push('\n');
    let mut csv = String::from("allocator,case,size,pairs,instructions_per_pair\n");
    for a in allocs {
        md.push_str(&format!("| {} |", a.name));
        for c in CASES {
            let label = format!("{} · {}", a.name, c.name);
            bar.start(&label);
            let r = measure(a, bin_dir, c, tmp);
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
