//! masu-core in small RAM, measured on the host: the smallest region each
//! fixed-region preset accepts, the metadata overhead at 64 KiB, 1 MiB and
//! 16 MiB, and how well a 64 KiB region filled to out-of-memory and then half
//! freed can be reused, next to `linked_list_allocator` and `talc` over the
//! same 64 KiB. The figures in `docs/embedded.md` come from
//!
//! ```text
//! cargo test --release -p masu-bench --test embedded -- --nocapture --test-threads=1
//! ```
//!
//! (debug builds print the same figures; every run is deterministic). All
//! figures are for this host's 64-bit layout; the Cortex-M firmware in
//! `core/bare-metal/cortex-m` prints the 32-bit ones.

use core::alloc::Layout;
use core::ptr::{self, NonNull};
use masu_bench::Rng;
use masu_core::{Config, FixedRegion, Heap, LockedHeap};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// The small-RAM region of the fragmentation test.
const SMALL_RAM: usize = 64 * KIB;
/// A 64 KiB region as one segment of 64 slices.
const ONE_SEGMENT: Config = Config::SMALL_REGION.with_segment(16, 10);
/// Alignment of every request in this file.
const ALIGN: usize = 8;

// ---------------------------------------------------------------------------
// Memory and a PRNG

/// A zeroed buffer with a chosen alignment, freed on drop. It stands for a
/// static RAM region that the linker aligned.
struct Buffer {
    ptr: *mut u8,
    layout: Layout,
}

impl Buffer {
    fn new(len: usize, align: usize) -> Buffer {
        let layout = Layout::from_size_align(len, align).unwrap();
        // SAFETY: `len` is non-zero in every use here.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "host out of memory");
        Buffer { ptr, layout }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `Buffer::new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

/// A masu heap over `[buf + offset, buf + offset + len)`.
///
/// The heap must be dropped before `buf` (declare it after the buffer).
fn masu_over(buf: &Buffer, offset: usize, len: usize, config: Config) -> Heap<FixedRegion> {
    assert!(offset + len <= buf.layout.size());
    let heap = Heap::new(FixedRegion::empty(), config);
    // SAFETY: the range lies inside `buf`, which nothing else uses and which
    // outlives the heap (the caller drops the heap first); `init` runs once.
    unsafe { heap.os().init(buf.ptr.add(offset), len) };
    heap
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, ALIGN).unwrap()
}

// ---------------------------------------------------------------------------
// The allocators under test, over one region each

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// masu-core, `Config::SMALL_REGION`.
    Masu,
    /// masu-core, with `collect(true)` before the largest-block probe.
    MasuCollected,
    /// masu-core with one 64 KiB segment of 1 KiB slices:
    /// `SMALL_REGION.with_segment(16, 10)`.
    MasuOneSegment,
    /// `linked_list_allocator::Heap`, first fit.
    Lla,
    /// `talc::Talc` with `ErrOnOom`.
    Talc,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Masu => "masu-core (SMALL_REGION)",
            Kind::MasuCollected => "masu-core, after collect(true)",
            Kind::MasuOneSegment => "masu-core, one 64 KiB segment",
            Kind::Lla => "linked_list_allocator 0.10",
            Kind::Talc => "talc 4.4",
        }
    }
}

enum Allocator {
    Masu(Box<Heap<FixedRegion>>),
    Lla(linked_list_allocator::Heap),
    Talc(talc::Talc<talc::ErrOnOom>),
}

/// An allocator over its own region. Fields drop in order: the allocator
/// before the buffer it manages.
struct Arena {
    alloc: Allocator,
    _buf: Buffer,
}

impl Arena {
    /// `kind` over a `len`-byte region aligned to 64 KiB (a multiple of
    /// masu's segment sizes here; the same for every allocator).
    fn new(kind: Kind, len: usize) -> Arena {
        let buf = Buffer::new(len, 64 * KIB);
        let alloc = match kind {
            Kind::Masu | Kind::MasuCollected => {
                Allocator::Masu(Box::new(masu_over(&buf, 0, len, Config::SMALL_REGION)))
            }
            Kind::MasuOneSegment => Allocator::Masu(Box::new(masu_over(&buf, 0, len, ONE_SEGMENT))),
            Kind::Lla => {
                let mut h = linked_list_allocator::Heap::empty();
                // SAFETY: the buffer is valid, unused elsewhere and outlives
                // the heap (field order).
                unsafe { h.init(buf.ptr, len) };
                Allocator::Lla(h)
            }
            Kind::Talc => {
                let mut t = talc::Talc::new(talc::ErrOnOom);
                // SAFETY: as above.
                unsafe {
                    t.claim(talc::Span::from_base_size(buf.ptr, len))
                        .expect("talc claims the region");
                }
                Allocator::Talc(t)
            }
        };
        Arena { alloc, _buf: buf }
    }

    /// A block of `size` bytes (8-aligned), or null.
    fn alloc(&mut self, size: usize) -> *mut u8 {
        let l = layout(size);
        match &mut self.alloc {
            Allocator::Masu(h) => h.alloc(l),
            Allocator::Lla(h) => h
                .allocate_first_fit(l)
                .map_or(ptr::null_mut(), |p| p.as_ptr()),
            // SAFETY: `l` has a non-zero size.
            Allocator::Talc(t) => unsafe { t.malloc(l) }.map_or(ptr::null_mut(), |p| p.as_ptr()),
        }
    }

    /// Frees a block of `size` bytes.
    ///
    /// # Safety
    /// `p` came from `self.alloc(size)` and is not used afterwards.
    unsafe fn free(&mut self, p: *mut u8, size: usize) {
        let l = layout(size);
        let nn = NonNull::new(p).expect("non-null block");
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            match &mut self.alloc {
                Allocator::Masu(h) => h.dealloc(p, l),
                Allocator::Lla(h) => h.deallocate(nn, l),
                Allocator::Talc(t) => t.free(nn, l),
            }
        }
    }

    fn masu(&mut self) -> Option<&mut Heap<FixedRegion>> {
        match &mut self.alloc {
            Allocator::Masu(h) => Some(h),
            _ => None,
        }
    }
}

/// A live block and the byte it is filled with.
#[derive(Clone, Copy)]
struct Block {
    p: *mut u8,
    size: usize,
    tag: u8,
}

impl Block {
    fn fill(&self) {
        // SAFETY: the block is live and `size` bytes long.
        unsafe { ptr::write_bytes(self.p, self.tag, self.size) }
    }

    fn check(&self) {
        // SAFETY: as above.
        let bytes = unsafe { core::slice::from_raw_parts(self.p, self.size) };
        assert!(
            bytes.iter().all(|&b| b == self.tag),
            "block {:p} ({} bytes) was overwritten",
            self.p,
            self.size
        );
    }
}

// ---------------------------------------------------------------------------
// Workloads of the fragmentation test

#[derive(Clone, Copy, Debug)]
enum Workload {
    /// Uniform 1..=256 bytes: every size is a masu size class.
    Small,
    /// 60 % 1..=64, 30 % 65..=512, 10 % 513..=2048 bytes.
    Mixed,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Small => "small (1-256 B)",
            Workload::Mixed => "mixed (1-2048 B)",
        }
    }

    fn draw(self, rng: &mut Rng) -> usize {
        match self {
            Workload::Small => rng.usize(1..=256),
            Workload::Mixed => match rng.usize(0..=99) {
                0..=59 => rng.usize(1..=64),
                60..=89 => rng.usize(65..=512),
                _ => rng.usize(513..=2048),
            },
        }
    }
}

const SEED: u64 = 0x6d61_7375_656d_6264;

/// A region filled to the first failed allocation, then half freed.
struct HalfFreed {
    arena: Arena,
    /// Blocks still live.
    live: Vec<Block>,
    /// Sizes of the freed blocks, in the order they were freed.
    freed: Vec<usize>,
    fill_blocks: usize,
    fill_bytes: usize,
    freed_bytes: usize,
    rng: Rng,
}

/// Fills a 64 KiB region with `workload` sizes until an allocation fails,
/// then frees a random half of the blocks (fixed seed: every call with the
/// same arguments builds the same state).
fn half_freed(kind: Kind, workload: Workload, seed: u64) -> HalfFreed {
    let mut arena = Arena::new(kind, SMALL_RAM);
    let mut rng = Rng::with_seed(seed);
    let mut blocks = Vec::new();
    for i in 0.. {
        assert!(i < 100_000, "{kind:?} never ran out of memory");
        let size = workload.draw(&mut rng);
        let p = arena.alloc(size);
        if p.is_null() {
            break;
        }
        let b = Block {
            p,
            size,
            tag: (i * 31 + 7) as u8,
        };
        b.fill();
        blocks.push(b);
    }
    let fill_blocks = blocks.len();
    let fill_bytes = blocks.iter().map(|b| b.size).sum();
    rng.shuffle(&mut blocks);
    let half = blocks.len() / 2;
    let mut freed = Vec::with_capacity(half);
    for b in blocks.drain(..half) {
        b.check();
        freed.push(b.size);
        // SAFETY: `b` is a live block of this arena, dropped from the list.
        unsafe { arena.free(b.p, b.size) };
    }
    let freed_bytes = freed.iter().sum();
    HalfFreed {
        arena,
        live: blocks,
        freed,
        fill_blocks,
        fill_bytes,
        freed_bytes,
        rng,
    }
}

/// True when a block of `size` bytes fits in a fresh half-freed state.
fn largest_probe(kind: Kind, workload: Workload, size: usize) -> bool {
    let mut s = half_freed(kind, workload, SEED);
    if kind == Kind::MasuCollected {
        s.arena.masu().unwrap().collect(true);
    }
    let p = s.arena.alloc(size);
    if p.is_null() {
        return false;
    }
    let b = Block { p, size, tag: 0xa5 };
    b.fill();
    for l in &s.live {
        l.check();
    }
    b.check();
    true
}

/// The largest block (a multiple of 8 bytes) that fits after the half free,
/// by binary search; every probe starts from a freshly built state, so that
/// failed probes (which advance masu's epoch) do not change the answer.
fn largest_block(kind: Kind, workload: Workload) -> usize {
    let (mut lo, mut hi) = (0usize, SMALL_RAM / ALIGN + 1); // in 8-byte units
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if largest_probe(kind, workload, mid * ALIGN) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo * ALIGN
}

struct Reuse {
    fill_blocks: usize,
    fill_bytes: usize,
    freed_bytes: usize,
    /// Bytes of the freed sizes that fit again.
    same_sizes: usize,
    largest: usize,
}

fn measure_reuse(kind: Kind, workload: Workload, seed: u64) -> Reuse {
    let mut s = half_freed(kind, workload, seed);
    if kind == Kind::MasuCollected {
        s.arena.masu().unwrap().collect(true);
    }
    // (a) the freed sizes again, in a new random order; failures do not stop
    // the run.
    let mut sizes = s.freed.clone();
    s.rng.shuffle(&mut sizes);
    let mut again = Vec::new();
    for (i, size) in sizes.into_iter().enumerate() {
        let p = s.arena.alloc(size);
        if !p.is_null() {
            let b = Block {
                p,
                size,
                tag: (i * 17 + 3) as u8 | 0x80,
            };
            b.fill();
            again.push(b);
        }
    }
    for b in s.live.iter().chain(again.iter()) {
        b.check();
    }
    let same_sizes = again.iter().map(|b| b.size).sum();
    // Everything goes back; masu must then be empty and give the whole region
    // back to it.
    for b in s.live.drain(..).chain(again.drain(..)) {
        // SAFETY: every block is live in this arena and freed once.
        unsafe { s.arena.free(b.p, b.size) };
    }
    if let Some(h) = s.arena.masu() {
        assert_eq!(h.stats().live_bytes, 0);
        h.collect(true);
        assert_eq!(h.stats().reserved_bytes, 0);
        assert_eq!(h.os().free_bytes(), h.os().size());
    }
    Reuse {
        fill_blocks: s.fill_blocks,
        fill_bytes: s.fill_bytes,
        freed_bytes: s.freed_bytes,
        same_sizes,
        largest: largest_block(kind, workload),
    }
}

/// Fills a 64 KiB region until 64 allocations in a row fail; returns the
/// blocks held, their requested bytes and the failed attempts.
fn saturate(kind: Kind, workload: Workload) -> (usize, usize, usize) {
    let mut arena = Arena::new(kind, SMALL_RAM);
    let mut rng = Rng::with_seed(SEED);
    let (mut blocks, mut bytes, mut failed, mut in_a_row) = (Vec::new(), 0, 0, 0);
    while in_a_row < 64 {
        let size = workload.draw(&mut rng);
        let p = arena.alloc(size);
        if p.is_null() {
            failed += 1;
            in_a_row += 1;
            continue;
        }
        in_a_row = 0;
        let b = Block {
            p,
            size,
            tag: blocks.len() as u8,
        };
        b.fill();
        blocks.push(b);
        bytes += size;
    }
    for b in &blocks {
        b.check();
    }
    (blocks.len(), bytes, failed)
}

fn pct(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole as f64
}

#[test]
fn fill_free_half_reuse_64k() {
    println!();
    println!("## 64 KiB region: fill to first OOM, free a random half, reuse (seed {SEED:#x})");
    println!();
    println!(
        "| workload | allocator | blocks at OOM | fill (requested bytes) | freed | (a) same sizes fit again | (b) largest block after |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut masu = Vec::new();
    for workload in [Workload::Small, Workload::Mixed] {
        for kind in [
            Kind::Masu,
            Kind::MasuCollected,
            Kind::MasuOneSegment,
            Kind::Lla,
            Kind::Talc,
        ] {
            let r = measure_reuse(kind, workload, SEED);
            println!(
                "| {} | {} | {} | {} B ({:.1} %) | {} B | {} B ({:.1} %) | {} B ({:.1} % of freed) |",
                workload.name(),
                kind.name(),
                r.fill_blocks,
                r.fill_bytes,
                pct(r.fill_bytes, SMALL_RAM),
                r.freed_bytes,
                r.same_sizes,
                pct(r.same_sizes, r.freed_bytes),
                r.largest,
                pct(r.largest, r.freed_bytes),
            );
            assert!(r.fill_blocks > 10, "{kind:?} {workload:?}");
            assert!(r.same_sizes <= r.freed_bytes || kind != Kind::Masu);
            if kind == Kind::Masu {
                masu.push((workload, r));
            }
        }
    }
    println!();
    // The first failure ends the fill above. A size-class allocator can
    // still serve classes whose pages have room after that, so also fill
    // on until 64 allocations in a row fail.
    println!("## 64 KiB region: fill until 64 allocations in a row fail");
    println!();
    println!("| workload | allocator | blocks | requested bytes | attempts that failed |");
    println!("|---|---|---|---|---|");
    for workload in [Workload::Small, Workload::Mixed] {
        for kind in [Kind::Masu, Kind::MasuOneSegment, Kind::Lla, Kind::Talc] {
            let (blocks, bytes, failed) = saturate(kind, workload);
            println!(
                "| {} | {} | {blocks} | {bytes} B ({:.1} %) | {failed} |",
                workload.name(),
                kind.name(),
                pct(bytes, SMALL_RAM)
            );
            if kind == Kind::Masu {
                // Measured (64-bit host): small 90.7 %, mixed 93.6 %.
                let floor = match workload {
                    Workload::Small => 85.0,
                    Workload::Mixed => 88.0,
                };
                assert!(pct(bytes, SMALL_RAM) > floor, "{workload:?}");
            }
        }
    }
    println!();
    // masu's own figures, minus a margin: a regression in reuse or in
    // packing fails here. One random state says little (whether a page
    // empties when half the blocks go is luck), so these are medians over
    // nine seeds.
    println!("masu-core (SMALL_REGION), medians over seeds 1 to 9:");
    for workload in [Workload::Small, Workload::Mixed] {
        let (fill, reuse, largest) = masu_reuse_medians(workload);
        println!(
            "  {}: fill {fill:.1} %, same-size reuse {reuse:.1} %, largest block after {largest} B",
            workload.name()
        );
        match workload {
            // Measured (64-bit host, every request a direct block of the
            // region): fill 90.5 %, reuse 98.2 %, largest 888 B (1160 B
            // with a smaller span map: which holes merge is luck).
            Workload::Small => {
                assert!(fill > 85.0, "small: fill {fill:.1} %");
                assert!(reuse > 95.0, "small: same-size reuse {reuse:.1} %");
                assert!(largest >= 640, "small: largest {largest} B");
            }
            // Measured: fill 93.5 %, reuse 98.4 %, largest 2000 B.
            Workload::Mixed => {
                assert!(fill > 88.0, "mixed: fill {fill:.1} %");
                assert!(reuse > 90.0, "mixed: same-size reuse {reuse:.1} %");
                assert!(largest >= 1536, "mixed: largest {largest} B");
            }
        }
    }
}

/// masu-core's fill, same-size reuse and largest block after freeing half
/// (see `measure_reuse`), each the median over seeds 1 to 9.
fn masu_reuse_medians(workload: Workload) -> (f64, f64, usize) {
    let runs: Vec<Reuse> = (1..=9)
        .map(|seed| measure_reuse(Kind::Masu, workload, seed))
        .collect();
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let fill = median(runs.iter().map(|r| pct(r.fill_bytes, SMALL_RAM)).collect());
    let reuse = median(
        runs.iter()
            .map(|r| pct(r.same_sizes, r.freed_bytes))
            .collect(),
    );
    let largest = median(runs.iter().map(|r| r.largest as f64).collect()) as usize;
    (fill, reuse, largest)
}

// ---------------------------------------------------------------------------
// Smallest region and metadata overhead

fn presets() -> [(&'static str, Config); 4] {
    [
        ("SMALL_REGION", Config::SMALL_REGION),
        ("FIXED_REGION", Config::FIXED_REGION),
        ("COMPACT_REGION", Config::COMPACT_REGION),
        (
            "FIXED_REGION, direct_above MAX",
            Config::FIXED_REGION.with_direct_above(usize::MAX),
        ),
    ]
}

/// True when a heap over `len` bytes at `buf + offset` can allocate 8 bytes.
fn accepts(buf: &Buffer, offset: usize, len: usize, config: Config) -> bool {
    let mut h = masu_over(buf, offset, len, config);
    !h.alloc(layout(8)).is_null()
}

/// The smallest region length starting at `buf + offset` over which masu
/// allocates at all, by a linear scan in 8-byte steps (acceptance is not
/// monotonic in the length: see the tail note printed by the test).
fn smallest_region(buf: &Buffer, offset: usize, config: Config) -> usize {
    let max = buf.layout.size() - offset;
    // From 16 bytes: `FixedRegion::init` panics on less (the span list needs
    // room for one 16-byte hole header).
    (2..=max / 8)
        .map(|k| k * 8)
        .find(|&len| accepts(buf, offset, len, config))
        .expect("the whole buffer is accepted")
}

#[test]
fn smallest_region_per_preset() {
    println!();
    println!("## Smallest region masu-core allocates from");
    println!();
    println!(
        "| preset | segment | region start | smallest region | usable with 64 B blocks | largest single block | largest size-class request |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, config) in presets() {
        let seg = 1usize << config.segment_shift;
        let buf = Buffer::new(3 * seg, seg);
        // A start aligned to the segment size, and the worst case: 8 bytes
        // past such a boundary.
        for (offset, start) in [(0, "segment-aligned"), (8, "aligned + 8 B")] {
            let min = smallest_region(&buf, offset, config);
            // What that smallest region holds: 64-byte blocks until OOM, and
            // the largest single block (binary search, fresh heap each probe).
            let mut h = masu_over(&buf, offset, min, config);
            let mut n = 0;
            while !h.alloc(layout(64)).is_null() {
                n += 1;
            }
            let max_small = h.max_small_size();
            drop(h);
            let (mut lo, mut hi) = (0usize, min / ALIGN + 1);
            while hi - lo > 1 {
                let mid = (lo + hi) / 2;
                let mut h = masu_over(&buf, offset, min, config);
                if h.alloc(layout(mid * ALIGN)).is_null() {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            println!(
                "| {name} | {} KiB | {start} | {min} B | {} B ({n} blocks) | {} B | {max_small} B |",
                seg / KIB,
                n * 64,
                lo * ALIGN
            );
            // The region's metadata and one block are enough: a request
            // that no segment can take is a direct block of the region.
            assert!(min <= 1024, "{name} ({start}): smallest region {min} B");
        }
    }
}

#[test]
fn metadata_overhead() {
    println!();
    println!("## Metadata overhead, region filled with 64-byte blocks to the first OOM");
    println!();
    println!("Outside the region: `size_of::<Heap<FixedRegion>>()` = {} B, `size_of::<LockedHeap<FixedRegion>>()` = {} B.",
        core::mem::size_of::<Heap<FixedRegion>>(),
        core::mem::size_of::<LockedHeap<FixedRegion>>());
    println!();
    println!(
        "| preset | region | segments | handed out (live_bytes) | committed - live | reserved | region - live | overhead per segment | first 8 B alloc: committed / reserved | LLA handed out | talc handed out |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, config) in presets() {
        let seg = 1usize << config.segment_shift;
        for len in [64 * KIB, MIB, 16 * MIB] {
            let buf = Buffer::new(len, seg);
            // The cost of the first allocation, on a heap of its own.
            let (first_committed, first_reserved) = {
                let mut h = masu_over(&buf, 0, len, config);
                let first = h.alloc(layout(8));
                if first.is_null() {
                    assert!(len < seg);
                    println!("| {name} | {} | 0 | region smaller than one {} KiB segment: every allocation fails | | | | | | | |", human(len), seg / KIB);
                    continue;
                }
                (h.stats().committed_bytes, h.stats().reserved_bytes)
            };
            let mut h = masu_over(&buf, 0, len, config);
            let mut blocks = Vec::new();
            loop {
                let p = h.alloc(layout(64));
                if p.is_null() {
                    break;
                }
                blocks.push(p);
            }
            let s = h.stats();
            // Usable bytes: a direct block may hold a few more.
            assert!(s.live_bytes >= blocks.len() * 64);
            let handed = blocks.len() * 64;
            // Segment headers (2048 B of 16 KiB, 4096 B of 128 KiB), the
            // 8-byte headers of direct blocks (12.5 % of a 64-byte block)
            // and the region's metadata: at most 13.5 % in all.
            assert!(
                pct(len - handed, len) <= 13.5,
                "{name} {len}: {handed} B handed out"
            );
            let per_segment = (s.committed_bytes - s.live_bytes)
                .checked_div(s.segments)
                .unwrap_or(0);
            let s = masu_core::Stats {
                live_bytes: handed,
                ..s
            };
            let lla = fill_other(Kind::Lla, len);
            let talc = fill_other(Kind::Talc, len);
            println!(
                "| {name} | {} | {} | {} B | {} B | {} B | {} B ({:.2} %) | {} B | {} / {} B | {} B ({:.2} %) | {} B ({:.2} %) |",
                human(len),
                s.segments,
                s.live_bytes,
                s.committed_bytes - s.live_bytes,
                s.reserved_bytes,
                len - s.live_bytes,
                pct(len - s.live_bytes, len),
                per_segment,
                first_committed,
                first_reserved,
                lla,
                pct(lla, len),
                talc,
                pct(talc, len),
            );
            for p in blocks {
                // SAFETY: each block is live and freed once.
                unsafe { h.dealloc(p, layout(64)) };
            }
            h.collect(true);
            assert_eq!(h.stats().reserved_bytes, 0);
            assert_eq!(h.os().free_bytes(), h.os().size());
        }
    }
}

/// Bytes handed out by `kind` over `len` bytes in 64-byte blocks until OOM.
fn fill_other(kind: Kind, len: usize) -> usize {
    let mut a = Arena::new(kind, len);
    let mut n = 0;
    while !a.alloc(64).is_null() {
        n += 1;
    }
    n * 64
}

fn human(len: usize) -> String {
    if len >= MIB {
        format!("{} MiB", len / MIB)
    } else {
        format!("{} KiB", len / KIB)
    }
}

// ---------------------------------------------------------------------------
// Packing a 2 MiB region (masu-bench `fixed-region`'s efficiency measure)

/// Live requested bytes over the region when the first allocation fails:
/// requests of 1..=`max` bytes, a random live block freed instead one time
/// in four (as `benches/examples/fixed_region.rs` measures it).
fn packing(config: Config, max: usize, seed: u64) -> f64 {
    const LEN: usize = 2 * MIB;
    let buf = Buffer::new(LEN, MIB);
    let mut h = masu_over(&buf, 0, LEN, config);
    let mut rng = Rng::with_seed(seed);
    let mut live: Vec<(*mut u8, Layout)> = Vec::new();
    let mut requested = 0;
    loop {
        if live.is_empty() || rng.u64(..4) != 0 {
            let l = layout(1 + rng.u64(..max as u64) as usize);
            let p = h.alloc(l);
            if p.is_null() {
                break;
            }
            requested += l.size();
            live.push((p, l));
        } else {
            let (p, l) = live.swap_remove(rng.u64(..live.len() as u64) as usize);
            requested -= l.size();
            // SAFETY: a live block of this heap with this layout.
            unsafe { h.dealloc(p, l) };
        }
    }
    let filled = requested as f64 / LEN as f64;
    for (p, l) in live {
        // SAFETY: as above.
        unsafe { h.dealloc(p, l) };
    }
    h.collect(true);
    assert_eq!(h.os().free_bytes(), h.os().size(), "region whole again");
    filled * 100.0
}

/// `COMPACT_REGION` packs a 2 MiB region about as talc does (measured, 64-bit
/// host, mean of 5 seeds in docs/results/fixed-region.csv: 96.7 / 97.5 /
/// 97.5 % at 1000 / 3000 / 10000 B; talc 96.8 / 97.8 / 97.6 %), and
/// `FIXED_REGION`, with size classes up to 1 KiB, above 84 % (85.8–87.9 % here;
/// 64–84 % before direct blocks). A regression in the region's fit, its
/// headers or its metadata fails here.
#[test]
fn a_2_mib_region_packs_to_the_measured_efficiency() {
    for (max, compact_floor) in [(1000, 95.5), (3000, 96.5), (10000, 96.0)] {
        let compact = packing(Config::COMPACT_REGION, max, 0xeff);
        assert!(
            compact > compact_floor,
            "COMPACT_REGION, max {max} B: {compact:.1} %"
        );
        let fixed = packing(Config::FIXED_REGION, max, 0xeff);
        assert!(fixed > 84.0, "FIXED_REGION, max {max} B: {fixed:.1} %");
        println!("max {max} B: COMPACT_REGION {compact:.1} %, FIXED_REGION {fixed:.1} %");
    }
}
