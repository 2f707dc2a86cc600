//! `realloc-grow`: one thread builds vectors (`Vec<u64>`, up to 64 Ki
//! elements) and strings (up to 64 KiB, pushed in pieces of 1–16 bytes) by
//! pushing, so they grow through `realloc`; the 32 most recent stay live,
//! each new one replaces a random one of them. Lengths are log-uniform.
//! Operations are pushes.

use super::{fold, log_uniform, secs, Args, Report, Rng, Sum};
use std::time::Instant;

enum Grown {
    Vec(Vec<u64>),
    Str(String),
}

impl Grown {
    /// Checks the first, middle and last elements and folds the length.
    fn check(&self, sum: &mut Sum) {
        match self {
            Grown::Vec(v) => {
                for i in [0, v.len() / 2, v.len() - 1] {
                    sum.corrupt += (v[i] != i as u64 * 3 + 1) as u64;
                }
                sum.checksum =
                    sum.checksum
                        .wrapping_add(fold(v.len() * 8, v[0] as u8, v[v.len() - 1] as u8));
            }
            Grown::Str(s) => {
                let b = s.as_bytes();
                for i in [0, b.len() / 2, b.len() - 1] {
                    sum.corrupt += (b[i] != b'a' + (i % 26) as u8) as u64;
                }
                sum.checksum = sum
                    .checksum
                    .wrapping_add(fold(b.len(), b[0], b[b.len() - 1]));
            }
        }
    }
}

const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz";

pub fn run(args: &Args) -> Report {
    let rounds = args.get("rounds", 20_000, 100_000);
    let live = args.get("live", 32, 32) as usize;
    let mut rng = Rng::with_seed(args.get("seed", 0x9e0, 0x9e0));
    let mut sum = Sum::default();
    let mut set: Vec<Option<Grown>> = (0..live).map(|_| None).collect();
    let mut ops = 0u64;
    let t = Instant::now();
    for _ in 0..rounds {
        let len = log_uniform(&mut rng, 1, 1 << 16);
        let g = if rng.u64(..2) == 0 {
            let mut v = Vec::new();
            for i in 0..len {
                v.push(i as u64 * 3 + 1);
            }
            ops += len as u64;
            Grown::Vec(v)
        } else {
            let mut s = String::new();
            while s.len() < len {
                let at = s.len() % 26;
                let n = (1 + rng.u64(..16) as usize).min(len - s.len());
                s.push_str(&ALPHABET[at..at + n]);
                ops += 1;
            }
            Grown::Str(s)
        };
        let i = rng.u64(..live as u64) as usize;
        if let Some(old) = set[i].replace(g) {
            old.check(&mut sum);
        }
    }
    for g in set.into_iter().flatten() {
        g.check(&mut sum);
    }
    Report {
        ops,
        secs: secs(t),
        checksum: sum.checksum,
        corrupt: sum.corrupt,
        extra: Vec::new(),
    }
}
