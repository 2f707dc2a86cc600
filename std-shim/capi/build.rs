//! Links `libmasu.so` with `-z nodelete`: an allocator must never be
//! unloaded, since blocks it handed out, its thread-exit key destructor, its
//! `fork` handlers and its TLS outlive any `dlclose`.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rerun-if-changed=build.rs");
}
