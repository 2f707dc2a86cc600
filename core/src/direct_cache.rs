//! The direct-block cache: freed direct blocks of up to
//! [`CACHE_MAX`] usable bytes that a heap keeps, one list per size (8-byte
//! steps), and hands out again for a request of exactly that usable size
//! without the region's allocator.
//!
//! A cached block stays a used block of the region (its header says so);
//! its first word links the list. So a hit costs a pop, like a size class,
//! and reuses a block of exactly the size the region would have carved: no
//! waste beyond the region's own.
//!
//! Bounds: at most [`Config::direct_cache_bytes`](crate::Config) usable bytes
//! are cached (a free that would pass it goes to the region). Release
//! boundaries empty the cache into the region: a direct allocation the
//! region cannot serve (before it reports out of memory), `collect`,
//! `reset` and `Drop`.

use core::ptr;

/// Largest usable size cached (bytes).
pub(crate) const CACHE_MAX: usize = 512;
/// Lists: usable sizes 8, 16, ..., `CACHE_MAX`.
const LISTS: usize = CACHE_MAX / 8;

/// A heap's cache of freed direct blocks (see the module documentation).
pub(crate) struct DirectCache {
    /// List `i` holds blocks of `8 * (i + 1)` usable bytes, linked through
    /// their first word.
    heads: [*mut u8; LISTS],
    /// Usable bytes cached, all lists together.
    bytes: usize,
}

impl DirectCache {
    /// Empty.
    pub(crate) const EMPTY: DirectCache = DirectCache {
        heads: [ptr::null_mut(); LISTS],
        bytes: 0,
    };

    /// Usable bytes cached.
    #[inline]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// A cached block of exactly `usable` bytes (a multiple of 8), taken
    /// off its list; null when none.
    #[inline(always)]
    pub(crate) fn take(&mut self, usable: usize) -> *mut u8 {
        if usable > CACHE_MAX || usable == 0 {
            return ptr::null_mut();
        }
        let head = &mut self.heads[usable / 8 - 1];
        let b = *head;
        if !b.is_null() {
            // SAFETY: a cached block: its first word is the link.
            *head = unsafe { *(b as *const *mut u8) };
            self.bytes -= usable;
        }
        b
    }

    /// True when a block of `usable` bytes is small enough to cache and the
    /// cache has room for it under `limit` bytes.
    #[inline(always)]
    pub(crate) fn has_room(&self, usable: usize, limit: usize) -> bool {
        usable <= CACHE_MAX && self.bytes + usable <= limit
    }

    /// Caches block `b` of `usable` bytes.
    ///
    /// # Safety
    /// `b` is a live direct block of `usable` bytes (at least a word), no
    /// longer used by anyone, and [`DirectCache::has_room`] for it.
    #[inline(always)]
    pub(crate) unsafe fn put(&mut self, b: *mut u8, usable: usize) {
        debug_assert!(usable % 8 == 0 && (8..=CACHE_MAX).contains(&usable));
        let head = &mut self.heads[usable / 8 - 1];
        // SAFETY: guaranteed by the caller: the block is ours to link.
        unsafe { *(b as *mut *mut u8) = *head };
        *head = b;
        self.bytes += usable;
    }

    /// Takes every cached block off the lists, calling `free` on each.
    pub(crate) fn drain(&mut self, mut free: impl FnMut(*mut u8)) {
        for head in self.heads.iter_mut() {
            let mut b = core::mem::replace(head, ptr::null_mut());
            while !b.is_null() {
                // SAFETY: a cached block: its first word is the link.
                let next = unsafe { *(b as *const *mut u8) };
                free(b);
                b = next;
            }
        }
        self.bytes = 0;
    }
}
