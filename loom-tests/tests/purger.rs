//! The background purger's two protocols (`std-shim/src/purger.rs`), the
//! real code over loom's atomics. (Its protocol with the heap owners is the
//! pool lock, modelled in `slot_pool.rs`: the purger works on idle heaps in
//! `SlotPool::for_each_idle`, as the stats reader there does.)
//!
//! * `one_thread_starts_the_purger`: two exiting threads claim the start
//!   while a third resets it (a failed start); in every interleaving, at
//!   most one claim wins before the reset and at most one after it.
//! * `a_notice_is_never_lost`: an exiting thread gives a notice while the
//!   purger takes notices twice, deciding to sleep when it finds none; in
//!   every interleaving, a purger that decides to sleep on a sequence is
//!   either woken by its moving or finds the notice at its next take: the
//!   notice given is taken, or its sequence moved past the sleep.
//!
//! Twins: the start claimed by a load and a store (two purgers); the
//! sequence read after the take (`Wakeup::twin_take_reading_seq_last`),
//! which loses a notice.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use loom::sync::Arc;
use loom::thread;
use masu::protocol::{Atomic, Starter, Wakeup};
use masu_loom_tests::broken::Torn;
use masu_loom_tests::{model, Coverage};

fn start_model<A: Atomic<bool> + Send + Sync + 'static>() {
    model(3, || {
        let starter = Arc::new(Starter::<A>::new_in());
        let wins = Arc::new(AtomicUsize::new(0));
        let exits: Vec<_> = (0..2)
            .map(|_| {
                let (starter, wins) = (starter.clone(), wins.clone());
                thread::spawn(move || {
                    if starter.claim() {
                        wins.fetch_add(1, Relaxed);
                    }
                })
            })
            .collect();
        for e in exits {
            e.join().unwrap();
        }
        assert_eq!(wins.load(Relaxed), 1, "purger started twice");
        // A failed start (or a fork child) resets; the next claim wins again.
        starter.reset();
        assert!(starter.claim() && !starter.claim());
    });
}

#[test]
fn one_thread_starts_the_purger() {
    start_model::<AtomicBool>();
}

#[test]
#[should_panic(expected = "purger started twice")]
fn twin_start_claimed_by_load_then_store_is_caught() {
    start_model::<Torn<AtomicBool>>();
}

static NOTICE: Coverage = Coverage::new("a_notice_is_never_lost");
static NOTICE_TWIN: Coverage = Coverage::new("twin_sequence_read_after_the_take");

fn notice_model(twin: bool) {
    let coverage = if twin { &NOTICE_TWIN } else { &NOTICE };
    model(3, move || {
        let w = Arc::new(Wakeup::<AtomicBool, AtomicUsize>::new_in());
        let exiting = {
            let w = w.clone();
            thread::spawn(move || w.notify())
        };
        let take = |w: &Wakeup<AtomicBool, AtomicUsize>| {
            if twin {
                w.twin_take_reading_seq_last()
            } else {
                w.take()
            }
        };
        // The purger: a take; when it finds nothing it would sleep while
        // the sequence reads what the take returned.
        let first = take(&w);
        exiting.join().unwrap();
        coverage.count(first.is_err());
        if let Err(seq) = first {
            // After the notice, a sleep on `seq` must end (the sequence
            // moved); the futex would otherwise never return with the
            // notice pending.
            assert!(
                w.moved(seq),
                "notice lost: the purger sleeps on a sequence that never moves"
            );
            assert!(take(&w).is_ok(), "the notice was not there to take");
        }
    });
    coverage.check("the purger finding no notice first", 1);
}

#[test]
fn a_notice_is_never_lost() {
    notice_model(false);
}

#[test]
#[should_panic(expected = "notice lost")]
fn twin_sequence_read_after_the_take_is_caught() {
    notice_model(true);
}
