//! Statistics counted without the fast paths touching the sink: pages hold
//! their counts until a slow path (or `flush_stats`) folds them in, and
//! `Heap::stats` adds what is pending, so it stays exact.

#[macro_use]
mod common;

use common::Rng;
use core::alloc::Layout;
use masu_core::{Config, CounterSink, Counters, FixedRegion, Heap};

/// The `checks` feature's trailer: requests of `size - T` bytes take blocks
/// of the class of `size`.
const T: usize = if cfg!(feature = "checks") { 16 } else { 0 };

fn heap_with(len: usize, counters: &'static Counters) -> Heap<FixedRegion, &'static Counters> {
    Heap::with_counters(
        FixedRegion::from_slice(common::region(len)),
        Config::FIXED_REGION,
        counters,
    )
}

#[test]
fn an_outside_sink_lags_until_a_flush_and_stats_is_exact() {
    let sink: &'static Counters = Box::leak(Box::new(Counters::new()));
    let mut h = heap_with(1 << 20, sink);
    let l = Layout::from_size_align(64 - T, 8).unwrap();
    let blocks: Vec<_> = (0..10).map(|_| h.alloc(l)).collect();
    for &p in &blocks[..4] {
        // SAFETY: live blocks of `h`.
        unsafe { h.dealloc(p, l) };
    }
    let s = h.stats();
    assert_counted!(
        (s.alloc_count, s.free_count, s.live_bytes, s.peak_live_bytes),
        (10, 4, 6 * 64, 6 * 64)
    );
    // Nothing took a slow path since the page was made: the sink has not
    // seen the blocks yet.
    let c = sink.read();
    assert_eq!((c.alloc_count, c.free_count, c.live_bytes), (0, 0, 0));
    h.flush_stats();
    let c = sink.read();
    assert_counted!(
        (c.alloc_count, c.free_count, c.live_bytes, c.peak_live_bytes),
        (10, 4, 6 * 64, 6 * 64)
    );
    // Flushing again changes nothing.
    h.flush_stats();
    assert_eq!(sink.read(), c);
    for &p in &blocks[4..] {
        // SAFETY: live blocks of `h`.
        unsafe { h.dealloc(p, l) };
    }
    // `collect` flushes too.
    h.collect(false);
    let c = sink.read();
    assert_counted!(
        (c.alloc_count, c.free_count, c.live_bytes, c.peak_live_bytes),
        (10, 10, 0, 6 * 64)
    );
    assert_eq!(h.stats().live_bytes, 0);
}

#[test]
fn a_kept_page_counts_every_pair() {
    let sink: &'static Counters = Box::leak(Box::new(Counters::new()));
    let mut h = heap_with(1 << 20, sink);
    let l = Layout::from_size_align(32 - T, 8).unwrap();
    let n = common::scaled(200_000, 200);
    let keep = h.alloc(l);
    for _ in 0..n {
        let p = h.alloc(l);
        // SAFETY: a live block of `h`.
        unsafe { h.dealloc(p, l) };
    }
    // The sink lags by fewer than 1024 plus a page's blocks (fewer than a
    // 128 KiB segment's 4096 of 32 bytes) allocations: refills fold the
    // page's counts in.
    if cfg!(feature = "stats") {
        let c = sink.read();
        assert!(n + 1 - c.alloc_count < 1024 + 4096, "{c:?}");
    }
    let s = h.stats();
    assert_counted!(
        (s.alloc_count, s.free_count, s.live_bytes, s.peak_live_bytes),
        (n as u64 + 1, n as u64, 32, 32)
    );
    // SAFETY: as above.
    unsafe { h.dealloc(keep, l) };
    h.collect(true);
    let s = h.stats();
    assert_counted!(
        (s.alloc_count, s.free_count, s.live_bytes),
        (n as u64 + 1, n as u64 + 1, 0)
    );
}

/// Direct blocks reach the sink at once, one allocation or one free at a
/// time, whether a free goes to the heap's cache or to the region; a
/// count that does not change is left alone (`Counters::on_alloc` and
/// `on_free` each touch one of the two).
#[test]
fn direct_blocks_reach_the_sink_at_once() {
    if cfg!(any(feature = "checks", feature = "secure")) {
        // Every block in a segment: pages hold their counts.
        return;
    }
    let sink: &'static Counters = Box::leak(Box::new(Counters::new()));
    let mut h = Heap::with_counters(
        FixedRegion::from_slice(common::region(1 << 20)),
        Config::COMPACT_REGION,
        sink,
    );
    // 100 B: cached when freed; 20,000 B: above the cache, to the region.
    let (small, big) = (
        Layout::from_size_align(100, 8).unwrap(),
        Layout::from_size_align(20_000, 8).unwrap(),
    );
    let blocks = [h.alloc(small), h.alloc(small), h.alloc(big), h.alloc(big)];
    // SAFETY: live blocks of `h`.
    let usable: Vec<usize> = blocks
        .iter()
        .map(|&p| unsafe { h.usable_size(p) })
        .collect();
    let c = sink.read();
    assert_counted!(
        (c.alloc_count, c.free_count, c.live_bytes),
        (4, 0, usable.iter().sum::<usize>())
    );
    // SAFETY: live blocks of `h`, freed once.
    unsafe {
        h.dealloc(blocks[0], small);
        h.dealloc(blocks[2], big);
    }
    let c = sink.read();
    assert_counted!(
        (c.alloc_count, c.free_count, c.live_bytes),
        (4, 2, usable[1] + usable[3])
    );
    // The cached block comes back: an allocation again.
    let again = h.alloc(small);
    assert_eq!(again, blocks[0]);
    let c = sink.read();
    assert_counted!(
        (c.alloc_count, c.free_count, c.live_bytes),
        (5, 2, usable[0] + usable[1] + usable[3])
    );
    // SAFETY: live blocks of `h`, freed once.
    unsafe {
        h.dealloc(again, small);
        h.dealloc(blocks[1], small);
        h.dealloc(blocks[3], big);
    }
    let c = sink.read();
    assert_counted!((c.alloc_count, c.free_count, c.live_bytes), (5, 5, 0));
}

/// Random work over several classes, large spans included: counts and live
/// bytes are exact in every snapshot, and the peak (of the snapshot and of
/// the sink, which is raised on slow paths) is never above the true peak
/// nor below any live bytes seen in a snapshot.
#[test]
fn the_peak_stays_between_seen_live_bytes_and_the_true_peak() {
    let sink: &'static Counters = Box::leak(Box::new(Counters::new()));
    let mut h = heap_with(16 << 20, sink);
    let mut rng = Rng::with_seed(7);
    let mut live: Vec<(*mut u8, Layout, usize)> = Vec::new();
    let (mut allocs, mut frees) = (0u64, 0u64);
    let (mut bytes, mut true_peak, mut seen) = (0usize, 0usize, 0usize);
    for step in 0..common::scaled(60_000, 600) {
        // Phases: grow in some classes, shrink in others.
        let grow = (step / 2000) % 2 == 0;
        if live.is_empty() || rng.usize(0..=99) < if grow { 70 } else { 30 } {
            let size = match rng.usize(0..=99) {
                0..=44 => 8 * rng.usize(1..=8),
                45..=89 => 64 * rng.usize(1..=16),
                90..=97 => 1024 * rng.usize(1..=8),
                _ => 4096 * rng.usize(10..=40),
            };
            let l = Layout::from_size_align(size, 8).unwrap();
            let p = h.alloc(l);
            assert!(!p.is_null());
            // SAFETY: a live block of `h`.
            let usable = unsafe { h.block_size(p) };
            live.push((p, l, usable));
            allocs += 1;
            bytes += usable;
            true_peak = true_peak.max(bytes);
        } else {
            let i = rng.usize(0..=live.len() - 1);
            let (p, l, usable) = live.swap_remove(i);
            // SAFETY: as above.
            unsafe { h.dealloc(p, l) };
            frees += 1;
            bytes -= usable;
        }
        if !cfg!(feature = "stats") {
            continue;
        }
        let c = sink.read();
        assert!(
            c.peak_live_bytes <= true_peak,
            "sink peak above the true peak"
        );
        if step % 101 == 0 {
            let s = h.stats();
            assert_eq!((s.alloc_count, s.free_count), (allocs, frees));
            assert_eq!(s.live_bytes, bytes);
            assert!(s.peak_live_bytes <= true_peak);
            assert!(s.peak_live_bytes >= seen.max(bytes));
            seen = seen.max(bytes);
        }
        if step % 997 == 0 {
            h.flush_stats();
            let c = sink.read();
            assert_eq!(
                (c.alloc_count as u64, c.free_count as u64, c.live_bytes),
                (allocs, frees, bytes)
            );
        }
    }
    for (p, l, _) in live.drain(..) {
        // SAFETY: as above.
        unsafe { h.dealloc(p, l) };
    }
    h.collect(true);
    let c = sink.read();
    assert_counted!(c.live_bytes, 0);
    assert_counted!(c.alloc_count as u64, allocs);
    assert!(c.peak_live_bytes <= true_peak);
}

/// Frees that are still pending in one class's pages must not make a fold
/// in another class overshoot the peak.
#[test]
fn pending_frees_do_not_lift_the_peak() {
    let sink: &'static Counters = Box::leak(Box::new(Counters::new()));
    let mut h = heap_with(16 << 20, sink);
    let small = Layout::from_size_align(64 - T, 8).unwrap();
    let big = Layout::from_size_align(128 - T, 8).unwrap();
    let a: Vec<_> = (0..4000).map(|_| h.alloc(small)).collect();
    let mut live = 4000 * 64;
    for &p in a.iter().step_by(2) {
        // SAFETY: live blocks of `h`.
        unsafe { h.dealloc(p, small) };
        live -= 64;
    }
    let mut true_peak = 4000 * 64;
    let b: Vec<_> = (0..3000).map(|_| h.alloc(big)).collect();
    live += 3000 * 128;
    true_peak = true_peak.max(live);
    if cfg!(feature = "stats") {
        assert!(
            sink.read().peak_live_bytes <= true_peak,
            "{:?}",
            sink.read()
        );
        let s = h.stats();
        assert_eq!(s.live_bytes, live);
        assert_eq!(s.peak_live_bytes, true_peak);
    }
    for (p, l) in a
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&p| (p, small))
        .chain(b.iter().map(|&p| (p, big)))
    {
        // SAFETY: as above.
        unsafe { h.dealloc(p, l) };
    }
    h.collect(true);
    assert_counted!(h.stats().live_bytes, 0);
}

/// `Heap::committed_breakdown`: its sources add up to the committed bytes
/// at every step of a mixed workload, and each moves where it should.
#[test]
fn the_committed_breakdown_adds_up_and_follows_the_blocks() {
    let os = common::VmLikeOs::new(256 << 20);
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY.with_purge_delay(u32::MAX));
    let check = |h: &Heap<&'static common::VmLikeOs>| {
        let b = h.committed_breakdown();
        assert_eq!(b.total(), h.stats().committed_bytes, "{b:?}");
        b
    };
    let mut rng = Rng::with_seed(77);
    let mut live = Vec::new();
    for _ in 0..common::scaled(3000, 300) {
        let size = match rng.usize(0..=9) {
            0 => rng.usize(70_000..=300_000),
            1 if rng.u64(..100) < 3 => rng.usize(3 << 20..=6 << 20),
            _ => rng.usize(8..=4000),
        };
        let l = Layout::from_size_align(size, 8).unwrap();
        let p = h.alloc(l);
        assert!(!p.is_null());
        live.push((p, l));
        if rng.u64(..100) < 40 {
            let (p, l) = live.swap_remove(rng.usize(0..=live.len() - 1));
            // SAFETY: a live block of `h` with its layout.
            unsafe { h.dealloc(p, l) };
        }
    }
    let b = check(&h);
    assert!(b.live_bytes >= live.iter().map(|(_, l)| l.size()).sum::<usize>());
    assert!(b.headers > 0 && b.free_in_pages > 0);
    // Everything freed: nothing live, the memory waits (the delay is never)
    // in empty slices, kept pages or the cache.
    for (p, l) in live.drain(..) {
        // SAFETY: as above.
        unsafe { h.dealloc(p, l) };
    }
    h.collect(false);
    let b = check(&h);
    assert_eq!(b.live_bytes, 0, "{b:?}");
    assert_eq!(b.free_in_pages, 0, "{b:?}");
    assert!(b.empty_waiting + b.kept_pages + b.cached > 0, "{b:?}");
    h.collect(true);
    let b = check(&h);
    assert_eq!(b.empty_waiting + b.kept_pages + b.cached, 0, "{b:?}");
}

/// With the `serde` feature, a snapshot goes to JSON and back unchanged,
/// every class's page count included.
#[cfg(feature = "serde")]
#[test]
fn stats_round_trip_through_json() {
    let region = common::region(1 << 20);
    let mut heap = Heap::new(FixedRegion::from_slice(region), Config::FIXED_REGION);
    let p = heap.alloc(Layout::from_size_align(100, 8).unwrap());
    assert!(!p.is_null());
    let s = heap.stats();
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("\"pages_per_class\":["), "{json}");
    let back: masu_core::Stats = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    let b = heap.committed_breakdown();
    let back: masu_core::CommittedBreakdown =
        serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
    assert_eq!(back, b);
    // SAFETY: allocated above with this layout.
    unsafe { heap.dealloc(p, Layout::from_size_align(100, 8).unwrap()) };
}
