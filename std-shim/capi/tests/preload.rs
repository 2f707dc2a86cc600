//! Real programs from the machine run with `LD_PRELOAD=libmasu.so` and must
//! print exactly what they print without it. Programs that are not installed
//! are skipped, but at least two must run. A run with `MASU_STATS=1` checks
//! that masu really was the allocator.

mod common;

use common::{libmasu, run_preloaded};
use std::path::PathBuf;
use std::process::{Command, Output};

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn scratch() -> PathBuf {
    let dir = common::profile_dir()
        .join("masu-capi-tests")
        .join("preload");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `args` with and without masu; returns false when the program is
/// missing, panics when the outputs differ.
fn same_output(args: &[&str]) -> bool {
    same_output_with(args, &[])
}

/// [`same_output`] with masu's options `env`.
fn same_output_with(args: &[&str], env: &[(&str, &str)]) -> bool {
    if !have(args[0]) {
        println!("skipped (not installed): {}", args[0]);
        return false;
    }
    let cmd = || {
        let mut c = Command::new(args[0]);
        c.args(&args[1..])
            .current_dir(scratch())
            .env_remove("LD_PRELOAD");
        c
    };
    let plain: Output = cmd().output().unwrap();
    let masu = run_preloaded(&mut cmd(), env);
    assert_eq!(
        masu.status.code(),
        plain.status.code(),
        "{args:?}: exit status with masu {:?}, without {:?}\nstderr with masu:\n{}",
        masu.status,
        plain.status,
        String::from_utf8_lossy(&masu.stderr)
    );
    assert!(
        masu.stdout == plain.stdout,
        "{args:?}: stdout differs with masu ({} vs {} bytes)",
        masu.stdout.len(),
        plain.stdout.len()
    );
    assert!(
        masu.stderr == plain.stderr,
        "{args:?}: stderr differs with masu:\n{}\n---- without:\n{}",
        String::from_utf8_lossy(&masu.stderr),
        String::from_utf8_lossy(&plain.stderr)
    );
    println!("same output: {}", args.join(" "));
    true
}

/// 200,000 shuffled lines to sort.
fn sort_input() -> PathBuf {
    let path = scratch().join("numbers.txt");
    let mut x: u64 = 0x1234_5678;
    let mut s = String::new();
    for i in 0..200_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(&format!("{} line {}\n", x % 1_000_000, i));
    }
    std::fs::write(&path, s).unwrap();
    path
}

const PYTHON: &str = r#"
import json, threading, collections, hashlib
def work(n, out):
    d = [{"k": i, "v": "x" * (i % 700), "l": list(range(i % 50))} for i in range(20000)]
    s = json.dumps(d)
    out[n] = hashlib.sha256(s.encode()).hexdigest()
out = {}
ts = [threading.Thread(target=work, args=(n, out)) for n in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
big = [bytearray(1 << 20) for _ in range(64)]
del big
print(sorted(out.items()))
print(collections.Counter(len(str(i)) for i in range(300000)))
"#;

#[test]
fn real_programs_print_the_same_with_masu() {
    let input = sort_input();
    let input = input.to_str().unwrap();
    let c_file = scratch().join("hello.c");
    std::fs::write(
        &c_file,
        "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 6 * 7); return 0; }\n",
    )
    .unwrap();
    let c_file = c_file.to_str().unwrap();
    let object = scratch().join("hello.o");
    let object = object.to_str().unwrap();
    let runs: Vec<Vec<&str>> = vec![
        vec!["sort", input],
        vec!["sort", "-n", "--parallel=4", "-S", "4M", input],
        vec!["python3", "-c", PYTHON],
        vec!["git", "--version"],
        vec!["git", "hash-object", input],
        vec!["gcc", "--version"],
        vec!["gcc", "-O2", "-c", c_file, "-o", object],
        vec!["gcc", "-E", "-dM", c_file],
    ];
    let ran = runs.iter().filter(|r| same_output(r)).count();
    assert!(ran >= 2, "only {ran} of the programs are installed");
    // Again with the heaps' arenas serving 2049 B to 32 KiB.
    if cfg!(feature = "arenas") {
        let arenas = [("MASU_ARENA_ABOVE", "2048")];
        let ran = runs.iter().filter(|r| same_output_with(r, &arenas)).count();
        assert!(ran >= 2, "only {ran} of the programs are installed");
    }
}

#[test]
fn masu_is_the_allocator_of_a_preloaded_program() {
    if !have("sort") {
        return;
    }
    let out = run_preloaded(
        Command::new("sort").arg(libmasu()).env("LC_ALL", "C"),
        &[("MASU_STATS", "1")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("masu statistics"), "{stderr}");
    let allocs: u64 = stderr
        .lines()
        .find(|l| l.contains("blocks allocated"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(allocs > 0, "{stderr}");
}

/// `MASU_STATS=json` prints one JSON object at exit (masu's `Snapshot`, see
/// `std-shim/tests/snapshot.rs` for its round trip through serde) with
/// figures that make sense.
#[test]
fn masu_stats_json_is_one_snapshot() {
    if !have("sort") {
        return;
    }
    let out = run_preloaded(
        Command::new("sort").arg(libmasu()).env("LC_ALL", "C"),
        &[("MASU_STATS", "json")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in: {stderr}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let n = |section: &str, field: &str| {
        v[section][field]
            .as_u64()
            .unwrap_or_else(|| panic!("{section}.{field} missing in {line}"))
    };
    assert!(n("stats", "alloc_count") > 0, "{line}");
    assert!(
        n("stats", "free_count") <= n("stats", "alloc_count"),
        "{line}"
    );
    assert!(
        n("os", "committed_bytes") <= n("os", "reserved_bytes"),
        "{line}"
    );
    assert!(
        n("os", "peak_committed_bytes") >= n("os", "committed_bytes"),
        "{line}"
    );
    assert!(n("pool", "heaps") >= 1, "{line}");
    assert!(
        v["breakdown"]["headers"].is_u64() && v["purger_passes"].is_u64(),
        "{line}"
    );
    assert_eq!(
        v["stats"]["pages_per_class"].as_array().map(Vec::len),
        Some(88),
        "{line}"
    );
    // One object and nothing of the text report.
    assert!(!stderr.contains("masu statistics"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with('{')).count(),
        1,
        "{stderr}"
    );
}

/// masu's `fork` handlers are registered only once a process needs them
/// (`lifecycle.rs`): a process that never had a second thread forks without
/// them (and keeps the 64 KiB of libc that registering them maps in); one
/// that started a thread, or whose purger started, has them. Every child
/// allocates and starts a thread after the fork.
#[test]
fn fork_handlers_are_registered_once_a_second_thread_needs_them() {
    let exe = common::compile_c("fork_handlers");
    let handlers = |mode: &str, background: &str| {
        let out = run_preloaded(
            Command::new(&exe).arg(mode),
            &[("MASU_STATS", "json"), ("MASU_BACKGROUND", background)],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{mode}: {:?} {stderr}", out.status);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok", "{mode}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no JSON line in: {stderr}"));
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let n = |field: &str| {
            v["pool"][field]
                .as_u64()
                .unwrap_or_else(|| panic!("{line}"))
        };
        (n("fork_handlers"), n("forks"))
    };
    assert_eq!(handlers("single", "0").0, 0, "one thread: no handlers");
    assert_eq!(handlers("threaded", "0").0, 1, "a second thread: handlers");
    assert_eq!(handlers("purger", "1").0, 1, "the purger: handlers");
}
