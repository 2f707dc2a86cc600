//! The benchmark workloads (`masu-work`, `benches/src/work/`) at a tiny
//! scale: each runs to completion, reads back every block as it was
//! written, and folds the same checksum under glibc's malloc and under
//! masu as the global allocator (`masu-work-masu`). A checksum that differs
//! means an allocator lost or mixed up a block.

use std::collections::BTreeMap;
use std::process::Command;

/// Each workload with parameters small enough for a debug build.
const TINY: &[(&str, &[&str])] = &[
    ("dist", &["ops=20000"]),
    ("dist-touch", &["ops=20000"]),
    ("server", &["ops=4000", "live=500"]),
    ("producer-consumer", &["ops=5000"]),
    ("random-mt", &["ops=4000", "slots=200"]),
    ("realloc-grow", &["rounds=100"]),
    ("large", &["ops=6", "slots=3"]),
    ("burst-idle", &["burst_mib=8", "idle_ms=100"]),
    ("thread-churn", &["threads=24"]),
    // A tool, not in the comparison table, but checked the same way.
    ("pause-burst", &["rounds=3", "blocks=300", "pause_ms=20"]),
];

fn run(exe: &str, workload: &str, params: &[&str]) -> BTreeMap<String, String> {
    let out = Command::new(exe)
        .arg(workload)
        .args(params)
        .env_remove("LD_PRELOAD")
        .output()
        .expect("workload starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{exe} {workload}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("result "))
        .unwrap_or_else(|| panic!("{exe} {workload}: no result line in {stdout}"));
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_workload_agrees_under_glibc_and_masu() {
    for (w, params) in TINY {
        let glibc = run(env!("CARGO_BIN_EXE_masu-work"), w, params);
        let masu = run(env!("CARGO_BIN_EXE_masu-work-masu"), w, params);
        for r in [&glibc, &masu] {
            assert_eq!(r["corrupt"], "0", "{w}: {r:?}");
            assert_ne!(r["ops"], "0", "{w}: {r:?}");
            assert!(r["hwm_kb"].parse::<u64>().unwrap() > 0, "{w}: {r:?}");
        }
        assert_eq!(
            glibc["checksum"], masu["checksum"],
            "{w}: {glibc:?} vs {masu:?}"
        );
        assert_eq!(glibc["ops"], masu["ops"], "{w}");
    }
}

#[test]
fn burst_idle_reports_each_phase() {
    let out = Command::new(env!("CARGO_BIN_EXE_masu-work"))
        .args(["burst-idle", "burst_mib=16", "idle_ms=120"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let phases: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("phase "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(phases.first(), Some(&"pre"), "{stdout}");
    assert_eq!(phases.get(1), Some(&"burst"), "{stdout}");
    assert_eq!(phases.get(2), Some(&"freed"), "{stdout}");
    assert!(
        phases.iter().filter(|p| **p == "idle").count() >= 2,
        "{stdout}"
    );
    assert_eq!(phases.last(), Some(&"end"), "{stdout}");
    // The burst made at least its 16 MiB resident.
    let rss = |name: &str| -> u64 {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("phase {name} ")))
            .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("rss_kb=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(rss("burst") >= rss("pre") + 16 * 1024 - 1024, "{stdout}");
}

#[test]
fn an_unknown_workload_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_masu-work"))
        .arg("no-such-workload")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
