//! Arenas (`Config::arena_above`): medium requests served from a heap's
//! coalescing store instead of the size classes. With the `arenas` feature
//! and without `checks` and `secure` only: otherwise there are none
//! (tested too).

#[macro_use]
mod common;

use common::{pattern, Rng, VmLikeOs};
use core::alloc::Layout;
use masu_core::{Config, Heap, ARENA_MAX};

const ABOVE: usize = 2048;

fn config() -> Config {
    Config::VIRTUAL_MEMORY.with_arena_above(ABOVE)
}

const ARENAS: bool = cfg!(feature = "arenas") && !cfg!(any(feature = "checks", feature = "secure"));

/// A live block of the model: where, its layout, its fill.
struct Live {
    p: *mut u8,
    layout: Layout,
    id: u64,
}

fn fill(b: &Live) {
    for off in [0, b.layout.size() / 2, b.layout.size() - 1] {
        // SAFETY: a live block of `layout.size()` bytes.
        unsafe { *b.p.add(off) = pattern(b.id, off) };
    }
}

fn verify(b: &Live) {
    for off in [0, b.layout.size() / 2, b.layout.size() - 1] {
        // SAFETY: as above.
        let byte = unsafe { *b.p.add(off) };
        assert_eq!(byte, pattern(b.id, off), "block {} at {off}", b.id);
    }
}

/// The sum of the block sizes of the live blocks: the heap's live bytes.
fn usable_sum(h: &Heap<&'static VmLikeOs>, live: &[Live]) -> usize {
    // SAFETY: live blocks of `h`.
    live.iter().map(|b| unsafe { h.block_size(b.p) }).sum()
}

#[test]
fn mixed_sizes_keep_their_contents_counts_and_invariants() {
    let os = VmLikeOs::new(256 << 20);
    let mut h = Heap::new(os, config());
    let mut rng = Rng::with_seed(0xa7e4a);
    let mut live: Vec<Live> = Vec::new();
    for id in 0..40_000u64 {
        let r = rng.u64(..100);
        if r < 42 || live.is_empty() {
            let size = match rng.u64(..3) {
                0 => 16 + rng.u64(..2048) as usize,
                _ => ABOVE + 1 + rng.u64(..(ARENA_MAX - ABOVE) as u64) as usize,
            };
            let layout = Layout::from_size_align(size, 16).unwrap();
            let p = h.alloc(layout);
            assert!(!p.is_null(), "{size} B: {:?}", h.stats());
            assert_eq!(p as usize % 16, 0, "a block of {size} B is not 16-aligned");
            let b = Live { p, layout, id };
            fill(&b);
            live.push(b);
        } else if r < 84 {
            let b = live.swap_remove(rng.u64(..live.len() as u64) as usize);
            verify(&b);
            // SAFETY: a live block with its layout.
            unsafe { h.dealloc(b.p, b.layout) };
        } else {
            let i = rng.u64(..live.len() as u64) as usize;
            verify(&live[i]);
            let size = 16 + rng.u64(..ARENA_MAX as u64 + 4096) as usize;
            let old = live[i].layout;
            // SAFETY: a live block with its layout.
            let q = unsafe { h.realloc(live[i].p, old, size) };
            assert!(!q.is_null());
            assert_eq!(q as usize % 16, 0);
            let kept = old.size().min(size);
            for off in [0, kept / 2, kept - 1] {
                // SAFETY: the first `kept` bytes moved with the block.
                let byte = unsafe { *q.add(off) };
                let b = &live[i];
                if [0, old.size() / 2, old.size() - 1].contains(&off) {
                    assert_eq!(byte, pattern(b.id, off), "realloc lost byte {off}");
                }
            }
            live[i] = Live {
                p: q,
                layout: Layout::from_size_align(size, 16).unwrap(),
                id: id | 1 << 63,
            };
            fill(&live[i]);
        }
        if id % 4096 == 0 {
            h.check_invariants().unwrap();
            assert_counted!(h.stats().live_bytes, usable_sum(&h, &live));
        }
    }
    h.check_invariants().unwrap();
    assert_counted!(h.stats().live_bytes, usable_sum(&h, &live));
    let b = h.committed_breakdown();
    assert_eq!(b.total(), h.stats().committed_bytes);
    for b in live.drain(..) {
        verify(&b);
        // SAFETY: live blocks with their layouts.
        unsafe { h.dealloc(b.p, b.layout) };
    }
    h.collect(true);
    h.check_invariants().unwrap();
    assert_counted!(h.stats().live_bytes, 0);
    assert_eq!(
        h.stats().segments,
        0,
        "an empty arena or segment stayed after collect"
    );
}

#[test]
fn medium_requests_share_one_store() {
    // One live block of each of 60 medium sizes: in the classes each takes
    // its own page (at least 64 KiB); in an arena they share its memory.
    let os = VmLikeOs::new(64 << 20);
    let mut h = Heap::new(os, config());
    let sizes: Vec<usize> = (0..60).map(|i| 2100 + i * 500).collect();
    let blocks: Vec<(*mut u8, Layout)> = sizes
        .iter()
        .map(|&s| {
            let l = Layout::from_size_align(s, 8).unwrap();
            (h.alloc(l), l)
        })
        .collect();
    let committed = h.stats().committed_bytes;
    if ARENAS {
        assert!(
            committed <= 2 << 20,
            "{committed} B committed for 60 blocks of about 17 KiB"
        );
        assert_eq!(
            h.stats().segments,
            1,
            "60 medium blocks took more than one arena"
        );
    } else {
        // 2100 to 31,600 B: 4 classes a doubling (`coarse_above`), 16 in
        // all, each with a page of its own.
        assert_eq!(
            h.stats()
                .pages_per_class
                .iter()
                .filter(|&&n| n != 0)
                .count(),
            16
        );
    }
    for (p, l) in blocks {
        // SAFETY: live blocks with their layouts.
        unsafe { h.dealloc(p, l) };
    }
    h.check_invariants().unwrap();
}

#[test]
fn other_heaps_frees_come_back_to_the_owner() {
    let os = VmLikeOs::new(64 << 20);
    let mut owner = Heap::new(os, config());
    let mut other = Heap::new(os, config());
    let l = Layout::from_size_align(10_000, 16).unwrap();
    // Enough blocks to fill most of one arena (1 MiB).
    let blocks: Vec<*mut u8> = (0..90).map(|_| owner.alloc(l)).collect();
    assert!(blocks.iter().all(|p| !p.is_null()));
    let before = owner.stats().live_bytes;
    for &p in &blocks {
        // SAFETY: live blocks of `owner`, freed through another heap over
        // the same memory.
        unsafe { other.dealloc(p, l) };
    }
    other.flush_remote_frees();
    owner.check_invariants().unwrap();
    // Not yet taken back: still counted live by the owner.
    assert_counted!(owner.stats().live_bytes, before);
    owner.collect(false);
    owner.check_invariants().unwrap();
    assert_counted!(owner.stats().live_bytes, 0);
    if ARENAS {
        assert!(owner.stats().remote_frees_collected >= 90);
        assert_eq!(
            owner.stats().segments,
            1,
            "collect(false) gave back the only arena"
        );
    }
    // The memory serves the owner again.
    let again: Vec<*mut u8> = (0..90).map(|_| owner.alloc(l)).collect();
    assert!(again.iter().all(|p| !p.is_null()));
    owner.check_invariants().unwrap();
    for p in again {
        // SAFETY: live blocks of `owner`.
        unsafe { owner.dealloc(p, l) };
    }
    owner.check_invariants().unwrap();
    other.check_invariants().unwrap();
    owner.collect(true);
    assert_eq!(
        owner.stats().segments,
        0,
        "collect(true) kept an empty arena"
    );
}

#[test]
fn remote_frees_are_taken_back_when_the_arena_runs_out() {
    let os = VmLikeOs::new(64 << 20);
    let mut owner = Heap::new(os, config());
    let mut other = Heap::new(os, config());
    let l = Layout::from_size_align(30_000, 16).unwrap();
    // Fill, free all remotely, fill again: the second fill reuses the
    // first's memory instead of making arenas (no collect in between).
    let first: Vec<*mut u8> = (0..30).map(|_| owner.alloc(l)).collect();
    let segments = owner.stats().segments;
    for &p in &first {
        // SAFETY: live blocks of `owner`.
        unsafe { other.dealloc(p, l) };
    }
    other.flush_remote_frees();
    let second: Vec<*mut u8> = (0..30).map(|_| owner.alloc(l)).collect();
    assert!(second.iter().all(|p| !p.is_null()));
    assert_eq!(
        owner.stats().segments,
        segments,
        "remote frees were not reused"
    );
    owner.check_invariants().unwrap();
    for p in second {
        // SAFETY: live blocks of `owner`.
        unsafe { owner.dealloc(p, l) };
    }
    owner.check_invariants().unwrap();
}

#[test]
fn an_emptied_arena_goes_back_when_another_serves() {
    if !ARENAS {
        return;
    }
    let os = VmLikeOs::new(64 << 20);
    let mut h = Heap::new(os, config());
    let l = Layout::from_size_align(30_000, 16).unwrap();
    // More than one arena's worth.
    let blocks: Vec<*mut u8> = (0..60).map(|_| h.alloc(l)).collect();
    assert_eq!(h.stats().segments, 2);
    let reserved = h.stats().reserved_bytes;
    for p in blocks {
        // SAFETY: live blocks of `h`.
        unsafe { h.dealloc(p, l) };
    }
    assert_eq!(h.stats().segments, 1, "both arenas kept after emptying");
    assert!(h.stats().reserved_bytes < reserved);
    assert_counted!(h.stats().live_bytes, 0);
    h.check_invariants().unwrap();
}

#[test]
fn off_by_default_and_above_the_range() {
    let os = VmLikeOs::new(64 << 20);
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY);
    let l = Layout::from_size_align(5000, 16).unwrap();
    let p = h.alloc(l);
    assert!(
        h.stats().pages_per_class.iter().any(|&n| n != 0),
        "no arenas by default"
    );
    // SAFETY: a live block.
    unsafe { h.dealloc(p, l) };
    let mut a = Heap::new(os, config());
    let big = Layout::from_size_align(ARENA_MAX + 1, 16).unwrap();
    let q = a.alloc(big);
    assert!(
        a.stats().pages_per_class.iter().any(|&n| n != 0),
        "a request above ARENA_MAX went to an arena"
    );
    // SAFETY: a live block.
    unsafe { a.dealloc(q, big) };
    a.collect(true);
    assert_eq!(a.stats().segments, 0);
    let aligned = Layout::from_size_align(4096, 64).unwrap();
    let r = a.alloc(aligned);
    assert_eq!(r as usize % 64, 0);
    assert!(
        a.stats().pages_per_class.iter().any(|&n| n != 0),
        "an alignment above 16 went to an arena"
    );
    // SAFETY: a live block.
    unsafe { a.dealloc(r, aligned) };
    a.check_invariants().unwrap();
}

#[test]
fn the_only_arena_stays_when_it_empties_and_its_memory_goes_after_the_delay() {
    if !ARENAS {
        return;
    }
    let os = VmLikeOs::new(64 << 20);
    os.clocked.store(true, std::sync::atomic::Ordering::Relaxed);
    // Without `wake_keep`, the first slow path after the pause purges.
    let mut h = Heap::new(os, config().with_purge_delay(10).with_wake_keep(false));
    let l = Layout::from_size_align(30_000, 16).unwrap();
    let blocks: Vec<*mut u8> = (0..30).map(|_| h.alloc(l)).collect();
    for p in blocks {
        // SAFETY: live blocks of `h`.
        unsafe { h.dealloc(p, l) };
    }
    assert_eq!(h.stats().segments, 1, "the only arena went when it emptied");
    assert!(
        os.discards.lock().unwrap().is_empty(),
        "discarded before the delay"
    );
    os.clock.store(20, std::sync::atomic::Ordering::Relaxed);
    // Slow paths look at the purge queue.
    let large = Layout::from_size_align(200_000, 16).unwrap();
    for _ in 0..4 {
        let p = h.alloc(large);
        // SAFETY: a live block.
        unsafe { h.dealloc(p, large) };
    }
    let discarded: usize = os.discards.lock().unwrap().iter().map(|d| d.1).sum();
    assert!(
        discarded >= 800 << 10,
        "{discarded} B of the emptied arena discarded"
    );
    h.check_invariants().unwrap();
    // It serves again, its memory reading as anything.
    let p = h.alloc(l);
    assert!(!p.is_null());
    assert_eq!(
        h.stats().segments,
        1,
        "a new arena was made instead of the kept one"
    );
    // SAFETY: a live block.
    unsafe { h.dealloc(p, l) };
    h.check_invariants().unwrap();
}

#[test]
fn an_idle_owners_arena_gets_back_what_other_heaps_freed() {
    if !ARENAS {
        return;
    }
    let os = VmLikeOs::new(64 << 20);
    let mut owner = Heap::new(os, config());
    let mut other = Heap::new(os, config());
    let l = Layout::from_size_align(30_000, 16).unwrap();
    // Two arenas' worth, all freed by the other heap while the owner idles.
    let blocks: Vec<*mut u8> = (0..60).map(|_| owner.alloc(l)).collect();
    assert_eq!(owner.stats().segments, 2);
    for p in blocks {
        // SAFETY: live blocks of `owner`.
        unsafe { other.dealloc(p, l) };
    }
    other.flush_remote_frees();
    // SAFETY: no other use of `owner` meanwhile (this thread is its owner
    // and makes no call during it).
    unsafe { owner.release_while_owner_idle(false) };
    assert_counted!(
        owner.stats().live_bytes,
        0,
        "the remote frees were not taken back"
    );
    assert_eq!(
        owner.stats().segments,
        1,
        "an emptied arena stayed beside another"
    );
    owner.check_invariants().unwrap();
}

#[test]
fn no_arenas_with_segments_too_small_for_them() {
    // `SMALL_REGION`'s 16 KiB segments cannot hold a 32 KiB block: medium
    // requests keep to the classes and large spans, and nothing is mapped
    // for an arena that would serve none of them.
    let os = VmLikeOs::new(16 << 20);
    let mut h = Heap::new(os, Config::SMALL_REGION.with_arena_above(2048));
    let l = Layout::from_size_align(30_000, 16).unwrap();
    let blocks: Vec<*mut u8> = (0..20).map(|_| h.alloc(l)).collect();
    assert!(blocks.iter().all(|p| !p.is_null()));
    let reserves = os.reserves.load(std::sync::atomic::Ordering::Relaxed);
    assert!(reserves <= 21, "{reserves} reservations for 20 blocks");
    for p in blocks {
        // SAFETY: live blocks of `h`.
        unsafe { h.dealloc(p, l) };
    }
    h.check_invariants().unwrap();
}

#[test]
fn arenas_serve_over_a_fixed_region_of_segments_only() {
    // The fuzz target `core_ops`' `FixedRegionArenas` geometry: a region's
    // 128 KiB segments hold arenas, and everything goes back whole.
    let region = masu_core::FixedRegion::from_slice(common::region(4 << 20));
    let start = region.free_bytes();
    let config = Config::FIXED_REGION
        .with_direct_above(usize::MAX)
        .with_arena_above(1024);
    let mut h = Heap::new(&region, config);
    let l = Layout::from_size_align(2500, 8).unwrap();
    let blocks: Vec<*mut u8> = (0..40).map(|_| h.alloc(l)).collect();
    assert!(blocks.iter().all(|p| !p.is_null()));
    // SAFETY: a live block of `h`.
    let size = unsafe { h.block_size(blocks[0]) };
    // The classes would hand out 2560 bytes; an arena 2500 and its rounding.
    assert_eq!(size < 2560, ARENAS, "block size {size}");
    for p in blocks {
        // SAFETY: live blocks of `h`.
        unsafe { h.dealloc(p, l) };
    }
    h.check_invariants().unwrap();
    h.collect(true);
    drop(h);
    assert_eq!(region.free_bytes(), start, "the region is not whole again");
}
