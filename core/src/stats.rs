//! Statistics: one snapshot type per heap, cheap counters, no logging.
//!
//! Allocation and free counts and live bytes cost the fast paths one
//! instruction per allocation and none per free (with the `stats` feature;
//! off, nothing): the owner's allocation fast path bumps a count in the page
//! it takes the block from, and frees follow from that count and the change
//! of the page's `used` (see `Heap::flush_page`). The heap folds a page's
//! pending counts into its [`CounterSink`] on slow paths it takes anyway
//! (filing or freeing the page, collecting remote frees, refilling it once
//! it has handed out 1024 blocks since the last time, [`Heap::collect`]) and
//! on demand ([`Heap::flush_stats`]);
//! [`Heap::stats`] adds the pending counts of every page, so it is exact.
//! Everything else is counted on slow paths only. A free done by another
//! thread is counted when the owner collects it.
//!
//! [`Heap::collect`]: crate::Heap::collect
//! [`Heap::flush_stats`]: crate::Heap::flush_stats
//! [`Heap::stats`]: crate::Heap::stats

use crate::size_class::CLASS_COUNT;
use core::sync::atomic::AtomicUsize;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// A snapshot of one heap's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stats {
    /// Bytes in blocks handed out and not yet freed (block sizes, not requests).
    pub live_bytes: usize,
    /// The highest `live_bytes` seen, as far as the heap can tell without
    /// counting on the fast path. Never above the true peak and never below
    /// `live_bytes` or any earlier snapshot's `live_bytes`: the exact live
    /// bytes raise it whenever the heap computes them ([`Heap::stats`],
    /// [`Heap::flush_stats`], [`Heap::collect`]). Between those it may miss
    /// a rise that falls again: when a page's counts are folded in on a
    /// slow path, the peak is raised only to the live bytes known for
    /// certain then (those of full, large and huge pages and of that page),
    /// so at the true peak's moment the miss is at most the live bytes then
    /// on small pages that were not full.
    ///
    /// [`Heap::stats`]: crate::Heap::stats
    /// [`Heap::flush_stats`]: crate::Heap::flush_stats
    /// [`Heap::collect`]: crate::Heap::collect
    pub peak_live_bytes: usize,
    /// Blocks handed out since the heap began (reallocs that move count once,
    /// also a huge block moved by [`Os::remap`](crate::Os::remap)).
    pub alloc_count: u64,
    /// Blocks freed since the heap began (remote frees once collected).
    pub free_count: u64,
    /// Bytes currently committed (readable and writable) in the heap's segments.
    pub committed_bytes: usize,
    /// Bytes currently reserved from the `Os` (segments in use and cached).
    pub reserved_bytes: usize,
    /// Total bytes ever decommitted (given back to the platform).
    pub decommitted_bytes: u64,
    /// Segments the heap holds, huge ones and arenas included, cached ones
    /// excluded.
    pub segments: usize,
    /// Segments held in the segment cache.
    pub cached_segments: usize,
    /// Remote-freed blocks collected from `thread_free` lists.
    pub remote_frees_collected: u64,
    /// Pages in use per size class.
    #[cfg_attr(feature = "serde", serde(with = "class_array"))]
    pub pages_per_class: [u32; CLASS_COUNT],
    /// Large spans (multi-slice, one block) in use.
    pub large_spans: usize,
    /// Huge allocations (own segment) in use.
    pub huge_allocs: usize,
    /// Release-boundary events that decommitted memory.
    pub purges: u64,
    /// Huge blocks or cached huge segments moved to a larger reservation
    /// without copying ([`Os::remap`](crate::Os::remap)).
    pub remaps: u64,
    /// Direct blocks (see [`Os::DIRECT_BLOCKS`](crate::Os::DIRECT_BLOCKS))
    /// this heap handed out less those it freed. A block freed through
    /// another heap over the same region counts there, so over a shared
    /// region one heap's figure (and its live, committed and reserved
    /// bytes, which wrap) can read below zero: merge every heap's stats
    /// ([`Stats::merge`]) for the region's total.
    pub direct_blocks: isize,
    /// Usable bytes of those direct blocks (counted the same way); also in
    /// `live_bytes`, `committed_bytes` and `reserved_bytes`.
    pub direct_bytes: isize,
    /// Usable bytes of freed direct blocks this heap keeps for reuse (its
    /// cache, `Config::direct_cache_bytes`); also in `committed_bytes` and
    /// `reserved_bytes`.
    pub direct_cached_bytes: usize,
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
        remaps: 0,
        direct_blocks: 0,
        direct_bytes: 0,
        direct_cached_bytes: 0,
    };

    /// Adds `other`'s counters into `self` (for aggregating several heaps).
    /// The peak becomes the sum of peaks, an upper bound of the true peak.
    ///
    /// Live, committed and reserved bytes add wrapping: a heap that freed
    /// more direct blocks of a shared region than it allocated reads below
    /// zero there (see [`Stats::direct_blocks`]), and the sum over every
    /// heap of the region is right.
    pub fn merge(&mut self, other: &Stats) {
        self.live_bytes = self.live_bytes.wrapping_add(other.live_bytes);
        self.peak_live_bytes += other.peak_live_bytes;
        self.alloc_count += other.alloc_count;
        self.free_count += other.free_count;
        self.committed_bytes = self.committed_bytes.wrapping_add(other.committed_bytes);
        self.reserved_bytes = self.reserved_bytes.wrapping_add(other.reserved_bytes);
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
        self.remaps += other.remaps;
        self.direct_blocks += other.direct_blocks;
        self.direct_bytes += other.direct_bytes;
        self.direct_cached_bytes += other.direct_cached_bytes;
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
/// The heap counts in batches: a small page's allocations and frees are
/// folded in when the owner takes certain slow paths with that page (or
/// flushes, see [`Heap::flush_stats`]), so a sink read by another thread
/// lags the owner: per page, by fewer than 1024 plus its block count
/// allocations and the frees that go with them, and in live bytes by at
/// most what its non-full small pages hold. [`Heap::stats`] is exact.
///
/// [`read`]: CounterSink::read
/// [`Heap::with_counters`]: crate::Heap::with_counters
/// [`Heap::flush_stats`]: crate::Heap::flush_stats
/// [`Heap::stats`]: crate::Heap::stats
pub trait CounterSink {
    /// Counts `allocs` blocks handed out, totalling `bytes_in`, and `frees`
    /// blocks freed, totalling `bytes_out`, in any order since the last call:
    /// live bytes change by `bytes_in - bytes_out` (wrapping). The peak is
    /// left alone: the heap raises it with [`note_live`].
    ///
    /// [`note_live`]: CounterSink::note_live
    fn on_blocks(&self, allocs: usize, frees: usize, bytes_in: usize, bytes_out: usize);
    /// Counts one block of `bytes` handed out: `on_blocks(1, 0, bytes, 0)`,
    /// which is what it does unless a sink has a cheaper way (the heap's
    /// direct blocks count each allocation with it).
    #[inline]
    fn on_alloc(&self, bytes: usize) {
        self.on_blocks(1, 0, bytes, 0)
    }
    /// Counts one block of `bytes` freed: `on_blocks(0, 1, 0, bytes)`, which
    /// is what it does unless a sink has a cheaper way.
    #[inline]
    fn on_free(&self, bytes: usize) {
        self.on_blocks(0, 1, 0, bytes)
    }
    /// Counts a block resized in place from `old` to `new` bytes (the peak
    /// is left alone, as with [`on_blocks`]).
    ///
    /// [`on_blocks`]: CounterSink::on_blocks
    fn on_resize(&self, old: usize, new: usize);
    /// The heap's live bytes are at least `live` now: raises the peak to
    /// `live` if it is lower.
    fn note_live(&self, live: usize);
    /// The counts so far.
    fn read(&self) -> Counts;
}

/// A reading of a [`CounterSink`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Counts {
    /// Bytes in live blocks, as far as the heap has folded its pages' counts
    /// in (see [`CounterSink`]).
    pub live_bytes: usize,
    /// Highest live bytes the heap noted (see [`CounterSink::note_live`]).
    /// A sink whose heap has frees not yet folded in may read a
    /// `live_bytes` above it.
    pub peak_live_bytes: usize,
    /// Blocks handed out.
    pub alloc_count: usize,
    /// Blocks freed.
    pub free_count: usize,
}

/// Single-writer counters: the owning heap updates them with plain relaxed
/// loads and stores (no read-modify-write, so no `lock` prefix on x86), on
/// its slow paths only, and any thread may read them. With the `stats`
/// feature off they stay zero.
///
/// A reading of a heap that is not counting at that moment is consistent;
/// one taken while the owner counts may mix two moments.
///
/// These atomics take part in no synchronisation protocol, so they are
/// `core` atomics rather than `sync` ones (see `sync`).
#[derive(Debug, Default)]
pub struct Counters {
    live_bytes: AtomicUsize,
    peak_live_bytes: AtomicUsize,
    alloc_count: AtomicUsize,
    free_count: AtomicUsize,
}

impl Counters {
    /// All zero.
    pub const fn new() -> Counters {
        Counters {
            live_bytes: AtomicUsize::new(0),
            peak_live_bytes: AtomicUsize::new(0),
            alloc_count: AtomicUsize::new(0),
            free_count: AtomicUsize::new(0),
        }
    }
}

/// Adds `by` to a single-writer counter (wrapping).
#[inline(always)]
fn bump(c: &AtomicUsize, by: usize) {
    c.store(c.load(Relaxed).wrapping_add(by), Relaxed);
}

impl CounterSink for Counters {
    #[inline]
    fn on_blocks(&self, allocs: usize, frees: usize, bytes_in: usize, bytes_out: usize) {
        if cfg!(feature = "stats") {
            bump(&self.alloc_count, allocs);
            // Release, after the allocations: a reader that sees these frees
            // (Acquire, first) sees their allocations too, so it never reads
            // more frees than allocations.
            let f = &self.free_count;
            f.store(f.load(Relaxed).wrapping_add(frees), Release);
            bump(&self.live_bytes, bytes_in.wrapping_sub(bytes_out));
        }
    }

    /// Leaves the free count as it is: an atomic load and store that add 0
    /// are not dropped by the compiler (1.6 instructions per operation of
    /// `fixed_region`'s 200-byte run, session 34).
    #[inline]
    fn on_alloc(&self, bytes: usize) {
        if cfg!(feature = "stats") {
            bump(&self.alloc_count, 1);
            bump(&self.live_bytes, bytes);
        }
    }

    /// Leaves the allocation count as it is (see [`Counters::on_alloc`]).
    #[inline]
    fn on_free(&self, bytes: usize) {
        if cfg!(feature = "stats") {
            // Release, as in `on_blocks`.
            let f = &self.free_count;
            f.store(f.load(Relaxed).wrapping_add(1), Release);
            bump(&self.live_bytes, bytes.wrapping_neg());
        }
    }

    #[inline]
    fn on_resize(&self, old: usize, new: usize) {
        if cfg!(feature = "stats") {
            bump(&self.live_bytes, new.wrapping_sub(old));
        }
    }

    #[inline]
    fn note_live(&self, live: usize) {
        if cfg!(feature = "stats") && live > self.peak_live_bytes.load(Relaxed) {
            self.peak_live_bytes.store(live, Relaxed);
        }
    }

    fn read(&self) -> Counts {
        // Frees first (Acquire, pairing with `on_blocks`' Release): then the
        // allocations read are at least those the frees belong to.
        let free_count = self.free_count.load(Acquire);
        Counts {
            live_bytes: self.live_bytes.load(Relaxed),
            peak_live_bytes: self.peak_live_bytes.load(Relaxed),
            alloc_count: self.alloc_count.load(Relaxed),
            free_count,
        }
    }
}

impl<C: CounterSink + ?Sized> CounterSink for &C {
    #[inline]
    fn on_blocks(&self, allocs: usize, frees: usize, bytes_in: usize, bytes_out: usize) {
        (**self).on_blocks(allocs, frees, bytes_in, bytes_out)
    }
    #[inline]
    fn on_alloc(&self, bytes: usize) {
        (**self).on_alloc(bytes)
    }
    #[inline]
    fn on_free(&self, bytes: usize) {
        (**self).on_free(bytes)
    }
    #[inline]
    fn on_resize(&self, old: usize, new: usize) {
        (**self).on_resize(old, new)
    }
    #[inline]
    fn note_live(&self, live: usize) {
        (**self).note_live(live)
    }
    fn read(&self) -> Counts {
        (**self).read()
    }
}

/// `Stats::pages_per_class` as a sequence of `CLASS_COUNT` numbers (serde
/// derives arrays only up to 32 elements).
#[cfg(feature = "serde")]
mod class_array {
    use super::CLASS_COUNT;
    use core::fmt;
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::ser::SerializeTuple;
    use serde::{Deserializer, Serializer};

    /// Writes the counts as a sequence.
    pub fn serialize<S: Serializer>(v: &[u32; CLASS_COUNT], s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(CLASS_COUNT)?;
        for x in v {
            t.serialize_element(x)?;
        }
        t.end()
    }

    /// Reads exactly `CLASS_COUNT` counts.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u32; CLASS_COUNT], D::Error> {
        struct Counts;
        impl<'de> Visitor<'de> for Counts {
            type Value = [u32; CLASS_COUNT];
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{CLASS_COUNT} page counts")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut v = [0u32; CLASS_COUNT];
                for (i, x) in v.iter_mut().enumerate() {
                    *x = seq
                        .next_element()?
                        .ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                if seq.next_element::<u32>()?.is_some() {
                    return Err(A::Error::invalid_length(CLASS_COUNT + 1, &self));
                }
                Ok(v)
            }
        }
        d.deserialize_tuple(CLASS_COUNT, Counts)
    }
}

/// Blocks a page hands out before a refill folds its counts into the sink
/// (see `Heap::refilled`).
#[cfg(feature = "stats")]
pub(crate) const STATS_FLUSH_ALLOCS: usize = 1024;

/// The counts a page holds that its heap's sink has not seen yet: blocks
/// handed out since the last fold (`stat_allocs`, counted by the fast path),
/// and blocks freed, which follow from those and the change of `used` since
/// then (`stat_used`): the owner's frees and the remote frees it collected
/// lower `used`, nothing else does.
#[cfg(feature = "stats")]
#[derive(Clone, Copy)]
pub(crate) struct Pending {
    /// Blocks handed out.
    pub allocs: usize,
    /// Blocks freed.
    pub frees: usize,
    /// `used` at the last fold, and now.
    pub old_used: u32,
    /// See `old_used`.
    pub used: u32,
    /// The page's block size.
    pub block_size: usize,
}

#[cfg(feature = "stats")]
impl Pending {
    /// The counts pending in `page` (none when nothing changed since its
    /// last fold).
    ///
    /// # Safety
    /// `page` is a live page owned by the caller's heap.
    #[inline]
    pub(crate) unsafe fn of(page: *const crate::page::Page) -> Option<Pending> {
        // SAFETY: guaranteed by the caller; read through the raw pointer
        // (see "Access" on `Page`).
        let (allocs, used, old_used, block_size) = unsafe {
            (
                (*page).stat_allocs,
                crate::page::Page::used_of(page),
                (*page).stat_used,
                (*page).block_size,
            )
        };
        if allocs == 0 && used == old_used {
            return None;
        }
        // `used` and `stat_used` are at most `reserved`, so their difference
        // fits an `i32`.
        let net = used.wrapping_sub(old_used) as i32 as isize as usize;
        Some(Pending {
            allocs,
            frees: allocs.wrapping_sub(net),
            old_used,
            used,
            block_size,
        })
    }

    /// Marks the counts as folded: the page starts counting afresh.
    ///
    /// # Safety
    /// As for [`Pending::of`].
    #[inline]
    pub(crate) unsafe fn clear(self, page: *mut crate::page::Page) {
        // SAFETY: guaranteed by the caller (see "Access" on `Page`).
        unsafe {
            (*page).stat_allocs = 0;
            (*page).stat_used = self.used;
        }
    }

    /// Adds the counts to `sink`.
    #[inline]
    pub(crate) fn fold_into(&self, sink: &impl CounterSink) {
        let bs = self.block_size;
        sink.on_blocks(
            self.allocs,
            self.frees,
            self.allocs.wrapping_mul(bs),
            self.frees.wrapping_mul(bs),
        );
    }

    /// Live bytes gained (negative: lost) since the last fold.
    #[inline]
    pub(crate) fn net_bytes(&self) -> isize {
        (self.used.wrapping_sub(self.old_used) as i32 as isize) * self.block_size as isize
    }
}

/// The heap's figures beside its [`CounterSink`]: pages, spans and huge
/// blocks in use, and counts of events. Changed only through these
/// methods (a recount checks them: `Heap::check_invariants`).
pub(crate) struct HeapCounts {
    pages_per_class: [u32; CLASS_COUNT],
    large_spans: usize,
    huge_allocs: usize,
    /// Bytes of the live huge blocks (their block sizes).
    huge_live_bytes: usize,
    remote_collected: u64,
    purges: u64,
    remaps: u64,
    /// Direct blocks made less freed here, and their usable bytes.
    direct_blocks: isize,
    direct_bytes: isize,
}

impl HeapCounts {
    /// Nothing yet.
    pub(crate) const ZERO: HeapCounts = HeapCounts {
        pages_per_class: [0; CLASS_COUNT],
        large_spans: 0,
        huge_allocs: 0,
        huge_live_bytes: 0,
        remote_collected: 0,
        purges: 0,
        remaps: 0,
        direct_blocks: 0,
        direct_bytes: 0,
    };

    /// A page of size class `class` was made.
    #[inline]
    pub(crate) fn page_made(&mut self, class: usize) {
        self.pages_per_class[class] += 1;
    }

    /// A page of size class `class` was freed.
    #[inline]
    pub(crate) fn page_freed(&mut self, class: usize) {
        self.pages_per_class[class] -= 1;
    }

    /// A large span was made (`+1`) or freed (`-1`).
    #[inline]
    pub(crate) fn large_span(&mut self, made: bool) {
        if made {
            self.large_spans += 1;
        } else {
            self.large_spans -= 1;
        }
    }

    /// A huge block of `bytes` was made.
    #[inline]
    pub(crate) fn huge_made(&mut self, bytes: usize) {
        self.huge_allocs += 1;
        self.huge_live_bytes += bytes;
    }

    /// A huge block of `bytes` was freed.
    #[inline]
    pub(crate) fn huge_freed(&mut self, bytes: usize) {
        self.huge_allocs -= 1;
        self.huge_live_bytes -= bytes;
    }

    /// A huge block changed size from `old` to `new` bytes.
    #[inline]
    pub(crate) fn huge_resized(&mut self, old: usize, new: usize) {
        self.huge_live_bytes = self.huge_live_bytes - old + new;
    }

    /// A direct block of `bytes` was made (`made`) or freed.
    #[inline]
    pub(crate) fn direct(&mut self, made: bool, bytes: usize) {
        let (n, b) = if made {
            (1, bytes as isize)
        } else {
            (-1, -(bytes as isize))
        };
        self.direct_blocks += n;
        self.direct_bytes += b;
    }

    /// A direct block changed size from `old` to `new` bytes.
    #[inline]
    pub(crate) fn direct_resized(&mut self, old: usize, new: usize) {
        self.direct_bytes += new as isize - old as isize;
    }

    /// Every direct block went (the heap's `Os` freed them all).
    pub(crate) fn direct_all_gone(&mut self) {
        self.direct_blocks = 0;
        self.direct_bytes = 0;
    }

    /// Direct blocks counted here (see `direct`).
    pub(crate) fn direct_blocks(&self) -> isize {
        self.direct_blocks
    }

    /// Usable bytes of the direct blocks counted here (see `direct`).
    pub(crate) fn direct_bytes(&self) -> isize {
        self.direct_bytes
    }

    /// Every huge block went (the heap gave its segments back).
    pub(crate) fn huge_all_gone(&mut self) {
        self.huge_live_bytes = 0;
    }

    /// `n` remote frees were collected.
    #[inline]
    pub(crate) fn remote_collected(&mut self, n: u64) {
        self.remote_collected += n;
    }

    /// A purge decommitted memory.
    #[inline]
    pub(crate) fn purged(&mut self) {
        self.purges += 1;
    }

    /// A huge segment moved to a larger reservation.
    #[inline]
    pub(crate) fn remapped(&mut self) {
        self.remaps += 1;
    }

    /// Small pages in use, all classes together.
    pub(crate) fn pages(&self) -> u32 {
        self.pages_per_class.iter().sum()
    }

    /// Bytes of the live huge blocks.
    #[inline]
    pub(crate) fn huge_live_bytes(&self) -> usize {
        self.huge_live_bytes
    }

    /// Fills the fields of `s` these counts hold.
    pub(crate) fn fill(&self, s: &mut Stats) {
        s.pages_per_class = self.pages_per_class;
        s.large_spans = self.large_spans;
        s.huge_allocs = self.huge_allocs;
        s.remote_frees_collected = self.remote_collected;
        s.purges = self.purges;
        s.remaps = self.remaps;
        s.direct_blocks = self.direct_blocks;
        s.direct_bytes = self.direct_bytes;
    }

    /// The figures a recount can check, in `Stats`' terms: pages per
    /// class, large spans, huge blocks and their bytes.
    pub(crate) fn recountable(&self) -> (&[u32; CLASS_COUNT], usize, usize, usize) {
        (
            &self.pages_per_class,
            self.large_spans,
            self.huge_allocs,
            self.huge_live_bytes,
        )
    }

    /// Pretends one more page of `class` (a test of the invariant checker).
    #[cfg(test)]
    pub(crate) fn corrupt_page_count(&mut self, class: usize) {
        self.pages_per_class[class] += 1;
    }

    /// Pretends one more large span (a test of the invariant checker).
    #[cfg(test)]
    pub(crate) fn corrupt_large_spans(&mut self) {
        self.large_spans += 1;
    }
}
