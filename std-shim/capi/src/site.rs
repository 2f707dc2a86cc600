//! With the `checks` feature on x86-64: the allocating C functions record
//! their caller's return address as the block's allocation site, which the
//! fault messages name (and `dladdr` turns into a symbol).
//!
//! Each is a naked function that loads the return address from the stack
//! into the register of one more argument and jumps to its `_at` twin,
//! which hands it to masu (`c::set_alloc_site`) and allocates. Naked
//! functions need Rust 1.88; this module is compiled only with `checks`,
//! so the default library keeps the crate's `rust-version`.

use core::ffi::{c_int, c_void};
use masu_shim::c;

/// Defines the exported `$name` (naked: the return address into `$reg`,
/// the register after its arguments, then a jump to `$at`).
macro_rules! with_site {
    ($(#[$doc:meta])* $name:ident => $at:ident, $reg:literal) => {
        $(#[$doc])*
        #[unsafe(naked)]
        #[no_mangle]
        pub unsafe extern "C" fn $name() {
            core::arch::naked_asm!(
                concat!("mov ", $reg, ", qword ptr [rsp]"),
                "jmp {at}",
                at = sym $at,
            )
        }
    };
}

with_site!(
    /// C `malloc`.
    malloc => malloc_at, "rsi"
);
with_site!(
    /// C `calloc`.
    calloc => calloc_at, "rdx"
);
with_site!(
    /// C `realloc`.
    realloc => realloc_at, "rdx"
);
with_site!(
    /// `reallocarray`.
    reallocarray => reallocarray_at, "rcx"
);
with_site!(
    /// `posix_memalign`.
    posix_memalign => posix_memalign_at, "rcx"
);
with_site!(
    /// C11 `aligned_alloc`.
    aligned_alloc => aligned_alloc_at, "rdx"
);
with_site!(
    /// `memalign`.
    memalign => memalign_at, "rdx"
);
with_site!(
    /// `valloc`.
    valloc => valloc_at, "rsi"
);
with_site!(
    /// `pvalloc`.
    pvalloc => pvalloc_at, "rsi"
);

extern "C" fn malloc_at(size: usize, site: usize) -> *mut c_void {
    c::set_alloc_site(site);
    c::malloc(size)
}

extern "C" fn calloc_at(n: usize, size: usize, site: usize) -> *mut c_void {
    c::set_alloc_site(site);
    c::calloc(n, size)
}

/// # Safety
/// As for `realloc`.
unsafe extern "C" fn realloc_at(p: *mut c_void, size: usize, site: usize) -> *mut c_void {
    c::set_alloc_site(site);
    // SAFETY: forwarded from the C caller.
    unsafe { c::realloc(p, size) }
}

/// # Safety
/// As for `reallocarray`.
unsafe extern "C" fn reallocarray_at(
    p: *mut c_void,
    n: usize,
    size: usize,
    site: usize,
) -> *mut c_void {
    c::set_alloc_site(site);
    // SAFETY: forwarded from the C caller.
    unsafe { c::reallocarray(p, n, size) }
}

/// # Safety
/// As for `posix_memalign`.
unsafe extern "C" fn posix_memalign_at(
    out: *mut *mut c_void,
    align: usize,
    size: usize,
    site: usize,
) -> c_int {
    c::set_alloc_site(site);
    // SAFETY: forwarded from the C caller.
    unsafe { c::posix_memalign(out, align, size) }
}

extern "C" fn aligned_alloc_at(align: usize, size: usize, site: usize) -> *mut c_void {
    c::set_alloc_site(site);
    c::aligned_alloc(align, size)
}

extern "C" fn memalign_at(align: usize, size: usize, site: usize) -> *mut c_void {
    c::set_alloc_site(site);
    c::memalign(align, size)
}

extern "C" fn valloc_at(size: usize, site: usize) -> *mut c_void {
    c::set_alloc_site(site);
    c::valloc(size)
}

extern "C" fn pvalloc_at(size: usize, site: usize) -> *mut c_void {
    c::set_alloc_site(site);
    c::pvalloc(size)
}
