//! Cross-heap (cross-thread) frees: a block freed through another heap goes
//! onto its page's `thread_free` list and the owner collects it.

#[macro_use]
mod common;

use core::alloc::Layout;
use masu_core::{Config, FixedRegion, Heap};
use std::sync::mpsc;

/// Every block in a segment (`direct_above = usize::MAX`): these tests are
/// about the remote frees of pages. Direct blocks freed by another heap:
/// `direct_blocks_freed_by_another_heap_go_back_to_the_region`.
const CONFIG: Config = Config::FIXED_REGION.with_direct_above(usize::MAX);

/// The `checks` feature's trailer: requests of `size - T` bytes take blocks
/// of the class of `size`.
const T: usize = if cfg!(feature = "checks") { 16 } else { 0 };

#[test]
fn blocks_freed_by_another_heap_are_collected_by_the_owner() {
    let region = common::shared_region(32 << 20);
    let mut owner = Heap::new(region, CONFIG);
    let l = Layout::from_size_align(96 - T, 16).unwrap();
    // Fewer under miri (see `common::scaled`).
    let n = common::scaled(5000, 300);
    let blocks: Vec<usize> = (0..n).map(|_| owner.alloc(l) as usize).collect();
    let (tx, rx) = mpsc::channel();
    let freer = std::thread::spawn(move || {
        let mut other = Heap::new(region, CONFIG);
        for p in rx {
            // SAFETY: `p` is a live block of the owner, sent to us to free.
            unsafe { other.dealloc(p as *mut u8, l) };
        }
        other.stats()
    });
    for &p in &blocks {
        tx.send(p).unwrap();
    }
    drop(tx);
    let other_stats = freer.join().unwrap();
    assert_counted!(
        other_stats.free_count,
        0,
        "remote frees are counted by the owner"
    );
    assert_counted!(owner.stats().live_bytes, n * 96);
    owner.collect(false);
    let s = owner.stats();
    assert_counted!(s.live_bytes, 0);
    assert_eq!(s.remote_frees_collected, n as u64);
    assert_counted!(s.free_count, n as u64);
    owner.collect(true);
    assert_eq!(owner.stats().reserved_bytes, 0);
}

#[test]
fn remote_frees_race_with_the_owner_allocating() {
    let region = common::shared_region(64 << 20);
    let (tx, rx) = mpsc::sync_channel::<usize>(256);
    let sizes = [24usize, 200, 3000, 40_000];
    let freer = std::thread::spawn(move || {
        let mut other = Heap::new(region, CONFIG);
        let mut n = 0u64;
        for p in rx {
            let size = sizes[p >> 56];
            let p = (p & ((1 << 56) - 1)) as *mut u8;
            // SAFETY: a live block of the owner with this size, ours to free.
            unsafe {
                assert_eq!(*p, (size % 251) as u8, "block contents changed in flight");
                other.dealloc(p, Layout::from_size_align(size, 8).unwrap());
            }
            n += 1;
        }
        n
    });
    let mut owner = Heap::new(region, CONFIG);
    // Fewer under miri (see `common::scaled`).
    let n = common::scaled(40_000, 400);
    for i in 0..n {
        let which = i % sizes.len();
        let size = sizes[which];
        let p = owner.alloc(Layout::from_size_align(size, 8).unwrap());
        assert!(!p.is_null());
        // SAFETY: a fresh block of `size` bytes.
        unsafe { p.write_bytes((size % 251) as u8, size) };
        tx.send(p as usize | (which << 56)).unwrap();
    }
    drop(tx);
    assert_eq!(freer.join().unwrap(), n as u64);
    owner.collect(false);
    assert_counted!(owner.stats().live_bytes, 0);
    assert_eq!(owner.stats().remote_frees_collected, n as u64);
    owner.collect(true);
    assert_eq!(owner.stats().reserved_bytes, 0);
}

#[test]
fn per_cpu_heaps_share_one_region_and_give_it_back() {
    let region: &'static FixedRegion = common::shared_region(16 << 20);
    let free_at_start = region.free_bytes();
    let handles: Vec<_> = (0..2)
        .map(|cpu| {
            std::thread::spawn(move || {
                let mut h = Heap::new(region, CONFIG);
                let mut v = Vec::new();
                // Fewer under miri (see `common::scaled`).
                for i in 0..common::scaled(20_000, 300) {
                    let l = Layout::from_size_align(8 + (i * 13 + cpu) % 700, 8).unwrap();
                    v.push((h.alloc(l), l));
                    if i % 3 == 0 {
                        let (p, l) = v.swap_remove(i % v.len());
                        // SAFETY: live block of this heap.
                        unsafe { h.dealloc(p, l) };
                    }
                }
                for (p, l) in v {
                    // SAFETY: live blocks of this heap.
                    unsafe { h.dealloc(p, l) };
                }
                h.collect(true);
                h.stats()
            })
        })
        .collect();
    for h in handles {
        let s = h.join().unwrap();
        assert_counted!(s.live_bytes, 0);
        assert_eq!(s.reserved_bytes, 0);
    }
    assert_eq!(region.free_bytes(), free_at_start);
}

/// Remote frees are batched per page in the freeing heap (`RemoteBuffer`):
/// the owner sees them once the chain is published, which happens when it
/// reaches 64 blocks, when a free goes to another page, at the freeing
/// heap's slow paths, and at `flush_remote_frees`, `collect` and drop.
#[test]
#[cfg_attr(feature = "checks", ignore = "with checks nothing is batched")]
fn batched_remote_frees_reach_the_owner_at_each_publication_point() {
    let region = common::shared_region(8 << 20);
    let mut owner = Heap::new(region, CONFIG);
    let mut other = Heap::new(region, CONFIG);
    let l = Layout::from_size_align(64, 8).unwrap();
    // 40 blocks of one page (a FIXED_REGION page of 64 B blocks holds 64).
    let blocks: Vec<*mut u8> = (0..40).map(|_| owner.alloc(l)).collect();
    let live = |h: &mut Heap<_>| {
        h.collect(false);
        h.stats().live_bytes
    };
    for &p in &blocks[..30] {
        // SAFETY: a live block, freed once.
        unsafe { other.dealloc(p, l) };
    }
    // All 30 wait in `other`'s chain: the owner still counts them.
    assert_counted!(live(&mut owner), 40 * 64);
    other.flush_remote_frees();
    assert_counted!(live(&mut owner), 10 * 64);
    // A slow path of the freeing heap publishes too.
    for &p in &blocks[30..] {
        // SAFETY: a live block, freed once.
        unsafe { other.dealloc(p, l) };
    }
    assert_counted!(live(&mut owner), 10 * 64);
    let big = other.alloc(Layout::from_size_align(100_000, 8).unwrap());
    assert_counted!(live(&mut owner), 0);
    // The chain is bounded: 64 frees to one page publish themselves.
    let more: Vec<*mut u8> = (0..64).map(|_| owner.alloc(l)).collect();
    for &p in &more {
        // SAFETY: a live block, freed once.
        unsafe { other.dealloc(p, l) };
    }
    assert_counted!(live(&mut owner), 0, "a full chain was not published");
    // A free to another page publishes the chain of the previous one.
    let a = owner.alloc(l);
    let b = owner.alloc(Layout::from_size_align(1000, 8).unwrap());
    // SAFETY: a live block, freed once.
    unsafe { other.dealloc(a, l) };
    // SAFETY: a live block, freed once.
    unsafe { other.dealloc(b, Layout::from_size_align(1000, 8).unwrap()) };
    // `b` (1000 B: class 1024) waits in the new chain.
    assert_counted!(live(&mut owner), 1024);
    // Dropping the freeing heap publishes what is left.
    // SAFETY: a live block, freed once.
    unsafe { other.dealloc(big, Layout::from_size_align(100_000, 8).unwrap()) };
    drop(other);
    assert_counted!(live(&mut owner), 0);
}

/// One page of 64-byte blocks (a FIXED_REGION page holds 64) handed out by
/// an owner heap, freed in that order through a heap with `freer`'s
/// config, the chain published, and the owner's next 64 blocks: `(handed
/// out first, handed out again)`.
#[cfg(all(feature = "secure", not(feature = "checks")))]
fn freed_remotely_and_taken_again(freer: Config) -> (Vec<*mut u8>, Vec<*mut u8>) {
    let region = common::shared_region(8 << 20);
    let mut owner = Heap::new(region, CONFIG);
    let mut other = Heap::new(region, freer);
    let l = Layout::from_size_align(64, 8).unwrap();
    let blocks: Vec<*mut u8> = (0..64).map(|_| owner.alloc(l)).collect();
    for &p in &blocks {
        // SAFETY: a live block, freed once.
        unsafe { other.dealloc(p, l) };
    }
    other.flush_remote_frees();
    let again = (0..64).map(|_| owner.alloc(l)).collect();
    (blocks, again)
}

/// With `secure`, whose blocks are carved in a random order, a chain of
/// remote frees is published in address order whatever order the program
/// freed its blocks in, so the owner hands them out again in that order
/// (`block_set.rs` says why).
#[test]
#[cfg(all(feature = "secure", not(feature = "checks")))]
fn secure_publishes_remote_chains_in_address_order() {
    let (blocks, again) = freed_remotely_and_taken_again(CONFIG);
    assert!(
        blocks.windows(2).any(|w| w[1] < w[0]),
        "secure carved the page in address order"
    );
    let mut sorted = blocks.clone();
    sorted.sort();
    assert_eq!(
        again, sorted,
        "the chain was not handed out in address order"
    );
}

/// `Config::remote_in_order` off: the chain keeps the order of the frees
/// (the last freed block first), as without `secure`.
#[test]
#[cfg(all(feature = "secure", not(feature = "checks")))]
fn secure_without_remote_in_order_keeps_the_order_of_the_frees() {
    let (blocks, again) = freed_remotely_and_taken_again(CONFIG.with_remote_in_order(false));
    let reversed: Vec<*mut u8> = blocks.iter().rev().copied().collect();
    assert_eq!(
        again, reversed,
        "the chain did not keep the order of the frees"
    );
}

/// `Config::remote_batch` = 1 turns batching off: each remote free is
/// published at once.
#[test]
fn a_remote_batch_of_one_publishes_every_free() {
    let region = common::shared_region(8 << 20);
    let mut owner = Heap::new(region, CONFIG);
    let mut other = Heap::new(region, CONFIG.with_remote_batch(1));
    let l = Layout::from_size_align(64 - T, 8).unwrap();
    let blocks: Vec<*mut u8> = (0..10).map(|_| owner.alloc(l)).collect();
    for (i, &p) in blocks.iter().enumerate() {
        // SAFETY: a live block of `owner`, freed once.
        unsafe { other.dealloc(p, l) };
        owner.collect(false);
        assert_counted!(owner.stats().live_bytes, (9 - i) * 64);
    }
}

/// A direct block belongs to the region: another heap frees it at once (no
/// remote list), counting the free in its own statistics; merged, the two
/// heaps' statistics say nothing is live, and the region is whole again.
#[test]
fn direct_blocks_freed_by_another_heap_go_back_to_the_region() {
    let region = common::shared_region(4 << 20);
    let config = Config::FIXED_REGION.with_direct_cache(0);
    let mut owner = Heap::new(region, config);
    let mut other = Heap::new(region, config);
    let l = Layout::from_size_align(5000, 8).unwrap();
    let blocks: Vec<*mut u8> = (0..100).map(|_| owner.alloc(l)).collect();
    assert!(blocks.iter().all(|p| !p.is_null()));
    let before = region.free_bytes();
    for &p in &blocks {
        // SAFETY: live blocks of `owner`, freed once, through `other`.
        unsafe { other.dealloc(p, l) };
    }
    let free_now = region.free_bytes();
    let (so, st) = (owner.stats(), other.stats());
    if cfg!(any(feature = "checks", feature = "secure")) {
        // No direct blocks with the checks: remote frees of large spans.
        assert_eq!(so.direct_blocks, 0);
        return;
    }
    assert!(free_now >= before + 100 * 5000, "freed at once");
    assert_eq!((so.direct_blocks, st.direct_blocks), (100, -100));
    let mut merged = so;
    merged.merge(&st);
    assert_counted!(merged.live_bytes, 0);
    assert_eq!(merged.direct_bytes, 0);
    drop(owner);
    drop(other);
    assert_eq!(region.free_bytes(), region.size());
}

/// The owner's burst of 800 blocks of 6000 bytes fills pages that go to
/// `full`; with `local`, the owner frees every eighth block itself first
/// (its page leaves `full` for its class queue); another heap frees every
/// other block; the owner then makes and frees
/// small blocks, one at a time, of 64 sizes in turn: its slow paths only
/// move a page's freed blocks back to its `free` list (the page's `free`
/// runs dry every few dozen blocks); no class runs out of pages. Returns
/// the owner's collected remote frees and live bytes.
fn busy_owner_after_a_remote_freed_burst(config: Config, local: bool) -> (u64, usize) {
    let region = common::shared_region(32 << 20);
    let mut owner = Heap::new(region, config);
    let big = Layout::from_size_align(6000 - T, 16).unwrap();
    let blocks: Vec<usize> = (0..800).map(|_| owner.alloc(big) as usize).collect();
    assert!(blocks.iter().all(|&p| p != 0));
    let mut other = Heap::new(region, config);
    for (i, &p) in blocks.iter().enumerate() {
        if local && i % 8 == 0 {
            // SAFETY: a live block of the owner, freed once.
            unsafe { owner.dealloc(p as *mut u8, big) };
            continue;
        }
        // SAFETY: live blocks of the owner, freed once.
        unsafe { other.dealloc(p as *mut u8, big) };
    }
    other.collect(false); // publishes its batched remote frees
    for round in 0..500_000 {
        let l = Layout::from_size_align(16 + (round % 64) * 8, 8).unwrap();
        let p = owner.alloc(l);
        // SAFETY: just allocated with `l`.
        unsafe { owner.dealloc(p, l) };
    }
    owner.check_invariants().unwrap();
    let s = owner.stats();
    (s.remote_frees_collected, s.live_bytes)
}

#[test]
fn a_busy_owner_frees_the_pages_another_heap_emptied() {
    // A page was looked at again only when its class's allocations reached
    // it (a full page: when its class ran out of pages), so the burst's
    // pages stayed for good while the owner was busy elsewhere; the epoch
    // tick now checks a few of them (`Config::full_rescan`), in `full` and
    // (`local`: pages that left it) behind the first page of each class.
    for (local, remote) in [(false, 800), (true, 700)] {
        let config = CONFIG.with_full_rescan(4);
        let (collected, live) = busy_owner_after_a_remote_freed_burst(config, local);
        assert_eq!(
            collected, remote,
            "the other heap's frees were not collected"
        );
        // The emptied pages went back to their segments: the owner's live
        // bytes are its small blocks' alone.
        assert!(live < 64 * 1024, "live bytes {live}");
        // The twin: without the tick's look, most of them wait.
        let (collected, _) =
            busy_owner_after_a_remote_freed_burst(config.with_full_rescan(0), local);
        assert!(
            collected < remote / 2,
            "{collected} collected without the tick's look"
        );
    }
}

/// With `Config::line_pages` each page descriptor takes whole cache lines
/// (`page_stride`): another heap's free finds the block's page by that
/// stride (its own heap's, on the fast path), pages of several slices lead
/// back to their first descriptor by it, and the header's invariants hold.
#[test]
fn remote_frees_find_their_pages_with_line_pages() {
    let config = CONFIG.with_line_pages(true);
    let region = common::shared_region(64 << 20);
    let mut owner = Heap::new(region, config);
    // A small class, a class of several slices, a large span.
    let layouts = [96 - T, 3000 - T, 40_000].map(|s| Layout::from_size_align(s, 16).unwrap());
    let n = common::scaled(1500, 90);
    let blocks: Vec<(usize, usize)> = (0..n)
        .map(|i| {
            let p = owner.alloc(layouts[i % 3]);
            assert!(!p.is_null());
            // SAFETY: a fresh block of at least 96 bytes.
            unsafe { p.write_bytes(i as u8, 96 - T) };
            (p as usize, i % 3)
        })
        .collect();
    owner
        .check_invariants()
        .expect("the owner's segments, line pages");
    let freer = std::thread::spawn(move || {
        let mut other = Heap::new(region, config);
        for (i, &(p, k)) in blocks.iter().enumerate() {
            // SAFETY: a live block of the owner with this layout, ours to
            // free; its first byte is the one written above.
            unsafe {
                assert_eq!(*(p as *const u8), i as u8, "a block's contents changed");
                other.dealloc(p as *mut u8, layouts[k]);
            }
        }
    });
    freer.join().unwrap();
    owner.collect(false);
    owner
        .check_invariants()
        .expect("after the remote frees were collected");
    assert_counted!(owner.stats().live_bytes, 0);
    owner.collect(true);
    assert_eq!(owner.stats().reserved_bytes, 0, "every segment went back");
}
