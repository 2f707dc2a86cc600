//! The background purger's check of a page of a live, idle heap
//! (masu-core's `idle_release.rs`): the purger takes a page whose `used`
//! equals the number of blocks on its `thread_free`, while the owner may be
//! freeing a block of it on its fast path (`Page::push_local`, then the
//! count with `Page::publish_used`) and another thread pushes a remote free.
//!
//! Checked in every interleaving within the preemption bound: when the
//! purger takes the page, every block is free and on the page's lists (it
//! collects both, exactly once), and the owner's and the remote thread's
//! last uses of the blocks happen-before the purger's use (see
//! [`masu_loom_tests::Payload`]); when it does not, the owner collects them
//! later. The purger yields before it looks (see `remote_free.rs` on loom's
//! partial-order reduction), and [`Coverage`] fails the model if the purger
//! never took the page. The twins free the owner's block with the count lowered before the
//! push, or with a Relaxed count, and loom must catch each. The same model
//! runs the check of a class's first page above the direct table
//! (`holds_no_live_block`: no remote free needed), with the first twin.
//!
//! [`Coverage`]: masu_loom_tests::Coverage
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use masu_core::protocol::ProtocolPage;
use masu_loom_tests::{
    collect_and_pop, model, spawn_remote_free, use_block, Coverage, PageFixture,
};

/// How the owner frees its block on its fast path.
type OwnerFree = unsafe fn(&ProtocolPage, *mut u8);

/// The purger's check: `only_remote_frees` (a page behind its queue's
/// first, or in `full`) or `holds_no_live_block` (the first page of a class
/// above the direct table).
type PurgerCheck = unsafe fn(&ProtocolPage) -> bool;

fn run(owner_free: OwnerFree, taken: &'static Coverage) {
    run_with(owner_free, ProtocolPage::only_remote_frees, taken)
}

fn run_with(owner_free: OwnerFree, check: PurgerCheck, taken: &'static Coverage) {
    model(3, move || {
        let f = Arc::new(PageFixture::new(2));
        let fo = f.clone();
        let owner = thread::spawn(move || {
            let b = fo.block(0);
            // SAFETY: block 0 is the owner's; it is done with it after this.
            unsafe {
                use_block(b, 1);
                owner_free(&fo.page, b);
            }
        });
        let remote = spawn_remote_free(&f, 1, 2);
        // The purger. It yields first, as the owner of `remote_free.rs`
        // does, so that loom explores the pushes landing before it looks.
        thread::yield_now();
        // SAFETY: this thread stands for the slow paths until the joins.
        let claimed = unsafe { check(&f.page) };
        taken.count(claimed);
        if claimed {
            let blocks = collect_and_pop(&f.page);
            assert_eq!(
                blocks.len(),
                2,
                "the purger took a page with a block missing"
            );
            for &b in &blocks {
                // SAFETY: the purger holds the page's blocks now.
                unsafe { use_block(b, 3) };
            }
        }
        owner.join().unwrap();
        remote.join().unwrap();
        if !claimed {
            let blocks = collect_and_pop(&f.page);
            assert_eq!(blocks.len(), 2, "a block was lost");
        }
    });
}

/// The real owner free: `Page::push_local`, then `Page::publish_used`.
unsafe fn free_local(page: &ProtocolPage, b: *mut u8) {
    // SAFETY: forwarded from the model.
    unsafe { page.free_local(b) }
}

unsafe fn broken_count_first(page: &ProtocolPage, b: *mut u8) {
    // SAFETY: forwarded from the model.
    unsafe { page.broken_free_local_count_first(b, thread::yield_now) }
}

unsafe fn broken_relaxed(page: &ProtocolPage, b: *mut u8) {
    // SAFETY: forwarded from the model.
    unsafe { page.broken_free_local_relaxed(b) }
}

#[test]
fn the_purger_takes_a_page_only_when_every_block_is_free() {
    static TAKEN: Coverage = Coverage::new("purger took the page");
    run(free_local, &TAKEN);
    // With `checks` the word carries no count and the purger never takes.
    let min = if cfg!(feature = "checks") { 0 } else { 1 };
    TAKEN.check("the purger taking the page", min);
}

#[test]
#[cfg_attr(not(feature = "checks"), should_panic(expected = "block missing"))]
fn twin_count_lowered_before_the_push_is_caught() {
    static TAKEN: Coverage = Coverage::new("purger took the page");
    run(broken_count_first, &TAKEN);
}

#[test]
#[cfg_attr(
    not(feature = "checks"),
    should_panic(expected = "Causality violation")
)]
fn twin_relaxed_count_is_caught() {
    static TAKEN: Coverage = Coverage::new("purger took the page");
    run(broken_relaxed, &TAKEN);
}

#[test]
fn a_first_page_above_the_direct_table_is_taken_only_when_every_block_is_free() {
    static TAKEN: Coverage = Coverage::new("purger took the page");
    run_with(free_local, ProtocolPage::holds_no_live_block, &TAKEN);
    let min = if cfg!(feature = "checks") { 0 } else { 1 };
    TAKEN.check("the purger taking the page", min);
}

#[test]
#[cfg_attr(not(feature = "checks"), should_panic(expected = "block missing"))]
fn twin_count_lowered_before_the_push_is_caught_by_the_first_page_check() {
    static TAKEN: Coverage = Coverage::new("purger took the page");
    run_with(
        broken_count_first,
        ProtocolPage::holds_no_live_block,
        &TAKEN,
    );
}
