//! Building what the runner runs: the workload binaries, `libmasu.so`, the
//! `fixed_region` example, and (for `stats-overhead`) masu with and
//! without its `stats` feature.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (this crate's parent directory).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ has a parent")
        .to_path_buf()
}

/// `$CARGO` (set by `cargo run`), else `cargo`.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    eprintln!("masu-bench: {what}");
    let st = cmd
        .status()
        .map_err(|e| format!("cannot run cargo ({what}): {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({st})"))
    }
}

/// Builds, in release, into `target_dir`: `libmasu.so`, the workload
/// binaries (with `rust_allocators`, also the mimalloc and jemalloc crate
/// builds) and the `fixed_region` example.
/// The workload programs a comparison with `features` runs.
fn workload_bins(features: &[&str]) -> Vec<&'static str> {
    let mut bins = vec!["masu-work", "masu-work-masu"];
    let all = features.contains(&"rust-allocators");
    if all || features.contains(&"rust-mimalloc") {
        bins.push("masu-work-mimalloc");
    }
    if all || features.contains(&"rust-jemalloc") {
        bins.push("masu-work-jemalloc");
    }
    bins
}

pub fn build_all(target_dir: &Path, features: &[&str]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.current_dir(root())
        .args(["build", "--release", "--quiet", "--target-dir"])
        .arg(target_dir)
        .args(["-p", "masu-capi", "-p", "masu-bench", "--lib"])
        .args(["--example", "fixed_region"]);
    // The workload programs only: not this runner, which `scripts/compare`
    // has just built without the stand-in features (linking it again with
    // them, thin LTO and all, costs the first run on a fresh machine about
    // ten seconds and gains nothing).
    for bin in workload_bins(features) {
        cmd.args(["--bin", bin]);
    }
    for f in features {
        cmd.arg("--features").arg(format!("masu-bench/{f}"));
    }
    let note = if features.is_empty() {
        String::new()
    } else {
        format!(
            " (with {}: the first build compiles the C allocators, up to a minute)",
            features.join(", ")
        )
    };
    run(cmd, &format!("building libmasu.so and the workloads{note}"))
}

/// The two builds `stats-overhead` compares: the same command into two
/// target directories, once with the default features and once with
/// `--no-default-features` (masu-bench's, masu's, masu-capi's and so
/// masu-core's `stats` off).
pub struct StatsBuilds {
    /// `target/masu-bench/stats-on/release`.
    pub on: PathBuf,
    /// `target/masu-bench/stats-off/release`.
    pub off: PathBuf,
    /// masu-core's features in each, per `cargo tree`.
    pub on_features: String,
    /// The same for the stats-off build.
    pub off_features: String,
    /// The cargo command of each (the off one adds `--no-default-features`).
    pub command: String,
}

/// The cargo arguments of both `stats-overhead` builds (before the
/// features flag).
const STATS_BUILD_ARGS: &[&str] = &[
    "build",
    "--release",
    "--quiet",
    "-p",
    "masu-capi",
    "-p",
    "masu-bench",
    "--lib",
    "--bin",
    "masu-work",
    "--bin",
    "masu-work-masu",
];

/// Builds (unless `build` is false) `libmasu.so`, `masu-work` and
/// `masu-work-masu` with and without the `stats` feature, each into its own
/// target directory under `target_dir/masu-bench/` so that neither build
/// invalidates the other, nor the main one.
pub fn build_stats_pair(target_dir: &Path, build: bool) -> Result<StatsBuilds, String> {
    let base = target_dir.join("masu-bench");
    let mut dirs = Vec::new();
    for (name, off) in [("stats-on", false), ("stats-off", true)] {
        let dir = base.join(name);
        if build {
            let mut cmd = cargo();
            cmd.current_dir(root())
                .args(STATS_BUILD_ARGS)
                .arg("--target-dir")
                .arg(&dir);
            if off {
                cmd.arg("--no-default-features");
            }
            run(
                cmd,
                &format!(
                    "building libmasu.so, masu-work and masu-work-masu {} the `stats` feature into {} \
                     (the first time: about a minute)",
                    if off { "without" } else { "with" },
                    dir.display()
                ),
            )?;
        }
        let release = dir.join("release");
        for f in ["libmasu.so", "masu-work", "masu-work-masu"] {
            if !release.join(f).exists() {
                return Err(format!(
                    "{} is missing (run without --no-build)",
                    release.join(f).display()
                ));
            }
        }
        dirs.push(release);
    }
    let off = dirs.pop().unwrap_or_default();
    let on = dirs.pop().unwrap_or_default();
    Ok(StatsBuilds {
        on,
        off,
        on_features: core_features(false),
        off_features: core_features(true),
        command: format!(
            "cargo {} --target-dir target/masu-bench/stats-{{on,off}} [--no-default-features]",
            STATS_BUILD_ARGS
                .iter()
                .filter(|a| **a != "--quiet")
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
        ),
    })
}

/// masu-core's enabled features in the stats-overhead build (with or
/// without default features), per `cargo tree`.
pub fn core_features(no_default: bool) -> String {
    let mut cmd = cargo();
    cmd.current_dir(root()).args([
        "tree",
        "--offline",
        "-p",
        "masu-capi",
        "-p",
        "masu-bench",
        "-e",
        "normal",
        "-i",
        "masu-core",
        "--depth",
        "0",
        "-f",
        "{p} features=[{f}]",
    ]);
    if no_default {
        cmd.arg("--no-default-features");
    }
    match cmd.output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .find(|l| l.contains("masu-core v"))
            .map(|l| l.trim().to_string())
            .unwrap_or_else(|| "masu-core not found in cargo tree".into()),
        Ok(o) => format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("cargo tree failed: {e}"),
    }
}
