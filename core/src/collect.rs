//! [`Heap::collect`] and the other calls that give memory back on demand
//! or report what waits to go back, and the heap's end (`Drop`).

use crate::heap::Heap;
use crate::os::Os;
use crate::page::Page;
use crate::page_queue::End;
use crate::segment::Segment;
use crate::size_class::CLASS_COUNT;
use crate::stats::CounterSink;

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// True when memory of this heap waits for its purge delay: a segment
    /// in the purge queue (free slices, or a cached segment not yet
    /// purged) or an empty page kept for its class. What `collect(false)`
    /// calls made after the delay would give back. Work is proportional to
    /// the classes with a lone page.
    pub fn has_pending_release(&self) -> bool {
        if !self.lists.purge_first().is_null() {
            return true;
        }
        let mut lone = self.pages.lone_mask();
        while lone != 0 {
            let c = lone.trailing_zeros() as usize;
            lone &= lone - 1;
            let page = self.pages.first(c);
            // SAFETY: queued pages are live and ours (read through the raw
            // pointer, see "Access" on `Page`).
            if !page.is_null() && unsafe { Page::used_of(page) } == 0 {
                return true;
            }
        }
        false
    }

    /// True when a segment waits in the purge queue (free slices, or a
    /// cached segment not yet purged): one load, for the std shim's slow
    /// paths, which then make sure its background purger will come.
    #[inline(always)]
    pub fn purge_pending(&self) -> bool {
        !self.lists.purge_first().is_null()
    }

    /// Publishes the remote frees this heap has batched (blocks it freed to
    /// another heap's page, see `remote_buffer.rs`), so that their owner can
    /// reuse them, and gives the freed direct blocks it caches back to the
    /// region. Every slow path, `collect` and `Drop` publish the remote
    /// frees already; call it when a heap that may have freed other heaps'
    /// blocks goes unused for a while without either.
    pub fn flush_remote_frees(&mut self) {
        // With `checks`, the quarantine's blocks are frees not yet made.
        self.flush_quarantine();
        self.remote.get_mut().flush();
        // Freed direct blocks this heap caches: the region's, for any heap.
        self.flush_direct_cache();
    }

    /// Frees the blocks held in quarantine (with `checks`), collects remote
    /// frees from every page, frees empty pages and does the due purges. With `force`, also frees kept pages, purges regardless of
    /// the delay, and releases the segment cache.
    ///
    /// Also folds every page's pending counts into the heap's sink (see
    /// [`Heap::flush_stats`]).
    ///
    /// Work is proportional to the heap's pages: call it at quiet moments
    /// (idle, thread exit, low memory), not per operation.
    pub fn collect(&mut self, force: bool) {
        self.flush_direct_cache();
        self.follow_policy();
        self.count_event();
        self.flush_quarantine();
        self.remote.get_mut().flush();
        self.free_empty_queued_pages(force);
        self.reclaim_full_pages();
        self.collect_arenas(force);
        // Every page's pending counts reach the sink (the collection above
        // folded in those of the queued pages already).
        self.flush_stats();
        if force {
            self.free_idle_pages(true);
            let mut seg = self.lists.normal_first();
            while !seg.is_null() {
                // SAFETY: listed segments are live and ours.
                let next = unsafe { (*seg).next };
                self.purge_segment(seg, true);
                seg = next;
            }
            self.purge_waiting_now();
        } else {
            self.free_idle_pages(false);
            self.purge_queue_due();
        }
    }

    /// Collects the remote and local frees of every page in the class
    /// queues and frees those with no live block, but for a class's lone
    /// page unless `force` (`collect`, and memory pressure: the pages other
    /// threads emptied wait behind the first for the purge delay).
    #[inline(never)]
    pub(crate) fn free_empty_queued_pages(&mut self, force: bool) {
        for c in 0..CLASS_COUNT {
            let mut page = self.pages.first(c);
            while !page.is_null() {
                // SAFETY: queued pages are live and ours.
                unsafe {
                    let next = (*page).next;
                    self.merge_and_fold(page);
                    let only = self.pages.first(c) == page && next.is_null();
                    if Page::used_of(page) == 0 && (force || !only) {
                        self.free_any_page(page);
                    }
                    page = next;
                }
            }
        }
    }

    /// Bytes this heap keeps committed that hold no block: free slices of its
    /// segments that are still committed, and the committed memory of its
    /// cached segments. This is what `collect(true)` would give back beyond
    /// `collect(false)` (apart from kept pages and the free blocks inside
    /// pages in use). Work is proportional to the heap's segments.
    pub fn free_committed_bytes(&self) -> usize {
        let mut bytes = 0;
        let mut seg = self.lists.normal_first();
        while !seg.is_null() {
            // SAFETY: listed segments are live and ours; read through the raw
            // pointer (see "Access" on `Segment`).
            unsafe {
                let idle = (*seg).free_mask & (*seg).committed_mask;
                bytes += (idle.count_ones() as usize) << (*seg).slice_shift;
                seg = (*seg).next;
            }
        }
        let mut seg = self.lists.cache_first();
        while !seg.is_null() {
            // SAFETY: cached segments are live and ours.
            unsafe {
                bytes += Segment::committed(seg);
                seg = (*seg).next;
            }
        }
        bytes
    }

    /// Collects the remote frees of every page in the `full` queue: pages that
    /// became empty are freed, small pages with free blocks are queued again.
    /// True when any page changed. Work is proportional to the full pages.
    pub(crate) fn reclaim_full_pages(&mut self) -> bool {
        let mut any = false;
        let mut page = self.pages.full_first();
        while !page.is_null() {
            // SAFETY: pages in `full` are live and ours.
            unsafe {
                let next = (*page).next;
                if (*page).has_remote() {
                    self.merge_and_fold(page);
                    // Through the raw pointer only: the queues reach the
                    // page through it too.
                    if Page::used_of(page) == 0 {
                        self.pages.leave_full(page);
                        self.free_any_page(page);
                        any = true;
                    } else if (*page).class.is_small() && !Page::free_of(page).is_null() {
                        self.pages.leave_full(page);
                        self.pages.push((*page).class.index(), page, End::Back);
                        any = true;
                    }
                }
                page = next;
            }
        }
        any
    }

    /// Gives every segment back to the `Os` (on drop).
    pub(crate) fn release_everything(&mut self) {
        // Counts pending in pages reach the sink, which may outlive the heap.
        self.flush_stats();
        self.release_all_arenas();
        self.release_cache();
        for list in [0, 1] {
            loop {
                let seg = if list == 0 {
                    self.lists.normal_first()
                } else {
                    self.lists.huge_first()
                };
                if seg.is_null() {
                    break;
                }
                // SAFETY: listed segments are live and ours.
                unsafe {
                    if list == 0 {
                        self.lists.remove_normal(seg);
                    } else {
                        self.lists.remove_huge(seg);
                    }
                }
                self.release_segment(seg);
            }
        }
        self.pages.clear();
        self.counts.huge_all_gone();
    }
}

impl<O: Os, C: CounterSink> Drop for Heap<O, C> {
    fn drop(&mut self) {
        self.flush_direct_cache();
        self.flush_quarantine();
        self.remote.get_mut().flush();
        self.release_everything();
    }
}
