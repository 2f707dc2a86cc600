//! Guard pages with the `secure` feature (`MASU_GUARD_PAGES`, on by
//! default): the kernel's own map of the process (`/proc/self/maps`) shows
//! an inaccessible page after every segment, between a segment's header
//! and its first blocks, before a huge block and after its reservation,
//! also once the block has grown by `mremap`. (Run with `--features
//! secure`; without it the file is empty.)
#![cfg(feature = "secure")]

use std::alloc::{alloc, dealloc, realloc, Layout};

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

const MIB: usize = 1 << 20;
/// The shim's segments (`Config::VIRTUAL_MEMORY`): 4 MiB of 64 KiB slices.
const SEGMENT: usize = 4 * MIB;
const SLICE: usize = 64 << 10;

/// The permissions (`rw-p`, `---p`, ...) and the end of the mapping that
/// holds `addr`, or None when nothing is mapped there.
fn mapping(addr: usize) -> Option<(String, usize)> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        let (range, perms) = (f.next()?, f.next()?);
        let (lo, hi) = range.split_once('-')?;
        let lo = usize::from_str_radix(lo, 16).ok()?;
        let hi = usize::from_str_radix(hi, 16).ok()?;
        (lo <= addr && addr < hi).then(|| (perms.to_string(), hi))
    })
}

fn perms(addr: usize) -> Option<String> {
    mapping(addr).map(|(p, _)| p)
}

/// Asserts that the read-write memory from the block's last byte ends
/// within a page past the block (the rest of the `Os` page it ends in, and
/// with `checks` the block's trailer) and a guard page follows.
fn assert_guard_after(last: usize, what: &str) {
    let (p, end) = mapping(last).expect("the block is mapped");
    assert_eq!(p, "rw-p", "{what}: the block's last byte");
    assert!(
        end - last <= 2 * 4096,
        "{what}: {:#x} bytes of read-write memory past the block",
        end - last
    );
    assert_guard(end, what);
}

fn assert_guard(addr: usize, what: &str) {
    assert_eq!(
        perms(addr).as_deref(),
        Some("---p"),
        "{what}: {addr:#x} is not a guard page"
    );
}

fn assert_usable(addr: usize, what: &str) {
    assert_eq!(
        perms(addr).as_deref(),
        Some("rw-p"),
        "{what}: {addr:#x} is not read-write"
    );
}

#[test]
fn a_segment_has_guard_pages_after_its_header_and_after_its_end() {
    masu::init();
    let l = Layout::from_size_align(48, 8).unwrap();
    // SAFETY: a valid layout; the block is freed with it.
    unsafe {
        let p = alloc(l);
        assert!(!p.is_null());
        let seg = p as usize & !(SEGMENT - 1);
        assert_usable(seg, "the segment header");
        // The header (a few KiB of descriptors) is followed by guard pages
        // up to the first slice of blocks.
        assert_guard(seg + SLICE - 4096, "the end of the header slice");
        assert_usable(seg + SLICE, "the first slice");
        assert_usable(p as usize, "the block");
        assert_guard(seg + SEGMENT, "the page after the segment");
        dealloc(p, l);
    }
    assert!(masu::os_stats().mprotect_calls >= 2);
}

#[test]
fn a_huge_block_has_a_guard_page_on_each_side_also_after_it_grows() {
    masu::init();
    let l = Layout::from_size_align(8 * MIB, 16).unwrap();
    // SAFETY: a valid layout; the block is used within its size and freed
    // with the layout it has.
    unsafe {
        let p = alloc(l);
        assert!(!p.is_null());
        assert_guard(p as usize - 1, "the page before the huge block");
        assert_usable(p as usize, "the block's first byte");
        assert_usable(p as usize + l.size() - 1, "the block's last byte");
        assert_guard_after(p as usize + l.size() - 1, "the page after the huge block");
        p.write_bytes(0x5a, l.size());
        // Grown past its reservation: moved by `mremap` (or copied), the
        // guard pages follow it and the old one is gone.
        let q = realloc(p, l, 40 * MIB);
        assert!(!q.is_null());
        assert_eq!(q.add(l.size() - 1).read(), 0x5a);
        q.add(40 * MIB - 1).write(1);
        assert_guard(q as usize - 1, "the page before the grown block");
        assert_guard_after(q as usize + 40 * MIB - 1, "the page after the grown block");
        if q != p {
            assert_ne!(
                perms(p as usize + l.size()).as_deref(),
                Some("---p"),
                "the old guard page was left behind"
            );
        }
        dealloc(q, Layout::from_size_align(40 * MIB, 16).unwrap());
    }
}

#[test]
fn a_cached_huge_segment_reused_at_another_alignment_keeps_its_guard_out_of_the_block() {
    masu::init();
    // SAFETY: valid layouts; every block is used within its size and freed
    // with its layout.
    unsafe {
        for (first, second) in [(64 << 10, 16), (16, 64 << 10), (1 << 20, 16)] {
            let a = Layout::from_size_align(8 * MIB, first).unwrap();
            let p = alloc(a);
            assert!(!p.is_null());
            p.write_bytes(1, a.size());
            dealloc(p, a); // into the segment cache
            let b = Layout::from_size_align(8 * MIB - 4096, second).unwrap();
            let q = std::alloc::alloc_zeroed(b);
            assert!(!q.is_null());
            q.write_bytes(2, b.size());
            // The guard page follows the header's page, whatever the
            // alignment (the header is at the block's segment address).
            let header = (q as usize - 1) & !(SEGMENT - 1);
            assert_guard(header + 4096, "the page after the huge header");
            dealloc(q, b);
        }
    }
}
