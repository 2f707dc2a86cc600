//! Writes `memory.x` (the virt board's, `memory-virt.x`) where the linker
//! finds it and links with riscv-rt's `link.x` (which includes it). The link
//! argument is given here rather than in `.cargo/config.toml` so that a
//! `RUSTFLAGS` set by the caller does not drop it.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory-virt.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tmemory.x");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=memory-virt.x");
    println!("cargo:rerun-if-changed=build.rs");
}
