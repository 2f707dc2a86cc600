//! The shim's `Latch` (`std-shim/src/latch.rs`): whether `MmapOs`'s
//! reservations carry a guard page, decided once by the first reservation.
//!
//! `a_latch_gives_every_thread_the_first_decision`: three threads ask at
//! once, wanting different answers (yes, no, yes). In every interleaving
//! all three get the same answer, the one a single decider wanted, and a
//! later question gets it too.
//!
//! Twin: the same code over an atomic whose compare-and-swap is a load and
//! a store (`masu_loom_tests::broken::Torn`): two threads both decide, and
//! get different answers (a reservation made with a guard page would be
//! released without it).
#![cfg(loom)]

use loom::sync::atomic::AtomicU8;
use loom::sync::Arc;
use loom::thread;
use masu::protocol::{Atomic, Latch};
use masu_loom_tests::broken::Torn;
use masu_loom_tests::{model, Coverage};

fn latch_model<A: Atomic<u8> + Send + Sync + 'static>(coverage: &Coverage) {
    let latch = Arc::new(Latch::<A>::new_in());
    let askers: Vec<_> = [true, false]
        .into_iter()
        .map(|want| {
            let latch = latch.clone();
            thread::spawn(move || latch.decide(|| want))
        })
        .collect();
    let mine = latch.decide(|| true);
    let answers: Vec<bool> = askers.into_iter().map(|t| t.join().unwrap()).collect();
    for a in &answers {
        assert_eq!(*a, mine, "two threads got different decisions");
    }
    assert_eq!(
        latch.decide(|| !mine),
        mine,
        "a later question changed the decision"
    );
    coverage.count(!mine);
}

fn check<A: Atomic<u8> + Send + Sync + 'static>(name: &'static str, bound: usize) {
    let coverage: &'static Coverage = Box::leak(Box::new(Coverage::new(name)));
    model(bound, move || latch_model::<A>(coverage));
    coverage.check("the thread that wanted no deciding first", 1);
}

#[test]
fn a_latch_gives_every_thread_the_first_decision() {
    check::<AtomicU8>("latch", 3);
}

#[test]
#[should_panic(expected = "two threads got different decisions")]
fn twin_latch_decided_with_a_load_and_a_store_is_caught() {
    check::<Torn<AtomicU8>>("twin: torn latch", 3);
}
