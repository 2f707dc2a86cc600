//! Where a heap's committed bytes are: one walk over its segments that
//! splits [`Stats::committed_bytes`](crate::Stats::committed_bytes) into its
//! sources, so that "why is the resident set larger than the live bytes" has
//! an answer in numbers.
//!
//! Invariant (checked by [`Heap::committed_breakdown`] in debug builds and
//! by the tests): the sources add up to the heap's committed bytes.

use crate::heap::Heap;
use crate::os::Os;
use crate::page::{Page, PageClass};
use crate::segment::{range_bits, Segment};
use crate::stats::CounterSink;

/// A heap's committed bytes by source. The fields add up to
/// [`CommittedBreakdown::total`], which is the heap's committed bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CommittedBreakdown {
    /// Bytes of the blocks handed out and not known freed, at their block
    /// size (so the rounding of requests to size classes is inside; blocks
    /// freed by other threads and not yet collected are too).
    pub live_bytes: usize,
    /// Free blocks, and room not yet carved into blocks, in pages that hold
    /// live blocks.
    pub free_in_pages: usize,
    /// Free slices of segments in use that are still committed, waiting
    /// for their purge delay.
    pub empty_waiting: usize,
    /// Empty pages kept for their class (the only page of a class is kept
    /// when it empties, and a page other threads emptied waits in its
    /// class queue, until it has been idle for the purge delay).
    pub kept_pages: usize,
    /// Committed memory of the segments in the segment cache.
    pub cached: usize,
    /// Segment headers with their page descriptors (normal segments: the
    /// header slices; huge segments: the bytes before the block).
    pub headers: usize,
}

impl CommittedBreakdown {
    /// The sum of the sources.
    pub fn total(&self) -> usize {
        self.live_bytes
            + self.free_in_pages
            + self.empty_waiting
            + self.kept_pages
            + self.cached
            + self.headers
    }

    /// Adds `other`'s figures into `self` (for several heaps).
    pub fn merge(&mut self, other: &CommittedBreakdown) {
        self.live_bytes += other.live_bytes;
        self.free_in_pages += other.free_in_pages;
        self.empty_waiting += other.empty_waiting;
        self.kept_pages += other.kept_pages;
        self.cached += other.cached;
        self.headers += other.headers;
    }
}

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Where this heap's committed bytes are (see [`CommittedBreakdown`]).
    /// Work is proportional to the heap's slices; call it off the hot path.
    pub fn committed_breakdown(&self) -> CommittedBreakdown {
        let mut b = CommittedBreakdown::default();
        let mut seg = self.lists.normal_first();
        while !seg.is_null() {
            // SAFETY: listed segments are live and ours.
            unsafe {
                Self::add_normal_segment(&mut b, seg);
                seg = (*seg).next;
            }
        }
        let mut seg = self.lists.huge_first();
        while !seg.is_null() {
            // SAFETY: listed huge segments are live and ours; their one
            // page descriptor follows the header.
            unsafe {
                let page = Segment::page(seg, 0);
                debug_assert_eq!((*page).class, PageClass::HUGE);
                let header = (*page).start as usize - seg as usize;
                let committed = (*seg).committed_bytes;
                let block = (*page).block_size.min(committed - header);
                b.headers += header;
                b.live_bytes += block;
                b.free_in_pages += committed - header - block;
                seg = (*seg).next;
            }
        }
        let mut seg = self.lists.arena_first();
        while Self::ARENAS && !seg.is_null() {
            // SAFETY: listed arenas are live and ours.
            unsafe {
                let (header, live, free) = Self::arena_bytes(seg);
                b.headers += header;
                b.live_bytes += live;
                b.free_in_pages += free;
                seg = (*seg).next;
            }
        }
        let mut seg = self.lists.cache_first();
        while !seg.is_null() {
            // SAFETY: cached segments are live and ours.
            unsafe {
                b.cached += Segment::committed(seg);
                seg = (*seg).next;
            }
        }
        debug_assert_eq!(b.total(), self.store.committed_bytes(), "{b:?}");
        b
    }

    /// Adds the committed slices of normal segment `seg` to `b`.
    ///
    /// # Safety
    /// `seg` is a live normal segment of this heap.
    unsafe fn add_normal_segment(b: &mut CommittedBreakdown, seg: *mut Segment) {
        // SAFETY: guaranteed by the caller; descriptors are read through the
        // raw pointer (see "Access" on `Page`).
        unsafe {
            let shift = (*seg).slice_shift;
            let committed = (*seg).committed_mask;
            let header = (*seg).header_slices as usize;
            b.headers += ((committed & range_bits(0, header)).count_ones() as usize) << shift;
            b.empty_waiting += (((*seg).free_mask & committed).count_ones() as usize) << shift;
            let mut i = header;
            while i < (*seg).slice_count as usize {
                if (*seg).free_mask & (1 << i) != 0 {
                    i += 1;
                    continue;
                }
                let page = Segment::page(seg, i);
                debug_assert!((*page).class != PageClass::UNUSED && (*page).slice_offset == 0);
                let n = ((*page).slice_count as usize).max(1);
                let bytes = ((committed & range_bits(i, n)).count_ones() as usize) << shift;
                let live = (Page::used_of(page) as usize * (*page).block_size).min(bytes);
                if live == 0 {
                    b.kept_pages += bytes;
                } else {
                    b.live_bytes += live;
                    b.free_in_pages += bytes - live;
                }
                i += n;
            }
        }
    }
}
