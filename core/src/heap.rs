//! [`Heap`]: one owner's allocator over an [`Os`].
//!
//! Fast paths (`alloc` of a class with a ready block, `dealloc` by the owner)
//! touch only the heap's queue head and the page; they never call the `Os` and
//! never take a lock. Everything else is a slow path that also counts the
//! epoch and does a bounded amount of release work (see `release.rs`).

use crate::config::{header_bytes, Config, Geometry};
use crate::os::Os;
use crate::page::{
    Block, Page, PageQueue, CLASS_HUGE, CLASS_LARGE, FLAG_FREE_IS_ZERO, FLAG_IN_FULL,
    FLAG_IN_QUEUE, FLAG_KEEP,
};
use crate::remote_buffer::RemoteBuffer;
use crate::segment::{
    low_bits, range_bits, run_starts, PurgeQueue, Segment, SegmentList, KIND_NORMAL,
};
use crate::size_class::{class_of, class_size, CLASS_BY_WORDS, CLASS_COUNT, DIRECT_MAX};
use crate::stats::CounterSink;
use crate::stats::{Counters, Stats};
use crate::sync::Ordering;
use core::alloc::Layout;
use core::ptr;

/// Smallest block handed out: with `checks`, 16 bytes so a freed block can
/// carry a tag in its second word.
pub(crate) const MIN_BLOCK: usize = if cfg!(feature = "checks") { 16 } else { 1 };

/// `Page::retired_at` of a kept empty page that the epoch tick has not yet
/// stamped with the time.
pub(crate) const RETIRED_UNSTAMPED: u32 = u32::MAX;

/// Entries of `Heap::direct`: one per 8 bytes of request up to `DIRECT_MAX`.
const DIRECT_LEN: usize = DIRECT_MAX / 8 + 1;

/// What a direct entry of a class without pages points to: a zeroed block
/// the size of a descriptor, whose `free` reads as null, so the fast path
/// falls through to the slow path without a null check of its own. Nothing
/// ever writes to it (no block belongs to it, and the slow paths work on the
/// class queues, never on direct entries).
#[repr(C, align(64))]
struct EmptyPage([usize; core::mem::size_of::<Page>().div_ceil(core::mem::size_of::<usize>())]);

static_assertions::const_assert!(core::mem::align_of::<Page>() <= 64);
// `Heap::lone_mask` has a bit per class.
static_assertions::const_assert!(CLASS_COUNT <= 128);

const EMPTY_PAGE: *mut Page =
    &EmptyPage([0; core::mem::size_of::<Page>().div_ceil(core::mem::size_of::<usize>())])
        as *const EmptyPage as *mut Page;

/// Full pages checked for remote frees per slow-path event.
const FULL_RESCAN: usize = 4;

/// Blocks a page hands out before a refill folds its counts into the sink
/// (see `Heap::refilled`).
#[cfg(feature = "stats")]
const STATS_FLUSH_ALLOCS: usize = 1024;

// Not part of a concurrent protocol: a monotonic id generator (see `sync`).
static NEXT_HEAP_ID: crate::sync::StaticAtomicUsize = crate::sync::StaticAtomicUsize::new(1);

/// `size` raised to the smallest block a request gets with `checks` (16
/// bytes, room for the freed tag); unchanged without (a size of 0 stays 0).
#[inline(always)]
const fn size_or_min(size: usize) -> usize {
    if MIN_BLOCK > 1 && size < MIN_BLOCK {
        MIN_BLOCK
    } else {
        size
    }
}

/// A single-owner heap: size-classed pages in aligned segments over an `Os`.
///
/// A `Heap` is `!Sync`: one thread (or CPU) uses it at a time through
/// `&mut self`. Blocks it handed out may be freed through another heap over
/// the same memory (another thread's or CPU's); that free goes onto the
/// page's atomic `thread_free` list and the owner collects it in its slow
/// path. Wrap a heap in [`LockedHeap`](crate::LockedHeap) to share one.
///
/// Dropping a heap gives all its segments back to the `Os`: blocks still
/// live become invalid.
pub struct Heap<O: Os, C: CounterSink = Counters> {
    /// The allocation fast path's view of `queues`: entry `i` is the first
    /// page of the class of an `8 * i`-byte request (`CLASS_BY_WORDS[i]`),
    /// or `EMPTY_PAGE`. Kept up to date by `queue_changed`.
    pub(crate) direct: [*mut Page; DIRECT_LEN],
    /// Pages with (possibly) free blocks, per class.
    pub(crate) queues: [PageQueue; CLASS_COUNT],
    /// Bit `c` set when class `c`'s queue holds exactly one page (the pages
    /// that the epoch tick looks at, see `free_idle_pages`).
    pub(crate) lone_mask: u128,
    /// Pages without free blocks, plus all large and huge pages.
    pub(crate) full: PageQueue,
    /// Normal segments, those with free slices first.
    pub(crate) segments: SegmentList,
    /// Huge segments in use.
    pub(crate) huge: SegmentList,
    /// Empty normal and freed huge segments kept for reuse.
    pub(crate) cache: SegmentList,
    pub(crate) cache_bytes: usize,
    /// Segments with free, committed slices waiting for their purge delay.
    pub(crate) purge: PurgeQueue,
    pub(crate) geometry: Geometry,
    /// Requests up to this size with an alignment up to 16 take the table
    /// lookup in `alloc_impl`: `min(DIRECT_MAX, max_small_size)` rounded
    /// down to 16, so rounding up to 16 stays within the size classes.
    pub(crate) direct_max: usize,
    pub(crate) config: Config,
    /// Slow-path events so far.
    pub(crate) epoch: u64,
    /// Process-unique id (0 until the heap first takes memory).
    pub(crate) id: usize,
    /// Allocation and free counts (see [`CounterSink`]), as far as pages
    /// have folded theirs in (see `flush_page`).
    pub(crate) counters: C,
    /// Bytes of the blocks of pages in the `full` queue as last folded into
    /// `counters` (`stat_used * block_size` summed): live bytes the heap
    /// knows for certain on its slow paths, to raise the peak by.
    #[cfg(feature = "stats")]
    pub(crate) full_live: usize,
    pub(crate) committed_bytes: usize,
    pub(crate) reserved_bytes: usize,
    pub(crate) decommitted_bytes: u64,
    pub(crate) purges: u64,
    /// Huge segments moved to a larger reservation by `Os::remap`.
    pub(crate) remaps: u64,
    pub(crate) remote_collected: u64,
    pub(crate) pages_per_class: [u32; CLASS_COUNT],
    pub(crate) large_spans: usize,
    pub(crate) huge_allocs: usize,
    /// Bytes of the live huge blocks (their block sizes).
    pub(crate) huge_live_bytes: usize,
    /// Blocks freed to one page of another heap, not yet pushed onto its
    /// `thread_free` (see `remote_buffer.rs`).
    pub(crate) remote: RemoteBuffer,
    pub(crate) os: O,
}

// SAFETY: a heap exclusively owns its segments and pages; the raw pointers
// it holds point into them. Moving the heap to another thread moves that
// ownership along; its page owner ids do not depend on the thread.
unsafe impl<O: Os + Send, C: CounterSink + Send> Send for Heap<O, C> {}

/// See `Heap::direct_max`.
const fn direct_max(config: &Config) -> usize {
    let max_small = Geometry::new(config).max_small_size;
    let m = if max_small < DIRECT_MAX {
        max_small
    } else {
        DIRECT_MAX
    };
    m & !15
}

impl<O: Os> Heap<O, Counters> {
    /// A heap over `os` that keeps its counters inside. Takes no memory until
    /// the first allocation.
    ///
    /// Panics (at compile time in a `static`) when `config` is invalid.
    pub const fn new(os: O, config: Config) -> Self {
        Heap::with_counters(os, config, Counters::new())
    }
}

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// A heap over `os` counting into `counters` (for instance a
    /// `&'static Counters` that other threads read).
    ///
    /// Panics (at compile time in a `static`) when `config` is invalid.
    pub const fn with_counters(os: O, config: Config, counters: C) -> Self {
        Heap {
            direct: [EMPTY_PAGE; DIRECT_LEN],
            queues: [PageQueue::EMPTY; CLASS_COUNT],
            lone_mask: 0,
            full: PageQueue::EMPTY,
            segments: SegmentList::EMPTY,
            huge: SegmentList::EMPTY,
            cache: SegmentList::EMPTY,
            cache_bytes: 0,
            purge: PurgeQueue::EMPTY,
            geometry: Geometry::new(&config),
            direct_max: direct_max(&config),
            config,
            epoch: 0,
            id: 0,
            counters,
            #[cfg(feature = "stats")]
            full_live: 0,
            committed_bytes: 0,
            reserved_bytes: 0,
            decommitted_bytes: 0,
            purges: 0,
            remaps: 0,
            remote_collected: 0,
            pages_per_class: [0; CLASS_COUNT],
            large_spans: 0,
            huge_allocs: 0,
            huge_live_bytes: 0,
            remote: RemoteBuffer::EMPTY,
            os,
        }
    }

    /// The `Os` this heap takes memory from.
    pub fn os(&self) -> &O {
        &self.os
    }

    /// The configuration the heap was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Largest request (rounded up to its alignment) served by a size class.
    pub fn max_small_size(&self) -> usize {
        self.geometry.max_small_size
    }

    /// Segment size in bytes.
    pub fn segment_size(&self) -> usize {
        self.geometry.segment_size
    }

    #[inline(always)]
    pub(crate) fn segment_base_mask(&self) -> usize {
        self.geometry.segment_base_mask
    }

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
        // SAFETY: `&mut self`: this thread owns the heap; the heap's own sink.
        let p = unsafe { self.alloc_fast(size, align, zero, &self.counters) };
        if !p.is_null() {
            return p;
        }
        self.alloc_rest(size, align, zero)
    }

    /// What [`Heap::alloc`] does when [`Heap::alloc_fast`] returns null (it
    /// does not try the fast path again): use it after `alloc_fast`. On its
    /// own it is a complete, slower `alloc` (`alloc_zeroed` with `zero`).
    #[inline]
    pub fn alloc_slow(&mut self, layout: Layout, zero: bool) -> *mut u8 {
        self.alloc_rest(layout.size(), layout.align(), zero)
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
    /// out of line (the `masu` crate's global allocator and C `malloc`).
    /// `counters` stands for the heap's own [`CounterSink`]; this path no
    /// longer touches it (the page counts the block, see [`Heap::stats`]),
    /// and it is kept so that callers need not change.
    ///
    /// # Safety
    /// * `align` is a power of two.
    /// * The caller owns the heap: no other thread uses it meanwhile, as
    ///   with `&mut self`. A heap that has never allocated is the exception:
    ///   this call reads it only and returns null, so any number of threads
    ///   may make it at once.
    /// * `counters` counts into the same place as the heap's own sink (the
    ///   one it was made with); otherwise the counts are split.
    #[inline(always)]
    pub unsafe fn alloc_fast(
        &self,
        size: usize,
        align: usize,
        zero: bool,
        counters: &impl CounterSink,
    ) -> *mut u8 {
        let size_or_min = size_or_min(size);
        if size_or_min > self.direct_max {
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
            (size_or_min + 7) >> 3
        } else if align <= 16 {
            ((size_or_min + 15) & !15) >> 3
        } else {
            return ptr::null_mut();
        };
        let _ = counters;
        // SAFETY: forwarded from the caller; `idx` is a direct index.
        unsafe { self.take_direct(idx, size, zero) }
    }

    /// Everything `alloc` does when the fast path cannot serve the request.
    #[cold]
    #[inline(never)]
    fn alloc_rest(&mut self, size: usize, align: usize, zero: bool) -> *mut u8 {
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
            return self.alloc_small_slow(CLASS_BY_WORDS[idx] as usize, zero_len);
        }
        // `Layout` guarantees `size + align - 1` does not overflow. A zero
        // size counts as 1 so that it rounds up to a whole aligned block.
        let rounded = (size_or_min.max(1) + align - 1) & !(align - 1);
        if rounded <= self.geometry.max_small_size && align <= self.geometry.slice_size {
            let class = class_of(rounded);
            let page = self.queues[class].first;
            // SAFETY: queued pages are live pages owned by this heap.
            if !page.is_null() && unsafe { !(*page).free.is_null() } {
                // SAFETY: as above, and its `free` list is non-empty.
                return unsafe { Self::take_block(page, zero_len) };
            }
            self.alloc_small_slow(class, zero_len)
        } else {
            self.alloc_large(size, align, zero)
        }
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
        let size_or_min = size_or_min(size);
        if size_or_min > self.direct_max {
            return ptr::null_mut();
        }
        let words = (size_or_min + 7) >> 3;
        // Rounded up to 16 bytes (an even number of words) beyond one word.
        let idx = words + (words & (words > 1) as usize);
        debug_assert_eq!(
            idx,
            if size_or_min <= 8 {
                (size_or_min + 7) >> 3
            } else {
                ((size_or_min + 15) & !15) >> 3
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
        let page = unsafe { *self.direct.get_unchecked(idx) };
        // SAFETY: a direct entry is a live page owned by this heap or
        // `EMPTY_PAGE`, whose `free` reads as null.
        if unsafe { (*page).free.is_null() } {
            return ptr::null_mut();
        }
        // SAFETY: a real page (`EMPTY_PAGE` has no free block) of this heap,
        // which the caller owns, with a non-empty `free` list.
        unsafe { Self::take_block(page, if zero { size } else { 0 }) }
    }

    /// Pops the first block of `page.free`, counting it in the page (one
    /// add with `stats`; see `flush_page`).
    ///
    /// # Safety
    /// `page` is owned by the caller's heap and its `free` list is non-empty.
    #[inline(always)]
    unsafe fn take_block(page: *mut Page, zero_len: usize) -> *mut u8 {
        // SAFETY: guaranteed by the caller; the page is written through the
        // raw pointer (see "Access" on `Page`), and blocks on `free` are
        // free blocks of this page.
        let (block, flags) = unsafe {
            let block = (*page).free;
            let next = (*page).decode((*block).next);
            #[cfg(feature = "checks")]
            crate::check::validate_link(&*page, block, next);
            (*page).free = next;
            (*page).used += 1;
            #[cfg(feature = "stats")]
            {
                (*page).stat_allocs = (*page).stat_allocs.wrapping_add(1);
            }
            (block, (*page).flags)
        };
        #[cfg(feature = "checks")]
        // SAFETY: as above.
        crate::check::clear_freed_tag(unsafe { &*page }, block as *mut u8);
        if zero_len != 0 {
            if flags & FLAG_FREE_IS_ZERO != 0 {
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
    fn alloc_small_slow(&mut self, class: usize, zero_len: usize) -> *mut u8 {
        let page = self.find_page(class);
        if page.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: `find_page` returns an owned page with a free block.
        unsafe { Self::take_block(page, zero_len) }
    }

    /// Finds or makes a page of `class` with a free block and puts it first in
    /// its queue; null when out of memory.
    #[inline(always)]
    fn find_page(&mut self, class: usize) -> *mut Page {
        self.on_slow_event();
        // The common case first, without the rest's register pressure: the
        // first page got blocks back (its `free` list ran dry while the
        // owner's frees went to `local_free`).
        let page = self.queues[class].first;
        if !page.is_null() {
            // SAFETY: queued pages are live pages owned by this heap.
            unsafe {
                self.collect_only(page);
                if !(*page).free.is_null() {
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
        let mut page = self.queues[class].first;
        while !page.is_null() {
            // SAFETY: queued pages are live pages owned by this heap.
            unsafe {
                let next = (*page).next;
                self.collect_only(page);
                if (*page).free.is_null() {
                    Page::extend(page);
                }
                if !(*page).free.is_null() {
                    self.refilled(page);
                    if self.queues[class].first != page {
                        self.queues[class].remove(page);
                        self.queues[class].push_front(page);
                        self.queue_changed(class);
                    }
                    return page;
                }
                self.queues[class].remove(page);
                // A full page has nothing pending (see `flush_page`).
                self.flush_page(page);
                self.enter_full(page);
                self.queue_changed(class);
                self.full.push_back(page);
                page = next;
            }
        }
        let page = self.rescan_full(class, FULL_RESCAN);
        if !page.is_null() {
            return page;
        }
        self.new_small_page(class)
    }

    /// Re-derives what follows from the ends of `class`'s queue after it
    /// changed: the fast path's direct entries of the class, `lone_mask`,
    /// and `FLAG_KEEP` (set on a page alone in its queue when the heap keeps
    /// lone pages, cleared on the ends of a longer queue; a page that leaves
    /// the queue clears it itself).
    pub(crate) fn queue_changed(&mut self, class: usize) {
        let q = self.queues[class];
        if !q.first.is_null() && q.first == q.last {
            self.lone_mask |= 1 << class;
        } else {
            self.lone_mask &= !(1 << class);
        }
        if !q.first.is_null() {
            // SAFETY: queued pages are live pages owned by this heap.
            unsafe {
                if q.first == q.last && self.config.purge_delay != 0 {
                    (*q.first).flags |= FLAG_KEEP;
                } else {
                    (*q.first).flags &= !FLAG_KEEP;
                    (*q.last).flags &= !FLAG_KEEP;
                }
            }
        }
        let size = class_size(class);
        if size > DIRECT_MAX {
            return;
        }
        let page = if q.first.is_null() {
            EMPTY_PAGE
        } else {
            q.first
        };
        // The requests of `8 * i` bytes that this class serves: those above
        // the previous class, and the zero-size request for the 16-byte class.
        let lo = if class == 0 {
            1
        } else {
            class_size(class - 1) / 8 + 1
        };
        for e in &mut self.direct[lo..=size / 8] {
            *e = page;
        }
        if class == CLASS_BY_WORDS[0] as usize {
            self.direct[0] = page;
        }
    }

    /// Collects remote and local frees of `page` onto its `free` list and
    /// folds its pending counts into the sink (see `flush_page`).
    ///
    /// # Safety
    /// `page` is a live page owned by this heap.
    pub(crate) unsafe fn collect_page(&mut self, page: *mut Page) {
        // SAFETY: forwarded from the caller.
        unsafe {
            self.collect_only(page);
            self.flush_page(page);
        }
    }

    /// The allocation slow path refilled `page` (collected or extended it):
    /// folds its counts in once it has handed out `STATS_FLUSH_ALLOCS`
    /// blocks since the last time, so that a page in steady use reaches the
    /// sink now and then without every refill paying for it.
    ///
    /// # Safety
    /// `page` is a live page owned by this heap.
    #[inline(always)]
    unsafe fn refilled(&mut self, page: *mut Page) {
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

    /// Collects remote and local frees of `page` onto its `free` list; the
    /// collected remote frees are counted freed at the page's next fold.
    ///
    /// # Safety
    /// `page` is a live page owned by this heap.
    #[inline(always)]
    unsafe fn collect_only(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller: the page is ours and in use.
        let n = unsafe {
            Page::collect(page, |_pg: *mut Page, _b: *mut Block| {
                #[cfg(feature = "checks")]
                // SAFETY: `collect` passes its own, live page.
                crate::check::validate_remote(&*_pg, _b);
            })
        };
        self.remote_collected += n as u64;
    }

    /// Folds the counts pending in `page` into the heap's sink: blocks
    /// handed out since the last fold (`stat_allocs`, counted by
    /// `take_block`), and blocks freed, which follow from those and the
    /// change of `used` since then (`stat_used`): the owner's frees and the
    /// remote frees it collected lower `used`, nothing else does. Then
    /// raises the peak to the live bytes known for certain: those of the
    /// full pages (which have nothing pending: every change to one is a slow
    /// path that folds it in) and of this page. Without `stats`, nothing.
    ///
    /// # Safety
    /// `page` is a live page owned by this heap.
    #[inline]
    pub(crate) unsafe fn flush_page(&mut self, page: *mut Page) {
        #[cfg(feature = "stats")]
        // SAFETY: guaranteed by the caller; written through the raw pointer
        // (see "Access" on `Page`).
        unsafe {
            let (allocs, used, base) = ((*page).stat_allocs, (*page).used, (*page).stat_used);
            if allocs == 0 && used == base {
                return;
            }
            let bs = (*page).block_size;
            // `used` and `stat_used` are at most `reserved`, so their
            // difference fits an `i32`.
            let net = used.wrapping_sub(base) as i32 as isize as usize;
            let frees = allocs.wrapping_sub(net);
            self.counters.on_blocks(
                allocs,
                frees,
                allocs.wrapping_mul(bs),
                frees.wrapping_mul(bs),
            );
            (*page).stat_allocs = 0;
            (*page).stat_used = used;
            let own = used as usize * bs;
            if (*page).flags & FLAG_IN_FULL != 0 {
                self.full_live = self.full_live - base as usize * bs + own;
                self.counters.note_live(self.full_live);
            } else {
                self.counters.note_live(self.full_live + own);
            }
        }
        #[cfg(not(feature = "stats"))]
        let _ = page;
    }

    /// Files `page` as full (see [`Page::enter_full`]); the caller moves it
    /// to the `full` queue.
    ///
    /// # Safety
    /// `page` is a live page owned by this heap, not in `full`.
    pub(crate) unsafe fn enter_full(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            Page::enter_full(page);
            #[cfg(feature = "stats")]
            {
                self.full_live += (*page).stat_used as usize * (*page).block_size;
            }
        }
    }

    /// Takes `page` out of the full state (see [`Page::leave_full`]); the
    /// caller takes it out of the `full` queue.
    ///
    /// # Safety
    /// `page` is a live page owned by this heap, filed full.
    pub(crate) unsafe fn leave_full(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            Page::leave_full(page);
            #[cfg(feature = "stats")]
            {
                self.full_live -= (*page).stat_used as usize * (*page).block_size;
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
            for q in 0..=CLASS_COUNT {
                let mut page = if q < CLASS_COUNT {
                    self.queues[q].first
                } else {
                    self.full.first
                };
                while !page.is_null() {
                    // SAFETY: queued and full pages are live pages owned by
                    // this heap.
                    unsafe {
                        self.flush_page(page);
                        live += (*page).used as usize * (*page).block_size;
                        page = (*page).next;
                    }
                }
            }
            self.counters.note_live(live);
        }
    }

    /// Checks up to `limit` full pages for remote frees; returns a page of
    /// `class` that has free blocks again, if one turns up.
    pub(crate) fn rescan_full(&mut self, class: usize, limit: usize) -> *mut Page {
        let mut found: *mut Page = ptr::null_mut();
        for _ in 0..limit {
            let page = self.full.first;
            if page.is_null() {
                break;
            }
            // SAFETY: pages in `full` are live pages owned by this heap.
            unsafe {
                self.full.remove(page);
                if !(*page).has_remote() {
                    self.full.push_back(page);
                    continue;
                }
                self.collect_page(page);
                if (*page).used == 0 {
                    self.leave_full(page);
                    self.free_any_page(page);
                } else if (*page).class < CLASS_LARGE && !(*page).free.is_null() {
                    self.leave_full(page);
                    (*page).flags |= FLAG_IN_QUEUE;
                    let c = (*page).class as usize;
                    if c == class && found.is_null() {
                        self.queues[c].push_front(page);
                        found = page;
                    } else {
                        self.queues[c].push_back(page);
                    }
                    self.queue_changed(c);
                } else {
                    self.full.push_back(page);
                }
            }
        }
        found
    }

    /// Makes a new page of `class` and puts it first in its queue.
    fn new_small_page(&mut self, class: usize) -> *mut Page {
        let n = self.geometry.class_slices[class] as usize;
        let Some((seg, idx, fresh)) = self.take_slices(n, 1) else {
            return ptr::null_mut();
        };
        let bs = class_size(class);
        // SAFETY: `take_slices` handed us slices `[idx, idx + n)` of `seg`,
        // committed, and their descriptors are ours.
        unsafe {
            let page = Segment::page(seg, idx);
            self.init_page(
                seg,
                page,
                idx,
                n,
                class as u8,
                bs,
                (n * self.geometry.slice_size / bs) as u32,
                fresh,
            );
            (*page).flags |= FLAG_IN_QUEUE;
            self.queues[class].push_front(page);
            self.queue_changed(class);
            self.pages_per_class[class] += 1;
            Page::extend(page);
            page
        }
    }

    /// Fills in the descriptor of a new page over slices `[idx, idx + n)`.
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
        class: u8,
        block_size: usize,
        reserved: u32,
        fresh: bool,
    ) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let p = &mut *page;
            p.free = ptr::null_mut();
            p.local_free = ptr::null_mut();
            p.used = 0;
            #[cfg(feature = "stats")]
            {
                p.stat_allocs = 0;
                p.stat_used = 0;
            }
            p.capacity = 0;
            p.reserved = reserved;
            p.class = class;
            p.flags = if fresh { crate::page::FLAG_FRESH } else { 0 };
            p.slice_count = n as u16;
            p.slice_offset = 0;
            p.block_size = block_size;
            p.start = Segment::slice_addr(seg, idx, self.geometry.slice_shift);
            p.key = (*seg).key;
            p.thread_free.store(0, Ordering::Relaxed);
            p.owner.store(self.id, Ordering::Relaxed);
            p.next = ptr::null_mut();
            p.prev = ptr::null_mut();
            Segment::link_interior(seg, idx, n);
        }
    }

    /// Takes `n` contiguous free slices whose index is a multiple of `step`,
    /// committing them; makes a new segment when none has room. Returns the
    /// segment, the first slice and whether the memory is known zero.
    pub(crate) fn take_slices(
        &mut self,
        n: usize,
        step: usize,
    ) -> Option<(*mut Segment, usize, bool)> {
        if let Some(found) = self.take_slices_in_segments(n, step) {
            return Some(found);
        }
        // Before growing, take back what other threads freed into full pages:
        // the bounded rescan on each slow path can lag behind them.
        if self.reclaim_full_pages() {
            if let Some(found) = self.take_slices_in_segments(n, step) {
                return Some(found);
            }
        }
        let mut seg = self.new_segment();
        if seg.is_null() {
            // Out of memory: free kept empty pages, purge and release the
            // cache, then look again before giving up.
            if !self.relieve_memory_pressure() {
                return None;
            }
            if let Some(found) = self.take_slices_in_segments(n, step) {
                return Some(found);
            }
            seg = self.new_segment();
            if seg.is_null() {
                return None;
            }
        }
        // SAFETY: a new segment is live and ours.
        let starts = run_starts(unsafe { (*seg).free_mask }, n, step);
        if starts == 0 {
            return None;
        }
        let idx = starts.trailing_zeros() as usize;
        self.claim_slices(seg, idx, n)
            .map(|fresh| (seg, idx, fresh))
    }

    /// Takes `n` free slices (index a multiple of `step`) from an existing
    /// segment, if one has room: with `committed_first`, a run that is
    /// already committed wherever one is (the segments in use, then the
    /// cached ones), before the first run of any kind.
    fn take_slices_in_segments(
        &mut self,
        n: usize,
        step: usize,
    ) -> Option<(*mut Segment, usize, bool)> {
        if self.config.committed_first {
            // SAFETY: a segment's masks are read through its raw pointer.
            let committed = |seg: *mut Segment| unsafe { (*seg).committed_mask };
            if let Some((seg, idx)) = self.find_run(n, step, committed) {
                return self
                    .claim_slices(seg, idx, n)
                    .map(|fresh| (seg, idx, fresh));
            }
            let seg = self.cache_take_committed_run(n, step);
            if !seg.is_null() {
                // SAFETY: the segment came out of the cache and is ours.
                let starts =
                    run_starts(unsafe { (*seg).free_mask & (*seg).committed_mask }, n, step);
                let idx = starts.trailing_zeros() as usize;
                return self
                    .claim_slices(seg, idx, n)
                    .map(|fresh| (seg, idx, fresh));
            }
        }
        let (seg, idx) = self.find_run(n, step, |_| u64::MAX)?;
        self.claim_slices(seg, idx, n)
            .map(|fresh| (seg, idx, fresh))
    }

    /// The first segment in use with `n` free slices (index a multiple of
    /// `step`) among those `within` allows, and the first such run.
    fn find_run(
        &self,
        n: usize,
        step: usize,
        within: impl Fn(*mut Segment) -> u64,
    ) -> Option<(*mut Segment, usize)> {
        let mut seg = self.segments.first;
        while !seg.is_null() {
            // SAFETY: segments in the list are live and ours.
            unsafe {
                let free = (*seg).free_mask;
                if free == 0 {
                    break; // full segments sit at the back
                }
                let starts = run_starts(free & within(seg), n, step);
                if starts != 0 {
                    return Some((seg, starts.trailing_zeros() as usize));
                }
                seg = (*seg).next;
            }
        }
        None
    }

    /// Marks slices `[idx, idx + n)` used and commits them.
    pub(crate) fn claim_slices(&mut self, seg: *mut Segment, idx: usize, n: usize) -> Option<bool> {
        let range = range_bits(idx, n);
        // SAFETY: `seg` is live and ours; the range is free.
        unsafe {
            let missing = range & !(*seg).committed_mask;
            if missing != 0 && !self.commit_slices(seg, missing) {
                // Retry once after giving back what waits for its purge delay
                // (which may decommit more of the range).
                if !self.relieve_memory_pressure()
                    || !self.commit_slices(seg, range & !(*seg).committed_mask)
                {
                    return None;
                }
            }
            // Through the raw pointer: other threads read the header's
            // fixed fields meanwhile (see "Access" on `Segment`).
            let fresh = (*seg).zero_mask & range == range;
            (*seg).zero_mask &= !range;
            (*seg).free_mask &= !range;
            if (*seg).free_mask == 0 && self.segments.last != seg {
                self.segments.remove(seg);
                self.segments.push_back(seg);
            }
            Some(fresh)
        }
    }

    /// Commits the runs of slices in `mask` (all uncommitted), recording each
    /// run that succeeds; false when the `Os` refuses one.
    fn commit_slices(&mut self, seg: *mut Segment, mask: u64) -> bool {
        let g = self.geometry;
        let mut left = mask;
        while left != 0 {
            let first = left.trailing_zeros() as usize;
            let run = (!(left >> first)).trailing_zeros() as usize;
            let bits = range_bits(first, run);
            left &= !bits;
            let addr = Segment::slice_addr(seg, first, g.slice_shift);
            // SAFETY: the run lies inside the segment's reservation.
            if unsafe { !self.os.commit(addr, run << g.slice_shift) } {
                return false;
            }
            // SAFETY: `seg` is live and ours; written through the raw
            // pointer (see "Access" on `Segment`).
            unsafe { (*seg).committed_mask |= bits };
            self.committed_bytes += run << g.slice_shift;
            if self.os.fresh_memory_is_zeroed() {
                // SAFETY: as above.
                unsafe { (*seg).zero_mask |= bits };
            }
        }
        true
    }

    /// A new normal segment (from the cache or the `Os`), first in the list.
    fn new_segment(&mut self) -> *mut Segment {
        self.ensure_id();
        let g = self.geometry;
        let mut seg = self.cache_take_normal();
        if seg.is_null() {
            let mut base = self.os.reserve(g.segment_size, g.segment_size);
            if base.is_null() && self.release_cache() {
                base = self.os.reserve(g.segment_size, g.segment_size);
            }
            if base.is_null() {
                return ptr::null_mut();
            }
            let header = g.header_slices << g.slice_shift;
            // SAFETY: `base` is a fresh reservation of `segment_size` bytes.
            if !self.commit_or_relieve(base, header) {
                // SAFETY: giving back the reservation just made.
                unsafe { self.os.release(base, g.segment_size, g.segment_size) };
                return ptr::null_mut();
            }
            seg = base as *mut Segment;
            let key = self.new_key(base as usize);
            // SAFETY: the header is committed and ours.
            unsafe {
                ptr::write(
                    seg,
                    Segment {
                        cookie: Segment::cookie_for(seg as usize),
                        slice_shift: g.slice_shift,
                        slice_count: g.slice_count as u32,
                        kind: KIND_NORMAL,
                        in_purge_queue: false,
                        cached: false,
                        header_slices: g.header_slices as u8,
                        reservation: base,
                        reserved_size: g.segment_size,
                        reserved_align: g.segment_size,
                        free_mask: low_bits(g.slice_count) & !low_bits(g.header_slices),
                        committed_mask: low_bits(g.header_slices),
                        zero_mask: 0,
                        committed_bytes: 0,
                        key,
                        dirtied_at: 0,
                        next: ptr::null_mut(),
                        prev: ptr::null_mut(),
                        purge_next: ptr::null_mut(),
                        purge_prev: ptr::null_mut(),
                    },
                );
                Segment::reset_pages(seg, g.slice_count);
            }
            debug_assert!(header_bytes(g.slice_count) <= header);
            self.reserved_bytes += g.segment_size;
            self.committed_bytes += header;
        }
        // SAFETY: `seg` is live and in no list.
        unsafe { self.segments.push_front(seg) };
        seg
    }

    /// Gives the heap its process-unique id on first use.
    #[inline]
    pub(crate) fn ensure_id(&mut self) {
        if self.id == 0 {
            self.id = NEXT_HEAP_ID.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A non-zero free-list key for a new segment.
    pub(crate) fn new_key(&self, addr: usize) -> usize {
        // splitmix64 of the seed, the address and the epoch.
        let mut z = self
            .config
            .seed
            .wrapping_add(addr as u64)
            .wrapping_add(self.epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z as usize) | 1
    }

    /// Frees `ptr`, allocated by this heap (or another heap over the same
    /// memory) with `layout`.
    ///
    /// # Safety
    /// `ptr` was returned by `alloc`, `alloc_zeroed` or `realloc` of a heap
    /// whose segments are still live, with this `layout` (or the size last
    /// passed to `realloc`), and is not used afterwards.
    #[inline]
    pub unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `&mut self`: this thread owns the heap; the heap's own
        // sink; the caller vouches for `ptr` and `layout`.
        if unsafe { !self.dealloc_fast(ptr, layout, &self.counters) } {
            // SAFETY: as above; `dealloc_fast` validated the block.
            unsafe { self.dealloc_rest(ptr) }
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
    /// out of line (the `masu` crate's global allocator). `counters` stands
    /// for the heap's own [`CounterSink`]; this path no longer touches it
    /// (the free shows in the page's `used`, see [`Heap::stats`]), and it
    /// is kept so that callers need not change.
    ///
    /// # Safety
    /// * As for [`Heap::dealloc`] (`ptr`, `layout`).
    /// * The caller owns the heap: no other thread uses it meanwhile, as
    ///   with `&mut self`. A heap that has never allocated is the exception:
    ///   it owns no page, so this call only reads and returns false, and any
    ///   number of threads may make it at once.
    /// * `counters` counts into the same place as the heap's own sink (the
    ///   one it was made with); otherwise the counts are split.
    #[inline(always)]
    pub unsafe fn dealloc_fast(
        &self,
        ptr: *mut u8,
        layout: Layout,
        counters: &impl CounterSink,
    ) -> bool {
        let seg = Segment::of(ptr, self.segment_base_mask());
        #[cfg(feature = "checks")]
        self.check_live(seg, ptr, layout);
        #[cfg(not(feature = "checks"))]
        let _ = layout;
        let _ = counters;
        // SAFETY: the caller guarantees `ptr` is a live block, so its segment
        // header and page descriptor are live; an owned page is the caller's.
        unsafe {
            let page = Segment::page_of(seg, ptr);
            // Not this heap's, or in the full queue (`OWNER_SLOW`: a full
            // small page, or a large or huge one). Read through the raw
            // pointer: until the owner check passes, the page may be another
            // heap's, whose owner is writing its fields.
            if Page::owner_word_of(page) != self.id {
                return false;
            }
            // Ours: written through the raw pointer (see "Access" on
            // `Page`). The count first, so that its flags decide: a page
            // that goes empty needs the slow path unless it is kept (then
            // `used` is put back and nothing else has changed).
            let used = (*page).used - 1;
            if used == 0 {
                if (*page).flags & FLAG_KEEP == 0 {
                    return false;
                }
                // The only page of its class went empty (a block allocated
                // and freed in a loop): keep it. This is no slow-path event:
                // the epoch tick stamps the page and frees it once it has
                // stayed empty for the purge delay.
                (*page).retired_at = RETIRED_UNSTAMPED;
            }
            (*page).used = used;
            #[cfg(feature = "checks")]
            crate::check::tag_freed(page, ptr);
            Page::push_local(page, ptr as *mut Block);
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
    pub unsafe fn dealloc_slow(&mut self, ptr: *mut u8, layout: Layout) {
        let _ = layout;
        // SAFETY: forwarded from the caller.
        unsafe { self.dealloc_rest(ptr) }
    }

    /// See [`Heap::dealloc_slow`] (the layout is not needed).
    #[inline(never)]
    unsafe fn dealloc_rest(&mut self, ptr: *mut u8) {
        let seg = Segment::of(ptr, self.segment_base_mask());
        // SAFETY: the caller guarantees `ptr` is a live block, so its segment
        // header and page descriptor are live.
        unsafe {
            let page = Segment::page_of(seg, ptr);
            #[cfg(feature = "checks")]
            crate::check::tag_freed(page, ptr);
            if Page::owner_id_of(page) != self.id {
                // Another heap's block: onto the page's `thread_free`, through
                // the raw pointer (the owner may be writing the page), in a
                // batch of frees to that page (`remote_buffer.rs`).
                self.remote
                    .free(page, ptr as *mut Block, self.config.remote_batch);
                return;
            }
            // Ours: written through the raw pointer (see "Access" on `Page`).
            Page::push_local(page, ptr as *mut Block);
            (*page).used -= 1;
            let (used, flags) = ((*page).used, (*page).flags);
            // After `dealloc_fast` said no, the page went empty (and is not
            // kept) or was full; anything else needs nothing more.
            if (used == 0 && flags & FLAG_KEEP == 0) || flags & FLAG_IN_FULL != 0 {
                self.free_slow(page);
            } else if used == 0 {
                (*page).retired_at = RETIRED_UNSTAMPED;
            }
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
            if (*page).used == 0 {
                if (*page).flags & FLAG_IN_FULL != 0 {
                    self.full.remove(page);
                    self.leave_full(page);
                }
                self.free_any_page(page);
            } else {
                // A full small page got a block back: queue it again.
                self.full.remove(page);
                self.leave_full(page);
                (*page).flags |= FLAG_IN_QUEUE;
                let class = (*page).class as usize;
                self.queues[class].push_back(page);
                self.queue_changed(class);
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
                CLASS_HUGE => self.free_huge_page(page),
                CLASS_LARGE => {
                    self.large_spans -= 1;
                    self.release_page_slices(page);
                }
                c => {
                    if (*page).flags & FLAG_IN_QUEUE != 0 {
                        self.queues[c as usize].remove(page);
                        self.queue_changed(c as usize);
                    }
                    self.pages_per_class[c as usize] -= 1;
                    self.release_page_slices(page);
                }
            }
        }
    }

    /// Usable bytes of the block at `ptr` (at least the requested size).
    ///
    /// # Safety
    /// `ptr` is a live block of a heap over the same memory.
    pub unsafe fn usable_size(&self, ptr: *const u8) -> usize {
        // SAFETY: guaranteed by the caller.
        unsafe {
            // Field reads through the raw pointer: the block may be another
            // heap's, whose owner may be writing the page's other fields.
            let page = Segment::page_of(Segment::of(ptr, self.segment_base_mask()), ptr);
            if (*page).class >= CLASS_LARGE {
                (*page).block_size - (ptr as usize - (*page).start as usize)
            } else {
                (*page).block_size
            }
        }
    }

    /// Resizes the block at `ptr` to `new_size` bytes, in place when the class
    /// does not change or a large span can grow or shrink where it is; else
    /// moves it. Returns null (leaving the block untouched) when out of memory.
    ///
    /// # Safety
    /// As for [`Heap::dealloc`]; `new_size` rounded up to `layout.align()`
    /// does not overflow `isize`.
    pub unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let seg = Segment::of(ptr, self.segment_base_mask());
        #[cfg(feature = "checks")]
        self.check_live(seg, ptr, layout);
        let align = layout.align();
        // A size that cannot form a `Layout` fails here, before any rounding
        // could wrap around and pass for a small size.
        let Ok(new_layout) = Layout::from_size_align(new_size, align) else {
            return ptr::null_mut();
        };
        // SAFETY: `ptr` is a live block, so its page is live.
        let page = unsafe { Segment::page_of(seg, ptr) };
        // SAFETY: as above.
        let (owned, class) = unsafe { (Page::owner_id_of(page) == self.id, (*page).class) };
        if owned {
            let rounded = (new_size.max(MIN_BLOCK) + align - 1) & !(align - 1);
            let small =
                rounded <= self.geometry.max_small_size && align <= self.geometry.slice_size;
            if class < CLASS_LARGE {
                if small && class_of(rounded) == class as usize {
                    return ptr;
                }
            } else if !small {
                // SAFETY: the page is a live large or huge page of ours.
                if unsafe { self.resize_in_place(seg, page, new_size) } {
                    return ptr;
                }
                // SAFETY: as above; the block is the caller's alone.
                let moved = unsafe { self.remap_huge(seg, page, new_size) };
                if !moved.is_null() {
                    return moved;
                }
            }
        }
        let new = self.alloc(new_layout);
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct; the old one holds at
            // least `layout.size()` bytes and the new one `new_size`.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
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
            let mut full_live = 0usize;
            for q in 0..=CLASS_COUNT {
                let mut page = if q < CLASS_COUNT {
                    self.queues[q].first
                } else {
                    self.full.first
                };
                while !page.is_null() {
                    // SAFETY: queued and full pages are live pages owned by
                    // this heap; read through the raw pointer (see "Access"
                    // on `Page`).
                    unsafe {
                        let a = (*page).stat_allocs;
                        let net = (*page).used.wrapping_sub((*page).stat_used) as i32 as isize;
                        let bs = (*page).block_size;
                        if q == CLASS_COUNT {
                            // Full pages have nothing pending (see `flush_page`).
                            debug_assert!(a == 0 && net == 0, "pending counts in a full page");
                            full_live += (*page).stat_used as usize * bs;
                        }
                        allocs = allocs.wrapping_add(a);
                        frees = frees.wrapping_add(a.wrapping_sub(net as usize));
                        live = live.wrapping_add((net * bs as isize) as usize);
                        page = (*page).next;
                    }
                }
            }
            debug_assert_eq!(full_live, self.full_live, "full pages' bytes");
            self.counters.note_live(live);
        }
        Stats {
            live_bytes: live,
            peak_live_bytes: counts.peak_live_bytes.max(live),
            alloc_count: allocs as u64,
            free_count: frees as u64,
            committed_bytes: self.committed_bytes,
            reserved_bytes: self.reserved_bytes,
            decommitted_bytes: self.decommitted_bytes,
            segments: self.segments.len + self.huge.len,
            cached_segments: self.cache.len,
            remote_frees_collected: self.remote_collected,
            pages_per_class: self.pages_per_class,
            large_spans: self.large_spans,
            huge_allocs: self.huge_allocs,
            purges: self.purges,
            remaps: self.remaps,
        }
    }
}

impl<O: Os, C: CounterSink> Drop for Heap<O, C> {
    fn drop(&mut self) {
        self.remote.flush();
        self.release_everything();
    }
}
