//! `burst-idle`: keep a small live set (2,000 blocks of 16–1024 B), then
//! build up 1 GiB (quick: 256 MiB) of small (16–1024 B) and medium
//! (1–64 KiB) blocks, each filled, free them all in random order, and idle
//! for 2 s (quick: 0.6 s) in a sleep, the program still running: does the
//! allocator give the burst back while nothing allocates?
//!
//! A `phase idle` line with the resident set is printed every 50 ms of the
//! idle (reading `/proc/self/statm` and printing allocate nothing, so the
//! idle runs no allocator code). `secs` is the burst and the frees.

use super::{between, phase, secs, tag, Args, Block, Report, Rng, Sum};
use std::time::{Duration, Instant};

pub fn run(args: &Args) -> Report {
    let burst = args.get("burst_mib", 256, 1024) << 20;
    let idle_ms = args.get("idle_ms", 600, 2_000);
    let mut rng = Rng::with_seed(args.get("seed", 0xb0257, 0xb0257));
    let mut sum = Sum::default();
    let base: Vec<Block> = (0..2_000)
        .map(|_| Block::new(between(&mut rng, 16, 1024), tag(&mut rng)))
        .collect();
    let pre = phase("pre");
    let t = Instant::now();
    let mut blocks = Vec::new();
    let mut bytes = 0u64;
    while bytes < burst {
        let size = if rng.u64(..2) == 0 {
            between(&mut rng, 16, 1024)
        } else {
            between(&mut rng, 1025, 64 << 10)
        };
        bytes += size as u64;
        blocks.push(Block::new(size, tag(&mut rng)));
    }
    let count = blocks.len() as u64;
    let peak = phase("burst");
    // Free in random order (Fisher-Yates).
    for i in (1..blocks.len()).rev() {
        let j = rng.u64(..i as u64 + 1) as usize;
        blocks.swap(i, j);
    }
    for b in blocks {
        b.free(&mut sum);
    }
    let secs = secs(t);
    let freed = phase("freed");
    // `snapshot=1`: print masu's report (libmasu only) right after the frees.
    if args.get("snapshot", 0, 0) != 0 {
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
