//! Links `libmasu.so` with `-z nodelete`: an allocator must never be
//! unloaded, since blocks it handed out, its thread-exit key destructor, its
//! `fork` handlers and its TLS outlive any `dlclose`. And gives it the
//! soname `libmasu.so.0` (ABI version 0), which `scripts/install-libmasu`
//! installs with the usual links.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmasu.so.0");
    println!("cargo:rerun-if-changed=build.rs");
}
