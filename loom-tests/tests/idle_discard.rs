//! The background purger's discard of free blocks' insides in a page of a
//! live, idle heap (masu-core's `idle_discard.rs`), against the owner's
//! fast paths and a remote free.
//!
//! The page has three blocks: block 0 on `free` (the fast path's list),
//! blocks 1 and 2 handed out. The owner pops block 0 and uses it, then uses
//! block 1 and frees it onto `local_free` (`Page::push_local`); another
//! thread uses block 2 and pushes it onto `thread_free`. The purger (the
//! model's main thread, standing for a heap whose slow paths it excludes)
//! walks the page and "discards" each range it is given by writing the
//! payload of the block it lies in: loom reports a discard that is not
//! ordered after the last use of its block. Checked in every interleaving
//! within the preemption bound: every range lies inside a block past its
//! first 16 bytes, every discard is ordered after the block's uses, and
//! the lists are whole afterwards. [`Coverage`] fails the model if no
//! interleaving discarded anything. The twins walk `free` as well, or push
//! onto `local_free` with a Relaxed store, and loom must catch each.
//!
//! [`Coverage`]: masu_loom_tests::Coverage
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use masu_core::protocol::ProtocolPage;
use masu_loom_tests::{
    collect_and_pop, model, spawn_remote_free, use_block, Coverage, PageFixture,
};

/// The model's memory page: small, so that a block's inside holds its
/// payload.
const PAGE: usize = 8;

/// How the purger walks the page.
type Discard = unsafe fn(&ProtocolPage, &mut dyn FnMut(*mut u8, usize)) -> usize;
/// How the owner frees its block on its fast path.
type OwnerFree = unsafe fn(&ProtocolPage, *mut u8);

/// Three blocks, block 0 freed and collected: on `free`, as a slow path
/// leaves it.
fn fixture() -> PageFixture {
    let f = PageFixture::new(3);
    // SAFETY: the model's thread is the owner until the spawns.
    unsafe {
        f.page.free_local(f.block(0));
        f.page.merge_frees();
    }
    f
}

/// The block whose inside `[p, p + len)` is: asserts that the range lies in
/// one block, past its first 16 bytes.
fn block_of(f: &PageFixture, p: *mut u8, len: usize) -> *mut u8 {
    let (i, at) = f.locate(p);
    assert!(
        i < 3 && at >= 16 && at + len <= f.block_size(),
        "a discard outside a block's inside"
    );
    f.block(i)
}

fn run(discard: Discard, owner_free: OwnerFree, discarded: &'static Coverage) {
    model(3, move || {
        let f = Arc::new(fixture());
        let fo = f.clone();
        let owner = thread::spawn(move || {
            // SAFETY: the owner's fast paths: a pop from `free`, a free.
            unsafe {
                let b = fo.page.pop_free();
                assert_eq!(b, fo.block(0));
                use_block(b, 1);
                use_block(fo.block(1), 1);
                owner_free(&fo.page, fo.block(1));
            }
        });
        let remote = spawn_remote_free(&f, 2, 2);
        // The purger yields first (see `idle_release.rs`).
        thread::yield_now();
        let mut seen = 0;
        // SAFETY: this thread stands for the slow paths until the joins.
        let bytes = unsafe {
            discard(&f.page, &mut |p, len| {
                seen += len;
                // The discard: the block's contents are lost.
                use_block(block_of(&f, p, len), 3);
            })
        };
        assert_eq!(bytes, seen);
        discarded.count(bytes > 0);
        owner.join().unwrap();
        remote.join().unwrap();
        // The lists are whole: blocks 1 and 2 come back, block 0 is live.
        let mut blocks = collect_and_pop(&f.page);
        blocks.sort_unstable();
        assert_eq!(blocks, [f.block(1), f.block(2)], "a list lost a block");
    });
}

unsafe fn discard(page: &ProtocolPage, f: &mut dyn FnMut(*mut u8, usize)) -> usize {
    // SAFETY: forwarded from the model.
    unsafe { page.discard_insides(PAGE, f) }
}

unsafe fn broken_discard_with_free(
    page: &ProtocolPage,
    f: &mut dyn FnMut(*mut u8, usize),
) -> usize {
    // SAFETY: forwarded from the model.
    unsafe { page.broken_discard_insides_with_free(PAGE, f) }
}

unsafe fn free_local(page: &ProtocolPage, b: *mut u8) {
    // SAFETY: forwarded from the model.
    unsafe { page.free_local(b) }
}

unsafe fn broken_push_relaxed(page: &ProtocolPage, b: *mut u8) {
    // SAFETY: forwarded from the model.
    unsafe { page.broken_free_local_push_relaxed(b) }
}

#[test]
fn the_purger_discards_only_blocks_no_fast_path_uses() {
    static DISCARDED: Coverage = Coverage::new("purger discarded");
    run(discard, free_local, &DISCARDED);
    DISCARDED.check("the purger discarding a block's inside", 1);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn twin_walking_free_is_caught() {
    static DISCARDED: Coverage = Coverage::new("purger discarded");
    run(broken_discard_with_free, free_local, &DISCARDED);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn twin_relaxed_push_is_caught() {
    static DISCARDED: Coverage = Coverage::new("purger discarded");
    run(discard, broken_push_relaxed, &DISCARDED);
}
