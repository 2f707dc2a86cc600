//! The std shim's one-time initialisation (`std-shim/src/spin.rs`'s `Once`,
//! run by `pool::init`) publishing the options (`std-shim/src/options.rs`'s
//! `OptionStore`, written by `load_from_env` with relaxed stores and read
//! by everything with relaxed loads): the real code over loom's atomics.
//!
//! `options_read_after_init_are_the_initialised_values`: two threads start
//! (both call `Once::call` with the initialisation, which stores the
//! parsed options), while a third checks `Once::is_done`, as the shim's
//! fast path `init` does, and reads the options if it is done. In every
//! interleaving: the initialisation runs once, and every thread that has
//! seen it done reads the initialised options, not the defaults.
//!
//! Twins run the same code over broken atomics (`masu_loom_tests::broken`):
//! the `Once`'s final store relaxed (a thread sees "done" but may read the
//! defaults), its claim as a load and a store (two initialisations).
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize};
use loom::sync::Arc;
use loom::thread;
use masu::protocol::{Atomic, Once, OptionStore, Options};
use masu_loom_tests::broken::{NoRelease, Torn};
use masu_loom_tests::{model, Coverage};
use std::sync::atomic::AtomicUsize as Count;
use std::sync::atomic::Ordering::Relaxed;

/// What the environment says (every option away from its default).
const PARSED: Options = Options {
    purge_delay_ms: 250,
    huge_purge_delay_ms: 2500,
    decommit_free: true,
    large_cache_bytes: 1 << 20,
    exit_retain_bytes: 3 << 20,
    exit_hold_ms: 77,
    remote_batch: 7,
    full_rescan: 9,
    committed_first: false,
    remap: false,
    cache_follows_huge: false,
    huge_keep_slack: false,
    page_blocks: 8,
    background: false,
    idle_discard: false,
    idle_hold_ms: 300,
    wake_keep: false,
    requeue_emptied: false,
    remote_in_order: false,
    shuffle_window: 4096,
    arena_above: 0,
    coarse_above: 4096,
    memory_limit: 512 << 20,
    quarantine_bytes: 64 << 10,
    guard_pages: false,
    exit_check: false,
    stats_at_exit: true,
    stats_json: true,
    verbose: false,
};

type Store = OptionStore<AtomicU32, AtomicBool, AtomicUsize>;

struct Fixture<A> {
    once: Once<A>,
    options: Store,
    /// Times the initialisation ran (model bookkeeping).
    runs: Count,
}

/// The shim's `init`: the fast check, then `Once::call` with the
/// initialisation (`load_from_env`'s store of what it parsed).
fn init<A: Atomic<u8>>(fx: &Fixture<A>) {
    if !fx.once.is_done() {
        fx.once.call(|| {
            fx.runs.fetch_add(1, Relaxed);
            fx.options.set(&PARSED);
        });
    }
}

fn init_model<A: Atomic<u8> + Send + Sync + 'static>(coverage: &Coverage) {
    let fx = Arc::new(Fixture::<A> {
        once: Once::new_in(),
        options: Store::new_in(),
        runs: Count::new(0),
    });
    let starters: Vec<_> = (0..2)
        .map(|_| {
            let fx = fx.clone();
            thread::spawn(move || {
                init(&fx);
                assert_eq!(
                    fx.options.get(),
                    PARSED,
                    "options read after init are not the initialised values"
                );
            })
        })
        .collect();
    // Steers loom's first execution to run the starters first (see
    // `remote_free.rs`); `Coverage` checks this thread did see the
    // initialisation done while they ran.
    thread::yield_now();
    let done = fx.once.is_done();
    if done {
        assert_eq!(
            fx.options.get(),
            PARSED,
            "options read after init are not the initialised values"
        );
    }
    for s in starters {
        s.join().unwrap();
    }
    coverage.count(done);
    assert_eq!(fx.runs.load(Relaxed), 1, "initialised twice");
    assert_eq!(fx.options.get(), PARSED);
}

fn check<A: Atomic<u8> + Send + Sync + 'static>(name: &'static str, bound: usize) {
    let coverage: &'static Coverage = Box::leak(Box::new(Coverage::new(name)));
    model(bound, move || init_model::<A>(coverage));
    coverage.check("a reader seeing the initialisation done while it ran", 1);
}

#[test]
fn options_read_after_init_are_the_initialised_values() {
    check::<AtomicU8>("initialisation", 3);
}

#[test]
#[should_panic(expected = "options read after init are not the initialised values")]
fn twin_init_published_with_a_relaxed_store_is_caught() {
    check::<NoRelease<AtomicU8>>("twin: relaxed done store", 3);
}

#[test]
#[should_panic(expected = "initialised twice")]
fn twin_init_claimed_by_load_then_store_is_caught() {
    check::<Torn<AtomicU8>>("twin: init claim by load + store", 3);
}
