//! Large and huge blocks.
//!
//! * **Large**: a request above the size classes (or aligned beyond a slice)
//!   that fits in half a segment takes a run of whole slices in a normal
//!   segment: a page with one block. Freed spans go back to their segment as
//!   free, still-committed slices, so a new span reuses them without faults
//!   until the purge delay decommits them.
//! * **Huge**: anything larger gets a segment of its own, sized to fit. Freed
//!   huge segments pass through the byte-bounded segment cache (see
//!   `release.rs`) before going back to the `Os`.

use crate::heap::{Heap, FREE_BY_HEAP_SHIFT};
use crate::os::Os;
use crate::page::{Page, PageClass, OWNER_SLOW};
use crate::segment::{range_bits, Reservation, Segment, SegmentKind};
use crate::stats::CounterSink;
use crate::sync::Ordering;
use core::mem::size_of;
use core::ptr;

/// Bytes before the block in a huge segment with default alignment.
const HUGE_HEADER: usize = (size_of::<Segment>() + size_of::<Page>() + 15) & !15;

/// Bytes at the start of a cached huge segment that a purge keeps committed
/// (the header's `Os` pages); the rest is decommitted.
pub(crate) fn huge_kept_bytes(page_size: usize) -> usize {
    (HUGE_HEADER + page_size - 1) & !(page_size - 1)
}

/// The end, rounded up to the `Os` page, of the block of huge segment `seg`
/// in use, from its header: what a purge of its slack keeps.
///
/// # Safety
/// `seg` is a live huge segment in use.
pub(crate) unsafe fn huge_block_end(seg: *mut Segment, page_size: usize) -> usize {
    // SAFETY: guaranteed by the caller; descriptor 0 follows the header.
    unsafe {
        let page = Segment::page(seg, 0);
        let end = (*page).start as usize - seg as usize + (*page).block_size;
        (end + page_size - 1) & !(page_size - 1)
    }
}

/// Without `Config::huge_keep_slack`, a reused huge segment keeps committed
/// memory past the request (as the block's usable size) when it is at most
/// this fraction of the request.
const HUGE_SLACK_DIV: usize = 1;

/// The end, rounded up to the `Os` page, of a block of `size` bytes at
/// `block_off` from its segment's header; None on overflow.
fn block_end(block_off: usize, size: usize, page_size: usize) -> Option<usize> {
    block_off
        .checked_add(size)?
        .checked_add(page_size - 1)
        .map(|e| e & !(page_size - 1))
}

/// Where a huge segment's block starts, from its header, for the smallest
/// alignments: right after the header, or, with a guard page of `guard`
/// bytes (0: none), after the header's pages and the guard.
fn huge_block_start(guard: usize, page_size: usize) -> usize {
    if guard == 0 {
        HUGE_HEADER
    } else {
        huge_kept_bytes(page_size) + guard
    }
}

/// Where the parts of a huge segment go.
struct HugeLayout {
    /// Bytes to reserve and their alignment.
    total: usize,
    align: usize,
    /// Offset of the segment header in the reservation.
    header_off: usize,
    /// Offset of the block from the segment header.
    block_off: usize,
    /// Bytes of the guard page between the header's pages and the block
    /// (0: none). It lies right after the header's pages for every layout,
    /// so that a cached segment keeps it where any later block expects it.
    guard: usize,
}

impl HugeLayout {
    /// The layout of a block of `size` bytes aligned to `align`, with a
    /// guard page before it when `guard` (its size: the `Os` page) is not 0.
    fn new(
        size: usize,
        align: usize,
        segment_size: usize,
        page_size: usize,
        guard: usize,
    ) -> Option<HugeLayout> {
        let round = |n: usize| n.checked_add(page_size - 1).map(|v| v & !(page_size - 1));
        if align <= segment_size {
            // The block starts within the first segment-sized chunk (or exactly
            // one segment in), so `Segment::of` finds the header.
            let block_off = (huge_block_start(guard, page_size) + align - 1) & !(align - 1);
            Some(HugeLayout {
                total: round(block_off.checked_add(size)?)?,
                align: segment_size,
                header_off: 0,
                block_off,
                guard,
            })
        } else {
            // Reserve aligned to `align`; the block starts at `align`, the
            // header one segment before it.
            Some(HugeLayout {
                total: round(align.checked_add(size)?)?,
                align,
                header_off: align - segment_size,
                block_off: segment_size,
                guard,
            })
        }
    }
}

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Allocates a large span or a huge segment.
    #[cold]
    #[inline(never)]
    pub(crate) fn alloc_large(&mut self, size: usize, align: usize, zero: bool) -> *mut u8 {
        self.on_slow_event();
        let g = self.geometry;
        let size = size.max(1);
        if align <= g.segment_size / 2 {
            let n = size.div_ceil(g.slice_size);
            if n <= g.max_large_slices {
                let step = if align > g.slice_size {
                    align / g.slice_size
                } else {
                    1
                };
                let Some((seg, idx, fresh)) = self.take_slices(n, step) else {
                    return ptr::null_mut();
                };
                // SAFETY: the slices were just taken for this span.
                unsafe {
                    let page = Segment::page(seg, idx);
                    let start = Segment::slice_addr(seg, idx, g.slice_shift);
                    let bytes = n * g.slice_size;
                    self.init_page(seg, page, idx, n, PageClass::LARGE, bytes, 1, start, fresh);
                    self.start_single_block_page(page);
                    self.counts.large_span(true);
                    let start = (*page).start;
                    if zero && !fresh {
                        ptr::write_bytes(start, 0, size);
                    }
                    return start;
                }
            }
        }
        self.alloc_huge(size, align, zero)
    }

    /// Marks a one-block page as handing out its block and files it in the
    /// `full` queue, where the owner notices remote frees.
    ///
    /// # Safety
    /// `page` is a freshly initialised large or huge page of this heap.
    unsafe fn start_single_block_page(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            (*page).capacity = 1;
            Page::set_used(page, 1);
            // A block freed here before may have left its freed tag in the
            // second word; a remote free of the new block trusts that tag.
            #[cfg(feature = "checks")]
            crate::block_check::clear_freed_tag(&*page, (*page).start);
            #[cfg(all(feature = "secure", not(feature = "checks")))]
            crate::secure::untag((*page).start);
            self.pages.enter_full(page);
            // Counted at once: a slow path anyway.
            #[cfg(feature = "stats")]
            {
                (*page).stat_allocs = 1;
            }
            self.flush_page(page);
        }
    }

    /// Allocates a block in a segment of its own.
    fn alloc_huge(&mut self, size: usize, align: usize, zero: bool) -> *mut u8 {
        self.ensure_id();
        let g = self.geometry;
        let page_size = self.store.page_size();
        let guard = if self.store.guards() { page_size } else { 0 };
        let Some(lay) = HugeLayout::new(size, align, g.segment_size, page_size, guard) else {
            return ptr::null_mut();
        };
        let taken = match self.huge_from_cache(&lay) {
            Some(Ok(taken)) => Some(taken),
            Some(Err(())) => None,
            None => self.huge_fresh(&lay),
        };
        let Some((seg, zero_from)) = taken else {
            return ptr::null_mut();
        };
        // SAFETY: `seg` is a live huge segment of ours, in no list, laid
        // out by `lay`.
        unsafe { self.start_huge_block(seg, &lay, size, zero, zero_from) }
    }

    /// A cached huge segment fitted to `lay` (grown by `Os::remap` when its
    /// reservation is too small), and the offset from its header beyond
    /// which its memory reads as zero. None when the cache has none that
    /// fits; an error when one was taken but could not be committed (it
    /// went back to the cache).
    #[inline(always)]
    fn huge_from_cache(&mut self, lay: &HugeLayout) -> Option<Result<(*mut Segment, usize), ()>> {
        if lay.header_off != 0
            || lay.block_off != huge_block_start(lay.guard, self.store.page_size())
        {
            return None;
        }
        let mut seg = self.cache_take_huge(lay.total, self.store.can_remap());
        // SAFETY: a cached huge segment is live, ours and in no list.
        if !seg.is_null() && unsafe { (*seg).reserved_size } < lay.total {
            // SAFETY: taken from the cache: in no list, reserved at `seg`;
            // nothing else uses it.
            let grown = unsafe { self.remap_segment(seg, lay.total) };
            if grown.is_null() {
                self.cache_put(seg);
            }
            seg = grown;
        }
        if seg.is_null() {
            return None;
        }
        // Committed memory past the request: with `huge_keep_slack` it stays
        // committed past the block until the purge delay; else it stays with
        // the block (as usable size) up to HUGE_SLACK_DIV and the rest goes.
        // Decommitting it only to fault it in again for the next larger
        // block costs more.
        // SAFETY: a cached huge segment is live, ours and in no list.
        let committed = unsafe { (*seg).committed_bytes };
        let end = if self.config.huge_keep_slack {
            lay.total.max(committed)
        } else if committed > lay.total && committed - lay.total <= lay.total / HUGE_SLACK_DIV {
            committed
        } else {
            lay.total
        };
        // SAFETY: as above.
        let Some(before) = (unsafe { self.fit_committed(seg, end) }) else {
            self.cache_put(seg);
            return Some(Err(()));
        };
        let zero_from = if self.store.fresh_memory_is_zeroed() {
            before
        } else {
            usize::MAX
        };
        Some(Ok((seg, zero_from)))
    }

    /// A new huge segment laid out by `lay`, committed, and the offset
    /// beyond which its memory reads as zero; None when out of memory.
    #[inline(always)]
    fn huge_fresh(&mut self, lay: &HugeLayout) -> Option<(*mut Segment, usize)> {
        let mut base = self.store.reserve(lay.total, lay.align);
        if base.is_null() && self.relieve_memory_pressure() {
            base = self.store.reserve(lay.total, lay.align);
        }
        if base.is_null() {
            return None;
        }
        let committed = lay.total - lay.header_off;
        let seg = base.wrapping_add(lay.header_off) as *mut Segment;
        // SAFETY: the range is inside the fresh reservation.
        if !self.commit_or_relieve(seg as *mut u8, committed) {
            // SAFETY: giving back the reservation just made.
            unsafe { self.store.release(base, lay.total, lay.align, 0) };
            return None;
        }
        // Right after the header's pages, whatever the alignment: a cached
        // segment is reused for blocks of other alignments, and every
        // layout's block starts past this page (`huge_block_start`).
        let guard_at = (seg as *mut u8).wrapping_add(huge_kept_bytes(self.store.page_size()));
        // SAFETY: the guard page lies between the header and the block, in
        // the range just committed.
        if lay.guard != 0 && !unsafe { self.store.guard(guard_at, lay.guard) } {
            // SAFETY: giving back the reservation just made.
            unsafe { self.store.release(base, lay.total, lay.align, committed) };
            return None;
        }
        let zero_from = if self.store.fresh_memory_is_zeroed() {
            0
        } else {
            usize::MAX
        };
        let key = self.new_key(seg as usize);
        let res = Reservation {
            base,
            size: lay.total,
            align: lay.align,
        };
        let stride = self.page_stride();
        // SAFETY: the header area is committed and ours.
        unsafe { Segment::write_one_page(seg, SegmentKind::Huge, res, (committed, stride), key) };
        Some((seg, zero_from))
    }

    /// Files the one page of huge segment `seg` and hands out its block
    /// (zeroed below `zero_from` when `zero`).
    ///
    /// # Safety
    /// `seg` is a live huge segment of ours, in no list, laid out by `lay`.
    #[inline(always)]
    unsafe fn start_huge_block(
        &mut self,
        seg: *mut Segment,
        lay: &HugeLayout,
        size: usize,
        zero: bool,
        zero_from: usize,
    ) -> *mut u8 {
        // SAFETY: guaranteed by the caller.
        unsafe {
            // The block ends where the committed memory does (a reused
            // segment's committed prefix may pass the request by a page),
            // or with `huge_keep_slack` where the request does: the rest is
            // slack, decommitted after the purge delay.
            let committed = (*seg).committed_bytes;
            let end = if self.config.huge_keep_slack {
                lay.total.min(committed)
            } else {
                committed
            };
            let block_size = end - lay.block_off;
            // The free fast path finds the page by the heap's slice shift
            // (`Heap::fast_page_of`): a block aligned past the first slice
            // needs the descriptor of its slice to lead back to the page.
            // It lies in the committed bytes between the header and the
            // block (no guard page without `secure`).
            if FREE_BY_HEAP_SHIFT {
                let idx = lay.block_off >> self.slice_shift();
                if idx > 0 {
                    debug_assert!(
                        size_of::<Segment>() + (idx + 1) * self.page_stride() <= lay.block_off,
                        "the descriptor lies before the block"
                    );
                    Segment::point_back(seg, idx);
                }
            }
            let page = Segment::page(seg, 0);
            let start = (seg as *mut u8).add(lay.block_off);
            self.init_page(
                seg,
                page,
                0,
                1,
                PageClass::HUGE,
                block_size,
                1,
                start,
                false,
            );
            self.lists.add_huge(seg);
            self.start_single_block_page(page);
            self.counts.huge_made(block_size);
            if committed > end {
                (*seg).dirtied_at = self.now();
                self.schedule_purge(seg);
            }
            if zero {
                ptr::write_bytes(start, 0, size.min(zero_from.saturating_sub(lay.block_off)));
            }
            start
        }
    }

    /// Makes the committed prefix of huge segment `seg` (reserved at `seg`)
    /// end at `end` bytes from its header: commits what is missing or
    /// decommits what passes `end`. Returns the committed prefix before,
    /// beyond which the memory was never written since it was last
    /// decommitted (or mapped); None when the commit was refused (nothing
    /// changed). A refused decommit leaves the prefix longer than `end`.
    ///
    /// # Safety
    /// `seg` is a live huge segment of ours with `reservation == seg`,
    /// `end` is a multiple of the `Os` page, at least the header's and at
    /// most `reserved_size`, and nothing past `end` is in use.
    unsafe fn fit_committed(&mut self, seg: *mut Segment, end: usize) -> Option<usize> {
        // SAFETY: guaranteed by the caller; the header is read and written
        // through the raw pointer (see "Access" on `Segment`).
        unsafe {
            let before = (*seg).committed_bytes;
            debug_assert!(end <= (*seg).reserved_size && end % self.store.page_size() == 0);
            let base = seg as *mut u8;
            if before < end {
                if !self.commit_or_relieve(base.add(before), end - before) {
                    return None;
                }
                (*seg).committed_bytes = end;
            } else if before > end && self.store.decommit(base.add(end), before - end) {
                (*seg).committed_bytes = end;
            }
            Some(before)
        }
    }

    /// Moves huge segment `seg` (in no list, `reservation == seg`) to a
    /// reservation of `new_size` bytes with [`Os::remap`], committing its
    /// whole old reservation first so that the committed part stays a prefix
    /// (the remap commits what it adds). Returns the segment at its new
    /// address, whose page descriptor's `start` the caller sets; null when
    /// the commit or the remap failed (`seg` is then unchanged but may have
    /// more committed).
    ///
    /// # Safety
    /// As stated; nothing else uses the segment during the call.
    unsafe fn remap_segment(&mut self, seg: *mut Segment, new_size: usize) -> *mut Segment {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let (size, align) = ((*seg).reserved_size, (*seg).reserved_align);
            debug_assert!(new_size > size && (*seg).reservation == seg as *mut u8);
            self.fit_committed(seg, size);
            if (*seg).committed_bytes != size {
                return ptr::null_mut();
            }
            let new = self.store.remap(seg as *mut u8, size, new_size, align);
            if new.is_null() {
                return ptr::null_mut();
            }
            let seg = new as *mut Segment;
            let s = &mut *seg;
            s.cookie = Segment::cookie_for(seg as usize);
            s.reservation = new;
            s.reserved_size = new_size;
            s.committed_bytes = new_size;
            self.counts.remapped();
            seg
        }
    }

    /// Grows a huge block past its reservation by moving the reservation
    /// ([`Os::remap`]): no copy, no new faults for what it held. Returns the
    /// block's new address, or null (the block unchanged where it was) when
    /// the `Os` cannot remap or is out of memory.
    ///
    /// # Safety
    /// `page` is the live page of huge segment `seg` of this heap, and no
    /// other thread uses the block.
    pub(crate) unsafe fn remap_huge(
        &mut self,
        seg: *mut Segment,
        page: *mut Page,
        new_size: usize,
    ) -> *mut u8 {
        let page_size = self.store.page_size();
        // SAFETY: guaranteed by the caller (see "Access" on `Page`).
        unsafe {
            if (*page).class != PageClass::HUGE
                || (*seg).reservation != seg as *mut u8
                || !self.store.can_remap()
            {
                return ptr::null_mut();
            }
            let block_off = (*page).start as usize - seg as usize;
            let Some(end) = block_end(block_off, new_size, page_size) else {
                return ptr::null_mut();
            };
            let old = (*page).block_size;
            if end <= (*seg).reserved_size || end > isize::MAX as usize {
                return ptr::null_mut();
            }
            // The segment's header (with the page descriptor) moves: out of
            // the lists that link it, and back in at its new address. (The
            // remap commits the whole reservation: no slack is left to
            // purge.)
            self.lists.remove_huge(seg);
            self.lists.purge_remove(seg);
            self.pages.unlink_full(page);
            let moved = self.remap_segment(seg, end);
            let seg = if moved.is_null() { seg } else { moved };
            let page = Segment::page(seg, 0);
            self.lists.add_huge(seg);
            self.pages.relink_full(page);
            if moved.is_null() {
                // Give back what the failed attempt committed.
                self.fit_committed(seg, block_off + old);
                return ptr::null_mut();
            }
            (*page).start = (seg as *mut u8).add(block_off);
            self.set_huge_block_size(page, end - block_off, true);
            (*page).start
        }
    }

    /// Resizes a huge block in place: it grows by committing more of its
    /// reservation and shrinks by decommitting its tail. False (the caller
    /// moves the block) when the reservation is too small, the commit is
    /// refused, or the block shrinks below half into the large sizes.
    ///
    /// # Safety
    /// `page` is the live page of huge segment `seg` of this heap.
    unsafe fn resize_huge(&mut self, seg: *mut Segment, page: *mut Page, new_size: usize) -> bool {
        let g = self.geometry;
        let page_size = self.store.page_size();
        // SAFETY: guaranteed by the caller (see "Access" on `Page`).
        unsafe {
            let old = (*page).block_size;
            if (*seg).reservation != seg as *mut u8 {
                // Over-aligned: keep the block when it fits and wastes at most half.
                return new_size <= old && new_size >= old / 2;
            }
            if new_size < old / 2 && new_size <= g.max_large_slices * g.slice_size {
                return false;
            }
            let block_off = (*page).start as usize - seg as usize;
            let Some(end) = block_end(block_off, new_size.max(1), page_size) else {
                return false;
            };
            if end > (*seg).reserved_size || self.fit_committed(seg, end).is_none() {
                return false;
            }
            let new = (*seg).committed_bytes - block_off;
            if new != old {
                self.set_huge_block_size(page, new, false);
            }
        }
        true
    }

    /// Gives the live huge block of `page` the size `new` and counts the
    /// change: as a resize in place, or, when it `moved`, as a moving
    /// realloc is (one block handed out, one freed; see
    /// `Stats::alloc_count`).
    ///
    /// # Safety
    /// `page` is the live page of a huge segment of this heap.
    unsafe fn set_huge_block_size(&mut self, page: *mut Page, new: usize, moved: bool) {
        // SAFETY: guaranteed by the caller (see "Access" on `Page`).
        unsafe {
            let old = (*page).block_size;
            self.flush_page(page);
            (*page).block_size = new;
            self.counts.huge_resized(old, new);
            if moved {
                self.counters.on_blocks(1, 1, new, old);
            } else {
                self.counters.on_resize(old, new);
            }
            // A huge page is filed full: its bytes there change too (`used`
            // is 1, and folded: see `flush_page` above).
            let full = self.pages.refold_full(old, new);
            if cfg!(feature = "stats") {
                self.counters.note_live(full);
            }
        }
    }

    /// Frees a huge page's segment (into the cache or back to the `Os`).
    ///
    /// # Safety
    /// `page` is the empty page of a huge segment of this heap, in no queue.
    pub(crate) unsafe fn free_huge_page(&mut self, page: *mut Page) {
        // SAFETY: descriptor 0 directly follows its segment header.
        unsafe {
            let seg = (page as *mut u8).sub(size_of::<Segment>()) as *mut Segment;
            (*page).class = PageClass::UNUSED;
            #[cfg(all(feature = "secure", not(feature = "checks")))]
            crate::secure::mark_unused(&mut *page);
            (*page).owner.store(OWNER_SLOW, Ordering::Relaxed);
            self.lists.remove_huge(seg);
            // Queued for its slack (`huge_keep_slack`): `cache_put` queues
            // it again, or releases it.
            self.lists.purge_remove(seg);
            self.counts.huge_freed((*page).block_size);
            (*seg).dirtied_at = self.now();
            self.cache_put(seg);
        }
    }

    /// Resizes a large span or huge block in place if possible.
    ///
    /// # Safety
    /// `page` is a live large or huge page of this heap in `seg`.
    pub(crate) unsafe fn resize_in_place(
        &mut self,
        seg: *mut Segment,
        page: *mut Page,
        new_size: usize,
    ) -> bool {
        // SAFETY: guaranteed by the caller; the page is read and written
        // through the raw pointer (see "Access" on `Page`).
        let (class, block_size, old) = unsafe {
            (
                (*page).class,
                (*page).block_size,
                (*page).slice_count as usize,
            )
        };
        if class == PageClass::HUGE {
            // SAFETY: guaranteed by the caller.
            return unsafe { self.resize_huge(seg, page, new_size) };
        }
        let g = self.geometry;
        let n = new_size.max(1).div_ceil(g.slice_size);
        if n == old {
            return true;
        }
        if n > g.max_large_slices {
            return false;
        }
        // SAFETY: `seg` is live and ours; descriptors are in its header.
        unsafe {
            let idx = Segment::index_of(seg, page);
            if n < old {
                // Give the tail slices back to the segment.
                let tail = range_bits(idx + n, old - n);
                for k in n..old {
                    let d = Segment::page(seg, idx + k);
                    (*d).slice_offset = 0;
                }
                (*seg).free_mask |= tail;
                self.note_slices_freed(seg, idx + n, old - n);
            } else {
                if idx + n > (*seg).slice_count as usize {
                    return false;
                }
                let grow = range_bits(idx + old, n - old);
                if (*seg).free_mask & grow != grow
                    || self.claim_slices(seg, idx + old, n - old).is_none()
                {
                    return false;
                }
                Segment::link_interior(seg, idx, n);
            }
            // Nothing is pending in a large page (its allocation and any
            // collected free were folded in), but fold first to be sure:
            // pending counts are valued at the block size.
            self.flush_page(page);
            (*page).slice_count = n as u16;
            (*page).block_size = n * g.slice_size;
            self.counters.on_resize(block_size, n * g.slice_size);
            // A large page is filed full: its bytes there change too.
            #[cfg(feature = "stats")]
            {
                let used = (*page).stat_used as usize;
                let full = self
                    .pages
                    .refold_full(used * block_size, used * n * g.slice_size);
                self.counters.note_live(full);
            }
        }
        true
    }
}
