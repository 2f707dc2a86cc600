//! The allocation, free and `realloc` paths that the global allocator
//! ([`crate::Masu`]) and the C entry points ([`crate::c`]) share: the
//! calling thread's heap's fast path inlined, its slow path and the cases
//! without a heap (before attach, after the exit hook) out of line.

use crate::lifecycle;
use crate::pool::{free_without_heap, with_borrowed};
use crate::purger;
use crate::thread_slot::{
    current, fast_heap, gone, idle, is_slot, with_heap, Inside, ShimHeap, Slot,
};
use core::alloc::Layout;

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
        // SAFETY: the thread holds its slot, in no heap call. (An
        // allocation leaves nothing to purge that a free did not already
        // wake the purger for.)
        return match unsafe { Inside::try_enter(s) } {
            Some(inside) => inside.heap().alloc_slow(layout, zero),
            // SAFETY: as above.
            None => unsafe { alloc_slow_after_purger(s, layout, zero) },
        };
    }
    alloc_without_slot(layout, zero)
}

/// [`alloc_slow`] when the purger holds the thread's heap: waits for it.
///
/// # Safety
/// `s` is the calling thread's slot, and the thread is in no heap call.
#[cold]
#[inline(never)]
unsafe fn alloc_slow_after_purger(s: *mut Slot, layout: Layout, zero: bool) -> *mut u8 {
    // SAFETY: guaranteed by the caller.
    let inside = unsafe { Inside::enter(s) };
    inside.heap().alloc_slow(layout, zero)
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
    if s == idle() {
        s = lifecycle::attach();
    }
    if is_slot(s) {
        // SAFETY: the thread holds its slot, in no heap call.
        return unsafe { with_heap(s, run) };
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

/// A free that the fast path did not finish: a remote free (outside the
/// slot's gate, [`Heap::dealloc_remote`]), or the heap's slow path (a page to
/// re-file); a thread that never allocated attaches (so a
/// thread that only frees pays this once); one past its exit hook, or one
/// that cannot get a heap, frees remotely through a scratch heap.
///
/// # Safety
/// As for [`GlobalAlloc::dealloc`].
///
/// [`Heap::dealloc_remote`]: masu_core::Heap::dealloc_remote
#[cold]
#[inline(never)]
unsafe fn dealloc_slow(ptr: *mut u8, layout: Layout) {
    let mut s = current();
    if is_slot(s) {
        // Another heap's block: into this heap's batch of remote frees,
        // outside the gate (the purger never touches the batch), as the
        // fast paths do; anything else inside it.
        // SAFETY: the thread holds its slot, whose heap's `dealloc_fast` just
        // said no, and is in no heap call; the caller vouches for `ptr`.
        if unsafe { !fast_heap(s).dealloc_remote(ptr) } {
            // SAFETY: as above.
            let inside = unsafe { Inside::enter(s) };
            // SAFETY: as above.
            unsafe { inside.heap().dealloc_slow(ptr) };
        }
        // A free the fast path did not finish (most often another heap's
        // block, whose page may now be empty): wake the purger, so that the
        // memory goes back even if no thread makes a further call. Outside
        // the gate: starting the purger may allocate.
        purger::wake_for_live_heap(lifecycle::ensure_fork_handlers);
        return;
    }
    if s == idle() {
        s = lifecycle::attach();
    }
    if is_slot(s) {
        // SAFETY: the thread holds its slot; the caller vouches for `ptr`.
        // (`dealloc`, not `dealloc_slow`: the checks ran on the sentinel.)
        unsafe { with_heap(s, |h| h.dealloc(ptr, layout)) };
        purger::wake_for_live_heap(lifecycle::ensure_fork_handlers);
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
    let inside = if is_slot(s) {
        // SAFETY: the thread holds its slot. While the purger holds the
        // heap this is None and `realloc_slow` waits for it, as the other
        // entries do.
        unsafe { Inside::try_enter(s) }
    } else {
        None
    };
    if let Some(inside) = inside {
        let h = inside.heap();
        // SAFETY: the caller vouches for the rest.
        let p = unsafe { h.realloc(ptr, layout, new_size) };
        let pending = h.purge_pending();
        drop(inside);
        if pending {
            // Outside the gate: starting the purger may allocate.
            purger::wake_for_live_heap(lifecycle::ensure_fork_handlers);
        }
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
    if s == idle() {
        s = lifecycle::attach();
    }
    let run = |h: &mut ShimHeap| {
        // SAFETY: the caller vouches for `ptr`, `layout` and `new_size`; a
        // failed realloc leaves the block untouched, so a retry is sound.
        unsafe { h.realloc(ptr, layout, new_size) }
    };
    if is_slot(s) {
        // SAFETY: the thread holds its slot, in no heap call.
        return unsafe {
            with_heap(s, |h| {
                let p = run(h);
                if !p.is_null() {
                    return p;
                }
                h.collect(true);
                run(h)
            })
        };
    }
    with_borrowed(run).unwrap_or(::core::ptr::null_mut())
}
