//! The C++ allocation operators (`operator new` / `operator delete` and
//! their array, sized, `nothrow` and aligned forms), exported by
//! `libmasu.so` so that a preloaded C++ program reaches masu in one call.
//!
//! Without them, `new` goes through libstdc++'s operator, which calls
//! `malloc` through the PLT, and `delete` likewise: two extra calls per
//! operation. mimalloc, snmalloc, jemalloc and tcmalloc export these symbols
//! for the same reason.
//!
//! # Failure
//! An `operator new` must call the installed `new_handler` and throw
//! `std::bad_alloc` when it cannot allocate, which Rust cannot do. So when
//! masu returns null, the call is handed to the next definition of the same
//! operator in the process (libstdc++'s, found with `dlsym(RTLD_NEXT)`),
//! which retries `malloc` (masu's) in its loop around the handler and throws
//! as the standard says. The fast path never looks the symbol up; only a
//! failure pays for it. If no next definition exists (no C++ runtime is
//! loaded, so nothing could have called these), masu reports the failure and
//! aborts.
//!
//! The throwing forms use the `"C-unwind"` ABI: the `std::bad_alloc` that
//! the runtime's operator throws unwinds through them to the program's
//! handler (libstdc++'s `nothrow` forms call the throwing `operator new` and
//! catch it, so they rely on that too).
//!
//! Every delete form frees the block as `free` does: masu needs neither the
//! size nor the alignment to find a block.

use core::ffi::{c_char, c_void};
use masu_shim::c;

/// The next definition of operator `name` (NUL-terminated mangled name)
/// after this library's.
#[cold]
#[inline(never)]
fn next_operator(name: &[u8]) -> *mut c_void {
    debug_assert!(name.ends_with(b"\0"));
    // SAFETY: `name` is NUL-terminated; RTLD_NEXT searches the objects
    // loaded after this one. dlsym may allocate, which is fine here: no
    // masu heap call is in progress.
    let f = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr() as *const c_char) };
    if f.is_null() {
        let msg = b"masu: operator new failed and no C++ runtime provides a fallback\n";
        // SAFETY: writes a static buffer to stderr, then aborts.
        unsafe {
            libc::write(2, msg.as_ptr() as *const c_void, msg.len());
            libc::abort();
        }
    }
    f
}

/// Defines `operator new` forms: `$alloc` (masu's allocation, with the
/// arguments in scope), and when it gives null, the next definition of the
/// same operator with the same arguments (see "Failure" above), out of line.
macro_rules! news {
    ($($(#[$doc:meta])* $abi:literal $name:ident($($arg:ident: $ty:ty),*) = $alloc:expr;)*) => {$(
        $(#[$doc])*
        #[no_mangle]
        pub extern $abi fn $name($($arg: $ty),*) -> *mut c_void {
            #[cold]
            #[inline(never)]
            fn failed($($arg: $ty),*) -> *mut c_void {
                let f = next_operator(concat!(stringify!($name), "\0").as_bytes());
                type Op = extern $abi fn($($ty),*) -> *mut c_void;
                // SAFETY: `f` is the C++ runtime's definition of this same
                // operator, whose signature (and unwinding) is this one's.
                let f = unsafe { core::mem::transmute::<*mut c_void, Op>(f) };
                f($($arg),*)
            }
            let p = $alloc;
            if p.is_null() {
                return failed($($arg),*);
            }
            p
        }
    )*};
}

news! {
    /// `operator new(size_t)`.
    "C-unwind" _Znwm(size: usize) = c::malloc(size);
    /// `operator new[](size_t)`.
    "C-unwind" _Znam(size: usize) = c::malloc(size);
    /// `operator new(size_t, const std::nothrow_t &)`.
    "C" _ZnwmRKSt9nothrow_t(size: usize, tag: *const c_void) = c::malloc(size);
    /// `operator new[](size_t, const std::nothrow_t &)`.
    "C" _ZnamRKSt9nothrow_t(size: usize, tag: *const c_void) = c::malloc(size);
    /// `operator new(size_t, std::align_val_t)` (`align_val_t` is an enum
    /// over `size_t`).
    "C-unwind" _ZnwmSt11align_val_t(size: usize, align: usize) = c::aligned_alloc(align, size);
    /// `operator new[](size_t, std::align_val_t)`.
    "C-unwind" _ZnamSt11align_val_t(size: usize, align: usize) = c::aligned_alloc(align, size);
    /// `operator new(size_t, std::align_val_t, const std::nothrow_t &)`.
    "C" _ZnwmSt11align_val_tRKSt9nothrow_t(size: usize, align: usize, tag: *const c_void) =
        c::aligned_alloc(align, size);
    /// `operator new[](size_t, std::align_val_t, const std::nothrow_t &)`.
    "C" _ZnamSt11align_val_tRKSt9nothrow_t(size: usize, align: usize, tag: *const c_void) =
        c::aligned_alloc(align, size);
}

/// Defines `operator delete` forms that free as `free` does; the extra
/// arguments (size, alignment, `nothrow` tag) are not needed.
macro_rules! deletes {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        $(#[$doc])*
        ///
        /// # Safety
        /// `p` is null or a live block of this allocator.
        #[no_mangle]
        pub unsafe extern "C" fn $name(p: *mut c_void, $($arg: $ty),*) {
            $(let _ = $arg;)*
            // SAFETY: forwarded from the C++ caller.
            unsafe { c::free(p) }
        }
    )*};
}

deletes! {
    /// `operator delete(void *)`.
    _ZdlPv();
    /// `operator delete[](void *)`.
    _ZdaPv();
    /// `operator delete(void *, size_t)`.
    _ZdlPvm(size: usize);
    /// `operator delete[](void *, size_t)`.
    _ZdaPvm(size: usize);
    /// `operator delete(void *, const std::nothrow_t &)`.
    _ZdlPvRKSt9nothrow_t(tag: *const c_void);
    /// `operator delete[](void *, const std::nothrow_t &)`.
    _ZdaPvRKSt9nothrow_t(tag: *const c_void);
    /// `operator delete(void *, std::align_val_t)`.
    _ZdlPvSt11align_val_t(align: usize);
    /// `operator delete[](void *, std::align_val_t)`.
    _ZdaPvSt11align_val_t(align: usize);
    /// `operator delete(void *, size_t, std::align_val_t)`.
    _ZdlPvmSt11align_val_t(size: usize, align: usize);
    /// `operator delete[](void *, size_t, std::align_val_t)`.
    _ZdaPvmSt11align_val_t(size: usize, align: usize);
    /// `operator delete(void *, std::align_val_t, const std::nothrow_t &)`.
    _ZdlPvSt11align_val_tRKSt9nothrow_t(align: usize, tag: *const c_void);
    /// `operator delete[](void *, std::align_val_t, const std::nothrow_t &)`.
    _ZdaPvSt11align_val_tRKSt9nothrow_t(align: usize, tag: *const c_void);
}
