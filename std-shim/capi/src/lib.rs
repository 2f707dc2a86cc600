//! `libmasu.so`: masu as the C allocator.
//!
//! Build it with `cargo build --release -p masu-capi`; the library is
//! `target/release/libmasu.so`. Use it with `LD_PRELOAD`:
//!
//! ```text
//! LD_PRELOAD=target/release/libmasu.so python3 -c 'print(42)'
//! ```
//!
//! It exports the C allocation functions (`malloc`, `free`, `calloc`,
//! `realloc`, `reallocarray`, `posix_memalign`, `aligned_alloc`, `memalign`,
//! `valloc`, `pvalloc`, `malloc_usable_size`, `cfree`, `free_sized`,
//! `free_aligned_sized`) with the semantics
//! documented in `masu::c`, the C++ `operator new` and `operator delete`
//! forms (`cxx.rs`), plus `masu_stats_print`, `masu_collect`,
//! `malloc_trim` and glibc's `mallinfo2`, `malloc_stats` and `malloc_info`
//! answered from masu's figures (`glibc_stats.rs`).
//!
//! The library is `#![no_std]` and allocates nothing itself: on x86-64 it
//! carries masu, `core` and `libc`'s bindings, not Rust's standard library
//! (whose panic hook alone pulls in a backtrace symboliser); elsewhere the
//! masu crate links `std` for its thread-local slot word. A panic, which masu's
//! code is written never to reach, prints its message and location on
//! stderr and aborts.
#![no_std]

use core::ffi::{c_int, c_void};
use masu_shim::c;

mod cxx;
mod glibc_stats;
// With `checks`: the allocating functions record their caller (Rust 1.88).
#[cfg(all(feature = "checks", target_arch = "x86_64"))]
mod site;

// Rust's precompiled `core` carries unwind tables that name
// `rust_eh_personality`, which `std` would define. Nothing unwinds through
// Rust frames here (`panic = "abort"`; the C++ exception a failed `new`
// throws only passes through `cxx.rs`'s frames), so libmasu defines a
// personality of its own that lets every unwind continue (it returns
// `_URC_CONTINUE_UNWIND`), with hidden visibility: it is not exported, so
// it never interposes the personality of a Rust program it is preloaded
// into. (Off x86-64, `std` is linked and defines it.)
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.rust_eh_personality,\"ax\",@progbits",
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality,@function",
    "rust_eh_personality:",
    "mov eax, 8",
    "ret",
    ".size rust_eh_personality, . - rust_eh_personality",
    ".popsection",
);

// The C library the allocator runs on (`std` would link it; without it the
// library must say so itself, so that its `NEEDED` entries name libc).
#[link(name = "c")]
extern "C" {}

// Built in one cargo run with the rest of the workspace, the dependency
// graph links Rust's `alloc` (feature unification turns on
// `allocator-api2`'s `alloc` feature, which the tests and benchmarks of
// `masu::Heap` use), and a library that links `alloc` must name a global
// allocator: masu itself. Nothing in libmasu allocates through it.
#[cfg(target_arch = "x86_64")]
#[global_allocator]
static RUST_ALLOC: masu_shim::Masu = masu_shim::Masu::new();

/// Prints the panic's location, and its message when a plain string, on
/// stderr (without allocating) and aborts.
/// (Off x86-64 the masu crate links `std` for its thread-local slot word,
/// and `std`'s handler and personality serve.)
#[cfg(all(not(test), target_arch = "x86_64"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    masu_shim::report_panic(info, info.message().as_str())
}

/// Runs when the library is loaded (after libc is initialised): reads the
/// options and registers the `fork` and exit hooks before `main`.
extern "C" fn masu_init() {
    masu_shim::init();
    masu_shim::register_hooks();
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = masu_init;

/// C `malloc`.
#[cfg(not(all(feature = "checks", target_arch = "x86_64")))]
#[no_mangle]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    c::malloc(size)
}

/// C `free`.
///
/// # Safety
/// `p` is null or a live block of this allocator.
#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: forwarded from the C caller.
    unsafe { c::free(p) }
}

/// The obsolete `cfree`, as `free`.
///
/// # Safety
/// As for [`free`].
#[no_mangle]
pub unsafe extern "C" fn cfree(p: *mut c_void) {
    // SAFETY: forwarded from the C caller.
    unsafe { c::free(p) }
}

/// C23 `free_sized`: as `free` (the size is not needed).
///
/// # Safety
/// As for [`free`].
#[no_mangle]
pub unsafe extern "C" fn free_sized(p: *mut c_void, _size: usize) {
    // SAFETY: forwarded from the C caller.
    unsafe { c::free(p) }
}

/// C23 `free_aligned_sized`: as `free`.
///
/// # Safety
/// As for [`free`].
#[no_mangle]
pub unsafe extern "C" fn free_aligned_sized(p: *mut c_void, _align: usize, _size: usize) {
    // SAFETY: forwarded from the C caller.
    unsafe { c::free(p) }
}

/// C `calloc`.
#[cfg(not(all(feature = "checks", target_arch = "x86_64")))]
#[no_mangle]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    c::calloc(n, size)
}

/// C `realloc`.
///
/// # Safety
/// `p` is null or a live block of this allocator.
#[cfg(not(all(feature = "checks", target_arch = "x86_64")))]
#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded from the C caller.
    unsafe { c::realloc(p, size) }
}

/// `reallocarray`.
///
/// # Safety
/// `p` is null or a live block of this allocator.
#[cfg(not(all(feature = "checks", target_arch = "x86_64")))]
#[no_mangle]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    // SAFETY: forwarded from the C caller.
    unsafe { c::reallocarray(p, n, size) }
}

/// `posix_memalign`.
///
/// # Safety
/// `out` is valid for a pointer write.
#[cfg(not(all(feature = "checks", target_arch = "x86_64")))]
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    // SAFETY: forwarded from the C caller.
    unsafe { c::posix_memalign(out, align, size) }
}

/// C11 `aligned_alloc`.
#[cfg(not(all(feature = "checks", target_arch = "x86_64")))]
#[no_mangle]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    c::aligned_alloc(align, size)
}

/// `memalign`.
#[cfg(not(all(feature = "checks", target_arch = "x86_64")))]
#[no_mangle]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    c::memalign(align, size)
}

/// `valloc`.
#[cfg(not(all(feature = "checks", target_arch = "x86_64")))]
#[no_mangle]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    c::valloc(size)
}

/// `pvalloc`.
#[cfg(not(all(feature = "checks", target_arch = "x86_64")))]
#[no_mangle]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    c::pvalloc(size)
}

/// `malloc_usable_size`.
///
/// # Safety
/// `p` is null or a live block of this allocator.
#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    // SAFETY: forwarded from the C caller.
    unsafe { c::malloc_usable_size(p) }
}

/// glibc's `malloc_trim`: collects the calling thread's heap and the idle
/// heaps of exited threads, purging what is empty. Returns 1.
#[no_mangle]
pub extern "C" fn malloc_trim(_pad: usize) -> c_int {
    masu_shim::collect(true);
    masu_shim::collect_abandoned(true);
    1
}

/// Prints masu's statistics report on stderr.
#[no_mangle]
pub extern "C" fn masu_stats_print() {
    masu_shim::print_stats();
}

/// Collects the calling thread's heap (`force != 0`: also purge everything
/// empty now and release the segment cache) and the idle heaps.
#[no_mangle]
pub extern "C" fn masu_collect(force: c_int) {
    masu_shim::collect(force != 0);
    masu_shim::collect_abandoned(force != 0);
}
