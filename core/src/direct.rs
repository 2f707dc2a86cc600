//! Direct blocks: requests a heap hands to its `Os`'s own block allocator
//! instead of carving them out of segments (see [`Os::DIRECT_BLOCKS`]; a
//! [`FixedRegion`](crate::FixedRegion) serves them from its TLSF).
//!
//! * **Which requests.** Those of more than
//!   [`Config::direct_above`](crate::Config::direct_above) bytes, and any
//!   request that segments cannot serve any more (no segment fits in the
//!   region): then the region's last bytes still serve blocks, packed to 8
//!   bytes. The other way round, with [`Config::direct_spill`] a request
//!   above `direct_above` that the region cannot serve any more takes the
//!   free slices of the heap's segments (a class block or a large span).
//!
//!   [`Config::direct_spill`]: crate::Config::direct_spill
//! * **Which blocks are direct.** `Os::is_direct` tells, from the block's
//!   address, without a lock (the region's span map): the free fast path
//!   asks it first and leaves direct blocks to the slow path.
//! * **Ownership.** A direct block belongs to the region, not to a heap:
//!   any heap over the region frees it at once, under the region's lock, and
//!   counts the free in its own statistics (`Stats::direct_blocks`).
//!   Dropping a heap leaves its direct blocks live. [`Heap::reset`] frees
//!   every direct block when the heap owns its region (by value); over a
//!   shared `&FixedRegion` it panics while its heap has live ones.
//!
//! With the `checks` or `secure` features no block is direct: their checks
//! read every block's page in its segment.

use crate::direct_cache::CACHE_MAX;
use crate::heap::Heap;
use crate::os::Os;
use crate::stats::CounterSink;
use core::alloc::Layout;
use core::ptr;

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// True when this heap hands requests to direct blocks (a constant:
    /// false compiles every direct-block path away).
    pub(crate) const DIRECT: bool =
        O::DIRECT_BLOCKS && !cfg!(any(feature = "checks", feature = "secure"));

    /// True when the live block `ptr` of this heap (or of another over the
    /// same `Os`) is a direct block.
    ///
    /// # Safety
    /// `ptr` is a live block of a heap over this heap's `Os`.
    #[inline(always)]
    pub(crate) unsafe fn is_direct(&self, ptr: *const u8) -> bool {
        // SAFETY: forwarded from the caller.
        Self::DIRECT && unsafe { self.store.os().is_direct(ptr) }
    }

    /// A direct block of `size` bytes aligned to `align`, zeroed if `zero`;
    /// null when out of memory. From the heap's cache when it holds a block
    /// of that usable size (see `direct_cache.rs`), else from the `Os`.
    #[inline]
    pub(crate) fn alloc_direct(&mut self, size: usize, align: usize, zero: bool) -> *mut u8 {
        if let (true, Some(usable)) = (align <= crate::tlsf::ALIGN, crate::tlsf::usable_for(size)) {
            let p = self.direct_cache.take(usable);
            if !p.is_null() {
                // SAFETY: a cached block of `usable >= size` bytes, ours.
                unsafe { self.hand_out_direct(p, size, usable, zero) };
                return p;
            }
        }
        self.alloc_direct_from_os(size, align, zero)
    }

    /// [`Heap::alloc_direct`] from the `Os`: when it has nothing, the cache
    /// and the empty pages and cached segments go back to it, then it is
    /// asked again. Not cold: every request above the cache's largest size
    /// comes here.
    #[inline(never)]
    fn alloc_direct_from_os(&mut self, size: usize, align: usize, zero: bool) -> *mut u8 {
        let mut p = self.store.os_mut().direct_alloc(size, align);
        if p.is_null() {
            p = self.alloc_direct_again(size, align);
            if p.is_null() {
                return p;
            }
        }
        // SAFETY: `p` is a live direct block of this `Os`, ours alone.
        unsafe {
            let usable = self.store.os().direct_size(p);
            self.direct_cache.note_miss(usable);
            self.hand_out_direct(p, size, usable, zero);
        }
        p
    }

    /// [`Heap::alloc_direct_from_os`] once the `Os` had nothing: the cache
    /// and the empty pages and cached segments go back to it, and it is
    /// asked again (null when that frees nothing or still does not serve).
    /// Out of line and cold, so that the allocation's own path is laid out
    /// and scheduled for its common case (callgrind, `fixed_region`'s
    /// throughput loop: 0.3–0.5 fewer instructions per operation at
    /// 1000–10,000 B; docs/results/fixed-region-s32/).
    #[cold]
    #[inline(never)]
    fn alloc_direct_again(&mut self, size: usize, align: usize) -> *mut u8 {
        let cached = !self.direct_cache.is_empty();
        self.flush_direct_cache();
        if !self.relieve_memory_pressure() && !cached {
            return ptr::null_mut();
        }
        self.store.os_mut().direct_alloc(size, align)
    }

    /// Counts direct block `p` of `usable` bytes as handed out, zeroing its
    /// first `size` bytes if `zero`.
    ///
    /// # Safety
    /// `p` is a direct block of at least `size` bytes, ours alone.
    #[inline(always)]
    unsafe fn hand_out_direct(&mut self, p: *mut u8, size: usize, usable: usize, zero: bool) {
        if zero {
            // SAFETY: guaranteed by the caller.
            unsafe { ptr::write_bytes(p, 0, size) };
        }
        // No peak noted here: the sink's live bytes may still miss frees
        // that pages hold (see `CounterSink`); `stats()` notes the exact one.
        self.counters.on_alloc(usable);
        self.counts.direct(true, usable);
    }

    /// Frees the direct block `ptr`: into the heap's cache when it is small
    /// and the cache has room, else to the `Os`; with
    /// [`Config::direct_cache_packs`](crate::Config::direct_cache_packs), to
    /// the `Os` also when it says the free packs its memory better (a block
    /// next to free memory in a region short of it), and then the whole
    /// cache with it (see [`Heap::free_direct_to_os`]).
    ///
    /// # Safety
    /// `ptr` is a live direct block of this heap's `Os`, not used afterwards.
    #[inline(never)]
    pub(crate) unsafe fn free_direct(&mut self, ptr: *mut u8) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.free_direct_inline(ptr) }
    }

    /// [`Heap::free_direct`] with the cache's push inlined into the caller
    /// (the reallocs, which free a direct block as often as the program
    /// does; in `free`, out of line, it would weigh on the size classes'
    /// path: callgrind, `FIXED_REGION` at 200 B, +1.2 % instructions); the
    /// `Os`'s free stays out of line.
    ///
    /// # Safety
    /// As for [`Heap::free_direct`].
    #[inline(always)]
    unsafe fn free_direct_inline(&mut self, ptr: *mut u8) {
        // SAFETY: guaranteed by the caller.
        let usable = unsafe { self.store.os().direct_size(ptr) };
        let packs = |heap: &mut Self| {
            // SAFETY: as above: the block is live until freed below.
            heap.config.direct_cache_packs && unsafe { heap.store.os_mut().direct_free_packs(ptr) }
        };
        if self.direct_cache.has_room(usable) && !packs(self) {
            // SAFETY: as above: the block is no longer used, and it fits.
            unsafe { self.direct_cache.put(ptr, usable) };
            self.count_direct_free(usable);
        } else if self.direct_cache.large_size(usable)
            // SAFETY: as above: the block is no longer used.
            && unsafe { self.put_large_now(ptr, usable) }
        {
            self.count_direct_free(usable);
        } else {
            // SAFETY: as above.
            unsafe { self.free_direct_uncached(ptr, usable) };
        }
    }

    /// Caches the freed direct block `ptr` in the large lists when they
    /// exist, pay, have room for it and the region is roomy; false, changing
    /// nothing, otherwise, and [`Heap::free_direct_uncached`] sees to the
    /// rest (making the lists, or giving the cache back). Makes no call, so
    /// that the common frees save and restore no register.
    ///
    /// # Safety
    /// `ptr` is a live direct block of this heap's `Os` of `usable` bytes,
    /// no longer used.
    #[inline(always)]
    unsafe fn put_large_now(&mut self, ptr: *mut u8, usable: usize) -> bool {
        self.direct_cache.large_pays()
            && self.store.os_mut().direct_roomy() != 0
            // SAFETY: guaranteed by the caller.
            && unsafe { self.direct_cache.put_large(ptr, usable) }
    }

    /// [`Heap::free_direct`] for a block of `usable` bytes that the small
    /// lists do not take: into the large lists (see
    /// [`Heap::cache_large`]), else to the `Os`. Out of line, so that the
    /// small lists' push, the common free, saves and restores no register
    /// around the calls this path makes (callgrind, `COMPACT_REGION`:
    /// session 34).
    ///
    /// # Safety
    /// As for [`Heap::free_direct`]; `usable` is the block's usable size.
    #[inline(never)]
    unsafe fn free_direct_uncached(&mut self, ptr: *mut u8, usable: usize) {
        if self.direct_cache.large_size(usable)
            // SAFETY: guaranteed by the caller: the block is no longer used.
            && unsafe { self.cache_large(ptr, usable) }
        {
            self.count_direct_free(usable);
        } else {
            // SAFETY: as above.
            unsafe { self.free_direct_to_os(ptr, usable) };
        }
    }

    /// Caches the freed direct block `ptr` of `usable` bytes (above
    /// `CACHE_MAX`, at most the cache's `large_max`) in the cache's
    /// large lists while the region is roomy and the lists pay (see
    /// `DirectCache::large_pays`), making the lists first if need be; false
    /// when it is not cached. The first such free that finds the region no
    /// longer roomy while the lists pay empties the cache, the large lists'
    /// table with it (while they do not pay, the first free that merges in
    /// the short region does: `free_direct_to_os`; see `direct_cache.rs`).
    ///
    /// # Safety
    /// `ptr` is a live direct block of this heap's `Os` of `usable` bytes,
    /// no longer used.
    #[inline(always)]
    unsafe fn cache_large(&mut self, ptr: *mut u8, usable: usize) -> bool {
        if !self.direct_cache.large_pays() {
            return false;
        }
        let room = self.store.os_mut().direct_roomy();
        if room == 0 {
            if self.direct_cache.has_large() {
                self.flush_direct_cache_cold();
            }
            return false;
        }
        if !self.direct_cache.has_large() && !self.make_large_lists(room) {
            return false;
        }
        // SAFETY: guaranteed by the caller.
        unsafe { self.direct_cache.put_large(ptr, usable) }
    }

    /// Makes the direct-block cache's large lists, their table a direct
    /// block of the region of `room` bytes (roomy now): false when the
    /// region is under `LARGE_SHARE` times the table or cannot serve it.
    #[cold]
    #[inline(never)]
    fn make_large_lists(&mut self, room: usize) -> bool {
        use crate::direct_cache::{DirectCache, LARGE_SHARE};
        let bytes = DirectCache::large_table_bytes(self.direct_cache.large_max());
        if room / LARGE_SHARE < bytes {
            return false;
        }
        let table = self
            .store
            .os_mut()
            .direct_alloc(bytes, core::mem::align_of::<*mut u8>());
        if table.is_null() {
            return false;
        }
        // SAFETY: a fresh direct block of at least `bytes` bytes, aligned
        // to a pointer, the cache's until it drains; the caller only comes
        // here for a block the large lists would take, so `large_max` is
        // not 0.
        unsafe { self.direct_cache.make_large(table, room / LARGE_SHARE) };
        true
    }

    /// [`Heap::free_direct`]'s way to the `Os`, for block `ptr` of `usable`
    /// bytes. When the free packs the region (with
    /// [`Config::direct_cache_packs`](crate::Config::direct_cache_packs): it
    /// is short of free memory and the block has a free neighbour), the
    /// cache goes back to the region first: a cached block looks used to
    /// the region, so each one keeps its neighbours, freed since, from
    /// merging with it; once the region runs short they merge. Each cached
    /// block is given back once, so the emptying costs a constant amortised
    /// over the frees that filled the cache. In a 2 MiB region of random
    /// 1–3000-byte requests this raised `COMPACT_REGION`'s packing at the
    /// first failure from 97.64 % to 97.79 % (talc 97.78 %; docs/embedded.md,
    /// session 32).
    ///
    /// # Safety
    /// As for [`Heap::free_direct`].
    #[inline(always)]
    unsafe fn free_direct_to_os(&mut self, ptr: *mut u8, usable: usize) {
        // SAFETY: guaranteed by the caller: the block is live until freed
        // below. (The switch is read second: most frees find the region
        // far from short, after one compare.)
        if unsafe { self.store.os_mut().direct_free_packs(ptr) } && self.config.direct_cache_packs {
            self.flush_direct_cache_cold();
        }
        // SAFETY: guaranteed by the caller.
        unsafe { self.store.os_mut().direct_free(ptr) };
        self.count_direct_free(usable);
    }

    /// [`Heap::flush_direct_cache`] for [`Heap::free_direct_to_os`], out of
    /// line and cold: it runs at most once for each filling of the cache,
    /// where the free around it runs for every block.
    #[cold]
    #[inline(never)]
    fn flush_direct_cache_cold(&mut self) {
        self.flush_direct_cache();
    }

    /// Counts a direct block of `usable` bytes as freed.
    #[inline(always)]
    fn count_direct_free(&mut self, usable: usize) {
        self.counters.on_free(usable);
        self.counts.direct(false, usable);
    }

    /// Gives every block of the direct-block cache back to the `Os`.
    pub(crate) fn flush_direct_cache(&mut self) {
        let os = self.store.os_mut();
        self.direct_cache.drain(|b| {
            // SAFETY: cached blocks are live direct blocks nobody uses.
            unsafe { os.direct_free(b) };
        });
    }

    /// [`Heap::reset`]'s part for direct blocks: frees them all when the
    /// heap owns its `Os`; otherwise panics if this heap has live ones
    /// (another heap over the region may be using the others).
    ///
    /// # Safety
    /// As for [`Heap::reset`].
    pub(crate) unsafe fn free_direct_blocks(&mut self) {
        self.flush_direct_cache();
        // SAFETY: guaranteed by the caller: no block of this heap is used
        // any more, and an `Os` that frees all owns every direct block.
        match unsafe { self.store.os_mut().direct_free_all() } {
            Some((n, bytes)) => {
                self.counters.on_blocks(0, n, 0, bytes);
                self.counts.direct_all_gone();
            }
            None => assert!(
                self.counts.direct_blocks() <= 0,
                "masu: Heap::reset with {} live direct blocks over a shared region: free \
                 them first, or build the heap with Config::direct_above = usize::MAX",
                self.counts.direct_blocks()
            ),
        }
    }

    /// [`Heap::realloc_direct`] to a block of the cache: when the block is
    /// small enough to be cached, the new size is another usable size and
    /// the cache holds a block of exactly it, the data moves there and `ptr`
    /// is freed (a pop, a copy of at most 512 bytes, or 4096 with the large
    /// lists, and, room permitting, a push, where resizing in place is the
    /// region's list work: with the large lists, 148 against 161
    /// instructions per operation in `fixed_region`'s 1000-byte run, 190
    /// against 209 at 3000 B, session 33). Null, changing nothing,
    /// otherwise.
    ///
    /// # Safety
    /// As for [`Heap::realloc_direct`]; `old` is the block's usable size.
    #[inline(always)]
    unsafe fn realloc_from_cache(
        &mut self,
        ptr: *mut u8,
        layout: Layout,
        new_layout: Layout,
        old: usize,
    ) -> *mut u8 {
        let usable = match crate::tlsf::usable_for(new_layout.size()) {
            Some(u)
                if u != old
                    && old <= self.direct_cache.large_max().max(CACHE_MAX)
                    && new_layout.align() <= crate::tlsf::ALIGN =>
            {
                u
            }
            _ => return ptr::null_mut(),
        };
        let p = self.direct_cache.take(usable);
        if p.is_null() {
            return p;
        }
        // SAFETY: `p` is a cached block of `usable` bytes, now ours; `ptr`
        // is live (guaranteed by the caller) and distinct from it.
        unsafe {
            self.hand_out_direct(p, new_layout.size(), usable, false);
            self.move_direct(ptr, p, layout.size().min(new_layout.size()));
        }
        p
    }

    /// The end of a `realloc` that moved the direct block `from` to `to`:
    /// copies the `len` bytes that stay and frees `from`.
    ///
    /// # Safety
    /// `from` is a live direct block of this heap's `Os`, `to` a distinct
    /// live block, both of at least `len` bytes.
    #[inline(always)]
    unsafe fn move_direct(&mut self, from: *mut u8, to: *mut u8, len: usize) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            ptr::copy_nonoverlapping(from, to, len);
            self.free_direct_inline(from);
        }
    }

    /// `realloc` of the direct block `ptr`: into a cached block of the new
    /// size (see [`Heap::realloc_from_cache`]), else in place when the block
    /// can grow or shrink where it is, else allocate (by the usual rules),
    /// copy and free. Null, leaving the block alone, when out of memory.
    ///
    /// # Safety
    /// `ptr` is a live direct block of this heap's `Os`, allocated with
    /// `layout` (or resized to `layout.size()`); `new_layout` has its
    /// alignment.
    #[inline(never)]
    pub(crate) unsafe fn realloc_direct(
        &mut self,
        ptr: *mut u8,
        layout: Layout,
        new_layout: Layout,
    ) -> *mut u8 {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let old = self.store.os().direct_size(ptr);
            let moved = self.realloc_from_cache(ptr, layout, new_layout, old);
            if !moved.is_null() {
                return moved;
            }
            let os = self.store.os_mut();
            if os.direct_resize(ptr, new_layout.size()) {
                let new = os.direct_size(ptr);
                self.counters.on_resize(old, new);
                self.counts.direct_resized(old, new);
                return ptr;
            }
            let new = self.alloc(new_layout);
            if !new.is_null() {
                self.move_direct(ptr, new, layout.size().min(new_layout.size()));
            }
            new
        }
    }
}
