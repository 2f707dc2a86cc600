//! realloc in place, alignment, zeroing and `LockedHeap` as a `GlobalAlloc`.

#[macro_use]
mod common;

use core::alloc::{GlobalAlloc, Layout};
use masu_core::{Config, FixedRegion, Heap, LockedHeap};

fn heap(len: usize) -> Heap<FixedRegion> {
    Heap::new(
        FixedRegion::from_slice(common::region(len)),
        Config::FIXED_REGION,
    )
}

#[test]
fn realloc_within_a_class_stays_in_place() {
    let mut h = heap(1 << 20);
    let l = Layout::from_size_align(100, 8).unwrap();
    let p = h.alloc(l);
    // 100 -> class 104: 97..=104 stay.
    // SAFETY: live block, sizes valid.
    unsafe {
        assert_eq!(h.realloc(p, l, 104), p);
        assert_eq!(
            h.realloc(p, Layout::from_size_align(104, 8).unwrap(), 97),
            p
        );
        let q = h.realloc(p, Layout::from_size_align(97, 8).unwrap(), 2000);
        assert_ne!(q, p);
        h.dealloc(q, Layout::from_size_align(2000, 8).unwrap());
    }
    assert_counted!(h.stats().live_bytes, 0);
}

#[test]
fn large_spans_grow_and_shrink_in_place() {
    // Large spans in segments (not direct blocks, see `direct_blocks_*`).
    let mut h = Heap::new(
        FixedRegion::from_slice(common::region(8 << 20)),
        Config::FIXED_REGION.with_direct_above(usize::MAX),
    );
    let slice = 4096;
    // With `checks` each request takes its 16-byte trailer too: ask for 16
    // bytes less, so that the spans are the same; the usable size is then
    // the request itself.
    let t = if cfg!(feature = "checks") { 16 } else { 0 };
    let usable = |normal: usize, asked: usize| if t == 0 { normal } else { asked };
    let l = Layout::from_size_align(40 * 1024 - t, 8).unwrap();
    let p = h.alloc(l);
    // SAFETY: live block; the slices after a fresh span in a fresh segment
    // are free, so growth stays in place.
    unsafe {
        p.write_bytes(7, l.size());
        let q = h.realloc(p, l, 60 * 1024 - t);
        assert_eq!(q, p, "grow did not stay in place");
        assert_eq!(h.usable_size(q), 60 * 1024 - t);
        assert_counted!(h.stats().live_bytes, 60 * 1024);
        assert!((0..40 * 1024 - t).all(|i| *q.add(i) == 7));
        let r = h.realloc(
            q,
            Layout::from_size_align(60 * 1024 - t, 8).unwrap(),
            20 * 1024 + 1 - t,
        );
        assert_eq!(r, p, "shrink did not stay in place");
        assert_eq!(
            h.usable_size(r),
            usable(20 * 1024 + slice, 20 * 1024 + 1 - t)
        );
        assert_counted!(h.stats().live_bytes, 20 * 1024 + slice);
        // The freed tail is usable again.
        let other = h.alloc(Layout::from_size_align(30 * 1024, 8).unwrap());
        assert_eq!(other as usize, r as usize + 24 * 1024);
        h.dealloc(other, Layout::from_size_align(30 * 1024, 8).unwrap());
        h.dealloc(r, Layout::from_size_align(20 * 1024 + 1 - t, 8).unwrap());
    }
    assert_counted!(h.stats().live_bytes, 0);
}

#[test]
fn realloc_to_an_impossible_size_fails_and_keeps_the_block() {
    let mut h = heap(1 << 20);
    let l = Layout::from_size_align(24, 8).unwrap();
    let p = h.alloc(l);
    // SAFETY: live block; the sizes are deliberately beyond `isize::MAX`.
    unsafe {
        p.write_bytes(9, 24);
        assert!(h.realloc(p, l, usize::MAX - 3).is_null());
        assert!(h.realloc(p, l, isize::MAX as usize).is_null());
        assert_eq!(*p.add(23), 9);
        h.dealloc(p, l);
    }
}

#[test]
fn every_power_of_two_alignment_is_honoured() {
    let mut h = heap(64 << 20);
    for size in [1usize, 24, 100, 4096, 5000, 70_000, 300_000] {
        let mut align = 1;
        while align <= 4 << 20 {
            let l = Layout::from_size_align(size, align).unwrap();
            let p = h.alloc(l);
            assert!(!p.is_null(), "size {size} align {align}");
            assert_eq!(p as usize % align, 0, "size {size} align {align}");
            // SAFETY: live block of `size` bytes.
            unsafe {
                assert!(h.usable_size(p) >= size);
                p.write_bytes(1, size);
                h.dealloc(p, l);
            }
            align *= 2;
        }
    }
    h.collect(true);
    assert_eq!(h.stats().reserved_bytes, 0);
}

#[test]
fn zeroed_memory_is_zero_after_reuse() {
    let mut h = heap(4 << 20);
    for size in [8usize, 200, 3000, 50_000, 500_000] {
        let l = Layout::from_size_align(size, 8).unwrap();
        for _ in 0..3 {
            let p = h.alloc(l);
            // SAFETY: live block.
            unsafe {
                p.write_bytes(0xFF, size);
                h.dealloc(p, l);
            }
            let z = h.alloc_zeroed(l);
            // SAFETY: live block.
            unsafe {
                // Compared a page at a time (a `memcmp`, which miri runs
                // natively; a byte loop over 500 KB takes it minutes).
                assert!(
                    core::slice::from_raw_parts(z, size)
                        .chunks(4096)
                        .all(|c| c == &[0u8; 4096][..c.len()]),
                    "size {size}"
                );
                h.dealloc(z, l);
            }
        }
    }
}

#[test]
fn zero_sized_requests_get_distinct_blocks() {
    let mut h = heap(1 << 20);
    let l = Layout::from_size_align(0, 1).unwrap();
    let a = h.alloc(l);
    let b = h.alloc(l);
    assert!(!a.is_null() && !b.is_null());
    assert_ne!(a, b);
    // SAFETY: live blocks.
    unsafe {
        h.dealloc(a, l);
        h.dealloc(b, l);
    }
}

static SHARED: LockedHeap<FixedRegion> = LockedHeap::empty();

#[test]
fn locked_heap_serves_several_threads_as_a_global_alloc() {
    let region = common::region(32 << 20);
    // SAFETY: the region is leaked and used only by SHARED.
    unsafe { SHARED.init(region.as_mut_ptr(), region.len()) };
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut live = Vec::new();
                // Fewer under miri (see `common::scaled`).
                for i in 0..common::scaled(5000, 100) {
                    let l = Layout::from_size_align(1 + (i * 31 + t) % 3000, 8).unwrap();
                    // SAFETY: non-zero layouts; blocks freed with their layouts.
                    unsafe {
                        let p = SHARED.alloc(l);
                        assert!(!p.is_null());
                        p.write_bytes(t as u8, l.size());
                        live.push((p, l));
                        if i % 2 == 1 {
                            let (q, lq) = live.swap_remove(i % live.len());
                            assert_eq!(*q, t as u8);
                            let q2 = SHARED.realloc(q, lq, lq.size() * 2);
                            assert_eq!(*q2, t as u8);
                            SHARED.dealloc(q2, Layout::from_size_align(lq.size() * 2, 8).unwrap());
                        }
                    }
                }
                for (p, l) in live {
                    // SAFETY: live blocks.
                    unsafe { SHARED.dealloc(p, l) };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_counted!(SHARED.stats().live_bytes, 0);
    let s = SHARED.stats();
    assert_counted!(s.alloc_count, s.free_count);
    SHARED.collect(true);
    assert_eq!(SHARED.stats().reserved_bytes, 0);
}

#[test]
fn counters_stay_zero_without_the_stats_feature() {
    let mut h = heap(1 << 20);
    let l = Layout::from_size_align(100, 8).unwrap();
    let p = h.alloc(l);
    let s = h.stats();
    if cfg!(feature = "stats") {
        assert_eq!(
            (s.alloc_count, s.live_bytes, s.peak_live_bytes),
            // With `checks`, the request's trailer takes 16 more bytes.
            if cfg!(feature = "checks") {
                (1, 120, 120)
            } else {
                (1, 104, 104)
            }
        );
    } else {
        assert_eq!((s.alloc_count, s.live_bytes, s.peak_live_bytes), (0, 0, 0));
    }
    // Slow-path figures are counted either way.
    assert_eq!(s.pages_per_class.iter().sum::<u32>(), 1);
    assert!(s.reserved_bytes > 0);
    // SAFETY: live block.
    unsafe { h.dealloc(p, l) };
}

/// `alloc_fast_malloc` serves each size from the class `alloc_fast` would
/// use with C malloc's alignment (8 up to 8 bytes, else 16): same block
/// size, that alignment, and null (nothing changed) when the class has no
/// ready page.
#[test]
fn malloc_fast_path_picks_the_class_of_the_malloc_alignment() {
    let mut h = heap(8 << 20);
    let mut live = Vec::new();
    // The direct table's reach (1024 bytes), less the trailer with `checks`.
    let top = if cfg!(feature = "checks") {
        1024 - 16
    } else {
        1024
    };
    for size in 0..=top {
        // With `checks` every request is over 8 bytes with its trailer, so
        // C's alignment is always 16.
        let align = if size <= 8 && !cfg!(feature = "checks") {
            8
        } else {
            16
        };
        let layout = Layout::from_size_align(size, align).unwrap();
        // The fast paths give null when the class's page has no ready block;
        // an allocation through the slow path then readies one.
        let mut fast = |h: &mut Heap<FixedRegion>, malloc: bool| {
            for _ in 0..4 {
                // SAFETY: the test owns the heap; the alignment is valid.
                let p = unsafe {
                    if malloc {
                        h.alloc_fast_malloc(size, false)
                    } else {
                        h.alloc_fast(size, align, false)
                    }
                };
                if !p.is_null() {
                    return p;
                }
                let warm = h.alloc(layout);
                assert!(!warm.is_null());
                live.push((warm, layout));
            }
            panic!("size {size}: the fast path never served");
        };
        let a = fast(&mut h, true);
        let b = fast(&mut h, false);
        assert_eq!(a as usize % align, 0, "size {size}: misaligned");
        // SAFETY: live blocks of this heap.
        unsafe {
            assert_eq!(h.usable_size(a), h.usable_size(b), "size {size}: class");
            // With `checks`, the usable size is the request's (the redzone
            // follows it); without, at least one byte.
            let least = if cfg!(feature = "checks") {
                size
            } else {
                size.max(1)
            };
            assert!(h.usable_size(a) >= least);
        }
        live.extend([(a, layout), (b, layout)]);
    }
    for (p, l) in live {
        // SAFETY: each block is live and freed once with its layout.
        unsafe { h.dealloc(p, l) };
    }
    assert_counted!(h.stats().live_bytes, 0);
}

/// `extend_to`: a heap fills its region, the region grows by the memory
/// right after it, and the heap fills that too; everything freed, the
/// region is whole at its new size.
#[test]
fn a_region_extended_after_init_serves_more_blocks() {
    let memory = common::region(2 << 20);
    let (start, len) = (memory.as_mut_ptr(), memory.len());
    let heap: LockedHeap<FixedRegion> = LockedHeap::empty();
    // SAFETY: the first half of a leaked buffer, given once.
    unsafe { heap.init(start, len / 2) };
    let l = Layout::from_size_align(1000, 8).unwrap();
    let fill = |blocks: &mut Vec<*mut u8>| {
        let mut n = 0;
        loop {
            // SAFETY: a valid layout; blocks are freed below.
            let p = unsafe { heap.alloc(l) };
            if p.is_null() {
                return n;
            }
            blocks.push(p);
            n += 1;
        }
    };
    let mut blocks = Vec::new();
    let first = fill(&mut blocks);
    assert!(first > 500, "{first} blocks in 1 MiB");
    let size_before = heap.lock().os().size();
    // SAFETY: the second half of the same buffer directly follows the
    // region; nothing else uses it.
    assert!(unsafe { heap.extend_to(start.wrapping_add(len)) });
    // The metadata that moved to the new top grew: a byte per 4 KiB, and
    // perhaps a level of list heads.
    let grown = heap.lock().os().size() - size_before;
    assert!(grown >= len / 2 - 1024, "grown by {grown}");
    let second = fill(&mut blocks);
    assert!(
        second * 10 >= first * 9,
        "after the extension {second} more blocks, before it {first}"
    );
    for p in blocks {
        // SAFETY: each block was allocated above with `l` and is freed once.
        unsafe { heap.dealloc(p, l) };
    }
    heap.collect(true);
    let region = heap.lock();
    assert_eq!(region.os().free_bytes(), region.os().size());
}

#[test]
#[should_panic(expected = "extend_to before init")]
fn extending_a_region_without_memory_panics() {
    let heap: LockedHeap<FixedRegion> = LockedHeap::empty();
    let mut byte = 0u8;
    // SAFETY: panics before it touches anything.
    unsafe { heap.extend_to(&mut byte as *mut u8) };
}
