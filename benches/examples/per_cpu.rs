//! One `masu_core::Heap` per CPU over one shared region, the way a kernel
//! would keep them; each CPU is simulated here by a thread that owns its heap.
//!
//! * The region is one `FixedRegion` that lives for the whole program
//!   (`&'static`); every heap is a `Heap<&'static FixedRegion>` (the `Os`
//!   trait is implemented for `&O`), so the heaps take and give back whole
//!   segments from the same memory under the region's own lock, and never
//!   otherwise touch each other.
//! * A CPU allocates and frees through its own heap only, with `&mut`
//!   access: no lock on the fast paths.
//! * A block may be freed on any CPU: `dealloc` on the freeing CPU's heap
//!   sees that the block's page belongs to another heap and pushes the block
//!   onto that page's atomic `thread_free` list (one CAS). The owner takes
//!   those blocks back in its allocation slow path, or when it calls
//!   `collect(false)`.
//!
//! Run it with `cargo run -p masu-bench --example per_cpu`; the test
//! `benches/tests/per_cpu.rs` runs the same code and checks the outcome.

use core::alloc::Layout;
use masu_core::{Config, FixedRegion, Heap, Stats};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};

/// Each CPU's heap: `SMALL_REGION`'s 16 KiB segments for every request
/// (`direct_above = usize::MAX`), so that allocation and same-CPU frees take
/// no lock; direct blocks of the region would take the region's lock.
const CONFIG: Config = Config::SMALL_REGION.with_direct_above(usize::MAX);

/// What one run did and what each heap looked like at the end.
pub struct Report {
    /// Per CPU: its heap's stats after all frees and a `collect(false)`.
    pub stats: Vec<Stats>,
    /// Blocks each CPU handed to another CPU to free.
    pub sent: Vec<u64>,
    /// What went wrong, per CPU that failed (out of memory, a damaged block).
    pub errors: Vec<String>,
    /// Bytes of the region.
    pub region_size: usize,
    /// Bytes free in the region once every heap is dropped.
    pub region_free_at_end: usize,
}

/// A block in flight between CPUs: its address, size and fill byte.
/// (Raw pointers are not `Send`; the address travels as an integer.)
struct Remote {
    addr: usize,
    size: usize,
    tag: u8,
}

/// A region of `len` bytes for the whole program, aligned to `align`.
fn static_region(len: usize, align: usize) -> &'static FixedRegion {
    let layout = Layout::from_size_align(len, align).expect("region layout");
    // SAFETY: `len` is non-zero.
    let memory = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!memory.is_null(), "host out of memory");
    let region: &'static FixedRegion = Box::leak(Box::new(FixedRegion::empty()));
    // SAFETY: `memory` is a fresh allocation that is never freed (leaked for
    // the program's life) and used by nothing but this region; `init` runs
    // once.
    unsafe { region.init(memory, len) };
    region
}

fn size_for(cpu: usize, round: usize, i: usize) -> usize {
    let x = (cpu * 7919 + round * 104_729 + i * 31) % 1000;
    match x {
        // Mostly small blocks, some large spans (above the size classes).
        0..=939 => 8 + x % 377,
        _ => 1500 + (x % 50) * 100,
    }
}

fn tag_for(cpu: usize, round: usize, i: usize) -> u8 {
    (cpu * 64 + round * 8 + i) as u8 | 1
}

/// Runs `cpus` CPUs for `rounds` rounds over one region of `region_len`
/// bytes with [`CONFIG`] heaps.
pub fn run(cpus: usize, rounds: usize, blocks_per_round: usize, region_len: usize) -> Report {
    assert!(cpus >= 2);
    let region = static_region(region_len, 1 << Config::SMALL_REGION.segment_shift);

    // CPU c sends blocks for CPU (c + 1) % cpus to free.
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..cpus).map(|_| mpsc::channel::<Remote>()).unzip();
    let barriers = Barriers {
        round: Arc::new(Barrier::new(cpus)),
        all_freed: Arc::new(Barrier::new(cpus)),
        collected: Arc::new(Barrier::new(cpus)),
    };
    let mut threads = Vec::new();
    for (cpu, inbox) in receivers.into_iter().enumerate() {
        let c = Cpu {
            cpu,
            rounds,
            blocks_per_round,
            region,
            inbox,
            outbox: senders[(cpu + 1) % cpus].clone(),
            barriers: barriers.clone(),
        };
        threads.push(std::thread::spawn(move || c.run()));
    }
    drop(senders);
    let mut stats = Vec::new();
    let mut sent = Vec::new();
    let mut errors = Vec::new();
    for t in threads {
        let (s, n, e) = t.join().expect("cpu thread");
        stats.push(s);
        sent.push(n);
        errors.extend(e);
    }
    Report {
        stats,
        sent,
        errors,
        region_size: region.size(),
        region_free_at_end: region.free_bytes(),
    }
}

/// The barriers every CPU meets.
#[derive(Clone)]
struct Barriers {
    /// Every CPU has sent a round's blocks.
    round: Arc<Barrier>,
    /// Every CPU has freed everything it will free.
    all_freed: Arc<Barrier>,
    /// Every heap has collected (then they are dropped).
    collected: Arc<Barrier>,
}

/// One CPU's part of the run.
struct Cpu {
    cpu: usize,
    rounds: usize,
    blocks_per_round: usize,
    region: &'static FixedRegion,
    inbox: mpsc::Receiver<Remote>,
    outbox: mpsc::Sender<Remote>,
    barriers: Barriers,
}

/// A CPU's heap.
type CpuHeap = Heap<&'static FixedRegion>;

impl Cpu {
    /// Allocates, sends every other block to the next CPU, frees what
    /// arrives and its own older blocks, round after round; then frees the
    /// rest and collects. Returns the heap's statistics, the blocks sent
    /// and the first thing that went wrong. A failing CPU stops working but
    /// keeps meeting the barriers, so that the run ends (and reports)
    /// instead of hanging.
    fn run(self) -> (Stats, u64, Option<String>) {
        // This CPU's heap: only this thread ever touches it.
        let mut heap: CpuHeap = Heap::new(self.region, CONFIG);
        let mut sent = 0u64;
        let mut mine: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let mut error: Option<String> = None;
        for round in 0..self.rounds {
            sent += self.allocate_round(&mut heap, round, &mut mine, &mut error);
            // Wait until every CPU has sent this round's blocks (a bound on
            // the blocks in flight), then free what arrived while the others
            // do the same and go on allocating: their slow paths collect our
            // frees concurrently.
            self.barriers.round.wait();
            while let Ok(r) = self.inbox.try_recv() {
                if let Err(e) = Cpu::free_remote(self.cpu, &mut heap, r) {
                    error.get_or_insert(e);
                }
            }
            // Free our own blocks of the round before locally.
            let older = mine.len().saturating_sub(self.blocks_per_round / 2);
            for (p, layout, tag) in mine.drain(..older) {
                // SAFETY: the block is live and ours.
                let bytes = unsafe { core::slice::from_raw_parts(p, layout.size()) };
                if !bytes.iter().all(|&b| b == tag) {
                    error.get_or_insert(format!("cpu {}: own block {p:p} damaged", self.cpu));
                }
                // SAFETY: allocated by this heap with `layout`, freed once.
                unsafe { heap.dealloc(p, layout) };
            }
        }
        self.finish(heap, mine, sent, error)
    }

    /// One round's allocations: every other block goes to the next CPU.
    /// Returns the blocks sent.
    fn allocate_round(
        &self,
        heap: &mut CpuHeap,
        round: usize,
        mine: &mut Vec<(*mut u8, Layout, u8)>,
        error: &mut Option<String>,
    ) -> u64 {
        let (cpu, mut sent) = (self.cpu, 0);
        for i in 0..self.blocks_per_round {
            if error.is_some() {
                break;
            }
            let size = size_for(cpu, round, i);
            let layout = Layout::from_size_align(size, 8).expect("layout");
            let p = heap.alloc(layout);
            if p.is_null() {
                *error = Some(format!("cpu {cpu} round {round}: out of memory"));
                break;
            }
            let tag = tag_for(cpu, round, i);
            // SAFETY: a fresh block of `size` bytes.
            unsafe { p.write_bytes(tag, size) };
            if i % 2 == 0 {
                let remote = Remote {
                    addr: p as usize,
                    size,
                    tag,
                };
                self.outbox.send(remote).expect("the next cpu is running");
                sent += 1;
            } else {
                mine.push((p, layout, tag));
            }
        }
        sent
    }

    /// Frees another CPU's block after checking its contents.
    fn free_remote(cpu: usize, heap: &mut CpuHeap, r: Remote) -> Result<(), String> {
        let p = r.addr as *mut u8;
        let layout = Layout::from_size_align(r.size, 8).expect("layout");
        // SAFETY: the sender allocated this block with `layout`, filled it
        // and gave up every use of it when it sent it.
        let bytes = unsafe { core::slice::from_raw_parts(p, r.size) };
        if !bytes.iter().all(|&b| b == r.tag) {
            return Err(format!("cpu {cpu}: remote block {p:p} damaged"));
        }
        // SAFETY: the block is live, was allocated with `layout` by a heap
        // over the same region, and is freed once, here. Its page belongs to
        // another CPU's heap, so this pushes it onto that page's
        // `thread_free` list.
        unsafe { heap.dealloc(p, layout) };
        Ok(())
    }

    /// Frees what is left, collects, and drops the heap once every CPU has
    /// collected.
    fn finish(
        self,
        mut heap: CpuHeap,
        mine: Vec<(*mut u8, Layout, u8)>,
        sent: u64,
        mut error: Option<String>,
    ) -> (Stats, u64, Option<String>) {
        let Cpu {
            cpu,
            inbox,
            outbox,
            barriers,
            ..
        } = self;
        drop(outbox);
        for (p, layout, _) in mine {
            // SAFETY: allocated by this heap with `layout`, freed once.
            unsafe { heap.dealloc(p, layout) };
        }
        // The channel closes once the previous CPU dropped its sender.
        for r in inbox {
            if let Err(e) = Cpu::free_remote(cpu, &mut heap, r) {
                error.get_or_insert(e);
            }
        }
        // Every CPU has freed everything it will ever free; what other CPUs
        // freed for us waits on our pages' `thread_free` lists.
        barriers.all_freed.wait();
        heap.collect(false);
        let stats = heap.stats();
        // Keep every heap alive until all have collected, then drop them:
        // dropping gives their segments back to the region.
        barriers.collected.wait();
        drop(heap);
        (stats, sent, error)
    }
}

#[allow(dead_code)] // `main` is unused when the test includes this file.
fn main() {
    let r = run(4, 50, 64, 1 << 20);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    for (cpu, s) in r.stats.iter().enumerate() {
        println!(
            "cpu {cpu}: allocs {} frees {} live_bytes {} peak_live_bytes {} remote_frees_collected {} (sent {} to cpu {})",
            s.alloc_count,
            s.free_count,
            s.live_bytes,
            s.peak_live_bytes,
            s.remote_frees_collected,
            r.sent[cpu],
            (cpu + 1) % r.stats.len()
        );
    }
    println!(
        "region: {} of {} bytes free after every heap was dropped",
        r.region_free_at_end, r.region_size
    );
}
