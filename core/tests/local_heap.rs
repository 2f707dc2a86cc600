//! First-class heaps: `Heap::reset`, `LocalHeap` and `LockedHeap` as
//! `allocator_api2` allocators.

#[macro_use]
mod common;

use allocator_api2::alloc::Allocator;
use allocator_api2::boxed::Box as ABox;
use allocator_api2::vec::Vec as AVec;
use core::alloc::Layout;
use masu_core::{Config, FixedRegion, Heap, LocalHeap, LockedHeap};

fn os(len: usize) -> FixedRegion {
    FixedRegion::from_slice(common::region(len))
}

/// Mixed sizes: small classes, large spans and blocks beyond half a segment
/// (huge segments of their own).
fn sizes(rng: &mut common::Rng, n: usize) -> Vec<Layout> {
    (0..n)
        .map(|i| {
            let size = match i % 50 {
                0 => rng.usize(20_000..80_000),
                1..=4 => rng.usize(1_000..8_000),
                _ => rng.usize(1..300),
            };
            Layout::from_size_align(size, 1 << rng.usize(0..5)).unwrap()
        })
        .collect()
}

#[test]
fn reset_frees_every_block_and_the_memory_is_reused() {
    // 2 MiB: without the reset, the tenth round would not fit.
    let mut h = Heap::new(os(2 << 20), Config::FIXED_REGION);
    let mut rng = common::Rng::with_seed(7);
    for round in 0..common::scaled(40, 3) {
        let layouts = sizes(&mut rng, 400);
        let want: usize = layouts.iter().map(|l| l.size()).sum();
        let mut blocks = Vec::new();
        for l in &layouts {
            let p = h.alloc(*l);
            assert!(!p.is_null(), "round {round}: out of memory at {l:?}");
            assert_eq!(p as usize % l.align(), 0);
            // SAFETY: a live block of `l.size()` bytes.
            unsafe { p.write_bytes(round as u8, l.size()) };
            blocks.push(p);
        }
        // Free a third one by one: reset must count only the rest.
        for (p, l) in blocks.iter().zip(&layouts).step_by(3) {
            // SAFETY: a live block of `h` with its layout.
            unsafe { h.dealloc(*p, *l) };
        }
        let before = h.stats();
        assert!(before.live_bytes >= want / 2 || !cfg!(feature = "stats"));
        // SAFETY: no block is used after this.
        unsafe { h.reset() };
        let s = h.stats();
        assert_counted!(s.live_bytes, 0);
        assert_counted!(s.alloc_count, s.free_count);
        // One emptied page per class may stay for the next blocks.
        assert!(s.pages_per_class.iter().all(|&n| n <= 1), "{s:?}");
        assert_eq!((s.large_spans, s.huge_allocs), (0, 0));
        h.assert_valid();
    }
}

#[test]
fn without_kept_pages_a_reset_frees_every_page() {
    let config = Config::FIXED_REGION.with_purge_delay(0);
    let mut h = Heap::new(os(2 << 20), config);
    let mut rng = common::Rng::with_seed(8);
    for l in sizes(&mut rng, 300) {
        assert!(!h.alloc(l).is_null());
    }
    // SAFETY: no block is used after this.
    unsafe { h.reset() };
    let s = h.stats();
    assert!(s.pages_per_class.iter().all(|&n| n == 0), "{s:?}");
    h.assert_valid();
}

#[test]
fn a_kept_page_serves_its_class_again_and_zeroes_its_blocks() {
    let mut h = Heap::new(os(1 << 20), Config::FIXED_REGION);
    let l = Layout::from_size_align(48, 8).unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let p = h.alloc_zeroed(l);
        // SAFETY: a live block of 48 bytes.
        unsafe {
            assert!(std::slice::from_raw_parts(p, 48).iter().all(|&b| b == 0));
            p.write_bytes(0xff, 48);
        }
        seen.insert(p as usize);
    }
    // SAFETY: no block is used after this.
    unsafe { h.reset() };
    h.assert_valid();
    let mut reused = 0;
    for _ in 0..200 {
        let p = h.alloc_zeroed(l);
        // The page's fresh memory was written: zeroing must not be skipped.
        // SAFETY: a live block of 48 bytes.
        assert!(unsafe { std::slice::from_raw_parts(p, 48) }
            .iter()
            .all(|&b| b == 0));
        reused += seen.contains(&(p as usize)) as usize;
    }
    // The kept page (and the slices of the others) serve the class again.
    assert!(reused >= 100, "{reused}");
    h.assert_valid();
}

#[test]
fn reset_of_an_unused_heap_does_nothing() {
    let mut h = Heap::new(os(1 << 20), Config::FIXED_REGION);
    // SAFETY: the heap has no blocks.
    unsafe { h.reset() };
    assert_eq!(h.stats().committed_bytes, 0);
    h.assert_valid();
}

#[test]
fn local_heap_serves_allocator_api2_collections() {
    let mut heap = LocalHeap::new(os(4 << 20), Config::FIXED_REGION);
    for round in 0..common::scaled(20, 2) as u64 {
        {
            let mut v: AVec<u64, _> = AVec::new_in(&heap);
            for i in 0..5_000u64 {
                v.push(i * round);
            }
            let b = ABox::new_in([7u8; 3000], &heap);
            let mut words: AVec<AVec<u8, _>, _> = AVec::new_in(&heap);
            for i in 0..300 {
                let mut w = AVec::with_capacity_in(i % 40 + 1, &heap);
                w.extend(core::iter::repeat(i as u8).take(i % 40 + 1));
                words.push(w);
            }
            assert_eq!(v.iter().sum::<u64>(), round * 5_000 * 4_999 / 2);
            assert!(b.iter().all(|&x| x == 7));
            assert!(words.iter().enumerate().all(|(i, w)| w.len() == i % 40 + 1));
            v.shrink_to_fit();
            assert_eq!(v.len(), 5_000);
            // Half of it is dropped block by block, the rest by the reset.
            drop(words);
            core::mem::forget(v);
            core::mem::forget(b);
        }
        heap.reset();
        assert_counted!(heap.stats().live_bytes, 0);
        heap.heap_mut().assert_valid();
    }
}

#[test]
fn grow_to_a_larger_alignment_moves_and_keeps_the_bytes() {
    let heap = LocalHeap::new(os(1 << 20), Config::FIXED_REGION);
    let a = &heap;
    let old = Layout::from_size_align(24, 8).unwrap();
    let new = Layout::from_size_align(100, 256).unwrap();
    let p = a.allocate(old).unwrap().cast::<u8>();
    // SAFETY: a live block of 24 bytes.
    unsafe { p.as_ptr().write_bytes(0xab, 24) };
    // SAFETY: `p` is a block of `a` with `old`; `new` is larger.
    let q = unsafe { a.grow_zeroed(p, old, new) }.unwrap();
    assert_eq!(q.len(), 100);
    let q = q.cast::<u8>().as_ptr();
    assert_eq!(q as usize % 256, 0);
    // SAFETY: a live block of 100 bytes.
    let bytes = unsafe { core::slice::from_raw_parts(q, 100) };
    assert!(bytes[..24].iter().all(|&b| b == 0xab));
    assert!(bytes[24..].iter().all(|&b| b == 0));
    // SAFETY: `q` is a block of `a` with `new`.
    unsafe { a.deallocate(core::ptr::NonNull::new(q).unwrap(), new) };
    assert_counted!(heap.stats().live_bytes, 0);
}

/// A shrink to a smaller alignment moves the block to one served for the
/// new layout: freeing it with that layout is right (with `checks`, a
/// block left where the old alignment put it, a large span here, would be
/// reported as freed with a layout of another alignment).
#[test]
fn shrink_to_a_smaller_alignment_serves_the_new_layout() {
    let heap = LocalHeap::new(os(1 << 20), Config::FIXED_REGION);
    let a = &heap;
    let old = Layout::from_size_align(100, 1 << 14).unwrap();
    let new = Layout::from_size_align(16, 8).unwrap();
    let p = a.allocate(old).unwrap().cast::<u8>();
    // SAFETY: a live block of 100 bytes.
    unsafe { p.as_ptr().write_bytes(0xcd, 100) };
    // SAFETY: `p` is a block of `a` with `old`; `new` is smaller.
    let q = unsafe { a.shrink(p, old, new) }.unwrap().cast::<u8>();
    // SAFETY: a live block of 16 bytes.
    let bytes = unsafe { core::slice::from_raw_parts(q.as_ptr(), 16) };
    assert!(bytes.iter().all(|&b| b == 0xcd));
    // SAFETY: `q` is a block of `a` with `new`.
    unsafe { a.deallocate(q, new) };
    assert_counted!(heap.stats().live_bytes, 0);
}

#[test]
fn locked_heap_is_an_allocator_too() {
    let mut heap: LockedHeap<FixedRegion> = LockedHeap::new(os(1 << 20), Config::FIXED_REGION);
    {
        let mut v = AVec::new_in(&heap);
        v.extend(0..10_000u32);
        assert_eq!(v[9_999], 9_999);
        core::mem::forget(v);
    }
    // SAFETY: nothing was allocated through `GlobalAlloc`.
    unsafe { heap.reset() };
    assert_counted!(heap.stats().live_bytes, 0);
}
