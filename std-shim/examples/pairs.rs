//! Allocation/free pairs of one small size, for counting instructions per
//! pair with callgrind. `docs/std-shim.md` has the commands and results.
//!
//! ```text
//! pairs global [SIZE] [COUNT]   Rust's alloc/dealloc → masu::Masu (#[global_allocator])
//! pairs malloc [SIZE] [COUNT]   libc malloc/free → glibc, or what LD_PRELOAD gives
//! ```
//!
//! The measured loops are the `masu_pairs_*` functions; count only them
//! with `valgrind --tool=callgrind --toggle-collect=masu_pairs_*`. Both warm
//! up first (the thread's heap is made and the size class has a page).

use std::alloc::{alloc, dealloc, Layout};
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
    let run: extern "C" fn(usize, usize) = match mode {
        "global" => masu_pairs_global,
        "malloc" => masu_pairs_malloc,
        _ => {
            eprintln!("usage: pairs global|malloc [SIZE] [COUNT]");
            std::process::exit(2);
        }
    };
    // Warm up outside the measured call: keep a few blocks of the size live
    // so the size class's page stays, then free them.
    let keep: Vec<*mut libc::c_void> = (0..8)
        .map(|_| {
            // SAFETY: plain allocations, freed below.
            unsafe {
                if mode == "global" {
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
            if mode == "global" {
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
