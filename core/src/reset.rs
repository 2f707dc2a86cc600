//! [`Heap::reset`]: every block of a heap freed at once, in time
//! proportional to its pages (what a request-scoped arena needs).
//!
//! A reset keeps one page per size class in place, emptied, when the heap
//! keeps lone pages (its purge delay is not 0): a request arena allocates
//! the same classes request after request, and a page kept this way costs
//! the next request no page set-up. Such a page is an empty lone page like
//! any other: the epoch tick frees it after the purge delay if it stays
//! empty. Every other page goes back to its segment.

use crate::heap::Heap;
use crate::os::Os;
use crate::page::{Page, PageFlags, NO_HOLE, RETIRED_UNSTAMPED};
use crate::page_queue::End;
use crate::size_class::CLASS_COUNT;
use crate::stats::CounterSink;
use core::ptr;
use core::sync::atomic::Ordering;

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Frees every block this heap handed out, as if each had been freed,
    /// without visiting the blocks: one page per size class stays, empty,
    /// for the next blocks (while lone pages are kept, see the module
    /// documentation); every other page goes back to its segment, and the
    /// segments that empty follow the usual policy (the segment cache,
    /// purged after the purge delay; beyond its bounds, back to the `Os`).
    /// Work is proportional to the heap's pages.
    ///
    /// Frees this heap made into other heaps' pages and has batched (or,
    /// with `checks`, holds in quarantine) are published first. Blocks of this heap that another heap freed and
    /// that wait on their page are dropped with the page.
    ///
    /// Its statistics count every live block as freed.
    ///
    /// # Safety
    /// No block of this heap is used afterwards, by any thread: every
    /// pointer the heap handed out is dangling once this returns. A free of
    /// one of its blocks by another heap must be complete (published onto
    /// the page, see [`Heap::flush_remote_frees`]) before the call.
    pub unsafe fn reset(&mut self) {
        if Self::DIRECT {
            // SAFETY: forwarded from the caller.
            unsafe { self.free_direct_blocks() };
        }
        self.flush_quarantine();
        self.remote.get_mut().flush();
        // SAFETY: (for the three calls) the caller guarantees that no block
        // of the heap is used any more, so every page may be taken as empty.
        unsafe {
            for c in 0..CLASS_COUNT {
                self.free_all_but_first(c);
            }
            self.empty_full_pages();
            self.release_all_arenas();
            for c in 0..CLASS_COUNT {
                self.settle_kept_page(c);
            }
        }
        self.on_slow_event();
    }

    /// Frees the pages of class `c` but its queue's first.
    ///
    /// # Safety
    /// As for [`Heap::reset`].
    unsafe fn free_all_but_first(&mut self, c: usize) {
        let first = self.pages.first(c);
        if first.is_null() {
            return;
        }
        // SAFETY: queued pages are live and ours; through the raw pointer
        // (see "Access" on `Page`).
        unsafe {
            let mut page = (*first).next;
            while !page.is_null() {
                let next = (*page).next;
                // The statistics count the drop of `used` as frees.
                Page::set_used(page, 0);
                self.free_any_page(page);
                page = next;
            }
        }
    }

    /// Takes every page out of `full`: a small page whose class has no page
    /// left is emptied and queued; the others are freed.
    ///
    /// # Safety
    /// As for [`Heap::reset`].
    unsafe fn empty_full_pages(&mut self) {
        loop {
            let page = self.pages.full_first();
            if page.is_null() {
                return;
            }
            // SAFETY: pages in `full` are live and ours.
            unsafe {
                self.pages.leave_full(page);
                let class = (*page).class;
                if class.is_small() && self.pages.first(class.index()).is_null() {
                    Self::empty_in_place(page);
                    self.pages.push(class.index(), page, End::Front);
                } else {
                    Page::set_used(page, 0);
                    self.free_any_page(page);
                }
            }
        }
    }

    /// Empties the page left in class `c`'s queue; frees it when lone
    /// pages are not kept.
    ///
    /// # Safety
    /// As for [`Heap::reset`].
    unsafe fn settle_kept_page(&mut self, c: usize) {
        let page = self.pages.first(c);
        if page.is_null() {
            return;
        }
        // SAFETY: a queued page of ours.
        unsafe {
            Self::empty_in_place(page);
            if !(*page).flags.has(PageFlags::KEEP) {
                self.free_any_page(page);
            }
        }
    }

    /// Makes `page` empty where it is: when blocks are still counted in
    /// use, the page forgets every block and carves them anew (lazily, as
    /// a new page does); when all came back already, its free lists hold
    /// them all and it stays as it is.
    ///
    /// # Safety
    /// `page` is a live small page of this heap none of whose blocks is
    /// used any more.
    unsafe fn empty_in_place(page: *mut Page) {
        // SAFETY: guaranteed by the caller (see "Access" on `Page`).
        unsafe {
            if Page::used_of(page) != 0 {
                // The statistics count the drop of `used` as frees.
                Page::set_used(page, 0);
                (*page).capacity = 0;
                Page::set_parked(page, 0, 0, NO_HOLE as usize);
                Page::set_free(page, ptr::null_mut());
                Page::set_local_free(page, ptr::null_mut());
                (*page).thread_free.store(0, Ordering::Relaxed);
                // Its blocks were written: neither fresh nor zero any more.
                (*page).flags.remove(PageFlags::FRESH);
                (*page).flags.remove(PageFlags::FREE_IS_ZERO);
            }
            (*page).retired_at = RETIRED_UNSTAMPED;
        }
    }
}
