//! Shared by the capi tests: finding `libmasu.so` and compiling C programs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

/// `target/<profile>` of the running test binary.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The `libmasu.so` to test, built from the current sources.
///
/// `cargo test` does not build a `cdylib`-only crate for its integration
/// tests (they cannot link it), so `target/<profile>/libmasu.so` may be
/// missing or stale. The tests therefore build it themselves, once per test
/// process, with a nested `cargo build -p masu-capi` into
/// `target/masu-capi-build` (a separate target directory, so it does not
/// wait for the lock of the running `cargo test`); cargo rebuilds only what
/// changed. `MASU_TEST_LIB=/path/to/libmasu.so` tests a given library.
pub fn libmasu() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Ok(given) = std::env::var("MASU_TEST_LIB") {
                return PathBuf::from(given);
            }
            let target = profile_dir().parent().unwrap().join("masu-capi-build");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            // The tests' own features: with `arenas`, a library with them.
            let features: &[&str] = if cfg!(feature = "arenas") {
                &["--features", "arenas"]
            } else {
                &[]
            };
            let status = Command::new(cargo)
                .args(["build", "--quiet", "-p", "masu-capi"])
                .args(features)
                .arg("--target-dir")
                .arg(&target)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo");
            assert!(status.success(), "building libmasu.so failed");
            let so = target.join("debug").join("libmasu.so");
            assert!(so.exists(), "{} missing after the build", so.display());
            so
        })
        .clone()
}

/// Compiles the C program `tests/c/<name>.c` with `$CC` (default `cc`), or
/// the C++ program `tests/c/<stem>.cpp` when `name` is `<stem>.cpp`,
/// once per test process (tests run in parallel and share the result).
pub fn compile_c(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, exe)) = built.iter().find(|(n, _)| n == name) {
        return exe.clone();
    }
    let exe = compile_c_now(name);
    built.push((name.to_string(), exe.clone()));
    exe
}

fn compile_c_now(name: &str) -> PathBuf {
    // `name.cpp` is C++, compiled with `$CXX` (default `c++`).
    let (file, compiler_var, default) = match name.strip_suffix(".cpp") {
        Some(stem) => (format!("{stem}.cpp"), "CXX", "c++"),
        None => (format!("{name}.c"), "CC", "cc"),
    };
    let name = name.trim_end_matches(".cpp");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("c")
        .join(file);
    let out_dir = profile_dir().join("masu-capi-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join(name);
    let cc = std::env::var(compiler_var).unwrap_or_else(|_| default.into());
    let out = Command::new(&cc)
        .args(["-O1", "-fno-builtin", "-w", "-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg("-ldl")
        .output()
        .unwrap_or_else(|e| panic!("run the C compiler {cc:?}: {e}"));
    assert!(
        out.status.success(),
        "compiling {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Runs `cmd` with masu preloaded and the given extra environment.
pub fn run_preloaded(cmd: &mut Command, env: &[(&str, &str)]) -> Output {
    cmd.env("LD_PRELOAD", libmasu());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the program")
}
