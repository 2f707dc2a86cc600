//! Statistics: one snapshot type per heap, cheap counters, no logging.
//!
//! Allocation and free counts and live bytes are counted with plain
//! (non-atomic) additions in the owning heap; with the `stats` feature off they
//! compile away. Everything else is counted on slow paths only. A free done by
//! another thread is counted when the owner collects it.

use crate::size_class::CLASS_COUNT;

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

/// The heap's live counters; `Stats` minus what is derived at snapshot time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counters {
    pub live_bytes: usize,
    pub peak_live_bytes: usize,
    pub alloc_count: u64,
    pub free_count: u64,
}

impl Counters {
    pub const ZERO: Counters = Counters {
        live_bytes: 0,
        peak_live_bytes: 0,
        alloc_count: 0,
        free_count: 0,
    };

    /// Counts one block of `bytes` handed out.
    #[inline(always)]
    pub fn on_alloc(&mut self, bytes: usize) {
        if cfg!(feature = "stats") {
            self.alloc_count += 1;
            self.live_bytes += bytes;
            if self.live_bytes > self.peak_live_bytes {
                self.peak_live_bytes = self.live_bytes;
            }
        }
    }

    /// Counts `count` blocks totalling `bytes` freed.
    #[inline(always)]
    pub fn on_free(&mut self, count: u64, bytes: usize) {
        if cfg!(feature = "stats") {
            self.free_count += count;
            self.live_bytes -= bytes;
        }
    }

    /// Counts a block resized in place from `old` to `new` bytes.
    #[inline(always)]
    pub fn on_resize(&mut self, old: usize, new: usize) {
        if cfg!(feature = "stats") {
            self.live_bytes = self.live_bytes - old + new;
            if self.live_bytes > self.peak_live_bytes {
                self.peak_live_bytes = self.live_bytes;
            }
        }
    }
}
