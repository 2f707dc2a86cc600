//! Limitations of masu-core in small regions, found while measuring it for
//! `docs/embedded.md` and since lifted: each test states the behaviour one
//! wants and keeps it from coming back.

use core::alloc::Layout;
use masu_core::{Config, FixedRegion, Heap};

const KIB: usize = 1024;

/// `len` bytes aligned to `align`, never freed (the heap over them may be
/// dropped in any order).
fn memory(len: usize, align: usize) -> *mut u8 {
    let layout = Layout::from_size_align(len, align).unwrap();
    // SAFETY: `len` is non-zero.
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!p.is_null());
    p
}

/// A heap over `len` bytes with `SMALL_REGION`'s segments serving requests
/// up to 256 bytes (as `SMALL_REGION` did before direct blocks): the cases
/// below are about segments and pages.
fn small_heap(len: usize) -> Heap<FixedRegion> {
    let config = Config::SMALL_REGION.with_direct_above(256);
    let heap = Heap::new(FixedRegion::empty(), config);
    // SAFETY: fresh memory, leaked, used by nothing else; `init` runs once.
    unsafe { heap.os().init(memory(len, 16 * KIB), len) };
    heap
}

fn l(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// The last page of a size class is kept when it empties (so that a program
/// that allocates and frees one block in a loop does not thrash), until its
/// purge delay passes. Out of memory does not take it back, and neither does
/// `collect(false)`: with the region full, a 16-byte request fails while a
/// whole empty 2 KiB page sits in the heap.
#[test]
fn out_of_memory_reclaims_kept_empty_pages() {
    let mut h = small_heap(64 * KIB);
    let mut blocks = Vec::new();
    loop {
        let p = h.alloc(l(256));
        if p.is_null() {
            break;
        }
        blocks.push(p);
    }
    // The region's last bytes went to direct blocks once no segment fit.
    assert!(
        h.os().free_bytes() < 256 + 8,
        "{} B left",
        h.os().free_bytes()
    );
    // The last eight blocks: a page, or direct blocks, now free.
    for p in blocks.drain(blocks.len() - 8..) {
        // SAFETY: live blocks of this heap, freed once.
        unsafe { h.dealloc(p, l(256)) };
    }
    assert!(
        !h.alloc(l(16)).is_null(),
        "16 bytes refused with an empty 256-byte-class page in the heap"
    );
}

/// The same cause at a larger scale: after every block is freed, the kept
/// pages of several classes pin every segment of a 64 KiB region, so a block
/// that needs whole segments fails with `live_bytes == 0` until
/// `collect(true)`. (The Cortex-M firmware hits this and prints it.)
#[test]
fn a_large_block_fits_once_everything_is_freed() {
    let mut h = small_heap(64 * KIB);
    let mut blocks = Vec::new();
    for i in 0.. {
        let size = 8 + (i % 48) * 8;
        let p = h.alloc(l(size));
        if p.is_null() {
            break;
        }
        blocks.push((p, size));
    }
    for (p, size) in blocks {
        // SAFETY: live blocks of this heap, freed once.
        unsafe { h.dealloc(p, l(size)) };
    }
    assert_eq!(h.stats().live_bytes, 0);
    h.collect(false);
    assert!(
        !h.alloc(l(40 * KIB)).is_null(),
        "40 KiB refused with nothing live: {:?}",
        h.stats()
    );
}

/// `FixedRegion` took segments from `linked_list_allocator`, which cannot
/// leave a free tail smaller than its 16-byte hole header: a segment-aligned
/// region of one segment plus 8 bytes served nothing at all. (The region's
/// metadata now takes its top, so that region holds no segment; requests
/// are direct blocks.)
#[test]
fn a_region_one_segment_and_8_bytes_long_serves() {
    let mut h = small_heap(16 * KIB + 8);
    assert!(!h.alloc(l(8)).is_null());
}

/// The same at 64 KiB + 8 bytes, where the fourth segment was lost: the
/// region is used to its last bytes (three segments, the rest direct
/// blocks), so 64-byte blocks fill at least 85 % of it.
#[test]
fn a_region_four_segments_and_8_bytes_long_is_used_to_its_end() {
    let len = 64 * KIB + 8;
    let mut h = small_heap(len);
    let mut n = 0;
    while !h.alloc(l(64)).is_null() {
        n += 1;
    }
    assert!(n * 64 * 100 >= len * 85, "{n} blocks: {:?}", h.stats());
    assert!(h.os().free_bytes() < 64 + 8);
}

/// `FixedRegion::init` with fewer than 16 bytes panics inside
/// `linked_list_allocator` instead of giving an empty region.
#[test]
fn a_tiny_region_is_empty_not_a_panic() {
    let mut h = small_heap(8);
    assert!(h.alloc(l(8)).is_null());
}
