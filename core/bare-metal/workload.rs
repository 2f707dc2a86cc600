//! The firmware workload that masu-core runs on every board model (the
//! Cortex-M crate and the RISC-V crate include this file): a 64-byte fill
//! that prints the efficiency it reached, growing vectors, strings, a
//! `BTreeMap`, boxes, and out of memory through fallible APIs, every result
//! checked. The including crate provides `HEAP` (a `LockedHeap` over a
//! `FixedRegion`), `HEAP_SIZE`, `pick(large, small)` (a count for its heap
//! size) and a module `sh` with its semihosting `debug` and `hprintln`.

use crate::sh::{debug, hprintln};
use crate::{pick, HEAP, HEAP_SIZE};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::fmt::Write;

/// Elements of the vector grown one at a time.
const VEC_LEN: usize = pick(3000, 400);
/// Numbers in the string, entries of the map, nodes of the list.
const STRING_NUMBERS: u32 = pick(500, 200) as u32;
const MAP_ENTRIES: u32 = pick(300, 60) as u32;
const LIST_NODES: u64 = pick(500, 100) as u64;

/// Checks a condition; on failure prints where and exits with failure.
macro_rules! check {
    ($cond:expr) => {
        if !$cond {
            $crate::workload::fail(file!(), line!(), stringify!($cond));
        }
    };
}

pub(crate) fn fail(file: &str, line: u32, what: &str) -> ! {
    hprintln!("FAIL: check failed at {}:{}: {}", file, line, what);
    debug::exit(debug::EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Fills the empty heap with 64-byte blocks until it says no and prints the
/// share of the region handed out (each block takes 8 more bytes of header;
/// the region's metadata sits at its top). Everything is freed and the
/// region is whole again afterwards.
/// Runs the whole workload on the heap over `start` (just given its
/// region) and exits through semihosting: prints the board's line, checks
/// the fresh region, fills it, then runs the collections phase through
/// `around` (which calls the closure it is given once: the Cortex-M
/// firmware takes SysTick interrupts meanwhile), runs out of memory, checks
/// that everything was freed and that `collect(true)` makes the region
/// whole, prints PASS and exits with success.
pub(crate) fn run(board: &str, start: *mut u8, around: impl FnOnce(&dyn Fn())) -> ! {
    let meta = HEAP.lock().os().metadata_bytes();
    check!(HEAP.lock().os().size() == HEAP_SIZE - meta);
    check!(region_whole());
    hprintln!(
        "masu-core firmware on {}: heap of {} bytes at {:p}, region metadata {} bytes, allocator static {} bytes",
        board,
        HEAP_SIZE,
        start,
        meta,
        core::mem::size_of_val(&HEAP)
    );
    metadata_overhead();
    around(&|| {
        growing_vectors();
        strings();
        btree_map();
        boxes();
    });
    print_stats("after workload");
    out_of_memory();
    print_stats("after out-of-memory");
    // Everything the workload allocated has been dropped.
    let s = HEAP.stats();
    check!(s.live_bytes == 0);
    check!(s.alloc_count == s.free_count);
    check!(s.peak_live_bytes > 0);
    // A forced collect gives the cached blocks and every segment back to
    // the region, which coalesces them: the region is whole again.
    HEAP.collect(true);
    print_stats("after collect(true)");
    check!(HEAP.stats().reserved_bytes == 0);
    check!(region_whole());
    hprintln!("PASS: masu-core firmware workload");
    debug::exit(debug::EXIT_SUCCESS);
    #[allow(clippy::empty_loop)]
    loop {}
}

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
    // 64 of every 72 bytes, less the metadata (280 bytes of the 8 KiB
    // region on the micro:bit, 400 of 64 KiB on the others).
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
pub(crate) fn region_whole() -> bool {
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

