//! Multi-threaded stress: 8 threads, 1,048,576 allocations of random sizes
//! (1 B – 64 KiB, log-uniform) and random alignments (1 B – 4 KiB), a third
//! of the frees done by another thread than the allocating one (blocks pass
//! through bounded inboxes), and threads that exit with live blocks which
//! other threads free afterwards. Every block is tagged at both ends and the
//! tags are checked when it is freed, so overlapping blocks are caught.
//!
//! masu is used explicitly (not as the global allocator), so its counters see
//! exactly this test's blocks: afterwards every heap must be empty, and after
//! a forced collection every segment must be back with the OS.

use masu::Masu;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Instant;

static M: Masu = Masu::new();

const THREADS: usize = 8;
const PER_THREAD: usize = 1 << 17; // 131,072 × 8 = 1,048,576 allocations
const LOCAL_LIVE: usize = 512;
/// Blocks waiting in one thread's inbox at most (a thread that is not
/// scheduled for a while must not make the others pile up memory).
const INBOX_MAX: usize = 256;

use fastrand::Rng;

/// A live block: where, its layout, who allocated it, and its tag.
struct Block {
    ptr: usize,
    layout: Layout,
    owner: usize,
    tag: u64,
}

fn random_layout(rng: &mut Rng) -> Layout {
    let band = rng.u64(..17) as u32; // 2^0 .. 2^16
    let size = ((1u64 << band) + rng.u64(..1u64 << band)).clamp(1, 65536) as usize;
    let align = match rng.u64(..8) {
        0..=4 => 1usize << rng.u64(..5), // 1..16
        5 | 6 => 1usize << rng.u64(..9), // up to 256
        _ => 1usize << rng.u64(..13),    // up to 4096
    };
    Layout::from_size_align(size, align).unwrap()
}

fn alloc_block(rng: &mut Rng, owner: usize) -> Block {
    let layout = random_layout(rng);
    // SAFETY: a valid, non-zero-size layout.
    let p = unsafe { M.alloc(layout) };
    assert!(!p.is_null(), "out of memory for {layout:?}");
    assert_eq!(p as usize % layout.align(), 0, "misaligned for {layout:?}");
    let tag = rng.u64(..);
    // Mark the first and last bytes (and the first word when the block has
    // room for it and the last byte apart), so an overlap with another live
    // block is seen when either is freed.
    // SAFETY: the block holds `layout.size()` bytes.
    unsafe {
        let n = layout.size();
        if n >= 16 {
            (p as *mut u64).write_unaligned(tag);
        } else {
            p.write(tag as u8);
        }
        if n > 1 {
            p.add(n - 1).write((tag >> 8) as u8);
        }
    }
    Block {
        ptr: p as usize,
        layout,
        owner,
        tag,
    }
}

fn free_block(b: Block, me: usize, cross: &AtomicU64) {
    let p = b.ptr as *mut u8;
    // SAFETY: the block is live and ours to free; it holds `size` bytes.
    unsafe {
        let n = b.layout.size();
        assert_eq!(p.read(), b.tag as u8, "first byte of {p:?} overwritten");
        if n > 1 {
            assert_eq!(
                p.add(n - 1).read(),
                (b.tag >> 8) as u8,
                "last byte of {p:?} overwritten"
            );
        }
        if n >= 16 {
            assert_eq!((p as *const u64).read_unaligned(), b.tag);
        }
        M.dealloc(p, b.layout);
    }
    if b.owner != me {
        cross.fetch_add(1, Relaxed);
    }
}

#[test]
fn eight_threads_a_million_allocations() {
    let inboxes: Arc<Vec<Mutex<Vec<Block>>>> =
        Arc::new((0..THREADS).map(|_| Mutex::new(Vec::new())).collect());
    let leftovers: Arc<Mutex<Vec<Block>>> = Arc::new(Mutex::new(Vec::new()));
    let cross = Arc::new(AtomicU64::new(0));
    let frees = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for me in 0..THREADS {
        let (inboxes, leftovers, cross, frees, barrier, done) = (
            inboxes.clone(),
            leftovers.clone(),
            cross.clone(),
            frees.clone(),
            barrier.clone(),
            done.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let mut rng =
                Rng::with_seed(0x9e37_79b9_7f4a_7c15 ^ ((me as u64 + 1) * 0x1234_5678_9abc));
            let mut live: Vec<Block> = Vec::with_capacity(LOCAL_LIVE + 1);
            let drain = |me: usize| {
                let mine = std::mem::take(&mut *inboxes[me].lock().unwrap());
                for b in mine {
                    free_block(b, me, &cross);
                    frees.fetch_add(1, Relaxed);
                }
            };
            barrier.wait();
            for i in 0..PER_THREAD {
                live.push(alloc_block(&mut rng, me));
                if live.len() > LOCAL_LIVE {
                    let victim = live.swap_remove(rng.u64(..live.len() as u64) as usize);
                    if rng.u64(..3) == 0 {
                        // Hand it to another thread, which frees it. A full
                        // inbox makes the sender wait (draining its own inbox
                        // meanwhile), so memory cannot pile up and the
                        // frees really happen on the receiving thread.
                        let to = (me + 1 + rng.u64(..THREADS as u64 - 1) as usize) % THREADS;
                        let mut victim = Some(victim);
                        while let Some(v) = victim.take() {
                            let mut inbox = inboxes[to].lock().unwrap();
                            if inbox.len() < INBOX_MAX {
                                inbox.push(v);
                            } else {
                                drop(inbox);
                                victim = Some(v);
                                drain(me);
                                std::thread::yield_now();
                            }
                        }
                    } else {
                        free_block(victim, me, &cross);
                        frees.fetch_add(1, Relaxed);
                    }
                }
                if i % 64 == 0 {
                    drain(me);
                }
            }
            // Keep serving the inbox until every thread is done sending.
            done.fetch_add(1, Relaxed);
            while done.load(Relaxed) < THREADS {
                drain(me);
                std::thread::yield_now();
            }
            drain(me);
            // Exit with live blocks: half go to whoever frees leftovers after
            // this thread is gone, half stay in the inbox of a neighbour.
            let n = live.len();
            for (k, b) in live.drain(..).enumerate() {
                if k < n / 2 {
                    leftovers.lock().unwrap().push(b);
                } else {
                    inboxes[(me + 1) % THREADS].lock().unwrap().push(b);
                }
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let work = started.elapsed();
    let peak_committed = masu::os_stats().peak_committed_bytes;
    let before_cleanup = masu::stats();
    if cfg!(feature = "stats") {
        assert_eq!(before_cleanup.alloc_count, (THREADS * PER_THREAD) as u64);
        assert!(before_cleanup.live_bytes > 0, "threads left live blocks");
    }
    assert!(masu::pool_stats().thread_exits >= THREADS as u64);

    // Free what the exited threads left, from this thread (remote frees into
    // idle heaps), then collect those heaps.
    let me = usize::MAX;
    let mut late = 0u64;
    for b in std::mem::take(&mut *leftovers.lock().unwrap()) {
        free_block(b, me, &cross);
        late += 1;
    }
    for inbox in inboxes.iter() {
        for b in std::mem::take(&mut *inbox.lock().unwrap()) {
            free_block(b, me, &cross);
            late += 1;
        }
    }
    let total_frees = frees.load(Relaxed) + late;
    assert_eq!(total_frees, (THREADS * PER_THREAD) as u64);
    let cross = cross.load(Relaxed);
    assert!(
        cross * 10 >= total_frees * 3,
        "only {cross} of {total_frees} frees were cross-thread"
    );

    masu::collect(true);
    masu::collect_abandoned(true);
    let after = masu::stats();
    let os = masu::os_stats();
    let pool = masu::pool_stats();
    println!(
        "stress: {} allocations by {THREADS} threads in {:.2?} ({:.2} M allocs/s incl. frees and checks); \
         {cross} of {total_frees} frees cross-thread; peak committed {:.1} MiB; \
         heaps {} ({} adoptions); peak live (sum of heaps) {:.1} MiB",
        before_cleanup.alloc_count,
        work,
        before_cleanup.alloc_count as f64 / work.as_secs_f64() / 1e6,
        peak_committed as f64 / (1 << 20) as f64,
        pool.heaps,
        pool.adoptions,
        before_cleanup.peak_live_bytes as f64 / (1 << 20) as f64,
    );
    if cfg!(feature = "stats") {
        assert_eq!(after.live_bytes, 0, "live bytes left: {after:?}");
        assert_eq!(after.free_count, after.alloc_count);
    }
    assert_eq!(after.segments, 0, "segments still held: {after:?}");
    assert_eq!(os.reserved_bytes, 0, "memory not given back: {os:?}");
    assert_eq!(os.committed_bytes, 0, "memory still committed: {os:?}");
}
