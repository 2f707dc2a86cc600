//! Abandon and adopt: a heap handed from an exiting thread to an adopting
//! one while other threads free its blocks: real `masu_core::Heap`s over one
//! fixed region, handed over through the std shim's real pool
//! (`masu::protocol::SlotPool`: its spin lock and idle list).
//!
//! masu-core has no page-level abandon/adopt protocol: a page's `owner` is
//! the id of the heap that made it, set when the page is made and cleared
//! when it is freed, both by that heap and only while none of the page's
//! blocks is live (pending remote frees count as live until collected), so a
//! thread freeing a live block never sees it change. Thread exit is handled
//! by the std shim, which hands the *whole* heap, id and all, to the next
//! thread through its pool lock; frees a thread makes after that go through
//! a scratch heap with id 0, which owns no page, so they are remote frees.
//! This model checks that protocol:
//!
//! * the owner's first page of 128-byte blocks is full, so it sits in the
//!   heap's full queue and its owner word carries the slow-path bit;
//! * thread A (the exiting owner) frees a block locally (which takes the
//!   page out of the full queue and clears the bit, while the other threads
//!   read the word), then, as the shim's exit hook does, collects its heap
//!   and gives its slot back to the pool with the heap's blocks still live
//!   (it abandons them), then frees another block through a scratch heap;
//! * thread B (the adopter) takes the idle slot from the pool as a new
//!   thread's first allocation does (`SlotPool::take`; its `make` finds no
//!   memory for a new slot, so B retries until A's slot is idle), collects,
//!   reuses what it got back and frees it again;
//! * thread C (another heap) frees a small and a large block of the heap,
//!   before, during or after the handoff.
//!
//! In every interleaving within the bound: each `dealloc` takes the right
//! side of the owner test (the owner's frees go to `local_free`, everyone
//! else's to `thread_free`), every block is reclaimed exactly once (the
//! counters balance, no block is handed out twice afterwards, the large
//! span's page is freed), freeing everything gives the region back whole,
//! and every reuse of a block comes after its free (the [`Payload`] cells),
//! every use of the heap after the previous one ([`Tracked`]).
//!
//! The twin runs the same pool over a lock whose acquire is `Relaxed`
//! (`masu_loom_tests::broken::NoAcquire`); loom must catch the unordered
//! uses of the heap.
//!
//! The adopter and the model's owner yield while waiting, and the remote
//! freers start with a yield, which steers loom towards running the frees
//! before the collects (see `remote_free.rs` for why); [`Coverage`] checks
//! the adopter did collect remote frees in some executions, and that C did
//! free into the heap while it lay abandoned (given back, not yet adopted)
//! in some.
//!
//! [`Payload`]: masu_loom_tests::Payload
//! [`Tracked`]: masu_loom_tests::Tracked
//! [`Coverage`]: masu_loom_tests::Coverage
#![cfg(loom)]

use core::alloc::Layout;
use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize};
use loom::sync::Arc;
use loom::thread;

/// Stack of each model thread: a `Heap` is a few KiB and the threads hold
/// one or two, beyond loom's small default coroutine stacks.
const MODEL_STACK: usize = 1 << 20;
use masu::protocol::{Atomic, SlotPool};
use masu_core::size_class::class_of;
use masu_core::{Config, Heap};
use masu_loom_tests::broken::NoAcquire;
use masu_loom_tests::{install_payload, model, use_block, Coverage, ModelSlot, Region, Shared};

/// The `checks` feature's trailer: a request of `128 - TRAILER` bytes takes
/// a 128-byte block with it, as 128 bytes do without.
const TRAILER: usize = if cfg!(feature = "checks") { 16 } else { 0 };
const SMALL: Layout = match Layout::from_size_align(128 - TRAILER, 16) {
    Ok(l) => l,
    Err(_) => panic!(),
};
const LARGE: Layout = match Layout::from_size_align(2048, 16) {
    Ok(l) => l,
    Err(_) => panic!(),
};
/// Blocks of `SMALL` in one page of `Config::SMALL_REGION` (1 KiB slices).
const SMALL_PER_PAGE: usize = 8;
/// Room for a few 16 KiB segments at 16 KiB alignment.
const REGION_BYTES: usize = 96 << 10;

type TestHeap = Heap<Region>;
type Slot = ModelSlot<TestHeap>;
/// The shim's pool over the lock flag `F`.
type Pool<F> = SlotPool<Slot, (), F, AtomicPtr<Slot>, AtomicUsize>;

/// An address sendable to other threads.
#[derive(Clone, Copy)]
struct SlotPtr(usize);

impl SlotPtr {
    fn get(self) -> *mut Slot {
        self.0 as *mut Slot
    }
}

/// Block addresses, sendable to other threads.
#[derive(Clone, Copy)]
struct Blocks {
    small: [usize; 3],
    large: usize,
}

impl Blocks {
    fn small(&self, i: usize) -> *mut u8 {
        self.small[i] as *mut u8
    }
}

/// Where the heap is in its handoff (model bookkeeping, not a loom atomic:
/// loom runs one thread at a time, so this is the real order of events).
#[derive(Clone)]
struct Phase(std::sync::Arc<std::sync::atomic::AtomicU8>);
const HELD: u8 = 0;
const ABANDONED: u8 = 1;
const ADOPTED: u8 = 2;

impl Phase {
    fn set(&self, p: u8) {
        self.0.store(p, std::sync::atomic::Ordering::Relaxed);
    }

    fn is(&self, p: u8) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed) == p
    }
}

fn handoff_model<F: Atomic<bool> + Send + Sync + 'static>(
    coverage: &Coverage,
    abandoned: &Coverage,
) {
    let phase = Phase(std::sync::Arc::new(HELD.into()));
    let region = Region::new(REGION_BYTES);
    let free_at_start = region.free_bytes();
    assert!(free_at_start > 0 && free_at_start <= region.size());

    // The owner's heap and another thread's heap over the same region.
    let mut owner = TestHeap::new(region.clone(), Config::SMALL_REGION);
    assert!(
        LARGE.size() > owner.max_small_size(),
        "LARGE must be a span"
    );
    let mut other = TestHeap::new(region.clone(), Config::SMALL_REGION);
    let x = other.alloc(SMALL) as usize;
    assert_ne!(x, 0);
    // Three blocks to free, five more to fill their page, and one that
    // finds the page full: the page goes to the full queue, where its owner
    // word carries the slow-path bit that the frees below must read right
    // while the owner clears it.
    let mut small = [0usize; 3];
    for s in &mut small {
        *s = owner.alloc(SMALL) as usize;
        assert_ne!(*s, 0);
    }
    let fillers: Vec<usize> = (0..SMALL_PER_PAGE - 3 + 1)
        .map(|_| owner.alloc(SMALL) as usize)
        .collect();
    assert!(fillers.iter().all(|&p| p != 0));
    let class = class_of(SMALL.size() + TRAILER);
    assert_eq!(
        owner.stats().pages_per_class[class],
        2,
        "the first page is full"
    );
    let large = owner.alloc(LARGE) as usize;
    assert_ne!(large, 0);
    let blocks = Blocks { small, large };
    for p in small.iter().chain([&large]) {
        // SAFETY: a live block of at least 128 bytes, aligned to 16.
        unsafe { install_payload(*p as *mut u8) };
    }
    let page_base = small[0] & !1023;
    assert!(
        small.iter().all(|&p| p & !1023 == page_base),
        "the three small blocks share one page"
    );

    // The owner's heap in a slot of the pool, held by thread A.
    let pool: Arc<Shared<Pool<F>>> = Arc::new(Shared(SlotPool::new_in(())));
    let (slot, adopted) = pool.take(|_| ModelSlot::new_held(owner));
    assert!(!slot.is_null() && !adopted);
    let slot = SlotPtr(slot as usize);

    // A: the exiting owner.
    let a = {
        let (pool, region, phase) = (pool.clone(), region.clone(), phase.clone());
        thread::Builder::new()
            .stack_size(MODEL_STACK)
            .spawn(move || {
                // SAFETY: A holds the slot.
                let owner = unsafe { &*slot.get() };
                owner.hold();
                owner.heap.with(|h| {
                    // SAFETY: a live block of `h`, last used here.
                    unsafe {
                        use_block(blocks.small(0), 1);
                        h.dealloc(blocks.small(0), SMALL);
                    }
                    // The exit hook.
                    h.collect(true);
                });
                owner.unhold();
                // SAFETY: A holds the slot and does not use it again.
                unsafe { pool.give(slot.get()) };
                phase.set(ABANDONED);
                // After its exit hook a thread frees through a heap that owns
                // nothing (id 0): a remote free.
                let mut scratch = TestHeap::new(region, Config::SMALL_REGION);
                // SAFETY: a live block of the heap A gave away, last used here.
                unsafe {
                    use_block(blocks.small(1), 1);
                    scratch.dealloc(blocks.small(1), SMALL);
                }
                assert_eq!(scratch.stats().reserved_bytes, 0);
            })
            .unwrap()
    };

    // B: the adopter.
    let b = {
        let (pool, phase) = (pool.clone(), phase.clone());
        thread::Builder::new()
            .stack_size(MODEL_STACK)
            .spawn(move || {
                // A new thread's first allocation: the idle slot (the pool has
                // no memory for a new one).
                let s = loop {
                    let (s, adopted) = pool.take(|_| core::ptr::null_mut());
                    if !s.is_null() {
                        assert!(adopted);
                        break s;
                    }
                    thread::yield_now();
                };
                phase.set(ADOPTED);
                assert_eq!(s, slot.get(), "adopted another slot");
                // SAFETY: B holds the slot now.
                let heap = unsafe { &*s };
                heap.hold();
                let reused_remote = heap.heap.with(|h| {
                    h.collect(false);
                    let mut reused_remote = false;
                    // The second page first (it is ahead in the queue), then the first.
                    let got: Vec<*mut u8> =
                        (0..SMALL_PER_PAGE + 2).map(|_| h.alloc(SMALL)).collect();
                    for &p in &got {
                        assert!(!p.is_null());
                        if let Some(i) = blocks.small.iter().position(|&s| s == p as usize) {
                            reused_remote |= i != 0;
                            // SAFETY: the block was freed and came back to us;
                            // this use must come after the free.
                            unsafe { use_block(p, 2) };
                        }
                    }
                    for p in got {
                        // SAFETY: live blocks of `h`.
                        unsafe { h.dealloc(p, SMALL) };
                    }
                    reused_remote
                });
                heap.unhold();
                reused_remote
            })
            .unwrap()
    };

    // C: another thread's heap frees a small and a large block of the owner.
    let c = thread::Builder::new()
        .stack_size(MODEL_STACK)
        .spawn(move || {
            thread::yield_now();
            let mut into_abandoned = false;
            // SAFETY: live blocks of the owner's heap, handed to us to free;
            // `x` is a live block of `other`.
            unsafe {
                use_block(blocks.small(2), 3);
                other.dealloc(blocks.small(2), SMALL);
                // The free waits in `other`'s batch of remote frees until it
                // is published (`RemoteBuffer`): by the next slow path or the
                // exit hook's collect in the shim; here at once, so that the
                // push still races the handoff.
                into_abandoned |= phase.is(ABANDONED);
                other.flush_remote_frees();
                use_block(blocks.large as *mut u8, 3);
                into_abandoned |= phase.is(ABANDONED);
                other.dealloc(blocks.large as *mut u8, LARGE);
                other.dealloc(x as *mut u8, SMALL);
            }
            (other, into_abandoned)
        })
        .unwrap();

    a.join().unwrap();
    let reused_remote = b.join().unwrap();
    let (mut other, into_abandoned) = c.join().unwrap();
    coverage.count(reused_remote);
    abandoned.count(into_abandoned);

    assert_eq!(pool.counts(), (1, 1), "counts: (made, in use)");
    // SAFETY: every thread is done with the slot.
    let mut owner = unsafe { ModelSlot::free(slot.get()) };
    for &p in &fillers {
        // SAFETY: live blocks of `owner`.
        unsafe { owner.dealloc(p as *mut u8, SMALL) };
    }
    owner.collect(false);
    let s = owner.stats();
    assert_eq!(s.live_bytes, 0, "{s:?}");
    assert_eq!(s.alloc_count, s.free_count, "{s:?}");
    assert_eq!(
        s.alloc_count as usize,
        3 + fillers.len() + 1 + SMALL_PER_PAGE + 2,
        "{s:?}"
    );
    assert_eq!(
        s.remote_frees_collected, 3,
        "the scratch heap's and C's frees are remote: {s:?}"
    );
    assert_eq!(s.large_spans, 0, "the large span's page was not freed");
    // No block is on a free list twice: the pages hand out distinct blocks.
    let again: Vec<usize> = (0..2 * SMALL_PER_PAGE)
        .map(|_| owner.alloc(SMALL) as usize)
        .collect();
    let mut sorted = again.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), again.len(), "a block handed out twice");
    assert!(!again.contains(&0));
    for p in again {
        // SAFETY: live blocks of `owner`.
        unsafe { owner.dealloc(p as *mut u8, SMALL) };
    }
    owner.collect(true);
    other.collect(true);
    assert_eq!(owner.stats().reserved_bytes, 0);
    assert_eq!(other.stats().reserved_bytes, 0);
    let o = other.stats();
    assert_eq!((o.alloc_count, o.free_count, o.live_bytes), (1, 1, 0));
    drop(owner);
    drop(other);
    assert_eq!(region.free_bytes(), free_at_start, "region not whole again");
}

fn check<F: Atomic<bool> + Send + Sync + 'static>(name: &'static str, bound: usize) {
    let coverage: &'static Coverage = Box::leak(Box::new(Coverage::new(name)));
    let abandoned: &'static Coverage = Box::leak(Box::new(Coverage::new(name)));
    // The model's heaps live on its threads' stacks: run it on a thread with
    // a stack of `MODEL_STACK` (loom's main coroutine stack is small).
    model(bound, move || {
        thread::Builder::new()
            .stack_size(MODEL_STACK)
            .spawn(move || handoff_model::<F>(coverage, abandoned))
            .unwrap()
            .join()
            .unwrap()
    });
    coverage.check("the adopter reusing a remotely freed block", 1);
    abandoned.check("a free into the heap while it lay abandoned", 1);
}

#[test]
fn heap_handed_over_through_the_pool_lock_while_others_free_its_blocks() {
    check::<AtomicBool>("handoff through the pool", 2);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn twin_handoff_through_a_pool_lock_with_a_relaxed_acquire_is_caught() {
    check::<NoAcquire<AtomicBool>>("twin: relaxed pool lock acquire", 2);
}
