//! Allocation/free pairs of one small size, for counting instructions per
//! pair with callgrind. `docs/std-shim.md` has the commands and results.
//!
//! ```text
//! pairs global [SIZE] [COUNT] [KEEP]   Rust's alloc/dealloc → masu::Masu (#[global_allocator])
//! pairs call [SIZE] [COUNT] [KEEP]     Masu's GlobalAlloc methods through function pointers
//! pairs malloc [SIZE] [COUNT] [KEEP]   libc malloc/free → glibc, or what LD_PRELOAD gives
//! ```
//!
//! KEEP (default 8) blocks of the size stay live during the loop; with 0,
//! every free empties the class's only page (the "ping-pong" case).
//!
//! In `global`, the compiler may inline masu's fast path into the loop (the
//! `#[global_allocator]` is in this crate, as in any program that uses
//! masu) and hoist what depends only on the size out of it; `call` shows
//! the cost of a call that cannot be inlined (from code compiled
//! elsewhere).
//!
//! The measured loops are the `masu_pairs_*` functions; count only them
//! with `valgrind --tool=callgrind --toggle-collect=masu_pairs_*`. Both warm
//! up first (the thread's heap is made and the size class has a page).

use std::alloc::{alloc, dealloc, GlobalAlloc, Layout};
use std::hint::black_box;

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

/// `count` pairs of Rust `alloc`/`dealloc` (through `#[global_allocator]`).
#[no_mangle]
#[inline(never)]
pub extern "C" fn masu_pairs_global(count: usize, size: usize) {
    let layout = Layout::from_size_align(size, 8).unwrap();
    for _ in 0..count {
        // SAFETY: a valid, non-zero-size layout; the block is freed with it.
        unsafe {
            let p = alloc(layout);
            black_box(p);
            dealloc(p, layout);
        }
    }
}

/// `count` pairs of `Masu`'s `GlobalAlloc::alloc`/`dealloc` (what
/// `__rust_alloc`/`__rust_dealloc` run) called through function pointers
/// that the compiler cannot see through, so nothing is inlined.
#[no_mangle]
#[inline(never)]
pub extern "C" fn masu_pairs_call(count: usize, size: usize) {
    let layout = Layout::from_size_align(size, 8).unwrap();
    let a: unsafe fn(&masu::Masu, Layout) -> *mut u8 =
        black_box(<masu::Masu as GlobalAlloc>::alloc);
    let d: unsafe fn(&masu::Masu, *mut u8, Layout) =
        black_box(<masu::Masu as GlobalAlloc>::dealloc);
    for _ in 0..count {
        // SAFETY: a valid, non-zero-size layout; the block is freed with it.
        unsafe {
            let p = a(&A, layout);
            black_box(p);
            d(&A, p, layout);
        }
    }
}

/// `count` pairs of C `malloc`/`free`.
#[no_mangle]
#[inline(never)]
pub extern "C" fn masu_pairs_malloc(count: usize, size: usize) {
    for _ in 0..count {
        // SAFETY: malloc/free of one block.
        unsafe {
            let p = libc::malloc(size);
            black_box(p);
            libc::free(p);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("global");
    let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let count: usize = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let keep: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(8);
    let run: extern "C" fn(usize, usize) = match mode {
        "global" => masu_pairs_global,
        "call" => masu_pairs_call,
        "malloc" => masu_pairs_malloc,
        _ => {
            eprintln!("usage: pairs global|call|malloc [SIZE] [COUNT] [KEEP]");
            std::process::exit(2);
        }
    };
    // Warm up outside the measured call: keep a few blocks of the size live
    // so the size class's page stays, then free them.
    let keep: Vec<*mut libc::c_void> = (0..keep)
        .map(|_| {
            // SAFETY: plain allocations, freed below.
            unsafe {
                if mode != "malloc" {
                    alloc(Layout::from_size_align(size, 8).unwrap()) as *mut libc::c_void
                } else {
                    libc::malloc(size)
                }
            }
        })
        .collect();
    let start = std::time::Instant::now();
    run(count, size);
    let took = start.elapsed();
    for p in keep {
        // SAFETY: freeing the warm-up blocks the way they were allocated.
        unsafe {
            if mode != "malloc" {
                dealloc(p as *mut u8, Layout::from_size_align(size, 8).unwrap())
            } else {
                libc::free(p)
            }
        }
    }
    println!(
        "{mode}: {count} pairs of {size} bytes in {took:.2?} ({:.1} ns per pair)",
        took.as_nanos() as f64 / count as f64
    );
}
