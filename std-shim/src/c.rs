//! The C allocation functions with POSIX and glibc semantics. `masu-capi`
//! exports them under their C names from `libmasu.so`; they are plain Rust
//! functions here so that they can be tested and reused.
//!
//! | call | behaviour |
//! |---|---|
//! | `malloc(0)` | a unique pointer that `free` accepts |
//! | `malloc(n)` too large | null, `errno = ENOMEM` |
//! | `calloc(n, m)`, `reallocarray(p, n, m)` with `n * m` overflowing | null, `errno = ENOMEM` (the block of `reallocarray` is untouched) |
//! | `free(NULL)` | nothing |
//! | `realloc(NULL, n)` | `malloc(n)` |
//! | `realloc(p, 0)` | frees `p`, returns null (glibc's behaviour) |
//! | `realloc` failing | null, `errno = ENOMEM`, `p` untouched |
//! | `posix_memalign` with an alignment that is not a power of two multiple of `sizeof(void *)` | `EINVAL`, `*out` untouched |
//! | `aligned_alloc` with an alignment that is not a power of two | null, `errno = EINVAL` |
//! | `memalign` | alignments that `malloc` gives the size anyway (8 for requests of 8 bytes or less, else 16) as `malloc`; others rounded up to a power of two (glibc) |
//! | `valloc(n)`, `pvalloc(n)` | page-aligned; `pvalloc` rounds the size up to a page (0 → one page) |
//! | `malloc_usable_size(NULL)` | 0 |
//!
//! Every block is aligned to 16 bytes (8 for requests of 8 bytes or less), as
//! glibc's are on x86_64. C's `free` has no size: the block's layout is taken
//! from the heap ([`usable_size`]).

use crate::fmtbuf::set_errno;
use ::core::alloc::Layout;
use ::core::ffi::{c_int, c_void};
use ::core::ptr;
use masu_core::Config;

/// The alignment `malloc` guarantees for a request of `size` bytes.
#[inline(always)]
const fn min_align(size: usize) -> usize {
    if size <= 8 {
        8
    } else {
        16
    }
}

/// Largest request that can be rounded up to a 16-byte multiple.
const MAX_REQUEST: usize = isize::MAX as usize - 15;

/// The slice size of masu's heaps: alignments above it give a large span.
const SLICE: usize = 1 << Config::VIRTUAL_MEMORY.slice_shift;
/// The largest request served by a size class.
const MAX_SMALL: usize = masu_core::size_class::MAX_CLASS_SIZE;

#[cold]
fn fail(errno: c_int) -> *mut c_void {
    set_errno(errno);
    ptr::null_mut()
}

/// Usable bytes of the block at `p` (at least what was asked for).
///
/// # Safety
/// `p` is a live block of masu.
#[inline]
pub unsafe fn usable_size(p: *const c_void) -> usize {
    // SAFETY: guaranteed by the caller.
    unsafe { Config::VIRTUAL_MEMORY.usable_size(p as *const u8) }
}

/// The layout `free` gives the heap for the block at `p`: C does not say
/// the block's size, so a size of 0 (unknown: with `checks` the heap reads
/// the size from the block's verified trailer; without, it reads no layout).
/// With `checks`, a pointer outside masu's memory is reported here.
///
/// # Safety
/// `p` is a live block of masu (checked builds report a foreign pointer).
#[inline(always)]
unsafe fn layout_of(p: *mut c_void) -> Layout {
    check_ours(p);
    Layout::new::<()>()
}

/// In checked builds, reports a pointer outside every masu reservation
/// before its (would-be) segment header is read.
#[inline(always)]
fn check_ours(p: *mut c_void) {
    #[cfg(feature = "checks")]
    {
        use masu_core::Os;
        let seg_size = 1usize << Config::VIRTUAL_MEMORY.segment_shift;
        let seg = (p as usize).wrapping_sub(1) & !(seg_size - 1);
        if p.is_null() || !crate::os::MmapOs.may_contain(seg) {
            masu_core::check::report(masu_core::check::Fault {
                kind: masu_core::check::FaultKind::ForeignPointer,
                ptr: p as usize,
                detail: "free/realloc of a pointer masu never handed out",
                value: seg,
                size: None,
                site: None,
            });
        }
    }
    #[cfg(not(feature = "checks"))]
    let _ = p;
}

/// `malloc`.
#[inline]
pub fn malloc(size: usize) -> *mut c_void {
    // The fast path takes any size (those it cannot serve give null).
    let p = crate::entry::alloc_fast_malloc(size, false);
    if !p.is_null() {
        return p as *mut c_void;
    }
    alloc_slow(size, false)
}

/// `malloc` or `calloc` of `size` bytes beyond the fast path.
#[cold]
#[inline(never)]
fn alloc_slow(size: usize, zero: bool) -> *mut c_void {
    if size > MAX_REQUEST {
        return fail(libc::ENOMEM);
    }
    // SAFETY: the alignment is a power of two and `size` rounded up to it
    // does not overflow isize.
    let layout = unsafe { Layout::from_size_align_unchecked(size, min_align(size)) };
    let p = crate::entry::alloc_slow(layout, zero);
    if p.is_null() {
        return fail(libc::ENOMEM);
    }
    p as *mut c_void
}

/// `free`.
///
/// # Safety
/// `p` is null or a live block from this module's functions.
#[inline]
pub unsafe fn free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: guaranteed by the caller.
    unsafe {
        let layout = layout_of(p);
        crate::entry::dealloc(p as *mut u8, layout)
    }
}

/// With the `checks` feature: the allocation site (a return address in the
/// program) that the calling thread's next block records, for the fault
/// messages about it; `libmasu`'s allocating functions pass their caller's.
/// Without `checks`, nothing.
#[inline(always)]
pub fn set_alloc_site(site: usize) {
    #[cfg(feature = "checks")]
    {
        let mut s = crate::thread_slot::current();
        if s == crate::thread_slot::idle() {
            // The thread's first allocation: attach now (its slow path would
            // have), so that its first block records the site too.
            s = crate::lifecycle::attach();
        }
        if crate::thread_slot::is_slot(s) {
            // SAFETY: the thread's own slot (never a sentinel, which is only
            // read), and the thread is not inside a heap call.
            unsafe { crate::thread_slot::fast_heap(s) }.set_alloc_site(site);
        }
    }
    #[cfg(not(feature = "checks"))]
    let _ = site;
}

/// `calloc`.
#[inline]
pub fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        return fail(libc::ENOMEM);
    };
    let p = crate::entry::alloc_fast_malloc(total, true);
    if !p.is_null() {
        return p as *mut c_void;
    }
    alloc_slow(total, true)
}

/// `realloc`.
///
/// # Safety
/// `p` is null or a live block from this module's functions.
pub unsafe fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc(size);
    }
    if size == 0 {
        // glibc: realloc(p, 0) frees p and returns null.
        // SAFETY: guaranteed by the caller.
        unsafe { free(p) };
        return ptr::null_mut();
    }
    if size > MAX_REQUEST {
        return fail(libc::ENOMEM);
    }
    check_ours(p);
    if cfg!(feature = "checks") {
        // The heap validates the block first, then takes its size from its
        // trailer (a layout size of 0: unknown); every block with a trailer
        // is over 8 bytes, so 16-aligned requests serve it.
        // SAFETY: guaranteed by the caller; 16 is a power of two.
        let q = unsafe {
            crate::entry::realloc(p as *mut u8, Layout::from_size_align_unchecked(0, 16), size)
        };
        if q.is_null() {
            return fail(libc::ENOMEM);
        }
        return q as *mut c_void;
    }
    // SAFETY: guaranteed by the caller.
    let usable = unsafe { usable_size(p) };
    if usable % 16 != 0 {
        // An 8-byte block (requests of at most 8 bytes): the heap would keep
        // its 8-byte alignment for the new block, so move it by hand.
        if size <= usable {
            return p;
        }
        let q = malloc(size);
        if !q.is_null() {
            // SAFETY: both blocks are live, distinct and at least `usable`
            // bytes long; `p` is freed once copied.
            unsafe {
                ptr::copy_nonoverlapping(p as *const u8, q as *mut u8, usable);
                free(p);
            }
        }
        return q;
    }
    // SAFETY: 16 is a power of two; `usable` is the block's size, so the
    // layout matches the block (same class, or a large block); `size`
    // rounded up to 16 does not overflow isize. The new block, if any, is
    // 16-aligned.
    let q = unsafe {
        let layout = Layout::from_size_align_unchecked(usable, 16);
        crate::entry::realloc(p as *mut u8, layout, size)
    };
    if q.is_null() {
        return fail(libc::ENOMEM);
    }
    q as *mut c_void
}

/// `reallocarray` (OpenBSD, glibc 2.26).
///
/// # Safety
/// As for [`realloc`].
pub unsafe fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        return fail(libc::ENOMEM);
    };
    // SAFETY: forwarded from the caller.
    unsafe { realloc(p, total) }
}

/// An aligned block; `align` is a power of two. Null (errno untouched) when
/// the request cannot be met.
fn aligned(align: usize, size: usize) -> *mut c_void {
    let align = align.max(min_align(size));
    // A small request aligned beyond a slice would get a one-slice large
    // span, whose usable size (64 KiB) is also a size class: `free` could not
    // tell the two apart. Ask for one byte more than the classes serve.
    let size = if align > SLICE && size <= MAX_SMALL {
        MAX_SMALL + 1
    } else {
        size
    };
    let Ok(layout) = Layout::from_size_align(size, align) else {
        return ptr::null_mut();
    };
    crate::entry::alloc(layout, false) as *mut c_void
}

/// `posix_memalign`: 0, `EINVAL` or `ENOMEM`; `*out` is set only on success.
///
/// # Safety
/// `out` is valid for a pointer write.
pub unsafe fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || align % ::core::mem::size_of::<*mut c_void>() != 0 {
        return libc::EINVAL;
    }
    let p = aligned(align, size);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: guaranteed by the caller.
    unsafe { *out = p };
    0
}

/// `aligned_alloc` (C11): `align` must be a power of two.
pub fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        return fail(libc::EINVAL);
    }
    let p = aligned(align, size);
    if p.is_null() {
        return fail(libc::ENOMEM);
    }
    p
}

/// `memalign` (glibc): alignments that `malloc` gives this size anyway
/// behave as `malloc`, others are rounded up to a power of two. (Not "up to
/// 16", glibc's rule: masu's `malloc` aligns requests of 8 bytes or less to
/// 8 only, so `memalign(16, 1)` must not be `malloc(1)`.)
pub fn memalign(align: usize, size: usize) -> *mut c_void {
    if align <= min_align(size) {
        return malloc(size);
    }
    let Some(align) = align.checked_next_power_of_two() else {
        return fail(libc::EINVAL);
    };
    let p = aligned(align, size);
    if p.is_null() {
        return fail(libc::ENOMEM);
    }
    p
}

/// `valloc`: page-aligned.
pub fn valloc(size: usize) -> *mut c_void {
    memalign(crate::platform::page_size(), size)
}

/// `pvalloc`: page-aligned, size rounded up to whole pages (0 → one page).
pub fn pvalloc(size: usize) -> *mut c_void {
    let page = crate::platform::page_size();
    let Some(rounded) = size.max(1).checked_add(page - 1).map(|s| s & !(page - 1)) else {
        return fail(libc::ENOMEM);
    };
    memalign(page, rounded)
}

/// `malloc_usable_size`: 0 for null.
///
/// # Safety
/// `p` is null or a live block from this module's functions.
pub unsafe fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    check_ours(p);
    // SAFETY: guaranteed by the caller.
    unsafe { usable_size(p) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_cases_follow_posix() {
        // SAFETY: every block is used within its size and freed once.
        unsafe {
            let a = malloc(0);
            let b = malloc(0);
            assert!(!a.is_null() && !b.is_null() && a != b);
            free(a);
            free(b);
            free(ptr::null_mut());
            set_errno(0);
            assert!(malloc(usize::MAX).is_null());
            assert_eq!(crate::fmtbuf::errno(), libc::ENOMEM);
            set_errno(0);
            assert!(calloc(usize::MAX / 2, 3).is_null());
            assert_eq!(crate::fmtbuf::errno(), libc::ENOMEM);
            let mut out = 0x1234 as *mut c_void;
            assert_eq!(posix_memalign(&mut out, 24, 8), libc::EINVAL);
            assert_eq!(posix_memalign(&mut out, 4, 8), libc::EINVAL);
            assert_eq!(out as usize, 0x1234);
            assert_eq!(posix_memalign(&mut out, 1 << 20, 10), 0);
            assert_eq!(out as usize % (1 << 20), 0);
            assert!(malloc_usable_size(out) > MAX_SMALL);
            free(out);
            let p = malloc(24) as *mut u8;
            assert_eq!(p as usize % 16, 0);
            p.write_bytes(7, 24);
            let q = realloc(p as *mut c_void, 100_000) as *mut u8;
            assert!((0..24).all(|i| *q.add(i) == 7));
            assert!(realloc(q as *mut c_void, 0).is_null());
            let t = malloc(3);
            // 8 bytes; with `checks`, the request (its redzone follows).
            let want = if cfg!(feature = "checks") {
                3
            } else if cfg!(feature = "secure") {
                16
            } else {
                8
            };
            assert_eq!(malloc_usable_size(t), want);
            let t2 = realloc(t, 40);
            assert_eq!(t2 as usize % 16, 0);
            free(t2);
            // memalign(16, n) for small n: 16-aligned, though malloc(n)
            // is only 8-aligned (every other 8-byte block is not
            // 16-aligned, so one of four in a row would show it).
            let m: std::vec::Vec<*mut c_void> = (0..4).map(|_| memalign(16, 1)).collect();
            for &p in &m {
                assert_eq!(p as usize % 16, 0);
                free(p);
            }
        }
    }
}
