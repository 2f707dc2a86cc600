//! Remote frees batched per page.
//!
//! A block freed through a heap that does not own its page goes onto the
//! page's atomic `thread_free` list. Pushed one at a time, that is one CAS
//! per free on a cache line the page's owner writes on every allocation
//! (the descriptor's `free` and `used` sit beside `thread_free`), so the
//! line moves between the two cores on nearly every operation: that was a
//! quarter of the time of a producer/consumer program (mimalloc-bench's
//! xmalloc-test).
//!
//! Instead, the freeing heap keeps one *chain*: blocks freed to the same
//! page one after another are linked privately (plain stores, links encoded
//! with the page's key as on any free list), and the chain is published with
//! one CAS ([`Page::push_remote_chain`]) when
//!
//! * a remote free goes to another page,
//! * the chain holds `Config::remote_batch` blocks (64 by default; 1 turns
//!   batching off),
//! * the heap takes any slow path (`Heap::on_slow_event`), collects, or is
//!   dropped (so a thread's exit publishes it: the std shim collects there).
//!
//! Only small pages are batched; a large or huge block is pushed at once,
//! so that its memory is never held back. With the `checks` feature nothing
//! is batched: the owner confirms a suspected double free by scanning the
//! page's own lists, and a block waiting in another heap's chain is on none
//! of them.
//!
//! With `secure`, whose blocks are carved in a random order, the chain is
//! kept as a set of block numbers ([`BlockSet`]) and linked in address
//! order when it is published, so that the owner pops it in that order
//! (see `block_set.rs` for why; `Config::remote_in_order`, on by default,
//! turns it off); a block numbered past the set is pushed at once.
//!
//! # Invariants
//! * The chain's blocks are all blocks of `page`, a small page of *another*
//!   heap, each freed once and not yet published; `count` is their number,
//!   `head` the last freed, `tail` the first, `tail`'s link unset (an
//!   ordered chain, with `secure`: its blocks are the set's, unlinked, and
//!   `flush` links them and sets `head` and `tail`).
//! * While blocks of a page wait here they still count as used by their
//!   owner, so the page cannot be freed or change owner: `page` stays valid.
//! * What the owner sees is as before: whole, linked lists of freed blocks
//!   appear on `thread_free` with a Release CAS; it takes them with an
//!   Acquire swap. Loom checks the chain push (`loom-tests/`).

#[cfg(all(feature = "secure", not(feature = "checks")))]
use crate::block_set::BlockSet;
use crate::page::{Block, Page};
use core::ptr;

/// One heap's chain of blocks freed to another heap's page, not yet
/// published. See the module documentation.
pub(crate) struct RemoteBuffer {
    page: *const Page,
    head: *mut Block,
    tail: *mut Block,
    count: u32,
    /// With `secure`, when `ordered`: the chain's block numbers, linked at
    /// `flush` (`head` and `tail` are set there).
    #[cfg(all(feature = "secure", not(feature = "checks")))]
    set: BlockSet,
    /// With `secure`: whether this chain is kept in `set`
    /// ([`Config::remote_in_order`](crate::Config) when it began).
    #[cfg(all(feature = "secure", not(feature = "checks")))]
    ordered: bool,
}

impl RemoteBuffer {
    /// No chain.
    pub const EMPTY: RemoteBuffer = RemoteBuffer {
        page: ptr::null(),
        head: ptr::null_mut(),
        tail: ptr::null_mut(),
        count: 0,
        #[cfg(all(feature = "secure", not(feature = "checks")))]
        set: BlockSet::EMPTY,
        #[cfg(all(feature = "secure", not(feature = "checks")))]
        ordered: false,
    };

    /// Frees `block` of `page`, a page owned by another heap: adds it to the
    /// chain (publishing the chain first if it is for another page, and
    /// after the block if the chain then holds `batch` blocks), or pushes it
    /// at once if the page is not a small page. With `secure` and
    /// `in_order`, a chain begun here is linked in address order when it is
    /// published.
    ///
    /// # Safety
    /// `block` is a live block of `page`, which another heap owns, given up
    /// by the caller; the caller is this buffer's heap's owner.
    #[inline]
    pub unsafe fn free(
        &mut self,
        page: *const Page,
        block: *mut Block,
        batch: u32,
        in_order: bool,
    ) {
        // SAFETY: `page` is a live descriptor; `class` is a fixed field.
        if cfg!(feature = "checks") || batch <= 1 || unsafe { !(*page).class.is_small() } {
            // SAFETY: forwarded from the caller.
            unsafe { Page::push_remote_chain(page, block, block, 1) };
            return;
        }
        if self.page != page {
            self.flush();
            self.page = page;
            self.tail = block;
            #[cfg(all(feature = "secure", not(feature = "checks")))]
            {
                self.ordered = in_order;
            }
        }
        #[cfg(not(all(feature = "secure", not(feature = "checks"))))]
        let _ = in_order;
        #[cfg(all(feature = "secure", not(feature = "checks")))]
        if self.ordered {
            // SAFETY: `page` is a live small page and `block` one of its
            // blocks.
            let n = unsafe { crate::secure::block_number(&*page, block) };
            if !self.set.insert(n) {
                // SAFETY: forwarded from the caller.
                unsafe { Page::push_remote_chain(page, block, block, 1) };
                return;
            }
            self.count += 1;
            if self.count >= batch {
                self.flush();
            }
            return;
        }
        if self.count != 0 {
            // SAFETY: `block` is ours until published; the key is a fixed
            // field of the page.
            unsafe { (*block).next = crate::page::encode_link((*page).key, self.head) };
        }
        self.head = block;
        self.count += 1;
        if self.count >= batch {
            self.flush();
        }
    }

    /// Publishes the chain, if any, with one CAS on its page's list.
    #[inline]
    pub fn flush(&mut self) {
        if self.count == 0 {
            return;
        }
        #[cfg(all(feature = "secure", not(feature = "checks")))]
        if self.ordered {
            // SAFETY: the invariants: the set's blocks are unpublished
            // blocks of `page`, which is still live.
            unsafe { self.link_in_order() };
        }
        debug_assert!(!self.page.is_null() && !self.head.is_null() && !self.tail.is_null());
        // SAFETY: the invariants: the chain's blocks are linked, unpublished
        // blocks of `page`, which is still live.
        unsafe { Page::push_remote_chain(self.page, self.head, self.tail, self.count) };
        // Field by field: with `secure` the set is empty already (drained)
        // and `ordered` is set when the next chain begins.
        self.page = ptr::null();
        self.head = ptr::null_mut();
        self.tail = ptr::null_mut();
        self.count = 0;
    }

    /// Links the blocks of the set (all but the last) in address order into
    /// the chain from `head` to `tail`, and empties the set.
    ///
    /// # Safety
    /// The set holds `count` (at least one) unpublished blocks of the live
    /// small page `page`.
    #[cfg(all(feature = "secure", not(feature = "checks")))]
    #[inline(always)]
    unsafe fn link_in_order(&mut self) {
        // SAFETY: guaranteed by the caller; `start`, `block_size` and `key`
        // are fixed fields of a page in use.
        let (start, size, key) = unsafe {
            (
                (*self.page).start,
                (*self.page).block_size,
                (*self.page).key,
            )
        };
        let (mut head, mut tail) = (ptr::null_mut::<Block>(), ptr::null_mut::<Block>());
        self.set.drain(|n| {
            let b = start.wrapping_add(n * size) as *mut Block;
            if tail.is_null() {
                head = b;
            } else {
                // SAFETY: `tail` is a block of the set, ours until published.
                unsafe { (*tail).next = crate::page::encode_link(key, b) };
            }
            tail = b;
        });
        (self.head, self.tail) = (head, tail);
    }

    /// Blocks waiting in the chain.
    #[cfg(loom)]
    pub fn len(&self) -> u32 {
        self.count
    }
}
