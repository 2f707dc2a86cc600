//! `thread-churn`: waves of 4 short-lived threads (5,000 threads in all;
//! quick: 1,200). Each allocates 256 blocks of 16–2048 B, frees 200 of them,
//! frees every block earlier threads left behind, and exits holding the
//! other 56 live, left in a shared pool for later threads to free.

use super::{between, secs, seed, tag, Args, Block, Report, Rng, SharedSum, Sum};
use std::sync::Mutex;
use std::time::Instant;

pub fn run(args: &Args) -> Report {
    let total = args.get("threads", 1_200, 5_000);
    let wave = args.get("wave", 4, 4);
    let per_thread = args.get("blocks", 256, 256) as usize;
    let kept = per_thread - per_thread * 200 / 256;
    let pool: Mutex<Vec<Block>> = Mutex::new(Vec::new());
    let shared = SharedSum::default();
    let t = Instant::now();
    let mut started = 0;
    while started < total {
        let n = wave.min(total - started);
        std::thread::scope(|s| {
            for k in 0..n {
                let (pool, shared) = (&pool, &shared);
                let index = started + k;
                s.spawn(move || {
                    let mut rng = Rng::with_seed(seed(5, index));
                    let mut sum = Sum::default();
                    let mut mine: Vec<Block> = (0..per_thread)
                        .map(|_| Block::new(between(&mut rng, 16, 2048), tag(&mut rng)))
                        .collect();
                    while mine.len() > kept {
                        let i = rng.u64(..mine.len() as u64) as usize;
                        mine.swap_remove(i).free(&mut sum);
                    }
                    let left = std::mem::take(&mut *pool.lock().unwrap());
                    for b in left {
                        b.free(&mut sum);
                    }
                    pool.lock().unwrap().append(&mut mine);
                    shared.add(sum);
                });
            }
        });
        started += n;
    }
    let mut sum = Sum::default();
    for b in std::mem::take(&mut *pool.lock().unwrap()) {
        b.free(&mut sum);
    }
    let secs = secs(t);
    sum.add_shared(&shared);
    Report {
        ops: total * per_thread as u64,
        secs,
        checksum: sum.checksum,
        corrupt: sum.corrupt,
        extra: vec![("threads", total.to_string())],
    }
}
