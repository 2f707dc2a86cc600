//! Shared helpers for masu-core's integration tests.
#![allow(dead_code)]

use masu_core::{FixedRegion, Os};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `assert_eq!` on a figure that only the `stats` feature counts (live and
/// peak bytes, alloc and free counts); with the feature off they stay zero,
/// which `counters_stay_zero_without_the_stats_feature` checks.
#[allow(unused_macros)]
macro_rules! assert_counted {
    ($($t:tt)*) => {
        if cfg!(feature = "stats") {
            assert_eq!($($t)*);
        }
    };
}

/// `normal`, or `under_miri` when the tests run under miri (about a
/// thousand times slower than native): the iteration counts and sizes of the
/// heavier tests, so that `cargo +nightly miri test -p masu-core` runs in
/// minutes. The code paths stay the same; only the repetitions shrink.
pub const fn scaled(normal: usize, under_miri: usize) -> usize {
    if cfg!(miri) {
        under_miri
    } else {
        normal
    }
}

/// The one pseudo-random generator of masu's tests and benchmarks
/// (`fastrand`'s, deterministic from a seed).
#[allow(unused_imports)] // not every test file draws random numbers
pub use fastrand::Rng;

/// A leaked, zeroed region of `len` bytes, aligned to 4 KiB. The alignment
/// keeps the fill tests deterministic: a region whose start lies less than
/// the region's metadata (1–2 KiB, kept at its end) past a segment boundary
/// fits one segment fewer (a 1 MiB region with 128 KiB segments: 58.0 %
/// full instead of 68.6 % with `checks`), and a `Vec`'s buffer starts
/// wherever the system allocator puts it, which changes with the tests that
/// run beside it.
pub fn region(len: usize) -> &'static mut [u8] {
    let layout = std::alloc::Layout::from_size_align(len.max(1), 4096).unwrap();
    // SAFETY: a non-zero size; the block is leaked, so the slice lives
    // forever and nothing else uses it.
    unsafe {
        let p = std::alloc::alloc_zeroed(layout);
        assert!(!p.is_null(), "out of memory for a {len}-byte region");
        std::slice::from_raw_parts_mut(p, len)
    }
}

/// A leaked `FixedRegion` of `len` bytes, shareable by several heaps.
pub fn shared_region(len: usize) -> &'static FixedRegion {
    Box::leak(Box::new(FixedRegion::from_slice(region(len))))
}

/// An `Os` over a fixed region that behaves like virtual memory: decommit
/// zeroes the memory and reports it given back, fresh memory reads as zero,
/// and every call is counted.
pub struct VmLikeOs {
    region: FixedRegion,
    pub reserves: AtomicUsize,
    pub releases: AtomicUsize,
    pub decommits: AtomicUsize,
    pub decommitted: AtomicUsize,
    pub committed: AtomicUsize,
    /// Bytes committed and not decommitted (releases are not subtracted).
    pub net_committed: AtomicUsize,
    /// `commit` fails when `net_committed` would pass this.
    pub commit_limit: AtomicUsize,
    /// The ranges given to `discard_contents`, in order.
    pub discards: std::sync::Mutex<Vec<(usize, usize)>>,
    /// `discard_contents` does nothing and returns false (an `Os` that
    /// cannot discard).
    pub refuse_discards: std::sync::atomic::AtomicBool,
    /// The clock in milliseconds that `clock_ms` reads, once `clocked`
    /// (before that the heap counts its delays in slow-path events).
    pub clock: std::sync::atomic::AtomicU64,
    /// `clock_ms` returns `clock`.
    pub clocked: std::sync::atomic::AtomicBool,
    /// What `clock_tick_ms` says (1 unless a test sets it).
    pub tick: std::sync::atomic::AtomicU64,
}

impl VmLikeOs {
    pub fn new(len: usize) -> &'static VmLikeOs {
        Box::leak(Box::new(VmLikeOs {
            region: FixedRegion::from_slice(region(len)),
            reserves: AtomicUsize::new(0),
            releases: AtomicUsize::new(0),
            decommits: AtomicUsize::new(0),
            decommitted: AtomicUsize::new(0),
            committed: AtomicUsize::new(0),
            net_committed: AtomicUsize::new(0),
            commit_limit: AtomicUsize::new(usize::MAX),
            discards: std::sync::Mutex::new(Vec::new()),
            refuse_discards: std::sync::atomic::AtomicBool::new(false),
            clock: std::sync::atomic::AtomicU64::new(0),
            clocked: std::sync::atomic::AtomicBool::new(false),
            tick: std::sync::atomic::AtomicU64::new(1),
        }))
    }
    pub fn free_bytes(&self) -> usize {
        self.region.free_bytes()
    }
}

// SAFETY: spans come from a `FixedRegion`; decommit zeroes the range, which
// keeps the promise that re-committed memory reads as zero.
unsafe impl Os for VmLikeOs {
    fn reserve(&self, size: usize, align: usize) -> *mut u8 {
        let p = self.region.reserve(size, align);
        if !p.is_null() {
            // Fresh memory must read as zero: the region may be reused.
            // SAFETY: the span was just handed to us.
            unsafe { p.write_bytes(0, size) };
            self.reserves.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
    unsafe fn commit(&self, _ptr: *mut u8, size: usize) -> bool {
        let net = self.net_committed.load(Ordering::Relaxed);
        if net + size > self.commit_limit.load(Ordering::Relaxed) {
            return false;
        }
        self.net_committed.fetch_add(size, Ordering::Relaxed);
        self.committed.fetch_add(size, Ordering::Relaxed);
        true
    }
    unsafe fn decommit(&self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: the caller passes an unused range of one of our spans.
        unsafe { ptr.write_bytes(0, size) };
        self.decommits.fetch_add(1, Ordering::Relaxed);
        self.decommitted.fetch_add(size, Ordering::Relaxed);
        self.net_committed.fetch_sub(size, Ordering::Relaxed);
        true
    }
    unsafe fn discard_contents(&self, ptr: *mut u8, size: usize) -> bool {
        if self.refuse_discards.load(Ordering::Relaxed) {
            return false;
        }
        // Contents lost: zeros, as the contract says (a discard of a link
        // the heap still follows ends its list, which the tests see).
        // SAFETY: the caller passes an unused range of one of our spans.
        unsafe { ptr.write_bytes(0, size) };
        self.discards.lock().unwrap().push((ptr as usize, size));
        true
    }
    unsafe fn release(&self, ptr: *mut u8, size: usize, align: usize) {
        self.releases.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded.
        unsafe { self.region.release(ptr, size, align) }
    }
    fn page_size(&self) -> usize {
        4096
    }
    fn fresh_memory_is_zeroed(&self) -> bool {
        true
    }
    fn may_contain(&self, addr: usize) -> bool {
        self.region.may_contain(addr)
    }
    fn clock_ms(&self) -> Option<u64> {
        self.clocked
            .load(Ordering::Relaxed)
            .then(|| self.clock.load(Ordering::Relaxed))
    }
    fn clock_tick_ms(&self) -> u64 {
        self.tick.load(Ordering::Relaxed)
    }
}

/// The byte a block with `id` is filled with at offset `off`.
pub fn pattern(id: u64, off: usize) -> u8 {
    (id as u8).wrapping_mul(31).wrapping_add(off as u8)
}

/// Fills `len` bytes at `p` with the pattern of `id`.
///
/// # Safety
/// `p` is valid for `len` bytes of writes.
pub unsafe fn fill(p: *mut u8, len: usize, id: u64) {
    for off in 0..len {
        // SAFETY: forwarded from the caller.
        unsafe { *p.add(off) = pattern(id, off) };
    }
}

/// Checks the first and last 64 bytes of `len` bytes at `p` hold `id`'s pattern.
///
/// # Safety
/// `p` is valid for `len` bytes of reads.
pub unsafe fn verify(p: *const u8, len: usize, id: u64) {
    let check = |off: usize| {
        // SAFETY: `off < len`.
        let got = unsafe { *p.add(off) };
        assert_eq!(
            got,
            pattern(id, off),
            "block {id} at {p:?} corrupted at offset {off}"
        );
    };
    for off in 0..len.min(64) {
        check(off);
    }
    for off in len.saturating_sub(64)..len {
        check(off);
    }
}
