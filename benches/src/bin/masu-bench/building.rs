//! Building what the runner runs: the workload binaries, `libmasu.so`, the
//! `fixed_region` example, and (for `stats-overhead`) masu without
//! masu-core's `stats` feature.

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
pub fn build_all(target_dir: &Path, rust_allocators: bool) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.current_dir(root())
        .args(["build", "--release", "--quiet", "--target-dir"])
        .arg(target_dir)
        .args(["-p", "masu-capi", "-p", "masu-bench", "--lib", "--bins"])
        .args(["--example", "fixed_region"]);
    if rust_allocators {
        cmd.args(["--features", "masu-bench/rust-allocators"]);
    }
    run(
        cmd,
        &format!(
            "building libmasu.so and the workloads{}",
            if rust_allocators {
                " (with the mimalloc and jemalloc crates: the first build compiles them from C, 1-2 minutes)"
            } else {
                ""
            }
        ),
    )
}

/// Writes `text` to `path` unless it already holds it (cargo then sees no change).
fn write_if_changed(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn link(target: &Path, at: &Path) -> Result<(), String> {
    if std::fs::read_link(at).ok().as_deref() == Some(target) {
        return Ok(());
    }
    let _ = std::fs::remove_file(at);
    std::os::unix::fs::symlink(target, at).map_err(|e| format!("{}: {e}", at.display()))
}

/// The root manifest with `masu-core`'s default features off.
///
/// Why a second workspace: `masu` (std-shim) depends on `masu-core` with
/// its default features, and cargo unifies features, so no feature of this
/// crate can turn `stats` off in a build that contains `masu`. A workspace
/// whose `[workspace.dependencies]` entry for `masu-core` says
/// `default-features = false` can: every member inherits that. Its members
/// are symbolic links to this tree's sources, so it builds exactly this
/// tree's code. (A `stats` feature on `masu` forwarding `masu-core/stats`
/// would make this unnecessary.)
pub fn nostats_manifest(root_manifest: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut skipping = false;
    let mut patched = false;
    for line in root_manifest.lines() {
        let t = line.trim_start();
        if skipping {
            skipping = !t.contains(']');
            continue;
        }
        if t.starts_with("members") || t.starts_with("exclude") {
            if t.starts_with("members") {
                out.push_str("members = [\"std-shim\", \"std-shim/capi\", \"benches\"]\n");
            }
            skipping = !t.contains(']');
            continue;
        }
        if t.starts_with("masu-core") && t.contains('{') {
            let l = line.replacen('{', "{ default-features = false,", 1);
            out.push_str(&l);
            out.push('\n');
            patched = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if patched {
        Ok(out)
    } else {
        Err(
            "the root Cargo.toml has no `masu-core = { ... }` line in [workspace.dependencies]"
                .into(),
        )
    }
}

/// Builds `libmasu.so` and `masu-work-masu` with masu-core's `stats`
/// feature off, in a generated workspace under `target_dir`; returns the
/// directory holding them and what `cargo tree` says masu-core's features are.
pub fn build_nostats(target_dir: &Path) -> Result<(PathBuf, String), String> {
    let root = root();
    let gen = target_dir.join("masu-bench").join("nostats");
    for d in ["std-shim/capi", "benches"] {
        std::fs::create_dir_all(gen.join(d)).map_err(|e| e.to_string())?;
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).map_err(|e| e.to_string())?;
    write_if_changed(&gen.join("Cargo.toml"), &nostats_manifest(&manifest)?)?;
    for f in [
        "Cargo.lock",
        "std-shim/Cargo.toml",
        "std-shim/capi/Cargo.toml",
        "benches/Cargo.toml",
    ] {
        let text = std::fs::read_to_string(root.join(f)).map_err(|e| format!("{f}: {e}"))?;
        write_if_changed(&gen.join(f), &text)?;
    }
    for l in [
        "core",
        "std-shim/src",
        "std-shim/examples",
        "std-shim/capi/src",
        "std-shim/capi/build.rs",
        "benches/src",
        "benches/examples",
    ] {
        link(&root.join(l), &gen.join(l))?;
    }
    let mut cmd = cargo();
    cmd.current_dir(&gen)
        .args(["build", "--release", "--quiet", "--offline"])
        .args([
            "-p",
            "masu-capi",
            "--lib",
            "-p",
            "masu-bench",
            "--bin",
            "masu-work-masu",
        ]);
    run(
        cmd,
        "building libmasu.so and masu-work-masu without masu-core's `stats` feature",
    )?;
    Ok((gen.join("target").join("release"), core_features(&gen)))
}

/// masu-core's enabled features in the workspace at `dir`, per `cargo tree`.
pub fn core_features(dir: &Path) -> String {
    let out = cargo()
        .current_dir(dir)
        .args([
            "tree",
            "--offline",
            "-p",
            "masu-capi",
            "-e",
            "features",
            "-f",
            "{p} features=[{f}]",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .find(|l| l.contains("masu-core v"))
            .map(|l| {
                l.trim_start_matches(|c: char| !c.is_alphanumeric())
                    .to_string()
            })
            .unwrap_or_else(|| "masu-core not found in cargo tree".into()),
        Ok(o) => format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("cargo tree failed: {e}"),
    }
}
