//! `producer-consumer`: half the threads (2 of 4) only allocate: blocks of
//! 16–1024 B, filled, sent in batches of 256 through a bounded channel (8
//! batches deep) to their consumer; the other half only free what they
//! receive. Every block is allocated by one thread and freed by another.

use super::{between, seed, tag, timed_threads, Args, Block, Report, Rng, Sum};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

const BATCH: usize = 256;

pub fn run(args: &Args) -> Report {
    let pairs = (args.get("threads", 4, 4) / 2).max(1) as usize;
    let per_producer = args.get("ops", 1_500_000, 16_000_000);
    let mut senders: Vec<Option<SyncSender<Vec<Block>>>> = Vec::new();
    let mut receivers: Vec<Option<Receiver<Vec<Block>>>> = Vec::new();
    for _ in 0..pairs {
        let (tx, rx) = sync_channel(8);
        senders.push(Some(tx));
        receivers.push(Some(rx));
    }
    let senders = Mutex::new(senders);
    let receivers = Mutex::new(receivers);
    let (sum, secs) = timed_threads(2 * pairs, |me, start| {
        let mut sum = Sum::default();
        if me < pairs {
            let tx = senders.lock().unwrap()[me].take().unwrap();
            let mut rng = Rng::with_seed(seed(2, me as u64));
            start.wait();
            let mut batch = Vec::with_capacity(BATCH);
            for _ in 0..per_producer {
                batch.push(Block::new(between(&mut rng, 16, 1024), tag(&mut rng)));
                if batch.len() == BATCH {
                    tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .expect("consumer alive");
                }
            }
            if !batch.is_empty() {
                tx.send(batch).expect("consumer alive");
            }
        } else {
            let rx = receivers.lock().unwrap()[me - pairs].take().unwrap();
            start.wait();
            for batch in rx {
                for b in batch {
                    b.free(&mut sum);
                }
            }
        }
        sum
    });
    Report {
        ops: per_producer * pairs as u64,
        secs,
        checksum: sum.checksum,
        corrupt: sum.corrupt,
        extra: vec![("threads", (2 * pairs).to_string())],
    }
}
