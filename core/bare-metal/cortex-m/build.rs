//! Writes `memory.x` (the board's: `memory-mps2.x`, or `memory-microbit.x`
//! with the `microbit` feature) where the linker finds it and links with cortex-m-rt's
//! `link.x` (which includes it). The link argument is given here rather than
//! in `.cargo/config.toml` so that a `RUSTFLAGS` set by the caller does not
//! drop it.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    // The micro:bit (Cortex-M0) has its own memory map.
    let memory: &[u8] = if env::var_os("CARGO_FEATURE_MICROBIT").is_some() {
        include_bytes!("memory-microbit.x")
    } else {
        include_bytes!("memory-mps2.x")
    };
    fs::write(out.join("memory.x"), memory).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=memory-mps2.x");
    println!("cargo:rerun-if-changed=memory-microbit.x");
    println!("cargo:rerun-if-changed=build.rs");
}
