//! Instructions per allocation/free pair, counted with callgrind: stable
//! figures on a noisy machine. Only the `masu_bench_pairs_*` functions of
//! the `pairs` workload are counted (see `benches/src/work/pairs.rs`).

use crate::alloc::Allocator;
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
