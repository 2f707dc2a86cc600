//! [`Heap::release_while_owner_idle`]: what another thread may give back of
//! a heap whose owner is alive but outside its slow paths (the std shim's
//! background purger, for a thread that sleeps).
//!
//! The owner's fast paths take no lock and announce nothing, so the caller
//! excludes only the owner's slow paths (and every other `&mut` use of the
//! heap); the owner may run fast paths meanwhile. Those touch the direct
//! table and the first page of each class queue it points to (allocation),
//! and pages holding a live block of the owner (its free: `used`,
//! `local_free`, `retired_at`). So this touches only what they cannot reach:
//!
//! * the purge queue: the purges whose delay has passed;
//! * the heap's arenas (`arena.rs`), which only the owner's slow paths
//!   use: the blocks other threads freed into them are taken back (the
//!   same swap of `thread_free` against their pushes as a page's
//!   collection), an emptied arena goes back to the `Os` or, the heap's
//!   last, waits in the purge queue;
//! * pages with no live block that no fast path reaches: behind the first
//!   page of a class queue, or in `full`. A page has no live block when its
//!   `used` equals the number of blocks on its `thread_free` (read first,
//!   from the word): every block handed out and not on the owner's lists is
//!   then a remote free. The count read is at most what the list holds
//!   later (only the owner takes it, and the owner is excluded); the `used`
//!   read is at least the true count (increments happen on the slow paths,
//!   or while the page is a class's first page, before the slow path that
//!   moved it, which the exclusion orders before this), and the true count
//!   is at least the list's (its blocks count as used until collected). So
//!   equal reads mean all three are equal: no block is live, no free of one
//!   can come, and with Acquire on `used` against the Release of the owner's
//!   fast free (`Page::publish_used`), the owner's last free of the page is
//!   complete, its `local_free` push visible. Such a page is collected and
//!   freed: its slices go back to its segment and wait for the purge delay.
//!   The queue's first page stays, so the direct table does not change, and
//!   its flags are not written (`PageQueues::remove_unreached`);
//! * with `discard_insides`, the first page of a class above the direct
//!   table's (`DIRECT_MAX`), when it holds no live block: only the slow paths allocate from such a
//!   page, and no fast free can come without a live block. Freed as above,
//!   with no other page's flags written; the owner's next allocation of the
//!   class takes a page afresh.
//!
//! It leaves the heap's batch of remote frees alone (`remote_buffer.rs`):
//! the std shim frees other heaps' blocks into it outside the gate
//! ([`Heap::dealloc_remote`]), so up to one chain (at most 63 blocks of one
//! page) can wait in an idle thread's batch.
//!
//! Then, with `discard_insides` (`idle_discard.rs`), each first page that
//! holds no live block and whose `free` list is empty is reset to nothing
//! carved and its memory given back, and so are the insides of free blocks
//! larger than a memory page on the `local_free` and `thread_free` lists
//! of every page, first pages and pages with live blocks included.
//!
//! Last, after the due purges, with `discard_insides`, the cached segments
//! whose purge is done are released (`Heap::release_purged_cache`): the cache spares a busy owner
//! its mappings; an idle one makes none, and each cached segment keeps its
//! header resident. No fast path reaches a cached segment.
//!
//! Not reached: first pages with blocks on `free` or a live block (but for
//! those insides), pages whose remote frees are not counted in the word
//! (`checks`, 32-bit targets), and small blocks freed into pages that still
//! hold live ones. The loom model
//! `loom-tests/tests/idle_release.rs` runs the page check against an
//! owner's concurrent frees.

use crate::heap::Heap;
use crate::os::Os;
use crate::page::Page;
use crate::size_class::{class_size, CLASS_COUNT, DIRECT_MAX};
use crate::stats::CounterSink;
use crate::sync::Ordering;

/// True when `page` holds no live block: its `used` equals the number of
/// blocks on its `thread_free` (see the module documentation for why equal
/// reads suffice while the owner may be freeing blocks of the page on its
/// fast path). A page that does not count its remote frees never is.
///
/// # Safety
/// `page` is a live page of a heap whose slow paths the caller excludes.
#[inline]
pub(crate) unsafe fn only_remote_frees(page: *const Page) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe {
        match Page::remote_count_acquire(page) {
            Some(r) if r != 0 => Page::used_acquire(page) == r,
            _ => false,
        }
    }
}

/// True when `page` holds no live block: `used` equals the number of
/// blocks on `thread_free` (0 included), read count first and `used` with
/// Acquire, as [`only_remote_frees`] does (the module documentation has
/// why equal reads suffice).
///
/// # Safety
/// As for [`only_remote_frees`].
pub(crate) unsafe fn holds_no_live_block(page: *const Page) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe {
        match Page::remote_count_acquire(page) {
            Some(r) => Page::used_acquire(page) == r,
            None => {
                (*page).thread_free.load(Ordering::Acquire) == 0 && Page::used_acquire(page) == 0
            }
        }
    }
}

/// What [`Heap::release_while_owner_idle`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdleRelease {
    /// Pages that other threads had emptied, freed.
    pub pages_freed: usize,
    /// Memory still waits for its purge delay (the purge queue is not
    /// empty).
    pub waiting: bool,
    /// Bytes of the insides of free blocks given back (`idle_discard.rs`).
    pub discarded: usize,
    /// Cached segments whose purge was done, released to the `Os`.
    pub segments_released: usize,
}

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Gives back what may go while the owner is alive but idle: frees the
    /// pages that other threads emptied and no fast path reaches, with
    /// `discard_insides` (the std shim's `MASU_IDLE_DISCARD`) also frees
    /// the emptied first pages of the classes above the direct table, gives
    /// back free memory in place (`idle_discard.rs`: the insides of free
    /// blocks larger than a memory page, emptied first pages, freed tails
    /// and parked runs) and releases the cached segments whose purge is
    /// done; in any case it does the due purges (see the module
    /// documentation).
    ///
    /// # Safety
    /// The caller excludes every other use of the heap but the owner's fast
    /// paths ([`Heap::alloc_fast`], [`Heap::alloc_fast_malloc`],
    /// [`Heap::dealloc_fast`]) and [`Heap::dealloc_remote`], which may run
    /// on another thread meanwhile,
    /// and has synchronised with the end of the owner's last other call
    /// (the std shim's slot gate).
    pub unsafe fn release_while_owner_idle(&mut self, discard_insides: bool) -> IdleRelease {
        let (mut pages_freed, mut discarded) = (0, 0);
        if !cfg!(feature = "checks") {
            for c in 0..CLASS_COUNT {
                // SAFETY: guaranteed by the caller.
                pages_freed += unsafe { self.free_emptied_behind_first(c) };
                if discard_insides {
                    // SAFETY: as above.
                    pages_freed += unsafe { self.free_emptied_first_off_table(c) };
                }
            }
            // SAFETY: guaranteed by the caller.
            pages_freed += unsafe { self.free_emptied_full() };
            // (Not with `checks`, whose freed blocks carry a fill that is
            // verified when they are handed out again.)
            if discard_insides {
                // SAFETY: guaranteed by the caller.
                discarded = unsafe { self.reset_idle_first_pages() + self.discard_idle_insides() };
            }
        }
        // No fast path touches an arena: its remote frees are taken back
        // and an emptied one goes (or waits for its purge) as when the
        // owner collects.
        self.collect_arenas(false);
        self.purge_queue_due();
        let segments_released = if discard_insides {
            self.release_purged_cache()
        } else {
            0
        };
        IdleRelease {
            pages_freed,
            waiting: !self.lists.purge_first().is_null(),
            discarded,
            segments_released,
        }
    }

    /// Frees the pages of class `class` behind the queue's first page that
    /// hold only remote frees; returns how many.
    ///
    /// # Safety
    /// As for [`Heap::release_while_owner_idle`].
    unsafe fn free_emptied_behind_first(&mut self, class: usize) -> usize {
        let first = self.pages.first(class);
        if first.is_null() {
            return 0;
        }
        // SAFETY: queued pages are live and ours; the caller excludes the
        // slow paths, and the fast paths do not reach a page behind the
        // first (the direct table holds first pages only).
        unsafe { self.free_emptied_from((*first).next, Self::free_unreached) }
    }

    /// Frees the first page of class `class` when no fast path reaches it
    /// (the class is above the direct table's, so only the slow paths
    /// allocate from it) and it holds no live block; returns 1 if it did.
    /// An empty page of such a class is kept only to spare the owner's
    /// next slow path a page search: an owner idle for the purger's interval
    /// needs none, and the page may be all that holds its segment.
    ///
    /// # Safety
    /// As for [`Heap::release_while_owner_idle`].
    unsafe fn free_emptied_first_off_table(&mut self, class: usize) -> usize {
        let first = self.pages.first(class);
        // SAFETY: a queued page is live and ours; the caller excludes the
        // slow paths; a page of a class above `DIRECT_MAX` is in no direct
        // entry, so the owner's fast allocation never reaches it, and with
        // no live block its fast free cannot either (see the module
        // documentation for why the reads of `holds_no_live_block` suffice).
        unsafe {
            if first.is_null() || class_size(class) <= DIRECT_MAX || !holds_no_live_block(first) {
                return 0;
            }
            self.merge_and_fold(first);
            debug_assert_eq!(Page::used_of(first), 0);
            self.free_unreached(first);
        }
        1
    }

    /// Frees the pages of `full` that hold only remote frees; returns how
    /// many.
    ///
    /// # Safety
    /// As for [`Heap::release_while_owner_idle`].
    unsafe fn free_emptied_full(&mut self) -> usize {
        // SAFETY: pages in `full` are live and ours; no fast path reaches
        // them (an owner's free of one takes the slow path).
        unsafe { self.free_emptied_from(self.pages.full_first(), Self::free_from_full) }
    }

    /// Walks the queue from `page` on and frees, with `free`, each page
    /// that holds only remote frees (collected first); returns how many.
    ///
    /// # Safety
    /// As for [`Heap::release_while_owner_idle`]; no fast path reaches a
    /// page from `page` on; `free` unlinks a page of that queue and frees
    /// it.
    unsafe fn free_emptied_from(
        &mut self,
        mut page: *mut Page,
        free: unsafe fn(&mut Self, *mut Page),
    ) -> usize {
        let mut freed = 0;
        while !page.is_null() {
            // SAFETY: guaranteed by the caller: queued pages are live and
            // ours, out of the fast paths' reach.
            unsafe {
                let next = (*page).next;
                if only_remote_frees(page) {
                    self.merge_and_fold(page);
                    debug_assert_eq!(Page::used_of(page), 0);
                    free(self, page);
                    freed += 1;
                }
                page = next;
            }
        }
        freed
    }

    /// Unlinks an emptied page that no fast path reaches from its class
    /// queue (`PageQueues::remove_unreached`: no direct entry or flag of
    /// another page written) and frees it: what `free_any_page` does to a
    /// small page.
    ///
    /// # Safety
    /// `page` is an empty small page of this heap behind its queue's first,
    /// or the first of a class above `DIRECT_MAX`.
    unsafe fn free_unreached(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let class = (*page).class.index();
            self.pages.remove_unreached(page);
            self.counts.page_freed(class);
            self.release_page_slices(page);
        }
    }

    /// Unlinks an emptied page from `full` and frees it.
    ///
    /// # Safety
    /// `page` is an empty page of this heap in `full`.
    unsafe fn free_from_full(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            self.pages.leave_full(page);
            self.free_any_page(page);
        }
    }
}
