//! The allocation path: [`Heap::alloc`] and its fast and slow halves.
//!
//! The fast path is one load from the direct table (see `page_queue.rs`)
//! and a pop from the page's `free` list; everything else goes to
//! `alloc_generic`, out of line: a class whose page ran dry (see
//! `page_search.rs`), a request beyond the table, a large or huge one (see
//! `large.rs`).

use crate::heap::Heap;
use crate::os::Os;
use crate::page::{Block, Page, PageFlags};
use crate::size_class::{size_or_min, CLASS_BY_WORDS};
use crate::stats::CounterSink;
use core::alloc::Layout;
use core::ptr;

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Allocates a block for `layout`; null when out of memory.
    #[inline]
    pub fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.alloc_impl(layout.size(), layout.align(), false)
    }

    /// Allocates a zeroed block for `layout`; null when out of memory.
    /// Memory known to be fresh from the `Os` is not zeroed again.
    #[inline]
    pub fn alloc_zeroed(&mut self, layout: Layout) -> *mut u8 {
        self.alloc_impl(layout.size(), layout.align(), true)
    }

    #[inline(always)]
    fn alloc_impl(&mut self, size: usize, align: usize, zero: bool) -> *mut u8 {
        // SAFETY: `&mut self`: this thread owns the heap.
        let p = unsafe { self.alloc_fast(size, align, zero) };
        if !p.is_null() {
            return p;
        }
        // The fast path serves no request above `direct_above`.
        if Self::DIRECT && size > self.config.direct_above {
            return self.alloc_above_direct(size, align, zero);
        }
        self.alloc_generic(size, align, zero)
    }

    /// What [`Heap::alloc`] does when [`Heap::alloc_fast`] returns null (it
    /// does not try the fast path again): use it after `alloc_fast`. On its
    /// own it is a complete, slower `alloc` (`alloc_zeroed` with `zero`).
    #[inline]
    pub fn alloc_slow(&mut self, layout: Layout, zero: bool) -> *mut u8 {
        self.alloc_generic(layout.size(), layout.align(), zero)
    }

    /// The allocation fast path alone: a block of at least `size` bytes
    /// aligned to `align` (zeroed if `zero`), from the page that the
    /// request's class allocates from, when that page has a free block; null
    /// when the request needs more (larger than the direct table or aligned
    /// beyond 16, a class without a ready block), having changed nothing.
    /// Then call [`Heap::alloc_slow`] (or [`Heap::alloc`]). Any `size` may
    /// be asked: those that no `Layout` could hold get null.
    ///
    /// It is the first half of `alloc` for callers that keep the slow half
    /// out of line (the `masu` crate's global allocator and C `malloc`). It
    /// counts the block in its page, not in the heap's [`CounterSink`] (see
    /// [`Heap::stats`]).
    ///
    /// # Safety
    /// * `align` is a power of two.
    /// * The caller owns the heap: no other thread uses it meanwhile, as
    ///   with `&mut self`. A heap that has never allocated is the exception:
    ///   this call reads it only and returns null, so any number of threads
    ///   may make it at once.
    #[inline(always)]
    pub unsafe fn alloc_fast(&self, size: usize, align: usize, zero: bool) -> *mut u8 {
        #[cfg(feature = "checks")]
        {
            let Some(inner) = crate::redzone::with_trailer(size) else {
                return ptr::null_mut();
            };
            // SAFETY: forwarded from the caller; the block, if any, holds
            // `inner` bytes.
            unsafe {
                let p = self.alloc_fast_inner(inner, align, zero);
                if p.is_null() {
                    // Nothing taken: a sentinel heap (which never hands out
                    // a block) is only ever read.
                    return p;
                }
                crate::redzone::arm(p, size, self.segment_base_mask(), self.take_site())
            }
        }
        #[cfg(not(feature = "checks"))]
        // SAFETY: forwarded from the caller.
        unsafe {
            self.alloc_fast_inner(size, align, zero)
        }
    }

    /// [`Heap::alloc_fast`] for the bytes the block needs (with `checks`,
    /// the request and its trailer).
    ///
    /// # Safety
    /// As for [`Heap::alloc_fast`].
    #[inline(always)]
    unsafe fn alloc_fast_inner(&self, size: usize, align: usize, zero: bool) -> *mut u8 {
        // `size`, not raised to `MIN_BLOCK`: the table's entries below it
        // hold the smallest block's class, and `direct_max` is at least
        // `MIN_BLOCK` where it is above 1 (`Heap::with_counters`).
        if size > self.direct_max {
            return ptr::null_mut();
        }
        // One load finds the page: every class up to `direct_max` rounded to
        // 16 is a size class here. Entry `i` serves `8 * i` bytes. (The two
        // indices are written so that the compiler keeps them apart: merged
        // into one computation with selected constants, or with a mask it
        // widens to 64 bits, they cost more than either.)
        let idx = if align <= 8 {
            // Every class is a multiple of 8 bytes, so an alignment up to 8
            // needs no rounding beyond that: the class of `size` serves it.
            (size + 7) >> 3
        } else if align <= 16 {
            ((size + 15) & !15) >> 3
        } else {
            return ptr::null_mut();
        };
        // SAFETY: forwarded from the caller; `idx` is a direct index.
        unsafe { self.take_direct(idx, size, zero) }
    }

    /// Everything `alloc` does when the fast path cannot serve the request.
    #[cold]
    #[inline(never)]
    fn alloc_generic(&mut self, size: usize, align: usize, zero: bool) -> *mut u8 {
        #[cfg(feature = "checks")]
        {
            let Some(inner) = crate::redzone::with_trailer(size) else {
                return ptr::null_mut();
            };
            let p = self.alloc_generic_inner(inner, align, zero);
            // SAFETY: `p` is null or a block of at least `inner` bytes.
            unsafe { crate::redzone::arm(p, size, self.segment_base_mask(), self.take_site()) }
        }
        #[cfg(not(feature = "checks"))]
        self.alloc_generic_inner(size, align, zero)
    }

    /// [`Heap::alloc_generic`] for the bytes the block needs (with
    /// `checks`, the request and its trailer).
    #[inline(always)]
    fn alloc_generic_inner(&mut self, size: usize, align: usize, zero: bool) -> *mut u8 {
        if Self::DIRECT {
            if size > self.config.direct_above {
                return self.alloc_above_direct(size, align, zero);
            }
            let p = self.alloc_from_segments(size, align, zero);
            if p.is_null() {
                // No segment fits any more: the region's last bytes.
                return self.alloc_direct(size, align, zero);
            }
            return p;
        }
        self.alloc_from_segments(size, align, zero)
    }

    /// A request above `direct_above`: a direct block or, when the region
    /// has none left for it, room that segments already hold (a block of a
    /// class page or a large span in their free slices), which the region
    /// could not hand out as a direct block while they hold it.
    #[inline(always)]
    fn alloc_above_direct(&mut self, size: usize, align: usize, zero: bool) -> *mut u8 {
        let p = self.alloc_direct(size, align, zero);
        if p.is_null() && self.config.direct_spill {
            return self.spill_into_segments(size, align, zero);
        }
        p
    }

    /// [`Heap::alloc_above_direct`]'s fallback, out of line: it runs only
    /// when the region is full.
    #[cold]
    #[inline(never)]
    fn spill_into_segments(&mut self, size: usize, align: usize, zero: bool) -> *mut u8 {
        self.alloc_from_segments(size, align, zero)
    }

    /// [`Heap::alloc_generic_inner`] from size classes, large spans and
    /// huge segments (never a direct block).
    #[inline(always)]
    fn alloc_from_segments(&mut self, size: usize, align: usize, zero: bool) -> *mut u8 {
        let size_or_min = size_or_min(size);
        let zero_len = if zero { size } else { 0 };
        if size_or_min <= self.direct_max && align <= 16 {
            // A direct request whose page had no ready block (the usual
            // reason to be here): its class from the table.
            let idx = if align <= 8 {
                (size_or_min + 7) >> 3
            } else {
                ((size_or_min + 15) & !15) >> 3
            };
            return self.alloc_from_class(CLASS_BY_WORDS[idx] as usize, zero_len);
        }
        if Self::ARENAS && size >= self.arena_lo {
            return self.alloc_above_arena_lo(size, align, zero);
        }
        self.alloc_in_pages(size, align, zero)
    }

    /// [`Heap::alloc_from_segments`] for a request above the direct table:
    /// its size class's page, a large span or a huge segment.
    #[inline(always)]
    fn alloc_in_pages(&mut self, size: usize, align: usize, zero: bool) -> *mut u8 {
        let zero_len = if zero { size } else { 0 };
        // `Layout` guarantees `size + align - 1` does not overflow.
        match self.geometry.small_class(size, align) {
            Some(class) => {
                let page = self.pages.first(class);
                // SAFETY: queued pages are live pages owned by this heap.
                if !page.is_null() {
                    // SAFETY: as above.
                    let block = unsafe { Page::free_of(page) };
                    if !block.is_null() {
                        // SAFETY: as above, and `block` heads its `free`.
                        return unsafe { Self::take_block(page, block, zero_len) };
                    }
                }
                self.alloc_from_class(class, zero_len)
            }
            None => self.alloc_large(size, align, zero),
        }
    }

    /// A request of at least `arena_lo` bytes: from the heap's arenas when
    /// they serve it, else (too large or too aligned for them, or no arena
    /// to be had) as [`Heap::alloc_in_pages`]. Out of line, reached by a
    /// tail call: with arenas off (`arena_lo` is `usize::MAX`), the path
    /// above pays one compare.
    #[inline(never)]
    fn alloc_above_arena_lo(&mut self, size: usize, align: usize, zero: bool) -> *mut u8 {
        if self.arena_serves(size, align) {
            let p = self.alloc_arena(size, zero);
            if !p.is_null() {
                return p;
            }
        }
        self.alloc_in_pages(size, align, zero)
    }

    /// [`Heap::alloc_fast`] with C `malloc`'s alignment, which depends on the
    /// size: 8 bytes for requests of at most 8 bytes, 16 for larger ones.
    ///
    /// The direct-table index is computed without a branch on the size:
    /// programs that mix tiny and larger requests at random (half the
    /// requests of mimalloc-bench's alloc-test are 5-8 bytes) would
    /// otherwise mispredict that branch on about every other call.
    ///
    /// # Safety
    /// As for [`Heap::alloc_fast`].
    #[inline(always)]
    pub unsafe fn alloc_fast_malloc(&self, size: usize, zero: bool) -> *mut u8 {
        #[cfg(feature = "checks")]
        {
            // With its trailer, every request is above 8 bytes.
            // SAFETY: forwarded from the caller.
            unsafe { self.alloc_fast(size, 16, zero) }
        }
        #[cfg(not(feature = "checks"))]
        {
            // SAFETY: forwarded from the caller.
            unsafe { self.alloc_fast_malloc_inner(size, zero) }
        }
    }

    /// [`Heap::alloc_fast_malloc`] without the `checks` feature's trailer.
    ///
    /// # Safety
    /// As for [`Heap::alloc_fast`].
    #[cfg(not(feature = "checks"))]
    #[inline(always)]
    unsafe fn alloc_fast_malloc_inner(&self, size: usize, zero: bool) -> *mut u8 {
        // `size`, not raised to `MIN_BLOCK`: as in `alloc_fast_inner`.
        if size > self.direct_max {
            return ptr::null_mut();
        }
        let words = (size + 7) >> 3;
        // Rounded up to 16 bytes (an even number of words) beyond one word.
        let idx = words + (words & (words > 1) as usize);
        debug_assert_eq!(
            idx,
            if size <= 8 {
                (size + 7) >> 3
            } else {
                ((size + 15) & !15) >> 3
            }
        );
        // SAFETY: forwarded from the caller; `idx` is a direct index.
        unsafe { self.take_direct(idx, size, zero) }
    }

    /// The block the fast paths hand out for direct-table entry `idx`: the
    /// first free block of its page, or null (nothing changed) when the page
    /// has none or the class has no page.
    ///
    /// # Safety
    /// As for [`Heap::alloc_fast`]; `idx * 8 <= direct_max`.
    #[inline(always)]
    unsafe fn take_direct(&self, idx: usize, size: usize, zero: bool) -> *mut u8 {
        debug_assert!(idx * 8 <= self.direct_max);
        // SAFETY: `idx <= direct_max / 8 < DIRECT_LEN`.
        let page = unsafe { self.pages.direct(idx) };
        // SAFETY: a direct entry is a live page owned by this heap or
        // `EMPTY_PAGE`, whose `free` reads as null.
        let block = unsafe { Page::free_of(page) };
        if block.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: a real page (`EMPTY_PAGE` has no free block) of this heap,
        // which the caller owns, and `block` heads its `free` list.
        unsafe { Self::take_block(page, block, if zero { size } else { 0 }) }
    }

    /// Pops `block`, the first block of `page.free`, counting it in the page
    /// (one add with `stats`; see `flush_page`).
    ///
    /// # Safety
    /// `page` is owned by the caller's heap and `block` is the first block
    /// of its `free` list (not null).
    #[inline(always)]
    pub(crate) unsafe fn take_block(
        page: *mut Page,
        block: *mut Block,
        zero_len: usize,
    ) -> *mut u8 {
        // SAFETY: guaranteed by the caller; the page is written through the
        // raw pointer (see "Access" on `Page`), and blocks on `free` are
        // free blocks of this page.
        let (block, flags) = unsafe {
            let next = (*page).decode((*block).next);
            #[cfg(feature = "checks")]
            crate::block_check::validate_link(&*page, block, next);
            #[cfg(all(feature = "secure", not(feature = "checks")))]
            crate::secure::check_popped(&*page, block, next);
            Page::set_used(page, Page::used_of(page) + 1);
            #[cfg(feature = "stats")]
            {
                (*page).stat_allocs = (*page).stat_allocs.wrapping_add(1);
            }
            let flags = (*page).flags;
            // Last, with Release: a purger that finds the list empty sees
            // the count (`idle_release.rs`).
            Page::publish_free(page, next);
            (block, flags)
        };
        #[cfg(feature = "checks")]
        // SAFETY: as above.
        crate::block_check::take_small(unsafe { &*page }, block as *mut u8);
        // SAFETY: as above: a block of at least 16 bytes, ours now.
        #[cfg(all(feature = "secure", not(feature = "checks")))]
        unsafe {
            crate::secure::untag(block as *mut u8)
        };
        if zero_len != 0 {
            if flags.has(PageFlags::FREE_IS_ZERO) {
                // SAFETY: the block is ours; only its link word was written.
                unsafe { (*block).next = 0 };
            } else {
                // SAFETY: the block has at least `zero_len` bytes.
                unsafe { ptr::write_bytes(block as *mut u8, 0, zero_len) };
            }
        }
        block as *mut u8
    }

    #[cold]
    #[inline(never)]
    fn alloc_from_class(&mut self, class: usize, zero_len: usize) -> *mut u8 {
        let page = self.find_page(class);
        if page.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: `find_page` returns an owned page with a free block.
        unsafe { Self::take_block(page, Page::free_of(page), zero_len) }
    }
}
