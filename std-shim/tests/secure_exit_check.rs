//! With the `secure` feature, a write into a freed block that the program
//! never reuses stops it at exit with a message naming the fault (the exit
//! check, `MASU_EXIT_CHECK`); with `MASU_EXIT_CHECK=0` the same program
//! exits normally.
//!
//! The program under test is `examples/write_after_free.rs`, which cargo
//! builds with the tests under `cargo test -p masu --features secure` (and
//! this test builds when run alone).
#![cfg(all(feature = "secure", not(feature = "checks")))]

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};

/// Runs the example with `MASU_EXIT_CHECK` set to `exit_check`.
fn run(exit_check: &str) -> Output {
    Command::new(common::example_built_with(
        "write_after_free",
        "secure",
        true,
    ))
    .env("MASU_EXIT_CHECK", exit_check)
    .output()
    .expect("run write_after_free")
}

#[test]
fn a_write_after_free_never_reused_stops_the_program_at_exit() {
    let out = run("1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("written after free"),
        "it stopped before its end: {stderr}"
    );
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{:?}", out.status);
    assert!(
        stderr.contains("masu: write after free of 0x") && stderr.contains("freed tag"),
        "no fault message on stderr: {stderr}"
    );
}

#[test]
fn without_the_exit_check_the_same_program_exits_normally() {
    let out = run("0");
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
