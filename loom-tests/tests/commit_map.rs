//! The std shim's commit accounting (`std-shim/src/commit.rs`, used by
//! `std-shim/src/os.rs`): the real `publish` and `CommitCounter` over loom's
//! atomics.
//!
//! * `committed_total_stays_under_the_limit_and_ends_exact`: with a limit of
//!   100 and 50 bytes committed, two threads each charge 40 while a third
//!   gives the 50 back and a stats reader reads twice. In every
//!   interleaving: no reading shows more committed than the limit or than
//!   the peak, the peak never goes down between readings nor passes the
//!   limit, at least one charge succeeds, and the total ends exactly at what
//!   the successful charges and the uncharge make it.
//! * `a_leaf_is_published_once_and_seen_initialised`: two threads need the
//!   same leaf of the commit map (both may make one; one wins the CAS, the
//!   other discards its own) while a third looks it up without creating it.
//!   In every interleaving: both get the same leaf, exactly one leaf
//!   survives, every thread that finds it finds it initialised (a loom cell
//!   written before publication), and both threads' entries land in it.
//!
//! Twins run the same code over broken atomics (`masu_loom_tests::broken`):
//! the counter's CAS as a load and a store (a lost update), the leaf's slot
//! read without acquire, the leaf's CAS as a load and a store.
#![cfg(loom)]

use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize};
use loom::sync::Arc;
use loom::thread;
use masu::protocol::{publish, Atomic, AtomicCount, CommitCounter};
use masu_loom_tests::broken::{NoAcquire, Torn};
use masu_loom_tests::{model, Coverage};
use std::sync::atomic::AtomicUsize as Count;
use std::sync::atomic::Ordering::Relaxed;

const LIMIT: usize = 100;
const BEFORE: usize = 50;
const CHARGE: usize = 40;

/// One reading of the counter, checked against the limit and the reading
/// before it.
fn read_checked<C: AtomicCount>(counter: &CommitCounter<C>, last_peak: &mut usize) -> usize {
    let (committed, peak) = counter.read();
    assert!(committed <= LIMIT, "committed {committed} > limit {LIMIT}");
    assert!(peak <= LIMIT, "peak {peak} > limit {LIMIT}");
    assert!(committed <= peak, "committed {committed} > peak {peak}");
    assert!(
        peak >= *last_peak,
        "peak went down: {last_peak} then {peak}"
    );
    *last_peak = peak;
    committed
}

fn counter_model<C: AtomicCount + Send + Sync + 'static>(coverage: &Coverage) {
    let counter: Arc<CommitCounter<C>> = Arc::new(CommitCounter::new_in());
    assert!(counter.charge(BEFORE, LIMIT));
    let chargers: Vec<_> = (0..2)
        .map(|_| {
            let counter = counter.clone();
            thread::spawn(move || counter.charge(CHARGE, LIMIT))
        })
        .collect();
    let giver = {
        let counter = counter.clone();
        thread::spawn(move || counter.uncharge(BEFORE))
    };

    let mut last_peak = 0;
    let mut saw_charge = false;
    for _ in 0..2 {
        let c = read_checked(&counter, &mut last_peak);
        saw_charge |= c != BEFORE && c != 0;
    }

    let ok: Vec<bool> = chargers.into_iter().map(|t| t.join().unwrap()).collect();
    giver.join().unwrap();
    coverage.count(saw_charge && ok.contains(&false));
    assert!(ok.contains(&true), "both charges refused");
    let expected = ok.iter().filter(|&&o| o).count() * CHARGE;
    let committed = read_checked(&counter, &mut last_peak);
    assert_eq!(
        committed, expected,
        "committed total not exact: {committed}, charges {ok:?}"
    );
}

/// A leaf of the commit map: initialised before publication (the kernel's
/// zeroed page in the shim; here a loom cell written by its maker), then
/// entries written by whoever finds it.
struct Leaf {
    init: loom::cell::UnsafeCell<u64>,
    entries: [AtomicU32; 2],
}

const INIT: u64 = 0x1eaf;

/// Leaves made and discarded (model bookkeeping, not part of the protocol).
struct Tally {
    made: Count,
    discarded: Count,
}

fn seen_initialised(leaf: *mut Leaf) {
    // SAFETY: a published leaf lives until the model frees it at the end;
    // loom checks the read is ordered after the initialisation.
    let v = unsafe { (*leaf).init.with(|p| *p) };
    assert_eq!(v, INIT, "a leaf seen uninitialised");
}

fn get<A: Atomic<*mut Leaf>>(slot: &A, create: bool, tally: &Tally) -> Option<*mut Leaf> {
    publish(
        slot,
        create,
        || {
            tally.made.fetch_add(1, Relaxed);
            let leaf = Box::into_raw(Box::new(Leaf {
                init: loom::cell::UnsafeCell::new(0),
                entries: [AtomicU32::new(0), AtomicU32::new(0)],
            }));
            // SAFETY: just made, not yet published.
            unsafe { (*leaf).init.with_mut(|p| *p = INIT) };
            leaf
        },
        |fresh| {
            tally.discarded.fetch_add(1, Relaxed);
            // SAFETY: made above and never published.
            drop(unsafe { Box::from_raw(fresh) });
        },
    )
}

struct LeafFixture<A> {
    slot: A,
    tally: Tally,
}

fn leaf_model<A: Atomic<*mut Leaf> + Send + Sync + 'static>(coverage: &Coverage) {
    let fx = Arc::new(masu_loom_tests::Shared(LeafFixture {
        slot: A::new(core::ptr::null_mut()),
        tally: Tally {
            made: Count::new(0),
            discarded: Count::new(0),
        },
    }));
    let users: Vec<_> = (0..2)
        .map(|i| {
            let fx = fx.clone();
            thread::spawn(move || {
                let leaf = get(&fx.slot, true, &fx.tally).expect("made a leaf");
                seen_initialised(leaf);
                // SAFETY: a published leaf lives until the end.
                unsafe {
                    (*leaf).entries[i].store(i as u32 + 1, loom::sync::atomic::Ordering::Relaxed)
                };
                leaf as usize
            })
        })
        .collect();
    // Steers loom's first execution to run the users first (see
    // `remote_free.rs` on loom's partial-order reduction and a load followed
    // by a CAS); `Coverage` checks the lookup did find the leaf while they
    // ran.
    thread::yield_now();
    let found = get(&fx.slot, false, &fx.tally);
    if let Some(leaf) = found {
        seen_initialised(leaf);
    }
    let got: Vec<usize> = users.into_iter().map(|u| u.join().unwrap()).collect();
    let (made, discarded) = (
        fx.tally.made.load(Relaxed),
        fx.tally.discarded.load(Relaxed),
    );
    coverage.count(made == 2 && found.is_some());
    assert_eq!(got[0], got[1], "two leaves published for one slot");
    assert_eq!(
        made - discarded,
        1,
        "{made} leaves made, {discarded} discarded"
    );
    let leaf = fx.slot.load(loom::sync::atomic::Ordering::Acquire);
    assert_eq!(leaf as usize, got[0]);
    // SAFETY: every thread is done; the leaf was published once.
    let leaf = unsafe { Box::from_raw(leaf) };
    let e: Vec<u32> = leaf
        .entries
        .iter()
        .map(|e| e.load(loom::sync::atomic::Ordering::Relaxed))
        .collect();
    assert_eq!(e, [1, 2], "an entry written to a lost leaf");
}

fn check_counter<C: AtomicCount + Send + Sync + 'static>(name: &'static str, bound: usize) {
    let coverage: &'static Coverage = Box::leak(Box::new(Coverage::new(name)));
    model(bound, move || counter_model::<C>(coverage));
    coverage.check("the reader seeing a charge while the other was refused", 1);
}

fn check_leaf<A: Atomic<*mut Leaf> + Send + Sync + 'static>(name: &'static str, bound: usize) {
    let coverage: &'static Coverage = Box::leak(Box::new(Coverage::new(name)));
    model(bound, move || leaf_model::<A>(coverage));
    coverage.check("two leaves made and the lookup finding the winner", 1);
}

#[test]
fn committed_total_stays_under_the_limit_and_ends_exact() {
    check_counter::<AtomicUsize>("commit counter", 3);
}

#[test]
fn a_leaf_is_published_once_and_seen_initialised() {
    check_leaf::<AtomicPtr<Leaf>>("leaf publication", 3);
}

#[test]
#[should_panic(expected = "committed total not exact")]
fn twin_commit_counter_with_a_torn_cas_is_caught() {
    check_counter::<Torn<AtomicUsize>>("twin: torn commit CAS", 3);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn twin_leaf_read_without_acquire_is_caught() {
    check_leaf::<NoAcquire<AtomicPtr<Leaf>>>("twin: relaxed leaf read", 3);
}

#[test]
#[should_panic(expected = "two leaves published")]
fn twin_leaf_published_by_a_torn_cas_is_caught() {
    check_leaf::<Torn<AtomicPtr<Leaf>>>("twin: torn leaf CAS", 3);
}
