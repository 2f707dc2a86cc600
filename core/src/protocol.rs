//! Hooks for the loom models in `loom-tests/`: they drive the real
//! remote-free protocol of a page (`Page::push_remote`, the batched frees of
//! `RemoteBuffer` with `Page::push_remote_chain`, `Page::take_remote`,
//! `Page::merge_frees`) over blocks the model lays out itself, so that loom
//! checks this crate's code rather than a copy of it.
//!
//! Compiled only under `--cfg loom` and hidden from the documentation: it is
//! no part of masu-core's API. Nothing here adds to the algorithm; the
//! owner-only helpers (`ProtocolPage::pop_free`, `ProtocolPage::free_local`)
//! do what `Heap::take_block` and `Heap::dealloc` do to a page.

use crate::page::{Block, Page};
use crate::remote_buffer::RemoteBuffer;
use crate::sync::{AtomicU32, AtomicUsize};
use core::cell::UnsafeCell;

/// A page descriptor over blocks that the caller provides, shared by the
/// page's owner and the threads that free its blocks, like a descriptor in a
/// segment header that every thread reaches through a block pointer.
pub struct ProtocolPage {
    page: UnsafeCell<Page>,
}

// SAFETY: as for a descriptor in a segment header: any thread may call the
// safe methods, which only touch the atomic `thread_free` list and the
// immutable layout fields; the methods that touch the owner's fields are
// `unsafe` and require that only the page's one owner calls them.
unsafe impl Sync for ProtocolPage {}
// SAFETY: the descriptor holds no thread-bound state; its raw pointers point
// into memory the caller keeps alive for as long as the page is used.
unsafe impl Send for ProtocolPage {}

impl ProtocolPage {
    /// A small page of `count` blocks of `block_size` bytes from `start`, all
    /// carved and handed out (`used == count`, `free` empty), owned by the heap
    /// with id `owner`, with free-list key `key` (used by the `checks`
    /// encoding).
    ///
    /// # Safety
    /// `[start, start + count * block_size)` is valid for reads and writes
    /// for as long as the page is used, `block_size` is a multiple of the
    /// word size and at least one word.
    pub unsafe fn new(
        start: *mut u8,
        block_size: usize,
        count: u32,
        owner: usize,
        key: usize,
    ) -> ProtocolPage {
        let mut page = Page::new();
        page.class = crate::page::PageClass::small(0);
        page.start = start;
        page.block_size = block_size;
        page.capacity = count;
        page.reserved = count;
        page.used = AtomicU32::new(count);
        page.slice_count = 1;
        page.key = key;
        #[cfg(all(feature = "secure", not(feature = "checks")))]
        crate::secure::derive_page_fields(&mut page);
        page.owner = AtomicUsize::new(owner);
        ProtocolPage {
            page: UnsafeCell::new(page),
        }
    }

    /// The real `Page::push_remote`: a free by a thread that does not own
    /// the page.
    ///
    /// # Safety
    /// `block` is a block of this page that is handed out and no longer used.
    pub unsafe fn push_remote(&self, block: *mut u8) {
        // SAFETY: shared access like `Heap::dealloc`'s: `push_remote` reads
        // the fixed key and touches only the atomic list and the block, which
        // the caller gives up; it forms no reference to the page.
        unsafe { Page::push_remote(self.page.get(), block as *mut Block) }
    }

    /// The real `Page::take_remote`: takes the whole `thread_free` list.
    /// Owner only (it is safe because it only touches the atomic list).
    pub fn take_remote(&self) -> *mut u8 {
        // SAFETY: shared access to the atomic list only.
        unsafe { (*self.page.get()).take_remote().0 as *mut u8 }
    }

    /// The real `remote_word`: the `thread_free` word of a list starting at
    /// `head` that holds `count` blocks (the count is kept in the word only
    /// on a page that counts its remote frees, `Page::counts_remote`).
    pub fn remote_word(&self, head: *mut u8, count: u32) -> usize {
        // SAFETY: the page is live; `counts_remote` reads fixed fields.
        let counted = unsafe { Page::counts_remote(self.page.get()) };
        crate::page::remote_word(head as *mut Block, count, counted)
    }

    /// The real `remote_word_parts`: the list head and count of a word.
    pub fn remote_word_parts(&self, word: usize) -> (*mut u8, u32) {
        // SAFETY: as in `remote_word`.
        let counted = unsafe { Page::counts_remote(self.page.get()) };
        let (head, count) = crate::page::remote_word_parts(word, counted);
        (head as *mut u8, count)
    }

    /// True when this page's `thread_free` word counts its blocks.
    pub fn counts_remote(&self) -> bool {
        // SAFETY: as in `remote_word`.
        unsafe { Page::counts_remote(self.page.get()) }
    }

    /// The real `Page::has_remote`.
    pub fn has_remote(&self) -> bool {
        // SAFETY: shared access to the atomic list only.
        unsafe { (*self.page.get()).has_remote() }
    }

    /// The real `Page::merge_frees`, with the validation `Heap::merge_and_fold`
    /// passes it: collects `thread_free` and `local_free` so that `free` is
    /// empty only if both were (the remote list may wait on `local_free`);
    /// returns the number of remote frees collected.
    ///
    /// # Safety
    /// Only the page's owner calls it, never two threads at once.
    pub unsafe fn merge_frees(&self) -> u32 {
        // SAFETY: the caller is the only owner; other threads touch only the
        // atomic list, as with a page of a heap. The page is in use.
        unsafe {
            Page::merge_frees(self.page.get(), |_pg: *mut Page, _b: *mut Block| {
                #[cfg(feature = "checks")]
                // SAFETY: `collect` passes its own, live page.
                crate::block_check::validate_remote(&*_pg, _b);
            })
        }
    }

    /// Pops the first block of `free` as `Heap::take_block` does (null when
    /// `free` is empty) and counts it used.
    ///
    /// # Safety
    /// Only the page's owner calls it.
    pub unsafe fn pop_free(&self) -> *mut u8 {
        let p = self.page.get();
        // SAFETY: the caller is the only owner; written through the raw
        // pointer as `Heap::take_block` does; blocks on `free` are free
        // blocks of this page.
        unsafe {
            let block = Page::free_of(p);
            if block.is_null() {
                return block as *mut u8;
            }
            Page::set_used(p, Page::used_of(p) + 1);
            Page::publish_free(p, (*p).decode((*block).next));
            block as *mut u8
        }
    }

    /// An owner's free, as `Heap::dealloc_fast` does it when `owner`
    /// matches: the real `Page::push_local`, then one block less in use
    /// with `Page::publish_used`.
    ///
    /// # Safety
    /// Only the page's owner calls it; `block` is a handed-out block of this
    /// page that is no longer used.
    pub unsafe fn free_local(&self, block: *mut u8) {
        let p = self.page.get();
        // SAFETY: the caller is the only owner; `block` is forwarded from
        // the caller.
        unsafe {
            let used = Page::used_of(p) - 1;
            Page::push_local(p, block as *mut Block);
            Page::publish_used(p, used);
        }
    }

    /// The broken twin of [`ProtocolPage::free_local`] that the loom model
    /// of the idle release catches: the count is lowered before the block
    /// is pushed, so a purger may take the page between the two. `between`
    /// runs between them (the model yields there: loom preempts only at its
    /// own operations, and the push is plain memory).
    ///
    /// # Safety
    /// As for [`ProtocolPage::free_local`].
    #[doc(hidden)]
    pub unsafe fn broken_free_local_count_first(&self, block: *mut u8, between: impl FnOnce()) {
        let p = self.page.get();
        // SAFETY: as in `free_local`.
        unsafe {
            Page::publish_used(p, Page::used_of(p) - 1);
            between();
            Page::push_local(p, block as *mut Block);
        }
    }

    /// The broken twin of [`ProtocolPage::free_local`] with a Relaxed
    /// count: a purger that reads it is not ordered after the free.
    ///
    /// # Safety
    /// As for [`ProtocolPage::free_local`].
    #[doc(hidden)]
    pub unsafe fn broken_free_local_relaxed(&self, block: *mut u8) {
        let p = self.page.get();
        // SAFETY: as in `free_local`.
        unsafe {
            let used = Page::used_of(p) - 1;
            Page::push_local(p, block as *mut Block);
            Page::set_used(p, used);
        }
    }

    /// The background purger's discard of free blocks' insides
    /// (`idle_discard::discard_page_insides`), with memory pages of
    /// `page_size` bytes: `discard` gets each range.
    ///
    /// # Safety
    /// As for [`ProtocolPage::only_remote_frees`].
    pub unsafe fn discard_insides(
        &self,
        page_size: usize,
        discard: impl FnMut(*mut u8, usize),
    ) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe {
            crate::idle_discard::discard_page_insides(
                self.page.get(),
                page_size,
                gives_back(discard),
            )
        }
    }

    /// The background purger's check before it resets a first page
    /// (`idle_discard::resettable`): its `free` list is empty and it holds
    /// no live block.
    ///
    /// # Safety
    /// As for [`ProtocolPage::only_remote_frees`].
    pub unsafe fn resettable(&self) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { crate::idle_discard::resettable(self.page.get()) }
    }

    /// The broken twin of [`ProtocolPage::pop_free`] that the loom model of
    /// the first-page reset catches: the new `free` is stored before the
    /// count, so a purger may find the list empty and the count not yet
    /// raised, and take a page whose block was just handed out.
    ///
    /// # Safety
    /// As for [`ProtocolPage::pop_free`].
    #[doc(hidden)]
    pub unsafe fn broken_pop_free_first(&self) -> *mut u8 {
        let p = self.page.get();
        // SAFETY: as in `pop_free`.
        unsafe {
            let block = Page::free_of(p);
            if block.is_null() {
                return block as *mut u8;
            }
            Page::publish_free(p, (*p).decode((*block).next));
            Page::set_used(p, Page::used_of(p) + 1);
            block as *mut u8
        }
    }

    /// The background purger's trim of the page's freed tail and parking of
    /// a freed run (`idle_discard::trim_page_tail`), with memory pages of
    /// `page_size` bytes: `discard` gets the ranges given back.
    ///
    /// # Safety
    /// As for [`ProtocolPage::only_remote_frees`].
    pub unsafe fn trim_tail(
        &self,
        page_size: usize,
        discard: impl FnMut(*mut u8, usize) -> bool,
    ) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { crate::idle_discard::trim_page_tail(self.page.get(), page_size, discard) }
    }

    /// The broken twin of [`ProtocolPage::trim_tail`] that the loom model
    /// catches: the list's head may go with the tail, though the owner's
    /// next free links to it.
    ///
    /// # Safety
    /// As for [`ProtocolPage::trim_tail`].
    #[doc(hidden)]
    pub unsafe fn broken_trim_tail_with_head(
        &self,
        page_size: usize,
        discard: impl FnMut(*mut u8, usize) -> bool,
    ) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { crate::idle_discard::trim_tail(self.page.get(), page_size, false, discard) }
    }

    /// The owner's slow path when `free` is empty: `Page::extend`, which
    /// carves the parked run first; false when nothing is left to carve.
    ///
    /// # Safety
    /// Only the thread that holds the page's slow paths calls it, with the
    /// page's `free` list empty.
    pub unsafe fn extend(&self) -> bool {
        // SAFETY: guaranteed by the caller.
        unsafe {
            Page::extend(
                self.page.get(),
                crate::Config::VIRTUAL_MEMORY.shuffle_window,
            )
        }
    }

    /// Blocks carved (the page's `capacity`).
    ///
    /// # Safety
    /// Only the thread that holds the page's slow paths calls it.
    pub unsafe fn capacity(&self) -> u32 {
        // SAFETY: guaranteed by the caller.
        unsafe { (*self.page.get()).capacity }
    }

    /// The broken twin of [`ProtocolPage::discard_insides`] that the loom
    /// model catches: it walks `free` too, whose blocks the owner's fast
    /// path may pop and use meanwhile.
    ///
    /// # Safety
    /// As for [`ProtocolPage::discard_insides`].
    #[doc(hidden)]
    pub unsafe fn broken_discard_insides_with_free(
        &self,
        page_size: usize,
        discard: impl FnMut(*mut u8, usize),
    ) -> usize {
        let p = self.page.get();
        // SAFETY: forwarded from the caller (the twin's read of `free` is
        // the bug the model catches).
        unsafe {
            let [local, remote] = crate::idle_discard::lists_off_free(p);
            crate::idle_discard::discard_lists(
                p,
                page_size,
                [Page::free_of(p), local, remote],
                gives_back(discard),
            )
        }
    }

    /// The broken twin of [`ProtocolPage::free_local`] whose push onto
    /// `local_free` is Relaxed: a purger that walks the list is not ordered
    /// after the owner's last use of the block.
    ///
    /// # Safety
    /// As for [`ProtocolPage::free_local`].
    #[doc(hidden)]
    pub unsafe fn broken_free_local_push_relaxed(&self, block: *mut u8) {
        let p = self.page.get();
        // SAFETY: as in `free_local`.
        unsafe {
            let used = Page::used_of(p) - 1;
            let b = block as *mut Block;
            (*b).next = crate::page::encode_link((*p).key, Page::local_free_of(p));
            Page::set_local_free(p, b);
            Page::publish_used(p, used);
        }
    }

    /// The background purger's check (`idle_release::only_remote_frees`):
    /// true when no block of the page is live, read while the owner may be
    /// freeing blocks of it on its fast path.
    ///
    /// # Safety
    /// The caller stands for a heap's slow paths (it excludes the owner's
    /// slow paths; the owner may run [`ProtocolPage::free_local`]).
    pub unsafe fn only_remote_frees(&self) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { crate::idle_release::only_remote_frees(self.page.get()) }
    }

    /// The background purger's check before it frees the first page of a
    /// class above the direct table (`idle_release::holds_no_live_block`):
    /// true when no block of the page is live, remote frees or none.
    ///
    /// # Safety
    /// As for [`ProtocolPage::only_remote_frees`].
    pub unsafe fn holds_no_live_block(&self) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { crate::idle_release::holds_no_live_block(self.page.get()) }
    }

    /// Blocks handed out and not known freed (pending remote frees count as
    /// used until collected).
    ///
    /// # Safety
    /// Only the page's owner calls it.
    pub unsafe fn used(&self) -> u32 {
        // SAFETY: the caller is the only owner.
        unsafe { Page::used_of(self.page.get()) }
    }

    /// True when the owner's `free` and `local_free` lists are both empty.
    ///
    /// # Safety
    /// Only the page's owner calls it.
    pub unsafe fn owner_lists_empty(&self) -> bool {
        // SAFETY: the caller is the only owner.
        let p = unsafe { &*self.page.get() };
        p.free_list().is_null() && p.local_list().is_null()
    }

    /// The page's `thread_free` list head, for models of broken variants of
    /// the protocol.
    pub fn thread_free(&self) -> &AtomicUsize {
        // SAFETY: shared access to an atomic field.
        unsafe { &(*self.page.get()).thread_free }
    }

    /// The page's `owner` id.
    pub fn owner(&self) -> &AtomicUsize {
        // SAFETY: shared access to an atomic field.
        unsafe { &(*self.page.get()).owner }
    }

    /// The real `encode_link` of a free-list link, with this page's key.
    pub fn encode(&self, next: *mut u8) -> usize {
        // SAFETY: `key` is set at construction and never changes.
        crate::page::encode_link(unsafe { (*self.page.get()).key }, next as *mut Block)
    }

    /// The real `Page::decode` of a free-list link.
    pub fn decode(&self, raw: usize) -> *mut u8 {
        // SAFETY: `key` is set at construction and never changes.
        unsafe { (*self.page.get()).decode(raw) as *mut u8 }
    }
}

/// A freeing heap's batch of remote frees: the real `RemoteBuffer`, as
/// `Heap::dealloc` uses it for blocks of another heap's page.
pub struct ProtocolBuffer(RemoteBuffer);

impl Default for ProtocolBuffer {
    fn default() -> Self {
        ProtocolBuffer(RemoteBuffer::EMPTY)
    }
}

impl ProtocolBuffer {
    /// The real `RemoteBuffer::free`: adds `block` of `page` to the chain,
    /// publishing the chain first if it is for another page (or once it is
    /// full).
    ///
    /// # Safety
    /// `block` is a handed-out block of `page` that is no longer used, and
    /// the caller does not own `page`.
    pub unsafe fn free(&mut self, page: &ProtocolPage, block: *mut u8) {
        // SAFETY: forwarded from the caller; the buffer only reads the
        // page's fixed fields and pushes onto its atomic list.
        unsafe { self.0.free(page.page.get(), block as *mut Block, 64, true) }
    }

    /// The real `RemoteBuffer::flush`: publishes the chain with one CAS.
    pub fn flush(&mut self) {
        self.0.flush()
    }

    /// Blocks waiting in the chain.
    pub fn len(&self) -> u32 {
        self.0.len()
    }

    /// True when no block waits.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
}

/// A model's `discard`, which records the ranges, as one that gave them
/// back (returns true).
fn gives_back(mut discard: impl FnMut(*mut u8, usize)) -> impl FnMut(*mut u8, usize) -> bool {
    move |p, len| {
        discard(p, len);
        true
    }
}
