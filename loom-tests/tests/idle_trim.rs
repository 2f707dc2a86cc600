//! The background purger's trim of a page's freed tail in a live, idle
//! heap (masu-core's `idle_discard.rs`, `trim_page_tail`): the run of carved
//! blocks at the page's end that all wait on `local_free` behind its head
//! leaves the list and the carved count, while the owner frees another
//! block onto the list on its fast path.
//!
//! The page has three blocks: the owner freed blocks 2 and then 1 (so
//! `local_free` is 1, 2) and still uses block 0, which it then frees
//! (`Page::push_local`, linking it to the head it reads). The purger (the
//! model's main thread) trims, and "discards" what it gives back by writing
//! the payloads there. Checked in every interleaving within the preemption
//! bound: afterwards every block on the lists lies below the carved count
//! and every carved block is on them once (the page hands out no block
//! twice and loses none), and no discard races with a use. [`Coverage`]
//! fails the model if no interleaving trimmed. The twin may take the
//! list's head with the tail, and loom must catch it.
//!
//! The second model parks (`idle_discard::park_run`): six blocks, 1 to 3
//! freed by the owner (3 heads `local_free`), 4 freed by another thread
//! before the model; meanwhile the owner frees 0 and the other thread 5
//! (`Page::push_remote`, which may put a block in front of 4). The run
//! behind the heads parks, remote frees included: the purger moves them
//! behind the `local_free` head with a CAS that keeps the word's count,
//! racing the push of 5. Afterwards the owner collects, pops and carves the parked run
//! again ([`Page::extend`]): every block comes back exactly once and
//! `used` counts each. Its twin may park the lists' heads.
//!
//! [`Page::extend`]: masu_core::protocol::ProtocolPage::extend
//!
//! [`Coverage`]: masu_loom_tests::Coverage
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use masu_core::protocol::ProtocolPage;
use masu_loom_tests::{
    collect_and_pop, model, spawn_owner_free, spawn_remote_free, use_block, Coverage, PageFixture,
};

/// The model's memory page: small, so that a block's payload lies in a
/// whole one.
const PAGE: usize = 8;

/// How the purger trims.
type Trim = unsafe fn(&ProtocolPage, &mut dyn FnMut(*mut u8, usize) -> bool) -> usize;

/// What the model's purger "discards": every block the range touches gets
/// a new payload (its contents are lost), which races with any use.
fn discarder(f: &PageFixture) -> impl FnMut(*mut u8, usize) -> bool + '_ {
    move |p: *mut u8, len: usize| {
        let (first, _) = f.locate(p);
        let (last, _) = f.locate(p.wrapping_add(len - 1));
        for i in first..=last {
            // SAFETY: blocks of the fixture with payloads.
            unsafe { use_block(f.block(i), 3) };
        }
        true
    }
}

/// After the model's other threads are done: the page's carved count, and
/// the indices of every block the owner's slow paths get back (collected,
/// popped, and the parked run carved again), sorted. (Not for the trim's
/// model, whose trimmed tail must not come back listed: `extend` would
/// carve it again.)
fn blocks_back(f: &PageFixture) -> (usize, Vec<usize>) {
    // SAFETY: the other threads are done; this thread holds the slow paths.
    let carved = unsafe { f.page.capacity() } as usize;
    let mut blocks = collect_and_pop(&f.page);
    // SAFETY: as above; `free` is empty after the pops.
    while unsafe { f.page.extend() } {
        blocks.extend(collect_and_pop(&f.page));
    }
    let mut blocks: Vec<usize> = blocks.into_iter().map(|b| f.locate(b).0).collect();
    blocks.sort_unstable();
    (carved, blocks)
}

fn run(trim: Trim, trimmed: &'static Coverage) {
    model(3, move || {
        let f = PageFixture::new(3);
        // SAFETY: the model's thread is the owner until the spawn.
        unsafe {
            f.page.free_local(f.block(2));
            f.page.free_local(f.block(1));
        }
        let f = Arc::new(f);
        let owner = spawn_owner_free(&f, 0, 1);
        thread::yield_now();
        let mut discard = discarder(&f);
        // SAFETY: this thread stands for the slow paths until the join.
        let bytes = unsafe { trim(&f.page, &mut discard) };
        trimmed.count(bytes > 0);
        owner.join().unwrap();
        // SAFETY: the owner is done; this thread holds the slow paths.
        let carved = unsafe { f.page.capacity() } as usize;
        let mut blocks: Vec<usize> = collect_and_pop(&f.page)
            .into_iter()
            .map(|b| f.locate(b).0)
            .collect();
        blocks.sort_unstable();
        assert!(
            blocks.iter().all(|&i| i < carved),
            "a listed block lies past the carved blocks"
        );
        assert_eq!(
            blocks,
            (0..carved).collect::<Vec<_>>(),
            "a carved block was lost"
        );
    });
}

unsafe fn trim(page: &ProtocolPage, d: &mut dyn FnMut(*mut u8, usize) -> bool) -> usize {
    // SAFETY: forwarded from the model.
    unsafe { page.trim_tail(PAGE, d) }
}

unsafe fn broken_trim(page: &ProtocolPage, d: &mut dyn FnMut(*mut u8, usize) -> bool) -> usize {
    // SAFETY: forwarded from the model.
    unsafe { page.broken_trim_tail_with_head(PAGE, d) }
}

#[test]
fn the_purger_trims_only_behind_the_lists_head() {
    static TRIMMED: Coverage = Coverage::new("purger trimmed the tail");
    run(trim, &TRIMMED);
    TRIMMED.check("the purger trimming the tail", 1);
}

#[test]
#[should_panic(expected = "past the carved blocks")]
fn twin_trimming_the_head_is_caught() {
    static TRIMMED: Coverage = Coverage::new("purger trimmed the tail");
    run(broken_trim, &TRIMMED);
}

/// `adopted` counts the interleavings in which the purger moved the remote
/// frees behind the `local_free` head (the word's list was empty, its
/// count kept, right after the trim).
fn run_park(trim: Trim, parked: &'static Coverage, adopted: &'static Coverage) {
    model(3, move || {
        let f = PageFixture::new(6);
        // SAFETY: the model's thread is the owner until the spawns; block 4
        // is freed by "another thread" before them.
        unsafe {
            for i in 1..=3 {
                f.page.free_local(f.block(i));
            }
            f.page.push_remote(f.block(4));
        }
        let f = Arc::new(f);
        let owner = spawn_owner_free(&f, 0, 1);
        let remote = spawn_remote_free(&f, 5, 2);
        thread::yield_now();
        let mut discard = discarder(&f);
        // SAFETY: this thread stands for the slow paths until the joins.
        let bytes = unsafe { trim(&f.page, &mut discard) };
        parked.count(bytes > 0);
        let word = f
            .page
            .thread_free()
            .load(loom::sync::atomic::Ordering::Relaxed);
        let (head, count) = f.page.remote_word_parts(word);
        adopted.count(head.is_null() && count > 0);
        owner.join().unwrap();
        remote.join().unwrap();
        let (carved, blocks) = blocks_back(&f);
        assert_eq!(
            blocks,
            (0..carved).collect::<Vec<_>>(),
            "a carved block was lost or handed out twice"
        );
        // SAFETY: as above.
        assert_eq!(unsafe { f.page.used() } as usize, carved, "used miscounts");
    });
}

#[test]
fn the_purger_parks_only_behind_the_lists_heads() {
    static PARKED: Coverage = Coverage::new("purger parked a run");
    static ADOPTED: Coverage = Coverage::new("purger moved the remote frees");
    run_park(trim, &PARKED, &ADOPTED);
    // Pages park only on 64-bit targets without `checks`.
    let min = if cfg!(feature = "checks") { 0 } else { 1 };
    PARKED.check("the purger parking a run", min);
    ADOPTED.check("the purger moving the remote frees", min);
}

#[test]
#[cfg_attr(not(feature = "checks"), should_panic(expected = "handed out twice"))]
fn twin_parking_a_head_is_caught() {
    static PARKED: Coverage = Coverage::new("purger parked a run");
    static ADOPTED: Coverage = Coverage::new("purger moved the remote frees");
    run_park(broken_trim, &PARKED, &ADOPTED);
}
