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

/// The one block handed out of a fresh page of `h`, and a neighbour 48
/// bytes away inside the page: a carved block still on the free list. The
/// page starts at a slice (4 KiB) and its first carved batch holds many
/// blocks, so a neighbour inside the page is a block start.
fn first_block_and_free_neighbour(h: &mut Heap<FixedRegion>) -> (*mut u8, *mut u8) {
    let p = h.alloc(L);
    let neighbour = if p as usize % 4096 == 0 {
        p.wrapping_add(L.size())
    } else {
        p.wrapping_sub(L.size())
    };
    (p, neighbour)
}

#[test]
#[should_panic(expected = "never handed out")]
fn a_pointer_at_a_block_never_handed_out_is_caught() {
    let mut h = heap();
    // The misuse suite's `free_interior` and `free_before_start` at small
    // sizes land on such a neighbour.
    let (_, neighbour) = first_block_and_free_neighbour(&mut h);
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

/// Two blocks `a` and `b`, freed in that order (so `b`'s link leads to
/// `a`), with a third block live after them.
fn two_freed(h: &mut Heap<FixedRegion>) -> (*mut u8, *mut u8) {
    let (a, b) = (h.alloc(L), h.alloc(L));
    let _keep = h.alloc(L);
    // SAFETY: live blocks, each freed once.
    unsafe {
        h.dealloc(a, L);
        h.dealloc(b, L);
    }
    (a, b)
}

#[test]
#[should_panic(expected = "corrupted free list")]
fn a_scribbled_link_is_caught_not_followed() {
    let mut h = heap();
    let (a, b) = two_freed(&mut h);
    // SAFETY: a use after free overwrites `b`'s link with a plausible
    // pointer (the block before it): encoded, it decodes out of the page.
    unsafe { (b as *mut usize).write(a as usize) };
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
    // Every block is free now, with its tag and a valid link.
    h.check_heap();
}

/// The first `n` blocks of 64 bytes a fresh heap with `window` hands out,
/// in the order it hands them out.
fn first_blocks_of_64(window: usize, n: usize) -> Vec<usize> {
    let mut h = Heap::new(
        FixedRegion::from_slice(common::region(4 << 20)),
        Config::FIXED_REGION.with_shuffle_window(window),
    );
    let l = Layout::from_size_align(64, 8).unwrap();
    (0..n).map(|_| h.alloc(l) as usize).collect()
}

/// Whether every chunk of 16 of `blocks` lies below the next chunk.
fn chunks_ascend(blocks: &[usize]) -> bool {
    let chunks: Vec<&[usize]> = blocks.chunks(16).collect();
    chunks
        .windows(2)
        .all(|w| w[0].iter().max() < w[1].iter().min())
}

/// `Config::shuffle_window`: 1 KiB windows of 64-byte blocks are 16 blocks,
/// handed out in a random order within each window and window after
/// window in address order (the page's first block comes last, so the
/// first 48 blocks fill three whole windows). A window of a whole batch
/// shuffles the batch at once: its first 16 blocks are not the lowest 16.
#[test]
fn new_blocks_are_shuffled_within_windows_that_follow_in_address_order() {
    let blocks = first_blocks_of_64(1024, 48);
    assert!(chunks_ascend(&blocks), "windows out of order: {blocks:x?}");
    for w in blocks.chunks(16) {
        let ascending = w.windows(2).filter(|p| p[1] > p[0]).count();
        assert!(ascending < 15, "a window in address order: {w:x?}");
    }
    let whole = first_blocks_of_64(4096, 48);
    assert!(!chunks_ascend(&whole), "a whole batch shuffled in windows");
}

#[test]
fn requests_below_sixteen_bytes_get_blocks_of_sixteen_on_every_path() {
    // A freed block holds its tag in its second word, so every block must
    // have 16 bytes: the fast paths look tiny requests up without raising
    // them to 16 first, so the table must send them to the 16-byte class.
    let mut h = heap();
    let mut blocks = Vec::new();
    for size in 0..=16 {
        for align in [1, 2, 4, 8, 16] {
            let l = Layout::from_size_align(size, align).unwrap();
            for _ in 0..20 {
                blocks.push((h.alloc(l), l));
            }
        }
        let mut fast = 0;
        for _ in 0..20 {
            // SAFETY: the heap is ours; a null goes to the slow path.
            let mut p = unsafe { h.alloc_fast_malloc(size, false) };
            if p.is_null() {
                p = h.alloc(Layout::from_size_align(size, 16).unwrap());
            } else {
                fast += 1;
            }
            blocks.push((p, Layout::from_size_align(size, 1).unwrap()));
        }
        // The 16-byte page has free blocks by now: the fast path finds it
        // for these sizes too (it would not if their table entries named
        // the 8-byte class, which no page serves here).
        assert!(fast >= 19, "{fast} of 20 fast allocations of {size} bytes");
    }
    let mut starts: Vec<usize> = blocks.iter().map(|&(p, _)| p as usize).collect();
    for &(p, _) in &blocks {
        // SAFETY: live blocks of this heap.
        assert!(unsafe { h.usable_size(p) } >= 16, "a block under 16 bytes");
    }
    starts.sort();
    assert!(
        starts.windows(2).all(|w| w[1] - w[0] >= 16),
        "two blocks less than 16 bytes apart"
    );
    h.assert_valid();
    for (p, l) in blocks {
        // SAFETY: live blocks, each freed once.
        unsafe { h.dealloc(p, l) };
    }
    assert_counted!(h.stats().live_bytes, 0);
    h.assert_valid();
    h.check_heap();
}

/// A heap in which a block was freed and then written after its free: its
/// second word (a field at offset 8), which holds the freed tag while the
/// block is free. Another block keeps the page in use.
fn heap_with_a_block_written_after_free() -> Heap<FixedRegion> {
    let mut h = heap();
    let p = h.alloc(L);
    let _keep = h.alloc(L);
    // SAFETY: deliberately a use after free.
    unsafe {
        h.dealloc(p, L);
        (p as *mut usize).add(1).write(42);
    }
    h
}

#[test]
#[should_panic(expected = "freed tag was overwritten")]
fn a_write_after_free_is_caught_when_the_block_is_handed_out_again() {
    let mut h = heap_with_a_block_written_after_free();
    // The page's carved blocks go first; `p` waits on `local_free` until
    // they run out, then is popped.
    for _ in 0..10_000 {
        let _ = h.alloc(L);
    }
}

#[test]
#[should_panic(expected = "freed tag was overwritten")]
fn check_heap_finds_a_write_after_free_the_program_never_reuses() {
    heap_with_a_block_written_after_free().check_heap();
}

#[test]
fn a_new_pages_first_block_is_handed_out_last_of_its_batch() {
    let mut h = heap();
    // A fresh page starts at a slice (4 KiB); its first carved batch is
    // 4 KiB of 48-byte blocks (85), of which only the first block lies on
    // a 4 KiB boundary. It is the address a freed large block there had: a
    // double free of that pointer must keep finding it free.
    let got: Vec<usize> = (0..85).map(|_| h.alloc(L) as usize).collect();
    let aligned: Vec<usize> = got.iter().copied().filter(|p| p % 4096 == 0).collect();
    assert_eq!(aligned.len(), 1, "{got:x?}");
    assert_eq!(got[84], aligned[0], "the page's first block came out early");
}

#[test]
fn check_heap_bounded_verifies_no_more_free_blocks_than_asked() {
    let h = heap_with_a_block_written_after_free();
    // The written block heads `local_free`, behind the page's carved blocks on `free`
    // (more than one: a carved batch of 48-byte blocks).
    h.check_heap_bounded(0);
    h.check_heap_bounded(1);
    let verified = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        h.check_heap_bounded(usize::MAX)
    }));
    assert!(verified.is_err(), "the unbounded check missed the write");
}

#[test]
#[should_panic(expected = "corrupted free list")]
fn check_heap_finds_an_overflow_into_a_free_neighbour() {
    let mut h = heap();
    let (_, neighbour) = first_block_and_free_neighbour(&mut h);
    // SAFETY: deliberately a one-byte overflow into a free neighbour's
    // first byte (a byte of its encoded link).
    unsafe { neighbour.write(neighbour.read() ^ 0x08) };
    h.check_heap();
}

/// A link rewritten to lead back along the list (`a`'s, to `b`, which leads
/// to `a`): every link still leads to a carved block with its tag, and the
/// walk names the cycle. (The test knows the links' encoding, `(next ^
/// key).rotate_left(17)`, and recovers the key from `b`'s link to `a`.)
#[test]
#[should_panic(expected = "closes a cycle")]
fn check_heap_names_a_cycle_in_a_free_list() {
    let mut h = heap();
    let (a, b) = two_freed(&mut h);
    // SAFETY: deliberately a write after free of `a`'s link.
    unsafe {
        let to_a = (b as *const usize).read();
        let key = to_a.rotate_right(17) ^ a as usize;
        (a as *mut usize).write((b as usize ^ key).rotate_left(17));
    }
    h.check_heap();
}
