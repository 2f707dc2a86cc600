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
//! are cached, and at most a [`Config::direct_cache_share`](crate::Config)th
//! of them in one list (a free that would pass either goes to the region).
//! Without the second bound one size can take the whole cache: a `realloc`
//! that shrinks a block in place makes a block of the new size that no
//! allocation took from the cache, so in a run of random reallocs the list
//! of the smallest size grew until it held all 64 KiB (8192 blocks of 8
//! bytes) and the cache served 19 % of allocations (docs/embedded.md,
//! session 19). Release
//! boundaries empty the cache into the region: a direct allocation the
//! region cannot serve (before it reports out of memory), a free that
//! merges in a region short of memory (with
//! [`Config::direct_cache_packs`](crate::Config)), `collect`, `reset` and
//! `Drop`.

use crate::Config;
use core::ptr;

/// Largest usable size cached (bytes).
pub(crate) const CACHE_MAX: usize = 512;
/// Lists: usable sizes 8, 16, ..., `CACHE_MAX`.
const LISTS: usize = CACHE_MAX / 8;

/// The most usable bytes one list holds in a cache of `limit` bytes of
/// which one list may hold a `share`th: room for one block of every size
/// at least, and no more than its 16-bit byte count can count (64 KiB
/// less a byte: the counts cost a heap 128 bytes).
const fn list_limit(limit: usize, share: usize) -> usize {
    let l = limit / share;
    if l < CACHE_MAX {
        CACHE_MAX
    } else if l > u16::MAX as usize {
        u16::MAX as usize
    } else {
        l
    }
}

/// A heap's cache of freed direct blocks (see the module documentation).
pub(crate) struct DirectCache {
    /// List `i` holds blocks of `8 * (i + 1)` usable bytes, linked through
    /// their first word.
    heads: [*mut u8; LISTS],
    /// Usable bytes cached in each list.
    list_bytes: [u16; LISTS],
    /// Usable bytes cached, all lists together.
    bytes: usize,
    /// The most usable bytes cached ([`Config::direct_cache_bytes`]).
    limit: usize,
    /// The most usable bytes one list holds (see [`list_limit`]).
    list_limit: usize,
}

impl DirectCache {
    /// Empty, with the bounds `config` sets.
    pub(crate) const fn new(config: &Config) -> DirectCache {
        DirectCache {
            heads: [ptr::null_mut(); LISTS],
            list_bytes: [0; LISTS],
            bytes: 0,
            limit: config.direct_cache_bytes,
            list_limit: list_limit(config.direct_cache_bytes, config.direct_cache_share),
        }
    }

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
        let i = usable / 8 - 1;
        let b = self.heads[i];
        if !b.is_null() {
            // SAFETY: a cached block: its first word is the link.
            self.heads[i] = unsafe { *(b as *const *mut u8) };
            self.list_bytes[i] -= usable as u16;
            self.bytes -= usable;
        }
        b
    }

    /// True when a block of `usable` bytes is small enough to cache and the
    /// cache has room for it under its byte limit, its list under its own
    /// (see [`list_limit`]).
    #[inline(always)]
    pub(crate) fn has_room(&self, usable: usize) -> bool {
        usable <= CACHE_MAX
            && self.bytes + usable <= self.limit
            && self.list_bytes[usable / 8 - 1] as usize + usable <= self.list_limit
    }

    /// Caches block `b` of `usable` bytes.
    ///
    /// # Safety
    /// `b` is a live direct block of `usable` bytes (at least a word), no
    /// longer used by anyone, and [`DirectCache::has_room`] for it.
    #[inline(always)]
    pub(crate) unsafe fn put(&mut self, b: *mut u8, usable: usize) {
        debug_assert!(usable % 8 == 0 && (8..=CACHE_MAX).contains(&usable));
        let i = usable / 8 - 1;
        // SAFETY: guaranteed by the caller: the block is ours to link.
        unsafe { *(b as *mut *mut u8) = self.heads[i] };
        self.heads[i] = b;
        self.list_bytes[i] += usable as u16;
        self.bytes += usable;
    }

    /// Takes every cached block off the lists, calling `free` on each; an
    /// empty cache returns at once (a region short of memory empties the
    /// cache on every free that merges: `Heap::free_direct_to_os`).
    pub(crate) fn drain(&mut self, mut free: impl FnMut(*mut u8)) {
        if self.bytes == 0 {
            return;
        }
        debug_assert_eq!(
            self.list_bytes.iter().map(|&b| b as usize).sum::<usize>(),
            self.bytes,
            "the lists' byte counts add up to the cache's"
        );
        self.list_bytes = [0; LISTS];
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_holds_its_share_within_one_largest_block_and_its_count() {
        assert_eq!(list_limit(64 << 10, 32), 2048);
        assert_eq!(list_limit(64 << 10, 1), u16::MAX as usize);
        assert_eq!(list_limit(4 << 10, 32), CACHE_MAX);
        assert_eq!(list_limit(0, 32), CACHE_MAX);
    }
}
