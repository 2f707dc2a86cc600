//! Heap slots: one masu-core [`Heap`] per thread, kept in a process-wide pool.
//!
//! # Design
//! * A [`Slot`] holds a heap, the [`Counters`] it counts into (readable from
//!   any thread) and pool bookkeeping. Slots are carved from `mmap`ed arenas,
//!   never from `malloc`, and are never unmapped: the pool only grows to the
//!   most threads that used masu at once.
//! * A thread's slot pointer lives in a thread-local word with a constant
//!   initial value and no destructor, so reading it never allocates or
//!   registers anything. Its values: [`IDLE`] (not attached yet), [`GONE`]
//!   (the thread has gone through its exit hook), or the slot. `IDLE` and
//!   `GONE` are static slots whose heaps own nothing and never change, so
//!   the fast paths run on them without a check: they find no block to hand
//!   out and no page of their own, and fall through to the slow paths,
//!   which tell the three apart.
//! * On its first allocation a thread *attaches*: it takes an idle slot from
//!   the pool (adopting the heap whole, live blocks and all) or makes a new
//!   one, under a spin lock that is only taken at thread start and exit.
//!   The pool's protocol (the lock, the idle list, the list of all slots,
//!   the slot counts) is [`crate::slots`], which the loom models in
//!   `loom-tests/` run as well.
//! * The exit hook is a `pthread_key_create` destructor, not a Rust TLS
//!   destructor: glibc's `__cxa_thread_atexit_impl` may call `calloc`, and
//!   key destructors run after every C++/Rust TLS destructor, so nearly all
//!   of a thread's frees still reach its own heap. The hook runs
//!   `collect(true)` (purging what is empty) and gives the slot back to the
//!   pool, where the next new thread adopts it. Blocks still live in it stay
//!   valid; other threads' frees of them go to the pages' `thread_free` lists
//!   and are collected by the adopter.
//! * After the hook (later key destructors, glibc freeing the thread's
//!   dynamic TLS), a free is pushed as a remote free through a scratch heap
//!   that owns nothing, and an allocation borrows an idle slot for the one
//!   call. A thread whose first call is a free attaches like one whose first
//!   call is an allocation.
//! * `fork`: `pthread_atfork` handlers hold the pool lock across `fork`
//!   (registered when first needed: `lifecycle.rs`). In
//!   the child only the forking thread exists; the slots of the parent's other
//!   threads stay marked in use (their heaps may have been caught in the
//!   middle of an operation), so they are never adopted: their live blocks
//!   stay valid and frees of them are remote frees that are never collected.

use crate::options;
use crate::os::MmapOs;
use crate::slots::{IdleList, SlotPool};
use crate::thread_slot::{
    current, heap_of, is_slot, with_heap, with_idle_heap, IdleLook, ShimHeap, Slot,
    SCRATCH_COUNTERS,
};
use core::mem::ManuallyDrop;
use core::ptr;
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use masu_core::Config;

/// The pool's own state, under the pool lock (the idle slots are beside
/// it, see [`crate::slots`]).
struct Arena {
    /// Unused part of the current slot arena.
    arena: usize,
    arena_end: usize,
}

/// Bytes mapped at a time for slots.
const ARENA_BYTES: usize = 256 << 10;
const SLOT_BYTES: usize = core::mem::size_of::<Slot>();
static_assertions::const_assert!(SLOT_BYTES <= ARENA_BYTES);

/// Idle slots under the pool lock, every slot ever made (pushed under the
/// lock, read without it), and the slot counts.
static POOL: SlotPool<Slot, Arena> = SlotPool::new(Arena {
    arena: 0,
    arena_end: 0,
});

// Counters only, not part of a synchronisation protocol.
static ADOPTIONS: AtomicU64 = AtomicU64::new(0);
static THREAD_EXITS: AtomicU64 = AtomicU64::new(0);
static BORROWS: AtomicU64 = AtomicU64::new(0);
static ORPHAN_FREES: AtomicU64 = AtomicU64::new(0);
static FORKS: AtomicU64 = AtomicU64::new(0);
static FORK_HANDLERS: AtomicBool = AtomicBool::new(false);
static METADATA_BYTES: AtomicUsize = AtomicUsize::new(0);
static SEED: AtomicU64 = AtomicU64::new(0);

/// Figures about the heap pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PoolStats {
    /// Heaps ever made (the most threads that used masu at once).
    pub heaps: usize,
    /// Heaps held by a live thread now.
    pub heaps_in_use: usize,
    /// Times a new thread adopted an idle heap.
    pub adoptions: u64,
    /// Thread exits that gave a heap back.
    pub thread_exits: u64,
    /// Allocations by exiting threads after their exit hook (borrowed heap).
    pub borrows: u64,
    /// Frees by threads without a heap (remote frees through a scratch heap).
    pub orphan_frees: u64,
    /// `fork` calls seen in a child (by the `fork` handlers: not those of
    /// a process that forked while it had never had a second thread nor the
    /// purger, which needs no handlers; see [`PoolStats::fork_handlers`]).
    pub forks: u64,
    /// Registrations of masu's `fork` handlers: 1 once they are registered
    /// (at the first allocation of a process that already has a second
    /// thread, or once a second thread allocates or the purger starts), 0
    /// before.
    pub fork_handlers: u64,
    /// Bytes mapped for heap slots.
    pub metadata_bytes: usize,
}

/// A snapshot of the pool's figures.
pub fn pool_stats() -> PoolStats {
    let (heaps, heaps_in_use) = POOL.counts();
    PoolStats {
        heaps,
        heaps_in_use,
        adoptions: ADOPTIONS.load(Relaxed),
        thread_exits: THREAD_EXITS.load(Relaxed),
        borrows: BORROWS.load(Relaxed),
        orphan_frees: ORPHAN_FREES.load(Relaxed),
        forks: FORKS.load(Relaxed),
        fork_handlers: FORK_HANDLERS.load(Relaxed) as u64,
        metadata_bytes: METADATA_BYTES.load(Relaxed),
    }
}

/// The configuration of a new heap: the options' (see
/// `options::heap_config`) with the process's checks seed.
pub(crate) fn new_heap_config() -> masu_core::Config {
    options::heap_config(SEED.load(Relaxed))
}

/// Takes an idle slot or makes one; null when no memory is left. The bool
/// tells whether the slot was adopted (it may hold live blocks).
pub(crate) fn take_slot() -> (*mut Slot, bool) {
    let (s, adopted) = POOL.take(|pool| {
        if pool.arena_end - pool.arena < SLOT_BYTES {
            let m = crate::platform::map(ARENA_BYTES);
            if m.is_null() {
                return ptr::null_mut();
            }
            METADATA_BYTES.fetch_add(ARENA_BYTES, Relaxed);
            pool.arena = m as usize;
            pool.arena_end = m as usize + ARENA_BYTES;
        }
        let s = pool.arena as *mut Slot;
        pool.arena += SLOT_BYTES;
        let config = new_heap_config();
        // SAFETY: `s` is fresh, suitably aligned (arena chunks are
        // page-aligned and SLOT_BYTES is a multiple of the slot's alignment),
        // writable memory that nobody else knows about; slots are never
        // freed.
        unsafe { Slot::write_new(s, config) };
        s
    });
    if adopted {
        ADOPTIONS.fetch_add(1, Relaxed);
    }
    (s, adopted)
}

/// Gives `s` back to the pool.
///
/// # Safety
/// The caller holds `s` and does not use it afterwards.
pub(crate) unsafe fn release_slot(s: *mut Slot) {
    // SAFETY: forwarded from the caller; `s` came from `take_slot`.
    unsafe { POOL.give(s) }
}

/// Calls `f` on every slot ever made.
pub(crate) fn for_each_slot(f: impl FnMut(*mut Slot)) {
    POOL.for_each(f)
}

/// A per-process seed for the checks' free-list encoding.
fn make_seed() -> u64 {
    let local = 0u8;
    let addr = &local as *const u8 as u64;
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u64;
    let mut z = addr
        ^ pid.rotate_left(32)
        ^ crate::platform::clock_ms().wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a thread's exit does to its heap before the pool takes it back:
/// hold its purges for `MASU_EXIT_HOLD`, collect remote frees and free
/// empty pages; then, if the free memory still committed exceeds
/// `MASU_EXIT_RETAIN`, give all of it back (`collect(true)`). Below the
/// bound the memory stays, through the hold, for the next thread that
/// adopts the heap, which then allocates without page faults: programs
/// that start and end threads all the time (mimalloc-bench's mstress,
/// masu-bench's thread-churn) paid a fault for every page of every thread
/// when the exit decommitted everything, or when the purge delay (counted
/// from each free) ran out in the gap between one thread's end and the
/// next one's start. After the hold, the purger gives back what is due.
pub(crate) fn retire_heap(h: &mut ShimHeap) {
    h.hold_purges(options::exit_hold_ms());
    h.collect(false);
    if h.free_committed_bytes() > options::exit_retain_bytes() {
        h.collect(true);
    }
}

/// What a pass of the background purger over the idle heaps found.
#[derive(Clone, Copy, Default)]
pub(crate) struct IdlePass {
    /// A heap it collected still has memory waiting for its purge delay.
    pub waiting: bool,
    /// The least time, in milliseconds, that a heap it left whole has left
    /// of its hold (`MASU_EXIT_HOLD`); `None` when none is held.
    pub held_ms: Option<u64>,
}

/// One pass of the background purger (`purger.rs`) over the idle heaps:
/// `collect(false)` on each but the held ones, under the pool lock.
#[inline(never)]
pub(crate) fn purge_idle_heaps() -> IdlePass {
    let mut pass = IdlePass::default();
    POOL.for_each_idle(|s| {
        // SAFETY: an idle slot's heap is only touched under the pool lock,
        // which `for_each_idle` holds.
        let h = unsafe { heap_of(s) };
        // A heap whose thread exited within `MASU_EXIT_HOLD` waits whole:
        // its collection would purge nothing, and walks every page. The
        // purger sleeps until the first hold ends, not a purge delay.
        if let Some(left) = h.purge_hold_left_ms() {
            pass.held_ms = Some(pass.held_ms.map_or(left, |m| m.min(left)));
            return;
        }
        h.collect(false);
        pass.waiting |= h.has_pending_release();
    });
    pass
}

/// What a pass of the background purger over the heaps of live threads
/// found.
#[derive(Clone, Copy, Default)]
pub(crate) struct LivePass {
    /// A heap it purged still has memory waiting for its purge delay.
    pub waiting: bool,
    /// A heap's owner was busy (or made heap calls since the previous pass):
    /// the purger looks again at the next pass.
    pub active: bool,
    /// Pages that other threads had emptied, freed.
    pub pages_freed: usize,
    /// Bytes of free blocks' insides given back.
    pub discarded: usize,
}

/// The least time a live thread must have made no heap call but fast paths
/// before the purger works on its heap (`MASU_IDLE_HOLD`, and the purge
/// delay, may make it longer).
const LIVE_IDLE_MS: u64 = 100;

/// One pass of the background purger over the heaps of live threads, under
/// the pool lock: each heap whose owner went idle (no heap call but fast
/// paths for `MASU_IDLE_HOLD`, none now: the slot's gate) gets
/// `release_while_owner_idle`, unless its previous one found nothing to do
/// and the pass is not `thorough` (the purger's first pass after it wakes).
#[inline(never)]
pub(crate) fn purge_live_heaps(thorough: bool) -> LivePass {
    let o = options::options();
    if o.idle_hold_ms == u32::MAX {
        return LivePass::default();
    }
    let idle_ms = LIVE_IDLE_MS
        .max(o.idle_hold_ms as u64)
        .max(o.purge_delay_ms as u64);
    let mut pass = LivePass::default();
    POOL.for_each_held(|s| {
        // SAFETY: we are the purger and hold the pool lock; `s` is held.
        // Inside, the gate keeps the owner to its fast paths and orders its
        // last heap call before, as `release_while_owner_idle` requires.
        let look = unsafe {
            with_idle_heap(s, thorough, idle_ms, |h| {
                let r = h.release_while_owner_idle(options::idle_discard());
                (r, !r.waiting && r.pages_freed == 0 && r.discarded == 0)
            })
        };
        match look {
            IdleLook::Done(r) => {
                pass.waiting |= r.waiting;
                pass.pages_freed += r.pages_freed;
                pass.discarded += r.discarded;
            }
            IdleLook::Busy => pass.active = true,
            IdleLook::Clean => {}
        }
    });
    pass
}

/// Runs `f` on an idle heap borrowed for the call (for threads past their
/// exit hook); None when no heap can be had.
pub(crate) fn with_borrowed<R>(f: impl FnOnce(&mut ShimHeap) -> R) -> Option<R> {
    // Only reached after `lifecycle::attach` (which initialises) failed or
    // once the thread passed its exit hook.
    let (s, _) = take_slot();
    if s.is_null() {
        return None;
    }
    BORROWS.fetch_add(1, Relaxed);
    // SAFETY: we hold `s` until `release_slot` and are in no heap call.
    let r = unsafe {
        with_heap(s, |h| {
            let r = f(h);
            // An idle heap must not hold back other heaps' blocks.
            h.flush_remote_frees();
            r
        })
    };
    // SAFETY: we are done with `s`.
    unsafe { release_slot(s) };
    Some(r)
}

/// Frees `ptr` from a thread that has no heap (past its exit hook): a
/// remote free.
///
/// # Safety
/// As for [`Heap::dealloc`].
#[cold]
#[inline(never)]
pub(crate) unsafe fn free_without_heap(ptr: *mut u8, layout: core::alloc::Layout) {
    ORPHAN_FREES.fetch_add(1, Relaxed);
    // A heap that never took memory has id 0, which no page has as its
    // owner, so `dealloc` pushes the block on its page's `thread_free` list
    // and touches nothing of the scratch heap itself.
    let mut scratch = ManuallyDrop::new(ShimHeap::with_counters(
        MmapOs,
        Config::VIRTUAL_MEMORY,
        &SCRATCH_COUNTERS,
    ));
    // SAFETY: forwarded from the caller.
    unsafe { scratch.dealloc(ptr, layout) };
    // The scratch heap is forgotten: publish the free now.
    scratch.flush_remote_frees();
}

/// Collects the calling thread's heap (see [`masu_core::Heap::collect`]);
/// with `force`, also unmaps now the reservations that wait for the
/// background purger to unmap them.
pub fn collect(force: bool) {
    let s = current();
    if is_slot(s) {
        // SAFETY: the thread holds `s`; no heap call is in progress.
        unsafe { with_heap(s, |h| h.collect(force)) };
    }
    if force {
        crate::deferred_release::unmap_waiting();
    }
}

/// Publishes the remote frees the calling thread's heap has batched (blocks
/// it freed to pages of other threads' heaps, see masu-core's
/// `Heap::flush_remote_frees`), so that their owners can reuse them. The
/// heap does this itself at its slow paths, at `collect` and at thread
/// exit; a thread that frees other threads' blocks and then blocks for a
/// long time (a consumer waiting on a queue) can call it first: up to 63
/// blocks of one page may wait otherwise.
pub fn flush_remote_frees() {
    let s = current();
    if is_slot(s) {
        // SAFETY: the thread holds `s`; no heap call is in progress.
        unsafe { with_heap(s, |h| h.flush_remote_frees()) };
    }
}

/// Collects every idle heap (those left by exited threads): remote frees that
/// reached them since are taken in, empty pages freed and, with `force`,
/// purged and their segment caches released.
pub fn collect_abandoned(force: bool) {
    // Take the idle list whole, its slots marked in use, so the collection
    // runs without the lock and neither a new thread nor the background
    // purger touches those heaps meanwhile.
    let head = POOL.lock().list.take_all();
    let mut s = head;
    while !s.is_null() {
        // SAFETY: we hold every slot of the detached list (marked in use,
        // so the purger's pass over live heaps goes through their gates).
        unsafe {
            with_heap(s, |h| h.collect(force));
            s = IdleList::next_detached(s);
        }
    }
    // SAFETY: `head` is the detached list, unchanged.
    unsafe { POOL.lock().list.put_back(head) };
    if force {
        crate::deferred_release::unmap_waiting();
    }
}

/// Claims the registration of the `fork` handlers: true for the one caller
/// that is to register them (see `lifecycle.rs`).
pub(crate) fn claim_fork_handlers() -> bool {
    !FORK_HANDLERS.load(Relaxed) && !FORK_HANDLERS.swap(true, Relaxed)
}

/// Takes the pool lock before `fork` (see `lifecycle.rs`).
pub(crate) fn lock_for_fork() {
    POOL.raw_lock();
}

/// Releases the lock [`lock_for_fork`] took, in the parent or, counting the
/// fork, in the child.
///
/// # Safety
/// `lock_for_fork` took the lock in this thread (in the child: in the
/// parent's forking thread, which is this thread).
pub(crate) unsafe fn unlock_after_fork(child: bool) {
    // SAFETY: guaranteed by the caller.
    unsafe { POOL.raw_unlock() };
    if child {
        FORKS.fetch_add(1, Relaxed);
    }
}

/// Counts a thread's exit (see `lifecycle.rs`).
pub(crate) fn count_thread_exit() {
    THREAD_EXITS.fetch_add(1, Relaxed);
}

/// Gives `s`'s heap the seed for the checks' free-list encoding, once, at
/// start-up (see `lifecycle.rs`).
pub(crate) fn seed_heaps() {
    SEED.store(make_seed(), Relaxed);
}

/// Calls `f` on the heap of every idle slot (those left by exited
/// threads), under the pool lock.
pub(crate) fn for_each_idle_heap(mut f: impl FnMut(&mut ShimHeap)) {
    POOL.for_each_idle(|s| {
        // SAFETY: an idle slot's heap is only touched under the pool lock,
        // which `for_each_idle` holds.
        f(unsafe { heap_of(s) })
    });
}
