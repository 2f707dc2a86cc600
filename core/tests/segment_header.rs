//! A normal segment's header writes the page descriptors past its first
//! memory page only once a slice they describe is first used, so a lightly
//! used segment keeps one header page resident instead of two (without
//! `checks` and `secure`, which validate any pointer by its descriptor and
//! so write every descriptor at once).

#[macro_use]
mod common;

use common::VmLikeOs;
use core::alloc::Layout;
use masu_core::{Config, Heap};

/// `VIRTUAL_MEMORY`'s segment size.
const SEGMENT: usize = 4 << 20;

/// The bytes of the header's second memory page of the segment holding `p`.
fn second_header_page(p: *mut u8) -> &'static [u8] {
    let seg = (p as usize - 1) & !(SEGMENT - 1);
    // SAFETY: the segment's header slice (64 KiB) is committed and ours;
    // nothing writes it while the test reads it.
    unsafe { core::slice::from_raw_parts((seg + 4096) as *const u8, 4096) }
}

#[test]
fn later_descriptors_are_written_only_when_their_slices_are_used() {
    let os = VmLikeOs::new(16 << 20);
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY);
    let small = Layout::from_size_align(48, 8).unwrap();
    let first = h.alloc(small);
    assert!(!first.is_null());
    let eager = cfg!(any(feature = "checks", feature = "secure"));
    let touched = second_header_page(first).iter().any(|&b| b != 0);
    assert_eq!(
        touched, eager,
        "the header's second page after one small allocation (fresh memory reads as zero)"
    );
    h.check_invariants().unwrap();

    // Large spans of two 64 KiB slices each: 30 of them reach slice 61,
    // whose descriptor lies in the second page.
    let large = Layout::from_size_align(100 << 10, 8).unwrap();
    let spans: Vec<*mut u8> = (0..30).map(|_| h.alloc(large)).collect();
    assert!(spans.iter().all(|p| !p.is_null()));
    let same_segment =
        |p: &&*mut u8| (**p as usize - 1) & !(SEGMENT - 1) == (first as usize - 1) & !(SEGMENT - 1);
    assert!(
        spans.iter().filter(same_segment).count() >= 25,
        "the spans did not go to the first segment"
    );
    assert!(
        second_header_page(first).iter().any(|&b| b != 0),
        "slices past the first page's descriptors are in use, but their descriptors were never written"
    );
    h.check_invariants().unwrap();
    for p in spans {
        // SAFETY: live blocks of `large`.
        unsafe { h.dealloc(p, large) };
    }
    // SAFETY: a live block of `small`.
    unsafe { h.dealloc(first, small) };
    h.check_invariants().unwrap();
}
