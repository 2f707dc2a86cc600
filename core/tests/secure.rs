//! The `secure` feature: every free validated, encoded free lists checked
//! when popped, new blocks in a random order. (Run with `--features
//! secure`; without it the file is empty.)
#![cfg(all(feature = "secure", not(feature = "checks")))]

#[macro_use]
mod common;

use core::alloc::Layout;
use masu_core::{Config, FixedRegion, Heap};

fn heap() -> Heap<FixedRegion> {
    Heap::new(
        FixedRegion::from_slice(common::region(4 << 20)),
        Config::FIXED_REGION,
    )
}

const L: Layout = match Layout::from_size_align(48, 8) {
    Ok(l) => l,
    Err(_) => panic!(),
};

#[test]
#[should_panic(expected = "double free")]
fn a_double_free_is_caught() {
    let mut h = heap();
    let p = h.alloc(L);
    let _keep = h.alloc(L);
    // SAFETY: deliberately freed twice.
    unsafe {
        h.dealloc(p, L);
        h.dealloc(p, L);
    }
}

#[test]
#[should_panic(expected = "foreign pointer")]
fn an_interior_pointer_is_caught() {
    let mut h = heap();
    let p = h.alloc(L);
    // SAFETY: deliberately a pointer into the block.
    unsafe { h.dealloc(p.add(8), L) };
}

#[test]
#[should_panic(expected = "never handed out")]
fn a_pointer_at_a_block_never_handed_out_is_caught() {
    let mut h = heap();
    // The one block handed out of a fresh page: every neighbour 48 bytes
    // away is a carved block still on the free list (the misuse suite's
    // `free_interior` and `free_before_start` at small sizes land there).
    // The page starts at a slice (4 KiB) and its first carved batch holds
    // many blocks, so a neighbour of `p` inside the page is a block start.
    let p = h.alloc(L);
    let neighbour = if p as usize % 4096 == 0 {
        p.wrapping_add(L.size())
    } else {
        p.wrapping_sub(L.size())
    };
    // SAFETY: deliberately the start of a neighbouring block never handed
    // out.
    unsafe { h.dealloc(neighbour, L) };
}

#[test]
#[should_panic(expected = "foreign pointer")]
fn a_pointer_outside_the_heap_is_caught() {
    let mut h = heap();
    let _ = h.alloc(L);
    let mut local = [0u8; 64];
    // SAFETY: deliberately a stack address.
    unsafe { h.dealloc(local.as_mut_ptr(), L) };
}

#[test]
#[should_panic(expected = "corrupted free list")]
fn a_scribbled_link_is_caught_not_followed() {
    let mut h = heap();
    let a = h.alloc(L);
    let b = h.alloc(L);
    let _keep = h.alloc(L);
    // SAFETY: a use after free overwrites `b`'s link with a plausible
    // pointer (the block before it): encoded, it decodes out of the page.
    unsafe {
        h.dealloc(a, L);
        h.dealloc(b, L);
        (b as *mut usize).write(a as usize);
    }
    for _ in 0..10_000 {
        let _ = h.alloc(L);
    }
}

#[test]
fn new_blocks_come_in_a_random_order_and_correct_use_raises_no_fault() {
    let mut h = heap();
    let blocks: Vec<*mut u8> = (0..64).map(|_| h.alloc(L)).collect();
    let ascending = blocks.windows(2).filter(|w| w[1] > w[0]).count();
    // In address order, 63 of 63 pairs would ascend; shuffled, about half.
    assert!(ascending < 50, "{ascending} of 63 ascending");
    let mut sorted = blocks.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), blocks.len(), "a block handed out twice");
    for p in blocks {
        // SAFETY: live blocks, each freed once.
        unsafe { h.dealloc(p, L) };
    }
    assert_counted!(h.stats().live_bytes, 0);
    h.assert_valid();
}
