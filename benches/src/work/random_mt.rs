//! `random-mt`: 4 threads, each with 2,000 slots; an operation picks a slot:
//! an empty one gets a block of 8 B–16 KiB (log-uniform), a full one is
//! reallocated to another such size (1 in 4), handed to another thread to
//! free (1 in 16) or freed. Slots are picked at random, so blocks die in
//! random order.

use super::{log_uniform, seed, tag, timed_threads, Args, Block, Inboxes, Report, Rng, Sum};
use std::sync::Barrier;

const BATCH: usize = 32;

pub fn run(args: &Args) -> Report {
    let threads = args.get("threads", 4, 4).max(2) as usize;
    let ops = args.get("ops", 400_000, 3_000_000);
    let slots = args.get("slots", 2_000, 2_000) as usize;
    let inboxes = Inboxes::new(threads);
    let done = Barrier::new(threads);
    let (sum, secs) = timed_threads(threads, |me, start| {
        let mut rng = Rng::with_seed(seed(3, me as u64));
        let mut sum = Sum::default();
        let mut set: Vec<Option<Block>> = (0..slots).map(|_| None).collect();
        let mut out: Vec<Vec<Block>> = (0..threads).map(|_| Vec::new()).collect();
        start.wait();
        for op in 0..ops {
            let i = rng.u64(..slots as u64) as usize;
            match set[i].take() {
                None => {
                    let size = log_uniform(&mut rng, 8, 16 << 10);
                    set[i] = Some(Block::new(size, tag(&mut rng)));
                }
                Some(mut b) => match rng.u64(..16) {
                    0..=3 => {
                        b.realloc(log_uniform(&mut rng, 8, 16 << 10), &mut sum.corrupt);
                        set[i] = Some(b);
                    }
                    4 => {
                        let to = (me + 1 + rng.u64(..threads as u64 - 1) as usize) % threads;
                        out[to].push(b);
                        if out[to].len() == BATCH {
                            inboxes.send(to, &mut out[to]);
                        }
                    }
                    _ => b.free(&mut sum),
                },
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
        for b in set.into_iter().flatten() {
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
