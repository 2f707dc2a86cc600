//! [`Heap::check_heap`]: with the `checks` feature, every block of the heap
//! verified on demand (and, in the `masu` crate, at exit): the redzones of
//! live blocks, the fill of free and quarantined ones; with `secure`, the
//! tag and link of every free block on the owner's lists.

use crate::heap::Heap;
use crate::os::Os;
use crate::stats::CounterSink;

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// With the `checks` feature, verifies every block this heap holds and
    /// reports the first fault: a live block whose redzone was overwritten
    /// (`BufferOverflow`, also for a block that is never freed), a free or
    /// quarantined block written after its free (`UseAfterFree`), a free
    /// list that leads out of its page. With `secure` (without `checks`),
    /// the freed tag and the link of every block on the pages' `free` and
    /// `local_free` lists (`UseAfterFree`, `CorruptFreeList`: a write after
    /// free or an overflow into a free block's first 16 bytes). Without
    /// either, nothing.
    ///
    /// Work is proportional to the heap's blocks. The blocks of this heap
    /// that other threads are freeing at the same moment are not all told
    /// apart from live ones: call it when they are quiet (the `masu`
    /// crate's exit check runs it on the exiting thread's heap).
    pub fn check_heap(&self) {
        self.check_heap_bounded(usize::MAX);
    }

    /// [`Heap::check_heap`] with a bound on its work: with `secure` (without
    /// `checks`), at most `max_free_blocks` free blocks are verified, the
    /// pages of the smaller classes first (each costs about a cache miss:
    /// the `masu` crate's exit check verifies up to 65,536, a few
    /// milliseconds); with `checks`, the same as `check_heap` (every
    /// block). Without either, nothing.
    pub fn check_heap_bounded(&self, max_free_blocks: usize) {
        #[cfg(not(all(feature = "secure", not(feature = "checks"))))]
        let _ = max_free_blocks;
        #[cfg(feature = "checks")]
        {
            self.check_quarantine();
            self.for_each_queued_page(|page, _| {
                // SAFETY: a live page of this heap, which `&self` keeps
                // from changing.
                unsafe { crate::block_check::check_page(page) };
            });
        }
        #[cfg(all(feature = "secure", not(feature = "checks")))]
        {
            let mut budget = max_free_blocks;
            self.for_each_queued_page(|page, _| {
                // SAFETY: a live page of this heap, which `&self` keeps from
                // changing.
                unsafe { crate::secure::check_page_lists(page, &mut budget) };
            });
        }
    }

    /// With the `checks` feature, verifies the fill and tag of every block
    /// in this heap's quarantine (the blocks freed most recently, up to
    /// `Config::quarantine_bytes`) and reports the first write after free
    /// (`UseAfterFree`). Without `checks`, nothing.
    ///
    /// The part of [`Heap::check_heap`] that finds a write into a block
    /// freed a moment ago, at a cost bounded by the quarantine's bytes
    /// rather than the heap's: a fuzz target can call it after every input
    /// (docs/fuzzing.md).
    pub fn check_quarantine(&self) {
        #[cfg(feature = "checks")]
        for p in self.quarantine.blocks() {
            let seg = crate::segment::Segment::of(p, self.segment_base_mask());
            // SAFETY: a quarantined block's page stays live.
            unsafe {
                let page = crate::segment::Segment::page_of(seg, p);
                crate::block_check::check_quarantined(page, p);
            }
        }
    }
}
