//! The heap's page queues: one per size class, whose first page is the one
//! allocation takes from; the `full` queue (small pages without a free
//! block, and every large and huge page); the allocation fast path's direct
//! table, kept equal to the class queues' heads; and the only transitions
//! between them ([`PageQueues::enter_full`], [`PageQueues::leave_full`]).
//!
//! Invariants (checked by `Heap::assert_valid`):
//! * a page is in at most one queue; `PageFlags::IN_QUEUE` is set exactly on the
//!   pages of a class queue and `PageFlags::IN_FULL` exactly on those of `full`;
//! * direct entry `i` is the first page of class `CLASS_BY_WORDS[i]`, or
//!   `EMPTY_PAGE` when that queue is empty;
//! * bit `c` of `lone_mask` is set exactly when queue `c` holds one page,
//!   and `PageFlags::KEEP` is set on that page exactly when lone pages are
//!   kept and bit `c` of `unkept_mask` is clear (set when the background
//!   purger left the page alone, [`PageQueues::remove_unreached`]: it
//!   does not write the flags of a first page, which the owner's fast free
//!   reads; the queue's next change sets `KEEP` and clears the bit);
//! * `full_live` is the sum of `stat_used * block_size` over `full`.
//!
//! Only this file changes these fields.

use crate::page::{Page, PageFlags};
use crate::size_class::{class_size, CLASS_BY_WORDS, CLASS_COUNT, DIRECT_MAX};
use core::ptr;

/// Entries of the direct table: one per 8 bytes of request up to
/// `DIRECT_MAX`.
pub(crate) const DIRECT_LEN: usize = DIRECT_MAX / 8 + 1;

/// What a direct entry of a class without pages points to: a zeroed block
/// the size of a descriptor, whose `free` reads as null, so the fast path
/// falls through to the slow path without a null check of its own. Nothing
/// ever writes to it (no block belongs to it, and the slow paths work on the
/// class queues, never on direct entries).
#[repr(C, align(64))]
struct EmptyPage([usize; core::mem::size_of::<Page>().div_ceil(core::mem::size_of::<usize>())]);

static_assertions::const_assert!(core::mem::align_of::<Page>() <= 64);
// `PageQueues::lone_mask` has a bit per class.
static_assertions::const_assert!(CLASS_COUNT <= 128);

/// The page a direct entry of a class without pages points to.
pub(crate) const EMPTY_PAGE: *mut Page =
    &EmptyPage([0; core::mem::size_of::<Page>().div_ceil(core::mem::size_of::<usize>())])
        as *const EmptyPage as *mut Page;

/// Sets or clears `PageFlags::KEEP` on `page`, writing only if it changes.
///
/// # Safety
/// `page` is a live page of the caller's heap.
unsafe fn set_keep(page: *mut Page, keep: bool) {
    // SAFETY: guaranteed by the caller (see "Access" on `Page`).
    unsafe {
        if (*page).flags.has(PageFlags::KEEP) != keep {
            if keep {
                (*page).flags.insert(PageFlags::KEEP);
            } else {
                (*page).flags.remove(PageFlags::KEEP);
            }
        }
    }
}

/// A doubly-linked list of pages through `Page::next`/`prev`.
#[derive(Clone, Copy)]
pub(crate) struct PageQueue {
    pub first: *mut Page,
    pub last: *mut Page,
}

impl PageQueue {
    pub const EMPTY: PageQueue = PageQueue {
        first: ptr::null_mut(),
        last: ptr::null_mut(),
    };

    /// # Safety
    /// `page` is valid and in no queue.
    pub unsafe fn push_front(&mut self, page: *mut Page) {
        // SAFETY: the caller guarantees `page` and the queue's pages are valid.
        unsafe {
            (*page).prev = ptr::null_mut();
            (*page).next = self.first;
            if self.first.is_null() {
                self.last = page;
            } else {
                (*self.first).prev = page;
            }
        }
        self.first = page;
    }

    /// # Safety
    /// `page` is valid and in no queue.
    pub unsafe fn push_back(&mut self, page: *mut Page) {
        // SAFETY: the caller guarantees `page` and the queue's pages are valid.
        unsafe {
            (*page).next = ptr::null_mut();
            (*page).prev = self.last;
            if self.last.is_null() {
                self.first = page;
            } else {
                (*self.last).next = page;
            }
        }
        self.last = page;
    }

    /// # Safety
    /// `page` is in this queue.
    pub unsafe fn remove(&mut self, page: *mut Page) {
        // SAFETY: the caller guarantees `page` is linked in this queue.
        unsafe {
            let (prev, next) = ((*page).prev, (*page).next);
            if prev.is_null() {
                self.first = next;
            } else {
                (*prev).next = next;
            }
            if next.is_null() {
                self.last = prev;
            } else {
                (*next).prev = prev;
            }
            (*page).next = ptr::null_mut();
            (*page).prev = ptr::null_mut();
        }
    }
}

/// Where the epoch tick's look at the class queues for other threads'
/// frees (`Heap::rescan_queues`) stands: the class it looks at, the steps
/// it took there, and the first page it rotated there (when that page
/// comes round again, the queue has been looked at whole).
#[derive(Clone, Copy)]
pub(crate) struct QueueRescan {
    /// The class queue looked at.
    pub class: u32,
    /// Pages looked at in it so far.
    pub steps: u32,
    /// The first page rotated in it (compared, never read).
    pub mark: *mut Page,
}

impl QueueRescan {
    /// At the first class.
    pub(crate) const START: QueueRescan = QueueRescan {
        class: 0,
        steps: 0,
        mark: ptr::null_mut(),
    };
}

/// Where a page goes in its class queue.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// First: the next allocation of the class takes from it.
    Front,
    /// Last.
    Back,
}

/// The heap's page queues (see the module documentation).
pub(crate) struct PageQueues {
    /// The allocation fast path's view of `queues`: entry `i` is the first
    /// page of the class of an `8 * i`-byte request (`CLASS_BY_WORDS[i]`),
    /// or `EMPTY_PAGE`. Kept first in the struct (and the struct first in
    /// the heap) so that the fast path reads it at a small offset.
    direct: [*mut Page; DIRECT_LEN],
    /// Pages with (possibly) free blocks, per class.
    queues: [PageQueue; CLASS_COUNT],
    /// Bit `c` set when class `c`'s queue holds exactly one page (the pages
    /// that the epoch tick looks at, see `free_idle_pages`).
    lone_mask: u128,
    /// Bit `c` set when class `c`'s lone page lacks `KEEP` because the
    /// background purger left it alone (see the module documentation).
    unkept_mask: u128,
    /// Pages without free blocks, plus all large and huge pages.
    full: PageQueue,
    /// Bytes of the blocks of pages in `full` as last folded into the
    /// heap's counters (`stat_used * block_size` summed): live bytes the
    /// heap knows for certain on its slow paths, to raise the peak by.
    #[cfg(feature = "stats")]
    full_live: usize,
    /// A page alone in its queue is kept when it empties (`PageFlags::KEEP`): the
    /// heap's purge delay is not 0.
    keep_lone: bool,
}

impl PageQueues {
    /// No pages; `keep_lone` as for the field.
    pub(crate) const fn new(keep_lone: bool) -> PageQueues {
        PageQueues {
            direct: [EMPTY_PAGE; DIRECT_LEN],
            queues: [PageQueue::EMPTY; CLASS_COUNT],
            lone_mask: 0,
            unkept_mask: 0,
            full: PageQueue::EMPTY,
            #[cfg(feature = "stats")]
            full_live: 0,
            keep_lone,
        }
    }

    /// Direct entry `idx`: a page of this heap or `EMPTY_PAGE`.
    ///
    /// # Safety
    /// `idx < DIRECT_LEN`.
    #[inline(always)]
    pub(crate) unsafe fn direct(&self, idx: usize) -> *mut Page {
        debug_assert!(idx < DIRECT_LEN);
        // SAFETY: guaranteed by the caller.
        unsafe { *self.direct.get_unchecked(idx) }
    }

    /// The first page of class `class`'s queue, or null.
    #[inline(always)]
    pub(crate) fn first(&self, class: usize) -> *mut Page {
        self.queues[class].first
    }

    /// The first page of `full`, or null.
    #[inline]
    pub(crate) fn full_first(&self) -> *mut Page {
        self.full.first
    }

    /// The classes whose queue holds exactly one page, as a bit mask.
    #[inline]
    pub(crate) fn lone_mask(&self) -> u128 {
        self.lone_mask
    }

    /// See the field; 0 without `stats`.
    #[inline]
    pub(crate) fn full_live(&self) -> usize {
        #[cfg(feature = "stats")]
        return self.full_live;
        #[cfg(not(feature = "stats"))]
        0
    }

    /// Changes `full_live` by a page in `full` whose folded bytes went from
    /// `old` to `new` (see `Heap::flush_page`); returns the new sum.
    #[inline]
    pub(crate) fn refold_full(&mut self, old: usize, new: usize) -> usize {
        #[cfg(feature = "stats")]
        {
            self.full_live = self.full_live - old + new;
        }
        let _ = (old, new);
        self.full_live()
    }

    /// Queues `page` of `class` (in no queue) at `end`.
    ///
    /// # Safety
    /// `page` is a live small page of the heap, of `class`, in no queue.
    pub(crate) unsafe fn push(&mut self, class: usize, page: *mut Page, end: End) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            (*page).flags.insert(PageFlags::IN_QUEUE);
            match end {
                End::Front => self.queues[class].push_front(page),
                End::Back => self.queues[class].push_back(page),
            }
        }
        self.changed(class);
    }

    /// Moves `page`, in `class`'s queue, to its front.
    ///
    /// # Safety
    /// `page` is in `class`'s queue.
    #[inline]
    pub(crate) unsafe fn move_to_front(&mut self, class: usize, page: *mut Page) {
        if self.queues[class].first != page {
            // SAFETY: guaranteed by the caller.
            unsafe {
                self.queues[class].remove(page);
                self.queues[class].push_front(page);
            }
            self.changed(class);
        }
    }

    /// Takes `page` out of its class queue, if it is in one.
    ///
    /// # Safety
    /// `page` is a live small page of the heap, not in `full`.
    // Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
    #[inline(never)]
    pub(crate) unsafe fn remove(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            if (*page).flags.has(PageFlags::IN_QUEUE) {
                let class = (*page).class.index();
                self.queues[class].remove(page);
                self.changed(class);
            }
        }
    }

    /// Takes `page` out of its class queue for the background purger
    /// (`idle_release.rs`), which runs while the owner's fast paths read
    /// the direct table and the flags of pages that hold live blocks: it
    /// writes neither. `page` is behind its queue's first page, or the first
    /// page of a class above the direct table's (no direct entry names it).
    /// A first page left alone gets no `KEEP` (its bit in `unkept_mask`
    /// says so) until the queue's next change.
    ///
    /// # Safety
    /// `page` is a live small page of the heap in its class queue, not the
    /// first unless its class is above `DIRECT_MAX`.
    pub(crate) unsafe fn remove_unreached(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let class = (*page).class.index();
            debug_assert!(self.queues[class].first != page || class_size(class) > DIRECT_MAX);
            self.queues[class].remove(page);
            let q = self.queues[class];
            if q.first.is_null() {
                self.lone_mask &= !(1 << class);
                self.unkept_mask &= !(1 << class);
            } else if q.first == q.last {
                self.lone_mask |= 1 << class;
                if self.keep_lone {
                    self.unkept_mask |= 1 << class;
                }
            } else {
                set_keep(q.last, false);
            }
        }
    }

    /// Files `page` as full: out of its class queue if it is in one, into
    /// `full` at the back (see [`Page::enter_full`]). The caller has folded
    /// its counts in (see `Heap::flush_page`).
    ///
    /// # Safety
    /// `page` is a live page of the heap, not in `full`.
    pub(crate) unsafe fn enter_full(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let queued = (*page).flags.has(PageFlags::IN_QUEUE);
            if queued {
                self.queues[(*page).class.index()].remove(page);
            }
            Page::enter_full(page);
            #[cfg(feature = "stats")]
            {
                self.full_live += (*page).stat_used as usize * (*page).block_size;
            }
            self.full.push_back(page);
            if queued {
                self.changed((*page).class.index());
            }
        }
    }

    /// Takes `page` out of `full` and out of the full state (see
    /// [`Page::leave_full`]); the caller frees it or queues it with
    /// [`PageQueues::push`].
    ///
    /// # Safety
    /// `page` is a live page of the heap in `full`.
    // Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
    #[inline(never)]
    pub(crate) unsafe fn leave_full(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            self.full.remove(page);
            Page::leave_full(page);
            #[cfg(feature = "stats")]
            {
                self.full_live -= (*page).stat_used as usize * (*page).block_size;
            }
        }
    }

    /// Moves the page behind `class`'s first page to the back of the
    /// queue and returns it (null when the queue has fewer than two pages):
    /// a round-robin over the pages the class's allocations do not take
    /// from first.
    pub(crate) fn rotate_second(&mut self, class: usize) -> *mut Page {
        let first = self.queues[class].first;
        if first.is_null() {
            return first;
        }
        // SAFETY: queued pages are live pages owned by this heap.
        unsafe {
            let second = (*first).next;
            if !second.is_null() && second != self.queues[class].last {
                self.queues[class].remove(second);
                self.queues[class].push_back(second);
                self.changed(class);
            }
            second
        }
    }

    /// Moves the first page of `full` to its back and returns it (null when
    /// `full` is empty): a round-robin over the full pages.
    pub(crate) fn rotate_full(&mut self) -> *mut Page {
        let page = self.full.first;
        if !page.is_null() {
            // SAFETY: `page` is in `full`.
            unsafe {
                self.full.remove(page);
                self.full.push_back(page);
            }
        }
        page
    }

    /// Replaces `old` in `full` by `new`, the same page descriptor moved to
    /// another address (a huge segment moved by `Os::remap`): `old` is
    /// unlinked first, before the move; `new` is linked after it.
    ///
    /// # Safety
    /// `old` is in `full`; the caller links `new` with
    /// [`PageQueues::relink_full`] once the descriptor is there.
    pub(crate) unsafe fn unlink_full(&mut self, old: *mut Page) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.full.remove(old) }
    }

    /// See [`PageQueues::unlink_full`].
    ///
    /// # Safety
    /// `page` is a live page filed full, in no queue.
    pub(crate) unsafe fn relink_full(&mut self, page: *mut Page) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.full.push_back(page) }
    }

    /// Whether a page alone in its queue is kept when it empties (the
    /// heap's purge delay is not 0); re-derives `FLAG_KEEP` when it changes.
    pub(crate) fn set_keep_lone(&mut self, keep: bool) {
        if self.keep_lone != keep {
            self.keep_lone = keep;
            for class in 0..CLASS_COUNT {
                self.changed(class);
            }
        }
    }

    /// Forgets every page (the heap gave all its segments back).
    pub(crate) fn clear(&mut self) {
        *self = PageQueues::new(self.keep_lone);
    }

    /// Re-derives what follows from the ends of `class`'s queue after it
    /// changed: the fast path's direct entries of the class, `lone_mask`,
    /// and `PageFlags::KEEP` (set on a page alone in its queue when lone pages are
    /// kept, cleared on the ends of a longer queue; a page that leaves the
    /// queue clears it itself).
    ///
    /// It writes a direct entry or a page's flags only when they change: the
    /// background purger takes pages out of a queue behind its first page
    /// while the owner's fast paths read the direct table and the first
    /// page's flags (`idle_release.rs`), and then nothing of theirs changes.
    fn changed(&mut self, class: usize) {
        self.unkept_mask &= !(1 << class);
        let q = self.queues[class];
        if !q.first.is_null() && q.first == q.last {
            self.lone_mask |= 1 << class;
        } else {
            self.lone_mask &= !(1 << class);
        }
        if !q.first.is_null() {
            // SAFETY: queued pages are live pages owned by this heap.
            unsafe {
                if q.first == q.last && self.keep_lone {
                    set_keep(q.first, true);
                } else {
                    set_keep(q.first, false);
                    set_keep(q.last, false);
                }
            }
        }
        let size = class_size(class);
        if size > DIRECT_MAX {
            return;
        }
        let page = if q.first.is_null() {
            EMPTY_PAGE
        } else {
            q.first
        };
        // The requests of `8 * i` bytes that this class serves: those above
        // the previous class, every one from 8 bytes for the smallest class
        // a request gets (the 16-byte class with `checks` or `secure`, which
        // raise requests to `MIN_BLOCK`; no entry for the 8-byte class
        // then), and the zero-size request for the 16-byte class.
        let smallest = CLASS_BY_WORDS[1] as usize;
        if class < smallest {
            return;
        }
        let lo = if class == smallest {
            1
        } else {
            class_size(class - 1) / 8 + 1
        };
        if self.direct[size / 8] == page {
            return; // the class's entries all hold the same page
        }
        for e in &mut self.direct[lo..=size / 8] {
            *e = page;
        }
        if class == CLASS_BY_WORDS[0] as usize {
            self.direct[0] = page;
        }
    }

    /// Checks the invariants in the module documentation; names the first
    /// one broken. `in_use` tells whether a page is a live page of the heap.
    pub(crate) fn validate(&self, in_use: impl Fn(*mut Page) -> bool) -> Result<(), &'static str> {
        #[cfg_attr(not(feature = "stats"), allow(unused_mut))]
        let mut full_live = 0usize;
        for q in 0..=CLASS_COUNT {
            let queue = if q < CLASS_COUNT {
                self.queues[q]
            } else {
                self.full
            };
            let mut prev: *mut Page = ptr::null_mut();
            let mut page = queue.first;
            let mut len = 0usize;
            while !page.is_null() {
                if !in_use(page) {
                    return Err("a queue links a page that is not in use");
                }
                // SAFETY: `in_use` vouched for the page.
                let p = unsafe { &*page };
                if p.prev != prev {
                    return Err("a page's prev link does not point to the page before it");
                }
                if q < CLASS_COUNT {
                    if p.class.index() != q {
                        return Err("a class queue holds a page of another class");
                    }
                    if !p.flags.has(PageFlags::IN_QUEUE) || p.flags.has(PageFlags::IN_FULL) {
                        return Err("a page in a class queue is not flagged in-queue only");
                    }
                } else {
                    if !p.flags.has(PageFlags::IN_FULL) || p.flags.has(PageFlags::IN_QUEUE) {
                        return Err("a page in the full queue is not flagged in-full only");
                    }
                    #[cfg(feature = "stats")]
                    {
                        full_live += p.stat_used as usize * p.block_size;
                    }
                }
                len += 1;
                prev = page;
                page = p.next;
            }
            if queue.last != prev {
                return Err("a queue's last page is not the end of its links");
            }
            if q < CLASS_COUNT {
                let lone = self.lone_mask & (1 << q) != 0;
                if lone != (len == 1) {
                    return Err("lone_mask does not match a class queue's length");
                }
                let mut page = queue.first;
                while !page.is_null() {
                    // SAFETY: checked above.
                    let p = unsafe { &*page };
                    let unkept = self.unkept_mask & (1 << q) != 0;
                    if unkept && !(len == 1 && self.keep_lone) {
                        return Err("unkept_mask marks a class without a kept lone page");
                    }
                    if (p.flags.has(PageFlags::KEEP)) != (len == 1 && self.keep_lone && !unkept) {
                        return Err("PageFlags::KEEP is not set exactly on a kept lone page");
                    }
                    page = p.next;
                }
            }
        }
        #[cfg(feature = "stats")]
        if full_live != self.full_live {
            return Err("full_live differs from a recount of the full pages");
        }
        let _ = full_live;
        for (i, &entry) in self.direct.iter().enumerate() {
            let head = self.queues[CLASS_BY_WORDS[i] as usize].first;
            // An empty class's entry is an `EMPTY_PAGE` (a constant's
            // address need not be unique, so it is recognised by what the
            // fast path relies on: no free block, and no page in use).
            let ok = if head.is_null() {
                // SAFETY: every entry points to a page or an `EMPTY_PAGE`.
                !in_use(entry) && unsafe { Page::free_of(entry).is_null() }
            } else {
                entry == head
            };
            if !ok {
                return Err("a direct entry is not its class queue's first page");
            }
        }
        Ok(())
    }
}
