//! `Config::coarse_above`: requests above it take every second size class
//! (4 classes a doubling instead of 8).

mod common;

use common::VmLikeOs;
use core::alloc::Layout;
use masu_core::size_class::{class_of, class_size, CLASS_COUNT, DIRECT_MAX};
use masu_core::{Config, Heap};

/// With `checks` every block carries a 16-byte trailer: ask for that much
/// less, so that each request still lands in the class it names.
const TRAILER: usize = if cfg!(feature = "checks") { 16 } else { 0 };

/// One block of each class above `DIRECT_MAX`, each sized to its class;
/// returns the classes that made a page, and frees the blocks.
fn classes_used(config: Config) -> Vec<usize> {
    let mut h = Heap::new(VmLikeOs::new(64 << 20), config);
    let first = class_of(DIRECT_MAX + 1);
    let blocks: Vec<(*mut u8, Layout)> = (first..CLASS_COUNT)
        .map(|c| {
            let l = Layout::from_size_align(class_size(c) - TRAILER, 8).unwrap();
            let p = h.alloc(l);
            assert!(!p.is_null());
            // SAFETY: a live block of at least `l.size()` bytes.
            let usable = unsafe { h.usable_size(p) };
            assert!(usable >= l.size(), "class {c}: {usable} bytes");
            (p, l)
        })
        .collect();
    let pages = h.stats().pages_per_class;
    for (p, l) in blocks {
        // SAFETY: live blocks, freed once.
        unsafe { h.dealloc(p, l) };
    }
    (first..CLASS_COUNT).filter(|&c| pages[c] != 0).collect()
}

#[test]
fn above_coarse_above_only_every_second_class_makes_pages() {
    let coarse = classes_used(Config::VIRTUAL_MEMORY.with_coarse_above(DIRECT_MAX));
    // The larger class of each pair serves both: 1152 and 1280 B take 1280.
    assert_eq!(coarse.len(), (CLASS_COUNT - class_of(DIRECT_MAX + 1)) / 2);
    assert!(coarse.iter().all(|&c| c % 2 == 1), "{coarse:?}");
    // Its twin: 8 classes a doubling, every class makes its page.
    let fine = classes_used(Config::VIRTUAL_MEMORY.with_coarse_above(usize::MAX));
    assert_eq!(fine.len(), CLASS_COUNT - class_of(DIRECT_MAX + 1));
}

#[test]
fn a_coarse_block_is_at_most_a_quarter_larger_than_asked() {
    let mut h = Heap::new(VmLikeOs::new(64 << 20), Config::VIRTUAL_MEMORY);
    assert_eq!(Config::VIRTUAL_MEMORY.coarse_above, DIRECT_MAX);
    for size in (DIRECT_MAX + 8..=64 << 10).step_by(520) {
        let l = Layout::from_size_align(size, 8).unwrap();
        let p = h.alloc(l);
        // SAFETY: a live block.
        let usable = unsafe { h.usable_size(p) };
        assert!(usable >= size && usable <= size + TRAILER + size / 4);
        // SAFETY: live; a realloc up to its usable size stays in place.
        unsafe {
            let q = h.realloc(p, l, usable);
            assert_eq!(q, p, "size {size}");
            h.dealloc(q, Layout::from_size_align(usable, 8).unwrap());
        }
    }
    // Up to `DIRECT_MAX`, 8 classes a doubling as before.
    let l = Layout::from_size_align(1000 - TRAILER, 8).unwrap();
    let p = h.alloc(l);
    // SAFETY: a live block, freed once.
    unsafe {
        if TRAILER == 0 {
            assert_eq!(h.usable_size(p), 1024);
        }
        h.dealloc(p, l);
    }
}
