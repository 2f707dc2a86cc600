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
