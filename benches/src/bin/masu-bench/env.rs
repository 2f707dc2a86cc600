//! Facts about the run for its report: date, machine, load, commit, and
//! where the built binaries are.

use crate::building;
use crate::Ctx;
use std::path::{Path, PathBuf};

/// UTC "YYYY-MM-DD HH:MM UTC".
pub fn utc_now() -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "?".into())
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

pub fn machine() -> String {
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

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The commit the run measures, read once, before the run writes its own
/// result files (which would otherwise count as uncommitted changes).
pub fn commit() -> String {
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
pub fn dirs() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe()
        .unwrap_or_else(|_| building::root().join("target/release/masu-bench"));
    let profile_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let target = profile_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| building::root().join("target"));
    (target.join("release"), target)
}

pub fn header(ctx: &Ctx, title: &str, load: &str) -> String {
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

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil() {
        let d = super::utc_now();
        assert_eq!(d.len(), "2026-01-01 00:00 UTC".len(), "{d}");
        let month: u32 = d[5..7].parse().unwrap();
        let day: u32 = d[8..10].parse().unwrap();
        assert!((1..=12).contains(&month) && (1..=31).contains(&day), "{d}");
    }
}
