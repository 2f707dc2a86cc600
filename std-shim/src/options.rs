//! Options, read once from the environment without allocating.
//!
//! | variable | values | default |
//! |---|---|---|
//! | `MASU_PURGE_DELAY` | milliseconds an empty page waits before it is decommitted; `0` at once; `-1` never (except by `collect(true)` and thread exit) | 10 |
//! | `MASU_HUGE_PURGE_DELAY` | milliseconds a freed huge block's segment waits in the segment cache, still committed, before it is decommitted; `0` at once; `-1` never (a `MASU_PURGE_DELAY` of `-1` means never too) | 1000 |
//! | `MASU_DECOMMIT` | `dontneed` (`MADV_DONTNEED`) or `free` (`MADV_FREE`) | `dontneed` |
//! | `MASU_LARGE_CACHE` | committed bytes of empty and freed huge segments each heap keeps for reuse (`K`, `M`, `G` suffixes, powers of 1024) | 64M |
//! | `MASU_CACHE_FOLLOWS_HUGE` | `1`: the cache may also hold as many committed bytes as the heap's live huge blocks take; `0`: `MASU_LARGE_CACHE` alone | 1 |
//! | `MASU_PAGE_BLOCKS` | the fewest blocks a page of a size class holds, 4 to 64 (read when a heap is made): fewer make smaller pages for the large classes, so classes with few live blocks hold less memory; more make fewer pages to set up | 4 |
//! | `MASU_ARENA_ABOVE` | with the `arenas` feature: requests of more than this many bytes, up to 32 KiB and aligned to at most 16, go to the heap's arenas, a coalescing store shared by all their sizes, instead of the size classes (`K` suffix; read when a heap is made): a program with few live blocks of many medium sizes keeps less memory; `0`: none; without effect with `checks` or `secure`; without the feature only `0` is taken | 0 |
//! | `MASU_COARSE_ABOVE` | requests of more than this many bytes (1024 or more; `K` suffix) take every second size class: 4 classes a doubling instead of 8, so a block is at most 25 % larger than asked instead of 12.5 %, and a program with few live blocks of many sizes keeps half as many partly used pages (read when a heap is made); `0`: 8 classes a doubling throughout | 1K |
//! | `MASU_HUGE_KEEP_SLACK` | `1`: a cached huge segment reused for a smaller block keeps its committed memory past the block until `MASU_HUGE_PURGE_DELAY` has passed; `0`: up to the block's size of it becomes the block's usable size and the rest is decommitted at once | 1 |
//! | `MASU_EXIT_RETAIN` | bytes of free committed memory a thread's heap may keep at the thread's exit for the next thread that adopts it (`K`, `M`, `G`); above it, everything free is decommitted then; `0` decommits everything at exit (as before 0.2) | 64M |
//! | `MASU_EXIT_HOLD` | milliseconds after a thread's exit during which its heap's free memory is not purged for its delay (only by `collect(true)`, or `MASU_EXIT_RETAIN`'s bound at the exit), so that a thread started meanwhile adopts it as it was; `0`: purged for its delay from the exit on, as before; `-1` never | 300 |
//! | `MASU_REMOTE_BATCH` | most blocks freed to one page of another thread's heap that a heap chains before publishing them with one atomic operation; `1` publishes each free at once | 64 |
//! | `MASU_FULL_RESCAN` | pages that a heap's epoch tick (every 64 slow paths) checks for other threads' frees, freeing those that emptied (`Config::full_rescan`); `0`: none | 4 |
//! | `MASU_COMMITTED_FIRST` | `1`: new pages go to free slices that are still committed first; `0`: to the first free run | 1 |
//! | `MASU_REMAP` | `1`: a huge block that outgrows its reservation (realloc, or a cached huge segment reused for a larger block) moves to a larger one with `mremap`, without copying or faulting its pages in again; `0`: a new reservation, copied | 1 |
//! | `MASU_BACKGROUND` | `1`: a background thread, started by the first thread exit that leaves memory waiting in its heap, gives back what idle heaps (of exited threads) keep once its purge delay has passed, and collects live threads' frees into their pages; `0`: none | 1 |
//! | `MASU_IDLE_DISCARD` | `1`: the background purger also gives back free memory in place in the pages that live, idle threads keep: emptied first pages with nothing on `free` (reset to nothing carved), the freed tail of a page behind its `local_free` head, a parked run of freed blocks further down (carved again before any new block), and the insides of free blocks larger than a memory page (each block's first 16 bytes stay); it also frees their emptied first pages above 1 KiB and releases their purged cached segments; `0`: it leaves those pages alone | 1 |
//! | `MASU_IDLE_HOLD` | milliseconds a live thread's heap must have made no heap call but fast paths before the background purger takes its memory (at least 100, and at least the purge delay); `-1` never | 300 |
//! | `MASU_REQUEUE_EMPTIED` | `1`: a page that other threads emptied, found among the heap's full pages, goes back to its class queue when that class would otherwise make a new page (and waits there for the purge delay at most), so that the class's next allocations take its blocks instead of a new page carving them again; `0`: it is freed at once | 1 |
//! | `MASU_REMOTE_IN_ORDER` | `1`: with `secure`, a heap's chain of frees to one page of another thread's heap is linked in address order when it is published, so the owner hands those blocks out again in an order the hardware prefetcher follows (no effect without `secure`) | 1 |
//! | `MASU_SHUFFLE_WINDOW` | with `secure`: new blocks are handed out in a random order within windows of this many bytes (at least 16 blocks; `K` suffix), the windows in address order; `4K` or more: each carved batch in one random order (no effect without `secure`; read when a heap is made) | 1K |
//! | `MASU_WAKE_KEEP` | `1`: a heap whose slow paths paused for longer than the purge delay leaves what is then due to purge for one more purge delay, so that the burst after the pause takes that memory back without faulting it in again (what was due at the second such waking before goes); `0`: its first slow path purges what is due | 1 |
//! | `MASU_QUARANTINE` | with the `checks` feature: bytes of freed small blocks each heap holds back before they can be handed out again (`K`, `M`, `G`); `0` none; without `checks`, not read | 4M |
//! | `MASU_EXIT_CHECK` | with `checks` or `secure`: `1`: at exit, the exiting thread's heap is verified (as by [`check_heap`](crate::check_heap)): with `checks` every block's redzone and fill, with `secure` the freed tag and link of every free block, so that a write after free or an overflow into a free block that the program never reuses stops the process; `0`: no check at exit; without either feature, not read | 1 |
//! | `MASU_GUARD_PAGES` | with the `secure` feature: `1`: an inaccessible page after every reservation (segment) and between each segment's header and its blocks; `0`: none; without `secure`, not read | 1 |
//! | `MASU_MEMORY_LIMIT` | most bytes committed by all heaps together; allocation returns null past it; `0` no limit | no limit |
//! | `MASU_STATS` | `1`: print the statistics report to stderr at exit; `json`: print it as one JSON object (a [`Snapshot`](crate::Snapshot)) | 0 |
//! | `MASU_VERBOSE` | `1`: print the options at start and rare events (failed `mmap`, refused commits) | 0 |
//!
//! A value that does not parse is reported once on stderr and the default is
//! used.
//!
//! The options live in an [`OptionStore`] of relaxed atomics: they are
//! written once, by the initialisation, whose [`Once`](crate::spin::Once)
//! makes them visible to every thread that sees it done (and the memory
//! limit again by [`set_memory_limit`], a single value). The loom models in
//! `loom-tests/` run this store and the `Once` together.

use crate::fmtbuf::{StackWriter, Text};
use crate::sync::{Atomic, AtomicCount, Ordering, Ordering::Relaxed};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize};
use masu_core::Config;

/// Default purge delay in milliseconds (mimalloc 2's default is 10 ms too).
pub const DEFAULT_PURGE_DELAY_MS: u32 = 10;
/// Default purge delay of cached huge segments in milliseconds (mimalloc
/// purges its arenas 10 times later than pages; jemalloc's default decay
/// is 10 s).
pub const DEFAULT_HUGE_PURGE_DELAY_MS: u32 = 1000;
/// Default bound of the committed bytes in each heap's segment cache (it
/// grows with the heap's live huge blocks, `MASU_CACHE_FOLLOWS_HUGE`).
pub const DEFAULT_LARGE_CACHE: usize = Config::VIRTUAL_MEMORY.segment_cache_bytes;

/// Default time a live thread's heap must be idle before the background
/// purger takes its memory: a program that pauses for less finds its memory
/// where it left it (masu-work `pause-burst`), one idle for longer has it
/// back in the system within a second of its last free (issue 11).
pub const DEFAULT_IDLE_HOLD_MS: u32 = 300;

/// Default bound of the free committed memory a heap keeps at thread exit
/// (16 MiB before session 22: mimalloc-bench's `mstress` at 16 threads,
/// whose threads each free 20 to 40 MiB as they end, gave it all back at
/// every exit and faulted it in again in the next thread).
pub const DEFAULT_EXIT_RETAIN: usize = 64 << 20;

/// Default time after a thread's exit during which its heap's free memory
/// is not purged: the idle hold of live threads' heaps.
pub const DEFAULT_EXIT_HOLD_MS: u32 = DEFAULT_IDLE_HOLD_MS;

/// Default bound of each heap's quarantine (with the `checks` feature).
pub const DEFAULT_QUARANTINE: usize = 4 << 20;

/// The options in force, published by the initialisation.
static OPTIONS: OptionStore = OptionStore::new();

/// The options in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Options {
    /// Milliseconds before empty memory is decommitted (`u32::MAX`: never).
    pub purge_delay_ms: u32,
    /// Milliseconds before a cached huge segment is decommitted.
    pub huge_purge_delay_ms: u32,
    /// `MADV_FREE` instead of `MADV_DONTNEED`.
    pub decommit_free: bool,
    /// Bytes of empty segments each heap may cache.
    pub large_cache_bytes: usize,
    /// Free committed bytes a heap may keep at its thread's exit.
    pub exit_retain_bytes: usize,
    /// Milliseconds after a thread's exit during which its heap's free
    /// memory is not purged for its delay (`u32::MAX`: never).
    pub exit_hold_ms: u32,
    /// Remote frees chained per page before they are published (>= 1).
    pub remote_batch: u32,
    /// Pages the epoch tick checks for other threads' frees
    /// (`Config::full_rescan`).
    pub full_rescan: u32,
    /// New pages prefer free slices that are still committed.
    pub committed_first: bool,
    /// Huge reservations grow with `mremap`.
    pub remap: bool,
    /// The cache bound grows with the live huge bytes.
    pub cache_follows_huge: bool,
    /// A reused huge segment keeps its committed slack until its purge
    /// delay.
    pub huge_keep_slack: bool,
    /// The fewest blocks a page of a size class holds.
    pub page_blocks: u32,
    /// Requests above this many bytes (up to `ARENA_MAX`) go to arenas
    /// (`Config::arena_above`; 0: none).
    pub arena_above: usize,
    /// Requests above this many bytes take every second size class
    /// (`Config::coarse_above`; 0: never).
    pub coarse_above: usize,
    /// The background purger of idle heaps.
    pub background: bool,
    /// The purger discards the insides of free blocks of idle live heaps.
    pub idle_discard: bool,
    /// Milliseconds a live thread's heap must have made no heap call but
    /// fast paths before the purger takes its memory.
    pub idle_hold_ms: u32,
    /// A heap that paused keeps its due purges for one more purge delay
    /// after waking (`Config::wake_keep`).
    pub wake_keep: bool,
    /// A page other threads emptied goes back to its class queue when the
    /// class would make a new page (`Config::requeue_emptied`).
    pub requeue_emptied: bool,
    /// With `secure`: remote chains linked in address order
    /// (`Config::remote_in_order`).
    pub remote_in_order: bool,
    /// With `secure`: the window of new blocks shuffled at a time
    /// (`Config::shuffle_window`).
    pub shuffle_window: usize,
    /// Most committed bytes (0: no limit).
    pub memory_limit: usize,
    /// With `checks`: bytes of freed blocks each heap holds back.
    pub quarantine_bytes: usize,
    /// With `secure`: guard pages after every reservation and between
    /// segment headers and blocks (read once, at initialisation).
    pub guard_pages: bool,
    /// With `checks` or `secure`: verify the exiting thread's heap at exit.
    pub exit_check: bool,
    /// Print the report at exit.
    pub stats_at_exit: bool,
    /// Print it as one JSON object (`MASU_STATS=json`; see
    /// [`Snapshot`](crate::Snapshot)).
    pub stats_json: bool,
    /// Print options and rare events.
    pub verbose: bool,
}

/// The defaults, in force until the initialisation reads the environment.
const DEFAULTS: Options = Options {
    purge_delay_ms: DEFAULT_PURGE_DELAY_MS,
    huge_purge_delay_ms: DEFAULT_HUGE_PURGE_DELAY_MS,
    decommit_free: false,
    large_cache_bytes: DEFAULT_LARGE_CACHE,
    exit_retain_bytes: DEFAULT_EXIT_RETAIN,
    exit_hold_ms: DEFAULT_EXIT_HOLD_MS,
    remote_batch: Config::VIRTUAL_MEMORY.remote_batch,
    full_rescan: Config::VIRTUAL_MEMORY.full_rescan as u32,
    committed_first: Config::VIRTUAL_MEMORY.committed_first,
    remap: true,
    cache_follows_huge: true,
    huge_keep_slack: true,
    page_blocks: Config::VIRTUAL_MEMORY.page_blocks as u32,
    arena_above: Config::VIRTUAL_MEMORY.arena_above,
    coarse_above: Config::VIRTUAL_MEMORY.coarse_above,
    background: true,
    idle_discard: true,
    idle_hold_ms: DEFAULT_IDLE_HOLD_MS,
    wake_keep: true,
    requeue_emptied: true,
    remote_in_order: true,
    shuffle_window: Config::VIRTUAL_MEMORY.shuffle_window,
    memory_limit: 0,
    quarantine_bytes: DEFAULT_QUARANTINE,
    guard_pages: true,
    exit_check: true,
    stats_at_exit: false,
    stats_json: false,
    verbose: false,
};

/// Where the options are kept: one relaxed atomic each. They take part in
/// the initialisation's protocol (see the module documentation), hence the
/// type parameters: the loom models build the store over loom's atomics.
pub struct OptionStore<U32 = AtomicU32, B = AtomicBool, U = AtomicUsize> {
    purge_delay_ms: U32,
    huge_purge_delay_ms: U32,
    decommit_free: B,
    large_cache_bytes: U,
    exit_retain_bytes: U,
    exit_hold_ms: U32,
    remote_batch: U32,
    full_rescan: U32,
    committed_first: B,
    remap: B,
    cache_follows_huge: B,
    huge_keep_slack: B,
    page_blocks: U32,
    arena_above: U,
    coarse_above: U,
    background: B,
    idle_discard: B,
    idle_hold_ms: U32,
    wake_keep: B,
    requeue_emptied: B,
    remote_in_order: B,
    shuffle_window: U,
    memory_limit: U,
    quarantine_bytes: U,
    guard_pages: B,
    exit_check: B,
    stats_at_exit: B,
    stats_json: B,
    verbose: B,
}

// `new` is `const`, for the shim's statics; `Default` cannot be.
#[allow(clippy::new_without_default)]
impl OptionStore {
    /// The defaults, over `core`'s atomics.
    pub const fn new() -> Self {
        let d = DEFAULTS;
        OptionStore {
            purge_delay_ms: AtomicU32::new(d.purge_delay_ms),
            huge_purge_delay_ms: AtomicU32::new(d.huge_purge_delay_ms),
            decommit_free: AtomicBool::new(d.decommit_free),
            large_cache_bytes: AtomicUsize::new(d.large_cache_bytes),
            exit_retain_bytes: AtomicUsize::new(d.exit_retain_bytes),
            exit_hold_ms: AtomicU32::new(d.exit_hold_ms),
            remote_batch: AtomicU32::new(d.remote_batch),
            full_rescan: AtomicU32::new(d.full_rescan),
            committed_first: AtomicBool::new(d.committed_first),
            remap: AtomicBool::new(d.remap),
            cache_follows_huge: AtomicBool::new(d.cache_follows_huge),
            huge_keep_slack: AtomicBool::new(d.huge_keep_slack),
            page_blocks: AtomicU32::new(d.page_blocks),
            arena_above: AtomicUsize::new(d.arena_above),
            coarse_above: AtomicUsize::new(d.coarse_above),
            background: AtomicBool::new(d.background),
            idle_discard: AtomicBool::new(d.idle_discard),
            idle_hold_ms: AtomicU32::new(d.idle_hold_ms),
            wake_keep: AtomicBool::new(d.wake_keep),
            requeue_emptied: AtomicBool::new(d.requeue_emptied),
            remote_in_order: AtomicBool::new(d.remote_in_order),
            shuffle_window: AtomicUsize::new(d.shuffle_window),
            memory_limit: AtomicUsize::new(d.memory_limit),
            quarantine_bytes: AtomicUsize::new(d.quarantine_bytes),
            guard_pages: AtomicBool::new(d.guard_pages),
            exit_check: AtomicBool::new(d.exit_check),
            stats_at_exit: AtomicBool::new(d.stats_at_exit),
            stats_json: AtomicBool::new(d.stats_json),
            verbose: AtomicBool::new(d.verbose),
        }
    }
}

impl<U32: Atomic<u32>, B: Atomic<bool>, U: Atomic<usize>> OptionStore<U32, B, U> {
    /// The defaults, over any atomics (the loom models).
    #[cfg(loom)]
    pub fn new_in() -> Self {
        let d = DEFAULTS;
        OptionStore {
            purge_delay_ms: U32::new(d.purge_delay_ms),
            huge_purge_delay_ms: U32::new(d.huge_purge_delay_ms),
            decommit_free: B::new(d.decommit_free),
            large_cache_bytes: U::new(d.large_cache_bytes),
            exit_retain_bytes: U::new(d.exit_retain_bytes),
            exit_hold_ms: U32::new(d.exit_hold_ms),
            remote_batch: U32::new(d.remote_batch),
            full_rescan: U32::new(d.full_rescan),
            committed_first: B::new(d.committed_first),
            remap: B::new(d.remap),
            cache_follows_huge: B::new(d.cache_follows_huge),
            huge_keep_slack: B::new(d.huge_keep_slack),
            page_blocks: U32::new(d.page_blocks),
            arena_above: U::new(d.arena_above),
            coarse_above: U::new(d.coarse_above),
            background: B::new(d.background),
            idle_discard: B::new(d.idle_discard),
            idle_hold_ms: U32::new(d.idle_hold_ms),
            wake_keep: B::new(d.wake_keep),
            requeue_emptied: B::new(d.requeue_emptied),
            remote_in_order: B::new(d.remote_in_order),
            shuffle_window: U::new(d.shuffle_window),
            memory_limit: U::new(d.memory_limit),
            quarantine_bytes: U::new(d.quarantine_bytes),
            guard_pages: B::new(d.guard_pages),
            exit_check: B::new(d.exit_check),
            stats_at_exit: B::new(d.stats_at_exit),
            stats_json: B::new(d.stats_json),
            verbose: B::new(d.verbose),
        }
    }

    /// The options stored.
    // Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
    #[inline(never)]
    pub fn get(&self) -> Options {
        Options {
            purge_delay_ms: self.purge_delay_ms.load(Relaxed),
            huge_purge_delay_ms: self.huge_purge_delay_ms.load(Relaxed),
            decommit_free: self.decommit_free.load(Relaxed),
            large_cache_bytes: self.large_cache_bytes.load(Relaxed),
            exit_retain_bytes: self.exit_retain_bytes.load(Relaxed),
            exit_hold_ms: self.exit_hold_ms.load(Relaxed),
            remote_batch: self.remote_batch.load(Relaxed),
            full_rescan: self.full_rescan.load(Relaxed),
            committed_first: self.committed_first.load(Relaxed),
            remap: self.remap.load(Relaxed),
            cache_follows_huge: self.cache_follows_huge.load(Relaxed),
            huge_keep_slack: self.huge_keep_slack.load(Relaxed),
            page_blocks: self.page_blocks.load(Relaxed),
            arena_above: self.arena_above.load(Relaxed),
            coarse_above: self.coarse_above.load(Relaxed),
            background: self.background.load(Relaxed),
            idle_discard: self.idle_discard.load(Relaxed),
            idle_hold_ms: self.idle_hold_ms.load(Relaxed),
            wake_keep: self.wake_keep.load(Relaxed),
            requeue_emptied: self.requeue_emptied.load(Relaxed),
            remote_in_order: self.remote_in_order.load(Relaxed),
            shuffle_window: self.shuffle_window.load(Relaxed),
            memory_limit: self.memory_limit.load(Relaxed),
            quarantine_bytes: self.quarantine_bytes.load(Relaxed),
            guard_pages: self.guard_pages.load(Relaxed),
            exit_check: self.exit_check.load(Relaxed),
            stats_at_exit: self.stats_at_exit.load(Relaxed),
            stats_json: self.stats_json.load(Relaxed),
            verbose: self.verbose.load(Relaxed),
        }
    }

    /// Stores `o` (the initialisation, which publishes it).
    pub fn set(&self, o: &Options) {
        self.purge_delay_ms.store(o.purge_delay_ms, Relaxed);
        self.huge_purge_delay_ms
            .store(o.huge_purge_delay_ms, Relaxed);
        self.decommit_free.store(o.decommit_free, Relaxed);
        self.large_cache_bytes.store(o.large_cache_bytes, Relaxed);
        self.exit_retain_bytes.store(o.exit_retain_bytes, Relaxed);
        self.exit_hold_ms.store(o.exit_hold_ms, Relaxed);
        self.remote_batch.store(o.remote_batch, Relaxed);
        self.full_rescan.store(o.full_rescan, Relaxed);
        self.committed_first.store(o.committed_first, Relaxed);
        self.remap.store(o.remap, Relaxed);
        self.cache_follows_huge.store(o.cache_follows_huge, Relaxed);
        self.huge_keep_slack.store(o.huge_keep_slack, Relaxed);
        self.page_blocks.store(o.page_blocks, Relaxed);
        self.arena_above.store(o.arena_above, Relaxed);
        self.coarse_above.store(o.coarse_above, Relaxed);
        self.background.store(o.background, Relaxed);
        self.idle_discard.store(o.idle_discard, Relaxed);
        self.idle_hold_ms.store(o.idle_hold_ms, Relaxed);
        self.wake_keep.store(o.wake_keep, Relaxed);
        self.requeue_emptied.store(o.requeue_emptied, Relaxed);
        self.remote_in_order.store(o.remote_in_order, Relaxed);
        self.shuffle_window.store(o.shuffle_window, Relaxed);
        self.memory_limit.store(o.memory_limit, Relaxed);
        self.quarantine_bytes.store(o.quarantine_bytes, Relaxed);
        self.guard_pages.store(o.guard_pages, Relaxed);
        self.exit_check.store(o.exit_check, Relaxed);
        self.stats_at_exit.store(o.stats_at_exit, Relaxed);
        self.stats_json.store(o.stats_json, Relaxed);
        self.verbose.store(o.verbose, Relaxed);
    }
}

/// The options in force.
pub fn options() -> Options {
    OPTIONS.get()
}

/// Publishes changes of the options that make a heap's policy (purge
/// delays, cache bound) to the heaps: a setter stores the new value
/// (relaxed, like every option) and then [`bump`](Self::bump)s, with
/// `Release`; a heap that reads a generation with
/// [`current`](Self::current), `Acquire`, and differs from the one it last
/// took reads the options afterwards and sees at least the values stored
/// before that bump (`MmapOs::policy_generation`, compared at each epoch
/// tick and at `collect`). Relaxed, a heap could take the new generation
/// with the old values and keep them (the loom model
/// `loom-tests/tests/options_generation.rs` and its twin show it).
pub struct PolicyGeneration<C = AtomicUsize> {
    n: C,
}

// `new` is `const`, for the shim's static; `Default` cannot be.
#[allow(clippy::new_without_default)]
impl PolicyGeneration {
    /// Generation 0, over `core`'s atomics.
    pub const fn new() -> Self {
        PolicyGeneration {
            n: AtomicUsize::new(0),
        }
    }
}

impl<C: AtomicCount> PolicyGeneration<C> {
    /// Generation 0, over any atomics (the loom models).
    #[cfg(loom)]
    pub fn new_in() -> Self {
        PolicyGeneration { n: C::new(0) }
    }

    /// A new generation: after the options of the change are stored.
    #[inline]
    pub fn bump(&self) {
        self.n.fetch_add(1, Ordering::Release);
    }

    /// The generation now: before the options are read.
    #[inline]
    pub fn current(&self) -> usize {
        self.n.load(Ordering::Acquire)
    }
}

static GENERATION: PolicyGeneration = PolicyGeneration::new();

/// The options generation (see [`PolicyGeneration`]).
#[inline]
pub(crate) fn generation() -> u64 {
    GENERATION.current() as u64
}

/// An option value refused by a setter: nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionError {
    /// The option (its environment variable's name).
    pub option: &'static str,
    /// The values it accepts.
    pub accepted: &'static str,
}

impl core::fmt::Display for OptionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "masu: {} out of range: it accepts {}",
            self.option, self.accepted
        )
    }
}

/// Most bytes a cache or retention bound may be set to (1 TiB).
pub const MAX_BOUND_BYTES: usize = 1 << 40;
/// Longest purge delay other than never, in milliseconds (one day).
pub const MAX_DELAY_MS: u32 = 86_400_000;
/// Smallest memory limit other than none (1 MiB): below it not even one
/// segment fits.
pub const MIN_MEMORY_LIMIT: usize = 1 << 20;

/// `Ok` when `ok`, else the error for `option`.
fn check(ok: bool, option: &'static str, accepted: &'static str) -> Result<(), OptionError> {
    if ok {
        Ok(())
    } else {
        Err(OptionError { option, accepted })
    }
}

/// Sets the purge delay (`MASU_PURGE_DELAY`) at run time: milliseconds
/// before empty memory is decommitted, from 0 to [`MAX_DELAY_MS`], or
/// `None` for never. Each heap applies it at its next epoch tick (every 64
/// slow-path events) or `collect`.
pub fn set_purge_delay_ms(ms: Option<u32>) -> Result<(), OptionError> {
    let v = ms.unwrap_or(u32::MAX);
    check(
        ms.map_or(true, |m| m <= MAX_DELAY_MS),
        "MASU_PURGE_DELAY",
        "0 to 86400000 milliseconds, or never (None)",
    )?;
    OPTIONS.purge_delay_ms.store(v, Relaxed);
    GENERATION.bump();
    Ok(())
}

/// Sets the purge delay of cached huge segments (`MASU_HUGE_PURGE_DELAY`)
/// at run time, as [`set_purge_delay_ms`].
pub fn set_huge_purge_delay_ms(ms: Option<u32>) -> Result<(), OptionError> {
    let v = ms.unwrap_or(u32::MAX);
    check(
        ms.map_or(true, |m| m <= MAX_DELAY_MS),
        "MASU_HUGE_PURGE_DELAY",
        "0 to 86400000 milliseconds, or never (None)",
    )?;
    OPTIONS.huge_purge_delay_ms.store(v, Relaxed);
    GENERATION.bump();
    Ok(())
}

/// Sets how memory is decommitted (`MASU_DECOMMIT`) at run time:
/// `MADV_FREE` when `free`, else `MADV_DONTNEED`. Applies to the next
/// decommit of any heap.
pub fn set_decommit_free(free: bool) {
    OPTIONS.decommit_free.store(free, Relaxed);
}

/// Sets each heap's cache of empty segments (`MASU_LARGE_CACHE`) at run
/// time: up to [`MAX_BOUND_BYTES`] bytes (0: no cache). Each heap applies
/// it at its next epoch tick or `collect`, from the next segment it caches.
pub fn set_large_cache_bytes(bytes: usize) -> Result<(), OptionError> {
    check(
        bytes <= MAX_BOUND_BYTES,
        "MASU_LARGE_CACHE",
        "0 to 1 TiB (1099511627776 bytes)",
    )?;
    OPTIONS.large_cache_bytes.store(bytes, Relaxed);
    GENERATION.bump();
    Ok(())
}

/// Sets the free committed bytes a heap may keep at its thread's exit
/// (`MASU_EXIT_RETAIN`) at run time: up to [`MAX_BOUND_BYTES`]. Applies to
/// the next thread exit.
pub fn set_exit_retain_bytes(bytes: usize) -> Result<(), OptionError> {
    check(
        bytes <= MAX_BOUND_BYTES,
        "MASU_EXIT_RETAIN",
        "0 to 1 TiB (1099511627776 bytes)",
    )?;
    OPTIONS.exit_retain_bytes.store(bytes, Relaxed);
    Ok(())
}

/// Sets how long after a thread's exit its heap's free memory is kept from
/// purging (`MASU_EXIT_HOLD`) at run time: milliseconds up to
/// [`MAX_DELAY_MS`], or `None` for never. Applies to the next thread exit.
pub fn set_exit_hold_ms(ms: Option<u32>) -> Result<(), OptionError> {
    check(
        ms.map_or(true, |m| m <= MAX_DELAY_MS),
        "MASU_EXIT_HOLD",
        "0 to 86400000 milliseconds, or never (None)",
    )?;
    OPTIONS.exit_hold_ms.store(ms.unwrap_or(u32::MAX), Relaxed);
    Ok(())
}

/// Turns the background purger of idle heaps (`MASU_BACKGROUND`) on or off
/// at run time. Applies when it would next start (a thread exits leaving
/// memory to purge); a purger already running keeps running.
pub fn set_background(on: bool) {
    OPTIONS.background.store(on, Relaxed);
}

/// Turns the purger's discarding of free blocks' insides in live, idle
/// threads' heaps (`MASU_IDLE_DISCARD`) on or off at run time: from the
/// purger's next pass.
pub fn set_idle_discard(on: bool) {
    OPTIONS.idle_discard.store(on, Relaxed);
}

/// Sets how long a live thread must stay idle before the purger takes its
/// heap's memory (`MASU_IDLE_HOLD`) at run time: milliseconds up to
/// [`MAX_DELAY_MS`], or `None` for never (the purger then leaves live
/// threads' heaps alone). From the purger's next pass.
pub fn set_idle_hold_ms(ms: Option<u32>) -> Result<(), OptionError> {
    check(
        ms.map_or(true, |m| m <= MAX_DELAY_MS),
        "MASU_IDLE_HOLD",
        "0 to 86400000 milliseconds, or never (None)",
    )?;
    OPTIONS.idle_hold_ms.store(ms.unwrap_or(u32::MAX), Relaxed);
    Ok(())
}

#[inline]
pub(crate) fn idle_discard() -> bool {
    OPTIONS.idle_discard.load(Relaxed)
}

/// Sets the memory limit (`MASU_MEMORY_LIMIT`: bytes committed by all heaps)
/// at run time: 0 for none, or at least [`MIN_MEMORY_LIMIT`]. Memory
/// already committed stays; later commits past the limit fail.
pub fn set_memory_limit(bytes: usize) -> Result<(), OptionError> {
    check(
        bytes == 0 || bytes >= MIN_MEMORY_LIMIT,
        "MASU_MEMORY_LIMIT",
        "0 (no limit) or at least 1 MiB (1048576 bytes)",
    )?;
    OPTIONS.memory_limit.store(bytes, Relaxed);
    Ok(())
}

#[inline]
pub(crate) fn memory_limit() -> usize {
    OPTIONS.memory_limit.load(Relaxed)
}

/// The background purger may run (`MASU_BACKGROUND`, and a purge delay
/// other than never).
#[inline]
pub(crate) fn background() -> bool {
    OPTIONS.background.load(Relaxed) && OPTIONS.purge_delay_ms.load(Relaxed) != u32::MAX
}

/// Guard pages (`MASU_GUARD_PAGES`, with `secure`). `MmapOs` asks once, at
/// its first reservation (a `Latch`), so that every reservation is
/// released as it was made.
#[cfg(feature = "secure")]
pub(crate) fn guard_pages() -> bool {
    OPTIONS.guard_pages.load(Relaxed)
}

/// The exit check (`MASU_EXIT_CHECK`, with `checks` or `secure`).
#[cfg(any(feature = "checks", feature = "secure"))]
pub(crate) fn exit_check() -> bool {
    OPTIONS.exit_check.load(Relaxed)
}

/// Huge reservations may grow with `mremap` (`MASU_REMAP`).
#[inline]
pub(crate) fn remap() -> bool {
    OPTIONS.remap.load(Relaxed)
}

#[inline]
pub(crate) fn decommit_free() -> bool {
    OPTIONS.decommit_free.load(Relaxed)
}

/// Free committed bytes a heap may keep at its thread's exit.
#[inline]
pub(crate) fn exit_hold_ms() -> u32 {
    OPTIONS.exit_hold_ms.load(Relaxed)
}

pub(crate) fn exit_retain_bytes() -> usize {
    OPTIONS.exit_retain_bytes.load(Relaxed)
}

pub(crate) fn stats_at_exit() -> bool {
    OPTIONS.stats_at_exit.load(Relaxed)
}

/// The heap configuration the options give: masu-core's `VIRTUAL_MEMORY`
/// preset (4 MiB segments of 64 KiB slices) with the purge delay and cache
/// bound from the options and a per-process checks seed.
pub(crate) fn heap_config(seed: u64) -> Config {
    let cache = OPTIONS.large_cache_bytes.load(Relaxed);
    let count = if cache == 0 {
        0
    } else {
        Config::VIRTUAL_MEMORY.segment_cache_count
    };
    let delay = OPTIONS.purge_delay_ms.load(Relaxed);
    let huge_delay = if delay == u32::MAX {
        u32::MAX
    } else {
        OPTIONS.huge_purge_delay_ms.load(Relaxed)
    };
    Config::VIRTUAL_MEMORY
        .with_purge_delay(delay)
        .with_huge_purge_delay(huge_delay)
        .with_segment_cache(count, cache)
        .with_remote_batch(OPTIONS.remote_batch.load(Relaxed).max(1))
        .with_full_rescan(OPTIONS.full_rescan.load(Relaxed) as usize)
        .with_committed_first(OPTIONS.committed_first.load(Relaxed))
        .with_cache_follows_huge(OPTIONS.cache_follows_huge.load(Relaxed))
        .with_huge_keep_slack(OPTIONS.huge_keep_slack.load(Relaxed))
        .with_wake_keep(OPTIONS.wake_keep.load(Relaxed))
        .with_requeue_emptied(OPTIONS.requeue_emptied.load(Relaxed))
        .with_remote_in_order(OPTIONS.remote_in_order.load(Relaxed))
        .with_shuffle_window(OPTIONS.shuffle_window.load(Relaxed))
        .with_page_blocks(OPTIONS.page_blocks.load(Relaxed) as usize)
        .with_arena_above(OPTIONS.arena_above.load(Relaxed))
        .with_coarse_above(OPTIONS.coarse_above.load(Relaxed))
        .with_quarantine(OPTIONS.quarantine_bytes.load(Relaxed))
        .with_seed(seed)
}

/// Prints `masu: <msg>` on stderr when `MASU_VERBOSE=1`.
// Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
#[inline(never)]
pub(crate) fn verbose_event(msg: &[u8]) {
    if OPTIONS.verbose.load(Relaxed) {
        let mut w = StackWriter::stderr();
        w.bytes(b"masu: ");
        w.bytes(msg);
        w.bytes(b"\n");
    }
}

/// The value of environment variable `name` (NUL-terminated), if set.
// Out of line: inlined, each option's read had a copy (libmasu.so's text).
#[inline(never)]
fn env(name: &[u8]) -> Option<&'static [u8]> {
    debug_assert!(name.ends_with(b"\0"));
    // SAFETY: `name` is NUL-terminated; getenv does not allocate and returns
    // null or a NUL-terminated string in the environment block, which lives
    // as long as the process unless the program changes the variable.
    let p = unsafe { libc::getenv(name.as_ptr() as *const libc::c_char) };
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` is a NUL-terminated C string (see above).
    Some(unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes())
}

/// Parses a byte count: digits with an optional `K`, `M`, `G` or `T` suffix
/// (powers of 1024), optionally followed by `B` or `iB`.
// Out of line: inlined, each option's read had a copy (libmasu.so's text).
#[inline(never)]
pub(crate) fn parse_size(s: &[u8]) -> Option<usize> {
    let s = s.trim_ascii();
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut n: usize = 0;
    for &c in &s[..digits] {
        n = n.checked_mul(10)?.checked_add((c - b'0') as usize)?;
    }
    let mut rest = &s[digits..];
    let shift = match rest.first().map(|c| c.to_ascii_lowercase()) {
        Some(b'k') => 10,
        Some(b'm') => 20,
        Some(b'g') => 30,
        Some(b't') => 40,
        _ => 0,
    };
    if shift != 0 {
        rest = &rest[1..];
        if rest.first().map(|c| c.to_ascii_lowercase()) == Some(b'i') {
            rest = &rest[1..];
            if rest.first().map(|c| c.to_ascii_lowercase()) != Some(b'b') {
                return None;
            }
        }
    }
    if rest.first().map(|c| c.to_ascii_lowercase()) == Some(b'b') {
        rest = &rest[1..];
    }
    if !rest.is_empty() {
        return None;
    }
    n.checked_mul(1usize.checked_shl(shift)?)
        .filter(|&v| v <= isize::MAX as usize)
}

/// Whether option text `s` is the word `w`, ignoring ASCII case. (One copy
/// out of line: the comparison inlined at each of its uses took a kilobyte.)
#[inline(never)]
fn same_word(s: &[u8], w: &[u8]) -> bool {
    s.eq_ignore_ascii_case(w)
}

/// Parses a purge delay: milliseconds, or `-1` for never.
// Out of line: inlined, each option's read had a copy (libmasu.so's text).
#[inline(never)]
pub(crate) fn parse_delay(s: &[u8]) -> Option<u32> {
    let s = s.trim_ascii();
    if s == b"-1" || same_word(s, b"never") {
        return Some(u32::MAX);
    }
    if !s.iter().all(|c| c.is_ascii_digit()) || s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &c in s {
        n = n.saturating_mul(10).saturating_add((c - b'0') as u64);
    }
    Some(n.min(u32::MAX as u64 - 1) as u32)
}

/// A remote-free batch size: 1 to 65535 blocks.
// Out of line: inlined, each option's read had a copy (libmasu.so's text).
#[inline(never)]
pub(crate) fn parse_batch(s: &[u8]) -> Option<u32> {
    let s = s.trim_ascii();
    if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = s.iter().fold(0u32, |v, &c| v * 10 + (c - b'0') as u32);
    (1..=0xffff).contains(&v).then_some(v)
}

/// A `MASU_FULL_RESCAN` value: a page count from 0 to 4096.
pub(crate) fn parse_rescan(s: &[u8]) -> Option<u32> {
    let s = s.trim_ascii();
    if s == b"0" {
        return Some(0);
    }
    parse_batch(s).filter(|&v| v <= 4096)
}

/// A `MASU_PAGE_BLOCKS` value: a block count from 4
/// (`masu_core::MIN_BLOCKS_PER_PAGE`) to 64.
pub(crate) fn parse_page_blocks(s: &[u8]) -> Option<u32> {
    parse_batch(s).filter(|&v| (masu_core::MIN_BLOCKS_PER_PAGE as u32..=64).contains(&v))
}

/// A `MASU_ARENA_ABOVE` value: a byte count; only 0 in a build without
/// the `arenas` feature (another value would be ignored in silence).
pub(crate) fn parse_arena_above(s: &[u8]) -> Option<usize> {
    parse_size(s).filter(|&v| v == 0 || cfg!(feature = "arenas"))
}

/// A `MASU_COARSE_ABOVE` value: a byte count of at least 1024
/// (`masu_core::size_class::DIRECT_MAX`, whose requests the fast path's
/// table classes), or 0 for never (`usize::MAX`).
pub(crate) fn parse_coarse_above(s: &[u8]) -> Option<usize> {
    match parse_size(s)? {
        0 => Some(usize::MAX),
        v => (v >= masu_core::size_class::DIRECT_MAX).then_some(v),
    }
}

/// Parses a switch: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`.
// Out of line: inlined, each option's read had a copy (libmasu.so's text).
#[inline(never)]
pub(crate) fn parse_bool(s: &[u8]) -> Option<bool> {
    let s = s.trim_ascii();
    for t in [&b"1"[..], b"true", b"yes", b"on"] {
        if same_word(s, t) {
            return Some(true);
        }
    }
    for f in [&b"0"[..], b"false", b"no", b"off", b""] {
        if same_word(s, f) {
            return Some(false);
        }
    }
    None
}

/// Parses `MASU_STATS`: whether to report at exit, and whether as JSON.
pub(crate) fn parse_stats(s: &[u8]) -> Option<(bool, bool)> {
    if same_word(s.trim_ascii(), b"json") {
        Some((true, true))
    } else {
        parse_bool(s).map(|on| (on, false))
    }
}

/// Parses `MASU_DECOMMIT`: true for `free`.
pub(crate) fn parse_decommit(s: &[u8]) -> Option<bool> {
    let s = s.trim_ascii();
    if same_word(s, b"free") {
        Some(true)
    } else if same_word(s, b"dontneed") {
        Some(false)
    } else {
        None
    }
}

/// Reports a value that did not parse.
// Out of line: inlined, each option's read had a copy (libmasu.so's text).
#[inline(never)]
fn complain(name: &[u8], value: &[u8], expected: &str) {
    let mut w = StackWriter::stderr();
    w.bytes(b"masu: ignoring ");
    w.bytes(&name[..name.len() - 1]);
    w.bytes(b"=\"");
    w.bytes(&value[..value.len().min(64)]);
    w.s("\": expected ").s(expected).s("; using the default\n");
}

/// Reads one variable with `parse`; stores it with `store` when it parses.
fn read<T>(name: &[u8], expected: &str, parse: fn(&[u8]) -> Option<T>, store: impl FnOnce(T)) {
    if let Some(v) = env(name) {
        match parse(v) {
            Some(x) => store(x),
            None => complain(name, v, expected),
        }
    }
}

/// Reads all options from the environment (called once, at initialisation).
pub(crate) fn load_from_env() {
    let mut o = OPTIONS.get();
    read(
        b"MASU_PURGE_DELAY\0",
        "milliseconds or -1",
        parse_delay,
        |v| o.purge_delay_ms = v,
    );
    read(
        b"MASU_HUGE_PURGE_DELAY\0",
        "milliseconds or -1",
        parse_delay,
        |v| o.huge_purge_delay_ms = v,
    );
    read(
        b"MASU_DECOMMIT\0",
        "dontneed or free",
        parse_decommit,
        |v| o.decommit_free = v,
    );
    read(
        b"MASU_LARGE_CACHE\0",
        "a byte count such as 0, 65536 or 64M",
        parse_size,
        |v| o.large_cache_bytes = v,
    );
    read(
        b"MASU_EXIT_RETAIN\0",
        "a byte count such as 0, 8M or 64M",
        parse_size,
        |v| o.exit_retain_bytes = v,
    );
    read(
        b"MASU_EXIT_HOLD\0",
        "milliseconds or -1",
        parse_delay,
        |v| o.exit_hold_ms = v,
    );
    read(
        b"MASU_REMOTE_BATCH\0",
        "a block count from 1 to 65535",
        parse_batch,
        |v| o.remote_batch = v,
    );
    read(
        b"MASU_FULL_RESCAN\0",
        "a page count from 0 to 4096",
        parse_rescan,
        |v| o.full_rescan = v,
    );
    read(b"MASU_COMMITTED_FIRST\0", "0 or 1", parse_bool, |v| {
        o.committed_first = v
    });
    read(b"MASU_REMAP\0", "0 or 1", parse_bool, |v| o.remap = v);
    read(b"MASU_CACHE_FOLLOWS_HUGE\0", "0 or 1", parse_bool, |v| {
        o.cache_follows_huge = v
    });
    read(b"MASU_HUGE_KEEP_SLACK\0", "0 or 1", parse_bool, |v| {
        o.huge_keep_slack = v
    });
    read(
        b"MASU_PAGE_BLOCKS\0",
        "a block count from 4 to 64",
        parse_page_blocks,
        |v| o.page_blocks = v,
    );
    read(
        b"MASU_ARENA_ABOVE\0",
        "a byte count (K suffix), 0 for none, in a build with the arenas feature",
        parse_arena_above,
        |v| o.arena_above = v,
    );
    read(
        b"MASU_COARSE_ABOVE\0",
        "a byte count of at least 1024 (K suffix), 0 for never",
        parse_coarse_above,
        |v| o.coarse_above = v,
    );
    read(b"MASU_BACKGROUND\0", "0 or 1", parse_bool, |v| {
        o.background = v
    });
    read(b"MASU_IDLE_DISCARD\0", "0 or 1", parse_bool, |v| {
        o.idle_discard = v
    });
    read(
        b"MASU_IDLE_HOLD\0",
        "milliseconds or -1",
        parse_delay,
        |v| o.idle_hold_ms = v,
    );
    read(b"MASU_WAKE_KEEP\0", "0 or 1", parse_bool, |v| {
        o.wake_keep = v
    });
    read(b"MASU_REQUEUE_EMPTIED\0", "0 or 1", parse_bool, |v| {
        o.requeue_emptied = v
    });
    read(b"MASU_REMOTE_IN_ORDER\0", "0 or 1", parse_bool, |v| {
        o.remote_in_order = v
    });
    read(
        b"MASU_SHUFFLE_WINDOW\0",
        "a byte count such as 1K",
        parse_size,
        |v| o.shuffle_window = v,
    );
    read(
        b"MASU_MEMORY_LIMIT\0",
        "a byte count such as 512M or 0 (no limit)",
        parse_size,
        |v| o.memory_limit = v,
    );
    read(
        b"MASU_QUARANTINE\0",
        "a byte count such as 0, 256K or 1M",
        parse_size,
        |v| o.quarantine_bytes = v,
    );
    read(b"MASU_GUARD_PAGES\0", "0 or 1", parse_bool, |v| {
        o.guard_pages = v
    });
    read(b"MASU_EXIT_CHECK\0", "0 or 1", parse_bool, |v| {
        o.exit_check = v
    });
    read(
        b"MASU_STATS\0",
        "0, 1 or json",
        parse_stats,
        |(on, json)| {
            o.stats_at_exit = on;
            o.stats_json = json;
        },
    );
    read(b"MASU_VERBOSE\0", "0 or 1", parse_bool, |v| o.verbose = v);
    OPTIONS.set(&o);
    if o.verbose {
        let mut w = StackWriter::stderr();
        w.s("masu: options: purge_delay=");
        write_delay(&mut w, o.purge_delay_ms);
        w.s(" huge_purge_delay=");
        write_delay(&mut w, o.huge_purge_delay_ms);
        w.s(" decommit=");
        w.s(if o.decommit_free { "free" } else { "dontneed" });
        let fields = [
            (" large_cache=", o.large_cache_bytes as u64),
            (" exit_retain=", o.exit_retain_bytes as u64),
            (" exit_hold=", o.exit_hold_ms as u64),
            (" remote_batch=", o.remote_batch as u64),
            (" full_rescan=", o.full_rescan as u64),
            (" committed_first=", o.committed_first as u64),
            (" remap=", o.remap as u64),
            (" cache_follows_huge=", o.cache_follows_huge as u64),
            (" huge_keep_slack=", o.huge_keep_slack as u64),
            (" page_blocks=", o.page_blocks as u64),
            (" arena_above=", o.arena_above as u64),
            // 0 for never, as the variable takes it.
            (
                " coarse_above=",
                if o.coarse_above == usize::MAX {
                    0
                } else {
                    o.coarse_above as u64
                },
            ),
            (" background=", o.background as u64),
            (" idle_discard=", o.idle_discard as u64),
            (" idle_hold=", o.idle_hold_ms as u64),
            (" wake_keep=", o.wake_keep as u64),
            (" requeue_emptied=", o.requeue_emptied as u64),
            (" remote_in_order=", o.remote_in_order as u64),
            (" shuffle_window=", o.shuffle_window as u64),
            (" memory_limit=", o.memory_limit as u64),
            (" quarantine=", o.quarantine_bytes as u64),
            (" guard_pages=", o.guard_pages as u64),
            (" exit_check=", o.exit_check as u64),
            (" stats=", o.stats_at_exit as u64),
        ];
        for (name, v) in fields {
            w.s(name).num(v);
        }
        w.s("\n");
    }
}

/// Writes a purge delay of the verbose options line: `never`, or `Nms`.
fn write_delay(w: &mut StackWriter, ms: u32) {
    if ms == u32::MAX {
        w.s("never");
    } else {
        w.num(ms as u64).s("ms");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sizes_parse_within_range() {
        assert_eq!(parse_batch(b"64"), Some(64));
        assert_eq!(parse_batch(b" 1 "), Some(1));
        assert_eq!(parse_batch(b"65535"), Some(65535));
        assert_eq!(parse_batch(b"0"), None);
        assert_eq!(parse_batch(b"65536"), None);
        assert_eq!(parse_batch(b"99999999"), None);
        assert_eq!(parse_batch(b"-3"), None);
        assert_eq!(parse_batch(b""), None);
    }

    #[test]
    fn full_rescan_parses_from_0_to_4096() {
        assert_eq!(parse_rescan(b"0"), Some(0));
        assert_eq!(parse_rescan(b" 0 "), Some(0));
        assert_eq!(parse_rescan(b"4"), Some(4));
        assert_eq!(parse_rescan(b"4096"), Some(4096));
        assert_eq!(parse_rescan(b"4097"), None);
        assert_eq!(parse_rescan(b""), None);
        assert_eq!(parse_rescan(b"-1"), None);
    }

    #[test]
    fn coarse_above_takes_1024_and_up_or_0_for_never() {
        assert_eq!(parse_coarse_above(b"1024"), Some(1024));
        assert_eq!(parse_coarse_above(b"2K"), Some(2048));
        assert_eq!(parse_coarse_above(b"0"), Some(usize::MAX));
        assert_eq!(parse_coarse_above(b"1023"), None);
        assert_eq!(parse_coarse_above(b"x"), None);
        assert_eq!(parse_coarse_above(b""), None);
    }

    #[test]
    fn arena_above_takes_a_size_and_more_than_0_only_with_arenas() {
        assert_eq!(parse_arena_above(b"0"), Some(0));
        let built = cfg!(feature = "arenas");
        assert_eq!(parse_arena_above(b"2048"), built.then_some(2048));
        assert_eq!(parse_arena_above(b"2K"), built.then_some(2048));
        assert_eq!(parse_arena_above(b"x"), None);
    }

    #[test]
    fn page_blocks_parse_from_4_to_64() {
        assert_eq!(parse_page_blocks(b"4"), Some(4));
        assert_eq!(parse_page_blocks(b" 8 "), Some(8));
        assert_eq!(parse_page_blocks(b"64"), Some(64));
        assert_eq!(parse_page_blocks(b"3"), None);
        assert_eq!(parse_page_blocks(b"65"), None);
        assert_eq!(parse_page_blocks(b"x"), None);
    }

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size(b"0"), Some(0));
        assert_eq!(parse_size(b" 65536 "), Some(65536));
        assert_eq!(parse_size(b"64M"), Some(64 << 20));
        assert_eq!(parse_size(b"64MiB"), Some(64 << 20));
        assert_eq!(parse_size(b"2g"), Some(2 << 30));
        assert_eq!(parse_size(b"100B"), Some(100));
        assert_eq!(parse_size(b"1k"), Some(1024));
        assert_eq!(parse_size(b""), None);
        assert_eq!(parse_size(b"M"), None);
        assert_eq!(parse_size(b"12x"), None);
        assert_eq!(parse_size(b"-5"), None);
        assert_eq!(parse_size(b"1Mi"), None);
        assert_eq!(parse_size(b"99999999999999999999999"), None);
        assert_eq!(parse_size(b"99999999999T"), None);
    }

    #[test]
    fn delays_and_switches_parse() {
        assert_eq!(parse_delay(b"0"), Some(0));
        assert_eq!(parse_delay(b"250"), Some(250));
        assert_eq!(parse_delay(b"-1"), Some(u32::MAX));
        assert_eq!(parse_delay(b"never"), Some(u32::MAX));
        assert_eq!(parse_delay(b"-2"), None);
        assert_eq!(parse_delay(b"10ms"), None);
        assert_eq!(parse_delay(b"99999999999"), Some(u32::MAX - 1));
        assert_eq!(parse_bool(b"1"), Some(true));
        assert_eq!(parse_bool(b"YES"), Some(true));
        assert_eq!(parse_bool(b"0"), Some(false));
        assert_eq!(parse_bool(b"2"), None);
        assert_eq!(parse_decommit(b"free"), Some(true));
        assert_eq!(parse_decommit(b"DontNeed"), Some(false));
        assert_eq!(parse_decommit(b"later"), None);
        assert_eq!(parse_stats(b"json"), Some((true, true)));
        assert_eq!(parse_stats(b" JSON "), Some((true, true)));
        assert_eq!(parse_stats(b"1"), Some((true, false)));
        assert_eq!(parse_stats(b"0"), Some((false, false)));
        assert_eq!(parse_stats(b"yaml"), None);
    }
}
