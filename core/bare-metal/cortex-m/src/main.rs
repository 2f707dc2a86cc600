//! masu-core as the `#[global_allocator]` of Cortex-M firmware.
//!
//! Built for `thumbv7m-none-eabi` and run under QEMU's `mps2-an385` board
//! (a Cortex-M3 with 4 MiB of RAM), and with the `microbit` feature for
//! `thumbv6m-none-eabi` under QEMU's `microbit` board (a Cortex-M0, no
//! compare-and-swap, 16 KiB of RAM: an 8 KiB heap and a workload scaled to
//! it), by `scripts/firmware-test`. The heap is a static region managed with [`Config::SMALL_REGION`] (every block a
//! direct block of the region's two-level segregated fit, with a 4 KiB cache
//! of freed blocks). The firmware runs a workload with `Vec`,
//! `String`, `BTreeMap` and `Box`, grows vectors through `realloc`, runs the
//! heap out of memory through fallible `try_reserve` calls, checks every
//! result, prints masu's statistics over semihosting and exits through
//! semihosting with success or failure. The heap is locked with
//! `CriticalSectionLock` (interrupts off while masu works), and a SysTick
//! handler allocates and frees through it while the workload runs: with a
//! spin lock, a tick that arrives while the workload holds the lock would
//! deadlock.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::fmt::Write;
use core::panic::PanicInfo;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hprintln};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// `m3` on the Cortex-M3 board, `m0` on the micro:bit (8 KiB heap).
const fn pick(m3: usize, m0: usize) -> usize {
    if cfg!(feature = "microbit") {
        m0
    } else {
        m3
    }
}

/// The board, for the messages.
const BOARD: &str = if cfg!(feature = "microbit") {
    "microbit (Cortex-M0, thumbv6m)"
} else {
    "mps2-an385 (Cortex-M3, thumbv7m)"
};
use cortex_m::peripheral::syst::SystClkSource;
use masu_core::{Config, CriticalSectionLock, FixedRegion, LockedHeap};

/// The allocator: built at compile time, given its memory in [`main`]; its
/// lock holds a critical section, so interrupt handlers may allocate.
#[global_allocator]
static HEAP: LockedHeap<FixedRegion, CriticalSectionLock> =
    LockedHeap::empty_with(Config::SMALL_REGION);

/// SysTick interrupts taken, and those whose allocations checked out.
static TICKS: AtomicU32 = AtomicU32::new(0);
static TICK_ALLOCS_OK: AtomicU32 = AtomicU32::new(0);

/// Allocates and frees through the global heap from an interrupt handler.
#[exception]
fn SysTick() {
    // A load and a store: the handler does not interrupt itself, and the
    // Cortex-M0 has no read-modify-write atomics.
    TICKS.store(TICKS.load(Relaxed) + 1, Relaxed);
    let v: Vec<u32> = (0..16).collect();
    let b = Box::new([7u8; 40]);
    if v.iter().sum::<u32>() == 120 && b.iter().all(|&x| x == 7) {
        TICK_ALLOCS_OK.store(TICK_ALLOCS_OK.load(Relaxed) + 1, Relaxed);
    }
}

/// Bytes of RAM given to the heap.
const HEAP_SIZE: usize = pick(64 * 1024, 8 * 1024);
/// Elements of the vector grown one at a time.
const VEC_LEN: usize = pick(3000, 400);
/// Numbers in the string, entries of the map, nodes of the list.
const STRING_NUMBERS: u32 = pick(500, 200) as u32;
const MAP_ENTRIES: u32 = pick(300, 60) as u32;
const LIST_NODES: u64 = pick(500, 100) as u64;

/// The heap's memory (any address: the region trims it to 8 bytes).
#[repr(C, align(8))]
struct Region([u8; HEAP_SIZE]);

/// Written only through the pointer handed to `HEAP.init`, once.
static mut REGION: Region = Region([0; HEAP_SIZE]);

/// Checks a condition; on failure prints where and exits with failure.
macro_rules! check {
    ($cond:expr) => {
        if !$cond {
            fail(file!(), line!(), stringify!($cond));
        }
    };
}

fn fail(file: &str, line: u32, what: &str) -> ! {
    hprintln!("FAIL: check failed at {}:{}: {}", file, line, what);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[entry]
fn main() -> ! {
    let start = core::ptr::addr_of_mut!(REGION) as *mut u8;
    // SAFETY: `REGION` is a static of `HEAP_SIZE` bytes that nothing but the
    // heap touches (this is the only place that names it, and it runs once,
    // before any allocation), so the range is valid, writable and exclusively
    // the heap's for the rest of the program.
    unsafe { HEAP.init(start, HEAP_SIZE) };
    let meta = HEAP.lock().os().metadata_bytes();
    check!(HEAP.lock().os().size() == HEAP_SIZE - meta);
    check!(HEAP.lock().os().free_bytes() == HEAP_SIZE - meta);
    hprintln!(
        "masu-core firmware on {}: heap of {} bytes at {:p}, region metadata {} bytes, allocator static {} bytes",
        BOARD,
        HEAP_SIZE,
        start,
        meta,
        core::mem::size_of_val(&HEAP)
    );

    metadata_overhead();
    // SysTick every 2,000 core cycles while the workload runs (not while a
    // phase fills the heap to the last byte); its handler allocates and
    // frees.
    let mut core_p = cortex_m::Peripherals::take().unwrap();
    core_p.SYST.set_clock_source(SystClkSource::Core);
    core_p.SYST.set_reload(2_000);
    core_p.SYST.clear_current();
    core_p.SYST.enable_interrupt();
    core_p.SYST.enable_counter();
    growing_vectors();
    strings();
    btree_map();
    boxes();
    core_p.SYST.disable_interrupt();
    core_p.SYST.disable_counter();
    let (ticks, ok) = (TICKS.load(Relaxed), TICK_ALLOCS_OK.load(Relaxed));
    hprintln!("interrupts: {} SysTick handlers allocated and freed through the heap", ok);
    check!(ticks > 0 && ok == ticks);
    print_stats("after workload");
    out_of_memory();
    print_stats("after out-of-memory");

    // Everything the workload allocated has been dropped.
    let s = HEAP.stats();
    check!(s.live_bytes == 0);
    check!(s.alloc_count == s.free_count);
    check!(s.peak_live_bytes > 0);
    // A forced collect gives every segment back to the region, which
    // coalesces them: the region is whole again.
    HEAP.collect(true);
    print_stats("after collect(true)");
    check!(HEAP.stats().reserved_bytes == 0);
    check!(region_whole());

    hprintln!("PASS: masu-core firmware workload");
    debug::exit(debug::EXIT_SUCCESS);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Fills the empty heap with 64-byte blocks until it says no and prints the
/// share of the region handed out (each block takes 8 more bytes of header;
/// the region's metadata sits at its top). Everything is freed and the
/// region is whole again afterwards.
fn metadata_overhead() {
    const MAX: usize = HEAP_SIZE / 64;
    let layout = Layout::new::<[u64; 8]>();
    let mut blocks = [core::ptr::null_mut::<u8>(); MAX];
    let mut n = 0;
    {
        let mut heap = HEAP.lock();
        while n < MAX {
            let p = heap.alloc(layout);
            if p.is_null() {
                break;
            }
            blocks[n] = p;
            n += 1;
        }
    }
    let s = HEAP.stats();
    check!(n > 0 && n < MAX);
    // Usable bytes: a block may have taken a tail too short to split off.
    check!(s.live_bytes >= n * 64 && s.live_bytes < n * 64 + 64);
    let handed = n * 64;
    hprintln!(
        "64-byte fill: {} blocks, {} of {} bytes handed out: efficiency {}.{} %",
        n,
        handed,
        HEAP_SIZE,
        handed * 100 / HEAP_SIZE,
        handed * 1000 / HEAP_SIZE % 10
    );
    // 64 of every 72 bytes, less the metadata (552 bytes of the 8 KiB
    // region on the micro:bit, 760 of 64 KiB on the M3).
    check!(handed * 100 / HEAP_SIZE >= pick(85, 80));
    {
        let mut heap = HEAP.lock();
        for &p in &blocks[..n] {
            // SAFETY: each pointer is a live block this heap handed out with
            // `layout` just above, freed exactly once here.
            unsafe { heap.dealloc(p, layout) };
        }
    }
    check!(HEAP.stats().live_bytes == 0);
    HEAP.collect(true);
    check!(region_whole());
}

/// Vectors grown one element at a time: each growth is a `realloc`, in place
/// within a size class or moved to a larger one.
fn growing_vectors() {
    let mut v: Vec<u32> = Vec::new();
    let mut moves = 0;
    let mut last = v.as_ptr();
    for i in 0..VEC_LEN as u32 {
        v.push(i.wrapping_mul(2_654_435_761));
        if v.as_ptr() != last {
            moves += 1;
            last = v.as_ptr();
        }
    }
    check!(v.len() == VEC_LEN);
    check!(v.capacity() >= VEC_LEN);
    // Growth doubles the capacity: the region grows the block in place when
    // the memory after it is free, else moves it.
    hprintln!("{}-element vector: {} of its growths moved it", VEC_LEN, moves);
    check!(moves <= 12);
    for (i, x) in v.iter().enumerate() {
        check!(*x == (i as u32).wrapping_mul(2_654_435_761));
    }
    // A direct block of the region.
    check!(HEAP.stats().direct_bytes >= 4 * VEC_LEN as isize);
    // Shrink: realloc to a smaller size keeps the contents.
    v.truncate(100);
    v.shrink_to_fit();
    check!(v.capacity() == 100);
    for (i, x) in v.iter().enumerate() {
        check!(*x == (i as u32).wrapping_mul(2_654_435_761));
    }
    drop(v);

    // Many small vectors growing side by side.
    let mut vs: Vec<Vec<u8>> = (0..16).map(|_| Vec::new()).collect();
    for round in 0..200usize {
        for (k, v) in vs.iter_mut().enumerate() {
            if round % (k + 1) == 0 {
                v.push((round + k) as u8);
            }
        }
    }
    for (k, v) in vs.iter().enumerate() {
        check!(v.len() == 200usize.div_ceil(k + 1));
        for (j, b) in v.iter().enumerate() {
            check!(*b == (j * (k + 1) + k) as u8);
        }
    }
}

fn strings() {
    let mut s = String::new();
    for i in 0..STRING_NUMBERS {
        write!(s, "{},", i).ok();
    }
    // 10 one-digit, 90 two-digit, the rest three-digit numbers, each with a comma.
    check!(s.len() == 10 * 2 + 90 * 3 + (STRING_NUMBERS as usize - 100) * 4);
    check!(s.starts_with("0,1,2,"));
    check!(s.ends_with(",198,199,") || s.ends_with(",498,499,"));
    let parsed: u32 = s
        .split(',')
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<u32>().unwrap_or(u32::MAX))
        .sum();
    check!(parsed == (STRING_NUMBERS - 1) * STRING_NUMBERS / 2);
    let upper: String = "masu measures memory into boxes".to_uppercase();
    check!(upper == "MASU MEASURES MEMORY INTO BOXES");
    let words: Vec<String> = upper.split(' ').map(String::from).collect();
    check!(words.len() == 5);
    check!(words.concat() == "MASUMEASURESMEMORYINTOBOXES");
}

fn btree_map() {
    let mut m: BTreeMap<u32, String> = BTreeMap::new();
    for i in 0..MAP_ENTRIES {
        let mut v = String::new();
        write!(v, "value-{}", i * 7).ok();
        m.insert(i * 7 % 311, v);
    }
    check!(m.len() == MAP_ENTRIES as usize);
    // Remove every key divisible by 3.
    let keys: Vec<u32> = m.keys().copied().filter(|k| k % 3 == 0).collect();
    for k in &keys {
        check!(m.remove(k).is_some());
    }
    check!(m.len() == MAP_ENTRIES as usize - keys.len());
    for (k, v) in &m {
        check!(k % 3 != 0);
        // The key was i * 7 % 311 for the i whose value is "value-{i*7}".
        let n: u32 = v["value-".len()..].parse().unwrap_or(u32::MAX);
        check!(n.is_multiple_of(7));
        check!(n % 311 == *k);
    }
    let mut prev = None;
    for k in m.keys() {
        check!(prev.is_none_or(|p| p < *k));
        prev = Some(*k);
    }
}

/// A singly linked list of boxes, a boxed array and boxed trait objects.
fn boxes() {
    struct Node {
        value: u64,
        next: Option<Box<Node>>,
    }
    let mut head: Option<Box<Node>> = None;
    for i in 0..LIST_NODES {
        head = Some(Box::new(Node {
            value: i * i,
            next: head.take(),
        }));
    }
    let mut n = 0u64;
    let mut cur = head.as_deref();
    while let Some(node) = cur {
        check!(node.value == (LIST_NODES - 1 - n) * (LIST_NODES - 1 - n));
        n += 1;
        cur = node.next.as_deref();
    }
    check!(n == LIST_NODES);
    // Drop iteratively (a recursive drop of 500 nodes would be fine too).
    while let Some(mut node) = head {
        head = node.next.take();
    }

    let big: Box<[u64; 128]> = Box::new([0x5a5a_5a5a_5a5a_5a5a; 128]);
    check!(big.iter().all(|&x| x == 0x5a5a_5a5a_5a5a_5a5a));
    let zeroed: Box<[u8]> = alloc::vec![0u8; pick(3000, 1000)].into_boxed_slice();
    check!(zeroed.iter().all(|&b| b == 0));

    let fs: Vec<Box<dyn Fn(u32) -> u32>> = (1..=8u32)
        .map(|k| Box::new(move |x| x * k) as Box<dyn Fn(u32) -> u32>)
        .collect();
    let total: u32 = fs.iter().map(|f| f(3)).sum();
    check!(total == 3 * 36);
}

/// Block size of the out-of-memory fill.
const CHUNK: usize = 256;
/// A block of most of the region.
const BIG: usize = HEAP_SIZE / 8 * 5;
/// More chunks than the region can hold.
const MAX_CHUNKS: usize = HEAP_SIZE / CHUNK;

/// Out of memory is a null return, seen as `Err` by fallible APIs, and the
/// heap works normally afterwards.
fn out_of_memory() {
    // More than the whole region: refused at once.
    let mut v: Vec<u8> = Vec::new();
    check!(v.try_reserve(HEAP_SIZE + 1).is_err());
    check!(v.try_reserve(HEAP_SIZE).is_err());
    check!(v.capacity() == 0);

    // Fill the heap with CHUNK-byte blocks until an allocation fails.
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    if chunks.try_reserve(MAX_CHUNKS).is_err() {
        fail(file!(), line!(), "reserve the chunk list");
    }
    // The list for the refill below, taken now while memory is plentiful.
    let mut refill: Vec<Vec<u8>> = Vec::new();
    if refill.try_reserve_exact(MAX_CHUNKS).is_err() {
        fail(file!(), line!(), "reserve the refill list");
    }
    let mut failed = false;
    for i in 0..MAX_CHUNKS {
        let mut c: Vec<u8> = Vec::new();
        if c.try_reserve_exact(CHUNK).is_err() {
            failed = true;
            break;
        }
        c.resize(CHUNK, i as u8);
        chunks.push(c);
    }
    check!(failed);
    let held = chunks.len();
    hprintln!(
        "out of memory after {} chunks of {} bytes; region free bytes {}",
        held,
        CHUNK,
        HEAP.lock().os().free_bytes()
    );
    // At least half of the region went to chunks before the heap said no.
    check!(held * CHUNK >= HEAP_SIZE / 2);
    // A growing vector hits the wall too, and keeps what it had.
    let mut grow: Vec<u8> = Vec::new();
    let mut grow_failed = false;
    for i in 0..HEAP_SIZE {
        if grow.try_reserve(1).is_err() {
            grow_failed = true;
            break;
        }
        grow.push(i as u8);
    }
    check!(grow_failed);
    for (i, b) in grow.iter().enumerate() {
        check!(*b == i as u8);
    }
    drop(grow);
    for (i, c) in chunks.iter().enumerate() {
        check!(c.len() == CHUNK && c.iter().all(|&b| b == i as u8));
    }

    // Free every other chunk: the same size fits again, at least that many.
    let mut index = 0;
    chunks.retain(|_| {
        index += 1;
        index % 2 == 1
    });
    let kept = chunks;
    let freed = held - kept.len();
    let mut again = 0;
    while refill.len() < refill.capacity() {
        let mut c: Vec<u8> = Vec::new();
        if c.try_reserve_exact(CHUNK).is_err() {
            break;
        }
        c.resize(CHUNK, 0xee);
        refill.push(c);
        again += 1;
    }
    hprintln!(
        "after freeing {} of {} chunks, {} chunks of {} bytes fit again",
        freed,
        held,
        again,
        CHUNK
    );
    check!(again >= freed);
    for (i, c) in kept.iter().enumerate() {
        check!(c.iter().all(|&b| b == (2 * i) as u8));
    }
    for c in &refill {
        check!(c.iter().all(|&b| b == 0xee));
    }
    drop(kept);
    drop(refill);

    // Everything is freed: a block of most of the region fits again (the
    // freed blocks the heap caches go back to the region first).
    check!(HEAP.stats().live_bytes == 0);
    print_stats("all freed");
    let mut big: Vec<u8> = Vec::new();
    check!(big.try_reserve_exact(BIG).is_ok());
    print_stats("big block in");
    big.resize(BIG, 0x77);
    check!(big.iter().all(|&b| b == 0x77));
}

/// True when nothing of the region is handed out.
fn region_whole() -> bool {
    let heap = HEAP.lock();
    heap.os().free_bytes() == heap.os().size()
}

fn print_stats(when: &str) {
    let s = HEAP.stats();
    let free = HEAP.lock().os().free_bytes();
    hprintln!(
        "masu stats ({}): live_bytes={} peak_live_bytes={} committed_bytes={} reserved_bytes={} region_free_bytes={} allocs={} frees={} segments={}",
        when,
        s.live_bytes,
        s.peak_live_bytes,
        s.committed_bytes,
        s.reserved_bytes,
        free,
        s.alloc_count,
        s.free_count,
        s.segments
    );
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    hprintln!("FAIL: HardFault at pc={:#010x}", ef.pc());
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("FAIL: panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
