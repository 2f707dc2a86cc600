//! [`SegmentLists`]: where each of a heap's segments is filed. A normal
//! segment in use is in `normal` (those with free slices first, full ones at
//! the back, so that a search for free slices stops at the first full one);
//! a huge segment in use is in `huge`; an arena segment in `arenas` (the
//! one that serves first at the front); an empty normal or freed huge segment
//! kept for reuse is in the cache (newest first, `cached` set, its committed
//! bytes counted in `cache_bytes`); a segment with free, committed memory
//! waiting for its purge delay is also in the purge queue. Only this file
//! changes these lists and counts; the policy (when to cache, purge or
//! release) is in `segment_cache.rs` and `release.rs`.
//!
//! Invariants (checked by `Heap::check_invariants`): every listed segment is
//! in exactly one of `normal`, `huge`, `arenas` and the cache; `cached` is set exactly
//! in the cache; `cache_bytes` is the committed bytes of the cached
//! segments; `in_purge_queue` is set exactly in the purge queue; no segment
//! with free slices follows a full one in `normal`.

use crate::segment::{PurgeQueue, Segment, SegmentList};

/// The lists of a heap's segments (see the module documentation).
pub(crate) struct SegmentLists {
    normal: SegmentList,
    huge: SegmentList,
    arenas: SegmentList,
    cache: SegmentList,
    cache_bytes: usize,
    purge: PurgeQueue,
}

impl SegmentLists {
    /// No segment.
    pub(crate) const EMPTY: SegmentLists = SegmentLists {
        normal: SegmentList::EMPTY,
        huge: SegmentList::EMPTY,
        arenas: SegmentList::EMPTY,
        cache: SegmentList::EMPTY,
        cache_bytes: 0,
        purge: PurgeQueue::EMPTY,
    };

    /// The first normal segment in use (those with free slices first), or
    /// null; the others follow through `next`.
    #[inline]
    pub(crate) fn normal_first(&self) -> *mut Segment {
        self.normal.first
    }

    /// The first huge segment in use, or null.
    #[inline]
    pub(crate) fn huge_first(&self) -> *mut Segment {
        self.huge.first
    }

    /// The newest cached segment, or null (the older ones follow).
    #[inline]
    pub(crate) fn cache_first(&self) -> *mut Segment {
        self.cache.first
    }

    /// The oldest cached segment, or null.
    #[inline]
    pub(crate) fn cache_oldest(&self) -> *mut Segment {
        self.cache.last
    }

    /// The segment at the front of the purge queue, or null (the others
    /// follow through `purge_next`).
    #[inline]
    pub(crate) fn purge_first(&self) -> *mut Segment {
        self.purge.first
    }

    /// Segments in use: normal and huge.
    #[inline]
    pub(crate) fn in_use(&self) -> (usize, usize) {
        (self.normal.len, self.huge.len)
    }

    /// Cached segments, and their committed bytes.
    #[inline]
    pub(crate) fn cached(&self) -> (usize, usize) {
        (self.cache.len, self.cache_bytes)
    }

    /// Files a new or reused normal segment as in use, first.
    ///
    /// # Safety
    /// `seg` is a live normal segment of the heap in no list.
    pub(crate) unsafe fn add_normal(&mut self, seg: *mut Segment) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.normal.push_front(seg) }
    }

    /// Takes a normal segment out of use (it went empty or goes back).
    ///
    /// # Safety
    /// `seg` is in `normal`.
    pub(crate) unsafe fn remove_normal(&mut self, seg: *mut Segment) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.normal.remove(seg) }
    }

    /// A normal segment's last free slice was taken: it moves to the back.
    ///
    /// # Safety
    /// `seg` is in `normal`.
    #[inline]
    pub(crate) unsafe fn normal_went_full(&mut self, seg: *mut Segment) {
        if self.normal.last != seg {
            // SAFETY: guaranteed by the caller.
            unsafe {
                self.normal.remove(seg);
                self.normal.push_back(seg);
            }
        }
    }

    /// Slices of a normal segment were freed: it moves to the front.
    ///
    /// # Safety
    /// `seg` is in `normal`.
    #[inline]
    pub(crate) unsafe fn normal_got_free(&mut self, seg: *mut Segment) {
        if self.normal.first != seg {
            // SAFETY: guaranteed by the caller.
            unsafe {
                self.normal.remove(seg);
                self.normal.push_front(seg);
            }
        }
    }

    /// The arena segment that serves first, or null (the others follow).
    #[inline]
    pub(crate) fn arena_first(&self) -> *mut Segment {
        self.arenas.first
    }

    /// Arena segments.
    #[inline]
    pub(crate) fn arena_count(&self) -> usize {
        self.arenas.len
    }

    /// Files an arena segment first, to serve before the others.
    ///
    /// # Safety
    /// `seg` is a live arena segment of the heap in no list.
    pub(crate) unsafe fn add_arena_first(&mut self, seg: *mut Segment) {
        // SAFETY: forwarded from the caller.
        unsafe { self.arenas.push_front(seg) }
    }

    /// Takes an arena segment out of the list.
    ///
    /// # Safety
    /// `seg` is in `arenas`.
    pub(crate) unsafe fn remove_arena(&mut self, seg: *mut Segment) {
        // SAFETY: forwarded from the caller.
        unsafe { self.arenas.remove(seg) }
    }

    /// Files a huge segment as in use.
    ///
    /// # Safety
    /// `seg` is a live huge segment of the heap in no list.
    pub(crate) unsafe fn add_huge(&mut self, seg: *mut Segment) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.huge.push_back(seg) }
    }

    /// Takes a huge segment out of use.
    ///
    /// # Safety
    /// `seg` is in `huge`.
    pub(crate) unsafe fn remove_huge(&mut self, seg: *mut Segment) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.huge.remove(seg) }
    }

    /// Puts a segment in the cache, newest, counting its committed bytes.
    ///
    /// # Safety
    /// `seg` is a live segment of the heap in no list.
    pub(crate) unsafe fn cache_push(&mut self, seg: *mut Segment) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            (*seg).cached = true;
            self.cache.push_front(seg);
            self.cache_bytes += Segment::committed(seg);
        }
    }

    /// Takes a segment out of the cache and of the purge queue.
    ///
    /// # Safety
    /// `seg` is in the cache.
    // Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
    #[inline(never)]
    pub(crate) unsafe fn cache_take(&mut self, seg: *mut Segment) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            self.cache.remove(seg);
            self.purge.remove(seg);
            (*seg).cached = false;
            self.cache_bytes -= Segment::committed(seg);
        }
    }

    /// `len` bytes of a cached segment were decommitted.
    #[inline]
    pub(crate) fn cache_decommitted(&mut self, len: usize) {
        self.cache_bytes -= len;
    }

    /// Queues `seg` for purging, unless it is queued, in the order the
    /// purges fall due (`due`; see [`PurgeQueue::enqueue`]).
    ///
    /// # Safety
    /// `seg` is a live segment of the heap.
    pub(crate) unsafe fn purge_enqueue(
        &mut self,
        seg: *mut Segment,
        due: impl Fn(*mut Segment) -> u64,
    ) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.purge.enqueue(seg, due) }
    }

    /// Empties the purge queue without touching its segments: the caller
    /// clears their `in_purge_queue` and queues them again.
    pub(crate) fn purge_clear(&mut self) {
        self.purge = PurgeQueue::EMPTY;
    }

    /// Takes `seg` out of the purge queue if it is queued.
    ///
    /// # Safety
    /// `seg` is a live segment of the heap.
    pub(crate) unsafe fn purge_remove(&mut self, seg: *mut Segment) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.purge.remove(seg) }
    }
}
