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
//! A run of freed blocks further down, between blocks that must stay (live
//! ones, the heads of `local_free` and `thread_free`, the last carved
//! batch's unused blocks on `free`), is parked ([`park_run`], where
//! [`PAGES_PARK`]): the run of listed blocks that covers the most whole
//! memory pages, with at most one of the lists' heads inside as its hole,
//! leaves the lists (but the hole), the page records it in `Page::parked`
//! and `Page::parked_hole`, and its memory pages go back (but the hole's
//! link page while the hole links to a block); [`Page::extend`] carves the
//! run again, skipping the hole, before any new block. One run a page: a page with a parked run parks nothing more until the owner
//! has carved it all. Remote frees park too, on a page whose `thread_free`
//! word counts its list: the count stays, so `used` keeps counting them
//! until the owner's collect subtracts the count (`Page::merge_frees`
//! trusts the count over the list it walks). Where `local_free` has a head,
//! the purger first moves the whole remote list behind it
//! ([`adopt_remote`]: one CAS empties the word's list and keeps its count;
//! a push that lands first makes it fail, one after it pushes onto an
//! empty list), so that no second head splits the runs; else the blocks
//! behind the remote list's head may park. Remote frees push in front of
//! the head and never read the blocks behind it.
//!
//! Idle heaps are looked at again and again (the std shim's purger passes
//! once a second); the heap keeps a digest of the lists' heads it last
//! discarded under ([`Heap::idle_discard_digest`]) and does nothing while
//! they have not moved (the reset looks only at pages with carved blocks).
//! Every walk ends at a link that leads to no carved block of the page, and
//! after as many steps as the page has carved blocks. The loom models
//! `loom-tests/tests/idle_discard.rs`, `idle_reset.rs` and `idle_trim.rs`
//! run [`discard_page_insides`], [`resettable`] and [`trim_page_tail`]
//! (the trim and the parking, the latter with a remote free as well)
//! against an owner's fast paths.

use crate::heap::Heap;
use crate::idle_release::holds_no_live_block;
use crate::list_walk::ListWalk;
use crate::os::Os;
use crate::page::{
    decode_link, encode_link, remote_word, remote_word_parts, Block, Page, PageFlags, NO_HOLE,
    PAGES_PARK,
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
    // SAFETY: guaranteed by the caller; `block_size` is fixed while the
    // page is in use.
    let block_size = unsafe { (*page).block_size };
    if block_size <= page_size {
        return 0;
    }
    let mut bytes = 0;
    for head in heads {
        // SAFETY: guaranteed by the caller: the lists' links behind heads
        // read with Acquire are written by nobody until the owner's next
        // slow path. The walk ends at a broken link (left for the owner's
        // collect or pop to report).
        for b in unsafe { ListWalk::new(page, head) }.map_while(Result::ok) {
            let lo = (b as usize + KEPT_BYTES).next_multiple_of(page_size);
            let hi = (b as usize + block_size) & !(page_size - 1);
            if hi > lo && discard(lo as *mut u8, hi - lo) {
                bytes += hi - lo;
            }
        }
    }
    bytes
}

/// Most blocks a page may have for [`trim_page_tail`] (its bitmap's bits).
const TAIL_MAX_BLOCKS: usize = 8192;

/// Which of a page's blocks wait on its `local_free` list: a bit per block.
type OnList = [u64; TAIL_MAX_BLOCKS / 64];

/// True when block `i` is on the list.
fn is_on(on: &OnList, i: usize) -> bool {
    on[i / 64] >> (i % 64) & 1 != 0
}

/// The bits of `on` below `n`.
fn count_below(on: &OnList, n: usize) -> usize {
    let whole: usize = on[..n / 64].iter().map(|w| w.count_ones() as usize).sum();
    let part = if n % 64 == 0 {
        0
    } else {
        (on[n / 64] & ((1u64 << (n % 64)) - 1)).count_ones() as usize
    };
    whole + part
}

/// Takes the run of carved blocks at the end of `page` that all wait on
/// its `local_free` list (behind the list's head) off the list and off the
/// carved count, and calls `discard(start, len)` for the whole memory pages
/// (of `page_size` bytes) they cover; then, where pages park
/// ([`PAGES_PARK`]) and this one has no parked run, parks the run of
/// carved blocks further down that all wait behind the head and cover the
/// most whole memory pages ([`park_run`]). Returns the bytes given back
/// (those of the `discard` calls that returned true); nothing changes for a
/// run that covers no whole memory page. With `FRESH` (the uncarved part
/// reads as zero) the trimmed tail is left zero: the ends outside the
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

/// [`trim_page_tail`], which keeps the lists' heads (`keep_head`); without
/// it, the loom models' broken twin, whose trim may take the `local_free`
/// head and whose parked run may hold either head.
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
        let head = Page::local_free_acquire(page);
        let mut on_list = [0u64; TAIL_MAX_BLOCKS / 64];
        if !mark_listed(page, head, &mut on_list) {
            return 0;
        }
        let (start, block_size) = ((*page).start as usize, (*page).block_size);
        let index = |b: *mut Block| {
            if b.is_null() {
                usize::MAX
            } else {
                (b as usize - start) / block_size
            }
        };
        let mut bytes = 0;
        if !head.is_null() {
            // The head stays: blocks the owner frees from now on link to it.
            let keep = if keep_head { index(head) + 1 } else { 0 };
            bytes += trim_run(page, head, &on_list, keep, page_size, &mut discard);
        }
        if PAGES_PARK && Page::parked_of(page).1 == 0 {
            // Remote frees park too where the word keeps the list's count
            // (the owner's collect lowers `used` by the count, parked blocks
            // included): moved behind the local head (after the trim, which
            // takes only the owner's frees: `used` counts the remote ones
            // until the collect, and must stay within `capacity`), or else
            // those behind the remote list's head.
            if adopt_remote(page, head) {
                on_list = [0u64; TAIL_MAX_BLOCKS / 64];
                if !mark_listed(page, head, &mut on_list) {
                    return bytes;
                }
            }
            let remote = remote_head(page);
            if !mark_listed_from(page, remote, &mut on_list) {
                return bytes;
            }
            let heads = [head, remote];
            // (The twin may park the heads too.)
            let keep_out = if keep_head {
                [index(head), index(remote)]
            } else {
                [usize::MAX; 2]
            };
            bytes += park_run(page, heads, &on_list, keep_out, page_size, &mut discard);
        }
        bytes
    }
}

/// Moves the blocks of `page`'s `thread_free` list behind the `local_free`
/// list's `head`, so that they trim and park as the owner's frees do and
/// no second head splits the runs: one CAS swaps the word's list for none
/// and keeps its count (a remote free that pushes meanwhile makes the CAS
/// fail, and nothing changes; one after it pushes onto an empty list), and
/// the chain is linked behind the local list's last block. `used` keeps
/// counting the blocks until the owner's collect subtracts the count, as
/// it would have. False when nothing moved: no local head (the owner's
/// word, which the purger may not write), a word without a count, an empty
/// remote list, or one whose links do not end within the page's blocks.
///
/// # Safety
/// As for [`trim_tail`]; `head` is null or heads `local_free`, whose
/// blocks [`mark_listed`] walked.
unsafe fn adopt_remote(page: *mut Page, head: *mut Block) -> bool {
    // SAFETY: guaranteed by the caller; `thread_free` is an atomic; the
    // chain behind a head read with Acquire is written by nobody but the
    // purger (pushers write their own block and the word).
    unsafe {
        if head.is_null() || !Page::counts_remote(page) {
            return false;
        }
        let thread_free = &(*page).thread_free;
        let word = thread_free.load(Ordering::Acquire);
        let (first, count) = remote_word_parts(word, true);
        let (Some(_), Some(tail)) = (last_listed(page, first), last_listed(page, head)) else {
            return false;
        };
        let empty = remote_word(core::ptr::null_mut(), count, true);
        if thread_free
            .compare_exchange(word, empty, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        (*tail).next = encode_link((*page).key, first);
        true
    }
}

/// The last block of the list of `page`'s blocks from `first`, or None when
/// it is empty or its links do not end (with an encoded null) within as
/// many steps as the page has carved blocks, each at a carved block.
///
/// # Safety
/// As for [`trim_tail`]; nobody but the caller writes the list's links.
unsafe fn last_listed(page: *const Page, first: *mut Block) -> Option<*mut Block> {
    let mut last = None;
    // SAFETY: guaranteed by the caller.
    for step in unsafe { ListWalk::new(page, first) } {
        last = Some(step.ok()?);
    }
    last
}

/// The first block on `page`'s `thread_free` list, read with Acquire, on a
/// page whose word counts the list's blocks; null when it has none, or
/// the word has no count (then every block of the list must stay on it).
///
/// # Safety
/// As for [`trim_tail`].
unsafe fn remote_head(page: *const Page) -> *mut Block {
    // SAFETY: guaranteed by the caller; `thread_free` is an atomic.
    unsafe {
        if !Page::counts_remote(page) {
            return core::ptr::null_mut();
        }
        let word = (*page).thread_free.load(Ordering::Acquire);
        remote_word_parts(word, true).0
    }
}

/// Marks in `on` the blocks on `page`'s `local_free` list from `head` (none
/// when null); false (and nothing to trim) when the page has too many
/// blocks, or the walk finds a cycle or a link that leads out of the page's
/// blocks (a write after a free; the head itself is checked too).
///
/// # Safety
/// As for [`trim_tail`]; `head` is the list's head.
unsafe fn mark_listed(page: *const Page, head: *mut Block, on: &mut OnList) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if (*page).capacity as usize > TAIL_MAX_BLOCKS {
            return false;
        }
        mark_listed_from(page, head, on)
    }
}

/// [`mark_listed`] for any of the page's lists whose blocks behind `head`
/// nobody but the purger writes (`local_free`, `thread_free`), once the
/// capacity is known to fit the bitmap: a block already marked is a cycle
/// (the two lists never share a block).
///
/// # Safety
/// As for [`mark_listed`].
unsafe fn mark_listed_from(page: *const Page, head: *mut Block, on: &mut OnList) -> bool {
    // SAFETY: guaranteed by the caller.
    let (start, block_size) = unsafe { ((*page).start as usize, (*page).block_size) };
    // SAFETY: guaranteed by the caller: nobody else writes these links.
    for step in unsafe { ListWalk::new(page, head) } {
        let Ok(b) = step else {
            return false; // a link overwritten after a free
        };
        let i = (b as usize - start) / block_size;
        if is_on(on, i) {
            return false; // a cycle, or the two lists share a block
        }
        on[i / 64] |= 1 << (i % 64);
    }
    true
}

/// Takes the blocks with an index in `range` off the list of `page`'s
/// blocks behind `head` (which stays whatever its index).
///
/// # Safety
/// As for [`trim_tail`]; `head` heads `local_free` or `thread_free`.
unsafe fn unlink(page: *const Page, head: *mut Block, range: core::ops::Range<usize>) {
    // SAFETY: guaranteed by the caller: the purger's to relink.
    unsafe {
        let (key, start, block_size) = ((*page).key, (*page).start as usize, (*page).block_size);
        let index = |b: *mut Block| (b as usize - start) / block_size;
        let (mut prev, mut b) = (head, decode_link(key, (*head).next));
        while !b.is_null() {
            let next = decode_link(key, (*b).next);
            if !range.contains(&index(b)) {
                (*prev).next = encode_link(key, b);
                prev = b;
            }
            b = next;
        }
        (*prev).next = encode_link(key, core::ptr::null_mut());
    }
}

/// The whole memory pages (of `page_size` bytes) inside blocks `run` of
/// `page`, as an address range (empty when none).
///
/// # Safety
/// `page` is a live page descriptor.
unsafe fn whole_pages(
    page: *const Page,
    run: &core::ops::Range<usize>,
    page_size: usize,
) -> (usize, usize) {
    // SAFETY: guaranteed by the caller; fixed fields.
    let (start, block_size) = unsafe { ((*page).start as usize, (*page).block_size) };
    let (from, to) = (start + run.start * block_size, start + run.end * block_size);
    (from.next_multiple_of(page_size), to & !(page_size - 1))
}

/// The trim of [`trim_tail`]: the listed run at the page's end, down to
/// block `keep` at the lowest, leaves the list and `capacity`.
///
/// # Safety
/// As for [`trim_tail`]; `on` marks the list from `head`.
unsafe fn trim_run(
    page: *mut Page,
    head: *mut Block,
    on: &OnList,
    keep: usize,
    page_size: usize,
    discard: &mut impl FnMut(*mut u8, usize) -> bool,
) -> usize {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let capacity = (*page).capacity as usize;
        let mut carved = capacity;
        while carved > keep && is_on(on, carved - 1) {
            carved -= 1;
        }
        let (lo, hi) = whole_pages(page, &(carved..capacity), page_size);
        if hi <= lo {
            return 0;
        }
        unlink(page, head, carved..capacity);
        (*page).capacity = carved as u32;
        let (start, block_size) = ((*page).start as usize, (*page).block_size);
        let (from, to) = (start + carved * block_size, start + capacity * block_size);
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

/// Parks the run of `page`'s carved blocks (below `capacity`) that all
/// wait on `local_free` or `thread_free` and cover the most whole memory
/// pages, with at most one of the lists' heads (`keep_out`) inside as its
/// hole: the blocks but the hole leave the lists, the page records the run
/// (`Page::parked_of`; [`Page::extend`] carves it again first, skipping the
/// hole), and `discard` gets the run's whole memory pages but those the
/// hole keeps ([`hole_pages`]: a head that ends its list links to nothing,
/// and a discarded link reads as null where pages park). The run may lie
/// anywhere: between blocks
/// still live and blocks on `free` (the fast path's). Blocks taken from
/// `thread_free` stay in its word's count, so `used` counts them until the
/// owner's collect subtracts the count. Returns the bytes given back;
/// parks nothing when no run covers a whole memory page.
///
/// # Safety
/// As for [`trim_tail`]; `on` marks the lists from `heads` (`local_free`'s,
/// and `thread_free`'s or null), whose indices are `keep_out` (or
/// `usize::MAX`); the page has no parked run.
unsafe fn park_run(
    page: *mut Page,
    heads: [*mut Block; 2],
    on: &OnList,
    keep_out: [usize; 2],
    page_size: usize,
    discard: &mut impl FnMut(*mut u8, usize) -> bool,
) -> usize {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let Some((run, hole)) = best_run(page, on, keep_out, page_size) else {
            return 0;
        };
        for head in heads.into_iter().filter(|h| !h.is_null()) {
            unlink(page, head, run.clone());
        }
        Page::set_parked(page, run.start, run.len(), hole);
        let (lo, hi) = whole_pages(page, &run, page_size);
        let (start, block_size, key) = ((*page).start as usize, (*page).block_size, (*page).key);
        debug_assert_eq!(encode_link(key, core::ptr::null_mut()), 0);
        // The hole's link as the unlinking left it (the purger's to read).
        let link_null =
            hole != NO_HOLE as usize && (*((start + hole * block_size) as *const Block)).next == 0;
        let keep = hole_pages(hole, (start, block_size, page_size), (lo, hi), link_null);
        let mut bytes = 0;
        for (from, to) in [(lo, keep.0), (keep.1, hi)] {
            if to > from && discard(from as *mut u8, to - from) {
                bytes += to - from;
            }
        }
        bytes
    }
}

/// The memory pages among `[lo, hi)` (the parked run's) that stay for its
/// hole, as a range inside `[lo, hi)` (`(hi, hi)` for none): none without a
/// hole; a large block's pages (`discard_page_insides` gives back its
/// insides: it is on a list); a small block's link page unless the link is
/// null (`link_null`: a discarded link reads as null where pages park).
fn hole_pages(
    hole: usize,
    (start, block_size, page_size): (usize, usize, usize),
    (lo, hi): (usize, usize),
    link_null: bool,
) -> (usize, usize) {
    if hole == NO_HOLE as usize {
        return (hi, hi);
    }
    let link_page = (start + hole * block_size) & !(page_size - 1);
    let (from, to) = if block_size > page_size {
        let end = start + (hole + 1) * block_size;
        (link_page, end.next_multiple_of(page_size))
    } else if link_null {
        return (hi, hi);
    } else {
        (link_page, link_page + page_size)
    };
    let (from, to) = (from.max(lo), to.min(hi));
    if from < to {
        (from, to)
    } else {
        (hi, hi)
    }
}

/// The run [`park_run`] parks: of the maximal runs of listed blocks below
/// `capacity` (one with both heads inside split at either), the one whose
/// whole memory pages, less those its hole keeps, are the most; with its
/// hole ([`NO_HOLE`] for none). None when no run gives back a memory page.
///
/// # Safety
/// As for [`park_run`].
unsafe fn best_run(
    page: *const Page,
    on: &OnList,
    keep_out: [usize; 2],
    page_size: usize,
) -> Option<(core::ops::Range<usize>, usize)> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let (start, block_size) = ((*page).start as usize, (*page).block_size);
        let capacity = (*page).capacity as usize;
        // Every block of a candidate run is listed: a run holds every listed
        // block (below `capacity`: the trim's are off the lists) when it is
        // as long as their count.
        let listed = count_below(on, capacity);
        let gain = |run: &core::ops::Range<usize>, hole: usize| {
            let (lo, hi) = whole_pages(page, run, page_size);
            if hi <= lo {
                return 0;
            }
            // The hole then ends its list.
            let link_null = run.len() == listed;
            let (k0, k1) = hole_pages(hole, (start, block_size, page_size), (lo, hi), link_null);
            hi - lo - (k1 - k0)
        };
        let mut best: Option<(core::ops::Range<usize>, usize, usize)> = None;
        let mut i = 0;
        while i < capacity {
            if !is_on(on, i) {
                i += 1;
                continue;
            }
            let a = i;
            while i < capacity && is_on(on, i) {
                i += 1;
            }
            let mut kept = keep_out.map(|k| if (a..i).contains(&k) { k } else { usize::MAX });
            kept.sort_unstable();
            let candidates = match kept {
                [usize::MAX, _] => [(a..i, NO_HOLE as usize), (0..0, NO_HOLE as usize)],
                [k, usize::MAX] => [(a..i, k), (0..0, NO_HOLE as usize)],
                [k0, k1] => [(a..k1, k0), (k0 + 1..i, k1)],
            };
            for (run, hole) in candidates {
                let g = gain(&run, hole);
                if g > best.as_ref().map_or(0, |b| b.2) {
                    best = Some((run, hole, g));
                }
            }
        }
        best.map(|(run, hole, _)| (run, hole))
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
        // SAFETY: (the four walks) guaranteed by the caller; queued pages
        // are live pages of this heap.
        if unsafe { self.idle_digest() } == self.idle_discard_digest {
            return 0;
        }
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
        // The lists' heads as this left them (the parking moves remote
        // frees off `thread_free`): the next call does nothing until they
        // move.
        // SAFETY: as above.
        self.idle_discard_digest = unsafe { self.idle_digest() };
        bytes
    }

    /// The digest of every queued page's lists' heads ([`digest_of`]).
    ///
    /// # Safety
    /// As for [`Heap::release_while_owner_idle`].
    unsafe fn idle_digest(&self) -> u64 {
        let mut digest = 0u64;
        // SAFETY: guaranteed by the caller; queued pages are live pages of
        // this heap.
        unsafe { self.for_each_page_above(0, |p| digest = digest.wrapping_add(digest_of(p))) };
        digest
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
            Page::set_parked(page, 0, 0, NO_HOLE as usize);
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
