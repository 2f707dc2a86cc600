//! The insides of free blocks of an idle heap given back to the `Os`
//! (`Os::discard_contents`), while the owner is alive: what
//! [`Heap::release_while_owner_idle`] does to the pages it may not free
//! (the first page of each class queue, which the owner's fast paths use,
//! and pages that still hold live blocks).
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
//! Idle heaps are looked at again and again (the std shim's purger passes
//! once a second); the heap keeps a digest of the lists' heads it last
//! discarded under ([`Heap::idle_discard_digest`]) and does nothing while
//! they have not moved. The loom model `loom-tests/tests/idle_discard.rs`
//! runs [`discard_page_insides`] against an owner's fast paths.

use crate::heap::Heap;
use crate::os::Os;
use crate::page::{decode_link, remote_word_parts, Block, Page};
use crate::size_class::CLASS_COUNT;
use crate::stats::CounterSink;
use crate::sync::Ordering;

/// The bytes at a free block's start that are never discarded: its link
/// and its freed tag.
pub(crate) const KEPT_BYTES: usize = 2 * core::mem::size_of::<usize>();

/// Calls `discard(start, len)` for the memory pages (of `page_size` bytes)
/// that lie wholly inside a free block of `page` on its `local_free` or
/// `thread_free` list, past the block's first [`KEPT_BYTES`]; returns the
/// bytes passed.
///
/// # Safety
/// `page` is a live page whose owner's slow paths the caller excludes (the
/// owner may run its fast paths, other threads may push remote frees);
/// `discard` only gives the memory back (see the module documentation).
pub(crate) unsafe fn discard_page_insides(
    page: *const Page,
    page_size: usize,
    discard: impl FnMut(*mut u8, usize),
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
    mut discard: impl FnMut(*mut u8, usize),
) -> usize {
    // SAFETY: guaranteed by the caller; `key` and `block_size` are fixed
    // while the page is in use.
    let (key, block_size) = unsafe { ((*page).key, (*page).block_size) };
    if block_size <= page_size {
        return 0;
    }
    let mut bytes = 0;
    for mut b in heads {
        while !b.is_null() {
            let lo = (b as usize + KEPT_BYTES).next_multiple_of(page_size);
            let hi = (b as usize + block_size) & !(page_size - 1);
            if hi > lo {
                discard(lo as *mut u8, hi - lo);
                bytes += hi - lo;
            }
            // SAFETY: `b` is a free block on one of the lists, whose link
            // nobody writes until the owner's next slow path.
            b = decode_link(key, unsafe { (*b).next });
        }
    }
    bytes
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

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Discards the insides of the free blocks on the `local_free` and
    /// `thread_free` lists of every page of this heap whose blocks are
    /// larger than a memory page (see the module documentation), unless
    /// those lists' heads are where they were at the previous call; returns
    /// the bytes given back.
    ///
    /// # Safety
    /// As for [`Heap::release_while_owner_idle`].
    pub(crate) unsafe fn discard_idle_insides(&mut self) -> usize {
        let page_size = self.os().page_size();
        let mut digest = 0u64;
        // SAFETY: (both walks) guaranteed by the caller; queued pages are
        // live pages of this heap.
        unsafe {
            self.for_each_large_block_page(page_size, |p| {
                digest = digest.wrapping_add(digest_of(p))
            })
        };
        if digest == self.idle_discard_digest {
            return 0;
        }
        self.idle_discard_digest = digest;
        let mut bytes = 0;
        let os = self.store.os();
        let discard = |p: *mut u8, len: usize| {
            // SAFETY: the inside of a free block that nobody uses until the
            // owner's next slow path, in committed memory of this `Os`.
            unsafe { os.discard_contents(p, len) };
        };
        // SAFETY: as above.
        unsafe {
            self.for_each_large_block_page(page_size, |p| {
                bytes += discard_page_insides(p, page_size, discard)
            })
        };
        bytes
    }

    /// Calls `f` on every page in a queue of this heap whose blocks are
    /// larger than `page_size`.
    ///
    /// # Safety
    /// As for [`Heap::release_while_owner_idle`].
    unsafe fn for_each_large_block_page(&self, page_size: usize, mut f: impl FnMut(*const Page)) {
        let firsts = (0..CLASS_COUNT)
            .map(|c| self.pages.first(c))
            .chain(core::iter::once(self.pages.full_first()));
        for mut p in firsts {
            while !p.is_null() {
                // SAFETY: queued pages are live pages of this heap, and the
                // caller excludes the slow paths that relink them.
                unsafe {
                    if (*p).class.is_small() && (*p).block_size > page_size {
                        f(p);
                    }
                    p = (*p).next;
                }
            }
        }
    }
}
