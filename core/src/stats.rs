//! Statistics: one snapshot type per heap, cheap counters, no logging.
//!
//! Allocation and free counts and live bytes are counted by the owning heap
//! with single-writer relaxed stores (plain moves on x86 and Arm) into a
//! [`CounterSink`]; with the `stats` feature off they compile away. Everything else is counted on slow paths only. A free done by
//! another thread is counted when the owner collects it.

use crate::size_class::CLASS_COUNT;
use core::sync::atomic::AtomicUsize;
use core::sync::atomic::Ordering::Relaxed;

/// A snapshot of one heap's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Bytes in blocks handed out and not yet freed (block sizes, not requests).
    pub live_bytes: usize,
    /// The highest `live_bytes` seen.
    pub peak_live_bytes: usize,
    /// Blocks handed out since the heap began (reallocs that move count once).
    pub alloc_count: u64,
    /// Blocks freed since the heap began (remote frees once collected).
    pub free_count: u64,
    /// Bytes currently committed (readable and writable) in the heap's segments.
    pub committed_bytes: usize,
    /// Bytes currently reserved from the `Os` (segments in use and cached).
    pub reserved_bytes: usize,
    /// Total bytes ever decommitted (given back to the platform).
    pub decommitted_bytes: u64,
    /// Segments the heap holds, huge ones included, cached ones excluded.
    pub segments: usize,
    /// Segments held in the segment cache.
    pub cached_segments: usize,
    /// Remote-freed blocks collected from `thread_free` lists.
    pub remote_frees_collected: u64,
    /// Pages in use per size class.
    pub pages_per_class: [u32; CLASS_COUNT],
    /// Large spans (multi-slice, one block) in use.
    pub large_spans: usize,
    /// Huge allocations (own segment) in use.
    pub huge_allocs: usize,
    /// Release-boundary events that decommitted memory.
    pub purges: u64,
}

impl Stats {
    /// All counters zero.
    pub const ZERO: Stats = Stats {
        live_bytes: 0,
        peak_live_bytes: 0,
        alloc_count: 0,
        free_count: 0,
        committed_bytes: 0,
        reserved_bytes: 0,
        decommitted_bytes: 0,
        segments: 0,
        cached_segments: 0,
        remote_frees_collected: 0,
        pages_per_class: [0; CLASS_COUNT],
        large_spans: 0,
        huge_allocs: 0,
        purges: 0,
    };

    /// Adds `other`'s counters into `self` (for aggregating several heaps).
    /// The peak becomes the sum of peaks, an upper bound of the true peak.
    pub fn merge(&mut self, other: &Stats) {
        self.live_bytes += other.live_bytes;
        self.peak_live_bytes += other.peak_live_bytes;
        self.alloc_count += other.alloc_count;
        self.free_count += other.free_count;
        self.committed_bytes += other.committed_bytes;
        self.reserved_bytes += other.reserved_bytes;
        self.decommitted_bytes += other.decommitted_bytes;
        self.segments += other.segments;
        self.cached_segments += other.cached_segments;
        self.remote_frees_collected += other.remote_frees_collected;
        for (a, b) in self
            .pages_per_class
            .iter_mut()
            .zip(other.pages_per_class.iter())
        {
            *a += *b;
        }
        self.large_spans += other.large_spans;
        self.huge_allocs += other.huge_allocs;
        self.purges += other.purges;
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::ZERO
    }
}

/// Where a heap counts the blocks it hands out and takes back.
///
/// Only the heap's owner calls the `on_*` methods; anyone may call [`read`]
/// at any time. [`Counters`] is the implementation; a heap can also count into
/// a `&'static Counters` kept outside it (see [`Heap::with_counters`]), so
/// other threads can read one thread's counters without touching its heap.
///
/// [`read`]: CounterSink::read
/// [`Heap::with_counters`]: crate::Heap::with_counters
pub trait CounterSink {
    /// Counts one block of `bytes` handed out.
    fn on_alloc(&self, bytes: usize);
    /// Counts `count` blocks totalling `bytes` freed.
    fn on_free(&self, count: usize, bytes: usize);
    /// Counts a block resized in place from `old` to `new` bytes.
    fn on_resize(&self, old: usize, new: usize);
    /// The counts so far.
    fn read(&self) -> Counts;
}

/// A reading of a [`CounterSink`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Bytes in live blocks.
    pub live_bytes: usize,
    /// Highest `live_bytes` seen.
    pub peak_live_bytes: usize,
    /// Blocks handed out.
    pub alloc_count: usize,
    /// Blocks freed.
    pub free_count: usize,
}

/// Single-writer counters: the owning heap updates them with plain relaxed
/// loads and stores (no read-modify-write, so no `lock` prefix on x86), and
/// any thread may read them. With the `stats` feature off they stay zero.
///
/// Live bytes are kept as the *headroom* below the peak (`peak - live`): an
/// allocation subtracts its size from the headroom, and only when that would
/// go below zero (a new peak) does it touch the peak. So one subtraction and
/// its borrow flag both count the bytes and check the peak. A reading of a
/// heap that is not allocating at that moment is exact; one taken while the
/// owner allocates may mix two moments (live is then clamped to `0..=peak`).
///
/// These atomics take part in no synchronisation protocol, so they are
/// `core` atomics rather than `sync` ones (see `sync`).
#[derive(Debug, Default)]
pub struct Counters {
    /// `peak_live_bytes - live_bytes`.
    headroom: AtomicUsize,
    peak_live_bytes: AtomicUsize,
    alloc_count: AtomicUsize,
    free_count: AtomicUsize,
}

impl Counters {
    /// All zero.
    pub const fn new() -> Counters {
        Counters {
            headroom: AtomicUsize::new(0),
            peak_live_bytes: AtomicUsize::new(0),
            alloc_count: AtomicUsize::new(0),
            free_count: AtomicUsize::new(0),
        }
    }

    /// Adds `bytes` to the live bytes, raising the peak if they pass it.
    #[inline(always)]
    fn grow(&self, bytes: usize) {
        // One subtraction whose borrow says "a new peak". The result is
        // stored before the borrow is looked at (it is one instruction less
        // that way); a reader that catches the wrapped value in between
        // sees a headroom above the peak and reads live = peak.
        let (left, new_peak) = self.headroom.load(Relaxed).overflowing_sub(bytes);
        self.headroom.store(left, Relaxed);
        if new_peak {
            // live = peak + (bytes - headroom) = peak - left (wrapping).
            bump(&self.peak_live_bytes, left.wrapping_neg());
            self.headroom.store(0, Relaxed);
        }
    }
}

/// Adds `by` to a single-writer counter.
#[inline(always)]
fn bump(c: &AtomicUsize, by: usize) -> usize {
    let v = c.load(Relaxed).wrapping_add(by);
    c.store(v, Relaxed);
    v
}

impl CounterSink for Counters {
    #[inline(always)]
    fn on_alloc(&self, bytes: usize) {
        if cfg!(feature = "stats") {
            bump(&self.alloc_count, 1);
            self.grow(bytes);
        }
    }

    #[inline(always)]
    fn on_free(&self, count: usize, bytes: usize) {
        if cfg!(feature = "stats") {
            bump(&self.free_count, count);
            bump(&self.headroom, bytes);
        }
    }

    #[inline(always)]
    fn on_resize(&self, old: usize, new: usize) {
        if cfg!(feature = "stats") {
            if new >= old {
                self.grow(new - old);
            } else {
                bump(&self.headroom, old - new);
            }
        }
    }

    fn read(&self) -> Counts {
        // The headroom first: the peak only grows, so a later peak keeps
        // `peak - headroom` from wrapping, except while an allocation of the
        // owner passes the peak (see `grow`): then live is about the peak.
        let headroom = self.headroom.load(Relaxed);
        let peak = self.peak_live_bytes.load(Relaxed);
        Counts {
            live_bytes: peak.checked_sub(headroom).unwrap_or(peak),
            peak_live_bytes: peak,
            alloc_count: self.alloc_count.load(Relaxed),
            free_count: self.free_count.load(Relaxed),
        }
    }
}

impl<C: CounterSink + ?Sized> CounterSink for &C {
    #[inline(always)]
    fn on_alloc(&self, bytes: usize) {
        (**self).on_alloc(bytes)
    }
    #[inline(always)]
    fn on_free(&self, count: usize, bytes: usize) {
        (**self).on_free(count, bytes)
    }
    #[inline(always)]
    fn on_resize(&self, old: usize, new: usize) {
        (**self).on_resize(old, new)
    }
    fn read(&self) -> Counts {
        (**self).read()
    }
}
