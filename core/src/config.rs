//! Heap configuration and the geometry derived from it.
//!
//! A segment is `2^segment_shift` bytes, aligned to its size, and split into
//! `2^(segment_shift - slice_shift)` slices (at most 64, so one `u64` mask
//! describes a segment). The first slices hold the segment header; a page is a
//! run of slices holding blocks of one class; a large span is a run of slices
//! holding one block.

use crate::page::Page;
use crate::segment::Segment;
use crate::size_class::{class_size, CLASS_COUNT};

/// Tunables of one heap. Build one with the presets and `with_*` methods;
/// [`Heap::new`](crate::Heap::new) validates it (a bad value panics, at
/// compile time when the heap is a `static`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// log2 of the segment size.
    pub segment_shift: u32,
    /// log2 of the slice size; at most 6 less than `segment_shift`.
    pub slice_shift: u32,
    /// How long an empty page, or a free slice, waits before it is freed or
    /// decommitted: in milliseconds when the `Os` has a clock
    /// ([`Os::clock_ms`](crate::Os::clock_ms)), else in slow-path events.
    /// 0: at once; `u32::MAX`: never, except by `collect(true)` or memory
    /// pressure.
    pub purge_delay: u32,
    /// The purge delay of freed huge segments in the segment cache (same
    /// units): reusing one that is still committed saves faulting the whole
    /// block in again, which costs more than for a page.
    pub huge_purge_delay: u32,
    /// Most empty or huge segments kept in the segment cache.
    pub segment_cache_count: u32,
    /// Most bytes of segments kept in the segment cache (committed bytes:
    /// a purged segment counts as nothing).
    pub segment_cache_bytes: usize,
    /// When set, the cache may also hold as many committed bytes as the
    /// heap's live huge blocks take, when that is more than
    /// `segment_cache_bytes`: a program that cycles through large buffers
    /// reuses them without faults, and one that frees them all falls back
    /// to the fixed bound.
    pub cache_follows_huge: bool,
    /// Mixed into the free-list encoding keys of the `checks` feature.
    pub seed: u64,
    /// Where new pages and large spans go: `true` (default) takes a run of
    /// free slices that are still committed, in the segments in use and
    /// then in cached segments, before any run that needs new commits;
    /// `false` takes the first free run of the first segment with room (as
    /// masu 0.1 did), which can commit fresh memory while committed memory
    /// freed earlier waits in another segment.
    pub committed_first: bool,
    /// Most blocks freed to one page of another heap that this heap chains
    /// before it publishes them with one CAS (`remote_buffer.rs`); at least
    /// 1, which publishes every remote free at once (as masu 0.1 did).
    pub remote_batch: u32,
    /// With the `checks` feature: the bytes of freed small blocks a heap
    /// holds back before they can be handed out again (its quarantine);
    /// 0: none. Without `checks`, not read.
    pub quarantine_bytes: usize,
    /// Over an `Os` that serves direct blocks ([`Os::DIRECT_BLOCKS`], a
    /// [`FixedRegion`](crate::FixedRegion)): requests of more bytes than this
    /// are direct blocks (their size rounded to 8 plus an 8-byte header, no
    /// segment), and so is any request once no segment fits in the region.
    /// `usize::MAX`: only the latter. Not read over other `Os`es, nor with
    /// the `checks` or `secure` features (whose checks read every block's
    /// page), which keep every block in a segment.
    ///
    /// [`Os::DIRECT_BLOCKS`]: crate::Os::DIRECT_BLOCKS
    pub direct_above: usize,
    /// Most usable bytes of freed direct blocks (of up to 512 bytes) a heap
    /// keeps to hand out again without the region's allocator (see
    /// `Os::DIRECT_BLOCKS`); 0: none. Given back to the region before an
    /// allocation reports out of memory, and by `collect`, `reset` and
    /// `Drop`.
    pub direct_cache_bytes: usize,
    /// With a direct-block cache ([`Config::direct_cache_bytes`]): once less
    /// than three quarters of the region is free, a freed direct block next
    /// to free memory goes back to the region to merge instead of into the
    /// cache, so that the region's free memory stays in larger pieces (a
    /// cached block looks used to the region and keeps its free neighbour
    /// from growing). While the region has more free, every small block
    /// may be cached, which is faster. `false`: cached whenever there is
    /// room.
    pub direct_cache_packs: bool,
    /// With a direct-block cache ([`Config::direct_cache_bytes`]): one of its
    /// exact-size lists holds at most a `direct_cache_share`th of its bytes
    /// (always room for one 512-byte block, never more than 64 KiB less a
    /// byte), so that no one size fills the cache. A `realloc` that shrinks
    /// a block in place makes a block of the smaller size that no allocation
    /// took from the cache, so under random reallocs the smallest size's
    /// list grew until it held the whole cache and later frees of every
    /// other size went to the region. 1: one list may take the whole cache.
    /// At least 1.
    pub direct_cache_share: usize,
    /// With a direct-block cache over an `Os` that says when its memory is
    /// roomy (a [`FixedRegion`](crate::FixedRegion): at least three quarters
    /// free): while it is, freed direct blocks of up to this many usable
    /// bytes (at most 4096) are cached too, in exact-size lists whose table
    /// the heap takes from the region, up to a 16th of the region's bytes,
    /// as long as most of the heap's requests above 512 bytes are of these
    /// sizes (where larger ones prevail the lists cost more than they
    /// save); the first free of such a block that finds the region no
    /// longer roomy gives them and their table back. Up to 512 (or with
    /// `direct_cache_bytes` 0): none.
    pub direct_cache_large: usize,
    /// Over an `Os` that serves direct blocks: a request above
    /// [`Config::direct_above`] that the region can no longer serve as a
    /// direct block takes room its heap's segments already hold (a block of
    /// a class page or a large span in their free slices) instead of
    /// failing. Only a request that would otherwise fail is affected.
    pub direct_spill: bool,
    /// A cached huge segment reused for a smaller block keeps the committed
    /// memory past the block until its purge delay
    /// ([`Config::huge_purge_delay`]) has passed while the block lives, so
    /// that a larger block soon after finds it without page faults. `false`:
    /// up to the block's size of it becomes part of the block (its usable
    /// size) and the rest is decommitted at once.
    pub huge_keep_slack: bool,
    /// A page of a size class holds at least this many blocks (at least
    /// [`MIN_BLOCKS_PER_PAGE`]): the page of a class takes the fewest
    /// slices that hold them. Fewer blocks per page make smaller pages for
    /// the large classes, so a class with few live blocks holds less
    /// memory, and a page empties sooner; more make fewer pages to set up.
    /// Read when the heap is built.
    pub page_blocks: usize,
    /// A heap whose slow paths last looked at its purge queue more than
    /// [`Config::purge_delay`] ago (it paused, or had nothing to purge)
    /// leaves the purges then due for one more purge delay, so that a burst
    /// after a pause takes back the memory it freed before the pause
    /// instead of having it decommitted at its first slow path and faulting
    /// it in again (`release.rs`, "A heap waking"). Only over an `Os` with
    /// a clock. `false`: the first slow path after the pause purges what is
    /// due.
    pub wake_keep: bool,
    /// Pages of the `full` queue that the epoch tick (every 64 slow-path
    /// events) checks for other threads' frees, freeing those that emptied
    /// (`release.rs`). A full page is otherwise looked at again only when
    /// its class runs out of pages, so a burst that another thread freed,
    /// in a class the owner no longer allocates from, stayed while the
    /// owner was busy. 0: none (before session 23; the region presets,
    /// whose heaps are most often one behind a lock, with no other heap to
    /// free into its pages: there the look only cost, 1 % more instructions
    /// per operation of `fixed_region` at 1000 B).
    pub full_rescan: usize,
    /// A small page that other threads emptied, found in the `full` queue,
    /// goes back to its class queue when that class would make a new page
    /// at its next slow path (its class's next allocations take its blocks,
    /// linked already, where the new page would carve them again), and
    /// waits there for the purge delay at most; `false`: it is freed at
    /// once (`page_search.rs`, `rescan_full`).
    pub requeue_emptied: bool,
    /// With `secure` (read only there): a chain of remote frees to one page
    /// is linked in address order when it is published (`block_set.rs`),
    /// so the page's owner hands its blocks out again in an order the
    /// hardware prefetcher follows, where `secure`'s random carve order
    /// would otherwise reach it; `false`: in the order they were freed.
    pub remote_in_order: bool,
    /// With `secure` (read only there): new blocks are handed out in a
    /// random order within windows of this many bytes of a carved batch
    /// (at least 16 blocks; `page.rs`, `window_blocks`), the windows in
    /// address order, so that a program walking its blocks in the order
    /// it got them still walks memory upward at the scale the hardware
    /// prefetcher follows; 4096 (a whole batch) or more: the batch in one
    /// random order, as before session 32. Read when a page is carved.
    pub shuffle_window: usize,
    /// Each page descriptor of a segment's header on cache lines of its own
    /// (spaced `page_stride` bytes apart: its size rounded up to 64, 128
    /// on 64-bit targets); `false`: packed. Packed, one page's second half
    /// (its `thread_free`, and the fixed fields another thread's free
    /// reads) shares a line with the next descriptor's first, which that
    /// page's owner writes on every operation: a thread that allocates
    /// from one page and another that frees into its neighbour move the
    /// line back and forth (mimalloc-bench `xmalloc-test`; docs/flags.md).
    /// Spaced, a header takes 14 % more bytes (written only as its slices
    /// are first used), which a small region's segments pay in blocks.
    pub line_pages: bool,
    /// Requests of more than this many bytes, up to
    /// [`ARENA_MAX`](crate::ARENA_MAX) and aligned to at most 16, go to the
    /// heap's *arenas*, a coalescing store shared by all their sizes,
    /// instead of the size classes (see `arena.rs`); 0: none (every
    /// preset). Classes keep one page's worth of blocks per size; an arena
    /// holds the blocks of every size together, so a program with few live
    /// blocks of many medium sizes keeps less memory. Without effect with
    /// `checks` or `secure`, and without the `arenas` feature.
    pub arena_above: usize,
    /// Requests of more than this many bytes (after rounding to their
    /// alignment) take every second size class: 4 classes for each
    /// doubling of size instead of 8, so a block is at most 25 % larger
    /// than asked instead of 12.5 %, and half as many classes each keep a
    /// page of their own. A program with few live blocks spread over many
    /// medium and large sizes keeps a partly used page for each size it
    /// meets; with half the classes it keeps half the pages (mimalloc and
    /// jemalloc have 4 classes a doubling). At least
    /// [`DIRECT_MAX`](crate::size_class::DIRECT_MAX), whose requests the
    /// fast path's table classes; `usize::MAX`: 8 classes a doubling
    /// throughout (the region presets, whose requests above 1 KiB are
    /// mostly direct blocks).
    pub coarse_above: usize,
}

impl Config {
    /// For fixed regions of about 1 MiB and up: 128 KiB segments of 4 KiB
    /// slices for requests up to 1 KiB; larger ones are direct blocks of the
    /// region (see [`Config::direct_above`]).
    pub const FIXED_REGION: Config = Config {
        segment_shift: 17,
        slice_shift: 12,
        purge_delay: 256,
        huge_purge_delay: 256,
        segment_cache_count: 1,
        segment_cache_bytes: 1 << 17,
        cache_follows_huge: false,
        seed: 0x6d61_7375_2d63_6f72,
        committed_first: true,
        remote_batch: 64,
        quarantine_bytes: 0,
        direct_above: 1024,
        direct_cache_bytes: 64 << 10,
        direct_cache_packs: true,
        direct_cache_share: 32,
        direct_cache_large: 4096,
        direct_spill: true,
        huge_keep_slack: true,
        page_blocks: 8,
        wake_keep: true,
        full_rescan: 0,
        requeue_emptied: true,
        remote_in_order: true,
        shuffle_window: 1024,
        line_pages: false,
        arena_above: 0,
        coarse_above: usize::MAX,
    };

    /// For fixed regions where every byte counts: [`Config::FIXED_REGION`]
    /// with every request a direct block (`direct_above = 0`): the region's
    /// two-level segregated fit packs blocks to 8 bytes plus an 8-byte
    /// header, and a 64 KiB cache of freed blocks of up to 512 bytes per
    /// heap serves repeated sizes, and while the region is at least three
    /// quarters free, blocks of up to 4 KiB too
    /// ([`Config::direct_cache_large`]). No segments, so no size classes:
    /// talc's packing, faster than talc up to 3000-byte requests
    /// (docs/embedded.md).
    pub const COMPACT_REGION: Config = Config::FIXED_REGION.with_direct_above(0);

    /// For small RAM (up to a few hundred KiB): every request a direct block
    /// of the region (as [`Config::COMPACT_REGION`]), with a 4 KiB cache of
    /// freed blocks per heap. Its segments (16 KiB of 1 KiB slices) serve
    /// size classes only when [`Config::direct_above`] is raised: in a 64 KiB
    /// region they pack 74 % of random 1–256 B requests where direct blocks
    /// pack 89 % (docs/embedded.md).
    pub const SMALL_REGION: Config = Config {
        segment_shift: 14,
        slice_shift: 10,
        purge_delay: 256,
        huge_purge_delay: 256,
        segment_cache_count: 0,
        segment_cache_bytes: 0,
        cache_follows_huge: false,
        seed: 0x6d61_7375_2d63_6f72,
        committed_first: true,
        remote_batch: 64,
        quarantine_bytes: 0,
        direct_above: 0,
        direct_cache_bytes: 4 << 10,
        direct_cache_packs: true,
        direct_cache_share: 32,
        direct_cache_large: 0,
        direct_spill: true,
        huge_keep_slack: true,
        page_blocks: 8,
        wake_keep: true,
        full_rescan: 0,
        requeue_emptied: true,
        remote_in_order: true,
        shuffle_window: 1024,
        line_pages: false,
        arena_above: 0,
        coarse_above: usize::MAX,
    };

    /// For a virtual-memory OS: 4 MiB segments of 64 KiB slices.
    pub const VIRTUAL_MEMORY: Config = Config {
        segment_shift: 22,
        slice_shift: 16,
        purge_delay: 1024,
        huge_purge_delay: 1024,
        segment_cache_count: 8,
        segment_cache_bytes: 64 << 20,
        cache_follows_huge: true,
        seed: 0x6d61_7375_2d63_6f72,
        committed_first: true,
        remote_batch: 64,
        quarantine_bytes: 0,
        direct_above: usize::MAX,
        direct_cache_bytes: 0,
        direct_cache_packs: true,
        direct_cache_share: 32,
        direct_cache_large: 0,
        direct_spill: true,
        huge_keep_slack: true,
        page_blocks: 4,
        wake_keep: true,
        full_rescan: 4,
        requeue_emptied: true,
        remote_in_order: true,
        shuffle_window: 1024,
        line_pages: true,
        arena_above: 0,
        coarse_above: 1024,
    };

    /// Usable bytes of the live block at `ptr` of any heap built with this
    /// configuration (at least the size it was asked with), without a heap
    /// at hand: what [`Heap::usable_size`](crate::Heap::usable_size) says.
    ///
    /// # Safety
    /// `ptr` is a live block of a heap with this configuration's segment
    /// size.
    pub unsafe fn usable_size(&self, ptr: *const u8) -> usize {
        let mask = !((1usize << self.segment_shift) - 1);
        // With `checks`, the block's redzone begins right after the request.
        #[cfg(feature = "checks")]
        // SAFETY: guaranteed by the caller.
        return unsafe { crate::redzone::requested_size(ptr, mask) };
        #[cfg(not(feature = "checks"))]
        // SAFETY: guaranteed by the caller.
        unsafe {
            Segment::usable_size(ptr, mask)
        }
    }

    /// This config with another segment and slice size.
    pub const fn with_segment(mut self, segment_shift: u32, slice_shift: u32) -> Self {
        self.segment_shift = segment_shift;
        self.slice_shift = slice_shift;
        self
    }

    /// This config with another purge delay (in slow-path events, or
    /// milliseconds with a clock), for huge segments too.
    pub const fn with_purge_delay(mut self, events: u32) -> Self {
        self.purge_delay = events;
        self.huge_purge_delay = events;
        self
    }

    /// This config with another purge delay for cached huge segments.
    pub const fn with_huge_purge_delay(mut self, events: u32) -> Self {
        self.huge_purge_delay = events;
        self
    }

    /// This config with another segment cache bound.
    pub const fn with_segment_cache(mut self, count: u32, bytes: usize) -> Self {
        self.segment_cache_count = count;
        self.segment_cache_bytes = bytes;
        self
    }

    /// This config with [`Config::cache_follows_huge`] set to `on`.
    pub const fn with_cache_follows_huge(mut self, on: bool) -> Self {
        self.cache_follows_huge = on;
        self
    }

    /// This config with [`Config::committed_first`] set to `on`.
    pub const fn with_committed_first(mut self, on: bool) -> Self {
        self.committed_first = on;
        self
    }

    /// This config with [`Config::direct_above`] set to `bytes`.
    pub const fn with_direct_above(mut self, bytes: usize) -> Self {
        self.direct_above = bytes;
        self
    }

    /// This config with [`Config::direct_spill`] set to `on`.
    pub const fn with_direct_spill(mut self, on: bool) -> Self {
        self.direct_spill = on;
        self
    }

    /// This config with [`Config::huge_keep_slack`] set to `on`.
    pub const fn with_huge_keep_slack(mut self, on: bool) -> Self {
        self.huge_keep_slack = on;
        self
    }

    /// This config with [`Config::direct_cache_bytes`] set to `bytes`.
    pub const fn with_direct_cache(mut self, bytes: usize) -> Self {
        self.direct_cache_bytes = bytes;
        self
    }

    /// This config with [`Config::direct_cache_packs`] set to `on`.
    pub const fn with_direct_cache_packs(mut self, on: bool) -> Self {
        self.direct_cache_packs = on;
        self
    }

    /// This config with [`Config::direct_cache_large`] set to `bytes`.
    pub const fn with_direct_cache_large(mut self, bytes: usize) -> Self {
        self.direct_cache_large = bytes;
        self
    }

    /// This config with [`Config::direct_cache_share`] set to `share`.
    pub const fn with_direct_cache_share(mut self, share: usize) -> Self {
        self.direct_cache_share = share;
        self
    }

    /// This config with [`Config::quarantine_bytes`] set to `bytes`.
    pub const fn with_quarantine(mut self, bytes: usize) -> Self {
        self.quarantine_bytes = bytes;
        self
    }

    /// This config with [`Config::wake_keep`] set to `on`.
    pub const fn with_wake_keep(mut self, on: bool) -> Self {
        self.wake_keep = on;
        self
    }

    /// This config with [`Config::full_rescan`] set to `pages` (0: none).
    pub const fn with_full_rescan(mut self, pages: usize) -> Self {
        self.full_rescan = pages;
        self
    }

    /// This config with [`Config::line_pages`] set to `on`.
    pub const fn with_line_pages(mut self, on: bool) -> Self {
        self.line_pages = on;
        self
    }

    /// This config with [`Config::remote_in_order`] set to `on`.
    pub const fn with_remote_in_order(mut self, on: bool) -> Self {
        self.remote_in_order = on;
        self
    }

    /// This config with [`Config::shuffle_window`] set to `bytes`.
    pub const fn with_shuffle_window(mut self, bytes: usize) -> Self {
        self.shuffle_window = bytes;
        self
    }

    /// This config with [`Config::requeue_emptied`] set to `on`.
    pub const fn with_requeue_emptied(mut self, on: bool) -> Self {
        self.requeue_emptied = on;
        self
    }

    /// This config with [`Config::arena_above`] set to `bytes` (0: no arenas).
    pub const fn with_arena_above(mut self, bytes: usize) -> Self {
        self.arena_above = bytes;
        self
    }

    /// This config with [`Config::coarse_above`] set to `bytes` (at least
    /// [`DIRECT_MAX`](crate::size_class::DIRECT_MAX); `usize::MAX`: never).
    pub const fn with_coarse_above(mut self, bytes: usize) -> Self {
        self.coarse_above = bytes;
        self
    }

    /// This config with [`Config::page_blocks`] set to `blocks` (at least
    /// [`MIN_BLOCKS_PER_PAGE`]).
    pub const fn with_page_blocks(mut self, blocks: usize) -> Self {
        self.page_blocks = blocks;
        self
    }

    /// This config with [`Config::remote_batch`] set to `blocks` (at least 1).
    pub const fn with_remote_batch(mut self, blocks: u32) -> Self {
        self.remote_batch = blocks;
        self
    }

    /// This config with another checks seed.
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// Largest request a heap's arenas serve (see [`Config::arena_above`]).
pub const ARENA_MAX: usize = 32 << 10;

/// The smallest segment size with arenas: an arena is one segment, and
/// must hold several of the largest blocks it serves (a heap with smaller
/// segments, `SMALL_REGION`'s 16 KiB, has none).
pub(crate) const ARENA_MIN_SEGMENT: usize = 4 * ARENA_MAX;

/// Most slices in a segment: one bit each in a `u64` mask.
pub const MAX_SLICES: usize = 64;

// `Page::slice_offset`, the bytes back from a slice's descriptor to its
// page's first, fits 16 bits; so does `Segment::page_stride`.
static_assertions::const_assert!((MAX_SLICES - 1) * page_stride(true) <= u16::MAX as usize);

/// The bytes from one page descriptor of a segment header to the next: a
/// descriptor's size, rounded up to whole 64-byte cache lines when
/// `line_pages` ([`Config::line_pages`]).
pub(crate) const fn page_stride(line_pages: bool) -> usize {
    let size = core::mem::size_of::<Page>();
    if line_pages {
        size.next_multiple_of(64)
    } else {
        size
    }
}
/// Smallest slice: 256 bytes.
pub const MIN_SLICE_SHIFT: u32 = 8;
/// The fewest blocks a page of a size class may be configured to hold
/// ([`Config::page_blocks`]).
pub const MIN_BLOCKS_PER_PAGE: usize = 4;
// `Geometry::new`'s message names the floor (a `const fn` cannot format it).
static_assertions::const_assert_eq!(MIN_BLOCKS_PER_PAGE, 4);

/// Sizes derived from a [`Config`], computed once when the heap is built.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub segment_size: usize,
    /// `!(segment_size - 1)`: masks a pointer down to its segment.
    pub segment_base_mask: usize,
    pub slice_shift: u32,
    pub slice_size: usize,
    pub slice_count: usize,
    pub header_slices: usize,
    /// [`page_stride`] of [`Config::line_pages`].
    pub page_stride: usize,
    /// Largest request (after rounding to its alignment) served by a class.
    pub max_small_size: usize,
    /// Slices per page, per class (0 for classes too large for this geometry).
    pub class_slices: [u8; CLASS_COUNT],
    /// Largest span, in slices, placed inside a normal segment.
    pub max_large_slices: usize,
    /// [`Config::coarse_above`].
    pub coarse_above: usize,
}

/// Bytes of a normal segment's header: the segment fields plus one page
/// descriptor per slice, `stride` bytes apart ([`page_stride`]).
pub(crate) const fn header_bytes(slice_count: usize, stride: usize) -> usize {
    core::mem::size_of::<Segment>() + slice_count * stride
}

impl Geometry {
    /// The size class that serves a request of `size` bytes aligned to
    /// `align` (see [`request_bytes`](crate::size_class::request_bytes)), or
    /// None when it is a large or huge request.
    #[inline(always)]
    pub fn small_class(&self, size: usize, align: usize) -> Option<usize> {
        let rounded = crate::size_class::request_bytes(size, align);
        if rounded <= self.max_small_size && align <= self.slice_size {
            // Above `coarse_above` only the odd classes (the larger of each
            // pair) serve; the last class served is odd then (`new`).
            let coarse = (rounded > self.coarse_above) as usize;
            Some(crate::size_class::class_of(rounded) | coarse)
        } else {
            None
        }
    }

    pub const fn new(config: &Config) -> Geometry {
        assert!(config.remote_batch >= 1, "masu: remote_batch below 1");
        assert!(
            config.direct_cache_share >= 1,
            "masu: direct_cache_share below 1"
        );
        assert!(
            config.direct_cache_large <= crate::direct_cache::LARGE_MAX,
            "masu: direct_cache_large above 4096"
        );
        assert!(
            config.page_blocks >= MIN_BLOCKS_PER_PAGE,
            "masu: page_blocks below 4"
        );
        assert!(
            config.slice_shift >= MIN_SLICE_SHIFT,
            "masu: slice_shift below 8"
        );
        assert!(
            config.segment_shift > config.slice_shift,
            "masu: segment not above slice"
        );
        assert!(
            config.segment_shift - config.slice_shift <= 6,
            "masu: more than 64 slices per segment"
        );
        assert!(
            config.segment_shift < usize::BITS - 2,
            "masu: segment_shift too large"
        );
        assert!(
            config.coarse_above >= crate::size_class::DIRECT_MAX,
            "masu: coarse_above below 1024"
        );
        let segment_size = 1usize << config.segment_shift;
        let slice_size = 1usize << config.slice_shift;
        let slice_count = segment_size / slice_size;
        let page_stride = page_stride(config.line_pages);
        let header_slices = header_bytes(slice_count, page_stride).div_ceil(slice_size);
        assert!(
            header_slices < slice_count,
            "masu: segment header fills the segment"
        );
        let usable = slice_count - header_slices;
        let max_page_slices = if usable / 4 > 1 { usable / 4 } else { 1 };
        let mut class_slices = [0u8; CLASS_COUNT];
        let mut max_small_size = 0;
        let mut c = 0;
        while c < CLASS_COUNT {
            let need = (class_size(c) * config.page_blocks).div_ceil(slice_size);
            if need <= max_page_slices {
                class_slices[c] = need as u8;
                max_small_size = class_size(c);
            }
            c += 1;
        }
        // With coarse classes only odd classes above `coarse_above` serve:
        // an even last class would round up to one with no pages, so its
        // requests become large spans instead.
        let last = crate::size_class::class_of(max_small_size);
        if last % 2 == 0 && max_small_size > config.coarse_above {
            class_slices[last] = 0;
            max_small_size = class_size(last - 1);
        }
        assert!(
            max_small_size >= 64,
            "masu: segment too small to hold a page of 64-byte blocks"
        );
        let max_large_slices = if usable / 2 > 1 { usable / 2 } else { 1 };
        Geometry {
            segment_size,
            segment_base_mask: !(segment_size - 1),
            slice_shift: config.slice_shift,
            slice_size,
            slice_count,
            header_slices,
            page_stride,
            max_small_size,
            class_slices,
            max_large_slices,
            coarse_above: config.coarse_above,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size_class::class_of;

    #[test]
    fn page_blocks_sets_the_large_classes_page_size() {
        // The 64 KiB class over 64 KiB slices: one slice per block asked.
        let last = CLASS_COUNT - 1;
        assert_eq!(class_size(last), 64 << 10);
        for blocks in [4, 8] {
            let g = Geometry::new(&Config::VIRTUAL_MEMORY.with_page_blocks(blocks));
            assert_eq!(g.class_slices[last] as usize, blocks);
        }
        assert_eq!(Config::VIRTUAL_MEMORY.page_blocks, 4);
    }

    #[test]
    fn every_page_holds_at_least_its_configured_blocks() {
        for config in [
            Config::FIXED_REGION,
            Config::SMALL_REGION,
            Config::VIRTUAL_MEMORY,
        ] {
            let g = Geometry::new(&config);
            let mut served = 0;
            for c in 0..CLASS_COUNT {
                let n = g.class_slices[c] as usize;
                if n == 0 {
                    assert!(class_size(c) > g.max_small_size);
                    continue;
                }
                served += 1;
                assert!(
                    n * g.slice_size / class_size(c) >= config.page_blocks,
                    "class {c}"
                );
                assert!(n <= g.slice_count - g.header_slices);
            }
            assert!(config.page_blocks >= MIN_BLOCKS_PER_PAGE);
            assert_eq!(served, class_of(g.max_small_size) + 1);
        }
    }

    #[test]
    fn coarse_classes_stop_at_the_last_class_served() {
        // Whatever the last class 8 classes a doubling would serve (odd or
        // even: it follows `page_blocks`), with coarse classes the last one
        // is odd, and every request up to it gets a class that has pages
        // and holds it, never the class after the last (which has none).
        let mut even_last = 0;
        for blocks in 4..=64 {
            let config = Config::VIRTUAL_MEMORY.with_page_blocks(blocks);
            let fine = Geometry::new(&config.with_coarse_above(usize::MAX));
            even_last += (class_of(fine.max_small_size) % 2 == 0) as usize;
            let g = Geometry::new(&config);
            let last = class_of(g.max_small_size);
            assert_eq!(last % 2, 1, "{blocks}");
            for size in (1..=g.max_small_size).step_by(97).chain([g.max_small_size]) {
                let c = g.small_class(size, 8).unwrap();
                assert!(c <= last && g.class_slices[c] != 0, "{blocks}: {size}");
                assert!(class_size(c) >= size);
                let fine = class_of(crate::size_class::request_bytes(size, 8));
                assert_eq!(c, if size > 1024 { fine | 1 } else { fine });
            }
            assert_eq!(g.small_class(g.max_small_size + 1, 8), None);
        }
        assert!(even_last > 0, "no geometry had an even last class");
    }

    #[test]
    fn presets_keep_header_overhead_small() {
        let g = Geometry::new(&Config::VIRTUAL_MEMORY);
        assert_eq!(g.header_slices, 1);
        assert_eq!(g.max_small_size, 1 << 16);
        let g = Geometry::new(&Config::FIXED_REGION);
        assert!(g.header_slices <= 2, "header {} slices", g.header_slices);
    }
}
