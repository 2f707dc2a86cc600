//! `Heap::release_while_owner_idle`: pages that other heaps' frees emptied
//! are freed by a third party while the owner keeps its blocks and its fast
//! paths; pages with a live block, and each class's first page, stay.

#[macro_use]
mod common;

use core::alloc::Layout;
use masu_core::{Config, Heap};

/// Every block in a segment, as in `remote.rs`.
const CONFIG: Config = Config::FIXED_REGION.with_direct_above(usize::MAX);

/// 64-byte blocks: a FIXED_REGION page of them holds 64.
const PER_PAGE: usize = 64;

/// The bytes a block carries past the request: `checks`' trailer.
const TRAILER: usize = if cfg!(feature = "checks") { 16 } else { 0 };

fn layout() -> Layout {
    Layout::from_size_align(64 - TRAILER, 8).unwrap()
}

type Owner = Heap<&'static masu_core::FixedRegion>;

fn pages_of_64(h: &Owner) -> u32 {
    h.stats().pages_per_class.iter().sum()
}

/// The pages a heap over a `VmLikeOs` holds, of every class.
fn pages_vm(h: &Heap<&'static common::VmLikeOs>) -> u32 {
    h.stats().pages_per_class.iter().sum()
}

/// The owner frees `blocks` (its live ones, each once) and collects: its
/// heap is valid and holds nothing.
fn free_all_and_check(owner: &mut Owner, blocks: impl IntoIterator<Item = *mut u8>) {
    for p in blocks {
        // SAFETY: guaranteed by the caller: live blocks of `owner`.
        unsafe { owner.dealloc(p, layout()) };
    }
    owner.collect(false);
    owner.assert_valid();
    assert_counted!(owner.stats().live_bytes, 0);
}

#[test]
fn full_pages_other_heaps_emptied_go_back_but_not_one_with_a_live_block() {
    let region = common::shared_region(8 << 20);
    let mut owner = Heap::new(region, CONFIG);
    let mut other = Heap::new(region, CONFIG);
    let l = layout();
    // Five full pages (in `full`) and a sixth with ten blocks handed out.
    let blocks: Vec<*mut u8> = (0..5 * PER_PAGE + 10).map(|_| owner.alloc(l)).collect();
    let before = pages_of_64(&owner);
    assert_eq!(before, 6);
    // Another heap frees every block of the full pages but one in the third.
    let keep = blocks[2 * PER_PAGE + 7];
    for &p in &blocks[..5 * PER_PAGE] {
        if p != keep {
            // SAFETY: a live block of `owner`, freed once.
            unsafe { other.dealloc(p, l) };
        }
    }
    other.flush_remote_frees();
    // SAFETY: nothing else uses `owner` during the call.
    let r = unsafe { owner.release_while_owner_idle(true) };
    if cfg!(feature = "checks") {
        // Remote frees are not counted in the word: nothing is reached.
        assert_eq!(r.pages_freed, 0);
        return;
    }
    assert_eq!(r.pages_freed, 4, "the four emptied full pages");
    assert_eq!(pages_of_64(&owner), before - 4);
    owner.assert_valid();
    // The kept block and the last page's blocks are intact and the owner
    // goes on as before.
    // SAFETY: live blocks of 64 bytes.
    unsafe {
        keep.write_bytes(0xab, 64);
        for &p in &blocks[5 * PER_PAGE..] {
            p.write_bytes(0xcd, 64);
        }
    }
    let more: Vec<*mut u8> = (0..3 * PER_PAGE).map(|_| owner.alloc(l)).collect();
    let live = more
        .into_iter()
        .chain(blocks[5 * PER_PAGE..].iter().copied());
    free_all_and_check(&mut owner, live.chain([keep]));
}

#[test]
fn queued_pages_behind_the_first_go_back_and_the_first_stays() {
    let region = common::shared_region(8 << 20);
    let mut owner = Heap::new(region, CONFIG);
    let mut other = Heap::new(region, CONFIG);
    let l = layout();
    let blocks: Vec<*mut u8> = (0..5 * PER_PAGE).map(|_| owner.alloc(l)).collect();
    // One remote free per page; the owner's collect queues the five pages
    // again (each has a free block).
    for page in 0..5 {
        // SAFETY: a live block, freed once.
        unsafe { other.dealloc(blocks[page * PER_PAGE], l) };
    }
    other.flush_remote_frees();
    owner.collect(false);
    owner.assert_valid();
    // Now the rest of every page, remotely.
    for page in 0..5 {
        for &p in &blocks[page * PER_PAGE + 1..(page + 1) * PER_PAGE] {
            // SAFETY: a live block, freed once.
            unsafe { other.dealloc(p, l) };
        }
    }
    other.flush_remote_frees();
    // SAFETY: nothing else uses `owner` during the call.
    let r = unsafe { owner.release_while_owner_idle(true) };
    if cfg!(feature = "checks") {
        assert_eq!(r.pages_freed, 0);
        return;
    }
    // The four behind the first; the first stays (the fast path's page).
    assert_eq!(r.pages_freed, 4);
    assert_eq!(pages_of_64(&owner), 1);
    owner.assert_valid();
    // The owner goes on with its lone page, which gets `KEEP` back at the
    // queue's next change (`assert_valid` checks both states).
    let again: Vec<*mut u8> = (0..PER_PAGE + 1).map(|_| owner.alloc(l)).collect();
    owner.assert_valid();
    free_all_and_check(&mut owner, again);
}

#[test]
fn a_page_with_remote_frees_and_a_live_block_stays() {
    let region = common::shared_region(8 << 20);
    let mut owner = Heap::new(region, CONFIG);
    let mut other = Heap::new(region, CONFIG);
    let l = layout();
    let blocks: Vec<*mut u8> = (0..4 * PER_PAGE).map(|_| owner.alloc(l)).collect();
    // Every page keeps one block: the owner frees one locally (its page's
    // `used` drops by one), another heap frees the rest but one.
    for page in 0..4 {
        let b = &blocks[page * PER_PAGE..(page + 1) * PER_PAGE];
        // SAFETY: live blocks, each freed once.
        unsafe {
            owner.dealloc(b[0], l);
            for &p in &b[2..] {
                other.dealloc(p, l);
            }
        }
    }
    other.flush_remote_frees();
    // SAFETY: nothing else uses `owner` during the call.
    let r = unsafe { owner.release_while_owner_idle(true) };
    assert_eq!(r.pages_freed, 0, "every page still holds a live block");
    owner.assert_valid();
    // The live block of each page.
    free_all_and_check(&mut owner, (0..4).map(|page| blocks[page * PER_PAGE + 1]));
}

/// 16 KiB blocks: larger than the test `Os`'s 4 KiB memory page.
fn big() -> Layout {
    Layout::from_size_align(16 << 10, 8).unwrap()
}

/// The inside of a 16 KiB block that may go: past its first 16 bytes, in
/// whole 4 KiB pages.
fn inside(b: *mut u8) -> (usize, usize) {
    let lo = (b as usize + 16).next_multiple_of(4096);
    let hi = (b as usize + (16 << 10)) & !4095;
    (lo, hi - lo)
}

#[test]
fn insides_of_blocks_on_local_and_remote_lists_go_back_but_not_on_free() {
    let os = common::VmLikeOs::new(64 << 20);
    let mut owner = Heap::new(os, Config::VIRTUAL_MEMORY);
    let mut other = Heap::new(os, Config::VIRTUAL_MEMORY);
    let l = big();
    let blocks: Vec<*mut u8> = (0..12).map(|_| owner.alloc(l)).collect();
    for &b in &blocks {
        // SAFETY: live 16 KiB blocks.
        unsafe { b.write_bytes(0x5a, 16 << 10) };
    }
    // In each page of four blocks (`VIRTUAL_MEMORY` asks 4): the first is
    // freed and collected onto `free` (the fast path's list), the second
    // freed by the owner (`local_free`), the third by another heap
    // (`thread_free`); the fourth stays live, so no page empties.
    let nth = |k: usize| blocks.iter().copied().skip(k).step_by(4);
    for b in nth(0) {
        // SAFETY: a live block, freed once.
        unsafe { owner.dealloc(b, l) };
    }
    owner.collect(false);
    for b in nth(1) {
        // SAFETY: as above.
        unsafe { owner.dealloc(b, l) };
    }
    for b in nth(2) {
        // SAFETY: as above.
        unsafe { other.dealloc(b, l) };
    }
    other.flush_remote_frees();
    let Some((r, got)) = release_and_discards(&mut owner, os) else {
        return;
    };
    assert_eq!(r.pages_freed, 0, "every page holds a live block");
    // Where pages park, the remote free moves behind the `local_free` head
    // and parks, whole; else its insides go too.
    let parks = !cfg!(any(feature = "secure", target_pointer_width = "32"));
    let whole = |b: *mut u8| (b as usize, 16 << 10);
    let mut want: Vec<(usize, usize)> = nth(1)
        .map(inside)
        .chain(nth(2).map(|b| if parks { whole(b) } else { inside(b) }))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want, "exactly the blocks off `free`");
    assert_eq!(r.discarded, want.iter().map(|w| w.1).sum::<usize>());
    // The live blocks are intact; nothing moved, so a second look finds
    // nothing new.
    for b in nth(3) {
        // SAFETY: live 16 KiB blocks.
        let bytes = unsafe { core::slice::from_raw_parts(b, 16 << 10) };
        assert!(bytes.iter().all(|&x| x == 0x5a), "a live block changed");
    }
    // SAFETY: as above.
    let again = unsafe { owner.release_while_owner_idle(true) };
    assert_eq!(again.discarded, 0, "the lists did not move");
    owner.assert_valid();
    // Every free block is handed out again, once, and usable; the heap
    // stays valid through it.
    let more: Vec<*mut u8> = (0..9).map(|_| owner.alloc(l)).collect();
    let mut all: Vec<*mut u8> = more.iter().copied().chain(nth(3)).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 12, "a block handed out twice");
    for &b in &more {
        // SAFETY: live 16 KiB blocks.
        unsafe { b.write_bytes(0x77, 16 << 10) };
    }
    free_all_vm(&mut owner, big(), more.into_iter().chain(nth(3)));
}

/// `release_while_owner_idle(true)` on `owner`, with the ranges `os` was
/// asked to discard, sorted; None with `checks`, which discards nothing
/// (its freed blocks carry a fill that is verified when they are handed
/// out again).
fn release_and_discards(
    owner: &mut Heap<&'static common::VmLikeOs>,
    os: &common::VmLikeOs,
) -> Option<(masu_core::IdleRelease, Vec<(usize, usize)>)> {
    // SAFETY: nothing else uses `owner` during the call.
    let r = unsafe { owner.release_while_owner_idle(true) };
    let mut discards = os.discards.lock().unwrap().clone();
    if cfg!(feature = "checks") {
        assert_eq!((r.discarded, discards.len()), (0, 0), "checks' fills");
        return None;
    }
    discards.sort_unstable();
    Some((r, discards))
}

#[test]
fn nothing_counts_as_given_back_where_the_os_cannot_discard() {
    let os = common::VmLikeOs::new(64 << 20);
    os.refuse_discards
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let mut owner = Heap::new(os, Config::VIRTUAL_MEMORY);
    let l = big();
    let blocks: Vec<*mut u8> = (0..12).map(|_| owner.alloc(l)).collect();
    // In each page of four blocks the first stays live and the owner frees
    // the other three, last first: a tail behind the list's head to trim,
    // and blocks whose insides could go.
    for page in blocks.chunks(4) {
        for &b in page[1..].iter().rev() {
            // SAFETY: a live block, freed once.
            unsafe { owner.dealloc(b, l) };
        }
    }
    // SAFETY: nothing else uses `owner` during the call.
    let r = unsafe { owner.release_while_owner_idle(true) };
    assert_eq!(r.discarded, 0, "counted bytes the Os did not take");
    assert!(os.discards.lock().unwrap().is_empty());
    owner.assert_valid();
    free_all_vm(&mut owner, l, blocks.iter().copied().step_by(4));
}

/// The owner frees its live `blocks` of `layout` and its heap is valid and
/// holds nothing.
fn free_all_vm(
    owner: &mut Heap<&'static common::VmLikeOs>,
    layout: Layout,
    blocks: impl IntoIterator<Item = *mut u8>,
) {
    for p in blocks {
        // SAFETY: guaranteed by the caller: live blocks of `owner`.
        unsafe { owner.dealloc(p, layout) };
    }
    owner.collect(false);
    owner.assert_valid();
    assert_counted!(owner.stats().live_bytes, 0);
}

/// A class's lone page that the owner emptied, with nothing on its `free`
/// list (the page was filled to its last block), and a second class's page
/// that another heap emptied, both of classes in the direct table: both are
/// reset to nothing carved and their memory given back whole; the owner then
/// carves them again.
#[test]
fn emptied_first_pages_with_an_empty_free_list_go_back_whole() {
    let os = common::VmLikeOs::new(64 << 20);
    let mut owner = Heap::new(os, Config::VIRTUAL_MEMORY);
    let mut other = Heap::new(os, Config::VIRTUAL_MEMORY);
    let t = TRAILER;
    let (a, b) = (
        Layout::from_size_align(1024 - t, 8).unwrap(),
        Layout::from_size_align(512 - t, 8).unwrap(),
    );
    // A 64 KiB page holds 64 blocks of 1 KiB, 128 of 512 B: each filled.
    let mine: Vec<*mut u8> = (0..64).map(|_| owner.alloc(a)).collect();
    let theirs: Vec<*mut u8> = (0..128).map(|_| owner.alloc(b)).collect();
    assert_eq!(pages_vm(&owner), 2, "one page of each class");
    for &p in &mine {
        // SAFETY: a live block, freed once.
        unsafe { owner.dealloc(p, a) };
    }
    for &p in &theirs {
        // SAFETY: as above.
        unsafe { other.dealloc(p, b) };
    }
    other.flush_remote_frees();
    let Some((r, got)) = release_and_discards(&mut owner, os) else {
        return;
    };
    if cfg!(feature = "secure") {
        // Its freed tags must stay: no reset.
        assert_eq!((r.discarded, got.len()), (0, 0));
        return;
    }
    let start = |v: &[*mut u8]| *v.iter().min().unwrap() as usize;
    let mut want = vec![(start(&mine), 64 << 10), (start(&theirs), 64 << 10)];
    want.sort_unstable();
    assert_eq!(got, want, "both pages' blocks, whole");
    assert_eq!(r.discarded, 128 << 10);
    assert_eq!(r.pages_freed, 0, "in the direct table: they stay");
    assert_eq!(pages_vm(&owner), 2, "the pages stay, their queues' first");
    owner.assert_valid();
    assert_counted!(owner.stats().live_bytes, 0);
    // SAFETY: as above.
    let again = unsafe { owner.release_while_owner_idle(true) };
    assert_eq!(again.discarded, 0, "nothing carved: left alone");
    // Carved again, in the same pages.
    let more: Vec<*mut u8> = (0..64).map(|_| owner.alloc(a)).collect();
    let mut sorted = more.clone();
    sorted.sort_unstable();
    let mut before = mine.clone();
    before.sort_unstable();
    assert_eq!(sorted, before, "the page is carved again");
    for &p in &more {
        // SAFETY: live 1 KiB blocks.
        unsafe { p.write_bytes(0x77, 1024 - t) };
    }
    free_all_vm(&mut owner, a, more);
}

/// First pages of classes above the direct table (no fast path allocates
/// from them) that hold no live block are freed whole, whether the owner
/// or another heap emptied them and whatever their `free` list holds; one
/// with a live block stays; the owner allocates from fresh pages after.
#[test]
fn emptied_first_pages_above_the_direct_table_are_freed() {
    let os = common::VmLikeOs::new(64 << 20);
    let mut owner = Heap::new(os, Config::VIRTUAL_MEMORY);
    let mut other = Heap::new(os, Config::VIRTUAL_MEMORY);
    let t = TRAILER;
    let sizes = [2048 - t, 3072 - t, 4096 - t, 6144 - t];
    let l = |i: usize| Layout::from_size_align(sizes[i], 8).unwrap();
    // Two blocks of each class; the 2 KiB page keeps carved blocks on
    // `free` (a batch carves more than two).
    let blocks: Vec<[*mut u8; 2]> = (0..4)
        .map(|i| [owner.alloc(l(i)), owner.alloc(l(i))])
        .collect();
    assert_eq!(pages_vm(&owner), 4);
    // 2 KiB and 4 KiB: the owner frees both; 3 KiB: another heap does; 6
    // KiB: one stays live.
    for (i, pair) in blocks.iter().enumerate() {
        for (j, &p) in pair.iter().enumerate() {
            // SAFETY: live blocks, each freed once.
            unsafe {
                match (i, j) {
                    (1, _) => other.dealloc(p, l(i)),
                    (3, 1) => {}
                    _ => owner.dealloc(p, l(i)),
                }
            }
        }
    }
    other.flush_remote_frees();
    // SAFETY: nothing else uses `owner` during the call.
    let r = unsafe { owner.release_while_owner_idle(true) };
    if cfg!(feature = "checks") {
        assert_eq!(r.pages_freed, 0, "checks: nothing is reached");
        return;
    }
    assert_eq!(r.pages_freed, 3, "all but the page with a live block");
    assert_eq!(pages_vm(&owner), 1);
    owner.assert_valid();
    assert_counted!(owner.stats().live_bytes, 6144, "the 6 KiB block");
    // The owner goes on: new pages for the freed classes.
    let more: Vec<*mut u8> = (0..3).map(|i| owner.alloc(l(i))).collect();
    for (i, &p) in more.iter().enumerate() {
        // SAFETY: a live block of `sizes[i]` bytes.
        unsafe { p.write_bytes(0x5a, sizes[i]) };
        // SAFETY: as above, freed once.
        unsafe { owner.dealloc(p, l(i)) };
    }
    free_all_vm(&mut owner, l(3), [blocks[3][1]]);
}

/// A lone emptied page whose `free` list still holds blocks (the fast
/// path's) stays as it is: its `local_free` head is its only other block.
#[test]
fn an_emptied_first_page_with_blocks_on_free_stays() {
    let os = common::VmLikeOs::new(64 << 20);
    let mut owner = Heap::new(os, Config::VIRTUAL_MEMORY);
    // 1 KiB blocks: a batch carves four, so `free` keeps three after one.
    let l = Layout::from_size_align(1024, 8).unwrap();
    let p = owner.alloc(l);
    // SAFETY: a live block, freed once.
    unsafe { owner.dealloc(p, l) };
    // SAFETY: nothing else uses `owner` during the call.
    let r = unsafe { owner.release_while_owner_idle(true) };
    assert_eq!(r.discarded, 0);
    assert!(os.discards.lock().unwrap().is_empty());
    owner.assert_valid();
}

/// A page whose first 64 blocks stay live and whose other 576 (carved to
/// the last) the owner freed, the lowest last: the run behind the
/// `local_free` head is taken off the list and off the carved count, and
/// its whole memory pages go back; the page carves them again later.
#[test]
fn the_freed_tail_of_a_page_with_live_blocks_goes_back() {
    let os = common::VmLikeOs::new(64 << 20);
    let mut owner = Heap::new(os, Config::VIRTUAL_MEMORY);
    let l = Layout::from_size_align(64, 8).unwrap();
    // Ten batches of 64 blocks (a batch is 4 KiB): nothing left on `free`.
    let blocks: Vec<*mut u8> = (0..640).map(|_| owner.alloc(l)).collect();
    for &p in &blocks[..64] {
        // SAFETY: live 64-byte blocks.
        unsafe { p.write_bytes(0x5a, 64) };
    }
    for &p in blocks[64..].iter().rev() {
        // SAFETY: a live block, freed once.
        unsafe { owner.dealloc(p, l) };
    }
    let Some((r, got)) = release_and_discards(&mut owner, os) else {
        return;
    };
    let start = blocks[0] as usize;
    if cfg!(feature = "secure") {
        assert_eq!(r.discarded, 0, "secure keeps its freed tags");
    } else {
        // Block 64 heads `local_free` and stays; 65..640 go: their whole
        // memory pages are 8192..40960 bytes from the page's start.
        assert_eq!(got, [(start + 8192, 40960 - 8192)]);
        assert_eq!(r.discarded, 40960 - 8192);
    }
    owner.assert_valid();
    for &p in &blocks[..64] {
        // SAFETY: live 64-byte blocks.
        let bytes = unsafe { core::slice::from_raw_parts(p, 64) };
        assert!(bytes.iter().all(|&x| x == 0x5a), "a live block changed");
    }
    // The page hands out all of its blocks again, each once.
    let mut more: Vec<*mut u8> = (0..576).map(|_| owner.alloc(l)).collect();
    more.sort_unstable();
    let mut want = blocks[64..].to_vec();
    want.sort_unstable();
    assert_eq!(more, want, "the freed blocks come back, each once");
    for &p in &more {
        // SAFETY: live 64-byte blocks.
        unsafe { p.write_bytes(0x77, 64) };
    }
    free_all_vm(
        &mut owner,
        l,
        more.into_iter().chain(blocks[..64].iter().copied()),
    );
}

/// A link overwritten after its block was freed (a program's write after
/// free) ends the purger's walk there: it neither follows it nor gives back
/// memory past it, and the blocks before it still go.
#[test]
fn the_walk_stops_at_an_overwritten_link() {
    let os = common::VmLikeOs::new(64 << 20);
    let mut owner = Heap::new(os, Config::VIRTUAL_MEMORY);
    let l = big();
    let blocks: Vec<*mut u8> = (0..4).map(|_| owner.alloc(l)).collect();
    // The owner frees blocks 0, 1, 2 (`local_free` is 2, 1, 0); block 3
    // stays live. Then block 1's link is overwritten with a wild address.
    for &b in &blocks[..3] {
        // SAFETY: a live block, freed once.
        unsafe { owner.dealloc(b, l) };
    }
    // SAFETY: the first word of a freed block: the program's bug.
    unsafe { (blocks[1] as *mut usize).write(0x5151_5151_0000) };
    let Some((r, got)) = release_and_discards(&mut owner, os) else {
        return;
    };
    assert_eq!(
        got,
        [inside(blocks[1]), inside(blocks[2])],
        "up to the bad link"
    );
    assert_eq!(r.discarded, 2 * inside(blocks[1]).1);
}

/// The segment cache of an idle owner: an emptied segment waits in the
/// cache for its purge delay and is released at the first call after it
/// (not before), counted in `segments_released`; the owner then maps anew.
#[test]
fn cached_segments_go_back_once_their_purge_is_done() {
    let os = common::VmLikeOs::new(64 << 20);
    // Purge delay: four slow-path events (no clock in the test `Os`).
    let mut owner = Heap::new(os, Config::VIRTUAL_MEMORY.with_purge_delay(4));
    let l = Layout::from_size_align(1 << 20, 8).unwrap();
    // Large blocks fill a segment of their own; freed, it goes to the cache.
    let p = owner.alloc(l);
    // SAFETY: a live block, freed once.
    unsafe { owner.dealloc(p, l) };
    assert_eq!(
        owner.stats().cached_segments,
        1,
        "the emptied segment, cached"
    );
    let releases = || os.releases.load(std::sync::atomic::Ordering::Relaxed);
    let before = releases();
    let mut released = 0;
    let mut calls = 0;
    while released == 0 && calls < 16 {
        // SAFETY: nothing else uses `owner` during the call.
        let r = unsafe { owner.release_while_owner_idle(true) };
        if r.segments_released == 0 {
            assert!(r.waiting, "nothing waits and the segment stays cached");
        }
        released = r.segments_released;
        calls += 1;
        // An event of the owner's: the test `Os` has no clock.
        owner.collect(false);
    }
    assert_eq!(released, 1, "released once its purge was done");
    assert!(calls > 1, "not before its purge delay had passed");
    assert_eq!(owner.stats().cached_segments, 0);
    assert_eq!(releases(), before + 1, "given back to the Os");
    owner.assert_valid();
    let q = owner.alloc(l);
    assert!(!q.is_null());
    // SAFETY: a live block of 1 MiB, freed once.
    unsafe {
        q.write_bytes(0x33, 1 << 20);
        owner.dealloc(q, l);
    }
}

/// `n` blocks of 64 bytes (640: ten batches, nothing left on `free`): the
/// first 64 and those from the 600th stay live, the 536 between are freed
/// by `free_between` (the lowest last).
fn page_with_a_freed_middle(
    owner: &mut Heap<&'static common::VmLikeOs>,
    n: usize,
    free_between: impl FnOnce(&mut Heap<&'static common::VmLikeOs>, &[*mut u8]),
) -> Vec<*mut u8> {
    let l = Layout::from_size_align(64, 8).unwrap();
    let blocks: Vec<*mut u8> = (0..n).map(|_| owner.alloc(l)).collect();
    for &p in blocks[..64].iter().chain(&blocks[600..]) {
        // SAFETY: live 64-byte blocks.
        unsafe { p.write_bytes(0x5a, 64) };
    }
    let mut middle = blocks[64..600].to_vec();
    middle.reverse();
    free_between(owner, &middle);
    blocks
}

/// The owner takes the freed middle back (zeroed: parked memory is not
/// known to be zero), each block once, beside the `on_free` fresh blocks
/// its `free` list held, the live blocks intact; then frees everything.
fn parked_blocks_come_back(
    owner: &mut Heap<&'static common::VmLikeOs>,
    blocks: &[*mut u8],
    on_free: usize,
) {
    let l = Layout::from_size_align(64, 8).unwrap();
    let more: Vec<*mut u8> = (0..536 + on_free).map(|_| owner.alloc_zeroed(l)).collect();
    owner.assert_valid();
    for &p in &more {
        // SAFETY: live, zeroed 64-byte blocks.
        let bytes = unsafe { core::slice::from_raw_parts(p, 64) };
        assert!(
            bytes.iter().all(|&x| x == 0),
            "a block handed out zeroed is not"
        );
    }
    let back: std::collections::HashSet<*mut u8> = more.iter().copied().collect();
    let missing = blocks[64..600].iter().filter(|p| !back.contains(p)).count();
    assert_eq!(
        missing, 0,
        "every freed block comes back (live at once: each once)"
    );
    let live = blocks[..64].iter().chain(&blocks[600..]);
    for &p in live.clone() {
        // SAFETY: live 64-byte blocks.
        let bytes = unsafe { core::slice::from_raw_parts(p, 64) };
        assert!(bytes.iter().all(|&x| x == 0x5a), "a live block changed");
    }
    free_all_vm(owner, l, more.into_iter().chain(live.copied()));
}

/// Freed blocks between live ones, behind the `local_free` head (the
/// lowest, freed last), with live blocks at the page's end (no tail to
/// trim): the run behind the head is parked and its whole memory pages go
/// back; the owner carves the run again before any new block.
#[test]
fn a_freed_run_between_live_blocks_is_parked() {
    let os = common::VmLikeOs::new(64 << 20);
    let mut owner = Heap::new(os, Config::VIRTUAL_MEMORY);
    let l = Layout::from_size_align(64, 8).unwrap();
    let blocks = page_with_a_freed_middle(&mut owner, 640, |owner, middle| {
        for &p in middle {
            // SAFETY: a live block, freed once.
            unsafe { owner.dealloc(p, l) };
        }
    });
    let Some((r, got)) = release_and_discards(&mut owner, os) else {
        return;
    };
    let start = blocks[0] as usize;
    if cfg!(any(feature = "secure", target_pointer_width = "32")) {
        assert_eq!(r.discarded, 0, "no parking");
    } else {
        // Block 64 heads `local_free` and stays listed, the run's hole;
        // 65..600 park. Nothing is left behind the head, so its link may
        // read as null from discarded memory: the whole memory pages of
        // 64..600 go, 4096..36864 bytes from the page's start.
        assert_eq!(got, [(start + 4096, 36864 - 4096)]);
        assert_eq!(r.discarded, 36864 - 4096);
    }
    owner.assert_valid();
    // SAFETY: nothing else uses `owner` during the call.
    let again = unsafe { owner.release_while_owner_idle(true) };
    assert_eq!(again.discarded, 0, "parked already: nothing more");
    parked_blocks_come_back(&mut owner, &blocks, 0);
}

/// The same freed middle, freed by another heap: its blocks wait on
/// `thread_free`, whose word counts them; those behind the list's head
/// park while the count stays, and the owner's collect lowers `used` by
/// the count (`assert_valid` checks the sum on both sides of it).
#[test]
fn remote_frees_behind_the_lists_head_are_parked() {
    let os = common::VmLikeOs::new(64 << 20);
    let mut owner = Heap::new(os, Config::VIRTUAL_MEMORY);
    let mut other = Heap::new(os, Config::VIRTUAL_MEMORY);
    let l = Layout::from_size_align(64, 8).unwrap();
    // 641: the eleventh batch leaves 63 blocks on `free`, so the collect
    // walks the remote list (it splices without a walk onto an empty
    // `free`) and must still lower `used` by the word's count.
    let blocks = page_with_a_freed_middle(&mut owner, 641, |_, middle| {
        for &p in middle {
            // SAFETY: a live block of `owner`, freed once.
            unsafe { other.dealloc(p, l) };
        }
        other.flush_remote_frees();
    });
    let Some((r, got)) = release_and_discards(&mut owner, os) else {
        return;
    };
    if cfg!(any(feature = "secure", target_pointer_width = "32")) {
        assert_eq!(r.discarded, 0, "no parking");
    } else {
        let (lo, hi) = (blocks[64] as usize, blocks[600] as usize);
        assert_eq!(got.len(), 1, "one parked run");
        let (at, len) = got[0];
        assert!(at >= lo && at + len <= hi, "only the freed blocks' memory");
        // The list's head splits the run: the larger part is at least half.
        assert!(len >= (hi - lo) / 2 - 8192, "parked {len} of {}", hi - lo);
        assert_eq!(r.discarded, len);
    }
    owner.assert_valid();
    owner.collect(false);
    owner.assert_valid();
    parked_blocks_come_back(&mut owner, &blocks, 63);
}
