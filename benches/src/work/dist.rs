//! `dist`: one thread, a live working set of 400 slots; each operation frees
//! a random slot and refills it with a new block: 80 % of sizes uniform in
//! 16–256 B, 15 % in 257–2048 B, 5 % in 2049–32768 B; every block is filled
//! when allocated. Fixed seed. 20 M operations (quick: 3 M).
//!
//! `dist-touch`: the same operations, but each new block gets only its first
//! and last byte written (and one byte per 4 KiB between), so the time is
//! mostly the allocator's own rather than that of filling whole blocks.

use super::{between, secs, tag, Args, Block, Report, Rng, Sum};
use std::time::Instant;

/// A size of the dist mix.
pub fn size(rng: &mut Rng) -> usize {
    let r = rng.u64(..100);
    if r < 80 {
        between(rng, 16, 256)
    } else if r < 95 {
        between(rng, 257, 2048)
    } else {
        between(rng, 2049, 32768)
    }
}

/// `dist`: every block filled.
pub fn run(args: &Args) -> Report {
    run_with(args, Block::new)
}

/// `dist-touch`: a few bytes of each block written.
pub fn run_touch(args: &Args) -> Report {
    run_with(args, Block::new_touched)
}

fn run_with(args: &Args, make: fn(usize, u8) -> Block) -> Report {
    let ops = args.get("ops", 3_000_000, 20_000_000);
    let slots = args.get("slots", 400, 400) as usize;
    let mut rng = Rng::with_seed(args.get("seed", 0xd157, 0xd157));
    let mut sum = Sum::default();
    let mut live: Vec<Block> = (0..slots)
        .map(|_| {
            let s = size(&mut rng);
            make(s, tag(&mut rng))
        })
        .collect();
    // `snapshot=OP`: print masu's report after operation OP (0: never).
    let snapshot = args.get("snapshot", 0, 0);
    let t = Instant::now();
    for op in 0..ops {
        if op == snapshot && snapshot != 0 {
            super::masu_snapshot();
        }
        let i = rng.u64(..slots as u64) as usize;
        let s = size(&mut rng);
        let fresh = make(s, tag(&mut rng));
        std::mem::replace(&mut live[i], fresh).free(&mut sum);
    }
    let secs = secs(t);
    for b in live {
        b.free(&mut sum);
    }
    Report {
        ops,
        secs,
        checksum: sum.checksum,
        corrupt: sum.corrupt,
        extra: Vec::new(),
    }
}
