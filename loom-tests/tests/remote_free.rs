//! The remote-free protocol of one page: threads that do not own the page
//! push freed blocks onto its `thread_free` list with one CAS
//! (`Page::push_remote`), or batch them in their heap's `RemoteBuffer` and
//! push the chain with one CAS (`Page::push_remote_chain`), which also adds
//! the chain's length to the count the list word carries (without
//! `checks`); the owner takes the whole list with one swap
//! (`Page::take_remote`) and moves it onto `free` (`Page::merge_frees`), then
//! hands the blocks out again.
//!
//! Checked in every interleaving within the preemption bound:
//! * every pushed block is reclaimed by the owner exactly once (none lost,
//!   none twice), and the page's `used` count comes out right;
//! * each free happens-before the reuse of the block (the freer's last write
//!   and the next user's first write are ordered: see [`Payload`]).
//!
//! The twins replace one step of the protocol with a broken copy, clearly
//! named `broken_*`, and loom must catch it.
//!
//! The owner yields before each of its rounds. This only steers the order in
//! which loom explores: loom 0.7's partial-order reduction loses the
//! interleaving "a push lands before the owner looks" when the pushing thread
//! starts with a load of the same atomic, as `push_remote` does (loom issues
//! #166 and #392), and without the yield the owner would never see a push
//! before the join. Each model counts the executions in which the owner took
//! blocks back while pushers were still running ([`Coverage`]) and fails if
//! there were none.
//!
//! [`Coverage`]: masu_loom_tests::Coverage
//! [`Payload`]: masu_loom_tests::Payload
#![cfg(loom)]

use loom::sync::atomic::Ordering;
use loom::sync::Arc;
use loom::thread;
use masu_core::protocol::{ProtocolBuffer, ProtocolPage};
use masu_loom_tests::{
    collect_and_pop, install_payload, model, payload_block_size, use_block, Coverage, Memory,
};
use std::collections::HashSet;

/// Id of the page's owner (any non-zero value: no heap is involved).
const OWNER: usize = 7;
/// Free-list key (only the `checks` encoding uses it).
const KEY: usize = 0x5bd1_e995_1234_5679;
/// The value the owner's new user writes into a reused block.
const REUSED: u64 = u64::MAX;

/// A page over `count` blocks in memory of its own.
struct Fixture {
    page: ProtocolPage,
    block_size: usize,
    memory: Memory,
}

impl Fixture {
    fn new(count: usize) -> Fixture {
        let block_size = payload_block_size().next_multiple_of(16);
        let memory = Memory::new(block_size * count);
        // SAFETY: the memory holds `count` blocks and lives in the fixture.
        let page =
            unsafe { ProtocolPage::new(memory.start(), block_size, count as u32, OWNER, KEY) };
        // The models check the counted `thread_free` word without `checks`
        // and the plain list with it (see `Page::counts_remote`).
        assert_eq!(page.counts_remote(), !cfg!(feature = "checks"));
        for i in 0..count {
            // SAFETY: block `i` lies in the fixture's memory.
            unsafe { install_payload(memory.start().add(i * block_size)) };
        }
        Fixture {
            page,
            block_size,
            memory,
        }
    }

    fn block(&self, i: usize) -> *mut u8 {
        self.memory.start().wrapping_add(i * self.block_size)
    }

    fn index_of(&self, block: *mut u8) -> usize {
        let off = block as usize - self.memory.start() as usize;
        assert_eq!(off % self.block_size, 0, "{block:?} is not a block start");
        let i = off / self.block_size;
        assert!(
            i < self.memory.len() / self.block_size,
            "{block:?} is outside the page"
        );
        i
    }
}

/// How a thread that does not own the page frees a block.
type Push = fn(&ProtocolPage, *mut u8);
/// How pusher thread `t` (second argument) frees all its blocks as one
/// batch (each block's user is done with it before the call).
type PushBatch = fn(&ProtocolPage, usize, &[*mut u8]);
/// How the owner takes back what other threads freed: returns the blocks it
/// can hand out again, each counted used once more.
type Reclaim = fn(&ProtocolPage) -> Vec<*mut u8>;

/// The real protocol: `Page::push_remote`.
fn push_remote(page: &ProtocolPage, block: *mut u8) {
    // SAFETY: the block is a handed-out block of the page, no longer used.
    unsafe { page.push_remote(block) }
}

/// The real protocol, batched: `RemoteBuffer::free` for each block, then
/// `RemoteBuffer::flush` (as a heap's slow path or exit does), which pushes
/// the chain with `Page::push_remote_chain`.
fn push_batched(page: &ProtocolPage, _thread: usize, blocks: &[*mut u8]) {
    let mut buffer = ProtocolBuffer::default();
    for &b in blocks {
        // SAFETY: each block is a handed-out block of the page, no longer
        // used; this thread does not own the page.
        unsafe { buffer.free(page, b) };
    }
    // With `checks` nothing is batched: each free is pushed at once.
    let chained = if cfg!(feature = "checks") {
        0
    } else {
        blocks.len()
    };
    assert_eq!(buffer.len() as usize, chained, "chain lost a block");
    buffer.flush();
    assert!(buffer.is_empty());
}

/// The owner reclaims what it can and hands each block to a new user.
fn take_back(fx: &Fixture, reclaim: Reclaim, seen: &mut HashSet<usize>) {
    for b in reclaim(&fx.page) {
        let i = fx.index_of(b);
        assert!(
            seen.insert(i),
            "block {i} not reclaimed exactly once: reclaimed twice"
        );
        // SAFETY: the block holds a payload; the owner hands it to a new
        // user, whose first write must come after the freer's last one.
        unsafe { use_block(b, REUSED) };
    }
}

/// `pushers` threads free `per_pusher` blocks each while the owner reclaims
/// `owner_rounds` times; after they are done the owner reclaims once more.
struct Scenario {
    pushers: usize,
    per_pusher: usize,
    owner_rounds: usize,
    push: Push,
    /// If set, each pusher frees its blocks as one batch with this instead
    /// of `push` per block.
    batch: Option<PushBatch>,
    reclaim: Reclaim,
    /// Also check the page's `used` count and lists (the real `collect` path).
    check_used: bool,
}

impl Scenario {
    fn run(&self, coverage: &Coverage) {
        let count = self.pushers * self.per_pusher;
        let fx = Arc::new(Fixture::new(count));
        let handles: Vec<_> = (0..self.pushers)
            .map(|t| {
                let fx = fx.clone();
                let (per, push, batch) = (self.per_pusher, self.push, self.batch);
                thread::spawn(move || {
                    let mut mine = Vec::new();
                    for j in 0..per {
                        let b = fx.block(t * per + j);
                        // SAFETY: the block holds a payload; this is its
                        // user's last write before freeing it.
                        unsafe { use_block(b, t as u64 + 1) };
                        match batch {
                            Some(_) => mine.push(b),
                            None => push(&fx.page, b),
                        }
                    }
                    if let Some(batch) = batch {
                        batch(&fx.page, t, &mine);
                    }
                })
            })
            .collect();
        let mut seen = HashSet::new();
        for _ in 0..self.owner_rounds {
            thread::yield_now();
            take_back(&fx, self.reclaim, &mut seen);
        }
        coverage.count(!seen.is_empty());
        for h in handles {
            h.join().unwrap();
        }
        take_back(&fx, self.reclaim, &mut seen);
        assert_eq!(
            seen.len(),
            count,
            "blocks not reclaimed exactly once: lost, reclaimed only {seen:?} of {count}"
        );
        assert_eq!(fx.page.thread_free().load(Ordering::Relaxed), 0);
        assert!(!fx.page.has_remote());
        if self.check_used {
            // SAFETY: the owner's thread, all other threads joined.
            unsafe {
                assert_eq!(fx.page.used(), count as u32, "used count drifted");
                assert!(fx.page.owner_lists_empty());
            }
        }
    }
}

/// Runs `scenario` under loom and checks the owner reclaimed concurrently
/// with the pushers in some executions.
fn check(name: &'static str, bound: usize, scenario: Scenario) {
    let coverage: &'static Coverage = Box::leak(Box::new(Coverage::new(name)));
    model(bound, move || scenario.run(coverage));
    coverage.check("blocks reclaimed while pushers ran", 1);
}

#[test]
fn two_pushers_two_blocks_each_while_the_owner_collects_twice() {
    check(
        "2 pushers x 2 blocks, 2 collects",
        4,
        Scenario {
            pushers: 2,
            per_pusher: 2,
            owner_rounds: 2,
            push: push_remote,
            batch: None,
            reclaim: collect_and_pop,
            check_used: true,
        },
    );
}

#[test]
fn three_pushers_while_the_owner_collects() {
    check(
        "3 pushers x 1 block, 1 collect",
        3,
        Scenario {
            pushers: 3,
            per_pusher: 1,
            owner_rounds: 1,
            push: push_remote,
            batch: None,
            reclaim: collect_and_pop,
            check_used: true,
        },
    );
}

#[test]
fn owner_takes_the_list_itself_while_two_pushers_race() {
    // `take_remote` alone (as `collect` uses it), walking the taken list by
    // its links.
    fn take_and_walk(page: &ProtocolPage) -> Vec<*mut u8> {
        walk(page, page.take_remote())
    }
    check(
        "2 pushers x 2 blocks, 2 takes",
        4,
        Scenario {
            pushers: 2,
            per_pusher: 2,
            owner_rounds: 2,
            push: push_remote,
            batch: None,
            reclaim: take_and_walk,
            check_used: false,
        },
    );
}

/// Follows a taken `thread_free` list by its (encoded) links.
fn walk(page: &ProtocolPage, mut b: *mut u8) -> Vec<*mut u8> {
    let mut out = Vec::new();
    while !b.is_null() {
        out.push(b);
        assert!(out.len() <= 64, "cycle in the remote free list");
        // SAFETY: blocks on the taken list are free blocks whose first word
        // is their link.
        b = page.decode(unsafe { (b as *const usize).read() });
    }
    out
}

// ---------------------------------------------------------------------------
// Twins with deliberate bugs.

/// BROKEN copy of `Page::push_remote`: the CAS publishes the block with
/// `Relaxed` instead of `Release`, so the owner's `Acquire` swap does not
/// synchronise with the freer, and the freer's last writes to the block race
/// with the block's next user.
fn broken_push_remote_relaxed(page: &ProtocolPage, block: *mut u8) {
    let list = page.thread_free();
    let mut old = list.load(Ordering::Relaxed);
    loop {
        let (head, count) = page.remote_word_parts(old);
        // SAFETY: the block is ours until the CAS publishes it.
        unsafe { (block as *mut usize).write(page.encode(head)) };
        match list.compare_exchange_weak(
            old,
            page.remote_word(block, count + 1),
            Ordering::Relaxed, // BUG: must be Release
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(now) => old = now,
        }
    }
}

/// BROKEN copy of `Page::take_remote`: a load and a separate store of null
/// instead of one swap, so a push landing in between is lost.
fn broken_take_by_load_then_store(page: &ProtocolPage) -> Vec<*mut u8> {
    let list = page.thread_free();
    let word = list.load(Ordering::Acquire);
    list.store(0, Ordering::Relaxed); // BUG: must be one atomic swap
    walk(page, page.remote_word_parts(word).0)
}

#[test]
#[should_panic(expected = "Causality violation")]
fn twin_push_with_a_relaxed_cas_is_caught() {
    check(
        "twin: relaxed push",
        3,
        Scenario {
            pushers: 2,
            per_pusher: 1,
            owner_rounds: 1,
            push: broken_push_remote_relaxed,
            batch: None,
            reclaim: collect_and_pop,
            check_used: true,
        },
    );
}

#[test]
#[should_panic(expected = "not reclaimed exactly once")]
fn twin_take_by_load_then_store_is_caught() {
    check(
        "twin: take by load + store",
        3,
        Scenario {
            pushers: 2,
            per_pusher: 1,
            owner_rounds: 1,
            push: push_remote,
            batch: None,
            reclaim: broken_take_by_load_then_store,
            check_used: false,
        },
    );
}

// ---------------------------------------------------------------------------
// Batched remote frees (`RemoteBuffer`, `Page::push_remote_chain`).

#[test]
fn two_batching_pushers_while_the_owner_collects_twice() {
    check(
        "2 pushers x chain of 2, 2 collects",
        4,
        Scenario {
            pushers: 2,
            per_pusher: 2,
            owner_rounds: 2,
            push: push_remote,
            batch: Some(push_batched),
            reclaim: collect_and_pop,
            check_used: true,
        },
    );
}

#[test]
fn a_chain_races_single_pushes() {
    // Thread 0 frees its blocks one CAS each, thread 1 as one chain.
    fn mixed(page: &ProtocolPage, thread: usize, blocks: &[*mut u8]) {
        if thread == 0 {
            blocks.iter().for_each(|&b| push_remote(page, b));
        } else {
            push_batched(page, thread, blocks);
        }
    }
    check(
        "singles and a chain of 2, 2 collects",
        4,
        Scenario {
            pushers: 2,
            per_pusher: 2,
            owner_rounds: 2,
            push: push_remote,
            batch: Some(mixed),
            reclaim: collect_and_pop,
            check_used: true,
        },
    );
}

/// Links `blocks` into a chain as `RemoteBuffer` does (each block's link to
/// the one freed before it), for the twins that push it by hand; returns
/// its head (the last block) and tail (the first, whose link the push sets).
fn link_chain(page: &ProtocolPage, blocks: &[*mut u8]) -> (*mut u8, *mut u8) {
    for w in blocks.windows(2) {
        // SAFETY: the blocks are ours until the CAS publishes them.
        unsafe { (w[1] as *mut usize).write(page.encode(w[0])) };
    }
    (*blocks.last().unwrap(), blocks[0])
}

/// BROKEN copy of `Page::push_remote_chain`: the tail is linked to the list
/// head read before the loop and not linked again when the CAS fails, so a
/// push that landed in between is cut off the list.
fn broken_chain_push_no_relink(page: &ProtocolPage, _thread: usize, blocks: &[*mut u8]) {
    let list = page.thread_free();
    let (head, tail) = link_chain(page, blocks);
    let n = blocks.len() as u32;
    let mut old = list.load(Ordering::Relaxed);
    // SAFETY: the chain is ours until the CAS publishes it.
    unsafe { (tail as *mut usize).write(page.encode(page.remote_word_parts(old).0)) };
    loop {
        // BUG: the tail must be linked to `old` again on every try.
        let new = page.remote_word(head, page.remote_word_parts(old).1 + n);
        match list.compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => old = now,
        }
    }
}

/// BROKEN copy of `Page::push_remote_chain`: the chain is published with a
/// `Relaxed` CAS, so the links and the freers' last writes race with the
/// owner.
fn broken_chain_push_relaxed(page: &ProtocolPage, _thread: usize, blocks: &[*mut u8]) {
    let list = page.thread_free();
    let (head, tail) = link_chain(page, blocks);
    let n = blocks.len() as u32;
    let mut old = list.load(Ordering::Relaxed);
    loop {
        let (old_head, old_count) = page.remote_word_parts(old);
        // SAFETY: the chain is ours until the CAS publishes it.
        unsafe { (tail as *mut usize).write(page.encode(old_head)) };
        match list.compare_exchange_weak(
            old,
            page.remote_word(head, old_count + n),
            Ordering::Relaxed, // BUG: must be Release
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(now) => old = now,
        }
    }
}

/// BROKEN copy of `Page::push_remote_chain`: the count in the word is set
/// to the chain's own length instead of being added to what the word
/// already counts, so the owner subtracts too little from `used` when two
/// chains meet on the list. (Only on a page that counts its remote frees:
/// not with `checks`.)
#[cfg(not(feature = "checks"))]
fn broken_chain_push_count_not_added(page: &ProtocolPage, _thread: usize, blocks: &[*mut u8]) {
    let list = page.thread_free();
    let (head, tail) = link_chain(page, blocks);
    let mut old = list.load(Ordering::Relaxed);
    loop {
        // SAFETY: the chain is ours until the CAS publishes it.
        unsafe { (tail as *mut usize).write(page.encode(page.remote_word_parts(old).0)) };
        // BUG: must be the old count plus the chain's.
        let new = page.remote_word(head, blocks.len() as u32);
        match list.compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => old = now,
        }
    }
}

#[test]
#[cfg(not(feature = "checks"))]
#[should_panic(expected = "used count drifted")]
fn twin_chain_push_that_overwrites_the_count_is_caught() {
    check(
        "twin: chain push overwriting the count",
        3,
        Scenario {
            pushers: 2,
            per_pusher: 2,
            owner_rounds: 1,
            push: push_remote,
            batch: Some(broken_chain_push_count_not_added),
            reclaim: collect_and_pop,
            check_used: true,
        },
    );
}

#[test]
#[should_panic(expected = "not reclaimed exactly once")]
fn twin_chain_push_without_relinking_is_caught() {
    check(
        "twin: chain push without relink",
        3,
        Scenario {
            pushers: 2,
            per_pusher: 2,
            owner_rounds: 1,
            push: push_remote,
            batch: Some(broken_chain_push_no_relink),
            reclaim: collect_and_pop,
            check_used: true,
        },
    );
}

#[test]
#[should_panic(expected = "Causality violation")]
fn twin_chain_push_with_a_relaxed_cas_is_caught() {
    check(
        "twin: relaxed chain push",
        3,
        Scenario {
            pushers: 2,
            per_pusher: 2,
            owner_rounds: 1,
            push: push_remote,
            batch: Some(broken_chain_push_relaxed),
            reclaim: collect_and_pop,
            check_used: true,
        },
    );
}
