//! The platform boundary: how masu-core gets address space and memory.
//!
//! The core never calls the platform directly; every reservation, commit,
//! decommit and release goes through an [`Os`]. It calls these only from slow
//! paths and release boundaries, never from the allocation or free fast path.

/// A source of address space and memory for masu-core.
///
/// # Contract
/// Methods take `&self`: one `Os` may serve several heaps at once (one per
/// thread or per CPU), so an implementation that keeps state synchronises it.
///
/// # Safety
/// An implementation must uphold each method's guarantee below; the core
/// writes to memory on the strength of them.
pub unsafe trait Os {
    /// Reserves `size` bytes of address space whose start is a multiple of
    /// `align`.
    ///
    /// The core passes `size` as a multiple of [`Os::page_size`] and `align` as
    /// a power of two that is at least `page_size`. On success the
    /// implementation guarantees that the range is exclusively the caller's
    /// until [`Os::release`]; it may already be committed. On failure it
    /// returns null; it never panics or blocks indefinitely.
    fn reserve(&self, size: usize, align: usize) -> *mut u8;

    /// Makes `[ptr, ptr + size)` readable and writable.
    ///
    /// Returns false when memory is exhausted; the core then treats the
    /// allocation as out of memory. Committing committed memory is allowed and
    /// keeps its contents.
    ///
    /// # Safety
    /// The range lies inside one reservation of this `Os` and is page-aligned.
    unsafe fn commit(&self, ptr: *mut u8, size: usize) -> bool;

    /// Tells the platform that `[ptr, ptr + size)` is no longer needed; its
    /// contents may be lost and its resident memory may be given back.
    ///
    /// Returns true when memory was actually given back (the core counts it as
    /// decommitted and will [`Os::commit`] before reuse); false when the call
    /// did nothing and the contents are kept.
    ///
    /// # Safety
    /// The range lies inside one reservation of this `Os`, is page-aligned, and
    /// nothing in it is in use.
    unsafe fn decommit(&self, ptr: *mut u8, size: usize) -> bool;

    /// Gives back the resident memory of `[ptr, ptr + size)` but keeps the
    /// range committed: when it returns true the range reads as zero and
    /// stays readable and writable without [`Os::commit`] (Linux:
    /// `madvise(MADV_DONTNEED)` on private anonymous memory); false, and
    /// the contents are kept, when it did nothing (the default). What the
    /// background purger does to the free memory of an idle heap's pages
    /// (`idle_discard.rs`).
    ///
    /// # Safety
    /// The range lies inside one reservation of this `Os`, is committed and
    /// page-aligned, and nothing in it is in use.
    unsafe fn discard_contents(&self, ptr: *mut u8, size: usize) -> bool {
        let _ = (ptr, size);
        false
    }

    /// Gives back a whole reservation made by [`Os::reserve`] with the same
    /// `size` and `align`.
    ///
    /// # Safety
    /// The reservation is not used afterwards.
    unsafe fn release(&self, ptr: *mut u8, size: usize, align: usize);

    /// The granularity of commit and decommit, a power of two.
    fn page_size(&self) -> usize;

    /// True when memory that is freshly reserved and committed, or committed
    /// again after a decommit that returned true, reads as zero. The core then
    /// skips zeroing it in `alloc_zeroed`.
    fn fresh_memory_is_zeroed(&self) -> bool;

    /// False when `addr` certainly lies outside every reservation of this
    /// `Os`. Checked builds call it before reading a segment header, so that a
    /// foreign pointer is reported instead of read. The default knows nothing
    /// and says true.
    fn may_contain(&self, addr: usize) -> bool {
        let _ = addr;
        true
    }

    /// True when [`Os::guard`] can make pages inaccessible. An `Os` that
    /// says true also keeps an inaccessible page right after every
    /// reservation (not part of it), so that no access runs from one
    /// reservation into the next. With the `secure` feature the heap then
    /// guards the pages between each segment's header and its blocks. The
    /// default says false (no guard pages).
    fn guard_pages(&self) -> bool {
        false
    }

    /// Makes `[ptr, ptr + size)` inaccessible (any access faults) until
    /// its reservation is released; its contents are lost. Returns false
    /// when it could not (the default: it never can). Decommitting and
    /// committing a range that holds guarded pages keeps them guarded.
    ///
    /// # Safety
    /// The range lies inside one reservation of this `Os`, is page-aligned,
    /// and nothing in it is in use.
    unsafe fn guard(&self, ptr: *mut u8, size: usize) -> bool {
        let _ = (ptr, size);
        false
    }

    /// True when [`Os::remap`] can succeed. The core asks before it plans to
    /// grow a reservation that way. The default says false.
    fn can_remap(&self) -> bool {
        false
    }

    /// Moves a whole reservation made by [`Os::reserve`] (`old_size` bytes at
    /// `ptr`, aligned to `align`) to a new reservation of `new_size >
    /// old_size` bytes aligned to `align`, without copying its memory, and
    /// commits the part it adds: on success the old range is no longer
    /// reserved, the first `old_size` bytes of the new one hold the old
    /// contents with the old commit state (byte for byte at the same
    /// offsets), and the rest is committed as by [`Os::commit`] (reading as
    /// zero when [`Os::fresh_memory_is_zeroed`]). On failure (no address
    /// space, or the commit refused) it returns null and nothing changed. The
    /// default always fails.
    ///
    /// # Safety
    /// `ptr`, `old_size` and `align` are those of a live reservation of this
    /// `Os`; `new_size` is a multiple of [`Os::page_size`]. No other thread
    /// uses the reservation during the call.
    unsafe fn remap(
        &self,
        ptr: *mut u8,
        old_size: usize,
        new_size: usize,
        align: usize,
    ) -> *mut u8 {
        let _ = (ptr, old_size, new_size, align);
        core::ptr::null_mut()
    }

    /// A monotonic clock in milliseconds, if the platform has one. With a
    /// clock, [`Config::purge_delay`](crate::Config::purge_delay) counts
    /// milliseconds; without one (the default) it counts slow-path events.
    fn clock_ms(&self) -> Option<u64> {
        None
    }

    /// How far [`Os::clock_ms`] moves at each of its ticks, in milliseconds
    /// (at least 1): a coarse clock reads the same between its ticks, then
    /// jumps. A heap takes a jump of a tick or two for time passing, not
    /// for a pause (see [`Config::wake_keep`](crate::Config::wake_keep)).
    /// The default: 1.
    fn clock_tick_ms(&self) -> u64 {
        1
    }

    /// A number that changes whenever [`Os::policy`] would answer
    /// differently (options changed at run time). A heap compares it with
    /// the one it last saw at each epoch tick and at `collect`, never on a
    /// fast path. The default never changes.
    fn policy_generation(&self) -> u64 {
        0
    }

    /// The policy a heap built with `current` should follow now (its purge
    /// delays, cache bounds and so on; see
    /// [`Heap::set_policy`](crate::Heap::set_policy)). The default keeps
    /// `current`.
    fn policy(&self, current: &crate::Config) -> crate::Config {
        *current
    }

    /// True when this `Os` serves *direct blocks*: [`Os::direct_alloc`] and
    /// the methods after it work, and a heap over it sends requests above
    /// [`Config::direct_above`](crate::Config::direct_above) there (and any
    /// request no segment can take any more) instead of carving them out of
    /// segments. A [`FixedRegion`](crate::FixedRegion) does (its TLSF packs
    /// them to 8 bytes); the default does not, and then the heap's code for
    /// direct blocks compiles away.
    const DIRECT_BLOCKS: bool = false;

    /// Whether [`Os::decommit`] can ever give memory back. False for an
    /// `Os` whose `decommit` always returns false (a
    /// [`FixedRegion`](crate::FixedRegion): there is no platform to give
    /// memory to); then the heap queues nothing for purging and spends no
    /// slow-path time on it.
    const DECOMMITS: bool = true;

    /// The segment geometry of every heap over this `Os`, as
    /// `(segment_shift, slice_shift)`, where the `Os` fixes it (the `masu`
    /// crate's `MmapOs`: the `VIRTUAL_MEMORY` preset's). A heap's free
    /// fast path then masks a pointer to its segment and shifts it to its
    /// slice by constants, where it would load both from the heap: two
    /// loads fewer ahead of the page's owner word. A heap built over this
    /// `Os` with another geometry panics (at compile time in a `static`).
    /// The default, None: each heap's own.
    const GEOMETRY: Option<(u32, u32)> = None;

    /// A direct block of at least `size` bytes aligned to `align` (a power
    /// of two), outside every reservation; null when out of memory (and
    /// always without [`Os::DIRECT_BLOCKS`]). Takes `&self`: other heaps
    /// may use this `Os` at the same time (it locks).
    fn direct_alloc_shared(&self, size: usize, align: usize) -> *mut u8 {
        let _ = (size, align);
        core::ptr::null_mut()
    }

    /// [`Os::direct_alloc_shared`] by the heap that owns this `Os` (by
    /// value, so no other heap can reach it meanwhile: no lock needed).
    #[inline]
    fn direct_alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        self.direct_alloc_shared(size, align)
    }

    /// Frees a direct block (`&self`: it locks, as `direct_alloc_shared`);
    /// returns the usable bytes it had ([`Os::direct_size`]).
    ///
    /// # Safety
    /// `ptr` is a live direct block of this `Os`, not used afterwards.
    unsafe fn direct_free_shared(&self, ptr: *mut u8) -> usize {
        let _ = ptr;
        0
    }

    /// [`Os::direct_free_shared`] by the heap that owns this `Os`.
    ///
    /// # Safety
    /// As for [`Os::direct_free_shared`].
    #[inline]
    unsafe fn direct_free(&mut self, ptr: *mut u8) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { self.direct_free_shared(ptr) }
    }

    /// True when `ptr`, a live block of a heap over this `Os`, is a direct
    /// block; false when it lies in a reservation (a segment). Called on the
    /// free fast path of every block when [`Os::DIRECT_BLOCKS`]: keep it a
    /// few loads, without a lock.
    ///
    /// # Safety
    /// `ptr` is a live block of a heap over this `Os`.
    #[inline(always)]
    unsafe fn is_direct(&self, ptr: *const u8) -> bool {
        let _ = ptr;
        false
    }

    /// Usable bytes of a direct block (at least the size it was asked for).
    ///
    /// # Safety
    /// `ptr` is a live direct block of this `Os`.
    unsafe fn direct_size(&self, ptr: *const u8) -> usize {
        let _ = ptr;
        0
    }

    /// True when freeing the live direct block `ptr` now packs this `Os`'s
    /// memory better than a heap's keeping it for reuse (a
    /// [`FixedRegion`](crate::FixedRegion): the region is short of free
    /// memory and the block would merge with a free neighbour). Asked by
    /// the heap that owns this `Os`, without a lock; the default, and a
    /// shared `&O`, say false.
    ///
    /// # Safety
    /// `ptr` is a live direct block of this `Os`.
    #[inline]
    unsafe fn direct_free_packs(&mut self, ptr: *const u8) -> bool {
        let _ = ptr;
        false
    }

    /// The bytes of this `Os`'s memory for direct blocks while at least
    /// three quarters of it is free, 0 otherwise (a
    /// [`FixedRegion`](crate::FixedRegion): its block area). While it is
    /// roomy, a heap may keep freed direct blocks of up to
    /// [`Config::direct_cache_large`](crate::Config::direct_cache_large)
    /// bytes for reuse. Asked by the heap that owns this `Os`, without a
    /// lock; the default, and a shared `&O`, say 0.
    #[inline]
    fn direct_roomy(&mut self) -> usize {
        0
    }

    /// Frees every direct block of this `Os` at once, for
    /// [`Heap::reset`](crate::Heap::reset) of a heap that owns its `Os` (by
    /// value: then no other heap can use it). Returns `(blocks, usable
    /// bytes)` freed, or `None` when this `Os` cannot (the default, and a
    /// shared `&O`, which other heaps may be using).
    ///
    /// # Safety
    /// No direct block of this `Os` is used afterwards.
    unsafe fn direct_free_all(&mut self) -> Option<(usize, usize)> {
        None
    }

    /// Resizes a direct block in place to at least `size` bytes; false,
    /// changing nothing, when it cannot (`&self`: it locks).
    ///
    /// # Safety
    /// `ptr` is a live direct block of this `Os`.
    unsafe fn direct_resize_shared(&self, ptr: *mut u8, size: usize) -> bool {
        let _ = (ptr, size);
        false
    }

    /// [`Os::direct_resize_shared`] by the heap that owns this `Os`.
    ///
    /// # Safety
    /// As for [`Os::direct_resize_shared`].
    #[inline]
    unsafe fn direct_resize(&mut self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { self.direct_resize_shared(ptr, size) }
    }
}

// SAFETY: forwards every call to `O`, which upholds the contract.
unsafe impl<O: Os + ?Sized> Os for &O {
    #[inline]
    fn reserve(&self, size: usize, align: usize) -> *mut u8 {
        (**self).reserve(size, align)
    }
    #[inline]
    unsafe fn commit(&self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: the caller upholds `commit`'s contract for `O`.
        unsafe { (**self).commit(ptr, size) }
    }
    #[inline]
    unsafe fn decommit(&self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: the caller upholds `decommit`'s contract for `O`.
        unsafe { (**self).decommit(ptr, size) }
    }
    #[inline]
    unsafe fn discard_contents(&self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: the caller upholds `discard_contents`'s contract for `O`.
        unsafe { (**self).discard_contents(ptr, size) }
    }
    #[inline]
    unsafe fn release(&self, ptr: *mut u8, size: usize, align: usize) {
        // SAFETY: the caller upholds `release`'s contract for `O`.
        unsafe { (**self).release(ptr, size, align) }
    }
    #[inline]
    fn page_size(&self) -> usize {
        (**self).page_size()
    }
    #[inline]
    fn fresh_memory_is_zeroed(&self) -> bool {
        (**self).fresh_memory_is_zeroed()
    }
    #[inline]
    fn may_contain(&self, addr: usize) -> bool {
        (**self).may_contain(addr)
    }
    #[inline]
    fn guard_pages(&self) -> bool {
        (**self).guard_pages()
    }
    #[inline]
    unsafe fn guard(&self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: the caller upholds `guard`'s contract for `O`.
        unsafe { (**self).guard(ptr, size) }
    }
    #[inline]
    fn can_remap(&self) -> bool {
        (**self).can_remap()
    }
    #[inline]
    unsafe fn remap(
        &self,
        ptr: *mut u8,
        old_size: usize,
        new_size: usize,
        align: usize,
    ) -> *mut u8 {
        // SAFETY: the caller upholds `remap`'s contract for `O`.
        unsafe { (**self).remap(ptr, old_size, new_size, align) }
    }
    #[inline]
    fn clock_ms(&self) -> Option<u64> {
        (**self).clock_ms()
    }
    #[inline]
    fn clock_tick_ms(&self) -> u64 {
        (**self).clock_tick_ms()
    }
    #[inline]
    fn policy_generation(&self) -> u64 {
        (**self).policy_generation()
    }
    fn policy(&self, current: &crate::Config) -> crate::Config {
        (**self).policy(current)
    }
    const DIRECT_BLOCKS: bool = O::DIRECT_BLOCKS;
    const DECOMMITS: bool = O::DECOMMITS;
    const GEOMETRY: Option<(u32, u32)> = O::GEOMETRY;
    #[inline]
    fn direct_alloc_shared(&self, size: usize, align: usize) -> *mut u8 {
        (**self).direct_alloc_shared(size, align)
    }
    #[inline]
    unsafe fn direct_free_shared(&self, ptr: *mut u8) -> usize {
        // SAFETY: the caller upholds `direct_free_shared`'s contract for `O`.
        unsafe { (**self).direct_free_shared(ptr) }
    }
    #[inline(always)]
    unsafe fn is_direct(&self, ptr: *const u8) -> bool {
        // SAFETY: the caller upholds `is_direct`'s contract for `O`.
        unsafe { (**self).is_direct(ptr) }
    }
    #[inline]
    unsafe fn direct_size(&self, ptr: *const u8) -> usize {
        // SAFETY: the caller upholds `direct_size`'s contract for `O`.
        unsafe { (**self).direct_size(ptr) }
    }
    #[inline]
    unsafe fn direct_resize_shared(&self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: the caller upholds `direct_resize_shared`'s contract for `O`.
        unsafe { (**self).direct_resize_shared(ptr, size) }
    }
}
