//! [`Store`]: the heap's only door to its [`Os`]. Every reservation,
//! commit, decommit, remap and release goes through here and is counted
//! here, so the heap's committed, reserved and decommitted bytes change in
//! this file only (checked against a recount by `Heap::check_invariants`).

use crate::os::Os;

/// The heap's `Os` and the bytes it holds from it.
pub(crate) struct Store<O: Os> {
    os: O,
    /// Bytes committed now (segment headers included).
    committed: usize,
    /// Bytes of address space reserved now.
    reserved: usize,
    /// Bytes decommitted so far.
    decommitted: u64,
}

impl<O: Os> Store<O> {
    /// Nothing held yet.
    pub(crate) const fn new(os: O) -> Store<O> {
        Store {
            os,
            committed: 0,
            reserved: 0,
            decommitted: 0,
        }
    }

    /// The `Os`.
    #[inline]
    pub(crate) fn os(&self) -> &O {
        &self.os
    }

    /// The `Os`, for the calls that need it exclusively (direct blocks of
    /// an `Os` the heap owns).
    #[inline]
    pub(crate) fn os_mut(&mut self) -> &mut O {
        &mut self.os
    }

    /// Bytes committed now.
    #[inline]
    pub(crate) fn committed_bytes(&self) -> usize {
        self.committed
    }

    /// Bytes reserved now.
    #[inline]
    pub(crate) fn reserved_bytes(&self) -> usize {
        self.reserved
    }

    /// Bytes decommitted so far.
    #[inline]
    pub(crate) fn decommitted_bytes(&self) -> u64 {
        self.decommitted
    }

    /// The `Os` page size.
    #[inline]
    pub(crate) fn page_size(&self) -> usize {
        self.os.page_size()
    }

    /// Whether memory the `Os` commits afresh reads as zero.
    #[inline]
    pub(crate) fn fresh_memory_is_zeroed(&self) -> bool {
        self.os.fresh_memory_is_zeroed()
    }

    /// Whether the `Os` can move a reservation ([`Os::remap`]).
    #[inline]
    pub(crate) fn can_remap(&self) -> bool {
        self.os.can_remap()
    }

    /// The `Os` clock in milliseconds, if it has one.
    #[inline]
    pub(crate) fn clock_ms(&self) -> Option<u64> {
        self.os.clock_ms()
    }

    /// The `Os` clock's tick in milliseconds (at least 1; see
    /// [`Os::clock_tick_ms`]).
    #[inline]
    pub(crate) fn clock_tick_ms(&self) -> u64 {
        self.os.clock_tick_ms().max(1)
    }

    /// Whether the heap puts guard pages into its segments: with `secure`,
    /// when the `Os` has them ([`Os::guard_pages`]).
    #[inline]
    pub(crate) fn guards(&self) -> bool {
        cfg!(feature = "secure") && self.os.guard_pages()
    }

    /// Makes `[ptr, ptr + len)` inaccessible ([`Os::guard`]); false when
    /// the `Os` could not.
    ///
    /// # Safety
    /// The range lies in a reservation of this store, is page-aligned, and
    /// nothing in it is in use.
    pub(crate) unsafe fn guard(&mut self, ptr: *mut u8, len: usize) -> bool {
        // SAFETY: guaranteed by the caller.
        unsafe { self.os.guard(ptr, len) }
    }

    /// Reserves `size` bytes aligned to `align` (see [`Os::reserve`]);
    /// null when refused.
    pub(crate) fn reserve(&mut self, size: usize, align: usize) -> *mut u8 {
        let p = self.os.reserve(size, align);
        if !p.is_null() {
            self.reserved += size;
        }
        p
    }

    /// Commits `[ptr, ptr + len)` (see [`Os::commit`]); false when refused.
    ///
    /// # Safety
    /// The range lies in a reservation of this store and is not committed.
    pub(crate) unsafe fn commit(&mut self, ptr: *mut u8, len: usize) -> bool {
        // SAFETY: guaranteed by the caller.
        let ok = unsafe { self.os.commit(ptr, len) };
        if ok {
            self.committed += len;
        }
        ok
    }

    /// Decommits `[ptr, ptr + len)` (see [`Os::decommit`]); false when the
    /// `Os` could not (the memory stays committed).
    ///
    /// # Safety
    /// The range is committed memory of this store that nothing uses.
    pub(crate) unsafe fn decommit(&mut self, ptr: *mut u8, len: usize) -> bool {
        // SAFETY: guaranteed by the caller.
        let ok = unsafe { self.os.decommit(ptr, len) };
        if ok {
            self.committed -= len;
            self.decommitted += len as u64;
        }
        ok
    }

    /// Gives back the reservation at `base` of `size` bytes aligned to
    /// `align`, of which `committed` bytes are committed.
    ///
    /// # Safety
    /// A whole reservation of this store that nothing uses any more.
    pub(crate) unsafe fn release(
        &mut self,
        base: *mut u8,
        size: usize,
        align: usize,
        committed: usize,
    ) {
        self.committed -= committed;
        self.reserved -= size;
        // SAFETY: guaranteed by the caller.
        unsafe { self.os.release(base, size, align) };
    }

    /// Moves the reservation at `ptr` (`size` bytes, all committed) to a
    /// reservation of `new_size` bytes, all committed (see [`Os::remap`]);
    /// null when the `Os` cannot.
    ///
    /// # Safety
    /// As for [`Os::remap`].
    pub(crate) unsafe fn remap(
        &mut self,
        ptr: *mut u8,
        size: usize,
        new_size: usize,
        align: usize,
    ) -> *mut u8 {
        // SAFETY: guaranteed by the caller.
        let new = unsafe { self.os.remap(ptr, size, new_size, align) };
        if !new.is_null() {
            self.reserved += new_size - size;
            self.committed += new_size - size;
        }
        new
    }

    /// Pretends `len` more bytes are committed (a test of the invariant
    /// checker).
    #[cfg(test)]
    pub(crate) fn corrupt_committed(&mut self, len: usize) {
        self.committed += len;
    }
}
