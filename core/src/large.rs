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

use crate::heap::Heap;
use crate::os::Os;
use crate::page::{Page, CLASS_HUGE, CLASS_LARGE, OWNER_SLOW};
use crate::segment::{range_bits, Segment, KIND_HUGE};
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

/// Where the parts of a huge segment go.
struct HugeLayout {
    /// Bytes to reserve and their alignment.
    total: usize,
    align: usize,
    /// Offset of the segment header in the reservation.
    header_off: usize,
    /// Offset of the block from the segment header.
    block_off: usize,
}

impl HugeLayout {
    fn new(size: usize, align: usize, segment_size: usize, page_size: usize) -> Option<HugeLayout> {
        let round = |n: usize| n.checked_add(page_size - 1).map(|v| v & !(page_size - 1));
        if align <= segment_size {
            // The block starts within the first segment-sized chunk (or exactly
            // one segment in), so `Segment::of` finds the header.
            let block_off = (HUGE_HEADER + align - 1) & !(align - 1);
            Some(HugeLayout {
                total: round(block_off.checked_add(size)?)?,
                align: segment_size,
                header_off: 0,
                block_off,
            })
        } else {
            // Reserve aligned to `align`; the block starts at `align`, the
            // header one segment before it.
            Some(HugeLayout {
                total: round(align.checked_add(size)?)?,
                align,
                header_off: align - segment_size,
                block_off: segment_size,
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
                    self.init_page(seg, page, idx, n, CLASS_LARGE, n * g.slice_size, 1, fresh);
                    self.start_single_block_page(page);
                    self.large_spans += 1;
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
            (*page).used = 1;
            // A block freed here before may have left its freed tag in the
            // second word; a remote free of the new block trusts that tag.
            #[cfg(feature = "checks")]
            crate::check::clear_freed_tag(&*page, (*page).start);
            self.enter_full(page);
            self.full.push_back(page);
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
        let Some(lay) = HugeLayout::new(size, align, g.segment_size, self.os.page_size()) else {
            return ptr::null_mut();
        };
        // True when the block's memory is known zero beyond the kept head.
        let mut fresh = false;
        let mut seg = ptr::null_mut();
        if lay.header_off == 0 && lay.block_off == HUGE_HEADER {
            seg = self.cache_take(KIND_HUGE, lay.total, lay.total + lay.total / 4);
        }
        if !seg.is_null() {
            // SAFETY: a cached huge segment is live, ours and in no list.
            unsafe {
                let s = &mut *seg;
                if s.committed_bytes < s.reserved_size {
                    // A purge kept the head committed: commit the rest.
                    let head = s.committed_bytes;
                    if !self.commit_or_relieve((seg as *mut u8).add(head), s.reserved_size - head) {
                        self.cache_put(seg);
                        return ptr::null_mut();
                    }
                    let s = &mut *seg;
                    self.committed_bytes += s.reserved_size - s.committed_bytes;
                    fresh = s.zero_mask != 0 && self.os.fresh_memory_is_zeroed();
                    s.committed_bytes = s.reserved_size;
                }
            }
        } else {
            let mut base = self.os.reserve(lay.total, lay.align);
            if base.is_null() && self.relieve_memory_pressure() {
                base = self.os.reserve(lay.total, lay.align);
            }
            if base.is_null() {
                return ptr::null_mut();
            }
            let committed = lay.total - lay.header_off;
            seg = base.wrapping_add(lay.header_off) as *mut Segment;
            // SAFETY: the range is inside the fresh reservation.
            if !self.commit_or_relieve(seg as *mut u8, committed) {
                // SAFETY: giving back the reservation just made.
                unsafe { self.os.release(base, lay.total, lay.align) };
                return ptr::null_mut();
            }
            fresh = self.os.fresh_memory_is_zeroed();
            let key = self.new_key(seg as usize);
            // SAFETY: the header area is committed and ours.
            unsafe {
                ptr::write(
                    seg,
                    Segment {
                        cookie: Segment::cookie_for(seg as usize),
                        slice_shift: usize::BITS - 1,
                        slice_count: 1,
                        kind: KIND_HUGE,
                        in_purge_queue: false,
                        cached: false,
                        header_slices: 0,
                        reservation: base,
                        reserved_size: lay.total,
                        reserved_align: lay.align,
                        free_mask: 0,
                        committed_mask: 0,
                        zero_mask: 0,
                        committed_bytes: committed,
                        key,
                        dirtied_at: 0,
                        next: ptr::null_mut(),
                        prev: ptr::null_mut(),
                        purge_next: ptr::null_mut(),
                        purge_prev: ptr::null_mut(),
                    },
                );
                Segment::reset_pages(seg, 1);
            }
            self.reserved_bytes += lay.total;
            self.committed_bytes += committed;
        }
        // SAFETY: `seg` is a live huge segment of ours, in no list.
        unsafe {
            let s = &mut *seg;
            s.zero_mask = 0;
            let block_size =
                s.reserved_size - (seg as usize - s.reservation as usize) - lay.block_off;
            let page = Segment::page(seg, 0);
            let p = &mut *page;
            p.free = ptr::null_mut();
            p.local_free = ptr::null_mut();
            p.reserved = 1;
            p.class = CLASS_HUGE;
            p.flags = 0;
            p.slice_count = 1;
            p.slice_offset = 0;
            p.block_size = block_size;
            p.start = (seg as *mut u8).add(lay.block_off);
            p.key = s.key;
            p.thread_free.store(0, Ordering::Relaxed);
            p.owner.store(self.id, Ordering::Relaxed);
            let start = p.start;
            self.huge.push_back(seg);
            self.start_single_block_page(page);
            self.huge_allocs += 1;
            if zero {
                // A purged segment kept its first `Os` pages, which the block
                // may start in: only the memory beyond them is fresh.
                let dirty_head = huge_kept_bytes(self.os.page_size()).saturating_sub(lay.block_off);
                let len = if fresh && lay.header_off == 0 {
                    size.min(dirty_head)
                } else {
                    size
                };
                ptr::write_bytes(start, 0, len);
            }
            start
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
            (*page).class = crate::page::CLASS_UNUSED;
            (*page).owner.store(OWNER_SLOW, Ordering::Relaxed);
            self.huge.remove(seg);
            self.huge_allocs -= 1;
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
        if class == CLASS_HUGE {
            // Keep the block when it still fits and wastes at most half.
            return new_size <= block_size && new_size >= block_size / 2;
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
            #[cfg(feature = "stats")]
            {
                // A large page is filed full: its bytes there change too.
                let used = (*page).stat_used as usize;
                self.full_live = self.full_live - used * block_size + used * n * g.slice_size;
                self.counters.note_live(self.full_live);
            }
        }
        true
    }
}
