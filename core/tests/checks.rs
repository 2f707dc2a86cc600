//! The `checks` feature turns each kind of heap misuse into an immediate,
//! explained fault (the default handler panics with the message).
#![cfg(feature = "checks")]

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

const L64: Layout = match Layout::from_size_align(64, 8) {
    Ok(l) => l,
    Err(_) => panic!(),
};

#[test]
#[should_panic(expected = "double free")]
fn double_free_is_caught() {
    let mut h = heap();
    let p = h.alloc(L64);
    let _keep = h.alloc(L64); // keep the page from being released
                              // SAFETY: deliberately freeing twice to provoke the fault.
    unsafe {
        h.dealloc(p, L64);
        h.dealloc(p, L64);
    }
}

#[test]
#[should_panic(expected = "double free")]
fn double_free_after_the_block_moved_to_the_free_list_is_caught() {
    let mut h = heap();
    let blocks: Vec<_> = (0..100).map(|_| h.alloc(L64)).collect();
    // SAFETY: deliberate double free, with other frees in between.
    unsafe {
        h.dealloc(blocks[10], L64);
        for &b in &blocks[20..40] {
            h.dealloc(b, L64);
        }
        h.dealloc(blocks[10], L64);
    }
}

#[test]
#[should_panic(expected = "double free")]
fn double_free_of_a_large_block_is_caught() {
    let mut h = heap();
    let l = Layout::from_size_align(40_000, 8).unwrap();
    let p = h.alloc(l);
    let _keep = h.alloc(l);
    // SAFETY: deliberate double free; the span stays in the segment.
    unsafe {
        h.dealloc(p, l);
        h.dealloc(p, l);
    }
}

#[test]
fn a_reused_large_block_freed_by_another_heap_is_no_double_free() {
    // A large block is freed (its second word gets the freed tag), its span
    // handed out again untouched, and then freed by another heap, which
    // cannot search the owner's lists and trusts the tag: the tag must have
    // been cleared when the block was handed out again. (Found by the
    // `checks` fuzz target: `memalign`-style 8-byte blocks with a large
    // alignment, never written past their first word.)
    let region = common::shared_region(8 << 20);
    let mut a = Heap::new(region, Config::FIXED_REGION);
    let mut b = Heap::new(region, Config::FIXED_REGION);
    let l = Layout::from_size_align(40_000, 8).unwrap();
    let _keep = a.alloc(l);
    let p = a.alloc(l);
    // SAFETY: a live block of `a`, freed once.
    unsafe { a.dealloc(p, l) };
    let q = a.alloc(l);
    assert_eq!(q, p, "the freed span was not reused; the test needs it");
    // SAFETY: `q` is live (handed out again); `b` frees it once, remotely.
    unsafe { b.dealloc(q, l) };
    a.collect(false);
    assert_eq!(a.stats().large_spans, 1);
}

#[test]
#[should_panic(expected = "double free")]
fn cross_heap_double_free_is_caught() {
    let region = common::shared_region(8 << 20);
    let mut a = Heap::new(region, Config::FIXED_REGION);
    let mut b = Heap::new(region, Config::FIXED_REGION);
    let p = a.alloc(L64);
    let _keep = a.alloc(L64);
    // SAFETY: `b` frees `a`'s block twice (two remote frees).
    unsafe {
        b.dealloc(p, L64);
        b.dealloc(p, L64);
    }
}

#[test]
#[should_panic(expected = "foreign pointer")]
fn pointer_outside_the_region_is_caught() {
    let mut h = heap();
    let _ = h.alloc(L64);
    let mut outside = [0u64; 16];
    // SAFETY: deliberately freeing memory masu did not hand out.
    unsafe { h.dealloc(outside.as_mut_ptr().add(8) as *mut u8, L64) };
}

#[test]
#[should_panic(expected = "foreign pointer")]
fn interior_pointer_is_caught() {
    let mut h = heap();
    let p = h.alloc(L64);
    // SAFETY: deliberately freeing a pointer into the middle of a block.
    unsafe { h.dealloc(p.add(8), L64) };
}

#[test]
#[should_panic(expected = "foreign pointer")]
fn pointer_into_a_free_page_is_caught() {
    let mut h = heap();
    let p = h.alloc(L64);
    // A pointer a few slices further on lies in slices no page uses.
    // SAFETY: deliberately freeing memory no page owns.
    unsafe { h.dealloc(p.add(16 * 4096 + 64), L64) };
}

#[test]
#[should_panic(expected = "layout mismatch")]
fn wrong_layout_size_is_caught() {
    let mut h = heap();
    let p = h.alloc(L64);
    // SAFETY: deliberately freeing with another size class.
    unsafe { h.dealloc(p, Layout::from_size_align(512, 8).unwrap()) };
}

#[test]
#[should_panic(expected = "layout mismatch")]
fn wrong_layout_for_a_large_block_is_caught() {
    let mut h = heap();
    let l = Layout::from_size_align(40_000, 8).unwrap();
    let p = h.alloc(l);
    // SAFETY: deliberately freeing a large block with a small layout.
    unsafe { h.dealloc(p, L64) };
}

/// The size matches but the alignment served the block from a large span
/// (found by the `checks` fuzz target: the size check alone passed it).
#[test]
#[should_panic(expected = "alignment differs")]
fn wrong_alignment_for_a_large_block_is_caught() {
    let mut h = heap();
    let p = h.alloc(Layout::from_size_align(16, 1 << 16).unwrap());
    // SAFETY: deliberately freeing with a layout of another alignment.
    unsafe { h.dealloc(p, Layout::from_size_align(16, 8).unwrap()) };
}

/// The same for a small block whose alignment chose a larger class.
#[test]
#[should_panic(expected = "alignment differs")]
fn wrong_alignment_for_a_small_block_is_caught() {
    let mut h = heap();
    let p = h.alloc(Layout::from_size_align(16, 256).unwrap());
    // SAFETY: deliberately freeing with a layout of another alignment.
    unsafe { h.dealloc(p, Layout::from_size_align(16, 8).unwrap()) };
}

/// A layout whose alignment differs but picks the same class is the
/// block's own class: nothing to report, the block is freed.
#[test]
fn an_alignment_of_the_same_class_passes() {
    let mut h = heap();
    let p = h.alloc(Layout::from_size_align(64, 8).unwrap());
    // SAFETY: size 64 at alignment 16 is served by the same class.
    unsafe { h.dealloc(p, Layout::from_size_align(64, 16).unwrap()) };
    assert_eq!(h.stats().live_bytes, 0);
}

#[test]
#[should_panic(expected = "write after free")]
fn scribbled_free_list_is_caught() {
    let mut h = heap();
    let a = h.alloc(L64);
    let b = h.alloc(L64);
    let _keep = h.alloc(L64);
    // SAFETY: after the frees, `b` is on the free list; scribbling its link
    // (a use after free) must be detected when the list is walked.
    unsafe {
        h.dealloc(a, L64);
        h.dealloc(b, L64);
        (b as *mut usize).write(0x1234_5678);
    }
    // Allocations drain the page's free list, then collect `b` and `a`
    // from `local_free`, pop `b` and follow its scribbled link.
    for _ in 0..common::scaled(10_000, 2_000) {
        let _ = h.alloc(L64);
    }
}

#[test]
fn correct_use_raises_no_fault() {
    // Fewer under miri, where every block's fill is checked a word at a
    // time in the interpreter (see `common::scaled`).
    let mut h = Heap::new(
        FixedRegion::from_slice(common::region(common::scaled(32 << 20, 4 << 20))),
        Config::FIXED_REGION,
    );
    let mut blocks = Vec::new();
    for i in 0..common::scaled(2000, 300) {
        let l = Layout::from_size_align(1 + (i * 97) % 5000, 1 << (i % 8)).unwrap();
        blocks.push((h.alloc(l), l));
    }
    for (p, l) in blocks.drain(..).rev() {
        // SAFETY: live blocks with their layouts.
        unsafe { h.dealloc(p, l) };
    }
    assert_counted!(h.stats().live_bytes, 0);
}

// The redzone (`redzone.rs`): overflows, underflows and writes into
// zero-size blocks, verified at free, `realloc` and by `usable_size`'s
// contract; the free fill (`block_check.rs`): writes after a free.

/// Allocates `size` bytes, lets `misuse` write to the block, then frees it.
fn misuse_then_free(size: usize, misuse: impl FnOnce(*mut u8)) {
    let mut h = heap();
    let l = Layout::from_size_align(size, 8).unwrap();
    let p = h.alloc(l);
    // With `checks`, the usable size is the request itself.
    // SAFETY: a live block.
    assert_eq!(unsafe { h.usable_size(p) }, size);
    misuse(p);
    // SAFETY: a live block with its layout.
    unsafe { h.dealloc(p, l) };
}

#[test]
#[should_panic(expected = "buffer overflow")]
fn a_one_byte_overflow_of_a_small_block_is_caught() {
    // SAFETY: deliberately one byte past the end.
    misuse_then_free(100, |p| unsafe { p.add(100).write(0) });
}

#[test]
#[should_panic(expected = "buffer overflow")]
fn an_overflow_into_the_trailer_is_caught() {
    // 104 bytes + 16 = 120: a class with no slack, so the first byte past
    // the end is the trailer's.
    // SAFETY: deliberately one byte past the end.
    misuse_then_free(104, |p| unsafe { p.add(104).write(0x55) });
}

/// The first byte past a request that fills its block and the last byte
/// before the block after it are the trailer's fixed bytes: a one-byte
/// overflow or underflow is caught whatever byte it writes, except that
/// fixed byte itself (as in the slack). When those bytes were masked like
/// the rest of the trailer, one such write in 256 went unseen.
#[test]
fn a_one_byte_overflow_or_underflow_is_caught_whatever_byte_it_writes() {
    // 104 bytes + the 16-byte trailer fill the 120-byte class.
    let l = Layout::from_size_align(104, 8).unwrap();
    let mut h = heap();
    let (a, b) = (h.alloc(l), h.alloc(l));
    assert_eq!(b as usize, a as usize + 120, "blocks in order");
    // SAFETY: reads of `a`'s trailer, inside its block.
    let fixed = unsafe { (a.add(104).read(), b.sub(1).read()) };
    assert_eq!(fixed, (0xbd, 0xbd), "the trailer's first and last bytes");
    let me = std::thread::current().id();
    let quiet = std::sync::Arc::new(std::panic::take_hook());
    let others = quiet.clone();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != me {
            others(info)
        }
    }));
    let mut missed = Vec::new();
    for v in (0..=255u8).step_by(common::scaled(1, 37)) {
        for under in [false, true] {
            let r = std::panic::catch_unwind(|| {
                let mut h = Heap::new(
                    FixedRegion::from_slice(common::region(256 << 10)),
                    Config::FIXED_REGION,
                );
                let a = h.alloc(l);
                let b = h.alloc(l);
                assert_eq!(b as usize, a as usize + 120, "blocks in order");
                // SAFETY: deliberately one byte past `a`'s request, or one
                // before `b`: `a`'s trailer's first or last byte.
                unsafe {
                    if under {
                        b.sub(1).write(v);
                    } else {
                        a.add(104).write(v);
                    }
                    h.dealloc(a, l);
                    h.dealloc(b, l);
                }
            });
            let caught = r.is_err_and(|e| {
                e.downcast_ref::<String>()
                    .is_some_and(|m| m.contains("buffer overflow"))
            });
            if !caught {
                missed.push((v, under));
            }
        }
    }
    let _ = std::panic::take_hook();
    if let Ok(hook) = std::sync::Arc::try_unwrap(quiet) {
        std::panic::set_hook(hook);
    }
    // 0xbd is the fixed byte: writing it changes nothing.
    let want: Vec<(u8, bool)> = if common::scaled(1, 0) == 1 {
        vec![(0xbd, false), (0xbd, true)]
    } else {
        Vec::new()
    };
    assert_eq!(
        missed, want,
        "one-byte writes (value, underflow) not caught"
    );
}

#[test]
#[should_panic(expected = "buffer overflow")]
fn a_one_byte_overflow_of_a_large_block_is_caught() {
    // SAFETY: deliberately one byte past the end.
    misuse_then_free(40_000, |p| unsafe { p.add(40_000).write(1) });
}

#[test]
#[should_panic(expected = "buffer overflow")]
fn a_one_byte_overflow_of_a_huge_block_is_caught() {
    // SAFETY: deliberately one byte past the end.
    misuse_then_free(3 << 20, |p| unsafe { p.add(3 << 20).write(1) });
}

#[test]
#[should_panic(expected = "buffer overflow")]
fn a_write_into_a_zero_size_block_is_caught() {
    // SAFETY: deliberately writing a block of 0 bytes.
    misuse_then_free(0, |p| unsafe { p.write(1) });
}

#[test]
#[should_panic(expected = "buffer overflow")]
fn an_underflow_is_caught_at_the_free_of_the_block_before() {
    let mut h = heap();
    let a = h.alloc(L64);
    let b = h.alloc(L64);
    assert_eq!(b as usize, a as usize + 80, "blocks of one page, in order");
    // SAFETY: deliberately one byte before `b`: the last byte of `a`'s
    // trailer.
    unsafe {
        b.sub(1).write(0);
        h.dealloc(b, L64);
        h.dealloc(a, L64);
    }
}

#[test]
#[should_panic(expected = "buffer overflow")]
fn an_overflow_is_caught_at_realloc() {
    let mut h = heap();
    let p = h.alloc(L64);
    // SAFETY: deliberately one byte past the end, then a realloc in place.
    unsafe {
        p.add(64).write(0);
        h.realloc(p, L64, 65);
    }
}

#[test]
#[should_panic(expected = "write after free")]
fn a_write_after_free_is_caught_when_the_block_is_handed_out_again() {
    let mut h = heap();
    let p = h.alloc(L64);
    // SAFETY: deliberately writing the freed block's middle (not its link).
    unsafe {
        h.dealloc(p, L64);
        p.add(40).write(7);
    }
    // Allocations drain the page's free list, then collect `p` from
    // `local_free` and hand it out.
    for _ in 0..common::scaled(10_000, 2_000) {
        let _ = h.alloc(L64);
    }
}

#[test]
#[should_panic(expected = "layout mismatch")]
fn a_free_with_another_size_of_the_same_class_is_caught() {
    let mut h = heap();
    let p = h.alloc(L64);
    // SAFETY: deliberately 63 for a block of 64 (the same class).
    unsafe { h.dealloc(p, Layout::from_size_align(63, 8).unwrap()) };
}

#[test]
fn writes_up_to_the_end_and_resizes_raise_no_fault() {
    let mut h = heap();
    for size in [0, 1, 7, 8, 15, 16, 100, 104, 1000, 4096, 40_000, 300_000] {
        let l = Layout::from_size_align(size, 8).unwrap();
        let p = h.alloc(l);
        // SAFETY: the block's `size` bytes are ours; then grown and shrunk
        // (every byte up to each new end written) and freed.
        unsafe {
            p.write_bytes(0xab, size);
            let q = h.realloc(p, l, size * 2 + 3);
            q.write_bytes(0xcd, size * 2 + 3);
            let r = h.realloc(
                q,
                Layout::from_size_align(size * 2 + 3, 8).unwrap(),
                size / 2,
            );
            r.write_bytes(0xef, size / 2);
            h.dealloc(r, Layout::from_size_align(size / 2, 8).unwrap());
        }
    }
}

// The quarantine (`quarantine.rs`).

fn quarantined_heap(bytes: usize) -> Heap<FixedRegion> {
    Heap::new(
        FixedRegion::from_slice(common::region(4 << 20)),
        Config::FIXED_REGION.with_quarantine(bytes),
    )
}

#[test]
fn a_quarantined_block_is_not_handed_out_until_it_leaves() {
    let mut h = quarantined_heap(64 * 80);
    let p = h.alloc(L64);
    // SAFETY: a live block, freed once.
    unsafe { h.dealloc(p, L64) };
    // 63 more blocks of 80 bytes fit beside it under the bound: none of
    // the next allocations is `p` while it waits.
    let mut later = Vec::new();
    for _ in 0..63 {
        let q = h.alloc(L64);
        assert_ne!(q, p, "a quarantined block was handed out");
        // SAFETY: a live block, freed once (into the quarantine).
        unsafe { h.dealloc(q, L64) };
        later.push(q);
    }
    // `collect` empties the quarantine: the block is free again, no fault.
    h.collect(false);
    assert_counted!(h.stats().live_bytes, 0);
    h.assert_valid();
}

#[test]
#[should_panic(expected = "double free")]
fn a_double_free_of_a_quarantined_block_is_caught() {
    let mut h = quarantined_heap(1 << 16);
    let p = h.alloc(L64);
    // SAFETY: deliberately freed twice.
    unsafe {
        h.dealloc(p, L64);
        h.dealloc(p, L64);
    }
}

#[test]
#[should_panic(expected = "write after free")]
fn a_write_into_a_quarantined_block_is_caught_when_it_leaves() {
    let mut h = quarantined_heap(1 << 16);
    let p = h.alloc(L64);
    // SAFETY: deliberately writing the block after its free.
    unsafe {
        h.dealloc(p, L64);
        p.add(20).write(1);
    }
    h.collect(false);
}

// On-demand checks: `check_heap` (every block) and `check_quarantine` (the
// recently freed ones, what a fuzz target calls after each input).

#[test]
#[should_panic(expected = "write after free")]
fn check_quarantine_finds_a_write_into_a_block_freed_a_moment_ago() {
    // Not dropped while the fault unwinds: dropping a heap empties its
    // quarantine, which would find the write again.
    let mut h = std::mem::ManuallyDrop::new(quarantined_heap(1 << 16));
    let p = h.alloc(L64);
    // SAFETY: a live block freed once, then (deliberately) written.
    unsafe {
        h.dealloc(p, L64);
        p.add(40).write(7);
    }
    h.check_quarantine();
}

#[test]
fn check_quarantine_passes_a_clean_heap_and_ignores_live_blocks() {
    let mut h = quarantined_heap(1 << 16);
    let live = h.alloc(L64);
    for _ in 0..100 {
        let p = h.alloc(L64);
        // SAFETY: a live block, written within its size, freed once.
        unsafe {
            p.write_bytes(3, 64);
            h.dealloc(p, L64);
        }
    }
    // SAFETY: written within the live block's size.
    unsafe { live.write_bytes(9, 64) };
    h.check_quarantine();
    h.check_heap();
}

#[test]
#[should_panic(expected = "buffer overflow")]
fn check_heap_finds_an_overflow_of_a_block_never_freed() {
    let mut h = std::mem::ManuallyDrop::new(heap());
    let p = h.alloc(L64);
    // SAFETY: deliberately one byte past the block.
    unsafe { p.add(64).write(1) };
    h.check_heap();
}
