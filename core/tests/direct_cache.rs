//! The heap's cache of freed direct blocks (`core/src/direct_cache.rs`):
//! what it keeps when frees of one size outnumber the allocations that take
//! them back.
#![cfg(not(any(feature = "checks", feature = "secure")))] // no direct blocks there

mod common;

use core::alloc::Layout;
use masu_core::{Config, FixedRegion, Heap};

/// Allocates `n` blocks of `size` bytes.
fn blocks(heap: &mut Heap<FixedRegion>, n: usize, size: usize) -> Vec<*mut u8> {
    let layout = Layout::from_size_align(size, 8).unwrap();
    let v: Vec<_> = (0..n).map(|_| heap.alloc(layout)).collect();
    assert!(v.iter().all(|p| !p.is_null()), "{n} blocks of {size} B");
    v
}

/// Frees `v`'s blocks of `size` bytes; returns how many bytes the cache
/// took of them.
fn free_all(heap: &mut Heap<FixedRegion>, v: Vec<*mut u8>, size: usize) -> usize {
    let layout = Layout::from_size_align(size, 8).unwrap();
    let before = heap.stats().direct_cached_bytes;
    for p in v {
        // SAFETY: a live block of this layout, freed once.
        unsafe { heap.dealloc(p, layout) };
    }
    heap.stats().direct_cached_bytes - before
}

/// One size cannot take the whole cache: after more freed 8-byte blocks
/// than the cache's 64 KiB holds, it still takes freed 64-byte blocks.
/// Without the bound on each list, `realloc`s that shrank blocks in place
/// filled the 8-byte list with the whole cache, and every later free of any
/// size went to the region (the cache then served 19 % of the allocations
/// of `fixed_region`'s 200-byte run).
#[test]
fn one_size_cannot_take_the_whole_cache() {
    let limit = Config::COMPACT_REGION.direct_cache_bytes;
    let os = FixedRegion::from_slice(common::region(1 << 20));
    let mut heap = Heap::new(os, Config::COMPACT_REGION);
    let tiny = blocks(&mut heap, limit / 8 + 1000, 8);
    let mid = blocks(&mut heap, 20, 64);
    let tiny_cached = free_all(&mut heap, tiny, 8);
    assert!(
        tiny_cached > 0 && tiny_cached <= limit / 8,
        "8-byte blocks cached: {tiny_cached} of {limit} bytes"
    );
    assert_eq!(
        free_all(&mut heap, mid, 64),
        20 * 64,
        "64-byte blocks cached"
    );
}

/// Every size keeps room for a block even when the cache is small: with a
/// 4 KiB cache (`SMALL_REGION`'s) a 512-byte block is cached.
#[test]
fn a_small_cache_keeps_one_block_of_its_largest_size() {
    let os = FixedRegion::from_slice(common::region(1 << 20));
    let mut heap = Heap::new(os, Config::COMPACT_REGION.with_direct_cache(4 << 10));
    let big = blocks(&mut heap, 2, 512);
    assert_eq!(
        free_all(&mut heap, big, 512),
        512,
        "one 512-byte block cached"
    );
}

/// A share of 0 is refused when the heap is built.
#[test]
#[should_panic(expected = "direct_cache_share below 1")]
fn a_share_of_zero_is_refused() {
    let os = FixedRegion::from_slice(common::region(1 << 16));
    let _ = Heap::new(os, Config::COMPACT_REGION.with_direct_cache_share(0));
}

/// A `realloc` of a small block to a size the cache holds moves it into the
/// cached block (a pop, a copy and a push) instead of resizing it in the
/// region: a shrink that would have split the block in place takes the
/// cached block, with the data, and the old block is cached in its place.
#[test]
fn a_realloc_to_a_cached_size_takes_the_cached_block() {
    let os = FixedRegion::from_slice(common::region(1 << 20));
    let mut heap = Heap::new(os, Config::COMPACT_REGION);
    let (big, small) = (
        Layout::from_size_align(128, 8).unwrap(),
        Layout::from_size_align(64, 8).unwrap(),
    );
    let a = heap.alloc(big);
    let x = heap.alloc(small);
    let keep = heap.alloc(small);
    assert!(!a.is_null() && !x.is_null() && !keep.is_null());
    // SAFETY: live blocks of these layouts, each freed once.
    unsafe {
        for i in 0..128 {
            a.add(i).write(i as u8);
        }
        heap.dealloc(x, small);
        let cached = heap.stats().direct_cached_bytes;
        let b = heap.realloc(a, big, 64);
        assert_eq!(b, x, "the shrink took the cached 64-byte block");
        assert!(
            (0..64).all(|i| b.add(i).read() == i as u8),
            "the data moved"
        );
        assert_eq!(heap.stats().direct_cached_bytes, cached - 64 + 128);
        heap.dealloc(b, small);
        heap.dealloc(keep, small);
    }
}

/// Usable bytes of the large lists' table for blocks of up to 4096 bytes
/// (a head and a 16-bit count per size from 520 to 4096).
const LARGE_TABLE: usize = (4096 - 512) / 8 * (core::mem::size_of::<*mut u8>() + 2);

/// Makes `heap`'s large lists pay: a heap starts with its requests above
/// 512 bytes counted as larger than the lists take (`DirectCache::mix`),
/// and 1100 requests of 1000 bytes turn that round; then `collect` gives
/// back what the lists took.
fn favour_large_lists(heap: &mut Heap<FixedRegion>) {
    for _ in 0..1100 {
        let v = blocks(heap, 1, 1000);
        free_all(heap, v, 1000);
    }
    heap.collect(true);
    assert_eq!(heap.stats().direct_cached_bytes, 0);
}

/// While the region is roomy, freed blocks above 512 bytes are cached
/// (`Config::direct_cache_large`): allocations of their sizes get them back,
/// and the region serves nothing for them. Without the large lists the
/// frees go to the region and the cache stays empty.
#[test]
fn a_roomy_region_caches_blocks_up_to_4_kib_and_hands_them_back() {
    let os = FixedRegion::from_slice(common::region(1 << 20));
    let mut heap = Heap::new(os, Config::COMPACT_REGION);
    favour_large_lists(&mut heap);
    let sizes = [520, 1000, 2048, 4096];
    let mut freed = Vec::new();
    for &size in &sizes {
        freed.extend(blocks(&mut heap, 3, size).into_iter().map(|p| (p, size)));
    }
    let cached = freed
        .iter()
        .fold(0, |n, &(p, size)| n + free_all(&mut heap, vec![p], size));
    assert_eq!(
        cached,
        3 * sizes.iter().sum::<usize>() + LARGE_TABLE,
        "every block cached, and the lists' table counted"
    );
    let region_free = heap.os().free_bytes();
    for &size in &sizes {
        for p in blocks(&mut heap, 3, size) {
            assert!(
                freed.contains(&(p, size)),
                "a {size}-byte block from the cache"
            );
        }
    }
    assert_eq!(
        heap.os().free_bytes(),
        region_free,
        "the region served nothing"
    );
    assert_eq!(heap.stats().direct_cached_bytes, LARGE_TABLE);

    let os = FixedRegion::from_slice(common::region(1 << 20));
    let mut heap = Heap::new(os, Config::COMPACT_REGION.with_direct_cache_large(0));
    favour_large_lists(&mut heap);
    let v = blocks(&mut heap, 3, 2048);
    assert_eq!(
        free_all(&mut heap, v, 2048),
        0,
        "no large lists: nothing cached"
    );
}

/// The first large free that finds the region no longer roomy (under three
/// quarters free) gives the whole cache back, the large lists' table with
/// it; `collect` does too. Then the region is whole again.
#[test]
fn the_large_lists_go_back_when_the_region_runs_short() {
    let os = FixedRegion::from_slice(common::region(1 << 20));
    let mut heap = Heap::new(os, Config::COMPACT_REGION);
    favour_large_lists(&mut heap);
    let whole = heap.os().free_bytes();
    let early = blocks(&mut heap, 8, 3000);
    assert!(free_all(&mut heap, early, 3000) >= 8 * 3000 + LARGE_TABLE);
    // Fill past a quarter of the region; the cached blocks serve the
    // first of these.
    let fill = blocks(&mut heap, whole / 4 / 3000 + 8, 3000);
    assert!(heap.os().free_bytes() < whole / 4 * 3);
    let mut fill = fill.into_iter();
    assert_eq!(
        heap.stats().direct_cached_bytes,
        LARGE_TABLE,
        "the fill took the cached blocks; the table stays"
    );
    let one = fill.next().unwrap();
    // SAFETY: a live block of this layout, freed once.
    unsafe { heap.dealloc(one, Layout::from_size_align(3000, 8).unwrap()) };
    assert_eq!(
        heap.stats().direct_cached_bytes,
        0,
        "the cache went back, its table too"
    );
    let rest: Vec<_> = fill.collect();
    free_all(&mut heap, rest, 3000);
    heap.collect(true);
    assert_eq!(heap.os().free_bytes(), whole, "the region whole again");
    heap.os().check();
}

/// A region under 16 times the large lists' table makes none: its large
/// frees go to the region.
#[test]
fn a_small_region_makes_no_large_lists() {
    let os = FixedRegion::from_slice(common::region(16 * LARGE_TABLE));
    let mut heap = Heap::new(os, Config::COMPACT_REGION);
    favour_large_lists(&mut heap);
    let v = blocks(&mut heap, 2, 1000);
    assert_eq!(free_all(&mut heap, v, 1000), 0);
}

/// A largest size above 4096 is refused when the heap is built.
#[test]
#[should_panic(expected = "direct_cache_large above 4096")]
fn large_lists_above_4_kib_are_refused() {
    let os = FixedRegion::from_slice(common::region(1 << 16));
    let _ = Heap::new(os, Config::COMPACT_REGION.with_direct_cache_large(4104));
}

/// The large lists take blocks only while most requests above 512 bytes
/// are of their sizes: a new heap's do not; once they do, after many larger
/// requests a freed 2000-byte block goes to the region; after as many of its
/// own size again, it is cached.
#[test]
fn the_large_lists_follow_the_mix_of_sizes() {
    let os = FixedRegion::from_slice(common::region(4 << 20));
    let mut heap = Heap::new(os, Config::COMPACT_REGION);
    let v = blocks(&mut heap, 1, 2000);
    assert_eq!(free_all(&mut heap, v, 2000), 0, "a new heap: not cached");
    favour_large_lists(&mut heap);
    let v = blocks(&mut heap, 1, 2000);
    assert!(
        free_all(&mut heap, v, 2000) >= 2000,
        "after 1000-byte requests: cached"
    );
    let big = Layout::from_size_align(8000, 8).unwrap();
    for _ in 0..2000 {
        let p = heap.alloc(big);
        assert!(!p.is_null());
        // SAFETY: a live block of this layout, freed once.
        unsafe { heap.dealloc(p, big) };
    }
    let v = blocks(&mut heap, 1, 2000);
    assert_eq!(
        free_all(&mut heap, v, 2000),
        0,
        "larger requests prevail: not cached"
    );
    for _ in 0..2000 {
        let v = blocks(&mut heap, 1, 2000);
        free_all(&mut heap, v, 2000);
    }
    let v = blocks(&mut heap, 1, 2000);
    assert!(
        free_all(&mut heap, v, 2000) >= 2000,
        "its own size prevails: cached"
    );
}
