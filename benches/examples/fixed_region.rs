//! masu-core over a fixed arena (`Heap<FixedRegion>`, `Config::FIXED_REGION`)
//! against the `no_std` allocators people use for the same job: `talc`,
//! `linked_list_allocator`, `buddy_system_allocator` and `rlsf` (TLSF).
//!
//! ```text
//! cargo run --release -p masu-bench --example fixed_region [-- quick|full] [machine] [only=NAME,...] [max=N] [small] [ops=N] [trials=N] [csv=DIR]
//! ```
//!
//! For each largest request size (200, 1000, 3000, 10000, 30000 B), single
//! threaded, no lock:
//!
//! * **throughput** ("random actions"): 1,000 slots over a 64 MiB arena;
//!   each operation picks a slot: an empty one gets a block of 1..=max bytes
//!   (alignment 8); a full one is freed, or (half the time) reallocated to
//!   1..=max bytes. The first and last byte of every block are written. The
//!   run lasts 200 ms (quick: 100 ms) from a fresh arena, repeated 5 times
//!   (quick: 1), median ops/s. The repetitions are rounds: each times every
//!   allocator once, in an order that rotates from round to round.
//! * **heap efficiency**: on a fresh 2 MiB arena (aligned to 1 MiB),
//!   allocate blocks of 1..=max bytes, freeing a random live one instead one
//!   time in four, until the first allocation fails; efficiency is the sum
//!   of the live requested sizes at that moment over the arena size. Mean
//!   of 100 trials (quick: 2; `trials=N`), each with its own seed, the same
//!   seeds for every allocator; `sem` is the mean's standard error (where
//!   the first failure falls moves one trial by up to a block: with 5
//!   trials the mean of a 16 KiB fill moved by ±0.3 points).
//!
//! Then, **small regions**: a 16 KiB and a 64 KiB arena filled with blocks
//! of 16–256 and 16–4096 random bytes until the first failure (no frees):
//! the requested bytes over the arena, mean of as many trials.
//!
//! Prints a table, or with `machine`, one `fixed-region` line per
//! allocator and size for `masu-bench` (and `small-region` lines). With
//! `csv=DIR`, also writes `DIR/fixed-region.csv`,
//! `DIR/small-region.csv` and `DIR/efficiency-trials.csv` (every trial's
//! efficiency: trial `t` runs the same seed for every allocator, so two
//! allocators' trials pair up; `benches/paired_efficiency.py` compares
//! them).

use core::alloc::Layout;
use core::ptr::{self, NonNull};
use masu_bench::subjects::LinkedList;
use masu_bench::{Rng, Subject};
use masu_core::{Config, FixedRegion, Heap};
use std::time::{Duration, Instant};

const MAX_SIZES: [usize; 5] = [200, 1000, 3000, 10000, 30000];
const SPEED_ARENA: usize = 64 << 20;
const EFF_ARENA: usize = 2 << 20;
const SLOTS: usize = 1000;

/// The allocators, by the names used in the output.
const NAMES: [&str; 8] = [
    "masu-core",
    "masu-core/compact",
    "masu-core/small",
    "masu-core/segments",
    "talc",
    "rlsf",
    "buddy_system_allocator",
    "linked_list_allocator",
];

struct Masu(Heap<FixedRegion>);

/// The number environment variable `name` holds, if it is set to one.
fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

impl Masu {
    /// masu-core with `config` (the environment variables `DIRECT_ABOVE`,
    /// `PAGE_BLOCKS`, `SEGMENT=shift,slice`, `CACHE_PACKS=0|1`,
    /// `CACHE_BYTES`, `CACHE_SHARE` and `CACHE_LARGE` override it, for
    /// tuning; `segments`: every
    /// block in a segment, `direct_above = usize::MAX`, as before direct
    /// blocks).
    ///
    /// # Safety
    /// `arena` is valid for `len` bytes, used by nothing else while the heap lives.
    unsafe fn new(arena: *mut u8, len: usize, mut config: Config, segments: bool) -> Self {
        if let Some(n) = env_number("CACHE_PACKS") {
            config = config.with_direct_cache_packs(n != 0);
        }
        if let Some(n) = env_number("CACHE_BYTES") {
            config = config.with_direct_cache(n);
        }
        if let Some(n) = env_number("CACHE_SHARE") {
            config = config.with_direct_cache_share(n);
        }
        if let Some(n) = env_number("CACHE_LARGE") {
            config = config.with_direct_cache_large(n);
        }
        if let Some(n) = env_number("DIRECT_ABOVE") {
            config = config.with_direct_above(n);
        }
        if let Some((seg, slice)) = std::env::var("SEGMENT").ok().and_then(|v| {
            v.split_once(',')
                .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
        }) {
            config = config.with_segment(seg, slice);
        }
        if let Some(n) = env_number("PAGE_BLOCKS") {
            config = config.with_page_blocks(n);
        }
        if segments {
            config = config.with_direct_above(usize::MAX);
        }
        let heap = Heap::new(FixedRegion::empty(), config);
        // SAFETY: forwarded from the caller; `init` runs once per region.
        unsafe { heap.os().init(arena, len) };
        Masu(heap)
    }
}

impl Subject for Masu {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.0.alloc(layout)
    }
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { self.0.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}

struct Talc(talc::Talc<talc::ErrOnOom>);

impl Talc {
    /// # Safety
    /// As for [`Masu::new`].
    unsafe fn new(arena: *mut u8, len: usize) -> Self {
        let mut t = talc::Talc::new(talc::ErrOnOom);
        // SAFETY: forwarded from the caller.
        unsafe { t.claim(talc::Span::from_base_size(arena, len)) }.expect("talc claims the arena");
        Talc(t)
    }
}

impl Subject for Talc {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        // SAFETY: a non-zero size.
        unsafe { self.0.malloc(layout) }.map_or(ptr::null_mut(), NonNull::as_ptr)
    }
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; a block of this heap is non-null.
        unsafe { self.0.free(NonNull::new_unchecked(ptr), layout) }
    }
    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; grow for larger sizes, shrink (in place) otherwise.
        unsafe {
            let p = NonNull::new_unchecked(ptr);
            if new_size >= layout.size() {
                self.0
                    .grow(p, layout, new_size)
                    .map_or(ptr::null_mut(), NonNull::as_ptr)
            } else {
                self.0.shrink(p, layout, new_size);
                ptr
            }
        }
    }
}

type TlsfHeap = rlsf::Tlsf<'static, u32, u32, 24, 32>;

struct Rlsf(TlsfHeap);

impl Rlsf {
    /// # Safety
    /// As for [`Masu::new`].
    unsafe fn new(arena: *mut u8, len: usize) -> Self {
        let mut t = TlsfHeap::new();
        let block = NonNull::new(ptr::slice_from_raw_parts_mut(arena, len)).unwrap();
        // SAFETY: forwarded from the caller.
        unsafe { t.insert_free_block_ptr(block) }.expect("rlsf takes the arena");
        Rlsf(t)
    }
}

impl Subject for Rlsf {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.0
            .allocate(layout)
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe {
            self.0
                .deallocate(NonNull::new_unchecked(ptr), layout.align())
        }
    }
    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align(new_size, layout.align()).unwrap();
        // SAFETY: forwarded.
        unsafe { self.0.reallocate(NonNull::new_unchecked(ptr), new) }
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }
}

struct Buddy(buddy_system_allocator::Heap<32>);

impl Buddy {
    /// # Safety
    /// As for [`Masu::new`].
    unsafe fn new(arena: *mut u8, len: usize) -> Self {
        let mut h = buddy_system_allocator::Heap::<32>::new();
        // SAFETY: forwarded from the caller.
        unsafe { h.init(arena as usize, len) };
        Buddy(h)
    }
}

impl Subject for Buddy {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.0
            .alloc(layout)
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        self.0
            .dealloc(unsafe { NonNull::new_unchecked(ptr) }, layout)
    }
    /// No realloc of its own: allocate, copy, free.
    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = self.alloc(Layout::from_size_align(new_size, layout.align()).unwrap());
        if !new.is_null() {
            // SAFETY: distinct live blocks, each long enough.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

/// Runs `f` on a fresh allocator `name` over `len` bytes at `arena`.
fn with_subject<R>(
    name: &str,
    arena: *mut u8,
    len: usize,
    f: impl FnOnce(&mut dyn Runner) -> R,
) -> R {
    // SAFETY: (all arms) the arena is ours, and each heap is dropped (or,
    // for linked_list_allocator, forgotten) before the next one is made.
    unsafe {
        match name {
            "masu-core" => f(&mut Masu::new(arena, len, Config::FIXED_REGION, false)),
            "masu-core/compact" => f(&mut Masu::new(arena, len, Config::COMPACT_REGION, false)),
            "masu-core/small" => f(&mut Masu::new(arena, len, Config::SMALL_REGION, false)),
            "masu-core/segments" => f(&mut Masu::new(arena, len, Config::FIXED_REGION, true)),
            "talc" => f(&mut Talc::new(arena, len)),
            "rlsf" => f(&mut Rlsf::new(arena, len)),
            "buddy_system_allocator" => f(&mut Buddy::new(arena, len)),
            "linked_list_allocator" => f(&mut LinkedList::new(std::slice::from_raw_parts_mut(
                arena, len,
            ))),
            _ => unreachable!("unknown allocator {name}"),
        }
    }
}

/// The two measurements, monomorphised per allocator.
trait Runner {
    fn speed(
        &mut self,
        max: usize,
        window: Duration,
        ops: Option<u64>,
        seed: u64,
    ) -> (u64, f64, u64);
    fn efficiency(&mut self, max: usize, arena: usize, seed: u64) -> f64;
    fn fill(&mut self, sizes: (usize, usize), arena: usize, seed: u64) -> f64;
}

impl<S: Subject> Runner for S {
    /// Random actions for `window`, or exactly `limit` of them (a multiple
    /// of 256) when given: returns (operations, seconds, failed
    /// allocations). Never inlined, so that callgrind can count each
    /// allocator's loop alone (`--toggle-collect='*Runner*speed*'`).
    #[inline(never)]
    fn speed(
        &mut self,
        max: usize,
        window: Duration,
        limit: Option<u64>,
        seed: u64,
    ) -> (u64, f64, u64) {
        let mut rng = Rng::with_seed(seed);
        let mut slots: Vec<Option<(*mut u8, Layout)>> = vec![None; SLOTS];
        let (mut ops, mut oom) = (0u64, 0u64);
        let t = Instant::now();
        loop {
            for _ in 0..256 {
                let i = rng.u64(..SLOTS as u64) as usize;
                let size = 1 + rng.u64(..max as u64) as usize;
                match slots[i] {
                    None => {
                        let l = Layout::from_size_align(size, 8).unwrap();
                        let p = self.alloc(l);
                        if p.is_null() {
                            oom += 1;
                        } else {
                            // SAFETY: a fresh block of `size` bytes.
                            unsafe {
                                p.write(1);
                                p.add(size - 1).write(1);
                            }
                            slots[i] = Some((p, l));
                        }
                    }
                    Some((p, l)) if rng.u64(..2) == 0 => {
                        // SAFETY: a live block of this layout.
                        unsafe { self.dealloc(p, l) };
                        slots[i] = None;
                    }
                    Some((p, l)) => {
                        // SAFETY: a live block of this layout.
                        let q = unsafe { self.realloc(p, l, size) };
                        if q.is_null() {
                            oom += 1;
                        } else {
                            // SAFETY: the block now holds `size` bytes.
                            unsafe { q.add(size - 1).write(2) };
                            slots[i] = Some((q, Layout::from_size_align(size, 8).unwrap()));
                        }
                    }
                }
                ops += 1;
            }
            if limit.map_or(t.elapsed() >= window, |n| ops >= n) {
                break;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        for (p, l) in slots.into_iter().flatten() {
            // SAFETY: live blocks, freed once.
            unsafe { self.dealloc(p, l) };
        }
        (ops, secs, oom)
    }

    /// Allocates (3 in 4) or frees a random live block (1 in 4) until an
    /// allocation fails: the live requested bytes over the arena.
    fn efficiency(&mut self, max: usize, arena: usize, seed: u64) -> f64 {
        let mut rng = Rng::with_seed(seed);
        let mut live: Vec<(*mut u8, Layout)> = Vec::new();
        let mut requested = 0usize;
        loop {
            if live.is_empty() || rng.u64(..4) != 0 {
                let size = 1 + rng.u64(..max as u64) as usize;
                let l = Layout::from_size_align(size, 8).unwrap();
                let p = self.alloc(l);
                if p.is_null() {
                    break;
                }
                requested += size;
                live.push((p, l));
            } else {
                let i = rng.u64(..live.len() as u64) as usize;
                let (p, l) = live.swap_remove(i);
                requested -= l.size();
                // SAFETY: a live block of this layout.
                unsafe { self.dealloc(p, l) };
            }
        }
        let eff = requested as f64 / arena as f64;
        for (p, l) in live {
            // SAFETY: live blocks, freed once.
            unsafe { self.dealloc(p, l) };
        }
        eff
    }

    /// Allocates blocks of `sizes.0..=sizes.1` bytes until the first
    /// failure: the requested bytes over the arena.
    fn fill(&mut self, sizes: (usize, usize), arena: usize, seed: u64) -> f64 {
        let mut rng = Rng::with_seed(seed);
        let mut live: Vec<(*mut u8, Layout)> = Vec::new();
        loop {
            let size = rng.u64(sizes.0 as u64..=sizes.1 as u64) as usize;
            let l = Layout::from_size_align(size, 8).unwrap();
            let p = self.alloc(l);
            if p.is_null() {
                break;
            }
            live.push((p, l));
        }
        let filled: usize = live.iter().map(|(_, l)| l.size()).sum();
        for (p, l) in live {
            // SAFETY: live blocks, freed once.
            unsafe { self.dealloc(p, l) };
        }
        filled as f64 / arena as f64
    }
}

/// The throughput of each of `names` at `max`: `reps` rounds, each timing
/// every allocator once in turn (the first of a round rotates with it), so
/// that a slow spell of the machine falls on all of them alike. Returns, per
/// allocator in `names`' order, the median ops/s and the failed allocations.
fn speed_rounds(
    arena: *mut u8,
    names: &[&str],
    max: usize,
    reps: usize,
    window: Duration,
    op_limit: Option<u64>,
) -> Vec<(f64, u64)> {
    let mut rates = vec![Vec::new(); names.len()];
    let mut ooms = vec![0u64; names.len()];
    for rep in 0..reps {
        for k in 0..names.len() {
            let i = (k + rep) % names.len();
            let (ops, secs, oom) = with_subject(names[i], arena, SPEED_ARENA, |s| {
                s.speed(max, window, op_limit, 0x5eed + rep as u64)
            });
            rates[i].push(ops as f64 / secs);
            ooms[i] += oom;
        }
    }
    rates.into_iter().map(median).zip(ooms).collect()
}

/// Small regions: each region size, and each range of request sizes.
const SMALL_REGIONS: [usize; 2] = [16 << 10, 64 << 10];
const FILL_SIZES: [(usize, usize); 2] = [(16, 256), (16, 4096)];

/// The small-region fills: for each region and size range, the mean
/// share of the region that `fill` reached, per allocator.
fn small_regions(arena: *mut u8, names: &[&str], trials: usize, machine: bool, csv: &mut String) {
    if !machine {
        println!();
        println!("small regions: blocks of random sizes until the first failure, requested bytes over the region (mean of {trials})");
        println!(
            "{:<24} {:>8} {:>10} {:>10}",
            "allocator", "region", "sizes", "filled"
        );
    }
    for len in SMALL_REGIONS {
        for sizes in FILL_SIZES {
            for &name in names {
                let fills: Vec<f64> = (0..trials)
                    .map(|t| {
                        with_subject(name, arena, len, |s| s.fill(sizes, len, 0xf111 + t as u64))
                    })
                    .collect();
                let (fill, sem) = mean_sem(&fills);
                let range = format!("{}-{}", sizes.0, sizes.1);
                csv.push_str(&format!("{name},{len},{range},{fill:.5}\n"));
                if machine {
                    println!("small-region alloc={name} region={len} sizes={range} fill={fill:.5} sem={sem:.5} trials={trials}");
                } else {
                    println!("{name:<24} {len:>8} {range:>10} {:>9.1}%", fill * 100.0);
                }
            }
        }
    }
}

/// The mean of `v` and its standard error (0 for fewer than 2 values).
fn mean_sem(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "quick");
    let machine = args.iter().any(|a| a == "machine");
    let (window, reps, trials) = if quick {
        (Duration::from_millis(100), 1, 2)
    } else {
        (Duration::from_millis(200), 5, 100)
    };
    let layout = Layout::from_size_align(SPEED_ARENA, 1 << 20).unwrap();
    // SAFETY: a non-zero size; the arena lives until the process ends.
    let arena = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!arena.is_null());
    // Make every page resident first, so no allocator pays the page faults.
    // SAFETY: the arena is SPEED_ARENA bytes.
    unsafe { arena.write_bytes(0xa5, SPEED_ARENA) };
    if !machine {
        println!("fixed region, single thread: ops/s (random actions, {} ms, median of {reps}) and heap efficiency (2 MiB arena, mean of {trials})", window.as_millis());
        println!(
            "{:<24} {:>7} {:>14} {:>10} {:>6}",
            "allocator", "max B", "ops/s", "efficiency", "oom"
        );
    }
    // `only=a,b`: just these allocators.
    let only: Option<Vec<String>> = args
        .iter()
        .find_map(|a| a.strip_prefix("only="))
        .map(|v| v.split(',').map(str::to_owned).collect());
    let chosen: Vec<&str> = NAMES
        .iter()
        .copied()
        .filter(|n| only.as_ref().is_none_or(|o| o.iter().any(|x| x == n)))
        .collect();
    // `max=N`: just this largest request size.
    let only_max: Option<usize> = args
        .iter()
        .find_map(|a| a.strip_prefix("max=").and_then(|v| v.parse().ok()));
    // `ops=N`: throughput over exactly N random actions, once (for
    // callgrind); the window and the repetitions are ignored.
    let op_limit: Option<u64> = args
        .iter()
        .find_map(|a| a.strip_prefix("ops=").and_then(|v| v.parse().ok()));
    let reps = if op_limit.is_some() { 1 } else { reps };
    // `trials=N`: the efficiency and small-region means over N seeds (the
    // point where a fill first fails moves its result by up to a block:
    // more seeds narrow the mean's standard error, printed as `sem`).
    let trials: usize = args
        .iter()
        .find_map(|a| a.strip_prefix("trials=").and_then(|v| v.parse().ok()))
        .unwrap_or(trials);
    let csv_dir = args.iter().find_map(|a| a.strip_prefix("csv="));
    let mut fixed_csv = String::from("allocator,max,ops_per_s,efficiency\n");
    let mut trials_csv = String::from("allocator,max,trial,efficiency\n");
    // `small`: just the small regions.
    let small_only = args.iter().any(|a| a == "small");
    for max in MAX_SIZES
        .into_iter()
        .filter(|m| !small_only && only_max.is_none_or(|o| o == *m))
    {
        let speeds = speed_rounds(arena, &chosen, max, reps, window, op_limit);
        for (&name, (rate, ooms)) in chosen.iter().zip(speeds) {
            let effs: Vec<f64> = (0..trials)
                .map(|t| {
                    with_subject(name, arena, EFF_ARENA, |s| {
                        s.efficiency(max, EFF_ARENA, 0xeff + t as u64)
                    })
                })
                .collect();
            for (t, e) in effs.iter().enumerate() {
                trials_csv.push_str(&format!("{name},{max},{t},{e:.6}\n"));
            }
            let (eff, eff_sem) = mean_sem(&effs);
            fixed_csv.push_str(&format!("{name},{max},{rate:.0},{eff:.5}\n"));
            if machine {
                println!("fixed-region alloc={name} max={max} ops_per_s={rate:.0} efficiency={eff:.5} sem={eff_sem:.5} oom={ooms} window_ms={} reps={reps} trials={trials}", window.as_millis());
            } else {
                println!(
                    "{name:<24} {max:>7} {rate:>14.0} {:>9.1}% {ooms:>6}",
                    eff * 100.0
                );
            }
        }
    }
    let mut small_csv = String::from("allocator,region,sizes,fill\n");
    if only_max.is_none() {
        small_regions(arena, &chosen, trials, machine, &mut small_csv);
    }
    if let Some(dir) = csv_dir {
        let dir = std::path::Path::new(dir);
        std::fs::write(dir.join("fixed-region.csv"), fixed_csv).expect("write fixed-region.csv");
        std::fs::write(dir.join("small-region.csv"), small_csv).expect("write small-region.csv");
        std::fs::write(dir.join("efficiency-trials.csv"), trials_csv)
            .expect("write efficiency-trials.csv");
    }
}
