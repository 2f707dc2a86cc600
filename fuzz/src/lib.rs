//! Shared parts of masu-core's fuzz targets: the operations a fuzz input
//! decodes into, and a harness that applies them to a real heap while
//! keeping a model of the live blocks.
//!
//! Every operation is checked against the model: a new block overlaps no
//! live block, is aligned and at least as large as asked; zeroed memory is
//! zero; each block keeps its contents (a fill pattern) until freed,
//! including across `realloc`; the heap's counters agree with the model.
//! [`Harness::finish`] frees everything and checks the heap is empty and the
//! region whole again.
//!
//! The targets over the `masu` crate (`global_ops`, `c_abi`) share the
//! [`Model`], the fill pattern ([`fill`], [`verify`], and [`fill_range`],
//! [`verify_range`] for parts of a block) and [`shim::Baseline`], which
//! checks masu's process-wide statistics against the model.

use arbitrary::Arbitrary;
use core::alloc::Layout;
use masu_core::{Config, FixedRegion, Heap, Stats};
use std::collections::BTreeMap;

/// Most operations run per input (longer inputs are cut).
pub const MAX_OPS: usize = 1000;

/// Which geometry the heap uses.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Geometry {
    /// `Config::FIXED_REGION`: 128 KiB segments of 4 KiB slices.
    FixedRegion,
    /// `Config::SMALL_REGION`: 16 KiB segments of 1 KiB slices.
    SmallRegion,
    /// `Config::FIXED_REGION` with purge delay 0 and no segment cache.
    FixedRegionEager,
    /// `Config::FIXED_REGION` with every request in segments (no direct
    /// blocks), 4 size classes a doubling above 1 KiB
    /// (`Config::coarse_above`, as in the std shim) and, in a build with
    /// the `arenas` feature, requests of 1–32 KiB in the heap's arenas
    /// (`Config::arena_above`).
    FixedRegionArenas,
}

impl Geometry {
    /// The configuration.
    pub fn config(self) -> Config {
        match self {
            Geometry::FixedRegion => Config::FIXED_REGION,
            Geometry::SmallRegion => Config::SMALL_REGION,
            Geometry::FixedRegionEager => Config::FIXED_REGION
                .with_purge_delay(0)
                .with_segment_cache(0, 0),
            Geometry::FixedRegionArenas => Config::FIXED_REGION
                .with_direct_above(usize::MAX)
                .with_coarse_above(1024)
                .with_arena_above(1024),
        }
    }
}

/// A request size, by band.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Size {
    /// 0..=255 bytes.
    Tiny(u8),
    /// 0..=4096 bytes.
    Small(u16),
    /// 0..=65535 bytes.
    Medium(u16),
    /// Up to 1 MiB.
    Large(u32),
}

impl Size {
    /// The size in bytes.
    pub fn bytes(self) -> usize {
        match self {
            Size::Tiny(n) => n as usize,
            Size::Small(n) => n as usize % 4097,
            Size::Medium(n) => n as usize,
            Size::Large(n) => n as usize % ((1 << 20) + 1),
        }
    }
}

/// One operation of a fuzz input. Block indices pick a live block modulo the
/// number of live blocks (in address order).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Op {
    /// `alloc`, or `alloc_zeroed` when `zeroed`, aligned to
    /// `2^(align_shift % 21)`.
    Alloc {
        /// The request's size.
        size: Size,
        /// log2 of its alignment, modulo 21.
        align_shift: u8,
        /// `alloc_zeroed` rather than `alloc`.
        zeroed: bool,
    },
    /// `realloc` of a live block to a new size (grow or shrink).
    Realloc {
        /// Which live block (modulo their number).
        block: u16,
        /// The new size.
        size: Size,
    },
    /// `realloc` of a live block to a size at or below its current one.
    Shrink {
        /// Which live block (modulo their number).
        block: u16,
        /// The new size in thousandths of the old one (modulo 1001).
        keep_per_mille: u16,
    },
    /// `dealloc` by the owning heap.
    Free {
        /// Which live block (modulo their number).
        block: u16,
    },
    /// `dealloc` through a second heap over the same region: a remote
    /// (cross-thread) free, collected later by the owner.
    RemoteFree {
        /// Which live block (modulo their number).
        block: u16,
    },
    /// `collect`.
    Collect {
        /// `collect(true)`.
        force: bool,
    },
}

/// A live block in the model.
#[derive(Clone, Copy, Debug)]
pub struct Live {
    /// The layout it was allocated (or last reallocated) with.
    pub layout: Layout,
    /// `block_size` when handed out: the bytes it takes (with `checks`, its
    /// request, slack and redzone), as the statistics count it.
    pub usable: usize,
    /// Fill pattern seed.
    pub id: u64,
}

/// The byte at offset `off` of a block filled with seed `id`.
#[inline]
pub fn pattern(id: u64, off: usize) -> u8 {
    (id as u8)
        .wrapping_mul(31)
        .wrapping_add(off as u8)
        .wrapping_add((off >> 8) as u8)
}

/// `RAMP[i] == i as u8`: row `r` of seed `id`'s pattern (its bytes at
/// offsets `256 * r .. 256 * r + 256`) is `RAMP[s..s + 256]` with
/// `s = pattern(id, 256 * r)`, so whole rows are copied and compared with
/// `memcpy` and `memcmp` (which AddressSanitizer checks once per call, not
/// once per byte).
static RAMP: [u8; 512] = {
    let mut r = [0u8; 512];
    let mut i = 0;
    while i < 512 {
        r[i] = i as u8;
        i += 1;
    }
    r
};

/// `id`'s pattern for the offsets `off..` up to the end of `off`'s row.
#[inline]
fn pattern_row(id: u64, off: usize) -> &'static [u8] {
    let s = pattern(id, off & !255) as usize;
    &RAMP[s + (off & 255)..s + 256]
}

/// Fills `len` bytes at `p` with `id`'s pattern.
///
/// # Safety
/// `p` is valid for `len` bytes of writes.
pub unsafe fn fill(p: *mut u8, len: usize, id: u64) {
    // SAFETY: forwarded from the caller.
    unsafe { fill_range(p, 0..len, id) }
}

/// Fills the bytes at offsets `range` of the block at `p` with `id`'s
/// pattern (the same bytes [`fill`] would write there).
///
/// # Safety
/// `p + range.start .. p + range.end` is valid for writes.
pub unsafe fn fill_range(p: *mut u8, range: core::ops::Range<usize>, id: u64) {
    let mut off = range.start;
    while off < range.end {
        let row = pattern_row(id, off);
        let n = row.len().min(range.end - off);
        // SAFETY: `off + n <= range.end`; the source is a static.
        unsafe { core::ptr::copy_nonoverlapping(row.as_ptr(), p.add(off), n) };
        off += n;
    }
}

/// Checks `len` bytes at `p` hold `id`'s pattern.
///
/// # Safety
/// `p` is valid for `len` bytes of reads.
pub unsafe fn verify(p: *const u8, len: usize, id: u64, what: &str) {
    // SAFETY: forwarded from the caller.
    unsafe { verify_range(p, 0..len, id, what) }
}

/// Checks the bytes at offsets `range` of the block at `p` hold `id`'s
/// pattern; panics with the first wrong byte.
///
/// # Safety
/// `p + range.start .. p + range.end` is valid for reads.
pub unsafe fn verify_range(p: *const u8, range: core::ops::Range<usize>, id: u64, what: &str) {
    let mut off = range.start;
    while off < range.end {
        let row = pattern_row(id, off);
        let n = row.len().min(range.end - off);
        // SAFETY: `off + n <= range.end`.
        let s = unsafe { core::slice::from_raw_parts(p.add(off), n) };
        if s != &row[..n] {
            let i = s.iter().zip(row).position(|(a, b)| a != b).unwrap();
            panic!(
                "{what}: block {p:?} (seed {id}) corrupted at offset {}: {:#x} != {:#x}",
                off + i,
                s[i],
                row[i]
            );
        }
        off += n;
    }
}

/// The offset of the first non-zero byte of `s`, if any (compared a chunk
/// at a time with `memcmp`).
pub fn first_nonzero(s: &[u8]) -> Option<usize> {
    static ZEROS: [u8; 4096] = [0; 4096];
    let mut base = 0;
    for chunk in s.chunks(ZEROS.len()) {
        if chunk != &ZEROS[..chunk.len()] {
            return chunk.iter().position(|&b| b != 0).map(|i| base + i);
        }
        base += chunk.len();
    }
    None
}

/// A model of the live blocks of one heap and of what its counters must say.
#[derive(Default)]
pub struct Model {
    /// start address → block.
    pub blocks: BTreeMap<usize, Live>,
    /// Blocks handed out (`alloc`, `alloc_zeroed`, moving `realloc`).
    pub allocs: u64,
    /// Blocks freed by the owner (`dealloc`, moving `realloc`).
    pub frees: u64,
    /// Blocks freed remotely, not yet known collected.
    pub pending: u64,
    /// Their bytes.
    pub pending_bytes: usize,
    /// All remote frees of blocks in segments so far.
    pub remote_frees: u64,
    /// Direct blocks (of the region, see masu-core's `Os::DIRECT_BLOCKS`)
    /// freed through the other heap: freed at once and counted there.
    pub direct_remote_frees: u64,
    /// Their usable bytes.
    pub direct_remote_bytes: usize,
    next_id: u64,
}

impl Model {
    /// Bytes in live blocks.
    pub fn live_bytes(&self) -> usize {
        self.blocks.values().map(|b| b.usable).sum()
    }

    /// The address of the live block `pick` selects.
    pub fn pick(&self, pick: u16) -> Option<usize> {
        if self.blocks.is_empty() {
            return None;
        }
        let n = pick as usize % self.blocks.len();
        self.blocks.keys().nth(n).copied()
    }

    /// Records a block handed out, checking alignment, size and overlap.
    pub fn insert(&mut self, p: *mut u8, layout: Layout, usable: usize) -> u64 {
        let a = p as usize;
        assert!(
            usable >= layout.size(),
            "usable {usable} < requested {}",
            layout.size()
        );
        assert_eq!(a % layout.align(), 0, "{p:?} not aligned to {layout:?}");
        if let Some((&s, b)) = self.blocks.range(..=a).next_back() {
            assert!(
                s + b.usable <= a,
                "{a:#x}+{usable} overlaps live block {s:#x}+{}",
                b.usable
            );
        }
        if let Some((&s, b)) = self.blocks.range(a..).next() {
            assert!(
                a + usable <= s,
                "{a:#x}+{usable} overlaps live block {s:#x}+{}",
                b.usable
            );
        }
        self.next_id += 1;
        let id = self.next_id;
        self.blocks.insert(a, Live { layout, usable, id });
        id
    }
}

/// An `alloc`/`dealloc` harness: an owner heap, a second heap that only
/// frees (remote frees), both over one region, and the model.
pub struct Harness<'r> {
    /// The heap that allocates.
    pub owner: Heap<&'r FixedRegion>,
    /// The heap that only frees (remote frees).
    pub other: Heap<&'r FixedRegion>,
    /// The live blocks and what the counters must say.
    pub model: Model,
    /// The region both heaps take memory from.
    pub region: &'r FixedRegion,
    /// Its free bytes when the harness was made.
    pub region_free_at_start: usize,
    /// Allocations that returned null (out of memory).
    pub nulls: u64,
    /// Operations applied so far.
    pub ops: u64,
}

/// Operations between two runs of the heaps' invariant checker
/// (`Heap::check_invariants`, whose work grows with the heap).
const OPS_PER_VALIDATION: u64 = 16;

impl<'r> Harness<'r> {
    /// Heaps with `config` over `region`, which must be whole (nothing
    /// handed out).
    pub fn new(region: &'r FixedRegion, config: Config) -> Harness<'r> {
        Harness {
            owner: Heap::new(region, config),
            other: Heap::new(region, config),
            model: Model::default(),
            region,
            region_free_at_start: region.free_bytes(),
            nulls: 0,
            ops: 0,
        }
    }

    /// Applies `op` and checks the heap against the model.
    pub fn apply(&mut self, op: Op) {
        match op {
            Op::Alloc {
                size,
                align_shift,
                zeroed,
            } => {
                let layout = Layout::from_size_align(size.bytes(), 1 << (align_shift % 21))
                    .expect("valid layout");
                self.alloc(layout, zeroed);
            }
            Op::Realloc { block, size } => {
                if let Some(a) = self.model.pick(block) {
                    self.realloc(a, size.bytes());
                }
            }
            Op::Shrink {
                block,
                keep_per_mille,
            } => {
                if let Some(a) = self.model.pick(block) {
                    let old = self.model.blocks[&a].layout.size();
                    let new = old * (keep_per_mille as usize % 1001) / 1000;
                    self.realloc(a, new);
                }
            }
            Op::Free { block } => {
                if let Some(a) = self.model.pick(block) {
                    self.free(a);
                }
            }
            Op::RemoteFree { block } => {
                if let Some(a) = self.model.pick(block) {
                    self.remote_free(a);
                }
            }
            Op::Collect { force } => self.collect(force),
        }
        self.check_stats();
        self.ops += 1;
        if self.ops.is_multiple_of(OPS_PER_VALIDATION) {
            self.assert_valid();
        }
    }

    /// Both heaps' invariants (see `Heap::check_invariants`).
    pub fn assert_valid(&self) {
        self.owner.assert_valid();
        self.other.assert_valid();
    }

    /// Allocates, checks and fills a block; returns it (null on OOM).
    pub fn alloc(&mut self, layout: Layout, zeroed: bool) -> *mut u8 {
        let p = if zeroed {
            self.owner.alloc_zeroed(layout)
        } else {
            self.owner.alloc(layout)
        };
        if p.is_null() {
            self.nulls += 1;
            return p;
        }
        // SAFETY: `p` is a live block of the owner.
        let usable = unsafe { self.owner.block_size(p) };
        if zeroed {
            // SAFETY: the block has `layout.size()` bytes.
            let s = unsafe { core::slice::from_raw_parts(p, layout.size()) };
            if let Some(off) = first_nonzero(s) {
                panic!(
                    "alloc_zeroed({layout:?}) = {p:?}: byte {off} is {:#x}",
                    s[off]
                );
            }
        }
        let id = self.model.insert(p, layout, usable);
        self.model.allocs += 1;
        // SAFETY: the block has `layout.size()` bytes.
        unsafe { fill(p, layout.size(), id) };
        p
    }

    /// Reallocates the live block at `a` to `new_size`.
    pub fn realloc(&mut self, a: usize, new_size: usize) {
        let old = self.model.blocks.remove(&a).expect("live block");
        // SAFETY: `a` is live with `old.layout`; sizes are small.
        let p = unsafe { self.owner.realloc(a as *mut u8, old.layout, new_size) };
        if p.is_null() {
            self.nulls += 1;
            // SAFETY: on failure the old block is untouched and live.
            unsafe { verify(a as *const u8, old.layout.size(), old.id, "failed realloc") };
            self.model.blocks.insert(a, old);
            return;
        }
        let kept = old.layout.size().min(new_size);
        // SAFETY: the new block holds at least `kept` bytes.
        unsafe { verify(p, kept, old.id, "realloc") };
        let layout = Layout::from_size_align(new_size, old.layout.align()).expect("valid layout");
        // SAFETY: `p` is live.
        let usable = unsafe { self.owner.block_size(p) };
        if p as usize != a {
            self.model.allocs += 1;
            self.model.frees += 1;
        }
        let id = self.model.insert(p, layout, usable);
        // SAFETY: the block has `new_size` bytes.
        unsafe { fill(p, new_size, id) };
    }

    /// Frees the live block at `a` through the owner.
    pub fn free(&mut self, a: usize) {
        let b = self.model.blocks.remove(&a).expect("live block");
        // SAFETY: `a` is live with `b.layout`.
        unsafe {
            verify(a as *const u8, b.layout.size(), b.id, "free");
            self.owner.dealloc(a as *mut u8, b.layout);
        }
        self.model.frees += 1;
    }

    /// Frees the live block at `a` through the other heap (a remote free).
    pub fn remote_free(&mut self, a: usize) {
        let b = self.model.blocks.remove(&a).expect("live block");
        // SAFETY: `a` is live with `b.layout`; the other heap is over the
        // same region.
        unsafe {
            verify(a as *const u8, b.layout.size(), b.id, "remote free");
            let direct_before = self.other.stats().direct_blocks;
            self.other.dealloc(a as *mut u8, b.layout);
            if self.other.stats().direct_blocks < direct_before {
                // A direct block: back in the region at once.
                self.model.direct_remote_frees += 1;
                self.model.direct_remote_bytes += b.usable;
                return;
            }
        }
        self.model.pending += 1;
        self.model.pending_bytes += b.usable;
        self.model.remote_frees += 1;
    }

    /// `collect(force)`, after the other heap has published the remote frees
    /// it batched (as its thread would at its next slow path or exit); every
    /// pending remote free is collected by it.
    pub fn collect(&mut self, force: bool) {
        self.other.flush_remote_frees();
        self.owner.collect(force);
        self.model.pending = 0;
        self.model.pending_bytes = 0;
        assert_eq!(
            self.owner.stats().remote_frees_collected,
            self.model.remote_frees,
            "collect left remote frees uncollected"
        );
    }

    /// Checks the owner's counters against the model.
    pub fn check_stats(&self) {
        let s: Stats = self.owner.stats();
        let m = &self.model;
        assert!(s.committed_bytes <= s.reserved_bytes, "{s:?}");
        assert!(s.peak_live_bytes >= s.live_bytes, "{s:?}");
        // The owner still counts the direct blocks the other heap freed.
        let live = m.live_bytes() + m.direct_remote_bytes;
        let collected = s.remote_frees_collected;
        assert!(collected <= m.remote_frees, "{s:?}");
        let uncollected = m.remote_frees - collected;
        assert!(uncollected <= m.pending, "{s:?}");
        assert_eq!(s.alloc_count, m.allocs, "alloc count: {s:?}");
        assert_eq!(
            s.free_count,
            m.frees + collected,
            "free count (owner frees + collected remote frees): {s:?}"
        );
        if uncollected == 0 {
            assert_eq!(s.live_bytes, live, "live bytes: {s:?}");
        } else {
            assert!(
                s.live_bytes > live && s.live_bytes <= live + m.pending_bytes,
                "live bytes {} outside [{live}, {live} + {}] with {uncollected} remote frees pending: {s:?}",
                s.live_bytes,
                m.pending_bytes
            );
        }
        // Remote frees of blocks in segments are counted by the owner; the
        // direct blocks the other heap freed, by the other heap.
        let o = self.other.stats();
        let minus = 0usize.wrapping_sub(m.direct_remote_bytes);
        assert_eq!(
            (o.alloc_count, o.free_count, o.live_bytes, o.reserved_bytes),
            (
                0,
                m.direct_remote_frees,
                minus,
                minus.wrapping_add(o.direct_cached_bytes)
            ),
            "remote frees are counted by the owner: {o:?}"
        );
    }

    /// Frees every live block, collects with force, and checks the heap is
    /// empty and the region whole again.
    pub fn finish(mut self) {
        let live: Vec<usize> = self.model.blocks.keys().copied().collect();
        for a in live {
            self.free(a);
        }
        self.assert_valid();
        self.collect(true);
        self.check_stats();
        self.assert_valid();
        let s = self.owner.stats();
        // The two heaps together (direct blocks freed by the other heap
        // are counted there).
        let mut both = s;
        both.merge(&self.other.stats());
        assert_eq!(both.live_bytes, 0, "{s:?}");
        assert_eq!(both.reserved_bytes, 0, "memory still reserved: {s:?}");
        assert_eq!(both.committed_bytes, 0, "{s:?}");
        assert_eq!(s.segments + s.cached_segments, 0, "{s:?}");
        assert_eq!(s.large_spans + s.huge_allocs, 0, "{s:?}");
        assert!(s.pages_per_class.iter().all(|&n| n == 0), "{s:?}");
        assert_eq!(
            self.region.free_bytes(),
            self.region_free_at_start,
            "region not whole again"
        );
    }
}

/// Checks shared by the targets that drive the `masu` crate (the std shim:
/// thread-local heaps over `mmap`) rather than a `Heap` of their own:
/// `global_ops` and `c_abi`.
///
/// masu is not this binary's global allocator (libFuzzer and
/// AddressSanitizer own the process allocator), so the targets' calls are
/// the only use of masu in the process, and its process-wide statistics
/// change only through them. [`masu::stats`] documents which of its figures
/// are exact across heaps: `live_bytes`, `alloc_count` and `free_count`
/// (summed over every heap's counters; a block freed by another thread counts
/// as freed once its owner collects it), and the `Os` layer's
/// `reserved_bytes` and `committed_bytes`; the per-heap detail
/// (`remote_frees_collected`, segments, pages, spans) covers the calling
/// thread's heap and idle heaps, which here is every heap that owns memory:
/// the targets allocate from one thread only.
pub mod shim {
    use super::Model;
    use masu::masu_core::Stats;

    /// masu's statistics at the start of a run: each run checks what it
    /// changed.
    pub struct Baseline {
        start: Stats,
    }

    impl Baseline {
        /// Takes the snapshot. Call it on the thread that will allocate.
        pub fn take() -> Baseline {
            Baseline {
                start: masu::stats(),
            }
        }

        /// Remote frees collected by the calling thread's heap (and idle
        /// heaps) since the baseline.
        pub fn remote_frees_collected(&self) -> u64 {
            masu::stats().remote_frees_collected - self.start.remote_frees_collected
        }

        /// Checks masu's counters against the model: blocks handed out and
        /// freed since the baseline, exactly; live bytes (the sum of the
        /// live blocks' usable sizes) exactly once every remote free is
        /// collected, and between the model's live bytes and those plus the
        /// pending remote frees' bytes before.
        pub fn check(&self, m: &Model) {
            let s = masu::stats();
            let b = &self.start;
            let allocs = s.alloc_count - b.alloc_count;
            let frees = s.free_count - b.free_count;
            let collected = s.remote_frees_collected - b.remote_frees_collected;
            let live_now = s.live_bytes.wrapping_sub(b.live_bytes);
            let live = m.live_bytes();
            assert!(s.peak_live_bytes >= s.live_bytes, "{s:?}");
            assert_eq!(allocs, m.allocs, "alloc count since the run began: {s:?}");
            assert!(
                collected <= m.remote_frees,
                "{collected} remote frees collected, {} made: {s:?}",
                m.remote_frees
            );
            let uncollected = m.remote_frees - collected;
            assert!(
                uncollected <= m.pending,
                "{uncollected} remote frees uncollected, {} since the last collect: {s:?}",
                m.pending
            );
            assert_eq!(
                frees,
                m.frees + collected,
                "free count since the run began (own frees + collected remote frees): {s:?}"
            );
            if uncollected == 0 {
                assert_eq!(live_now, live, "live bytes since the run began: {s:?}");
            } else {
                assert!(
                    live_now > live && live_now <= live + m.pending_bytes,
                    "live bytes {live_now} outside ({live}, {live} + {}] with {uncollected} remote frees pending: {s:?}",
                    m.pending_bytes
                );
            }
        }

        /// After every block is freed and `masu::collect(true)` ran on the
        /// allocating thread: no live bytes beyond the baseline's, and (masu
        /// being used by nothing else in the process, and the other threads'
        /// heaps owning nothing) no memory reserved or committed at all, no
        /// segment, page or span left.
        pub fn check_empty(&self, m: &Model) {
            assert!(m.blocks.is_empty());
            self.check(m);
            let s = masu::stats();
            assert_eq!(s.live_bytes, self.start.live_bytes, "{s:?}");
            let o = masu::os_stats();
            assert_eq!(
                (o.reserved_bytes, o.committed_bytes, o.reservations),
                (0, 0, 0),
                "memory still reserved or committed after collect(true): {o:?}"
            );
            assert_eq!(s.segments + s.cached_segments, 0, "{s:?}");
            assert_eq!(s.large_spans + s.huge_allocs, 0, "{s:?}");
            assert!(s.pages_per_class.iter().all(|&n| n == 0), "{s:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_writes_the_pattern_and_verify_reads_it() {
        let mut buf = vec![0u8; 3000];
        for id in [0u64, 1, 7, 255, 256, 1 << 40] {
            // SAFETY: `buf` has 3000 bytes.
            unsafe { fill(buf.as_mut_ptr(), buf.len(), id) };
            for (off, &b) in buf.iter().enumerate() {
                assert_eq!(b, pattern(id, off), "seed {id} offset {off}");
            }
            // SAFETY: as above; ranges within it.
            unsafe {
                verify(buf.as_ptr(), buf.len(), id, "test");
                fill_range(buf.as_mut_ptr(), 100..2900, id + 1);
                verify_range(buf.as_ptr(), 100..2900, id + 1, "test");
                verify_range(buf.as_ptr(), 0..100, id, "test");
                verify_range(buf.as_ptr(), 2900..3000, id, "test");
            }
        }
        assert_eq!(first_nonzero(&[0; 10000]), None);
        let mut z = vec![0u8; 10000];
        z[9000] = 1;
        assert_eq!(first_nonzero(&z), Some(9000));
    }

    #[test]
    #[should_panic(expected = "corrupted at offset 1234")]
    fn verify_reports_the_first_wrong_byte() {
        let mut buf = vec![0u8; 3000];
        // SAFETY: `buf` has 3000 bytes.
        unsafe { fill(buf.as_mut_ptr(), buf.len(), 5) };
        buf[1234] ^= 1;
        buf[2000] ^= 1;
        // SAFETY: as above.
        unsafe { verify(buf.as_ptr(), buf.len(), 5, "test") };
    }
}
