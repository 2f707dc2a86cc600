//! Links `libmasu.so` with `-z nodelete`: an allocator must never be
//! unloaded, since blocks it handed out, its thread-exit key destructor, its
//! `fork` handlers and its TLS outlive any `dlclose`. And gives it the
//! soname `libmasu.so.0` (ABI version 0), which `scripts/install-libmasu`
//! installs with the usual links.
//!
//! On x86 Linux with glibc, also `-z pack-relative-relocs` (DT_RELR, GNU ld
//! 2.38 and glibc 2.36 on): the library's relative relocations (its static
//! tables of pointers) take 8 bytes per run of them instead of 24 each, and
//! the pages that hold them are smaller: `size`'s text 127,220 -> 112,238
//! bytes, and 8 KiB less of the library resident in a process that makes
//! one allocation (docs/flags.md, "Build profile"). The library then
//! records a need for glibc's `GLIBC_ABI_DT_RELR` version (2.36 on), so an
//! older glibc refuses to load it rather than misread it; `MASU_NO_RELR=1`
//! at build time leaves the option out.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmasu.so.0");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let x86 = matches!(var("CARGO_CFG_TARGET_ARCH").as_str(), "x86_64" | "x86");
    let glibc_linux = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    if x86 && glibc_linux && var("MASU_NO_RELR").is_empty() {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-env-changed=MASU_NO_RELR");
    println!("cargo:rerun-if-changed=build.rs");
}
