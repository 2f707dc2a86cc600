//! The std shim's heap pool (`std-shim/src/slots.rs`, used by
//! `std-shim/src/pool.rs`): the real `SlotPool` over loom's atomics.
//!
//! * `threads_claim_and_give_back_slots_under_the_pool_lock`: one slot is
//!   idle; two threads each take a slot (one adopts the idle one, the other
//!   makes one, or adopts the slot the first gave back), use its heap and
//!   give it back, while a stats reader walks the idle slots under the lock
//!   and uses their heaps. In every interleaving: a slot is never held by
//!   two threads, every use of a slot's heap is ordered after the previous
//!   one (the heap is a loom cell), and the counts come out right.
//! * `stats_readers_see_slots_published_whole_and_counts_that_add_up`: two
//!   threads make a slot each while a reader, without the lock, walks the
//!   list of all slots (reading each slot's initialisation, a loom cell
//!   written before publication) and reads the counts, twice. In every
//!   interleaving: every slot found is initialised, none twice, never more
//!   slots in use than made, counts never going backwards.
//! * `collecting_idle_heaps_without_the_lock_keeps_the_purger_out`:
//!   `masu::collect_abandoned` detaches the idle slots (`IdleList::take_all`)
//!   and collects their heaps without the lock while the background purger
//!   walks the idle slots under it (`SlotPool::for_each_idle`) and collects
//!   theirs. In every interleaving: no heap is used by both at once, and
//!   every slot is idle again afterwards. Its twin detaches the slots
//!   without marking them in use (a bug the stress test hit once).
//!
//! Twins run the same code over broken atomics (`masu_loom_tests::broken`):
//! the lock's acquire relaxed, the lock taken by a load and a store, the
//! list's publication relaxed, the count read relaxed.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize};
use loom::sync::Arc;
use loom::thread;
use masu::protocol::{Atomic, AtomicCount, IdleList, SlotPool};
use masu_loom_tests::broken::{NoAcquire, NoRelease, Torn};
use masu_loom_tests::{model, Coverage, ModelSlot, Shared, MADE};
use std::collections::HashSet;

type Slot = ModelSlot<u64>;
/// The pool over the atomics `F` (lock), `P` (list head), `C` (counts); its
/// own state counts the slots made.
type Pool<F, P, C> = SlotPool<Slot, usize, F, P, C>;

/// Makes a slot, as the shim's `make` does (a fresh slot, in use).
fn make(made: &mut usize) -> *mut Slot {
    *made += 1;
    ModelSlot::new_held(0)
}

/// Frees every slot of the pool (all threads are done).
fn free_all<F, P, C>(pool: &Pool<F, P, C>) -> usize
where
    F: Atomic<bool>,
    P: Atomic<*mut Slot>,
    C: AtomicCount,
{
    let mut all = Vec::new();
    pool.for_each(|s| all.push(s as usize));
    for &s in &all {
        // SAFETY: every thread is done; each slot is on the list once.
        unsafe { ModelSlot::free(s as *mut Slot) };
    }
    all.len()
}

fn claim_model<F: Atomic<bool> + Send + Sync + 'static>(coverage: &Coverage) {
    let pool: Arc<Shared<Pool<F, AtomicPtr<Slot>, AtomicUsize>>> =
        Arc::new(Shared(SlotPool::new_in(0)));
    // One idle slot, used before.
    let (s0, adopted) = pool.take(make);
    assert!(!adopted);
    // SAFETY: we hold `s0`.
    unsafe {
        (*s0).hold();
        (*s0).heap.with(|h| *h = 100);
        (*s0).unhold();
        pool.give(s0);
    }

    let workers: Vec<_> = (1..=2u64)
        .map(|t| {
            let pool = pool.clone();
            thread::spawn(move || {
                if t == 2 {
                    // A stats reader first: the heaps of idle slots, under
                    // the lock.
                    pool.for_each_idle(|s| {
                        // SAFETY: idle slots' heaps are used under the lock
                        // only.
                        unsafe {
                            (*s).heap
                                .with(|h| assert_ne!(*h, 0, "an idle slot's heap is unused"))
                        };
                    });
                }
                let (s, adopted) = pool.take(make);
                assert!(!s.is_null());
                // SAFETY: the pool gave us `s`: its heap is ours now.
                let previous = unsafe {
                    (*s).hold();
                    (*s).heap.with(|h| core::mem::replace(h, t))
                };
                assert_eq!(adopted, previous != 0, "adopted a fresh slot");
                // SAFETY: we hold `s` and give it up.
                unsafe {
                    (*s).unhold();
                    pool.give(s);
                }
                // Adopted the slot the other worker gave back.
                previous != 0 && previous != 100
            })
        })
        .collect();

    let mut readopted = false;
    for w in workers {
        readopted |= w.join().unwrap();
    }
    coverage.count(readopted);
    let made = pool.lock().state;
    assert!((1..=2).contains(&made), "{made} slots made");
    assert_eq!(pool.counts(), (made, 0), "counts: (made, in use)");
    let mut idle = 0;
    pool.for_each_idle(|_| idle += 1);
    assert_eq!(idle, made, "every slot is idle again");
    assert_eq!(free_all(&pool), made);
}

fn list_model<P, C>(coverage: &Coverage)
where
    P: Atomic<*mut Slot> + Send + Sync + 'static,
    C: AtomicCount + Send + Sync + 'static,
{
    let pool: Arc<Shared<Pool<AtomicBool, P, C>>> = Arc::new(Shared(SlotPool::new_in(0)));
    let makers: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || {
                let (s, adopted) = pool.take(make);
                assert!(!s.is_null() && !adopted);
                // SAFETY: the pool gave us `s`.
                unsafe { (*s).hold() };
                s as usize
            })
        })
        .collect();

    // A stats reader, without the lock: the counts, then every slot.
    let mut last = (0, 0);
    let mut saw_one = false;
    for _ in 0..2 {
        let (made, in_use) = pool.counts();
        assert!(
            in_use <= made,
            "more slots in use than made: {in_use} > {made}"
        );
        assert!(
            made >= last.0 && in_use >= last.1,
            "counts went backwards: {last:?} then {:?}",
            (made, in_use)
        );
        last = (made, in_use);
        let mut seen = HashSet::new();
        pool.for_each(|s| {
            // SAFETY: published slots live as long as the pool.
            assert_eq!(unsafe { (*s).made() }, MADE, "a slot seen uninitialised");
            assert!(seen.insert(s as usize), "a slot listed twice");
        });
        assert!(seen.len() <= 2);
        saw_one |= !seen.is_empty();
    }
    coverage.count(saw_one);

    let slots: Vec<usize> = makers.into_iter().map(|m| m.join().unwrap()).collect();
    assert_ne!(slots[0], slots[1]);
    assert_eq!(pool.counts(), (2, 2));
    for s in slots {
        // SAFETY: the makers are done with their slots.
        unsafe {
            (*(s as *mut Slot)).unhold();
            pool.give(s as *mut Slot);
        }
    }
    assert_eq!(pool.counts(), (2, 0));
    assert_eq!(free_all(&pool), 2);
}

fn detach_model(twin: bool, coverage: &Coverage) {
    let pool: Arc<Shared<Pool<AtomicBool, AtomicPtr<Slot>, AtomicUsize>>> =
        Arc::new(Shared(SlotPool::new_in(0)));
    // Two idle slots, left by exited threads.
    let (a, _) = pool.take(make);
    let (b, _) = pool.take(make);
    // SAFETY: we hold both and give them up.
    unsafe {
        pool.give(a);
        pool.give(b);
    }

    let purger = {
        let pool = pool.clone();
        thread::spawn(move || {
            let mut visited = 0;
            pool.for_each_idle(|s| {
                // SAFETY: idle slots' heaps are used under the lock only.
                unsafe { (*s).heap.with(|h| *h += 1) };
                visited += 1;
            });
            visited
        })
    };

    // `collect_abandoned`: detach, collect without the lock, put back.
    let head = if twin {
        pool.lock().list.twin_take_all_unmarked()
    } else {
        pool.lock().list.take_all()
    };
    let mut s = head;
    let mut collected = 0;
    while !s.is_null() {
        // SAFETY: we hold the detached list.
        unsafe {
            (*s).heap.with(|h| *h += 10);
            s = IdleList::next_detached(s);
        }
        collected += 1;
    }
    assert_eq!(collected, 2, "the idle slots detached");
    // SAFETY: `head` is the detached list, unchanged.
    unsafe { pool.lock().list.put_back(head) };

    let visited = purger.join().unwrap();
    coverage.count(visited == 0);
    assert!(
        visited == 0 || visited == 2,
        "the purger visited {visited} slots"
    );
    let mut idle = 0;
    pool.for_each_idle(|s| {
        // SAFETY: every thread is done; under the lock.
        unsafe {
            (*s).heap
                .with(|h| assert!(*h == 10 || *h == 11, "heap {h}"))
        };
        idle += 1;
    });
    assert_eq!(idle, 2, "every slot is idle again");
    assert_eq!(pool.counts(), (2, 0));
    assert_eq!(free_all(&pool), 2);
}

fn check_detach(twin: bool, name: &'static str) {
    let coverage: &'static Coverage = Box::leak(Box::new(Coverage::new(name)));
    model(3, move || detach_model(twin, coverage));
    coverage.check("the purger walking while the collector holds the slots", 1);
}

fn check_claim<F: Atomic<bool> + Send + Sync + 'static>(name: &'static str, bound: usize) {
    let coverage: &'static Coverage = Box::leak(Box::new(Coverage::new(name)));
    model(bound, move || claim_model::<F>(coverage));
    coverage.check("a worker adopting the slot the other gave back", 1);
}

fn check_list<P, C>(name: &'static str, bound: usize)
where
    P: Atomic<*mut Slot> + Send + Sync + 'static,
    C: AtomicCount + Send + Sync + 'static,
{
    let coverage: &'static Coverage = Box::leak(Box::new(Coverage::new(name)));
    model(bound, move || list_model::<P, C>(coverage));
    coverage.check("the reader finding a slot being made", 1);
}

#[test]
fn threads_claim_and_give_back_slots_under_the_pool_lock() {
    check_claim::<AtomicBool>("slot claim", 3);
}

#[test]
fn stats_readers_see_slots_published_whole_and_counts_that_add_up() {
    check_list::<AtomicPtr<Slot>, AtomicUsize>("slot list and counts", 3);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn twin_pool_lock_with_a_relaxed_acquire_is_caught() {
    check_claim::<NoAcquire<AtomicBool>>("twin: relaxed lock acquire", 3);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn twin_pool_lock_taken_by_load_then_store_is_caught() {
    check_claim::<Torn<AtomicBool>>("twin: lock by load + store", 3);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn twin_slot_published_with_a_relaxed_store_is_caught() {
    check_list::<NoRelease<AtomicPtr<Slot>>, AtomicUsize>("twin: relaxed publication", 3);
}

#[test]
#[should_panic(expected = "more slots in use than made")]
fn twin_counts_read_relaxed_is_caught() {
    check_list::<AtomicPtr<Slot>, NoAcquire<AtomicUsize>>("twin: relaxed count read", 3);
}

#[test]
fn collecting_idle_heaps_without_the_lock_keeps_the_purger_out() {
    check_detach(false, "detached idle slots");
}

#[test]
#[should_panic(expected = "Causality violation")]
fn twin_idle_slots_detached_unmarked_is_caught() {
    check_detach(true, "twin: detached unmarked");
}
