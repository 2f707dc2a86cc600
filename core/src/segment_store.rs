//! Slices and segments: where a page's or a large span's memory comes
//! from. Runs of free slices in the heap's segments (already committed ones
//! first when `committed_first`), then cached segments, then a new segment
//! from the `Os`; committing what a run lacks. Memory goes back the other
//! way in `release.rs`.

use crate::config::header_bytes;
use crate::heap::Heap;
use crate::os::Os;
use crate::segment::{bit_runs, range_bits, run_starts, Reservation, Segment};
use crate::stats::CounterSink;
use core::ptr;

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Takes `n` contiguous free slices whose index is a multiple of `step`,
    /// committing them; makes a new segment when none has room. Returns the
    /// segment, the first slice and whether the memory is known zero.
    pub(crate) fn take_slices(
        &mut self,
        n: usize,
        step: usize,
    ) -> Option<(*mut Segment, usize, bool)> {
        if let Some(found) = self.take_slices_in_segments(n, step) {
            return Some(found);
        }
        // Before growing, take back what other threads freed into full pages:
        // the bounded rescan on each slow path can lag behind them.
        if self.reclaim_full_pages() {
            if let Some(found) = self.take_slices_in_segments(n, step) {
                return Some(found);
            }
        }
        let mut seg = self.new_segment();
        if seg.is_null() {
            // Out of memory: free kept empty pages, purge and release the
            // cache, then look again before giving up.
            if !self.relieve_memory_pressure() {
                return None;
            }
            if let Some(found) = self.take_slices_in_segments(n, step) {
                return Some(found);
            }
            seg = self.new_segment();
            if seg.is_null() {
                return None;
            }
        }
        // SAFETY: a new segment is live and ours.
        let starts = run_starts(unsafe { (*seg).free_mask }, n, step);
        if starts == 0 {
            return None;
        }
        let idx = starts.trailing_zeros() as usize;
        self.claim_slices(seg, idx, n)
            .map(|fresh| (seg, idx, fresh))
    }

    /// Takes `n` free slices (index a multiple of `step`) from an existing
    /// segment, if one has room: with `committed_first`, a run that is
    /// already committed wherever one is (the segments in use, then the
    /// cached ones), before the first run of any kind.
    fn take_slices_in_segments(
        &mut self,
        n: usize,
        step: usize,
    ) -> Option<(*mut Segment, usize, bool)> {
        if self.config.committed_first {
            // SAFETY: a segment's masks are read through its raw pointer.
            let committed = |seg: *mut Segment| unsafe { (*seg).committed_mask };
            if let Some((seg, idx)) = self.find_run(n, step, committed) {
                return self
                    .claim_slices(seg, idx, n)
                    .map(|fresh| (seg, idx, fresh));
            }
            let seg = self.cache_take_committed_run(n, step);
            if !seg.is_null() {
                // SAFETY: the segment came out of the cache and is ours.
                let starts =
                    run_starts(unsafe { (*seg).free_mask & (*seg).committed_mask }, n, step);
                let idx = starts.trailing_zeros() as usize;
                return self
                    .claim_slices(seg, idx, n)
                    .map(|fresh| (seg, idx, fresh));
            }
        }
        let (seg, idx) = self.find_run(n, step, |_| u64::MAX)?;
        self.claim_slices(seg, idx, n)
            .map(|fresh| (seg, idx, fresh))
    }

    /// The first segment in use with `n` free slices (index a multiple of
    /// `step`) among those `within` allows, and the first such run.
    fn find_run(
        &self,
        n: usize,
        step: usize,
        within: impl Fn(*mut Segment) -> u64,
    ) -> Option<(*mut Segment, usize)> {
        let mut seg = self.lists.normal_first();
        while !seg.is_null() {
            // SAFETY: segments in the list are live and ours.
            unsafe {
                let free = (*seg).free_mask;
                if free == 0 {
                    break; // full segments sit at the back
                }
                let starts = run_starts(free & within(seg), n, step);
                if starts != 0 {
                    return Some((seg, starts.trailing_zeros() as usize));
                }
                seg = (*seg).next;
            }
        }
        None
    }

    /// Marks slices `[idx, idx + n)` used and commits them.
    pub(crate) fn claim_slices(&mut self, seg: *mut Segment, idx: usize, n: usize) -> Option<bool> {
        let range = range_bits(idx, n);
        // SAFETY: `seg` is live and ours; the range is free.
        unsafe {
            if idx + n > (*seg).described as usize {
                Segment::describe_all(seg);
            }
            let missing = range & !(*seg).committed_mask;
            if missing != 0 && !self.commit_slices(seg, missing) {
                // Retry once after giving back what waits for its purge delay
                // (which may decommit more of the range).
                if !self.relieve_memory_pressure()
                    || !self.commit_slices(seg, range & !(*seg).committed_mask)
                {
                    return None;
                }
            }
            // Through the raw pointer: other threads read the header's
            // fixed fields meanwhile (see "Access" on `Segment`).
            let fresh = (*seg).zero_mask & range == range;
            (*seg).zero_mask &= !range;
            (*seg).free_mask &= !range;
            if (*seg).free_mask == 0 {
                self.lists.normal_went_full(seg);
            }
            Some(fresh)
        }
    }

    /// Commits the runs of slices in `mask` (all uncommitted), recording each
    /// run that succeeds; false when the `Os` refuses one.
    fn commit_slices(&mut self, seg: *mut Segment, mask: u64) -> bool {
        let g = self.geometry;
        for (first, run, bits) in bit_runs(mask) {
            let addr = Segment::slice_addr(seg, first, g.slice_shift);
            // SAFETY: the run lies inside the segment's reservation.
            if unsafe { !self.store.commit(addr, run << g.slice_shift) } {
                return false;
            }
            // SAFETY: `seg` is live and ours; written through the raw
            // pointer (see "Access" on `Segment`).
            unsafe { (*seg).committed_mask |= bits };
            if self.store.fresh_memory_is_zeroed() {
                // SAFETY: as above.
                unsafe { (*seg).zero_mask |= bits };
            }
        }
        true
    }

    /// With guard pages ([`Store::guards`]): makes the pages between a new
    /// normal segment's header and its first slice inaccessible, so that
    /// no linear underflow of a block reaches the header. False when the
    /// `Os` refused.
    ///
    /// # Safety
    /// `base` is a fresh segment whose header slices are committed and hold
    /// nothing yet.
    ///
    /// [`Store::guards`]: crate::store::Store
    unsafe fn guard_header_slack(&mut self, base: *mut u8) -> bool {
        let g = self.geometry;
        if !self.store.guards() {
            return true;
        }
        let page = self.store.page_size();
        let from = header_bytes(g.slice_count, g.page_stride).next_multiple_of(page);
        let to = g.header_slices << g.slice_shift;
        // SAFETY: guaranteed by the caller; `[from, to)` is past the header.
        to <= from || unsafe { self.store.guard(base.add(from), to - from) }
    }

    /// A new normal segment (from the cache or the `Os`), first in the list.
    pub(crate) fn new_segment(&mut self) -> *mut Segment {
        self.ensure_id();
        let g = self.geometry;
        let mut seg = self.cache_take_normal();
        if seg.is_null() {
            let mut base = self.store.reserve(g.segment_size, g.segment_size);
            if base.is_null() && self.release_cache() {
                base = self.store.reserve(g.segment_size, g.segment_size);
            }
            if base.is_null() {
                return ptr::null_mut();
            }
            let header = g.header_slices << g.slice_shift;
            // SAFETY: `base` is a fresh reservation of `segment_size` bytes.
            if !self.commit_or_relieve(base, header) {
                // SAFETY: giving back the reservation just made.
                unsafe { self.store.release(base, g.segment_size, g.segment_size, 0) };
                return ptr::null_mut();
            }
            // SAFETY: the header's slices are committed and unused past the
            // header itself.
            if !unsafe { self.guard_header_slack(base) } {
                // SAFETY: giving back the reservation just made.
                unsafe {
                    self.store
                        .release(base, g.segment_size, g.segment_size, header)
                };
                return ptr::null_mut();
            }
            seg = base as *mut Segment;
            let key = self.new_key(base as usize);
            let res = Reservation {
                base,
                size: g.segment_size,
                align: g.segment_size,
            };
            // SAFETY: the header is committed and ours.
            unsafe {
                Segment::write_normal(
                    seg,
                    res,
                    (g.slice_shift, g.slice_count, g.header_slices, g.page_stride),
                    key,
                    self.store.page_size(),
                )
            };
            debug_assert!(header_bytes(g.slice_count, g.page_stride) <= header);
        }
        // SAFETY: `seg` is live and in no list.
        unsafe { self.lists.add_normal(seg) };
        seg
    }
}
