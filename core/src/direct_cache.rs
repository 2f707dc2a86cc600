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
//!
//! **Large lists.** With [`Config::direct_cache_large`](crate::Config)
//! above [`CACHE_MAX`], blocks of up to that many usable bytes (at most
//! [`LARGE_MAX`]) are cached too, in exact-size lists of their own, but only
//! while the region is roomy (at least three quarters of it free:
//! `Os::direct_roomy`), while most requests above `CACHE_MAX` are of their
//! sizes ([`DirectCache::large_pays`]), and at most a [`LARGE_SHARE`]th of
//! the region's bytes. Their table (a list head and a byte count per size: 4.4 KiB for
//! 4096 bytes on a 64-bit target) is not in the heap: it is a direct block
//! of the region, taken at the first large free that finds the region
//! roomy, and given back with the large blocks when the cache empties: the
//! first time a large free finds the region no longer roomy while the lists
//! pay, else (while they do not) the first free that merges in the short
//! region, as for the small lists, or an allocation the region cannot serve.
//! So the large lists cost the heap no static memory and the region nothing
//! once it runs short, where its packing is measured; while it is roomy,
//! reuse of exact sizes up to 4 KiB skips the region's splits and merges
//! (docs/embedded.md, session 33).

use crate::Config;
use core::ptr;

/// Largest usable size cached (bytes).
pub(crate) const CACHE_MAX: usize = 512;
/// Lists: usable sizes 8, 16, ..., `CACHE_MAX`.
const LISTS: usize = CACHE_MAX / 8;
/// Largest usable size the large lists may take
/// ([`Config::direct_cache_large`](crate::Config) at most).
pub(crate) const LARGE_MAX: usize = 4096;
/// Bound of the large lists' mix counter ([`DirectCache::large_pays`]): after
/// a change of the program's sizes, at most this many requests pass before
/// the lists follow it. Where most requests above 512 bytes are larger than
/// the lists take, the lists cost more than they save: in `fixed_region`'s
/// 10,000- and 30,000-byte runs (38 % and 12 % of those requests of at
/// most 4 KiB), cached lists ran 5–10 % slower than none though they took
/// fewer instructions (a cached block comes back cold, and keeps the
/// region from merging around it; session 33).
const MIX_BOUND: i32 = 1024;
/// The large lists hold at most a `LARGE_SHARE`th of the region's bytes, and
/// are made only in a region at least `LARGE_SHARE` times their table. With
/// sizes spread evenly, their hits grow with the bytes they may hold: in
/// `fixed_region`'s 3000-byte run (a 64 MiB region) a 64th took 190
/// instructions per operation, a 16th 174 (session 33).
pub(crate) const LARGE_SHARE: usize = 16;

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
    /// The large lists' heads, for usable sizes `CACHE_MAX + 8` to
    /// `large_top`, followed by their byte counts (`u16`): a direct block
    /// of the region; null when there is none.
    large: *mut *mut u8,
    /// Largest usable size the large lists take; 0 when there are none.
    large_top: usize,
    /// Usable bytes in the large lists.
    large_bytes: usize,
    /// The most usable bytes the large lists hold, all together.
    large_limit: usize,
    /// Largest usable size the large lists would take
    /// ([`Config::direct_cache_large`](crate::Config) rounded down to 8),
    /// 0 when the config has none (at most `CACHE_MAX`, or no cache).
    large_max: usize,
    /// The mix of the requests above `CACHE_MAX`: one up for each of at most
    /// `large_max` usable bytes, one down for each larger one, within
    /// `±MIX_BOUND`. The large lists take blocks only while it is above 0
    /// (see [`DirectCache::large_pays`]). It starts at `-MIX_BOUND`, so
    /// that the lists wait until their sizes have prevailed for a while:
    /// started at 0, the first requests of `fixed_region`'s 10,000-byte run
    /// (38 % of them of the lists' sizes) filled lists that then stayed, and
    /// the run went 5 % slower than without them (the same as without them
    /// when started at `-MIX_BOUND`; session 33).
    mix: i32,
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
            large: ptr::null_mut(),
            large_top: 0,
            large_bytes: 0,
            large_limit: 0,
            mix: -MIX_BOUND,
            large_max: if config.direct_cache_bytes == 0 || config.direct_cache_large <= CACHE_MAX {
                0
            } else {
                config.direct_cache_large & !7
            },
        }
    }

    /// Largest usable size the large lists would take (0: none; see
    /// [`Config::direct_cache_large`](crate::Config)).
    #[inline(always)]
    pub(crate) fn large_max(&self) -> usize {
        self.large_max
    }

    /// True when a block of `usable` bytes is of the large lists' sizes:
    /// above `CACHE_MAX`, at most [`DirectCache::large_max`].
    #[inline(always)]
    pub(crate) fn large_size(&self, usable: usize) -> bool {
        usable > CACHE_MAX && usable <= self.large_max
    }

    /// Usable bytes cached, in the large lists too, and their table's.
    #[inline]
    pub(crate) fn bytes(&self) -> usize {
        let table = if self.large.is_null() {
            0
        } else {
            Self::large_table_bytes(self.large_top)
        };
        self.bytes + self.large_bytes + table
    }

    /// True when the cache holds nothing of the region's: no block and no
    /// large lists' table.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes == 0 && self.large.is_null()
    }

    /// A cached block of exactly `usable` bytes (a multiple of 8, at least
    /// 8), taken off its list; null when none.
    #[inline(always)]
    pub(crate) fn take(&mut self, usable: usize) -> *mut u8 {
        debug_assert!(usable >= 8 && usable % 8 == 0);
        if usable > CACHE_MAX {
            return if usable <= self.large_top {
                self.take_large(usable)
            } else {
                ptr::null_mut()
            };
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

    /// The large lists' table bytes for sizes up to `top`: a head and a
    /// 16-bit byte count per size above [`CACHE_MAX`].
    pub(crate) const fn large_table_bytes(top: usize) -> usize {
        Self::lists_below(top) * (core::mem::size_of::<*mut u8>() + 2)
    }

    /// The number of large lists up to `top` usable bytes: one per 8-byte
    /// size above `CACHE_MAX`.
    #[inline(always)]
    const fn lists_below(top: usize) -> usize {
        (top - CACHE_MAX) / 8
    }

    /// True when the large lists exist.
    #[inline(always)]
    pub(crate) fn has_large(&self) -> bool {
        !self.large.is_null()
    }

    /// Makes the large lists, for usable sizes up to `large_max`, in
    /// `table`, holding at most `limit` bytes.
    ///
    /// # Safety
    /// `large_max` is not 0; `table` is a block of
    /// [`DirectCache::large_table_bytes`]`(large_max)` bytes, aligned to a
    /// pointer, the cache's until [`DirectCache::drain`] gives it back;
    /// there are no large lists.
    pub(crate) unsafe fn make_large(&mut self, table: *mut u8, limit: usize) {
        let top = self.large_max;
        debug_assert!(self.large.is_null() && top % 8 == 0 && top > CACHE_MAX && top <= LARGE_MAX);
        // SAFETY: guaranteed by the caller: the table is ours, this big.
        unsafe { ptr::write_bytes(table, 0, Self::large_table_bytes(top)) };
        self.large = table.cast();
        self.large_top = top;
        self.large_bytes = 0;
        self.large_limit = limit;
    }

    /// Large list `i`'s head and byte count.
    #[inline(always)]
    fn large_list(&self, i: usize) -> (*mut *mut u8, *mut u16) {
        let lists = Self::lists_below(self.large_top);
        debug_assert!(!self.large.is_null() && i < lists);
        // SAFETY: the table holds `lists` heads, then as many counts
        // (`make_large`); `i` is below `lists`.
        unsafe {
            let counts = self.large.add(lists).cast::<u16>();
            (self.large.add(i), counts.add(i))
        }
    }

    /// Counts a request of `usable` bytes that the cache did not serve in
    /// the mix (a hit of the large lists counts itself): one up when the
    /// large lists would take its size, one down when it is larger; below
    /// `CACHE_MAX`, or without large lists, nothing.
    #[inline(always)]
    pub(crate) fn note_miss(&mut self, usable: usize) {
        if self.large_max == 0 || usable <= CACHE_MAX {
            return;
        }
        self.mix = if usable <= self.large_max {
            (self.mix + 1).min(MIX_BOUND)
        } else {
            (self.mix - 1).max(-MIX_BOUND)
        };
    }

    /// True while the large lists pay: more of the requests above
    /// `CACHE_MAX` are of the sizes they take than larger (see
    /// [`MIX_BOUND`]).
    #[inline(always)]
    pub(crate) fn large_pays(&self) -> bool {
        self.mix > 0
    }

    /// [`DirectCache::take`] for a usable size in `CACHE_MAX + 8..=large_top`.
    #[inline(always)]
    fn take_large(&mut self, usable: usize) -> *mut u8 {
        let (head, count) = self.large_list((usable - CACHE_MAX) / 8 - 1);
        // SAFETY: the large lists' table is live (`large_top` is not 0);
        // a cached block's first word is its link.
        unsafe {
            let b = *head;
            if !b.is_null() {
                *head = *(b as *const *mut u8);
                *count -= usable as u16;
                self.large_bytes -= usable;
                self.mix = (self.mix + 1).min(MIX_BOUND);
            }
            b
        }
    }

    /// Caches block `b` of `usable` bytes in the large lists, if they exist,
    /// take that size and have room for it (under their byte limit, its list
    /// under 64 KiB less a byte); false, changing nothing, otherwise.
    ///
    /// # Safety
    /// `b` is a live direct block of `usable` bytes, no longer used by
    /// anyone.
    #[inline(always)]
    pub(crate) unsafe fn put_large(&mut self, b: *mut u8, usable: usize) -> bool {
        let bytes = self.large_bytes + usable;
        if usable <= CACHE_MAX || usable > self.large_top || bytes > self.large_limit {
            return false;
        }
        let (head, count) = self.large_list((usable - CACHE_MAX) / 8 - 1);
        // SAFETY: the table is live; the block is ours to link (guaranteed
        // by the caller).
        unsafe {
            if *count as usize + usable > u16::MAX as usize {
                return false;
            }
            *(b as *mut *mut u8) = *head;
            *head = b;
            *count += usable as u16;
        }
        self.large_bytes += usable;
        true
    }

    /// Takes every cached block off the lists, calling `free` on each, and
    /// then on the large lists' table; an empty cache returns at once (a
    /// region short of memory empties the cache on every free that merges:
    /// `Heap::free_direct_to_os`).
    pub(crate) fn drain(&mut self, mut free: impl FnMut(*mut u8)) {
        if self.is_empty() {
            return;
        }
        self.drain_large(&mut free);
        debug_assert_eq!(
            self.list_bytes.iter().map(|&b| b as usize).sum::<usize>(),
            self.bytes,
            "the lists' byte counts add up to the cache's"
        );
        self.list_bytes = [0; LISTS];
        for head in self.heads.iter_mut() {
            // SAFETY: a list of cached blocks.
            unsafe { empty_list(head, &mut free) };
        }
        self.bytes = 0;
    }

    /// [`DirectCache::drain`]'s part for the large lists and their table.
    fn drain_large(&mut self, free: &mut impl FnMut(*mut u8)) {
        if self.large.is_null() {
            return;
        }
        let lists = Self::lists_below(self.large_top);
        for i in 0..lists {
            let (head, _) = self.large_list(i);
            // SAFETY: the table is live, and its head `i` a list of cached
            // blocks.
            unsafe { empty_list(&mut *head, free) };
        }
        free(self.large.cast());
        self.large = ptr::null_mut();
        self.large_top = 0;
        self.large_bytes = 0;
    }
}

/// Takes every block off the list at `head`, calling `free` on each.
///
/// # Safety
/// `head` heads a list of cached blocks, each linked through its first
/// word.
unsafe fn empty_list(head: &mut *mut u8, free: &mut impl FnMut(*mut u8)) {
    let mut b = core::mem::replace(head, ptr::null_mut());
    while !b.is_null() {
        // SAFETY: guaranteed by the caller: the first word is the link.
        let next = unsafe { *(b as *const *mut u8) };
        free(b);
        b = next;
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
