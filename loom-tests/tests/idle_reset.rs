//! The background purger's reset of a class queue's first page in a live,
//! idle heap (masu-core's `idle_discard.rs`, `Heap::reset_idle_first_pages`):
//! it takes a page whose `free` list is empty and that holds no live block,
//! while the owner may pop from `free` and free on its fast paths and
//! another thread frees remotely.
//!
//! The page has two blocks: block 0 on `free`, block 1 handed out to
//! another thread. The owner pops block 0 (`ProtocolPage::pop_free`: the
//! count, then the new `free` with Release), uses it and frees it
//! (`Page::push_local`, then the count with Release); the other thread uses
//! block 1 and frees it remotely. The purger (the model's main thread)
//! checks the page (`ProtocolPage::resettable`) and, when it may reset it,
//! "discards" both blocks by writing their payloads: loom reports a discard
//! not ordered after a block's last use. [`Coverage`] fails the model if
//! no interleaving reset the page. The twin pops with the new `free` stored
//! before the count, and loom must catch it.
//!
//! [`Coverage`]: masu_loom_tests::Coverage
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use masu_core::protocol::ProtocolPage;
use masu_loom_tests::{model, spawn_remote_free, use_block, Coverage, PageFixture};

/// How the owner pops a block.
type Pop = unsafe fn(&ProtocolPage) -> *mut u8;

fn run(pop: Pop, reset: &'static Coverage) {
    model(3, move || {
        let f = PageFixture::new(2);
        // Block 0 freed and collected: on `free`, as a slow path leaves it.
        // SAFETY: the model's thread is the owner until the spawns.
        unsafe {
            f.page.free_local(f.block(0));
            f.page.merge_frees();
        }
        let f = Arc::new(f);
        let fo = f.clone();
        let owner = thread::spawn(move || {
            // SAFETY: the owner's fast paths.
            unsafe {
                let b = pop(&fo.page);
                assert_eq!(b, fo.block(0));
                use_block(b, 1);
                fo.page.free_local(b);
            }
        });
        let remote = spawn_remote_free(&f, 1, 2);
        thread::yield_now();
        // SAFETY: this thread stands for the slow paths until the joins.
        let resettable = unsafe { f.page.resettable() };
        reset.count(resettable);
        if resettable {
            // The reset gives back every block's memory.
            for i in 0..2 {
                // SAFETY: the purger holds the page's blocks now.
                unsafe { use_block(f.block(i), 3) };
            }
        }
        owner.join().unwrap();
        remote.join().unwrap();
    });
}

unsafe fn pop(page: &ProtocolPage) -> *mut u8 {
    // SAFETY: forwarded from the model.
    unsafe { page.pop_free() }
}

unsafe fn broken_pop(page: &ProtocolPage) -> *mut u8 {
    // SAFETY: forwarded from the model.
    unsafe { page.broken_pop_free_first() }
}

#[test]
fn the_purger_resets_a_first_page_only_when_no_block_is_live() {
    static RESET: Coverage = Coverage::new("purger reset the page");
    run(pop, &RESET);
    // With `checks` the word carries no count: the page never qualifies
    // while a remote free waits.
    let min = if cfg!(feature = "checks") { 0 } else { 1 };
    RESET.check("the purger resetting the page", min);
}

#[test]
#[cfg_attr(
    not(feature = "checks"),
    should_panic(expected = "Causality violation")
)]
fn twin_popping_free_before_the_count_is_caught() {
    static RESET: Coverage = Coverage::new("purger reset the page");
    run(broken_pop, &RESET);
}
