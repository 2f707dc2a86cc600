//! `burst-idle`: keep a small live set (2,000 blocks of 16–1024 B), then
//! build up 1 GiB (quick: 256 MiB) of small (16–1024 B) and medium
//! (1–64 KiB) blocks, each filled, free them all in random order, and idle
//! for 2 s (quick: 0.6 s) in a sleep, the program still running: does the
//! allocator give the burst back while nothing allocates?
//!
//! A `phase idle` line with the resident set is printed every 50 ms of the
//! idle (reading `/proc/self/statm` and printing allocate nothing, so the
//! idle runs no allocator code). `secs` is the burst and the frees.
//!
//! `threads=2`: issue 11's two-thread variant. Two threads each build half
//! the burst, hand half of their blocks to the other, free what they kept
//! and what they were handed (half of each thread's blocks are freed by the
//! other thread), and stay alive, blocked, through the idle: does the
//! allocator give back what live threads freed while they make no call?

use super::{between, phase, secs, tag, Args, Block, Report, Rng, Sum};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

/// Blocks of the burst's mix (half 16–1024 B, half 1–64 KiB), each filled,
/// until `bytes` are allocated.
fn build(rng: &mut Rng, bytes: u64) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut total = 0u64;
    while total < bytes {
        let size = if rng.u64(..2) == 0 {
            between(rng, 16, 1024)
        } else {
            between(rng, 1025, 64 << 10)
        };
        total += size as u64;
        blocks.push(Block::new(size, tag(rng)));
    }
    blocks
}

/// Frees `blocks` in random order (Fisher-Yates).
fn free_shuffled(rng: &mut Rng, mut blocks: Vec<Block>, sum: &mut Sum) {
    for i in (1..blocks.len()).rev() {
        let j = rng.u64(..i as u64 + 1) as usize;
        blocks.swap(i, j);
    }
    for b in blocks {
        b.free(sum);
    }
}

/// The burst on this thread: (blocks allocated, peak resident set).
fn burst_here(rng: &mut Rng, bytes: u64, sum: &mut Sum) -> (u64, u64) {
    let blocks = build(rng, bytes);
    let count = blocks.len() as u64;
    let peak = phase("burst");
    free_shuffled(rng, blocks, sum);
    (count, peak)
}

/// The two-thread burst: returns (blocks allocated, peak resident set, the
/// resident set once both threads run, before they allocate, the threads'
/// sums, and a sender per thread that lets it end).
fn burst_in_two_threads(seed: u64, bytes: u64) -> (u64, u64, u64, Sum, Vec<mpsc::Sender<()>>) {
    let ready = Arc::new(Barrier::new(3));
    let go = Arc::new(Barrier::new(3));
    let built = Arc::new(Barrier::new(3));
    let freed = Arc::new(Barrier::new(3));
    let (to0, from1) = mpsc::channel::<Vec<Block>>();
    let (to1, from0) = mpsc::channel::<Vec<Block>>();
    let (done_tx, done_rx) = mpsc::channel::<(u64, Sum)>();
    let mut ends = Vec::new();
    for (id, give, take) in [(0u64, to1, from1), (1, to0, from0)] {
        let (ready, go) = (ready.clone(), go.clone());
        let (built, freed, done_tx) = (built.clone(), freed.clone(), done_tx.clone());
        let (end_tx, end_rx) = mpsc::channel::<()>();
        ends.push(end_tx);
        std::thread::spawn(move || {
            ready.wait();
            go.wait();
            let mut rng = Rng::with_seed(seed ^ (id + 1).wrapping_mul(0x9e37_79b9));
            let mut sum = Sum::default();
            let mut mine = build(&mut rng, bytes / 2);
            let count = mine.len() as u64;
            let theirs = mine.split_off(mine.len() / 2);
            give.send(theirs).expect("the other thread is alive");
            let other = take.recv().expect("the other thread sends its half");
            built.wait();
            free_shuffled(&mut rng, mine, &mut sum);
            free_shuffled(&mut rng, other, &mut sum);
            done_tx.send((count, sum)).expect("the main thread waits");
            freed.wait();
            // Alive and blocked, making no allocator call, until the end.
            let _ = end_rx.recv();
        });
    }
    ready.wait();
    let running = phase("threads");
    go.wait();
    built.wait();
    let peak = phase("burst");
    freed.wait();
    let mut count = 0;
    let mut sum = Sum::default();
    for _ in 0..2 {
        let (c, s) = done_rx.recv().expect("both threads report");
        count += c;
        sum.add(s);
    }
    (count, peak, running, sum, ends)
}

pub fn run(args: &Args) -> Report {
    let burst = args.get("burst_mib", 256, 1024) << 20;
    let idle_ms = args.get("idle_ms", 600, 2_000);
    let threads = args.get("threads", 1, 1);
    let seed = args.get("seed", 0xb0257, 0xb0257);
    let mut rng = Rng::with_seed(seed);
    let mut sum = Sum::default();
    let base: Vec<Block> = (0..2_000)
        .map(|_| Block::new(between(&mut rng, 16, 1024), tag(&mut rng)))
        .collect();
    let pre = phase("pre");
    let t = Instant::now();
    let (count, peak, running, ends) = if threads == 2 {
        let (count, peak, running, s, ends) = burst_in_two_threads(seed, burst);
        sum.add(s);
        (count, peak, running, ends)
    } else {
        let (count, peak) = burst_here(&mut rng, burst, &mut sum);
        (count, peak, pre, Vec::new())
    };
    let secs = secs(t);
    let freed = phase("freed");
    // `snapshot=1`: print masu's report (libmasu only) right after the frees;
    // `snapshot=2`: at the end of the idle, before the threads end.
    let snapshot = args.get("snapshot", 0, 0);
    if snapshot == 1 {
        super::masu_snapshot();
    }
    let idle_start = Instant::now();
    let target = pre + pre / 10;
    let mut recovered_ms = None;
    let mut at_1s = None;
    let mut last = freed;
    if freed <= target {
        recovered_ms = Some(0.0);
    }
    while idle_start.elapsed() < Duration::from_millis(idle_ms) {
        std::thread::sleep(Duration::from_millis(50));
        last = phase("idle");
        let ms = idle_start.elapsed().as_secs_f64() * 1e3;
        if recovered_ms.is_none() && last <= target {
            recovered_ms = Some(ms);
        }
        if at_1s.is_none() && ms >= 1000.0 {
            at_1s = Some(last);
        }
    }
    if snapshot == 2 {
        super::masu_snapshot();
    }
    for e in ends {
        let _ = e.send(());
    }
    for b in base {
        b.free(&mut sum);
    }
    phase("end");
    Report {
        ops: count,
        secs,
        checksum: sum.checksum,
        corrupt: sum.corrupt,
        extra: vec![
            ("rss_pre_kb", pre.to_string()),
            ("rss_threads_kb", running.to_string()),
            ("rss_peak_kb", peak.to_string()),
            ("rss_freed_kb", freed.to_string()),
            ("rss_idle_1s_kb", at_1s.unwrap_or(last).to_string()),
            ("rss_idle_end_kb", last.to_string()),
            (
                "recovered_ms",
                recovered_ms.map_or_else(|| "never".to_string(), |m| format!("{m:.0}")),
            ),
        ],
    }
}
