//! Runs one workload process and samples its resident set.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The sampling period.
pub const PERIOD: Duration = Duration::from_millis(10);

/// A `phase` line of the workload.
#[derive(Clone, Debug)]
pub struct Phase {
    /// Its name.
    pub name: String,
    /// Milliseconds since the workload's start-up.
    pub t_ms: f64,
    /// The resident set the workload read itself, KiB.
    pub rss_kb: u64,
}

/// What one child process did.
#[derive(Clone, Debug, Default)]
pub struct Output {
    /// Exited with status 0 and printed a result line.
    pub ok: bool,
    /// "ok", "exit N", "signal N", "timeout", or a spawn error.
    pub status: String,
    /// Seconds from spawn to exit.
    pub wall_s: f64,
    /// CPU seconds in user mode.
    pub user_s: f64,
    /// CPU seconds in the kernel.
    pub sys_s: f64,
    /// Peak resident set, KiB: the workload's `VmHWM` at its end (or the
    /// largest sample, if larger); `ru_maxrss` if the workload did not say.
    pub hwm_kb: u64,
    /// `(ms since spawn, VmRSS KiB)`, every [`PERIOD`].
    pub samples: Vec<(f64, u64)>,
    /// The `KEY=VALUE` pairs of the result line.
    pub result: BTreeMap<String, String>,
    /// The phase lines.
    pub phases: Vec<Phase>,
    /// The end of stderr (for failures).
    pub stderr_tail: String,
}

fn vm_rss_kb(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn tv_secs(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6
}

/// Runs `program args` with `LD_PRELOAD=preload` (if any) and extra `env`,
/// sampling `/proc/PID/status` every [`PERIOD`] until it exits; kills it
/// after `timeout`.
pub fn run(
    program: &Path,
    args: &[String],
    preload: Option<&Path>,
    env: &[(String, String)],
    timeout: Duration,
) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("LD_PRELOAD");
    if let Some(lib) = preload {
        cmd.env("LD_PRELOAD", lib);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let t0 = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Output {
                status: format!("cannot start {}: {e}", program.display()),
                ..Output::default()
            }
        }
    };
    let pid = child.id() as i32;
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let mut o = Output::default();
    let Some((status, ru, timed_out)) = sample_until_exit(pid, t0, timeout, &mut o) else {
        return o;
    };
    o.wall_s = t0.elapsed().as_secs_f64();
    o.user_s = tv_secs(ru.ru_utime);
    o.sys_s = tv_secs(ru.ru_stime);
    o.hwm_kb = ru.ru_maxrss as u64;
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let tail_from = stderr.char_indices().rev().nth(2000).map_or(0, |(i, _)| i);
    o.stderr_tail = stderr[tail_from..].to_string();
    parse_stdout(&stdout, &mut o);
    o.status = describe_status(status, timed_out);
    // `ru_maxrss` counts the runner's own pages the child had between fork
    // and exec; the child's `VmHWM` at its end does not.
    if let Some(hwm) = o.result.get("hwm_kb").and_then(|v| v.parse::<u64>().ok()) {
        let sampled = o.samples.iter().map(|s| s.1).max().unwrap_or(0);
        o.hwm_kb = hwm.max(sampled);
    }
    o.ok = o.status == "ok" && o.result.contains_key("secs");
    if o.status == "ok" && !o.ok {
        o.status = "no result line".to_string();
    }
    o
}

/// Samples the child's resident set every [`PERIOD`] until it exits
/// (killing it past `timeout`); returns its wait status, its resource use
/// and whether it timed out, or None (with `o.status` set) when `wait4`
/// fails.
fn sample_until_exit(
    pid: i32,
    t0: Instant,
    timeout: Duration,
    o: &mut Output,
) -> Option<(i32, libc::rusage, bool)> {
    let mut next = t0;
    let mut timed_out = false;
    loop {
        if let Some(kb) = vm_rss_kb(pid) {
            o.samples.push((t0.elapsed().as_secs_f64() * 1e3, kb));
        }
        let mut status = 0;
        // SAFETY: a zeroed rusage is a valid out-parameter.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our child; both out-pointers are valid.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            return Some((status, ru, timed_out));
        }
        if r < 0 {
            o.status = format!("wait4 failed: {}", std::io::Error::last_os_error());
            return None;
        }
        if !timed_out && t0.elapsed() > timeout {
            timed_out = true;
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        next += PERIOD;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
}

/// Reads the workload's `result` and `phase` lines into `o`.
fn parse_stdout(stdout: &str, o: &mut Output) {
    for line in stdout.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("result") => {
                for w in words {
                    if let Some((k, v)) = w.split_once('=') {
                        o.result.insert(k.to_string(), v.to_string());
                    }
                }
            }
            Some("phase") => {
                let name = words.next().unwrap_or("").to_string();
                let mut p = Phase {
                    name,
                    t_ms: 0.0,
                    rss_kb: 0,
                };
                for w in words {
                    match w.split_once('=') {
                        Some(("t_ms", v)) => p.t_ms = v.parse().unwrap_or(0.0),
                        Some(("rss_kb", v)) => p.rss_kb = v.parse().unwrap_or(0),
                        _ => {}
                    }
                }
                o.phases.push(p);
            }
            _ => {}
        }
    }
}

/// "ok", "exit N", "signal N", "timeout" or "status N".
fn describe_status(status: i32, timed_out: bool) -> String {
    if timed_out {
        "timeout".to_string()
    } else if libc::WIFEXITED(status) {
        match libc::WEXITSTATUS(status) {
            0 => "ok".to_string(),
            c => format!("exit {c}"),
        }
    } else if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {status}")
    }
}

/// Mean, 95th percentile and maximum of the sampled resident set, KiB.
pub fn rss_stats(samples: &[(f64, u64)]) -> (f64, u64, u64) {
    if samples.is_empty() {
        return (0.0, 0, 0);
    }
    let mut v: Vec<u64> = samples.iter().map(|s| s.1).collect();
    let mean = v.iter().sum::<u64>() as f64 / v.len() as f64;
    v.sort_unstable();
    let p95 = v[((v.len() as f64 * 0.95).ceil() as usize).clamp(1, v.len()) - 1];
    (mean, p95, *v.last().unwrap())
}
