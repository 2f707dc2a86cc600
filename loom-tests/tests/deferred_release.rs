//! The stack of reservations waiting for the background purger to unmap
//! them (`std-shim/src/deferred_release.rs`), the real code over loom's
//! atomics: heap owners push released ranges while the purger takes the
//! whole stack.
//!
//! * `two_pushers_and_a_taker`: two threads each push one range while a
//!   third takes the stack twice; what is left is taken after the joins.
//!   In every interleaving each range is taken exactly once, with its
//!   length (nothing lost, nothing twice), and the taker saw both pushes in
//!   some executions and a push between its two takes in others.
//!
//! Twins: the head's compare-and-swap as a load and a store (`Torn`),
//! which loses a range when two pushes, or a push and a take, overlap.
#![cfg(loom)]

use core::mem::MaybeUninit;
use loom::sync::atomic::AtomicPtr;
use loom::sync::Arc;
use loom::thread;
use masu::protocol::{Atomic, Node, ReleaseStack};
use masu_loom_tests::broken::Torn;
use masu_loom_tests::{model, Coverage};

/// Memory for one node (what a released range's first bytes are).
struct Range(*mut u8);
// SAFETY: the memory is handed from the pusher to the stack to the taker,
// one owner at a time (what the model checks).
unsafe impl Send for Range {}

fn range<P>() -> Range {
    Range(Box::into_raw(Box::new(MaybeUninit::<Node<P>>::uninit())) as *mut u8)
}

/// Walks a taken list: each node's (address, length), in order.
fn walk<P: Atomic<*mut u8>>(mut node: *mut Node<P>, out: &mut Vec<(usize, usize)>) {
    while !node.is_null() {
        // SAFETY: a taken node: the taker's alone.
        unsafe {
            out.push((node as usize, (*node).bytes()));
            node = (*node).next();
        }
    }
}

static MODEL: Coverage = Coverage::new("two_pushers_and_a_taker");

fn stack_model<P: Atomic<*mut u8> + Send + Sync + 'static>(cover: bool) {
    model(3, move || {
        let stack = Arc::new(ReleaseStack::<P>::new_in());
        let ranges = [range::<P>(), range::<P>()];
        let addrs = [ranges[0].0 as usize, ranges[1].0 as usize];
        let pushers: Vec<_> = ranges
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let stack = stack.clone();
                // SAFETY: fresh memory for a node, this thread's alone.
                thread::spawn(move || unsafe { stack.push(r.0, 4096 * (i + 1)) })
            })
            .collect();
        let mut taken = Vec::new();
        // A yield point first: without one, loom ran the pushers only
        // after both takes (no execution took anything before the joins).
        thread::yield_now();
        walk(stack.take_all(), &mut taken);
        let first = taken.len();
        walk(stack.take_all(), &mut taken);
        let between = taken.len() - first;
        for p in pushers {
            p.join().unwrap();
        }
        walk(stack.take_all(), &mut taken);
        taken.sort();
        let mut want = vec![(addrs[0], 4096), (addrs[1], 8192)];
        want.sort();
        assert_eq!(taken, want, "a range lost or taken twice");
        if cover {
            MODEL.count(first == 2 || between > 0);
        }
        for (a, _) in taken {
            // SAFETY: each node once, its memory from `range`.
            unsafe {
                core::ptr::drop_in_place(a as *mut Node<P>);
                drop(Box::from_raw(a as *mut MaybeUninit<Node<P>>));
            }
        }
    });
}

#[test]
fn two_pushers_and_a_taker() {
    stack_model::<AtomicPtr<u8>>(true);
    MODEL.check("both pushes in the first take, or one between the takes", 1);
}

#[test]
#[should_panic(expected = "a range lost or taken twice")]
fn twin_compare_and_swap_as_load_and_store_is_caught() {
    stack_model::<Torn<AtomicPtr<u8>>>(false);
}
