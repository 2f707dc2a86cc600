//! Finding a page with a free block for a size class: the queue's first
//! page after collecting its frees, the next pages of the queue (extended
//! or filed full in turn), a few full pages that got remote frees back, or
//! a new page. Also how a new page's descriptor is filled, for every kind.

use crate::heap::Heap;
use crate::os::Os;
use crate::page::{Block, Page, PageClass, PageFlags, NO_HOLE};
use crate::page_queue::{End, QueueRescan};
use crate::release::retire_stamp;
use crate::segment::Segment;
use crate::size_class::{class_size, CLASS_COUNT};
use crate::stats::CounterSink;
use crate::sync::Ordering;
use core::ptr;

/// Full pages checked for remote frees per slow-path event.
const FULL_RESCAN: usize = 4;

/// The most pages [`Heap::rescan_queues`] looks at in one class queue
/// before it goes on to the next class.
const RESCAN_CLASS_STEPS: u32 = 4096;

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Finds or makes a page of `class` with a free block and puts it first in
    /// its queue; null when out of memory.
    #[inline(always)]
    pub(crate) fn find_page(&mut self, class: usize) -> *mut Page {
        self.on_slow_event();
        // The common case first, without the rest's register pressure: the
        // first page got blocks back (its `free` list ran dry while the
        // owner's frees went to `local_free`).
        let page = self.pages.first(class);
        if !page.is_null() {
            // SAFETY: queued pages are live pages owned by this heap.
            unsafe {
                self.merge_frees(page);
                if !Page::free_of(page).is_null() {
                    self.refilled(page);
                    return page;
                }
            }
        }
        self.find_page_in_queue(class)
    }

    /// The rest of `find_page`: extends or retires the class's pages in
    /// turn, then looks in `full`, then makes a new page.
    #[inline(never)]
    fn find_page_in_queue(&mut self, class: usize) -> *mut Page {
        let mut page = self.pages.first(class);
        while !page.is_null() {
            // SAFETY: queued pages are live pages owned by this heap.
            unsafe {
                let next = (*page).next;
                self.merge_frees(page);
                if Page::free_of(page).is_null() {
                    Page::extend(page, self.config.shuffle_window);
                }
                if !Page::free_of(page).is_null() {
                    self.refilled(page);
                    self.pages.move_to_front(class, page);
                    return page;
                }
                // A full page has nothing pending (see `flush_page`).
                self.flush_page(page);
                self.pages.enter_full(page);
                page = next;
            }
        }
        let page = self.rescan_full(class, FULL_RESCAN);
        if !page.is_null() {
            return page;
        }
        self.new_small_page(class)
    }

    /// Collects remote and local frees of `page` onto its `free` list and
    /// folds its pending counts into the sink (see `flush_page`).
    ///
    /// # Safety
    /// `page` is a live page owned by this heap.
    // Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
    #[inline(never)]
    pub(crate) unsafe fn merge_and_fold(&mut self, page: *mut Page) {
        // SAFETY: forwarded from the caller.
        unsafe {
            self.merge_frees(page);
            self.flush_page(page);
        }
    }

    /// Collects remote and local frees of `page` onto its `free` list; the
    /// collected remote frees are counted freed at the page's next fold.
    ///
    /// # Safety
    /// `page` is a live page owned by this heap.
    #[inline(always)]
    unsafe fn merge_frees(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller: the page is ours and in use.
        let n = unsafe {
            Page::merge_frees(page, |_pg: *mut Page, _b: *mut Block| {
                #[cfg(feature = "checks")]
                // SAFETY: `collect` passes its own, live page.
                crate::block_check::validate_remote(&*_pg, _b);
            })
        };
        self.counts.remote_collected(n as u64);
    }

    /// Checks up to `limit` pages behind the first of the class queues for
    /// other threads' frees, and frees those that emptied: one class after
    /// the other, each until its queue has gone round once (or
    /// `RESCAN_CLASS_STEPS` steps). A page is otherwise looked at again
    /// only when its class's allocations reach it, so a burst that another
    /// thread freed, in a class the owner no longer used, stayed while the
    /// owner was busy (the background purger takes only idle owners).
    pub(crate) fn rescan_queues(&mut self, limit: usize) {
        for _ in 0..limit {
            let class = self.rescan.class as usize;
            let page = self.pages.rotate_second(class);
            if page.is_null() || page == self.rescan.mark || self.rescan.steps >= RESCAN_CLASS_STEPS
            {
                self.rescan = QueueRescan {
                    class: ((class + 1) % CLASS_COUNT) as u32,
                    steps: 0,
                    mark: ptr::null_mut(),
                };
                continue;
            }
            if self.rescan.mark.is_null() {
                // Compared, never read: the page it names may go meanwhile.
                self.rescan.mark = page;
            }
            self.rescan.steps += 1;
            // SAFETY: queued pages are live pages owned by this heap.
            unsafe {
                let emptied = (*page).has_remote() && {
                    self.merge_and_fold(page);
                    Page::used_of(page) == 0
                };
                if emptied || (Page::used_of(page) == 0 && self.empty_for_delay(page, self.now())) {
                    if page == self.rescan.mark {
                        // It will not come round: the next page marks.
                        self.rescan.mark = ptr::null_mut();
                    }
                    self.free_any_page(page);
                }
            }
        }
    }

    /// Checks up to `limit` full pages for remote frees; returns a page of
    /// `class` that has free blocks again, if one turns up. Every small page
    /// with free blocks again goes back to its class queue. An emptied one
    /// is freed, unless (`Config::requeue_emptied`) its class would make a
    /// new page at its next slow path ([`Heap::class_hungry`], or `class`
    /// itself): then it goes back too, its blocks linked already, where
    /// the new page would carve them (and fault them in) again; one of
    /// another class is stamped and waits behind the first page for the
    /// purge delay ([`Heap::rescan_queues`] frees it then).
    pub(crate) fn rescan_full(&mut self, class: usize, limit: usize) -> *mut Page {
        let mut found: *mut Page = ptr::null_mut();
        let mut now = None;
        for _ in 0..limit {
            let page = self.pages.rotate_full();
            if page.is_null() {
                break;
            }
            // SAFETY: pages in `full` are live pages owned by this heap.
            unsafe {
                if !(*page).has_remote() {
                    continue;
                }
                self.merge_and_fold(page);
                if !(*page).class.is_small() {
                    if Page::used_of(page) == 0 {
                        self.pages.leave_full(page);
                        self.free_any_page(page);
                    }
                    continue;
                }
                let c = (*page).class.index();
                let emptied = Page::used_of(page) == 0;
                let wanted = c == class && found.is_null();
                if emptied && !(self.config.requeue_emptied && (wanted || self.class_hungry(c))) {
                    self.pages.leave_full(page);
                    self.free_any_page(page);
                    continue;
                }
                if Page::free_of(page).is_null() {
                    continue;
                }
                self.pages.leave_full(page);
                if wanted {
                    self.pages.push(c, page, End::Front);
                    found = page;
                    continue;
                }
                if emptied {
                    (*page).retired_at = retire_stamp(*now.get_or_insert_with(|| self.now()));
                }
                self.pages.push(c, page, End::Back);
            }
        }
        found
    }

    /// True when the next allocation of `class` that misses its fast path
    /// would make a new page: its queue is empty, or holds one page with
    /// no free block, on its owner's lists or freed by other threads.
    pub(crate) fn class_hungry(&self, class: usize) -> bool {
        let first = self.pages.first(class);
        // SAFETY: queued pages are live pages owned by this heap.
        first.is_null()
            || unsafe {
                (*first).next.is_null()
                    && Page::free_of(first).is_null()
                    && Page::local_free_of(first).is_null()
                    && !(*first).has_remote()
            }
    }

    /// Makes a new page of `class` and puts it first in its queue.
    pub(crate) fn new_small_page(&mut self, class: usize) -> *mut Page {
        let n = self.geometry.class_slices[class] as usize;
        let Some((seg, idx, fresh)) = self.take_slices(n, 1) else {
            return ptr::null_mut();
        };
        let bs = class_size(class);
        // SAFETY: `take_slices` handed us slices `[idx, idx + n)` of `seg`,
        // committed, and their descriptors are ours.
        unsafe {
            let page = Segment::page(seg, idx);
            let start = Segment::slice_addr(seg, idx, self.geometry.slice_shift);
            let blocks = (n * self.geometry.slice_size / bs) as u32;
            self.init_page(
                seg,
                page,
                idx,
                n,
                PageClass::small(class),
                bs,
                blocks,
                start,
                fresh,
            );
            self.pages.push(class, page, End::Front);
            self.counts.page_made(class);
            Page::extend(page, self.config.shuffle_window);
            page
        }
    }

    /// Fills in the descriptor of a new page over slices `[idx, idx + n)`
    /// (of any kind: small, large, or a huge segment's one page), whose
    /// blocks start at `start`.
    ///
    /// # Safety
    /// The slices were just taken for this page.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn init_page(
        &mut self,
        seg: *mut Segment,
        page: *mut Page,
        idx: usize,
        n: usize,
        class: PageClass,
        block_size: usize,
        reserved: u32,
        start: *mut u8,
        fresh: bool,
    ) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let p = &mut *page;
            Page::set_free(p, ptr::null_mut());
            Page::set_local_free(p, ptr::null_mut());
            Page::set_used(p, 0);
            #[cfg(feature = "stats")]
            {
                p.stat_allocs = 0;
                p.stat_used = 0;
            }
            p.capacity = 0;
            Page::set_parked(p, 0, 0, NO_HOLE as usize);
            p.reserved = reserved;
            p.class = class;
            p.flags = if fresh {
                PageFlags::FRESH
            } else {
                PageFlags::EMPTY
            };
            p.slice_count = n as u16;
            p.slice_offset = 0;
            p.block_size = block_size;
            p.start = start;
            p.key = (*seg).key;
            #[cfg(all(feature = "secure", not(feature = "checks")))]
            crate::secure::derive_page_fields(p);
            p.thread_free.store(0, Ordering::Relaxed);
            p.owner.store(self.id, Ordering::Relaxed);
            p.next = ptr::null_mut();
            p.prev = ptr::null_mut();
            Segment::link_interior(seg, idx, n);
        }
    }
}
