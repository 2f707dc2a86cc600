//! Free memory of an idle heap given back to the `Os` in place
//! (`Os::discard_contents`), while the owner is alive: what
//! [`Heap::release_while_owner_idle`] does to the pages it may not free
//! (the first page of each class queue, which the owner's fast paths use,
//! and pages that still hold live blocks): the insides of large free
//! blocks, emptied first pages, and the freed tails of pages.
//!
//! A free block's contents are its link (first word) and, with `secure`,
//! its freed tag (second word); the rest is garbage that nobody reads. So
//! the memory pages that lie wholly inside a free block, past its first
//! [`KEPT_BYTES`], may be discarded while the block stays on its list,
//! linked as before: the next use of the block faults zeroed memory in.
//! Only blocks larger than a memory page have such pages.
//!
//! Which blocks: those on `local_free` and `thread_free`, never those on
//! `free`. The caller excludes the owner's slow paths; its fast paths pop
//! from `free` only and push onto the front of `local_free` (with Release,
//! [`Page::push_local`]), and other threads push onto the front of
//! `thread_free` (with a Release CAS). So from a head read with Acquire,
//! every block of either list stays free, on that list, with its link
//! unchanged, until the owner's next slow path, which the caller excludes:
//! no block this touches can be handed out meanwhile. (A block on `free`
//! may be popped at any moment, handed out and written; discarding it then
//! would lose the program's data.)
//!
//! A class queue's first page that holds no live block and whose `free`
//! list is empty goes further ([`Heap::reset_idle_first_pages`]): nothing
//! can reach its lists or blocks then but the owner's slow paths. The fast
//! allocation pops only from a non-empty `free`, and pops with its count
//! in `used` first and the new `free` last, with Release
//! ([`Page::publish_free`]): a purger that reads `free` empty with Acquire
//! and then `used` equal to the remote frees on `thread_free` knows that
//! no pop is under way and none can start (an empty list stays empty until
//! a slow path refills it). A free needs a live block, and there is none.
//! So its lists are dropped (the remote frees collected and counted, as
//! the owner's collect would), its `used` and `capacity` set to 0, and
//! every memory page of its blocks discarded: it stays its queue's first
//! page, and the owner's next allocation of the class takes the slow path
//! (its `free` is still empty) and carves it afresh. A page with nothing
//! carved is left alone.
//!
//! Small blocks have no memory page of their own, but a page's carved
//! blocks often end in a run that all wait on `local_free` (a burst freed
//! them; the blocks still live were carved first). [`trim_page_tail`] takes
//! that run off the list and off the carved count (`capacity`), so that
//! [`Page::extend`] carves it again when it is needed, and gives its whole
//! memory pages back. The list's head stays (the owner's fast free links
//! the next block it frees to it); every block behind it is the purger's to
//! relink, as above. Not with `secure`, whose freed tags must stay in the
//! blocks (nor the first-page reset: a double free of a block that lost its
//! tag would not be caught).
//!
//! Idle heaps are looked at again and again (the std shim's purger passes
//! once a second); the heap keeps a digest of the lists' heads it last
//! discarded under ([`Heap::idle_discard_digest`]) and does nothing while
//! they have not moved (the reset looks only at pages with carved blocks).
//! Every walk ends at a link that leads to no carved block of the page, and
//! after as many steps as the page has carved blocks. The loom models
//! `loom-tests/tests/idle_discard.rs`, `idle_reset.rs` and `idle_trim.rs`
//! run [`discard_page_insides`], [`resettable`] and [`trim_page_tail`]
//! against an owner's fast paths.

use crate::heap::Heap;
use crate::idle_release::holds_no_live_block;
use crate::os::Os;
use crate::page::{
    block_start_within, decode_link, encode_link, remote_word_parts, Block, Page, PageFlags,
};
use crate::size_class::CLASS_COUNT;
use crate::stats::CounterSink;
use crate::sync::Ordering;

/// The bytes at a free block's start that are never discarded: its link
/// and its freed tag.
pub(crate) const KEPT_BYTES: usize = 2 * core::mem::size_of::<usize>();

/// Calls `discard(start, len)` for the memory pages (of `page_size` bytes)
/// that lie wholly inside a free block of `page` on its `local_free` or
/// `thread_free` list, past the block's first [`KEPT_BYTES`]; returns the
/// bytes given back (those of the calls that returned true).
///
/// # Safety
/// `page` is a live page whose owner's slow paths the caller excludes (the
/// owner may run its fast paths, other threads may push remote frees);
/// `discard` only gives the memory back (see the module documentation).
pub(crate) unsafe fn discard_page_insides(
    page: *const Page,
    page_size: usize,
    discard: impl FnMut(*mut u8, usize) -> bool,
) -> usize {
    // SAFETY: guaranteed by the caller.
    unsafe { discard_lists(page, page_size, lists_off_free(page), discard) }
}

/// The first blocks of `page`'s `local_free` and `thread_free` lists, read
/// with Acquire (see the module documentation).
///
/// # Safety
/// As for [`discard_page_insides`].
pub(crate) unsafe fn lists_off_free(page: *const Page) -> [*mut Block; 2] {
    // SAFETY: guaranteed by the caller; `thread_free` is an atomic, and
    // whether the word counts depends on fixed fields.
    unsafe {
        let word = (*page).thread_free.load(Ordering::Acquire);
        [
            Page::local_free_acquire(page),
            remote_word_parts(word, Page::counts_remote(page)).0,
        ]
    }
}

/// [`discard_page_insides`] over the lists that start at `heads`.
///
/// # Safety
/// As for [`discard_page_insides`]; each head starts a list of free blocks
/// of `page` whose links nobody writes meanwhile.
pub(crate) unsafe fn discard_lists(
    page: *const Page,
    page_size: usize,
    heads: impl IntoIterator<Item = *mut Block>,
    mut discard: impl FnMut(*mut u8, usize) -> bool,
) -> usize {
    // SAFETY: guaranteed by the caller; `key` and `block_size` are fixed
    // while the page is in use.
    let (key, block_size) = unsafe { ((*page).key, (*page).block_size) };
    if block_size <= page_size {
        return 0;
    }
    // SAFETY: as above.
    let capacity = unsafe { (*page).capacity };
    let mut bytes = 0;
    for head in heads {
        // SAFETY: guaranteed by the caller.
        let mut b = unsafe { listed(page, head) };
        // At most `capacity` steps: an overwritten link may close a cycle.
        let mut steps = 0;
        while !b.is_null() && steps < capacity {
            steps += 1;
            let lo = (b as usize + KEPT_BYTES).next_multiple_of(page_size);
            let hi = (b as usize + block_size) & !(page_size - 1);
            if hi > lo && discard(lo as *mut u8, hi - lo) {
                bytes += hi - lo;
            }
            // SAFETY: `b` is a free block on one of the lists, whose link
            // nobody writes until the owner's next slow path.
            b = unsafe { listed(page, decode_link(key, (*b).next)) };
        }
    }
    bytes
}

/// `b` if it is null or the start of one of `page`'s carved blocks, else
/// null: a walk ends there rather than follow a link that a write after a
/// free (or an overflow) left pointing elsewhere, which the owner's next
/// collect or pop reports (`CorruptFreeList` with `checks` or `secure`).
///
/// # Safety
/// As for [`discard_page_insides`].
unsafe fn listed(page: *const Page, b: *mut Block) -> *mut Block {
    // SAFETY: guaranteed by the caller: the fields read are fixed or
    // written by the owner's slow paths only, which the caller excludes.
    let (start, block_size, capacity) =
        unsafe { ((*page).start as usize, (*page).block_size, (*page).capacity) };
    if b.is_null() || block_start_within(start, block_size, capacity, b as usize) {
        b
    } else {
        core::ptr::null_mut()
    }
}

/// Most blocks a page may have for [`trim_page_tail`] (its bitmap's bits).
const TAIL_MAX_BLOCKS: usize = 8192;

/// Takes the run of carved blocks at the end of `page` that all wait on
/// its `local_free` list (behind the list's head) off the list and off the
/// carved count, and calls `discard(start, len)` for the whole memory pages
/// (of `page_size` bytes) they cover; returns the bytes given back (0 when
/// `discard` returned false; 0, and nothing changed, when the run covers
/// no whole memory page). With `FRESH` (the
/// uncarved part reads as zero) the run is left zero: the ends outside the
/// discarded pages are cleared, and so is the rest if `discard` returns
/// false (it did nothing).
///
/// # Safety
/// As for [`discard_page_insides`]; `discard` leaves the range reading as
/// zero when it returns true.
pub(crate) unsafe fn trim_page_tail(
    page: *mut Page,
    page_size: usize,
    discard: impl FnMut(*mut u8, usize) -> bool,
) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe { trim_tail(page, page_size, true, discard) }
}

/// [`trim_page_tail`], which keeps the list's head (`keep_head`); without
/// it, the loom model's broken twin.
///
/// # Safety
/// As for [`trim_page_tail`].
pub(crate) unsafe fn trim_tail(
    page: *mut Page,
    page_size: usize,
    keep_head: bool,
    mut discard: impl FnMut(*mut u8, usize) -> bool,
) -> usize {
    // SAFETY: guaranteed by the caller: the fields read are the owner's
    // slow paths' (excluded) or fixed; the blocks walked are on
    // `local_free` behind a head read with Acquire, whose links nobody else
    // writes (see the module documentation).
    unsafe {
        let (key, start, block_size, capacity) = (
            (*page).key,
            (*page).start as usize,
            (*page).block_size,
            (*page).capacity as usize,
        );
        let head = listed(page, Page::local_free_acquire(page));
        if head.is_null() || capacity > TAIL_MAX_BLOCKS {
            return 0;
        }
        let index = |b: *mut Block| (b as usize - start) / block_size;
        let mut on_list = [0u64; TAIL_MAX_BLOCKS / 64];
        let mut b = head;
        while !b.is_null() {
            let i = index(b);
            if on_list[i / 64] >> (i % 64) & 1 != 0 {
                return 0; // a cycle: a link was overwritten
            }
            on_list[i / 64] |= 1 << (i % 64);
            let next = listed(page, decode_link(key, (*b).next));
            if next.is_null() && (*b).next != encode_link(key, core::ptr::null_mut()) {
                return 0; // a link leads out of the page's blocks
            }
            b = next;
        }
        let is_on_list = |i: usize| on_list[i / 64] >> (i % 64) & 1 != 0;
        // The head stays: blocks the owner frees from now on link to it.
        let keep = if keep_head { index(head) + 1 } else { 0 };
        let mut carved = capacity;
        while carved > keep && is_on_list(carved - 1) {
            carved -= 1;
        }
        let (from, to) = (start + carved * block_size, start + capacity * block_size);
        let (lo, hi) = (from.next_multiple_of(page_size), to & !(page_size - 1));
        if hi <= lo {
            return 0;
        }
        let (mut prev, mut b) = (head, decode_link(key, (*head).next));
        while !b.is_null() {
            let next = decode_link(key, (*b).next);
            if index(b) < carved {
                (*prev).next = encode_link(key, b);
                prev = b;
            }
            b = next;
        }
        (*prev).next = encode_link(key, core::ptr::null_mut());
        (*page).capacity = carved as u32;
        let fresh = (*page).flags.has(PageFlags::FRESH);
        if fresh {
            (from as *mut u8).write_bytes(0, lo - from);
            (hi as *mut u8).write_bytes(0, to - hi);
        }
        if discard(lo as *mut u8, hi - lo) {
            return hi - lo;
        }
        if fresh {
            (lo as *mut u8).write_bytes(0, hi - lo);
        }
        0
    }
}

/// A digest of what [`discard_page_insides`] would walk on `page`: the
/// lists' heads.
///
/// # Safety
/// As for [`discard_page_insides`].
unsafe fn digest_of(page: *const Page) -> u64 {
    // SAFETY: guaranteed by the caller.
    let (local, remote) = unsafe {
        (
            Page::local_free_of(page) as u64,
            (*page).thread_free.load(Ordering::Relaxed) as u64,
        )
    };
    (page as u64 ^ local.rotate_left(21) ^ remote.rotate_left(42))
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// True when a first page may be reset (see the module documentation):
/// its `free` list is empty (read with Acquire, first), and it holds no
/// live block.
///
/// # Safety
/// As for [`discard_page_insides`].
pub(crate) unsafe fn resettable(page: *const Page) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe { Page::free_acquire(page).is_null() && holds_no_live_block(page) }
}

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Trims every page's freed tail (not with `secure`) and discards the
    /// insides of the free blocks on the `local_free` and `thread_free`
    /// lists of every page whose blocks are larger than a memory page (see
    /// the module documentation), unless those lists' heads are where they
    /// were at the previous call; returns the bytes given back.
    ///
    /// # Safety
    /// As for [`Heap::release_while_owner_idle`].
    pub(crate) unsafe fn discard_idle_insides(&mut self) -> usize {
        let page_size = self.os().page_size();
        let mut digest = 0u64;
        // SAFETY: (the three walks) guaranteed by the caller; queued pages
        // are live pages of this heap.
        unsafe { self.for_each_page_above(0, |p| digest = digest.wrapping_add(digest_of(p))) };
        if digest == self.idle_discard_digest {
            return 0;
        }
        self.idle_discard_digest = digest;
        let mut bytes = 0;
        let os = self.store.os();
        let discard = |p: *mut u8, len: usize| {
            // SAFETY: free memory that nobody uses until the owner's next
            // slow path, committed memory of this `Os`.
            unsafe { os.discard_contents(p, len) }
        };
        if !cfg!(feature = "secure") {
            // SAFETY: as above.
            unsafe {
                self.for_each_page_above(0, |p| {
                    bytes += trim_page_tail(p, page_size, discard);
                })
            };
        }
        // SAFETY: as above.
        unsafe {
            self.for_each_page_above(page_size, |p| {
                bytes += discard_page_insides(p, page_size, discard)
            })
        };
        bytes
    }

    /// Resets each class queue's first page that holds no live block and
    /// whose `free` list is empty to a page with nothing carved and gives
    /// its blocks' memory back (see the module documentation); returns the
    /// bytes given back.
    ///
    /// # Safety
    /// As for [`Heap::release_while_owner_idle`].
    pub(crate) unsafe fn reset_idle_first_pages(&mut self) -> usize {
        if cfg!(feature = "secure") {
            // (The freed tags must stay: see the module documentation.)
            return 0;
        }
        let mut bytes = 0;
        for c in 0..CLASS_COUNT {
            let page = self.pages.first(c);
            if !page.is_null() {
                // SAFETY: guaranteed by the caller; a queued page of ours.
                bytes += unsafe { self.reset_idle_first_page(page) };
            }
        }
        bytes
    }

    /// [`Heap::reset_idle_first_pages`] for one first page.
    ///
    /// # Safety
    /// As for [`Heap::release_while_owner_idle`]; `page` is a class queue's
    /// first page of this heap.
    unsafe fn reset_idle_first_page(&mut self, page: *mut Page) -> usize {
        // SAFETY: guaranteed by the caller. `free` first, then the counts
        // (see the module documentation); once both say so, nothing but
        // this thread reaches the page's lists, counts and blocks.
        unsafe {
            if (*page).capacity == 0 || !resettable(page) {
                return 0;
            }
            let (start, block_size, capacity) =
                ((*page).start as usize, (*page).block_size, (*page).capacity);
            let (_, remote) = (*page).take_remote();
            let collected = remote.unwrap_or(0);
            self.counts.remote_collected(collected as u64);
            Page::set_used(page, 0);
            Page::set_local_free(page, core::ptr::null_mut());
            self.flush_page(page);
            (*page).capacity = 0;
            (*page)
                .flags
                .remove(PageFlags::FRESH.with(PageFlags::FREE_IS_ZERO));
            let page_size = self.os().page_size();
            let lo = start.next_multiple_of(page_size);
            let hi = (start + capacity as usize * block_size) & !(page_size - 1);
            if hi <= lo || !self.store.os().discard_contents(lo as *mut u8, hi - lo) {
                return 0;
            }
            hi - lo
        }
    }

    /// Calls `f` on every page of a size class in a queue of this heap
    /// whose blocks are larger than `min_block` bytes.
    ///
    /// # Safety
    /// As for [`Heap::release_while_owner_idle`].
    unsafe fn for_each_page_above(&self, min_block: usize, mut f: impl FnMut(*mut Page)) {
        let firsts = (0..CLASS_COUNT)
            .map(|c| self.pages.first(c))
            .chain(core::iter::once(self.pages.full_first()));
        for mut p in firsts {
            while !p.is_null() {
                // SAFETY: queued pages are live pages of this heap, and the
                // caller excludes the slow paths that relink them.
                unsafe {
                    if (*p).class.is_small() && (*p).block_size > min_block {
                        f(p);
                    }
                    p = (*p).next;
                }
            }
        }
    }
}
