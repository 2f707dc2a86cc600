//! `large`: one thread, 20 slots of blocks of 5–25 MiB; an operation frees
//! a random slot (if it holds a block) and puts a new block there, touching
//! one byte in every 4 KiB of it (so all of it becomes resident).

use super::{between, secs, tag, Args, Block, Report, Rng, Sum};
use std::time::Instant;

const MIB: usize = 1 << 20;

pub fn run(args: &Args) -> Report {
    let ops = args.get("ops", 100, 600);
    let slots = args.get("slots", 20, 20) as usize;
    let mut rng = Rng::with_seed(args.get("seed", 0x1a7, 0x1a7));
    let mut sum = Sum::default();
    let mut set: Vec<Option<Block>> = (0..slots).map(|_| None).collect();
    let t = Instant::now();
    for _ in 0..ops {
        let i = rng.u64(..slots as u64) as usize;
        if let Some(b) = set[i].take() {
            b.free(&mut sum);
        }
        let size = between(&mut rng, 5 * MIB, 25 * MIB);
        set[i] = Some(Block::new_touched(size, tag(&mut rng)));
    }
    for b in set.into_iter().flatten() {
        b.free(&mut sum);
    }
    Report {
        ops,
        secs: secs(t),
        checksum: sum.checksum,
        corrupt: sum.corrupt,
        extra: Vec::new(),
    }
}
