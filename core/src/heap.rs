//! [`Heap`]: one owner's allocator over an [`Os`].
//!
//! Fast paths (`alloc` of a class with a ready block, `dealloc` by the owner)
//! touch only the heap's queue head and the page; they never call the `Os` and
//! never take a lock. Everything else is a slow path that also counts the
//! epoch and does a bounded amount of release work (see `release.rs`).

use crate::config::{header_bytes, Config, Geometry};
use crate::os::Os;
use crate::page::{
    Block, Page, PageQueue, CLASS_HUGE, CLASS_LARGE, FLAG_FREE_IS_ZERO, FLAG_IN_FULL, FLAG_IN_QUEUE,
};
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

/// The flags of a page that `dealloc` may keep when it empties: queued (so a
/// small page) and not in `full`.
const KEEPABLE_MASK: u8 = FLAG_IN_QUEUE | FLAG_IN_FULL;

/// Full pages checked for remote frees per slow-path event.
const FULL_RESCAN: usize = 4;

// Not part of a concurrent protocol: a monotonic id generator (see `sync`).
static NEXT_HEAP_ID: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(1);

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
    /// Pages with (possibly) free blocks, per class; the fast path uses `first`.
    pub(crate) queues: [PageQueue; CLASS_COUNT],
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
    /// Allocation and free counts (see [`CounterSink`]).
    pub(crate) counters: C,
    pub(crate) committed_bytes: usize,
    pub(crate) reserved_bytes: usize,
    pub(crate) decommitted_bytes: u64,
    pub(crate) purges: u64,
    pub(crate) remote_collected: u64,
    pub(crate) pages_per_class: [u32; CLASS_COUNT],
    pub(crate) large_spans: usize,
    pub(crate) huge_allocs: usize,
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
            queues: [PageQueue::EMPTY; CLASS_COUNT],
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
            committed_bytes: 0,
            reserved_bytes: 0,
            decommitted_bytes: 0,
            purges: 0,
            remote_collected: 0,
            pages_per_class: [0; CLASS_COUNT],
            large_spans: 0,
            huge_allocs: 0,
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
        let size_or_min = if MIN_BLOCK > 1 {
            size.max(MIN_BLOCK)
        } else {
            size
        };
        if size_or_min <= self.direct_max && align <= 16 {
            // The common case: one table load, no geometry checks (every
            // class up to `direct_max` rounded to 16 is a size class here).
            let rounded = (size_or_min + align - 1) & !(align - 1);
            // SAFETY: `direct_max <= DIRECT_MAX` is a multiple of 16 and
            // `align <= 16`, so `rounded <= DIRECT_MAX` and the index is in
            // the table.
            let class = unsafe { *CLASS_BY_WORDS.get_unchecked(rounded.div_ceil(8)) } as usize;
            return self.alloc_small(class, if zero { size } else { 0 });
        }
        // `Layout` guarantees `size + align - 1` does not overflow. A zero
        // size counts as 1 so that it rounds up to a whole aligned block.
        let rounded = (size_or_min.max(1) + align - 1) & !(align - 1);
        if rounded <= self.geometry.max_small_size && align <= self.geometry.slice_size {
            self.alloc_small(class_of(rounded), if zero { size } else { 0 })
        } else {
            self.alloc_large(size, align, zero)
        }
    }

    /// Takes a block of `class`, zeroing `zero_len` bytes of it.
    #[inline(always)]
    fn alloc_small(&mut self, class: usize, zero_len: usize) -> *mut u8 {
        debug_assert!(class < CLASS_COUNT);
        // SAFETY: callers pass a class from `class_of` or `CLASS_BY_WORDS` of
        // a size within the classes, so `class < CLASS_COUNT`.
        let page = unsafe { self.queues.get_unchecked(class).first };
        // SAFETY: queued pages are live pages owned by this heap.
        if !page.is_null() && unsafe { !(*page).free.is_null() } {
            // SAFETY: as above, and its `free` list is non-empty.
            return unsafe { self.take_block(page, zero_len) };
        }
        self.alloc_small_slow(class, zero_len)
    }

    /// Pops the first block of `page.free`.
    ///
    /// # Safety
    /// `page` is owned by this heap and its `free` list is non-empty.
    #[inline(always)]
    unsafe fn take_block(&mut self, page: *mut Page, zero_len: usize) -> *mut u8 {
        // SAFETY: guaranteed by the caller.
        let p = unsafe { &mut *page };
        let block = p.free;
        // SAFETY: blocks on `free` are free blocks of this page.
        let next = p.decode(unsafe { (*block).next });
        #[cfg(feature = "checks")]
        crate::check::validate_link(p, block, next);
        p.free = next;
        p.used += 1;
        self.counters.on_alloc(p.block_size);
        #[cfg(feature = "checks")]
        crate::check::clear_freed_tag(p, block as *mut u8);
        if zero_len != 0 {
            if p.flags & FLAG_FREE_IS_ZERO != 0 {
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
        unsafe { self.take_block(page, zero_len) }
    }

    /// Finds or makes a page of `class` with a free block and puts it first in
    /// its queue; null when out of memory.
    fn find_page(&mut self, class: usize) -> *mut Page {
        self.on_slow_event();
        let mut page = self.queues[class].first;
        while !page.is_null() {
            // SAFETY: queued pages are live pages owned by this heap.
            unsafe {
                let next = (*page).next;
                self.collect_page(page);
                if (*page).free.is_null() {
                    (*page).extend();
                }
                if !(*page).free.is_null() {
                    if self.queues[class].first != page {
                        self.queues[class].remove(page);
                        self.queues[class].push_front(page);
                    }
                    return page;
                }
                self.queues[class].remove(page);
                (*page).flags = ((*page).flags & !FLAG_IN_QUEUE) | FLAG_IN_FULL;
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

    /// Collects remote and local frees of `page` onto its `free` list.
    ///
    /// # Safety
    /// `page` is a live page owned by this heap.
    pub(crate) unsafe fn collect_page(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller.
        let p = unsafe { &mut *page };
        // SAFETY: the page is ours and in use.
        let n = unsafe {
            p.collect(|_pg: &Page, _b: *mut Block| {
                #[cfg(feature = "checks")]
                crate::check::validate_remote(_pg, _b);
            })
        };
        if n != 0 {
            self.counters.on_free(n as usize, n as usize * p.block_size);
            self.remote_collected += n as u64;
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
                let p = &mut *page;
                if p.used == 0 {
                    p.flags &= !FLAG_IN_FULL;
                    self.free_any_page(page);
                } else if p.class < CLASS_LARGE && !p.free.is_null() {
                    p.flags = (p.flags & !FLAG_IN_FULL) | FLAG_IN_QUEUE;
                    let c = p.class as usize;
                    if c == class && found.is_null() {
                        self.queues[c].push_front(page);
                        found = page;
                    } else {
                        self.queues[c].push_back(page);
                    }
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
            self.pages_per_class[class] += 1;
            (*page).extend();
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
    /// segment, if one has room.
    fn take_slices_in_segments(
        &mut self,
        n: usize,
        step: usize,
    ) -> Option<(*mut Segment, usize, bool)> {
        let mut seg = self.segments.first;
        while !seg.is_null() {
            // SAFETY: segments in the list are live and ours.
            unsafe {
                let free = (*seg).free_mask;
                if free == 0 {
                    break; // full segments sit at the back
                }
                let starts = run_starts(free, n, step);
                if starts != 0 {
                    let idx = starts.trailing_zeros() as usize;
                    return self
                        .claim_slices(seg, idx, n)
                        .map(|fresh| (seg, idx, fresh));
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
            let s = &mut *seg;
            let fresh = s.zero_mask & range == range;
            s.zero_mask &= !range;
            s.free_mask &= !range;
            if s.free_mask == 0 && self.segments.last != seg {
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
            // SAFETY: `seg` is live and ours.
            let s = unsafe { &mut *seg };
            s.committed_mask |= bits;
            self.committed_bytes += run << g.slice_shift;
            if self.os.fresh_memory_is_zeroed() {
                s.zero_mask |= bits;
            }
        }
        true
    }

    /// A new normal segment (from the cache or the `Os`), first in the list.
    fn new_segment(&mut self) -> *mut Segment {
        self.ensure_id();
        let g = self.geometry;
        let mut seg = self.cache_take(KIND_NORMAL, g.segment_size, g.segment_size);
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
        let seg = Segment::of(ptr, self.segment_base_mask());
        #[cfg(feature = "checks")]
        self.check_free(seg, ptr, layout);
        #[cfg(not(feature = "checks"))]
        let _ = layout;
        // SAFETY: the caller guarantees `ptr` is a live block, so its segment
        // header and page descriptor are live.
        unsafe {
            let page = Segment::page_of(seg, ptr);
            let p = &mut *page;
            if p.owner.load(Ordering::Relaxed) == self.id {
                p.push_local(ptr as *mut Block);
                p.used -= 1;
                self.counters.on_free(1, p.block_size);
                if p.used == 0 || p.flags & FLAG_IN_FULL != 0 {
                    // Fast exit for the only page of its class going empty
                    // (a block allocated and freed in a loop): keep it.
                    if p.used == 0
                        && p.next.is_null()
                        && p.prev.is_null()
                        && p.flags & KEEPABLE_MASK == FLAG_IN_QUEUE
                        && self.config.purge_delay != 0
                    {
                        p.retired_at = RETIRED_UNSTAMPED;
                        return;
                    }
                    self.free_slow(page);
                }
            } else {
                p.push_remote(ptr as *mut Block);
            }
        }
    }

    /// The owner's slow free: a page became empty or left the full queue.
    #[cold]
    #[inline(never)]
    unsafe fn free_slow(&mut self, page: *mut Page) {
        // SAFETY: the caller passes a live page of this heap.
        unsafe {
            let p = &mut *page;
            if p.used == 0 && p.flags & FLAG_IN_FULL == 0 && p.class < CLASS_LARGE {
                // Keep the only page of a class, to avoid thrashing when a
                // program allocates and frees one block in a loop. This is no
                // slow-path event: the epoch tick stamps the page and frees it
                // once it has stayed empty for the purge delay.
                let q = &self.queues[p.class as usize];
                if q.first == page && q.last == page && self.config.purge_delay != 0 {
                    p.retired_at = RETIRED_UNSTAMPED;
                    return;
                }
            }
            self.settle_page(page);
        }
        // The epoch's release work comes after the page is settled.
        self.on_slow_event();
    }

    /// Re-files a page after a free left it empty or took it out of `full`.
    ///
    /// # Safety
    /// `page` is a live page of this heap.
    unsafe fn settle_page(&mut self, page: *mut Page) {
        // SAFETY: the caller passes a live page of this heap.
        unsafe {
            let p = &mut *page;
            if p.used == 0 {
                if p.flags & FLAG_IN_FULL != 0 {
                    self.full.remove(page);
                    p.flags &= !FLAG_IN_FULL;
                }
                self.free_any_page(page);
            } else {
                // A full small page got a block back: queue it again.
                self.full.remove(page);
                p.flags = (p.flags & !FLAG_IN_FULL) | FLAG_IN_QUEUE;
                self.queues[p.class as usize].push_back(page);
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
            match (*page).class {
                CLASS_HUGE => self.free_huge_page(page),
                CLASS_LARGE => {
                    self.large_spans -= 1;
                    self.release_page_slices(page);
                }
                c => {
                    if (*page).flags & FLAG_IN_QUEUE != 0 {
                        self.queues[c as usize].remove(page);
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
            let page = Segment::page_of(Segment::of(ptr, self.segment_base_mask()), ptr);
            let p = &*page;
            if p.class >= CLASS_LARGE {
                p.block_size - (ptr as usize - p.start as usize)
            } else {
                p.block_size
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
        let (owned, class) = unsafe {
            (
                (*page).owner.load(Ordering::Relaxed) == self.id,
                (*page).class,
            )
        };
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

    /// A snapshot of this heap's counters.
    pub fn stats(&self) -> Stats {
        let counts = self.counters.read();
        Stats {
            live_bytes: counts.live_bytes,
            peak_live_bytes: counts.peak_live_bytes,
            alloc_count: counts.alloc_count as u64,
            free_count: counts.free_count as u64,
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
        }
    }
}

impl<O: Os, C: CounterSink> Drop for Heap<O, C> {
    fn drop(&mut self) {
        self.release_everything();
    }
}
