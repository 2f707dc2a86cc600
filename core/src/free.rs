//! The free path: [`Heap::dealloc`] and its fast and slow halves, and what
//! happens to a page that a free leaves empty or takes out of `full`.
//!
//! The owner's free pushes the block onto its page's `local_free`; another
//! heap's free batches it for the page's atomic `thread_free` (see
//! `remote_buffer.rs`). A page goes back to its segment when it empties,
//! unless it is the one kept for its class (`PageFlags::KEEP`).

use crate::heap::{Heap, FREE_BY_HEAP_SHIFT};
use crate::os::Os;
use crate::page::{Block, Page, PageClass, PageFlags, RETIRED_UNSTAMPED};
use crate::page_queue::End;
use crate::segment::Segment;
use crate::stats::CounterSink;
use core::alloc::Layout;

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Frees `ptr`, allocated by this heap (or another heap over the same
    /// memory) with `layout`.
    ///
    /// # Safety
    /// `ptr` was returned by `alloc`, `alloc_zeroed` or `realloc` of a heap
    /// whose segments are still live, with this `layout` (or the size last
    /// passed to `realloc`), and is not used afterwards. That heap, if not
    /// this one, was built with this heap's segment geometry
    /// (`segment_shift`, `slice_shift` and `line_pages` of its
    /// [`Config`](crate::Config)): the free finds the block's page with
    /// this heap's slice shift and descriptor stride.
    #[inline]
    pub unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller vouches for `ptr`.
        if unsafe { self.is_direct(ptr) } {
            // SAFETY: as above: a live direct block.
            return unsafe { self.free_direct(ptr) };
        }
        // SAFETY: `&mut self`: this thread owns the heap; the caller vouches
        // for `ptr` and `layout`: a block in a segment.
        if unsafe { !self.dealloc_fast_in_segment(ptr, layout) } {
            // SAFETY: as above; the fast path validated the block.
            unsafe { self.dealloc_slow_in_segment(ptr) }
        }
    }

    /// The free fast path alone: frees `ptr` when that is all it takes: the
    /// owner's free of a block whose page stays where it is (it does not go
    /// empty, unless it is the page kept for its class, and it was not
    /// full). Otherwise (another heap's block, any block when this heap owns
    /// nothing, a page that needs the slow path) it returns false, having
    /// changed nothing: then call [`Heap::dealloc_slow`] (or
    /// [`Heap::dealloc`]).
    ///
    /// It is the first half of `dealloc` for callers that keep the slow half
    /// out of line (the `masu` crate's global allocator). It counts nothing
    /// in the heap's [`CounterSink`]: the free shows in the page's `used`
    /// (see [`Heap::stats`]).
    ///
    /// # Safety
    /// * As for [`Heap::dealloc`] (`ptr`, `layout`).
    /// * The caller owns the heap: no other thread uses it meanwhile, as
    ///   with `&mut self`. A heap that has never allocated is the exception:
    ///   it owns no page, so this call only reads and returns false, and any
    ///   number of threads may make it at once.
    #[inline(always)]
    pub unsafe fn dealloc_fast(&self, ptr: *mut u8, layout: Layout) -> bool {
        // SAFETY: the caller guarantees `ptr` is a live block; not a direct
        // block past the check.
        unsafe { !self.is_direct(ptr) && self.dealloc_fast_in_segment(ptr, layout) }
    }

    /// [`Heap::dealloc_fast`] for a block known to be in a segment (not a
    /// direct block).
    ///
    /// # Safety
    /// As for [`Heap::dealloc_fast`], and `ptr` is not a direct block.
    #[inline(always)]
    unsafe fn dealloc_fast_in_segment(&self, ptr: *mut u8, layout: Layout) -> bool {
        let seg = Segment::of(ptr, self.segment_base_mask());
        #[cfg(feature = "checks")]
        {
            self.check_block(seg, ptr, layout);
            // A quarantine is kept by the slow path.
            if self.config.quarantine_bytes != 0 {
                return false;
            }
        }
        #[cfg(all(feature = "secure", not(feature = "checks")))]
        crate::secure::check_free(seg, ptr);
        #[cfg(not(feature = "checks"))]
        let _ = layout;
        // SAFETY: the caller guarantees `ptr` is a live block, so its segment
        // header and page descriptor are live; an owned page is the caller's.
        unsafe {
            let page = self.fast_page_of(seg, ptr);
            // Not this heap's, or in the full queue (`OWNER_SLOW`: a full
            // small page, or a large or huge one). Read through the raw
            // pointer: until the owner check passes, the page may be another
            // heap's, whose owner is writing its fields.
            if Page::owner_word_of(page) != self.id {
                return false;
            }
            // Ours: written through the raw pointer (see "Access" on
            // `Page`). The count first, so that its flags decide: a page
            // that goes empty needs the slow path unless it is kept.
            let used = Page::used_of(page) - 1;
            if used == 0 {
                if !(*page).flags.has(PageFlags::KEEP) {
                    return false;
                }
                // The only page of its class went empty (a block allocated
                // and freed in a loop): keep it. This is no slow-path event:
                // the epoch tick stamps the page and frees it once it has
                // stayed empty for the purge delay.
                (*page).retired_at = RETIRED_UNSTAMPED;
            }
            #[cfg(feature = "checks")]
            crate::block_check::tag_freed(page, ptr);
            #[cfg(all(feature = "secure", not(feature = "checks")))]
            crate::secure::tag_freed(page, ptr);
            Page::push_local(page, ptr as *mut Block);
            // The count last, with Release: this free is then complete for
            // a purger that reads the count with Acquire while this thread
            // runs fast paths only (`idle_release.rs`).
            Page::publish_used(page, used);
        }
        true
    }

    /// What [`Heap::dealloc`] does when [`Heap::dealloc_fast`] returns false
    /// (it does not try the fast path again): a remote free, or an owner's
    /// free whose page needs the slow path.
    ///
    /// # Safety
    /// As for [`Heap::dealloc`], and `dealloc_fast` has just returned false
    /// for this block, on this heap: with `checks` it validated the block,
    /// which this does not do again.
    #[inline]
    pub unsafe fn dealloc_slow(&mut self, ptr: *mut u8) {
        // SAFETY: the caller guarantees `ptr` is a live block.
        if unsafe { self.is_direct(ptr) } {
            // SAFETY: as above: a live direct block.
            return unsafe { self.free_direct(ptr) };
        }
        // SAFETY: as above: a block in a segment.
        unsafe { self.dealloc_slow_in_segment(ptr) }
    }

    /// [`Heap::dealloc_slow`] for a block of another heap's page, doing only
    /// what such a free does: the block goes into this heap's batch of
    /// remote frees (`remote_buffer.rs`), which nothing but this call, the
    /// other slow paths and `collect` touch. True when it did; false (and
    /// nothing changed) for a block of this heap's, a direct block, or with
    /// `checks` (whose quarantine is the heap's). The std shim calls it
    /// before it enters its slot's gate, which the background purger's
    /// `release_while_owner_idle` never needs for the batch: it leaves the
    /// batch alone.
    ///
    /// # Safety
    /// As for [`Heap::dealloc_slow`]; the caller owns the heap (it may let
    /// the std shim's purger hold it meanwhile, which does not touch the
    /// batch).
    #[inline]
    pub unsafe fn dealloc_remote(&self, ptr: *mut u8) -> bool {
        // SAFETY: the caller guarantees `ptr` is a live block.
        if cfg!(feature = "checks") || unsafe { self.is_direct(ptr) } {
            return false;
        }
        let seg = Segment::of(ptr, self.segment_base_mask());
        // SAFETY: a live block: its segment header and page descriptor are
        // live; the owner word is an atomic.
        unsafe {
            let page = self.fast_page_of(seg, ptr);
            if Page::owner_id_of(page) == self.id {
                return false;
            }
            #[cfg(all(feature = "secure", not(feature = "checks")))]
            crate::secure::tag_freed(page, ptr);
            // The batch through its cell: the std shim's background purger
            // may hold the heap meanwhile, but never touches the batch.
            (*self.remote.get()).free(
                page,
                ptr as *mut Block,
                self.config.remote_batch,
                self.config.remote_in_order,
            );
        }
        true
    }

    /// The page of block `ptr` in segment `seg`, for the free fast path and
    /// the remote free ([`Heap::dealloc_remote`]). Without `checks`,
    /// `secure` and `arenas`, by the heap's slice shift
    /// ([`Segment::page_of_with`]), which every segment a block can be
    /// freed from shares: heaps that free each other's blocks are built
    /// with one geometry (the `masu` crate's are; per-CPU heaps over one
    /// region must be), and a huge segment whose block lies past its first
    /// slice has the descriptor there lead back (`start_huge_block`). With
    /// those features, by the header's: their checks and arenas free
    /// pointers that lie anywhere in a segment.
    ///
    /// # Safety
    /// `seg` is the live segment of `ptr`, a live block.
    #[inline(always)]
    unsafe fn fast_page_of(&self, seg: *mut Segment, ptr: *mut u8) -> *mut Page {
        if !FREE_BY_HEAP_SHIFT {
            // SAFETY: guaranteed by the caller.
            return unsafe { Segment::page_of(seg, ptr) };
        }
        // SAFETY: guaranteed by the caller, and the geometry (above).
        unsafe {
            let page = Segment::page_of_with(seg, ptr, self.slice_shift(), self.page_stride());
            debug_assert_eq!(
                page,
                Segment::page_of(seg, ptr),
                "a block's page by the heap's slice shift is its page: heaps that free each \
                 other's blocks share one geometry"
            );
            page
        }
    }

    /// [`Heap::dealloc_slow`] for a block known to be in a segment.
    ///
    /// # Safety
    /// As for [`Heap::dealloc_slow`], and `ptr` is not a direct block.
    #[inline(never)]
    unsafe fn dealloc_slow_in_segment(&mut self, ptr: *mut u8) {
        let seg = Segment::of(ptr, self.segment_base_mask());
        // SAFETY: the caller guarantees `ptr` is a live block, so its segment
        // header and page descriptor are live.
        let page = unsafe { Segment::page_of(seg, ptr) };
        // SAFETY: `dealloc_fast` validated the block (with `secure`).
        #[cfg(all(feature = "secure", not(feature = "checks")))]
        unsafe {
            crate::secure::tag_freed(page, ptr)
        };
        #[cfg(feature = "checks")]
        {
            crate::block_check::tag_freed(page, ptr);
            // SAFETY: the block was just validated; its page is live.
            if unsafe { self.quarantine(page, ptr) } {
                return;
            }
        }
        // SAFETY: as above.
        unsafe { self.release_block(page, ptr) }
    }

    /// Frees the block at `ptr` of `page` (checked and tagged already):
    /// another heap's onto its page's `thread_free` (batched), one of ours
    /// onto `local_free`, settling the page if it emptied or left `full`.
    ///
    /// # Safety
    /// `ptr` is a block of the live `page`, no longer used.
    unsafe fn release_block(&mut self, page: *mut Page, ptr: *mut u8) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            if Page::owner_id_of(page) != self.id {
                // Another heap's block: onto the page's `thread_free`, through
                // the raw pointer (the owner may be writing the page), in a
                // batch of frees to that page (`remote_buffer.rs`).
                self.remote.get_mut().free(
                    page,
                    ptr as *mut Block,
                    self.config.remote_batch,
                    self.config.remote_in_order,
                );
                return;
            }
            if Self::ARENAS && (*page).class == PageClass::ARENA {
                return self.free_arena_block(page, ptr);
            }
            // Ours: written through the raw pointer (see "Access" on `Page`).
            Page::push_local(page, ptr as *mut Block);
            Page::set_used(page, Page::used_of(page) - 1);
            let (used, flags) = (Page::used_of(page), (*page).flags);
            // After `dealloc_fast` said no, the page went empty (and is not
            // kept) or was full; anything else needs nothing more.
            if (used == 0 && !flags.has(PageFlags::KEEP)) || flags.has(PageFlags::IN_FULL) {
                self.free_slow(page);
            } else if used == 0 {
                (*page).retired_at = RETIRED_UNSTAMPED;
            }
        }
    }

    /// With `checks`: validates a block passed to `dealloc` or `realloc`
    /// with `layout` (see `block_check::check_live`); returns its page, the
    /// size it was allocated with and its allocation site.
    #[cfg(feature = "checks")]
    #[inline]
    pub(crate) fn check_block(
        &self,
        seg: *mut Segment,
        ptr: *mut u8,
        layout: Layout,
    ) -> (*mut Page, usize, usize) {
        crate::block_check::check_live(self.store.os(), &self.geometry, self.id, seg, ptr, layout)
    }

    /// With `checks`: holds a freed block in the quarantine, first freeing
    /// the oldest ones that no longer fit; false when the block does not
    /// enter (no quarantine, or larger than its bound).
    ///
    /// # Safety
    /// As for [`Heap::release_block`], for a block just tagged as freed.
    #[cfg(feature = "checks")]
    unsafe fn quarantine(&mut self, page: *mut Page, ptr: *mut u8) -> bool {
        use crate::quarantine::Quarantine;
        let bound = self.config.quarantine_bytes;
        // SAFETY: guaranteed by the caller; fixed fields of a live page.
        let (class, size) = unsafe { ((*page).class, (*page).block_size) };
        // A span's block starts its span: its size is the span's.
        if !(class.is_small() || class.is_span()) || !Quarantine::admits(size, bound) {
            return false;
        }
        while let Some(old) = self.quarantine.make_room(size, bound) {
            // SAFETY: blocks in the quarantine are freed blocks of live
            // pages (a page keeps a block counted in use until it leaves).
            unsafe { self.leave_quarantine(old) };
        }
        // SAFETY: guaranteed by the caller.
        unsafe { crate::block_check::enter_quarantine(page, ptr, size) };
        self.quarantine.push(ptr, size);
        true
    }

    /// Frees a block that left the quarantine.
    ///
    /// # Safety
    /// `ptr` was taken out of this heap's quarantine.
    #[cfg(feature = "checks")]
    unsafe fn leave_quarantine(&mut self, ptr: *mut u8) {
        let seg = Segment::of(ptr, self.segment_base_mask());
        // SAFETY: a quarantined block's page stays live (see above).
        unsafe {
            let page = Segment::page_of(seg, ptr);
            crate::block_check::leave_quarantine(page, ptr);
            self.release_block(page, ptr);
        }
    }

    /// Frees every block in the quarantine (with `checks`; else nothing):
    /// `collect`, `reset` and the heap's drop call it.
    pub(crate) fn flush_quarantine(&mut self) {
        #[cfg(feature = "checks")]
        while let Some(p) = self.quarantine.take_oldest() {
            // SAFETY: taken out of this heap's quarantine.
            unsafe { self.leave_quarantine(p) };
        }
    }

    /// The owner's slow free: a page became empty (and is not kept) or left
    /// the full queue.
    #[cold]
    #[inline(never)]
    unsafe fn free_slow(&mut self, page: *mut Page) {
        // SAFETY: the caller passes a live page of this heap.
        unsafe { self.settle_page(page) };
        // The epoch's release work comes after the page is settled.
        self.on_slow_event();
    }

    /// Re-files a page after a free left it empty or took it out of `full`.
    ///
    /// # Safety
    /// `page` is a live page of this heap.
    unsafe fn settle_page(&mut self, page: *mut Page) {
        // SAFETY: the caller passes a live page of this heap. (Through the
        // raw pointer only: the queues reach the page through it too.)
        unsafe {
            self.flush_page(page);
            if Page::used_of(page) == 0 {
                if (*page).flags.has(PageFlags::IN_FULL) {
                    self.pages.leave_full(page);
                }
                self.free_any_page(page);
            } else {
                // A full small page got a block back: queue it again.
                self.pages.leave_full(page);
                self.pages.push((*page).class.index(), page, End::Back);
            }
        }
    }

    /// Frees an empty page of any kind (it must be in no `full` queue).
    ///
    /// # Safety
    /// `page` is a live, empty page of this heap.
    pub(crate) unsafe fn free_any_page(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            // The page's last frees are counted before it goes.
            self.flush_page(page);
            match (*page).class {
                PageClass::HUGE => self.free_huge_page(page),
                PageClass::LARGE => {
                    self.counts.large_span(false);
                    self.release_page_slices(page);
                }
                c => {
                    self.pages.remove(page);
                    self.counts.page_freed(c.index());
                    self.release_page_slices(page);
                }
            }
        }
    }

    /// The bytes the block at `ptr` takes: its class's size, or its span's
    /// usable bytes; what the statistics count for it. Without `checks` the
    /// same as [`Heap::usable_size`]; with it, the request, its slack and
    /// its redzone.
    ///
    /// # Safety
    /// `ptr` is a live block of a heap over the same memory.
    pub unsafe fn block_size(&self, ptr: *const u8) -> usize {
        // SAFETY: guaranteed by the caller; the page's fixed fields are read
        // through the raw pointer.
        unsafe {
            if self.is_direct(ptr) {
                return self.store.os().direct_size(ptr);
            }
            Segment::usable_size(ptr, self.segment_base_mask())
        }
    }

    /// Usable bytes of the block at `ptr` (at least the requested size;
    /// with `checks`, exactly that).
    ///
    /// # Safety
    /// `ptr` is a live block of a heap over the same memory.
    pub unsafe fn usable_size(&self, ptr: *const u8) -> usize {
        // With `checks`, the block's redzone begins right after the request.
        #[cfg(feature = "checks")]
        // SAFETY: guaranteed by the caller.
        return unsafe { crate::redzone::requested_size(ptr, self.segment_base_mask()) };
        #[cfg(not(feature = "checks"))]
        // SAFETY: guaranteed by the caller.
        unsafe {
            self.block_size(ptr)
        }
    }
}
