//! A slot's gate (`std-shim/src/gate.rs`): the owner's heap calls against
//! the background purger, the real `Gate` over loom's atomics, with `SeqCst`
//! fences on both sides (what the owner's compiler fence and the purger's
//! `membarrier` amount to).
//!
//! The owner makes two heap calls (`enter`, then `try_enter` falling back
//! to `enter`; a write to the heap; `leave`);
//! the purger reads the gate's count and, if it is even, tries to claim the
//! heap and writes to it. The heap is a [`Tracked`] cell, so loom fails the
//! model if the two ever touch it concurrently or unordered. Checked in
//! every interleaving within the preemption bound: no such access, and the
//! purger does claim the heap in some executions (between or after the
//! owner's calls, [`Coverage`]).
//!
//! Twins, each caught by loom as concurrent writes to the heap: the purger
//! looks at the count before it says `claimed`
//! (`Gate::broken_try_claim_look_first`), so an owner that enters between
//! the two is missed and misses the claim; and the owner without a fence
//! between its store and its load (the purger's alone does not order the
//! owner's side: on the machine, `membarrier` is what does).
//!
//! [`Tracked`]: masu_loom_tests::Tracked
//! [`Coverage`]: masu_loom_tests::Coverage
#![cfg(loom)]

use loom::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use masu::protocol::{Fences, Gate};
use masu_loom_tests::{model, Coverage, Tracked};

/// Both sides' fences as `SeqCst` fences.
struct SeqCstFences;

impl Fences for SeqCstFences {
    fn light() {
        fence(SeqCst);
    }
    fn heavy() -> bool {
        fence(SeqCst);
        true
    }
}

/// The twin's fences: none on the owner's side (what the compiler fence
/// alone would be without the purger's `membarrier`).
struct PurgerFenceOnly;

impl Fences for PurgerFenceOnly {
    fn light() {}
    fn heavy() -> bool {
        fence(SeqCst);
        true
    }
}

type ModelGate<F = SeqCstFences> = Gate<AtomicU32, AtomicBool, F>;

struct Fixture<F> {
    gate: ModelGate<F>,
    heap: Tracked<u64>,
}

fn run<F: Fences + 'static>(claim: fn(&ModelGate<F>, u32) -> bool, claimed: &'static Coverage) {
    model(3, move || {
        let f = Arc::new(Fixture {
            gate: ModelGate::<F>::new_in(),
            heap: Tracked::new(0),
        });
        let fo = f.clone();
        let owner = thread::spawn(move || {
            // The first call as `with_heap` enters, the second as the
            // allocation path does: `try_enter`, else `enter` (cold).
            for call in 0..2 {
                if call == 0 || !fo.gate.try_enter() {
                    fo.gate.enter();
                }
                fo.heap.with(|h| *h += 1);
                fo.gate.leave();
            }
        });
        let seen = f.gate.seq();
        let took = claim(&f.gate, seen);
        claimed.count(took);
        if took {
            f.heap.with(|h| *h += 100);
            f.gate.release();
        }
        owner.join().unwrap();
        let expect = if took { 102 } else { 2 };
        assert_eq!(f.heap.with(|h| *h), expect);
    });
}

#[test]
fn the_purger_and_the_owner_never_hold_the_heap_at_once() {
    static CLAIMED: Coverage = Coverage::new("purger claimed the heap");
    run::<SeqCstFences>(|g, seen| g.try_claim(seen), &CLAIMED);
    CLAIMED.check("the purger claiming the heap", 1);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn twin_looking_before_claiming_is_caught() {
    static CLAIMED: Coverage = Coverage::new("purger claimed the heap");
    run::<SeqCstFences>(|g, seen| g.broken_try_claim_look_first(seen), &CLAIMED);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn twin_without_the_owners_fence_is_caught() {
    static CLAIMED: Coverage = Coverage::new("purger claimed the heap");
    run::<PurgerFenceOnly>(|g, seen| g.try_claim(seen), &CLAIMED);
}
