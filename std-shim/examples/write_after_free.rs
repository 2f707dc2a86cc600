//! Frees a block, writes into it and never asks for memory of its size
//! again; with the `secure` feature masu's exit check must abort with a
//! "write after free" message (unless `MASU_EXIT_CHECK=0`).
//!
//! `cargo run -p masu --features secure --example write_after_free` (used
//! by `tests/secure_exit_check.rs`).

use std::alloc::{GlobalAlloc, Layout};

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

fn main() {
    let layout = Layout::from_size_align(48, 8).unwrap();
    // SAFETY: a valid layout; the second block keeps the page in use.
    let (p, keep) = unsafe { (A.alloc(layout), A.alloc(layout)) };
    assert!(!p.is_null() && !keep.is_null());
    // SAFETY: none: the misuse under test. The write lands on the block's
    // second word, where `secure` keeps the freed tag of a free block.
    unsafe {
        A.dealloc(p, layout);
        core::ptr::write_volatile((p as *mut u64).add(1), 42);
    }
    println!("written after free");
}
