//! Statistics of a heap: folding the counts its pages hold into its sink
//! (see [`Pending`]), and [`Heap::stats`], the snapshot.

use crate::heap::Heap;
use crate::os::Os;
use crate::page::Page;
#[cfg(feature = "stats")]
use crate::page::PageFlags;
use crate::size_class::CLASS_COUNT;
use crate::stats::{CounterSink, Stats};
#[cfg(feature = "stats")]
use crate::stats::{Pending, STATS_FLUSH_ALLOCS};

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// The allocation slow path refilled `page` (collected or extended it):
    /// folds its counts in once it has handed out `STATS_FLUSH_ALLOCS`
    /// blocks since the last time, so that a page in steady use reaches the
    /// sink now and then without every refill paying for it.
    ///
    /// # Safety
    /// `page` is a live page owned by this heap.
    #[inline(always)]
    pub(crate) unsafe fn refilled(&mut self, page: *mut Page) {
        #[cfg(feature = "stats")]
        // SAFETY: guaranteed by the caller.
        unsafe {
            if (*page).stat_allocs >= STATS_FLUSH_ALLOCS {
                self.flush_page(page);
            }
        }
        #[cfg(not(feature = "stats"))]
        let _ = page;
    }

    /// Folds the counts pending in `page` (see [`Pending`]) into the heap's
    /// sink, then raises the peak to the live bytes known for certain: those
    /// of the full pages (which have nothing pending: every change to one is
    /// a slow path that folds it in) and of this page. Without `stats`,
    /// nothing.
    ///
    /// # Safety
    /// `page` is a live page owned by this heap.
    // Out of line: only slow paths flush a page, from about a dozen places.
    #[inline(never)]
    pub(crate) unsafe fn flush_page(&mut self, page: *mut Page) {
        #[cfg(feature = "stats")]
        // SAFETY: guaranteed by the caller; written through the raw pointer
        // (see "Access" on `Page`).
        unsafe {
            let Some(p) = Pending::of(page) else {
                return;
            };
            p.fold_into(&self.counters);
            p.clear(page);
            let own = p.used as usize * p.block_size;
            if (*page).flags.has(PageFlags::IN_FULL) {
                let full = self
                    .pages
                    .refold_full(p.old_used as usize * p.block_size, own);
                self.counters.note_live(full);
            } else {
                self.counters.note_live(self.pages.full_live() + own);
            }
        }
        #[cfg(not(feature = "stats"))]
        let _ = page;
    }

    /// Calls `f` on every page in the heap's queues (class queues, then
    /// `full`), with whether it is in `full`. `f` must not change the queues.
    pub(crate) fn for_each_queued_page(&self, mut f: impl FnMut(*mut Page, bool)) {
        for q in 0..=CLASS_COUNT {
            let mut page = if q < CLASS_COUNT {
                self.pages.first(q)
            } else {
                self.pages.full_first()
            };
            while !page.is_null() {
                // SAFETY: queued and full pages are live pages owned by this
                // heap; `f` leaves the links alone.
                let next = unsafe { (*page).next };
                f(page, q == CLASS_COUNT);
                page = next;
            }
        }
    }

    /// Folds every page's pending counts into the heap's sink (see
    /// [`CounterSink`]) and raises the peak to the live bytes, exact then.
    /// [`Heap::stats`] is exact without it; it is for readers of the sink
    /// that do not go through the heap (another thread reading a
    /// `&'static Counters`, see [`Heap::with_counters`]). [`Heap::collect`]
    /// does it too. Work is proportional to the heap's pages.
    pub fn flush_stats(&mut self) {
        #[cfg(feature = "stats")]
        {
            let mut live = 0usize;
            let mut q = 0;
            while q <= CLASS_COUNT {
                let mut page = if q < CLASS_COUNT {
                    self.pages.first(q)
                } else {
                    self.pages.full_first()
                };
                while !page.is_null() {
                    // SAFETY: queued and full pages are live pages owned by
                    // this heap; folding changes no links.
                    unsafe {
                        self.flush_page(page);
                        live += Page::used_of(page) as usize * (*page).block_size;
                        page = (*page).next;
                    }
                }
                q += 1;
            }
            self.note_live_unless_negative(live);
        }
    }

    /// A snapshot of this heap's counters, exact: the counts pending in its
    /// pages (see [`Heap::flush_stats`]) are added to its sink's. Work is
    /// proportional to the heap's pages. It also raises the sink's peak to
    /// the live bytes (see [`Stats::peak_live_bytes`]).
    pub fn stats(&self) -> Stats {
        let counts = self.counters.read();
        #[allow(unused_mut)]
        let (mut allocs, mut frees, mut live) =
            (counts.alloc_count, counts.free_count, counts.live_bytes);
        #[cfg(feature = "stats")]
        {
            self.for_each_queued_page(|page, in_full| {
                // SAFETY: a live page of this heap (see `for_each_queued_page`).
                let Some(p) = (unsafe { Pending::of(page) }) else {
                    return;
                };
                // Full pages have nothing pending (see `flush_page`).
                debug_assert!(!in_full, "pending counts in a full page");
                allocs = allocs.wrapping_add(p.allocs);
                frees = frees.wrapping_add(p.frees);
                live = live.wrapping_add(p.net_bytes() as usize);
            });
            self.note_live_unless_negative(live);
        }
        let (normal, huge) = self.lists.in_use();
        // Direct blocks counted here and the heap's cache of freed ones: in
        // the committed and reserved bytes (below zero for a heap that freed
        // more of a shared region's than it allocated).
        let direct = self.counts.direct_bytes() + self.direct_cache.bytes() as isize;
        let mut s = Stats {
            live_bytes: live,
            peak_live_bytes: if below_zero(live) {
                counts.peak_live_bytes
            } else {
                counts.peak_live_bytes.max(live)
            },
            alloc_count: allocs as u64,
            free_count: frees as u64,
            committed_bytes: self.store.committed_bytes().wrapping_add_signed(direct),
            reserved_bytes: self.store.reserved_bytes().wrapping_add_signed(direct),
            direct_cached_bytes: self.direct_cache.bytes(),
            decommitted_bytes: self.store.decommitted_bytes(),
            segments: normal + huge + self.lists.arena_count(),
            cached_segments: self.lists.cached().0,
            ..Stats::ZERO
        };
        self.counts.fill(&mut s);
        s
    }

    /// Raises the peak to `live`, unless `live` reads below zero (a heap
    /// that freed more direct blocks of a shared region than it allocated:
    /// its wrapped figure is no peak). (The live figure is summed from the
    /// pages only with `stats`.)
    #[cfg(feature = "stats")]
    fn note_live_unless_negative(&self, live: usize) {
        if !below_zero(live) {
            self.counters.note_live(live);
        }
    }
}

/// True when a wrapping byte count reads below zero (see
/// `Stats::direct_blocks`).
fn below_zero(bytes: usize) -> bool {
    bytes > isize::MAX as usize
}
