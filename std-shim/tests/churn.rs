//! Thread churn: 10,000 short-lived threads (2,500 with `checks`), each
//! leaving live objects that another thread frees after it has exited. masu
//! is the global allocator, so everything (thread start-up included) goes
//! through it.
//!
//! An exited thread's heap must be adopted by a later thread, so the number
//! of heaps, the reserved address space and the resident memory stay bounded
//! by the number of threads alive at once, not by the number of threads ever
//! started. A heap (or its memory) kept per exited thread would break every
//! bound below by orders of magnitude: 10,000 heaps, ≥ 40 GB reserved.

use std::collections::VecDeque;

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

/// Threads started in all. With `checks` (whose fills of freed blocks,
/// checked byte patterns and quarantine run unoptimised in the test build:
/// 78 s for 10,000 threads) a quarter of them, which still breaks the
/// bounds below by orders of magnitude if a heap is kept per thread.
const THREADS: usize = if cfg!(feature = "checks") {
    2_500
} else {
    10_000
};
/// Threads alive at once.
const WAVE: usize = 4;
/// Waves whose objects stay alive before the main thread frees them.
const KEEP_WAVES: usize = 8;

/// The objects one thread left, with the thread's number.
type Left = (usize, Vec<Box<[u8]>>);

/// Resident memory of this process in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * masu::page_size()
}

/// What one thread leaves behind: small objects and one large one, each
/// filled with a byte that names it.
fn work(seed: usize) -> Vec<Box<[u8]>> {
    let mut keep = Vec::with_capacity(65);
    let mut scratch = Vec::new();
    for i in 0..64 {
        let n = 16 + (seed * 131 + i * 977) % 4000;
        let fill = (seed + i) as u8;
        keep.push(vec![fill; n].into_boxed_slice());
        // some garbage that the thread frees itself
        scratch.push(vec![0u8; n / 2 + 1]);
    }
    keep.push(vec![seed as u8; 300 << 10].into_boxed_slice());
    drop(scratch);
    keep
}

fn check(seed: usize, objects: Vec<Box<[u8]>>) {
    for (i, o) in objects.iter().enumerate() {
        let fill = if i == 64 {
            seed as u8
        } else {
            (seed + i) as u8
        };
        // Both ends and the middle (a full scan is slow in debug builds).
        let n = o.len();
        for at in [0, n / 2, n - 1] {
            assert_eq!(o[at], fill, "object {i} of thread {seed} corrupted at {at}");
        }
    }
}

#[test]
fn ten_thousand_threads_leave_live_objects() {
    let mut pending: VecDeque<Vec<Left>> = VecDeque::new();
    let mut warm_rss = 0;
    let mut warm_reserved = 0;
    let mut max_reserved = 0;
    let mut started = 0;
    while started < THREADS {
        let wave: Vec<_> = (0..WAVE)
            .map(|k| {
                let seed = started + k;
                std::thread::spawn(move || (seed, work(seed)))
            })
            .collect();
        started += WAVE;
        let results: Vec<_> = wave.into_iter().map(|h| h.join().unwrap()).collect();
        pending.push_back(results);
        // Free the objects of old waves: their threads are long gone.
        while pending.len() > KEEP_WAVES {
            for (seed, objects) in pending.pop_front().unwrap() {
                check(seed, objects);
            }
        }
        max_reserved = max_reserved.max(masu::os_stats().reserved_bytes);
        if started == 500 {
            warm_rss = rss();
            warm_reserved = masu::os_stats().reserved_bytes;
        }
    }
    for wave in pending.drain(..) {
        for (seed, objects) in wave {
            check(seed, objects);
        }
    }
    let end_rss = rss();
    let pool = masu::pool_stats();
    let os = masu::os_stats();
    println!(
        "churn: {THREADS} threads; heaps made {}, adoptions {}, thread exits {}; \
         reserved max {:.1} MiB (after 500 threads {:.1} MiB); committed now {:.1} MiB, \
         peak {:.1} MiB; RSS after 500 threads {:.1} MiB, at the end {:.1} MiB",
        pool.heaps,
        pool.adoptions,
        pool.thread_exits,
        max_reserved as f64 / (1 << 20) as f64,
        warm_reserved as f64 / (1 << 20) as f64,
        os.committed_bytes as f64 / (1 << 20) as f64,
        os.peak_committed_bytes as f64 / (1 << 20) as f64,
        warm_rss as f64 / (1 << 20) as f64,
        end_rss as f64 / (1 << 20) as f64,
    );
    assert!(pool.thread_exits >= THREADS as u64);
    assert!(
        pool.adoptions >= (THREADS - 64) as u64,
        "exited threads' heaps were not adopted: {pool:?}"
    );
    // The test harness's threads and this one hold heaps too.
    assert!(pool.heaps <= 4 * WAVE + 8, "one heap per thread: {pool:?}");
    // Reserved memory is bounded by the heaps alive at once, not by the
    // threads that ever ran: a leak per thread would pass 2,500 x 4 MiB.
    // (How many heaps overlap depends on scheduling; under load it rises.)
    let bound = (256usize << 20).max(pool.heaps * (16 << 20));
    assert!(
        max_reserved <= bound,
        "reserved grew to {max_reserved} bytes with {} heaps: {pool:?}",
        pool.heaps
    );
    assert!(
        end_rss <= warm_rss + (128 << 20),
        "RSS grew from {warm_rss} to {end_rss} bytes"
    );
}
