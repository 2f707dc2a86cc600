//! With the `checks` feature, a block freed twice from two threads other
//! than its owner makes masu abort with a message naming the fault.
//!
//! The program under test is `examples/double_free.rs`, built with
//! `--features checks`. Under `cargo test -p masu --features checks` cargo
//! has built it already; under a plain `cargo test` this test builds it with
//! a nested `cargo build` into `target/masu-checks` (a separate target
//! directory, so it does not wait for the lock of the running build).

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>` of the running test binary.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

fn double_free_program() -> PathBuf {
    let built = profile_dir().join("examples").join("double_free");
    if cfg!(feature = "checks") && built.exists() {
        return built;
    }
    let target = profile_dir().parent().unwrap().join("masu-checks");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "masu", "--features", "checks"])
        .args(["--example", "double_free", "--target-dir"])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the double_free example failed");
    target.join("debug").join("examples").join("double_free")
}

#[test]
fn cross_thread_double_free_aborts_with_a_message() {
    let program = double_free_program();
    let out = Command::new(&program).output().expect("run double_free");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("double_free: {:?}; stderr:\n{stderr}", out.status);
    assert!(
        !stdout.contains("not detected"),
        "the double free went unnoticed"
    );
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{:?}", out.status);
    assert!(
        stderr.contains("masu: double free of 0x"),
        "no fault message on stderr: {stderr}"
    );
    assert!(
        stderr.contains("free 2 of"),
        "it aborted before the second free: {stderr}"
    );
}
