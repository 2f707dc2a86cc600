//! # masu
//!
//! masu on Linux: a thread-local masu-core [`Heap`](masu_core::Heap) per
//! thread over `mmap`, usable as a Rust `#[global_allocator]` and, through the
//! `masu-capi` crate (`libmasu.so`), as the C `malloc` family.
//!
//! ```ignore
//! #[global_allocator]
//! static A: masu::Masu = masu::Masu::new();
//! ```
//!
//! * [`Masu`]: the global allocator.
//! * [`MmapOs`]: masu-core's `Os` over `mmap`/`madvise`/`munmap`.
//! * [`stats`], [`os_stats`], [`pool_stats`], [`print_stats`]: observation.
//! * [`collect`], [`collect_abandoned`]: release memory on demand.
//! * [`c`]: the C allocation functions with POSIX semantics, exported by
//!   `masu-capi`.
//! * Options come from the environment (`MASU_*`, see [`Options`]).
//!
//! See `docs/std-shim.md` for the design (thread exit, adoption, fork).
//!
//! The shim's lock-free protocols (the pool lock and slot lists, the
//! one-time initialisation, the commit map's leaves, the committed total)
//! are small types generic over their atomics (`sync`, `spin`, `slots`,
//! `commit`); under `--cfg loom` the hidden module `protocol` exports them
//! for the loom models in `loom-tests/`, which run them over loom's atomics.
//!
//! The crate is `#![no_std]` (it needs only `core` and `libc`), so that
//! `libmasu.so` does not carry Rust's standard library (its panic,
//! formatting and backtrace machinery); programs that use [`Masu`] as their
//! global allocator bring `std` themselves. `std` is linked only for the
//! tests and, off x86-64, for the thread-local slot word.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(any(test, not(target_arch = "x86_64")))]
extern crate std;

pub mod c;
mod commit;
mod commit_map;
mod fmtbuf;
mod options;
mod os;
mod platform;
mod pool;
#[cfg(loom)]
#[doc(hidden)]
pub mod protocol;
mod purger;
mod report;
mod self_resident;
mod slots;
mod spin;
mod sync;

pub use masu_core as core;
pub use options::{
    options, set_memory_limit, Options, DEFAULT_LARGE_CACHE, DEFAULT_PURGE_DELAY_MS,
};
pub use os::{os_stats, page_size, MmapOs, OsStats, CHUNK};
pub use pool::{
    collect, collect_abandoned, committed_breakdown, flush_remote_frees, init, pool_stats,
    register_hooks, PoolStats, ShimHeap,
};
pub use purger::passes as purger_passes;
pub use report::{print_stats, report_panic};

use ::core::alloc::{GlobalAlloc, Layout};
use pool::{attach, current, fast_heap, free_without_heap, gone, heap_of, is_slot, with_borrowed};

/// masu as a Rust global allocator: each thread allocates from its own heap.
///
/// ```ignore
/// #[global_allocator]
/// static A: masu::Masu = masu::Masu::new();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Masu {
    _private: (),
}

impl Masu {
    /// The allocator. All `Masu` values share the same per-thread heaps.
    pub const fn new() -> Self {
        Masu { _private: () }
    }
}

// SAFETY: blocks come from masu-core heaps, which hand out disjoint blocks of
// at least `layout.size()` bytes aligned to `layout.align()`, or null. A
// thread's heap is only used by that thread (see `pool`); blocks freed by
// another thread go through the page's atomic `thread_free` list.
unsafe impl GlobalAlloc for Masu {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        alloc(layout, false)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        alloc(layout, true)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from `GlobalAlloc`'s contract.
        unsafe { dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded from `GlobalAlloc`'s contract.
        unsafe { realloc(ptr, layout, new_size) }
    }
}

/// Allocates a block for `layout` from the calling thread's heap; null when
/// out of memory.
///
/// The inlined part is masu-core's fast path alone ([`Heap::alloc_fast`]) on
/// whatever the slot word holds, with no check of it: a thread without a
/// heap holds a sentinel whose heap has no block to give, so it falls
/// through to [`alloc_slow`] like a class without a ready block. Nothing
/// stays live across a call, so nothing is spilled.
///
/// An attached thread's null is final: masu-core already releases its
/// segment cache and retries when `reserve` fails; a commit refused by
/// `MASU_MEMORY_LIMIT` is not retried.
///
/// [`Heap::alloc_fast`]: masu_core::Heap::alloc_fast
#[inline(always)]
pub(crate) fn alloc(layout: Layout, zero: bool) -> *mut u8 {
    let p = alloc_fast(layout.size(), layout.align(), zero);
    if !p.is_null() {
        return p;
    }
    alloc_slow(layout, zero)
}

/// The inlined part of [`alloc`]: a block from the calling thread's heap if
/// its fast path has one, else null. `align` is a power of two; any `size`
/// may be asked.
#[inline(always)]
pub(crate) fn alloc_fast(size: usize, align: usize, zero: bool) -> *mut u8 {
    let s = current();
    // SAFETY: `align` is a power of two (callers pass a `Layout`'s or 8 or
    // 16); `s` is the thread's slot or a sentinel, and the thread is not
    // inside a heap call (heap calls never re-enter the allocator).
    unsafe { fast_heap(s).alloc_fast(size, align, zero) }
}

/// The allocation fast path with C `malloc`'s alignment (8 bytes for
/// requests of at most 8 bytes, else 16); null when the slow path is needed.
#[inline(always)]
pub(crate) fn alloc_fast_malloc(size: usize, zero: bool) -> *mut u8 {
    let s = current();
    // SAFETY: as in `alloc_fast`.
    unsafe { fast_heap(s).alloc_fast_malloc(size, zero) }
}

/// Everything else: the heap's slow path, or no heap yet or any more.
#[cold]
#[inline(never)]
pub(crate) fn alloc_slow(layout: Layout, zero: bool) -> *mut u8 {
    let s = current();
    if is_slot(s) {
        // SAFETY: the thread holds its slot.
        return unsafe { heap_of(s) }.alloc_slow(layout, zero);
    }
    alloc_without_slot(layout, zero)
}

/// A thread's first allocation (which attaches it) and allocation after the
/// thread's exit hook (on a borrowed heap).
#[cold]
#[inline(never)]
fn alloc_without_slot(layout: Layout, zero: bool) -> *mut u8 {
    let run = |h: &mut ShimHeap| {
        if zero {
            h.alloc_zeroed(layout)
        } else {
            h.alloc(layout)
        }
    };
    let mut s = current();
    if s == pool::idle() {
        s = attach();
    }
    if is_slot(s) {
        // SAFETY: the thread holds its slot.
        return run(unsafe { heap_of(s) });
    }
    with_borrowed(run).unwrap_or(::core::ptr::null_mut())
}

/// Frees a block of any heap from the calling thread.
///
/// As [`alloc`]: masu-core's fast path alone ([`Heap::dealloc_fast`]), which
/// changes nothing when it cannot finish (another heap's block, a page that
/// needs the slow path, or a sentinel's heap, which owns no page); then
/// [`dealloc_slow`].
///
/// # Safety
/// As for [`GlobalAlloc::dealloc`].
///
/// [`Heap::dealloc_fast`]: masu_core::Heap::dealloc_fast
#[inline(always)]
pub(crate) unsafe fn dealloc(ptr: *mut u8, layout: Layout) {
    // masu-core reads a free's layout only to check it (`checks`): without
    // the feature, a constant keeps the caller's registers free.
    let layout = if cfg!(feature = "checks") {
        layout
    } else {
        Layout::new::<u8>()
    };
    let s = current();
    // SAFETY: as in `alloc`; the caller vouches for `ptr` and `layout`.
    if unsafe { !fast_heap(s).dealloc_fast(ptr, layout) } {
        // SAFETY: forwarded from the caller.
        unsafe { dealloc_slow(ptr, layout) }
    }
}

/// A free that the fast path did not finish: the heap's slow path (a remote
/// free, a page to re-file); a thread that never allocated attaches (so a
/// thread that only frees pays this once); one past its exit hook, or one
/// that cannot get a heap, frees remotely through a scratch heap.
///
/// # Safety
/// As for [`GlobalAlloc::dealloc`].
#[cold]
#[inline(never)]
unsafe fn dealloc_slow(ptr: *mut u8, layout: Layout) {
    let mut s = current();
    if is_slot(s) {
        // SAFETY: the thread holds its slot, whose heap's `dealloc_fast` just
        // said no; the caller vouches for `ptr`.
        return unsafe { heap_of(s).dealloc_slow(ptr) };
    }
    if s == pool::idle() {
        s = attach();
    }
    if is_slot(s) {
        // SAFETY: the thread holds its slot; the caller vouches for `ptr`.
        // (`dealloc`, not `dealloc_slow`: the checks ran on the sentinel.)
        unsafe { heap_of(s).dealloc(ptr, layout) }
    } else {
        debug_assert!(s == gone() || s.is_null());
        // SAFETY: forwarded from the caller.
        unsafe { free_without_heap(ptr, layout) }
    }
}

/// Resizes a block (in place when the heap can).
///
/// # Safety
/// As for [`GlobalAlloc::realloc`].
#[inline]
pub(crate) unsafe fn realloc(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    let s = current();
    if is_slot(s) {
        // SAFETY: the thread holds its slot; the caller vouches for the rest.
        let p = unsafe { heap_of(s).realloc(ptr, layout, new_size) };
        if !p.is_null() {
            return p;
        }
    }
    // SAFETY: forwarded from the caller.
    unsafe { realloc_slow(ptr, layout, new_size) }
}

/// # Safety
/// As for [`GlobalAlloc::realloc`].
#[cold]
#[inline(never)]
unsafe fn realloc_slow(ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    let mut s = current();
    if s == pool::idle() {
        s = attach();
    }
    let run = |h: &mut ShimHeap| {
        // SAFETY: the caller vouches for `ptr`, `layout` and `new_size`; a
        // failed realloc leaves the block untouched, so a retry is sound.
        unsafe { h.realloc(ptr, layout, new_size) }
    };
    if is_slot(s) {
        // SAFETY: the thread holds its slot.
        let h = unsafe { heap_of(s) };
        let p = run(h);
        if !p.is_null() {
            return p;
        }
        h.collect(true);
        return run(h);
    }
    with_borrowed(run).unwrap_or(::core::ptr::null_mut())
}

/// Statistics of all heaps of the process together.
///
/// Exact process-wide: `live_bytes`, `alloc_count`, `free_count` (summed over
/// every heap's counters; a block freed by another thread counts as freed
/// once its owner heap collects it), `committed_bytes`, `reserved_bytes`,
/// `decommitted_bytes` (from [`MmapOs`]), with one lag: the allocation and
/// free fast paths count in the page they use, and a heap folds a page's
/// counts into its counters on some slow paths with that page (filing it
/// full, freeing it, collecting its remote frees, refilling from it once it
/// has handed out 1024 blocks since) and at a flush. This call flushes the
/// calling thread's heap first, so a thread sees its own activity exactly; a
/// thread that exited was flushed by the [`collect`] it did then. Another
/// live thread's latest activity may not be in yet: per page of its heap,
/// fewer than 1024 plus the page's block count allocations and the frees
/// that go with them, and in live bytes at most what its small pages that
/// are not full hold.
///
/// `peak_live_bytes` is the sum of the heaps' peaks, an upper bound of the
/// process's peak (each heap's peak is raised on its slow paths and
/// flushes, see [`masu_core::Stats::peak_live_bytes`]), and never below
/// `live_bytes`. The detail that only a heap itself knows (`segments`,
/// `cached_segments`, `pages_per_class`, `large_spans`, `huge_allocs`,
/// `purges`, `remote_frees_collected`) covers the calling thread's heap and
/// the idle heaps of exited threads, not other live threads' heaps.
pub fn stats() -> masu_core::Stats {
    let s = current();
    if is_slot(s) {
        // SAFETY: the thread holds its slot and is not inside a heap call
        // (this is no allocation path).
        unsafe { heap_of(s) }.flush_stats();
    }
    let mut st = pool::stats();
    // Another live heap's counters may have frees not yet folded in, which
    // can leave its live bytes above its peak for a while.
    st.peak_live_bytes = st.peak_live_bytes.max(st.live_bytes);
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_realloc_roundtrip() {
        let m = Masu::new();
        let l = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: valid layout; blocks are used within their size and freed
        // with the layout (or size) they have.
        unsafe {
            let p = m.alloc(l);
            assert!(!p.is_null());
            p.write_bytes(0xab, 100);
            let q = m.realloc(p, l, 5000);
            assert!(!q.is_null());
            assert!((0..100).all(|i| *q.add(i) == 0xab));
            let l2 = Layout::from_size_align(5000, 8).unwrap();
            m.dealloc(q, l2);
            let z = m.alloc_zeroed(Layout::from_size_align(1 << 20, 4096).unwrap());
            assert_eq!(z as usize % 4096, 0);
            assert!((0..1 << 20).step_by(997).all(|i| *z.add(i) == 0));
            m.dealloc(z, Layout::from_size_align(1 << 20, 4096).unwrap());
        }
    }
}
