//! `pause-burst`: what waking after an idle pause costs. A thread keeps a
//! small live set (2,000 blocks of 16–1024 B), then runs rounds: a burst
//! of blocks (half 16–1024 B, half 1–16 KiB, a few bytes of each written),
//! all freed again, then a pause in a sleep. An allocator that gives memory
//! back while the thread sleeps (masu's background purger, issue 11) makes
//! the next burst take its pages, mappings and faults again; this shows
//! how much slower the bursts after a pause run than the same bursts
//! without one.
//!
//! Reports the burst times: `secs` their sum, `median_ms`, `p90_ms`,
//! `max_ms` and `first_ms` (the first burst, on a heap that has never
//! held the burst), and `rss_pause_kb`, the resident set at the end of the
//! last pause. Not part of the comparison table (a tool, like `tiny`).
//! `pause_ms=0` gives the same bursts back to back.

use super::{between, phase, Args, Block, Report, Rng, Sum};
use std::time::{Duration, Instant};

/// One burst: `count` blocks made and freed; returns its seconds.
fn burst(rng: &mut Rng, count: usize, sum: &mut Sum) -> f64 {
    let t = Instant::now();
    let blocks: Vec<Block> = (0..count)
        .map(|_| {
            let size = if rng.u64(..2) == 0 {
                between(rng, 16, 1024)
            } else {
                between(rng, 1025, 16 << 10)
            };
            Block::new_touched(size, super::tag(rng))
        })
        .collect();
    for b in blocks {
        b.free(sum);
    }
    t.elapsed().as_secs_f64()
}

/// The `q`-quantile of sorted `v` (nearest rank).
fn quantile(v: &[f64], q: f64) -> f64 {
    let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

pub fn run(args: &Args) -> Report {
    let rounds = args.get("rounds", 12, 40) as usize;
    let count = args.get("blocks", 4_000, 4_000) as usize;
    let pause = Duration::from_millis(args.get("pause_ms", 300, 300));
    let mut rng = Rng::with_seed(args.get("seed", 0x9a05e, 0x9a05e));
    let mut sum = Sum::default();
    let live: Vec<Block> = (0..2_000)
        .map(|_| Block::new(between(&mut rng, 16, 1024), super::tag(&mut rng)))
        .collect();
    let mut times = Vec::with_capacity(rounds);
    let mut rss = 0;
    for _ in 0..rounds {
        times.push(burst(&mut rng, count, &mut sum));
        std::thread::sleep(pause);
        rss = phase("pause");
    }
    for b in live {
        b.free(&mut sum);
    }
    let first = times[0];
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let ms = |s: f64| format!("{:.3}", s * 1e3);
    Report {
        ops: (rounds * count) as u64,
        secs: times.iter().sum(),
        checksum: sum.checksum,
        corrupt: sum.corrupt,
        extra: vec![
            ("median_ms", ms(quantile(&sorted, 0.5))),
            ("p90_ms", ms(quantile(&sorted, 0.9))),
            ("max_ms", ms(sorted[sorted.len() - 1])),
            ("first_ms", ms(first)),
            ("rss_pause_kb", rss.to_string()),
        ],
    }
}
