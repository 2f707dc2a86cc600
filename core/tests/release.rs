//! Release boundaries: when memory goes back, and that it does.

#[macro_use]
mod common;

use common::VmLikeOs;
use core::alloc::Layout;
use masu_core::{Config, FixedRegion, Heap};
use std::sync::atomic::Ordering::Relaxed;

const SMALL: Layout = match Layout::from_size_align(48, 8) {
    Ok(l) => l,
    Err(_) => panic!(),
};

/// Allocates `n` blocks of `layout`.
fn alloc_n(h: &mut Heap<&'static VmLikeOs>, layout: Layout, n: usize) -> Vec<*mut u8> {
    (0..n)
        .map(|_| {
            let p = h.alloc(layout);
            assert!(!p.is_null());
            p
        })
        .collect()
}

fn free_all(h: &mut Heap<&'static VmLikeOs>, layout: Layout, blocks: Vec<*mut u8>) {
    for p in blocks {
        // SAFETY: live blocks of `layout`.
        unsafe { h.dealloc(p, layout) };
    }
}

#[test]
fn empty_pages_are_decommitted_only_after_the_delay() {
    let os = VmLikeOs::new(64 << 20);
    let delay = 40;
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY.with_purge_delay(delay));
    // Several pages of two classes, then free one class entirely.
    let big = Layout::from_size_align(4000, 8).unwrap();
    let keep = alloc_n(&mut h, SMALL, 10);
    let blocks = alloc_n(&mut h, big, 200); // 200 * 4000 B over several pages
    free_all(&mut h, big, blocks);
    assert_eq!(
        os.decommits.load(Relaxed),
        0,
        "decommitted before the delay"
    );
    let committed_before = h.stats().committed_bytes;
    // Slow-path events: large allocations count as events.
    let l = Layout::from_size_align(200_000, 8).unwrap();
    for _ in 0..(delay as usize + 10) {
        let p = h.alloc(l);
        // SAFETY: live block.
        unsafe { h.dealloc(p, l) };
    }
    assert!(
        os.decommits.load(Relaxed) > 0,
        "never decommitted after the delay"
    );
    let s = h.stats();
    assert!(s.decommitted_bytes > 0);
    assert!(
        s.committed_bytes < committed_before,
        "{} !< {committed_before}",
        s.committed_bytes
    );
    assert!(s.purges > 0);
    free_all(&mut h, SMALL, keep);
}

/// A heap over a clocked `Os` frees 300 blocks of 6000 B (pages that empty
/// and queue their slices for purging), pauses for `pause` ms of its clock,
/// then allocates 300 again: returns the decommits made by those
/// allocations' slow paths, and after 2 delays more of slow paths.
fn decommits_after_pause(wake_keep: bool, pause: u64) -> (usize, usize) {
    let os = VmLikeOs::new(64 << 20);
    os.clocked.store(true, Relaxed);
    let delay = 10;
    let config = Config::VIRTUAL_MEMORY
        .with_purge_delay(delay)
        .with_wake_keep(wake_keep);
    let mut h = Heap::new(os, config);
    let mid = Layout::from_size_align(6000, 8).unwrap();
    let keep = alloc_n(&mut h, SMALL, 1);
    let blocks = alloc_n(&mut h, mid, 300);
    free_all(&mut h, mid, blocks);
    assert_eq!(
        os.decommits.load(Relaxed),
        0,
        "decommitted before the delay"
    );
    os.clock.fetch_add(pause, Relaxed);
    let again = alloc_n(&mut h, mid, 300);
    let at_wake = os.decommits.load(Relaxed);
    free_all(&mut h, mid, again);
    // What the second burst does not take back goes once the heap has been
    // active for the delay: slow paths over 2 delays of its clock.
    let l = Layout::from_size_align(200_000, 8).unwrap();
    for _ in 0..(3 * delay) {
        os.clock.fetch_add(1, Relaxed);
        let p = h.alloc(l);
        // SAFETY: a live block.
        unsafe { h.dealloc(p, l) };
    }
    let later = os.decommits.load(Relaxed);
    free_all(&mut h, SMALL, keep);
    (at_wake, later)
}

#[test]
fn a_heap_waking_after_a_pause_keeps_its_due_purges_for_a_delay() {
    // `Config::wake_keep`: the burst after the pause finds its memory
    // committed; it is purged when the heap stays away from it.
    let (at_wake, later) = decommits_after_pause(true, 1000);
    assert_eq!(at_wake, 0, "purged at the wake, under the burst");
    assert!(later > 0, "never purged after the wake");
    // The twin: without the rule, the first slow paths after the pause
    // purge what the burst is about to take back.
    let (at_wake, _) = decommits_after_pause(false, 1000);
    assert!(at_wake > 0, "the twin did not purge at the wake");
    // A pause shorter than the delay changes nothing either way.
    let (at_wake, _) = decommits_after_pause(true, 5);
    assert_eq!(at_wake, 0);
}

/// A heap over a clocked `Os` whose clock says it ticks every `tick` ms,
/// with purge delay `delay`, frees 300 blocks of 6000 B (their slices queue
/// for purging), then, `steps` times, advances its clock by `step` ms and
/// makes two slow paths (a 200,000 B block made and freed): returns the
/// decommits made.
fn decommits_at_steps(tick: u64, delay: u32, step: u64, steps: usize) -> usize {
    let os = VmLikeOs::new(64 << 20);
    os.clocked.store(true, Relaxed);
    os.tick.store(tick, Relaxed);
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY.with_purge_delay(delay));
    let mid = Layout::from_size_align(6000, 8).unwrap();
    let keep = alloc_n(&mut h, SMALL, 1);
    let blocks = alloc_n(&mut h, mid, 300);
    free_all(&mut h, mid, blocks);
    let l = Layout::from_size_align(200_000, 8).unwrap();
    for _ in 0..steps {
        os.clock.fetch_add(step, Relaxed);
        let p = h.alloc(l);
        // SAFETY: a live block.
        unsafe { h.dealloc(p, l) };
    }
    let made = os.decommits.load(Relaxed);
    free_all(&mut h, SMALL, keep);
    made
}

#[test]
fn a_heap_busy_at_a_coarse_clocks_ticks_purges_as_it_goes() {
    // The std shim's clock ticks every 4 ms. Under a purge delay of 1 to 3
    // ms every tick looked like a pause longer than the delay
    // (`wake_keep`) and held the queue for one more delay (before session
    // 23 for ever: masu-work dist at `MASU_PURGE_DELAY=1` made 0 purges).
    // A jump of two ticks or less is time passing, not a pause: the first
    // tick's slow paths purge what the delay made due.
    for delay in [1, 2, 3] {
        let made = decommits_at_steps(4, delay, 4, 1);
        assert!(
            made > 0,
            "nothing purged at the first tick under a {delay} ms delay"
        );
    }
    // The twin: the same clock, but the `Os` does not say it is coarse.
    assert_eq!(
        decommits_at_steps(1, 1, 4, 1) + decommits_at_steps(1, 2, 4, 1),
        0
    );
}

#[test]
fn what_the_work_after_pauses_does_not_take_back_goes() {
    // Slow paths 50 ms apart under a 10 ms delay (a program that does a
    // little work every 50 ms after a burst): each is a waking, which
    // holds what is due for the work after it; what was due at the waking
    // before, and stayed through a whole hold, goes. Before session 23
    // each waking held the queue again and nothing was ever purged.
    assert_eq!(decommits_at_steps(1, 10, 50, 1), 0, "purged at the waking");
    assert!(decommits_at_steps(1, 10, 50, 4) > 0, "never purged");
    // Slow paths longer apart too.
    assert!(decommits_at_steps(1, 10, 1000, 4) > 0, "never purged");
}

/// A heap over a clocked `Os` frees 300 blocks of 6000 B, then (a thread
/// exit in the std shim) holds its purges for `hold` ms; `collect(false)`
/// runs at `at` ms after the frees: returns the decommits made by then,
/// and those after a `collect(false)` once the hold has passed.
fn decommits_with_hold(hold: u32, at: u64) -> (usize, usize) {
    let os = VmLikeOs::new(64 << 20);
    os.clocked.store(true, Relaxed);
    let config = Config::VIRTUAL_MEMORY.with_purge_delay(10);
    let mut h = Heap::new(os, config);
    let mid = Layout::from_size_align(6000, 8).unwrap();
    let keep = alloc_n(&mut h, SMALL, 1);
    let blocks = alloc_n(&mut h, mid, 300);
    free_all(&mut h, mid, blocks);
    h.hold_purges(hold);
    os.clock.fetch_add(at, Relaxed);
    h.collect(false);
    let during = os.decommits.load(Relaxed);
    os.clock.fetch_add(hold as u64, Relaxed);
    h.collect(false);
    let after = os.decommits.load(Relaxed);
    free_all(&mut h, SMALL, keep);
    (during, after)
}

#[test]
fn held_purges_wait_for_the_hold_then_go() {
    // 50 ms after the frees their 10 ms delay has passed, but the 300 ms
    // hold keeps them; once it has passed, collect(false) purges them.
    let (during, after) = decommits_with_hold(300, 50);
    assert_eq!(during, 0, "purged during the hold");
    assert!(after > 0, "never purged after the hold");
    // The twin: no hold, and the same collect purges at 50 ms.
    let (during, _) = decommits_with_hold(0, 50);
    assert!(during > 0, "the twin did not purge once the delay passed");
    // collect(true) purges regardless of the hold.
    let os = VmLikeOs::new(64 << 20);
    os.clocked.store(true, Relaxed);
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY.with_purge_delay(10));
    let mid = Layout::from_size_align(6000, 8).unwrap();
    let blocks = alloc_n(&mut h, mid, 300);
    free_all(&mut h, mid, blocks);
    h.hold_purges(300);
    h.collect(true);
    assert!(os.decommits.load(Relaxed) > 0, "collect(true) held back");
}

#[test]
fn a_hold_tells_how_long_it_has_left() {
    // The purger sleeps until the first hold ends: what it is told must
    // count down with the clock and end with the hold.
    let os = VmLikeOs::new(64 << 20);
    os.clocked.store(true, Relaxed);
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY.with_purge_delay(10));
    assert_eq!(h.purge_hold_left_ms(), None, "held before any hold");
    h.hold_purges(300);
    assert_eq!(h.purge_hold_left_ms(), Some(300));
    os.clock.fetch_add(120, Relaxed);
    assert_eq!(h.purge_hold_left_ms(), Some(180));
    assert!(h.purges_held_now());
    os.clock.fetch_add(180, Relaxed);
    assert_eq!(h.purge_hold_left_ms(), None, "held after its end");
    assert!(!h.purges_held_now());
    // Without a clock there is no hold.
    let mut h = Heap::new(VmLikeOs::new(64 << 20), Config::VIRTUAL_MEMORY);
    h.hold_purges(300);
    assert_eq!(h.purge_hold_left_ms(), None);
}

#[test]
fn small_slow_path_events_advance_the_epoch() {
    // A workload of only small allocations must still reach the purge: the
    // epoch counts small slow paths too.
    let os = VmLikeOs::new(64 << 20);
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY.with_purge_delay(8));
    let mid = Layout::from_size_align(6000, 8).unwrap();
    let blocks = alloc_n(&mut h, mid, 300);
    let keep = alloc_n(&mut h, SMALL, 1);
    free_all(&mut h, mid, blocks);
    for round in 0..50 {
        let b = alloc_n(&mut h, SMALL, 2000);
        free_all(&mut h, SMALL, b);
        if os.decommits.load(Relaxed) > 0 {
            assert!(round < 50);
            free_all(&mut h, SMALL, keep);
            return;
        }
    }
    panic!("small-only workload never triggered a purge");
}

#[test]
fn purge_delay_never_means_only_collect_force_decommits() {
    let os = VmLikeOs::new(64 << 20);
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY.with_purge_delay(u32::MAX));
    let big = Layout::from_size_align(3000, 8).unwrap();
    let keep = alloc_n(&mut h, SMALL, 1);
    for _ in 0..20 {
        let b = alloc_n(&mut h, big, 300);
        free_all(&mut h, big, b);
    }
    h.collect(false);
    assert_eq!(os.decommits.load(Relaxed), 0);
    h.collect(true);
    assert!(os.decommits.load(Relaxed) > 0);
    free_all(&mut h, SMALL, keep);
}

#[test]
fn the_only_page_of_a_class_is_kept_to_avoid_thrashing() {
    let os = VmLikeOs::new(16 << 20);
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY.with_purge_delay(1000));
    for _ in 0..10_000 {
        let p = h.alloc(SMALL);
        // SAFETY: live block.
        unsafe { h.dealloc(p, SMALL) };
    }
    let s = h.stats();
    assert_counted!(s.alloc_count, 10_000);
    assert_eq!(
        s.pages_per_class.iter().sum::<u32>(),
        1,
        "page freed and remade"
    );
    assert_eq!(os.reserves.load(Relaxed), 1);
    h.collect(true);
    assert_eq!(h.stats().pages_per_class.iter().sum::<u32>(), 0);
    assert_eq!(h.stats().reserved_bytes, 0);
}

/// `set_policy` changes a live heap's purge delay: the page kept under a
/// delay goes at the next collect once the delay is 0, and the heap stays
/// valid through the change.
#[test]
fn a_new_policy_applies_to_a_live_heap() {
    let os = VmLikeOs::new(16 << 20);
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY.with_purge_delay(u32::MAX - 1));
    let p = h.alloc(SMALL);
    // SAFETY: live block.
    unsafe { h.dealloc(p, SMALL) };
    h.collect(false);
    assert_eq!(h.stats().pages_per_class.iter().sum::<u32>(), 1, "kept");
    h.set_policy(
        &Config::VIRTUAL_MEMORY
            .with_purge_delay(0)
            .with_segment_cache(0, 0),
    );
    h.assert_valid();
    h.collect(false);
    h.assert_valid();
    let s = h.stats();
    assert_eq!(s.pages_per_class.iter().sum::<u32>(), 0, "{s:?}");
    assert_eq!(s.reserved_bytes, 0, "no cache: the empty segment went back");
    assert_eq!(
        h.config().segment_shift,
        Config::VIRTUAL_MEMORY.segment_shift
    );
}

#[test]
fn empty_segments_pass_through_a_bounded_cache() {
    let os = VmLikeOs::new(256 << 20);
    let config = Config::VIRTUAL_MEMORY.with_segment_cache(2, 64 << 20);
    let mut h = Heap::new(os, config);
    let l = Layout::from_size_align(1 << 20, 8).unwrap(); // 16 slices: 3 per segment
    let blocks = alloc_n(&mut h, l, 30);
    let segments = h.stats().segments;
    assert!(segments >= 10, "{segments}");
    free_all(&mut h, l, blocks);
    let s = h.stats();
    assert_eq!(s.segments, 0);
    assert_eq!(s.cached_segments, 2, "cache holds at most 2");
    assert_eq!(s.reserved_bytes, 2 * h.segment_size());
    assert_eq!(os.releases.load(Relaxed), segments - 2);
    // Reuse comes from the cache first.
    let reserves = os.reserves.load(Relaxed);
    let again = alloc_n(&mut h, l, 3);
    assert_eq!(
        os.reserves.load(Relaxed),
        reserves,
        "did not reuse a cached segment"
    );
    free_all(&mut h, l, again);
    h.collect(true);
    assert_eq!(h.stats().reserved_bytes, 0);
    assert_eq!(h.stats().cached_segments, 0);
}

#[test]
fn huge_blocks_are_cached_within_the_byte_budget() {
    let os = VmLikeOs::new(256 << 20);
    let config = Config::VIRTUAL_MEMORY.with_segment_cache(4, 24 << 20);
    let mut h = Heap::new(os, config);
    let l = Layout::from_size_align(10 << 20, 8).unwrap();
    let a = h.alloc(l);
    let b = h.alloc(l);
    let c = h.alloc(l);
    assert!(!a.is_null() && !b.is_null() && !c.is_null());
    assert_eq!(h.stats().huge_allocs, 3);
    // SAFETY: live blocks.
    unsafe {
        h.dealloc(a, l);
        h.dealloc(b, l);
        h.dealloc(c, l);
    }
    let s = h.stats();
    assert_eq!(s.huge_allocs, 0);
    assert_eq!(
        s.cached_segments, 2,
        "24 MiB budget holds two 10 MiB blocks"
    );
    assert!(s.reserved_bytes <= 24 << 20);
    let reserves = os.reserves.load(Relaxed);
    let d = h.alloc(l);
    assert_eq!(
        os.reserves.load(Relaxed),
        reserves,
        "huge block not reused from the cache"
    );
    // A zeroed huge block from the cache is zero even though it was written.
    // SAFETY: live block of 10 MiB.
    unsafe {
        d.write_bytes(0xEE, l.size());
        h.dealloc(d, l);
    }
    let z = h.alloc_zeroed(l);
    // Compared a page at a time (a `memcmp`, which miri runs natively; a
    // byte loop over 10 MiB takes it many minutes).
    // SAFETY: live block of 10 MiB.
    let all_zero = unsafe { core::slice::from_raw_parts(z, l.size()) }
        .chunks(4096)
        .all(|c| c == &[0u8; 4096][..c.len()]);
    assert!(all_zero);
    // SAFETY: live block.
    unsafe { h.dealloc(z, l) };
    h.collect(true);
    assert_eq!(h.stats().reserved_bytes, 0);
}

/// True when the `len` bytes at `p` are all zero (a page at a time: a
/// `memcmp`, which miri runs natively).
fn all_zero(p: *const u8, len: usize) -> bool {
    // SAFETY: the callers pass live blocks of at least `len` bytes.
    unsafe { core::slice::from_raw_parts(p, len) }
        .chunks(4096)
        .all(|c| c == &[0u8; 4096][..c.len()])
}

/// `huge_keep_slack = false`: a smaller block that takes a cached huge
/// segment gets the committed memory past it as usable size (up to its
/// own size); a much smaller one gives the rest back at once.
#[test]
fn a_cached_huge_segment_serves_other_sizes_and_zeroes_what_it_reuses() {
    let os = VmLikeOs::new(256 << 20);
    let mut h = Heap::new(
        os,
        Config::VIRTUAL_MEMORY
            .with_purge_delay(u32::MAX)
            .with_huge_keep_slack(false),
    );
    let big = Layout::from_size_align(20 << 20, 8).unwrap();
    let p = h.alloc(big);
    assert!(!p.is_null());
    // SAFETY: live block of 20 MiB.
    unsafe {
        p.write_bytes(0xEE, big.size());
        h.dealloc(p, big);
    }
    let reserves = os.reserves.load(Relaxed);
    let decommitted = os.decommitted.load(Relaxed);
    // A smaller block takes the cached segment; the committed memory past
    // it (at most the block's size) stays with it as usable size.
    let mid = Layout::from_size_align(12 << 20, 8).unwrap();
    let z = h.alloc_zeroed(mid);
    assert_eq!(os.reserves.load(Relaxed), reserves, "not reused");
    assert_eq!(
        os.decommitted.load(Relaxed),
        decommitted,
        "slack decommitted"
    );
    assert!(all_zero(z, mid.size()), "reused memory not zeroed");
    // SAFETY: live block.
    let usable = unsafe { h.usable_size(z) };
    // With `checks`, the usable size is the request (the redzone follows).
    let least = if cfg!(feature = "checks") {
        mid.size()
    } else {
        big.size() - 4096
    };
    assert!(usable >= least, "slack not handed out: {usable}");
    // SAFETY: live block.
    unsafe { h.dealloc(z, mid) };
    // A block much smaller takes it too, and the memory past it goes back.
    let small = Layout::from_size_align(6 << 20, 8).unwrap();
    let q = h.alloc_zeroed(small);
    assert_eq!(os.reserves.load(Relaxed), reserves, "not reused");
    assert!(os.decommitted.load(Relaxed) >= decommitted + (13 << 20));
    assert!(all_zero(q, small.size()));
    // SAFETY: live block.
    let usable = unsafe { h.usable_size(q) };
    assert!(usable < small.size() + 4096, "excess kept: {usable}");
    assert_eq!(os.net_committed.load(Relaxed), h.stats().committed_bytes);
    // SAFETY: live block.
    unsafe { h.dealloc(q, small) };
    h.collect(true);
    assert_eq!(h.stats().reserved_bytes, 0);
}

/// `huge_keep_slack` (the default): a smaller block that takes a cached
/// huge segment gets its request's size, and the committed memory past it
/// stays committed, not handed out, until the huge purge delay has passed
/// (here counted in events); the purge keeps the block whole. Without the
/// default, the 14 MiB past a 6 MiB block would be decommitted at once and
/// faulted in again by the next 20 MiB block.
#[test]
fn a_reused_huge_segment_keeps_its_slack_until_the_purge() {
    let os = VmLikeOs::new(256 << 20);
    // Purge delays in events (the test's `Os` has no clock): 8 for huge
    // segments.
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY.with_huge_purge_delay(8));
    let big = Layout::from_size_align(20 << 20, 8).unwrap();
    let p = h.alloc(big);
    assert!(!p.is_null());
    // SAFETY: live block of 20 MiB.
    unsafe { h.dealloc(p, big) };
    let (reserves, decommitted) = (os.reserves.load(Relaxed), os.decommitted.load(Relaxed));
    let committed = h.stats().committed_bytes;
    let small = Layout::from_size_align(6 << 20, 8).unwrap();
    let q = h.alloc(small);
    assert_eq!(os.reserves.load(Relaxed), reserves, "not reused");
    assert_eq!(
        os.decommitted.load(Relaxed),
        decommitted,
        "slack decommitted at once"
    );
    assert_eq!(h.stats().committed_bytes, committed);
    // SAFETY: live block.
    let usable = unsafe { h.usable_size(q) };
    assert!(
        (small.size()..small.size() + 4096).contains(&usable),
        "slack handed out: {usable}"
    );
    assert!(h.has_pending_release(), "the slack waits for its purge");
    // SAFETY: the block holds `small.size()` bytes.
    unsafe { q.write_bytes(0x5A, small.size()) };
    h.collect(false);
    assert_eq!(
        os.decommitted.load(Relaxed),
        decommitted,
        "purged before its delay"
    );
    for _ in 0..8 {
        h.collect(false);
    }
    assert!(
        os.decommitted.load(Relaxed) >= decommitted + (13 << 20),
        "slack kept"
    );
    assert!(!h.has_pending_release());
    assert!(
        h.stats().committed_bytes < small.size() + (1 << 20),
        "{}",
        h.stats().committed_bytes
    );
    // SAFETY: live block of `small.size()` bytes.
    let kept = unsafe { core::slice::from_raw_parts(q, small.size()) };
    assert!(
        kept.iter().all(|&b| b == 0x5A),
        "the purge took the block's memory"
    );
    assert_eq!(os.net_committed.load(Relaxed), h.stats().committed_bytes);
    h.assert_valid();
    // SAFETY: live block.
    unsafe { h.dealloc(q, small) };
    h.collect(true);
    assert_eq!(h.stats().reserved_bytes, 0);
}

#[test]
fn huge_blocks_grow_and_shrink_in_their_reservation() {
    let os = VmLikeOs::new(256 << 20);
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY.with_purge_delay(u32::MAX));
    let big = Layout::from_size_align(20 << 20, 8).unwrap();
    let p = h.alloc(big);
    // SAFETY: live block of 20 MiB.
    unsafe { h.dealloc(p, big) };
    let l = Layout::from_size_align(6 << 20, 8).unwrap();
    let q = h.alloc(l);
    assert_eq!(q, p, "the cached segment was not reused");
    // SAFETY: live block of 6 MiB.
    unsafe { common::fill(q, l.size(), 7) };
    let reserves = os.reserves.load(Relaxed);
    // Growing within the 20 MiB reservation commits in place.
    // SAFETY: live block.
    let r = unsafe { h.realloc(q, l, 18 << 20) };
    assert_eq!(r, q, "moved though the reservation had room");
    assert_eq!(os.reserves.load(Relaxed), reserves);
    let l = Layout::from_size_align(18 << 20, 8).unwrap();
    // SAFETY: the first 6 MiB kept their contents; the block is 18 MiB.
    unsafe {
        common::verify(r, 6 << 20, 7);
        assert!(h.usable_size(r) >= l.size());
        r.add(l.size() - 1).write(1);
    }
    assert_eq!(os.net_committed.load(Relaxed), h.stats().committed_bytes);
    // Shrinking (still huge) decommits the tail in place.
    let before = os.decommitted.load(Relaxed);
    // SAFETY: live block.
    let s = unsafe { h.realloc(r, l, 5 << 20) };
    assert_eq!(s, r);
    assert!(os.decommitted.load(Relaxed) >= before + (12 << 20));
    // SAFETY: live block.
    unsafe {
        common::verify(s, 5 << 20, 7);
        assert!(h.usable_size(s) < (5 << 20) + 4096);
    }
    assert_eq!(os.net_committed.load(Relaxed), h.stats().committed_bytes);
    // Past the reservation, with an `Os` that cannot remap: a copy.
    let l = Layout::from_size_align(5 << 20, 8).unwrap();
    // SAFETY: live block.
    let t = unsafe { h.realloc(s, l, 30 << 20) };
    assert!(!t.is_null() && t != s);
    // SAFETY: the block is 30 MiB and holds the first 5 MiB.
    unsafe {
        common::verify(t, 5 << 20, 7);
        h.dealloc(t, Layout::from_size_align(30 << 20, 8).unwrap());
    }
    h.collect(true);
    assert_eq!(h.stats().reserved_bytes, 0);
}

#[test]
fn fixed_region_never_reports_decommitted_memory() {
    let mut h = Heap::new(
        FixedRegion::from_slice(common::region(4 << 20)),
        Config::FIXED_REGION.with_purge_delay(0),
    );
    let l = Layout::from_size_align(3000, 8).unwrap();
    let blocks: Vec<_> = (0..500).map(|_| h.alloc(l)).collect();
    for p in blocks {
        // SAFETY: live blocks.
        unsafe { h.dealloc(p, l) };
    }
    h.collect(true);
    assert_eq!(h.stats().decommitted_bytes, 0);
    assert_eq!(h.stats().reserved_bytes, 0);
}

#[test]
fn a_refused_commit_first_purges_what_waits_for_its_delay() {
    let os = VmLikeOs::new(64 << 20);
    let mut h = Heap::new(os, Config::VIRTUAL_MEMORY.with_purge_delay(1_000_000));
    // 3000 B blocks: 21 per one-slice page. Free every other page, leaving
    // one-slice holes that are free but still committed.
    let a = Layout::from_size_align(3000, 8).unwrap();
    let blocks = alloc_n(&mut h, a, 21 * 16);
    let mut keep = Vec::new();
    let mut holes = Vec::new();
    for (i, p) in blocks.into_iter().enumerate() {
        if (i / 21) % 2 == 1 {
            holes.push(p)
        } else {
            keep.push(p)
        }
    }
    free_all(&mut h, a, holes);
    assert_eq!(os.decommits.load(Relaxed), 0, "purged before the delay");
    // Cap commits at what is committed now. A two-slice span fits in no hole,
    // so it needs new commits, which only decommitting the holes allows.
    os.commit_limit
        .store(os.net_committed.load(Relaxed), Relaxed);
    let span = Layout::from_size_align(100_000, 8).unwrap();
    let p = h.alloc(span);
    assert!(!p.is_null(), "refused commit was not retried after purging");
    assert!(os.decommits.load(Relaxed) > 0);
    // SAFETY: live block.
    unsafe { h.dealloc(p, span) };
    free_all(&mut h, a, keep);
}

#[test]
fn the_os_sees_each_byte_committed_once() {
    // Commits go to the `Os` only for what is not committed yet, so an `Os`
    // that counts commits agrees with the heap. (The cache is large enough
    // that nothing is released: this `Os` cannot count releases.)
    let os = VmLikeOs::new(128 << 20);
    let mut h = Heap::new(
        os,
        Config::VIRTUAL_MEMORY
            .with_purge_delay(0)
            .with_segment_cache(8, 128 << 20),
    );
    for size in [3000usize, 100_000, 8 << 20, 8 << 20, 700, 8 << 20] {
        let l = Layout::from_size_align(size, 8).unwrap();
        let blocks = alloc_n(&mut h, l, 3);
        free_all(&mut h, l, blocks);
        let keep = alloc_n(&mut h, l, 1);
        assert_eq!(os.releases.load(Relaxed), 0);
        assert_eq!(
            os.net_committed.load(Relaxed),
            h.stats().committed_bytes,
            "after {size} B blocks"
        );
        free_all(&mut h, l, keep);
    }
}

/// `Config::committed_first`: after a burst is freed (two of its segments
/// emptied into the cache, one still in use), the next burst reuses the
/// committed free slices wherever they are before committing new ones. With
/// the switch off, it fills the segment in use first, committing fresh
/// slices there while the cached segments' memory waits.
#[test]
fn a_second_burst_reuses_committed_slices_first() {
    let burst = |committed_first: bool| -> (usize, usize, usize) {
        let os = VmLikeOs::new(64 << 20);
        let config = Config::VIRTUAL_MEMORY
            .with_purge_delay(u32::MAX)
            .with_committed_first(committed_first);
        let mut h = Heap::new(os, config);
        // 43 pages of 8 blocks of 24 KiB: two full 4 MiB segments and one
        // more page.
        // (With `checks`, 16 bytes less: the trailer fills the class.)
        let t = if cfg!(feature = "checks") { 16 } else { 0 };
        let l = Layout::from_size_align((24 << 10) - t, 8).unwrap();
        let mut commits = Vec::new();
        for _ in 0..2 {
            let before = os.committed.load(Relaxed);
            let blocks = alloc_n(&mut h, l, 341);
            commits.push(os.committed.load(Relaxed) - before);
            free_all(&mut h, l, blocks);
            h.collect(false);
        }
        (commits[0], commits[1], h.free_committed_bytes())
    };
    let (first, second, kept) = burst(true);
    assert!(first >= 8 << 20, "first burst committed {first}");
    assert_eq!(second, 0, "the second burst committed anew");
    assert!(kept >= 8 << 20, "free committed memory after: {kept}");
    let (first_off, second_off, _) = burst(false);
    assert_eq!(first_off, first);
    assert!(
        second_off >= 2 << 20,
        "without committed_first the second burst commits fresh slices ({second_off})"
    );
}

/// `Config::cache_follows_huge`: while huge blocks are live, the cache may
/// hold as much committed memory as they take (so a program cycling through
/// 10 MiB buffers reuses them); once they are freed, the fixed bound holds.
#[test]
fn the_cache_follows_the_live_huge_bytes_and_falls_back_when_they_go() {
    for follows in [true, false] {
        let os = VmLikeOs::new(400 << 20);
        let config = Config::VIRTUAL_MEMORY
            .with_purge_delay(u32::MAX)
            .with_segment_cache(8, 24 << 20)
            .with_cache_follows_huge(follows);
        let mut h = Heap::new(os, config);
        let l = Layout::from_size_align(10 << 20, 8).unwrap();
        let mut live = alloc_n(&mut h, l, 8);
        // Free three, then take three again: with the cache following the
        // 50 MiB still live, all three wait in it and are reused.
        let freed: Vec<_> = live.drain(..3).collect();
        free_all(&mut h, l, freed);
        let reserves = os.reserves.load(Relaxed);
        live.extend(alloc_n(&mut h, l, 3));
        let new = os.reserves.load(Relaxed) - reserves;
        if follows {
            assert_eq!(new, 0, "freed huge segments not kept for reuse");
        } else {
            assert_eq!(new, 1, "a 24 MiB cache keeps two 10 MiB blocks");
        }
        // Everything freed: the cache is back within the fixed bound.
        free_all(&mut h, l, live);
        let b = h.committed_breakdown();
        assert!(b.cached <= 24 << 20, "{b:?}");
        h.collect(true);
        assert_eq!(h.stats().reserved_bytes, 0);
    }
}

/// `n` slow paths of `h` (a 200,000 B block made and freed each time): the
/// epoch tick comes every 64.
fn slow_paths(h: &mut Heap<&'static VmLikeOs>, n: usize) {
    let l = Layout::from_size_align(200_000, 8).unwrap();
    for _ in 0..n {
        let p = h.alloc(l);
        assert!(!p.is_null());
        // SAFETY: a live block of `l`.
        unsafe { h.dealloc(p, l) };
    }
}

#[test]
fn a_page_another_heap_emptied_feeds_its_hungry_class_for_the_delay() {
    // A small page that another heap emptied, found in `full` by the
    // owner's tick: when its class would make a new page at its next slow
    // path (its one page has no free block), it goes back to the class
    // queue whole, its blocks linked already, and waits there for the
    // purge delay; the other emptied pages, and it after the delay, are
    // freed. Before, each was freed at once and the class made a new page,
    // carving the same blocks again.
    let os = VmLikeOs::new(64 << 20);
    os.clocked.store(true, Relaxed);
    let delay = 50;
    let config = Config::VIRTUAL_MEMORY.with_purge_delay(delay);
    let mut owner = Heap::new(os, config);
    let mut other = Heap::new(os, config);
    // Four full pages of 48 B blocks (64 KiB each); the last, first in its
    // queue, stays live. (With `checks`, a request takes its 16-byte
    // redzone too.)
    let small = Layout::from_size_align(if cfg!(feature = "checks") { 32 } else { 48 }, 8).unwrap();
    let per_page = (64 << 10) / 48;
    let mut blocks = alloc_n(&mut owner, small, 4 * per_page);
    let last = blocks.split_off(3 * per_page);
    for p in blocks {
        // SAFETY: live blocks of the owner, freed once, through `other`.
        unsafe { other.dealloc(p, small) };
    }
    other.collect(false); // publishes its batched remote frees
    slow_paths(&mut owner, 256);
    let b = owner.committed_breakdown();
    assert_eq!(
        b.kept_pages,
        1 << 16,
        "one emptied page feeds the class: {b:?}"
    );
    owner.check_invariants().unwrap();
    // The class's next page is that one: no new page is made, no slice
    // taken (two emptied pages' slices wait to be purged, as before).
    let waiting = b.empty_waiting;
    let again = alloc_n(&mut owner, small, per_page / 2);
    let b = owner.committed_breakdown();
    assert_eq!((b.kept_pages, b.empty_waiting), (0, waiting), "{b:?}");
    free_all(&mut owner, small, again);
    // Emptied by the owner's own frees, it is the class's lone page no
    // more: it goes at once. Empty the class again through `other` but
    // one page, and let the delay pass while the owner is busy elsewhere.
    let blocks = alloc_n(&mut owner, small, 2 * per_page);
    let mut all = last;
    all.extend(blocks);
    let keep = all.split_off(all.len() - per_page);
    for p in all {
        // SAFETY: live blocks of the owner, freed once, through `other`.
        unsafe { other.dealloc(p, small) };
    }
    other.collect(false);
    slow_paths(&mut owner, 256);
    os.clock.fetch_add(delay as u64 + 1, Relaxed);
    slow_paths(&mut owner, 1024);
    let b = owner.committed_breakdown();
    assert_eq!(
        b.kept_pages, 0,
        "an emptied page stayed past the delay: {b:?}"
    );
    owner.check_invariants().unwrap();
    free_all(&mut owner, small, keep);
}
