//! [`Heap`]: one owner's allocator over an [`Os`]: its state and how it is
//! made. What it does lives in one file per concept, each an `impl Heap`
//! block: `alloc.rs` (the allocation path), `free.rs` (the free path),
//! `realloc.rs`, `page_search.rs` (finding or making a page with a free
//! block), `segment_store.rs` (slices and segments from the `Os`),
//! `large.rs` (large and huge blocks), `release.rs` (release boundaries),
//! `heap_stats.rs` (folding page counts, the snapshot), `validate.rs` (the
//! invariant checker) and `breakdown.rs`.
//!
//! Fast paths (`alloc` of a class with a ready block, `dealloc` by the owner)
//! touch only the heap's direct table and the page; they never call the `Os`
//! and never take a lock. Everything else is a slow path that also counts
//! the epoch and does a bounded amount of release work (see `release.rs`).

use crate::config::{Config, Geometry};
use crate::os::Os;
use crate::page_queue::PageQueues;
use crate::remote_buffer::RemoteBuffer;
use crate::segment_lists::SegmentLists;
use crate::size_class::DIRECT_MAX;
use crate::stats::{CounterSink, Counters, HeapCounts};
use crate::store::Store;

// Not part of a concurrent protocol: a monotonic id generator (see `sync`).
static NEXT_HEAP_ID: crate::sync::StaticAtomicUsize = crate::sync::StaticAtomicUsize::new(1);

/// A single-owner heap: size-classed pages in aligned segments over an `Os`.
///
/// A `Heap` is `!Sync`: one thread (or CPU) uses it at a time through
/// `&mut self`. Blocks it handed out may be freed through another heap over
/// the same memory (another thread's or CPU's); that free goes onto the
/// page's atomic `thread_free` list and the owner collects it in its slow
/// path. Wrap a heap in [`LockedHeap`](crate::LockedHeap) to share one.
///
/// Dropping a heap gives all its segments back to the `Os`: blocks still
/// live become invalid.
pub struct Heap<O: Os, C: CounterSink = Counters> {
    /// The class queues, the `full` queue and the fast path's direct table
    /// (first: the fast path reads the table at a small offset).
    pub(crate) pages: PageQueues,
    /// Where each segment is filed: in use, cached, waiting to be purged.
    pub(crate) lists: SegmentLists,
    pub(crate) geometry: Geometry,
    /// Requests up to this size with an alignment up to 16 take the table
    /// lookup in `alloc_impl`: `min(DIRECT_MAX, max_small_size)` rounded
    /// down to 16, so rounding up to 16 stays within the size classes (and
    /// with direct blocks, at most `config.direct_above`). At least
    /// `MIN_BLOCK` where that is above 1 (`checks`, `secure`: no direct
    /// blocks there), so that the fast paths may look up requests below
    /// it without raising them first.
    pub(crate) direct_max: usize,
    /// The smallest request that may go to the heap's arenas
    /// (`config.arena_above + 1`), or `usize::MAX` without arenas (also
    /// with segments below `ARENA_MIN_SEGMENT`): one compare in the
    /// allocation path above the direct table.
    pub(crate) arena_lo: usize,
    pub(crate) config: Config,
    /// Slow-path events so far.
    pub(crate) epoch: u64,
    /// Process-unique id (0 until the heap first takes memory).
    pub(crate) id: usize,
    /// The `Os::policy_generation` whose policy the heap follows.
    pub(crate) policy_generation: u64,
    /// Allocation and free counts (see [`CounterSink`]), as far as pages
    /// have folded theirs in (see `flush_page`).
    pub(crate) counters: C,
    /// Blocks freed to one page of another heap, not yet pushed onto its
    /// `thread_free` (see `remote_buffer.rs`). In a cell: the owner's
    /// [`Heap::dealloc_remote`] changes it through `&self`, while the std
    /// shim's purger may hold the heap (it never touches the batch).
    pub(crate) remote: core::cell::UnsafeCell<RemoteBuffer>,
    /// Pages, spans and huge blocks in use, and event counts.
    pub(crate) counts: HeapCounts,
    /// The `Os`, and the bytes taken from it (see `store.rs`).
    pub(crate) store: Store<O>,
    /// Freed direct blocks kept for reuse (see `direct_cache.rs`).
    pub(crate) direct_cache: crate::direct_cache::DirectCache,
    /// The digest of the free lists whose blocks' insides the background
    /// purger last discarded (see `idle_discard.rs`).
    pub(crate) idle_discard_digest: u64,
    /// Where the epoch tick's look at the class queues for other threads'
    /// frees stands (see `Heap::rescan_queues`).
    pub(crate) rescan: crate::page_queue::QueueRescan,
    /// When the owner's slow path last looked at the purge queue, and until
    /// when it leaves what is due there (see `release.rs`, "A heap
    /// waking"), in [`Heap::now`]'s unit.
    pub(crate) purge_looked_at: u64,
    /// See [`Heap::purge_looked_at`].
    pub(crate) purge_held_until: u64,
    /// When the owner's slow path found the heap waking the second last
    /// time and the last time (see `release.rs`, "A heap waking"); 0
    /// before.
    pub(crate) purge_woke_at: [u64; 2],
    /// Freed blocks held back before reuse (see `quarantine.rs`).
    #[cfg(feature = "checks")]
    pub(crate) quarantine: crate::quarantine::Quarantine,
    /// The allocation site the next block records in its trailer (see
    /// [`Heap::set_alloc_site`]); 0 when unknown.
    #[cfg(feature = "checks")]
    pub(crate) site: core::cell::Cell<usize>,
}

// SAFETY: a heap exclusively owns its segments and pages; the raw pointers
// it holds point into them. Moving the heap to another thread moves that
// ownership along; its page owner ids do not depend on the thread.
unsafe impl<O: Os + Send, C: CounterSink + Send> Send for Heap<O, C> {}

/// See `Heap::direct_max`.
const fn direct_max(config: &Config) -> usize {
    let max_small = Geometry::new(config).max_small_size;
    let m = if max_small < DIRECT_MAX {
        max_small
    } else {
        DIRECT_MAX
    };
    m & !15
}

/// Whether the free fast path and the remote free find a block's page by
/// the heap's slice shift (`Heap::fast_page_of`): not with `checks`,
/// `secure` or `arenas`, whose frees take pointers anywhere in a segment.
pub(crate) const FREE_BY_HEAP_SHIFT: bool = !cfg!(any(
    feature = "checks",
    feature = "secure",
    feature = "arenas"
));

impl<O: Os> Heap<O, Counters> {
    /// A heap over `os` that keeps its counters inside. Takes no memory until
    /// the first allocation.
    ///
    /// Panics (at compile time in a `static`) when `config` is invalid, or
    /// when `O` fixes another segment geometry ([`Os::GEOMETRY`]).
    pub const fn new(os: O, config: Config) -> Self {
        Heap::with_counters(os, config, Counters::new())
    }
}

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// A heap over `os` counting into `counters` (for instance a
    /// `&'static Counters` that other threads read).
    ///
    /// Panics (at compile time in a `static`) when `config` is invalid, or
    /// when `O` fixes another segment geometry ([`Os::GEOMETRY`]).
    pub const fn with_counters(os: O, config: Config, counters: C) -> Self {
        if let Some((segment_shift, slice_shift)) = O::GEOMETRY {
            assert!(
                config.segment_shift == segment_shift && config.slice_shift == slice_shift,
                "masu: the Os fixes another segment geometry (segment_shift, slice_shift)"
            );
        }
        assert!(
            crate::size_class::MIN_BLOCK <= 1
                || direct_max(&config) >= crate::size_class::MIN_BLOCK,
            "masu: the direct table must reach the smallest block (MIN_BLOCK)"
        );
        Heap {
            pages: PageQueues::new(config.purge_delay != 0),
            lists: SegmentLists::EMPTY,
            geometry: Geometry::new(&config),
            direct_max: if Self::DIRECT && config.direct_above < direct_max(&config) {
                config.direct_above & !15
            } else {
                direct_max(&config)
            },
            arena_lo: if Self::ARENAS
                && config.arena_above != 0
                && (1usize << config.segment_shift) >= crate::config::ARENA_MIN_SEGMENT
            {
                config.arena_above + 1
            } else {
                usize::MAX
            },
            config,
            epoch: 0,
            id: 0,
            policy_generation: 0,
            counters,
            remote: core::cell::UnsafeCell::new(RemoteBuffer::EMPTY),
            counts: HeapCounts::ZERO,
            store: Store::new(os),
            direct_cache: crate::direct_cache::DirectCache::new(&config),
            idle_discard_digest: 0,
            rescan: crate::page_queue::QueueRescan::START,
            purge_looked_at: 0,
            purge_held_until: 0,
            purge_woke_at: [0; 2],
            #[cfg(feature = "checks")]
            quarantine: crate::quarantine::Quarantine::EMPTY,
            #[cfg(feature = "checks")]
            site: core::cell::Cell::new(0),
        }
    }

    /// The `Os` this heap takes memory from.
    pub fn os(&self) -> &O {
        self.store.os()
    }

    /// The configuration the heap was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes the policy of `config`: the purge delays, the segment cache's
    /// bounds, `cache_follows_huge`, `committed_first`, `remote_batch`,
    /// `remote_in_order` (from the next chain of remote frees) and
    /// `quarantine_bytes` (a smaller quarantine shrinks at the next free).
    /// The geometry (segment and slice sizes) and the free-list seed stay
    /// what the heap was built with. A smaller cache bound applies from the
    /// next segment that enters the cache; a purge delay from the next
    /// purge or tick.
    ///
    /// Panics when `remote_batch` is 0.
    pub fn set_policy(&mut self, config: &Config) {
        assert!(config.remote_batch >= 1, "masu: remote_batch below 1");
        let delays = (config.purge_delay, config.huge_purge_delay);
        let resort = delays != (self.config.purge_delay, self.config.huge_purge_delay);
        let c = &mut self.config;
        c.purge_delay = config.purge_delay;
        c.huge_purge_delay = config.huge_purge_delay;
        c.segment_cache_count = config.segment_cache_count;
        c.segment_cache_bytes = config.segment_cache_bytes;
        c.cache_follows_huge = config.cache_follows_huge;
        c.committed_first = config.committed_first;
        c.remote_batch = config.remote_batch;
        c.remote_in_order = config.remote_in_order;
        c.quarantine_bytes = config.quarantine_bytes;
        self.pages.set_keep_lone(config.purge_delay != 0);
        if resort {
            // The purge queue is in the order purges fall due, which the
            // delays decide.
            self.requeue_purges();
        }
    }

    /// Takes the `Os`'s policy (see [`Os::policy`]) if it changed since the
    /// heap last looked: at each epoch tick and at `collect`. (Out of line:
    /// inlined into the slow paths' event counting, it weighs on their
    /// registers.)
    #[inline(never)]
    pub(crate) fn follow_policy(&mut self) {
        let g = self.store.os().policy_generation();
        if g != self.policy_generation {
            self.policy_generation = g;
            let c = self.store.os().policy(&self.config);
            self.set_policy(&c);
        }
    }

    /// With the `checks` feature, the allocation site (a return address in
    /// the program) that the next block this heap hands out records in its
    /// redzone, for the messages about it; taken by that block. The `masu`
    /// crate's C functions pass their caller's return address. Without
    /// `checks`, nothing.
    #[inline(always)]
    pub fn set_alloc_site(&self, site: usize) {
        #[cfg(feature = "checks")]
        self.site.set(site);
        #[cfg(not(feature = "checks"))]
        let _ = site;
    }

    /// The site set for the next block, taken (with `checks`).
    #[cfg(feature = "checks")]
    #[inline(always)]
    pub(crate) fn take_site(&self) -> usize {
        self.site.replace(0)
    }

    /// Largest request (rounded up to its alignment) served by a size class.
    pub fn max_small_size(&self) -> usize {
        self.geometry.max_small_size
    }

    /// Segment size in bytes.
    pub fn segment_size(&self) -> usize {
        self.geometry.segment_size
    }

    #[inline(always)]
    pub(crate) fn segment_base_mask(&self) -> usize {
        match O::GEOMETRY {
            Some((segment_shift, _)) => !((1usize << segment_shift) - 1),
            None => self.geometry.segment_base_mask,
        }
    }

    /// The slice shift of every normal segment this heap frees blocks of:
    /// a constant where the `Os` fixes the geometry ([`Os::GEOMETRY`]).
    #[inline(always)]
    pub(crate) fn slice_shift(&self) -> u32 {
        match O::GEOMETRY {
            Some((_, slice_shift)) => slice_shift,
            None => self.geometry.slice_shift,
        }
    }

    /// The bytes between the page descriptors of every normal segment this
    /// heap frees blocks of ([`Config::line_pages`]).
    #[inline(always)]
    pub(crate) fn page_stride(&self) -> usize {
        self.geometry.page_stride
    }

    /// Gives the heap its process-unique id on first use.
    #[inline]
    pub(crate) fn ensure_id(&mut self) {
        if self.id == 0 {
            self.id = NEXT_HEAP_ID.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A non-zero free-list key for a new segment.
    pub(crate) fn new_key(&self, addr: usize) -> usize {
        // splitmix64 of the seed, the address and the epoch.
        let mut z = self
            .config
            .seed
            .wrapping_add(addr as u64)
            .wrapping_add(self.epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z as usize) | 1
    }
}
