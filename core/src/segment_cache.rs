//! The segment cache: empty normal segments and freed huge segments kept
//! for reuse, bounded by count and by committed bytes (see
//! `Config::with_segment_cache`), their free memory purged after the purge
//! delay; and giving segments back to the `Os`.

use crate::heap::Heap;
use crate::os::Os;
use crate::segment::{run_starts, Segment, SegmentKind};
use crate::stats::CounterSink;
use core::ptr;

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Puts an empty normal or freed huge segment into the cache, evicting the
    /// oldest entries to stay within the bounds; releases it if it can't fit.
    /// The byte bound counts committed bytes: a purged segment in the cache
    /// holds address space only.
    pub(crate) fn cache_put(&mut self, seg: *mut Segment) {
        // SAFETY: `seg` is live, ours, and in no segment list.
        unsafe {
            let size = Segment::committed(seg);
            let max_count = self.config.segment_cache_count as usize;
            let max_bytes = self.cache_bound();
            if max_count == 0 || size > max_bytes {
                self.release_segment(seg);
                return;
            }
            loop {
                let (count, bytes) = self.lists.cached();
                if count < max_count && bytes + size <= max_bytes {
                    break;
                }
                let oldest = self.lists.cache_oldest();
                self.lists.cache_take(oldest);
                self.release_segment(oldest);
            }
            self.lists.cache_push(seg);
            self.schedule_purge(seg);
        }
    }

    /// The byte bound of the segment cache: `segment_cache_bytes`, or the
    /// live huge bytes when more and `cache_follows_huge`.
    fn cache_bound(&self) -> usize {
        let fixed = self.config.segment_cache_bytes;
        if self.config.cache_follows_huge && fixed != 0 {
            fixed.max(self.counts.huge_live_bytes())
        } else {
            fixed
        }
    }

    /// Takes a cached normal segment, or null.
    pub(crate) fn cache_take_normal(&mut self) -> *mut Segment {
        let mut seg = self.lists.cache_first();
        while !seg.is_null() {
            // SAFETY: cached segments are live and ours.
            unsafe {
                if (*seg).kind == SegmentKind::Normal {
                    self.cache_remove(seg);
                    return seg;
                }
                seg = (*seg).next;
            }
        }
        ptr::null_mut()
    }

    /// Takes the cached huge segment that serves a block ending `need`
    /// bytes after its header with the fewest new commits, or null (also
    /// when that would commit more than a quarter of `need` though the
    /// segment holds more than that committed, while the cache has room to
    /// grow). A segment qualifies when its reservation is at
    /// least `need` and at most eight times that, or, when `grow` (the `Os` can remap), smaller but
    /// with at least a quarter of `need` still committed; among equals the
    /// one that needs no remap, then the smaller. Segments reserved with a
    /// larger alignment (whose header is not at the reservation's start) are
    /// not reused.
    pub(crate) fn cache_take_huge(&mut self, need: usize, grow: bool) -> *mut Segment {
        let mut best: *mut Segment = ptr::null_mut();
        let mut best_key = (usize::MAX, true, usize::MAX, usize::MAX);
        let mut seg = self.lists.cache_first();
        while !seg.is_null() {
            // SAFETY: cached segments are live and ours.
            unsafe {
                let s = &*seg;
                let (size, committed) = (s.reserved_size, s.committed_bytes);
                let fits = size >= need && size / 8 <= need;
                let growable = grow && size < need && committed >= need / 4;
                if s.kind == SegmentKind::Huge
                    && s.reservation == seg as *mut u8
                    && (fits || growable)
                {
                    let key = (need.saturating_sub(committed), !fits, committed, size);
                    if key < best_key {
                        best = seg;
                        best_key = key;
                    }
                }
                seg = s.next;
            }
        }
        // A poor fit that still holds committed memory, while the cache has
        // room: a new reservation lets the cache grow to the working set,
        // where later requests find committed memory that fits. (A purged
        // segment is reused: a new reservation would fault as much.)
        let (count, bytes) = self.lists.cached();
        let room = count < self.config.segment_cache_count as usize && bytes < self.cache_bound();
        if best.is_null() || (best_key.0 > need / 4 && best_key.2 > need / 4 && room) {
            return ptr::null_mut();
        }
        self.cache_remove(best);
        best
    }

    /// Takes `seg` out of the cache (and the purge queue); a normal
    /// segment's page descriptors are reset, its slices keep their state.
    /// Out of line (the compiler inlined it into two callers once
    /// `reset_pages` became a call: 676 more bytes of `libmasu.so` text).
    #[inline(never)]
    fn cache_remove(&mut self, seg: *mut Segment) {
        // SAFETY: `seg` is a live cached segment of ours.
        unsafe {
            self.lists.cache_take(seg);
            if (*seg).kind == SegmentKind::Normal {
                Segment::reset_pages(seg, 0, (*seg).described as usize);
            }
        }
    }

    /// Takes out of the cache a normal segment that has a run of `n` free,
    /// committed slices (index a multiple of `step`), and lists it as in use;
    /// null when none has.
    pub(crate) fn cache_take_committed_run(&mut self, n: usize, step: usize) -> *mut Segment {
        let mut seg = self.lists.cache_first();
        while !seg.is_null() {
            // SAFETY: cached segments are live and ours.
            unsafe {
                let s = &*seg;
                if s.kind == SegmentKind::Normal
                    && run_starts(s.free_mask & s.committed_mask, n, step) != 0
                {
                    self.cache_remove(seg);
                    self.lists.add_normal(seg);
                    return seg;
                }
                seg = s.next;
            }
        }
        ptr::null_mut()
    }

    /// Releases every cached segment; true when any was released.
    pub(crate) fn release_cache(&mut self) -> bool {
        self.release_cached_where(|_| true) != 0
    }

    /// Releases the cached segments whose purge is done (none of their free
    /// memory waits for its delay: they hold their header and address
    /// space only); returns how many. For an owner that went idle
    /// (`Heap::release_while_owner_idle`): its cache spares the mappings
    /// of a busy owner, and an idle one makes none.
    pub(crate) fn release_purged_cache(&mut self) -> usize {
        self.release_cached_where(|seg| {
            // SAFETY: cached segments are live.
            !unsafe { (*seg).in_purge_queue }
        })
    }

    /// Releases the cached segments for which `release` is true; returns
    /// how many.
    fn release_cached_where(&mut self, mut release: impl FnMut(*mut Segment) -> bool) -> usize {
        let mut released = 0;
        let mut seg = self.lists.cache_first();
        while !seg.is_null() {
            // SAFETY: cached segments are live and ours; `next` is read
            // before the segment is released.
            unsafe {
                let next = (*seg).next;
                if release(seg) {
                    self.lists.cache_take(seg);
                    self.release_segment(seg);
                    released += 1;
                }
                seg = next;
            }
        }
        released
    }

    /// Gives a segment (in no list) back to the `Os`.
    // Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
    #[inline(never)]
    pub(crate) fn release_segment(&mut self, seg: *mut Segment) {
        // SAFETY: `seg` is live, ours, and in no segment list.
        unsafe {
            self.lists.purge_remove(seg);
            let committed = Segment::committed(seg);
            let s = &*seg;
            let (base, size, align) = (s.reservation, s.reserved_size, s.reserved_align);
            self.store.release(base, size, align, committed);
        }
    }
}
