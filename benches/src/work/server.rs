//! `server`: several threads (4) each keep a live set of blocks of 8–1000 B
//! (10,000 per thread) and replace a random one per operation, the way
//! request handlers replace session state. One old block in 8 is handed to
//! another thread, which frees it (in batches of 64, through a mutex-guarded
//! inbox, drained every 64 operations).

use super::{between, seed, tag, timed_threads, Args, Block, Inboxes, Report, Rng, Sum};
use std::sync::Barrier;

const BATCH: usize = 64;

pub fn run(args: &Args) -> Report {
    let threads = args.get("threads", 4, 4).max(2) as usize;
    let ops = args.get("ops", 600_000, 4_000_000);
    let live = args.get("live", 10_000, 10_000) as usize;
    let inboxes = Inboxes::new(threads);
    let done = Barrier::new(threads);
    // `snapshot=OP`: thread 0 prints masu's report after its operation OP.
    let snapshot = args.get("snapshot", 0, 0);
    let (sum, secs) = timed_threads(threads, |me, start| {
        let mut rng = Rng::with_seed(seed(1, me as u64));
        let mut sum = Sum::default();
        let mut set: Vec<Block> = (0..live)
            .map(|_| Block::new(between(&mut rng, 8, 1000), tag(&mut rng)))
            .collect();
        let mut out: Vec<Vec<Block>> = (0..threads).map(|_| Vec::new()).collect();
        start.wait();
        for op in 0..ops {
            if me == 0 && op == snapshot && snapshot != 0 {
                super::masu_snapshot();
            }
            let i = rng.u64(..live as u64) as usize;
            let fresh = Block::new(between(&mut rng, 8, 1000), tag(&mut rng));
            let old = std::mem::replace(&mut set[i], fresh);
            if rng.u64(..8) == 0 {
                let to = (me + 1 + rng.u64(..threads as u64 - 1) as usize) % threads;
                out[to].push(old);
                if out[to].len() == BATCH {
                    inboxes.send(to, &mut out[to]);
                }
            } else {
                old.free(&mut sum);
            }
            if op % 64 == 63 {
                inboxes.drain(me, &mut sum);
            }
        }
        for (to, batch) in out.iter_mut().enumerate() {
            inboxes.send(to, batch);
        }
        done.wait();
        inboxes.drain(me, &mut sum);
        for b in set {
            b.free(&mut sum);
        }
        sum
    });
    Report {
        ops: ops * threads as u64,
        secs,
        checksum: sum.checksum,
        corrupt: sum.corrupt,
        extra: vec![("threads", threads.to_string())],
    }
}
