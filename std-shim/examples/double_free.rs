//! Frees one block twice from two threads other than its owner; with the
//! `checks` feature masu must abort with a "double free" message.
//!
//! `cargo run -p masu --features checks --example double_free` (used by
//! `tests/checks.rs`).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::mpsc;

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

fn main() {
    let layout = Layout::from_size_align(48, 8).unwrap();
    let (tx, rx) = mpsc::channel::<usize>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    // The owner allocates, hands the block over, and stays idle (so it never
    // collects and reuses the block) until the end.
    let owner = std::thread::spawn(move || {
        // SAFETY: a valid layout.
        let p = unsafe { A.alloc(layout) };
        tx.send(p as usize).unwrap();
        done_rx.recv().ok();
    });
    let p = rx.recv().unwrap();
    for round in 0..2 {
        std::thread::spawn(move || {
            eprintln!(
                "double_free: free {} of {p:#x} from another thread",
                round + 1
            );
            // SAFETY: the first free is legitimate; the second is the bug
            // this program exists to show.
            unsafe { A.dealloc(p as *mut u8, layout) };
        })
        .join()
        .unwrap();
    }
    done_tx.send(()).unwrap();
    owner.join().unwrap();
    println!("double_free: not detected");
}
