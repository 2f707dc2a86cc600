//! `pairs`: allocation/free pairs for counting instructions with callgrind
//! (`masu-bench callgrind`). Only the `masu_bench_pairs_*` functions are
//! counted (`--toggle-collect=masu_bench_pairs_*`), so start-up, warm-up and
//! the hand-over between threads are left out.
//!
//! * `case=local size=N count=C`: C pairs of `alloc(N)` and `dealloc` on one
//!   thread (after a warm-up that keeps 8 blocks of the size live, so the
//!   size class has a page);
//! * `case=cross size=N count=C`: one thread allocates batches of 1,000
//!   blocks, another frees them (every free is a remote free).
//!
//! Blocks go through `std::alloc` (the `#[global_allocator]`, or `malloc`
//! for `masu-work`, through std's thin `System` wrapper); the loop itself
//! costs a few instructions per pair, for every allocator alike.

use super::{Args, Report};
use std::alloc::{alloc, dealloc, Layout};
use std::hint::black_box;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

/// `count` pairs of one size on this thread.
#[no_mangle]
#[inline(never)]
pub extern "C" fn masu_bench_pairs_local(count: usize, size: usize) {
    let layout = Layout::from_size_align(size, 8).unwrap();
    for _ in 0..count {
        // SAFETY: a non-zero-size layout; the block is freed with it.
        unsafe {
            let p = alloc(layout);
            black_box(p);
            dealloc(p, layout);
        }
    }
}

/// Fills `buf` with fresh blocks of `size` bytes.
#[no_mangle]
#[inline(never)]
pub extern "C" fn masu_bench_pairs_alloc_batch(buf: *mut *mut u8, n: usize, size: usize) {
    let layout = Layout::from_size_align(size, 8).unwrap();
    for i in 0..n {
        // SAFETY: `buf` has room for `n` pointers; the layout is non-zero.
        unsafe {
            let p = alloc(layout);
            black_box(p);
            buf.add(i).write(p);
        }
    }
}

/// Frees the `n` blocks of `size` bytes in `buf`.
#[no_mangle]
#[inline(never)]
pub extern "C" fn masu_bench_pairs_free_batch(buf: *const *mut u8, n: usize, size: usize) {
    let layout = Layout::from_size_align(size, 8).unwrap();
    for i in 0..n {
        // SAFETY: each of the `n` pointers is a live block of this layout.
        unsafe { dealloc(buf.add(i).read(), layout) };
    }
}

struct Buf(Vec<*mut u8>);
// SAFETY: the pointers are blocks handed over whole to the receiving thread.
unsafe impl Send for Buf {}

const BATCH: usize = 1_000;

pub fn run(args: &Args) -> Report {
    let size = args.get("size", 32, 32) as usize;
    let count = args.get("count", 1_000_000, 1_000_000) as usize;
    let cross = args.get_str("case") == Some("cross");
    let layout = Layout::from_size_align(size, 8).unwrap();
    // Warm-up, outside the counted functions.
    let keep: Vec<*mut u8> = (0..8)
        // SAFETY: non-zero-size layout.
        .map(|_| unsafe { alloc(layout) })
        .collect();
    // Without this the compiler may remove the warm-up allocations (their
    // pointers are never read), and with them the warm-up.
    black_box(&keep);
    let t = Instant::now();
    if cross {
        let (to_free, freeing) = sync_channel::<Buf>(2);
        let (to_fill, filling) = sync_channel::<Buf>(2);
        for _ in 0..2 {
            to_fill
                .send(Buf(vec![std::ptr::null_mut(); BATCH]))
                .unwrap();
        }
        std::thread::scope(|s| {
            s.spawn(move || {
                for mut b in freeing {
                    masu_bench_pairs_free_batch(b.0.as_mut_ptr(), BATCH, size);
                    if to_fill.send(b).is_err() {
                        break;
                    }
                }
            });
            for _ in 0..count / BATCH {
                let mut b = filling.recv().unwrap();
                masu_bench_pairs_alloc_batch(b.0.as_mut_ptr(), BATCH, size);
                to_free.send(b).unwrap();
            }
            drop(to_free);
        });
    } else {
        masu_bench_pairs_local(count, size);
    }
    let secs = t.elapsed().as_secs_f64();
    for p in keep {
        // SAFETY: the warm-up blocks, freed with their layout.
        unsafe { dealloc(p, layout) };
    }
    let pairs = if cross { count / BATCH * BATCH } else { count };
    Report {
        ops: pairs as u64,
        secs,
        checksum: 0,
        corrupt: 0,
        extra: vec![("size", size.to_string())],
    }
}
