//! With the `checks` feature, a block freed twice from two threads other
//! than its owner makes masu abort with a message naming the fault.
//!
//! The program under test is `examples/double_free.rs`, built with
//! `--features checks`. Under `cargo test -p masu --features checks` cargo
//! has built it already; under a plain `cargo test` this test builds it with
//! a nested `cargo build` into `target/masu-checks` (a separate target
//! directory, so it does not wait for the lock of the running build).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;

fn double_free_program() -> PathBuf {
    common::example_built_with("double_free", "checks", cfg!(feature = "checks"))
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
