//! The C ABI of `libmasu.so`: `tests/c/conformance.c` checks every edge case
//! of the malloc family (POSIX and glibc semantics), threads with
//! cross-thread frees and exits with live blocks, and `fork` while other
//! threads allocate, all with masu preloaded; then the environment options.

mod common;

use common::{compile_c, libmasu, run_preloaded};
use std::process::Command;

#[test]
fn c_abi_conformance_under_ld_preload() {
    let exe = compile_c("conformance");
    let out = run_preloaded(&mut Command::new(&exe), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}{stderr}");
    assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    assert!(!stderr.contains("FAIL"), "{stderr}");
}

#[test]
#[cfg(feature = "arenas")]
fn c_abi_conformance_with_arenas() {
    // Requests of 2049 B to 32 KiB from the heaps' arenas (`MASU_ARENA_ABOVE`):
    // every edge case, cross-thread frees and exits with live blocks again,
    // and an empty arena purged at once (`MASU_PURGE_DELAY=0`).
    let exe = compile_c("conformance");
    for delay in ["10", "0"] {
        let out = run_preloaded(
            &mut Command::new(&exe),
            &[("MASU_ARENA_ABOVE", "2048"), ("MASU_PURGE_DELAY", delay)],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
        assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
        assert!(stderr.is_empty(), "{stderr}");
    }
}

#[test]
fn c_abi_conformance_with_eager_purging_and_madv_free() {
    // Every empty page is decommitted at once with MADV_FREE, whose memory
    // is not known to read as zero again: calloc must zero it itself.
    let exe = compile_c("conformance");
    let out = run_preloaded(
        &mut Command::new(&exe),
        &[("MASU_PURGE_DELAY", "0"), ("MASU_DECOMMIT", "free")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn the_memory_limit_option_makes_malloc_fail_with_enomem() {
    let exe = compile_c("conformance");
    let out = run_preloaded(
        Command::new(&exe).arg("limit"),
        &[("MASU_MEMORY_LIMIT", "64M")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}{stderr}");
    assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
    assert!(
        stdout.contains("limit mode: 4 passed, 0 failed"),
        "{stdout}"
    );
}

#[test]
fn stats_report_and_option_errors_go_to_stderr() {
    // `ls` closes stderr in its own exit handler; the report still appears.
    let out = run_preloaded(
        Command::new("ls").arg("/"),
        &[
            ("MASU_STATS", "1"),
            ("MASU_PURGE_DELAY", "soon"),
            ("MASU_DECOMMIT", "free"),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stderr}");
    assert!(out.status.success());
    assert!(stderr.contains("masu statistics (pid "), "{stderr}");
    assert!(stderr.contains("blocks allocated"), "{stderr}");
    assert_eq!(
        stderr
            .matches("masu: ignoring MASU_PURGE_DELAY=\"soon\"")
            .count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains("MASU_DECOMMIT"), "{stderr}");
}

#[test]
fn the_library_exports_the_malloc_family() {
    let lib = libmasu();
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&lib)
        .output();
    let Ok(out) = out else {
        println!("nm not available: skipped the symbol listing");
        return;
    };
    let syms = String::from_utf8_lossy(&out.stdout);
    for name in [
        "malloc",
        "free",
        "calloc",
        "realloc",
        "reallocarray",
        "posix_memalign",
        "aligned_alloc",
        "memalign",
        "valloc",
        "pvalloc",
        "malloc_usable_size",
        "cfree",
        "free_sized",
        "free_aligned_sized",
        "malloc_trim",
        "masu_stats_print",
        "masu_collect",
    ] {
        assert!(
            syms.lines().any(|l| l.ends_with(&format!(" T {name}"))),
            "{name} not exported by {}",
            lib.display()
        );
    }
}

#[test]
fn cxx_operators_reach_masu_and_fail_as_the_standard_says() {
    let exe = compile_c("operators.cpp");
    let out = run_preloaded(&mut Command::new(&exe), &[("MASU_MEMORY_LIMIT", "256M")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}{stderr}");
    assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
    assert!(
        stdout.contains("operators: 125 passed, 0 failed"),
        "{stdout}"
    );
}
