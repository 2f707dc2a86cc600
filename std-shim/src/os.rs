//! [`MmapOs`]: masu-core's [`Os`] over `mmap`, `madvise` and `munmap`.
//!
//! * **reserve** maps `PROT_READ | PROT_WRITE`, `MAP_PRIVATE | MAP_ANONYMOUS
//!   | MAP_NORESERVE`, over-reserving by the alignment and unmapping the
//!   unaligned head and tail. Alignments below [`CHUNK`] (4 MiB) are raised to
//!   it, so no two reservations share a chunk of the commit map (below).
//! * **commit** is free on Linux (it overcommits), but it is *counted*: the
//!   process-wide committed total feeds [`stats`](crate::stats) and refuses
//!   commits past `MASU_MEMORY_LIMIT`.
//! * **decommit** is `madvise(MADV_DONTNEED)`, or `MADV_FREE` with
//!   `MASU_DECOMMIT=free` (then memory committed again is not known to be zero,
//!   so [`Os::fresh_memory_is_zeroed`] says false and `calloc` zeroes; once
//!   any memory was discarded that way it stays false, even if the option is
//!   switched off at run time).
//! * **guard pages** (with the `secure` feature, unless `MASU_GUARD_PAGES=0`):
//!   every reservation is mapped one page longer and that page is made
//!   inaccessible (`mprotect(PROT_NONE)`), so that an overflow past a
//!   segment's last block faults before it reaches whatever is mapped next
//!   (another segment's header); [`Os::guard`] protects the pages the heap
//!   names (between a segment's header and its blocks). Whether
//!   reservations carry the page is decided once, at the first reservation,
//!   so that each is released as it was made.
//! * **release** is `munmap`.
//! * **remap** (a huge block outgrowing its reservation) reserves the larger
//!   range and moves the old pages to its start with `mremap(MREMAP_FIXED)`:
//!   page tables move, memory is neither copied nor faulted in again. Off
//!   with `MASU_REMAP=0`.
//!
//!
//! What is committed is accounted in the commit map (`commit_map.rs`); the
//! system calls are in `platform.rs`.

use crate::commit_map;
use crate::options;
use crate::platform;
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};
use masu_core::Os;

/// Set once any memory was discarded with `MADV_FREE` (`MASU_DECOMMIT=free`,
/// or `set_decommit_free(true)` at run time): from then on, committed
/// memory is no longer known to read as zero, even after the option is
/// switched back. Not part of a concurrent protocol: a process-wide flag
/// that only ever goes from false to true.
static DISCARDED_LAZILY: AtomicBool = AtomicBool::new(false);

pub use crate::commit_map::CHUNK;
pub use crate::platform::page_size;

/// Process-wide figures of the `Os` layer (all heaps together).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OsStats {
    /// Bytes of address space reserved for heaps now.
    pub reserved_bytes: usize,
    /// Bytes committed in those reservations now.
    pub committed_bytes: usize,
    /// The highest `committed_bytes` seen.
    pub peak_committed_bytes: usize,
    /// Total bytes ever decommitted (`madvise`).
    pub decommitted_bytes: u64,
    /// Reservations (segments, cached ones included) alive now.
    pub reservations: usize,
    /// `mmap` calls made for heap memory and metadata.
    pub mmap_calls: u64,
    /// `munmap` calls made.
    pub munmap_calls: u64,
    /// `madvise` calls made.
    pub madvise_calls: u64,
    /// `mremap` calls made (huge blocks moved to a larger reservation).
    pub mremap_calls: u64,
    /// `mprotect` calls made (guard pages, with the `secure` feature).
    pub mprotect_calls: u64,
    /// Bytes mapped for the commit map (metadata outside the heaps).
    pub commit_map_bytes: usize,
    /// Commits refused because of `MASU_MEMORY_LIMIT`.
    pub limit_refusals: u64,
    /// `mmap` calls that failed.
    pub map_failures: u64,
    /// Reservations released while the background purger ran, which it
    /// unmapped instead of the releasing thread (`deferred_release.rs`).
    pub deferred_unmaps: u64,
}

/// A snapshot of the `Os` layer's totals.
pub fn os_stats() -> OsStats {
    let t = commit_map::totals();
    let s = platform::syscalls();
    OsStats {
        reserved_bytes: t.reserved,
        committed_bytes: t.committed,
        peak_committed_bytes: t.peak_committed,
        decommitted_bytes: t.decommitted,
        reservations: t.reservations,
        mmap_calls: s.mmap,
        munmap_calls: s.munmap,
        madvise_calls: s.madvise,
        mremap_calls: s.mremap,
        mprotect_calls: s.mprotect,
        commit_map_bytes: t.commit_map_bytes,
        limit_refusals: t.limit_refusals,
        map_failures: s.map_failures,
        deferred_unmaps: crate::deferred_release::deferred(),
    }
}

/// Bytes of the inaccessible page mapped after every reservation: the
/// system page with the `secure` feature and `MASU_GUARD_PAGES` on (as the
/// first reservation found it), else 0.
fn tail_guard() -> usize {
    #[cfg(feature = "secure")]
    {
        static GUARDED: crate::latch::Latch = crate::latch::Latch::new();
        if GUARDED.decide(options::guard_pages) {
            return platform::page_size();
        }
    }
    0
}

/// masu-core's [`Os`] on Linux. It has no state of its own: the totals it
/// keeps are process-wide (see [`os_stats`]), so every heap shares them.
#[derive(Clone, Copy, Debug, Default)]
pub struct MmapOs;

// SAFETY: `reserve` returns a fresh private mapping of `size` bytes aligned to
// `align` (exclusively the caller's until `release` unmaps it) or null;
// `commit` only returns true for memory that is mapped read-write;
// `decommit` returns true only when `madvise` succeeded, after which the
// memory reads as zero unless MADV_FREE is in use, in which case
// `fresh_memory_is_zeroed` says false; `page_size` is the system page size.
unsafe impl Os for MmapOs {
    // One geometry for every heap of the shim: the free fast path masks
    // and shifts by constants.
    const GEOMETRY: Option<(u32, u32)> = Some((
        masu_core::Config::VIRTUAL_MEMORY.segment_shift,
        masu_core::Config::VIRTUAL_MEMORY.slice_shift,
    ));
    fn reserve(&self, size: usize, align: usize) -> *mut u8 {
        let page = platform::page_size();
        let align = align.max(CHUNK);
        if !align.is_power_of_two() || size == 0 {
            return ptr::null_mut();
        }
        let Some(size) = size.checked_add(page - 1).map(|s| s & !(page - 1)) else {
            return ptr::null_mut();
        };
        let mapped = size + tail_guard();
        let Some(len) = mapped.checked_add(align - page) else {
            return ptr::null_mut();
        };
        if len > isize::MAX as usize {
            return ptr::null_mut();
        }
        // Short of address space, the reservations waiting for the purger
        // to unmap them go first (`deferred_release.rs`).
        let Some(aligned) = platform::map_aligned(mapped, align, len).or_else(|| {
            (crate::deferred_release::unmap_waiting() != 0)
                .then(|| platform::map_aligned(mapped, align, len))
                .flatten()
        }) else {
            return ptr::null_mut();
        };
        // SAFETY: the page past the reservation is part of the mapping
        // just made; nothing uses it.
        let guarded = mapped == size
            || unsafe { platform::protect_none((aligned + size) as *mut u8, mapped - size) };
        if !guarded || !commit_map::add_reservation(aligned, size) {
            // SAFETY: the reservation was never handed out.
            unsafe { platform::unmap(aligned as *mut u8, mapped) };
            return ptr::null_mut();
        }
        aligned as *mut u8
    }

    unsafe fn commit(&self, ptr: *mut u8, size: usize) -> bool {
        // A range outside our reservations: the core never asks that.
        commit_map::commit(ptr as usize, size)
    }

    unsafe fn decommit(&self, ptr: *mut u8, size: usize) -> bool {
        let lazily = options::decommit_free();
        if lazily {
            // Before the discard: whoever commits this range again (this
            // heap later, or one that adopts it through the pool's lock)
            // must not take it for zeroed memory.
            DISCARDED_LAZILY.store(true, Ordering::Release);
        }
        // SAFETY: the caller guarantees the range is inside one of our
        // reservations and unused.
        if unsafe { !platform::discard(ptr, size, lazily) } {
            return false;
        }
        commit_map::decommitted(ptr as usize, size);
        true
    }

    unsafe fn discard_contents(&self, ptr: *mut u8, size: usize) -> bool {
        // The range stays committed (the commit map does not change). With
        // `MADV_DONTNEED` whatever `MASU_DECOMMIT` says: the memory goes at
        // once (the purger works for a sleeping program, with no memory
        // pressure to reclaim `MADV_FREE` pages) and reads as zero after.
        // SAFETY: the caller guarantees the range is inside one of our
        // reservations, committed and unused.
        unsafe { platform::discard(ptr, size, false) }
    }

    unsafe fn release(&self, ptr: *mut u8, size: usize, _align: usize) {
        let page = platform::page_size();
        let size = (size + page - 1) & !(page - 1);
        commit_map::remove_reservation(ptr as usize, size);
        let len = size + tail_guard();
        // SAFETY: the caller gives back a whole reservation it no longer
        // uses, with the guard page mapped after it; its first page (the
        // segment header's) is mapped and writable, for the purger's node.
        unsafe {
            if !crate::deferred_release::defer(ptr, len) {
                platform::unmap(ptr, len);
            }
        }
    }

    fn guard_pages(&self) -> bool {
        tail_guard() != 0
    }

    unsafe fn guard(&self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: the caller guarantees the range is part of a reservation
        // and unused.
        tail_guard() != 0 && unsafe { platform::protect_none(ptr, size) }
    }

    fn page_size(&self) -> usize {
        platform::page_size()
    }

    fn can_remap(&self) -> bool {
        options::remap()
    }

    unsafe fn remap(
        &self,
        ptr: *mut u8,
        old_size: usize,
        new_size: usize,
        align: usize,
    ) -> *mut u8 {
        let page = platform::page_size();
        let old_size = (old_size + page - 1) & !(page - 1);
        if !options::remap() || new_size <= old_size {
            return ptr::null_mut();
        }
        let new = self.reserve(new_size, align);
        if new.is_null() {
            return ptr::null_mut();
        }
        // The added part is committed: charge it before anything moves.
        let tail = new_size - old_size;
        if !commit_map::charge(tail) {
            // SAFETY: the new reservation was never handed out.
            unsafe { self.release(new, new_size, align) };
            return ptr::null_mut();
        }
        // The records move first: the moment the mapping has moved, the
        // kernel may hand the old range to another thread's reservation.
        commit_map::move_records(ptr as usize, old_size, new as usize, tail);
        // SAFETY: moves the caller's reservation (which nothing else uses)
        // over the start of the reservation just made.
        if unsafe { !platform::move_mapping(ptr, old_size, new) } {
            commit_map::unmove_records(ptr as usize, old_size, new as usize, new_size);
            commit_map::uncharge(tail);
            // SAFETY: the new reservation was never handed out.
            unsafe { self.release(new, new_size, align) };
            return ptr::null_mut();
        }
        #[cfg(test)]
        tests::after_move(ptr, old_size);
        // The old reservation's guard page stayed behind.
        // SAFETY: it was mapped with the old reservation, which is gone.
        unsafe { platform::unmap(ptr.add(old_size), tail_guard()) };
        new
    }

    fn fresh_memory_is_zeroed(&self) -> bool {
        // Not the option alone: memory discarded with `MADV_FREE` before the
        // option was switched off may be committed again, with its old
        // contents.
        !options::decommit_free() && !DISCARDED_LAZILY.load(Ordering::Acquire)
    }

    fn may_contain(&self, addr: usize) -> bool {
        commit_map::contains(addr)
    }

    fn clock_ms(&self) -> Option<u64> {
        Some(platform::clock_ms())
    }

    fn clock_tick_ms(&self) -> u64 {
        platform::clock_tick_ms()
    }

    fn policy_generation(&self) -> u64 {
        options::generation()
    }

    fn policy(&self, current: &masu_core::Config) -> masu_core::Config {
        // The seed and geometry are the heap's own (`Heap::set_policy`
        // keeps them); the rest comes from the options in force.
        options::heap_config(current.seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    /// A hook: what a test runs in `remap` right after the mapping moved,
    /// given the old range.
    type Hook = fn(*mut u8, usize);

    std::thread_local! {
        /// The calling test's hook.
        static AFTER_MOVE: Cell<Option<Hook>> = const { Cell::new(None) };
    }

    /// Runs the calling test's hook, if any.
    pub(super) fn after_move(old: *mut u8, old_size: usize) {
        if let Some(f) = AFTER_MOVE.with(|h| h.get()) {
            f(old, old_size)
        }
    }

    std::thread_local! {
        /// Whether the calling test's last `reserve_the_old_range` got the
        /// range it asked for.
        static TOOK_OLD: Cell<bool> = const { Cell::new(false) };
    }

    /// Stands for another thread reserving the range a moved block left,
    /// as the kernel may let it the moment the mapping moved. A test
    /// running beside this one may have taken the range first: then nothing
    /// is kept and `TOOK_OLD` says so.
    fn reserve_the_old_range(old: *mut u8, old_size: usize) {
        let p = platform::map_near(old as usize, old_size);
        let took = p == old;
        if took {
            assert!(commit_map::add_reservation(old as usize, old_size));
        } else if !p.is_null() {
            // SAFETY: the mapping just made, which nothing uses.
            unsafe { platform::unmap(p, old_size) };
        }
        TOOK_OLD.with(|t| t.set(took));
    }

    /// A reservation made where a moved block was, between the move and
    /// the end of `remap`, keeps its records: the commit map forgot the old
    /// reservation before the move (it cleared them after, wiping the new
    /// reservation's, and `checks` then took its blocks for foreign
    /// pointers).
    #[test]
    fn a_reservation_made_where_a_moved_block_was_is_kept() {
        if !options::remap() {
            return;
        }
        let os = MmapOs;
        let size = 2 * CHUNK;
        // Tests run side by side in this process and map memory too: one
        // may take the old range before the hook does; then try again.
        for _ in 0..20 {
            let old = os.reserve(size, CHUNK);
            assert!(!old.is_null());
            // SAFETY: the whole reservation, not committed yet.
            assert!(unsafe { os.commit(old, size) });
            AFTER_MOVE.with(|h| h.set(Some(reserve_the_old_range)));
            // SAFETY: a whole committed reservation that nothing uses.
            let new = unsafe { os.remap(old, size, 3 * CHUNK, CHUNK) };
            AFTER_MOVE.with(|h| h.set(None));
            assert!(!new.is_null() && new != old);
            assert!(commit_map::contains(new as usize));
            if !TOOK_OLD.with(|t| t.get()) {
                // SAFETY: a whole reservation that nothing uses.
                unsafe { os.release(new, 3 * CHUNK, CHUNK) };
                continue;
            }
            assert!(
                commit_map::contains(old as usize) && commit_map::contains(old as usize + CHUNK),
                "the reservation made at the old place was forgotten"
            );
            // SAFETY: both are whole reservations that nothing uses.
            unsafe {
                os.release(old, size, CHUNK);
                os.release(new, 3 * CHUNK, CHUNK);
            }
            return;
        }
        panic!("another test took the old range in each of 20 tries");
    }

    /// The free fast path masks and shifts by `MmapOs::GEOMETRY`: a heap
    /// over it with any other geometry would find wrong pages, so it is
    /// refused when built.
    #[test]
    #[should_panic(expected = "the Os fixes another segment geometry")]
    fn a_heap_over_mmap_os_with_another_geometry_is_refused() {
        let _ = masu_core::Heap::new(MmapOs, masu_core::Config::FIXED_REGION);
    }

    #[test]
    fn the_shim_heaps_geometry_is_the_one_mmap_os_fixes() {
        let c = crate::options::heap_config(1);
        assert_eq!(MmapOs::GEOMETRY, Some((c.segment_shift, c.slice_shift)));
        let _ = masu_core::Heap::new(MmapOs, c);
    }
}
