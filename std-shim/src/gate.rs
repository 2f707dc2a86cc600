//! A slot's gate: the owner's slow paths against the background purger.
//!
//! The purger gives back memory of a live thread's heap while the thread
//! sleeps (`Heap::release_while_owner_idle`). It may run while the owner runs
//! its fast paths, which announce nothing, but never while the owner is in
//! any other heap call. The gate is the exclusion between the two:
//!
//! * the owner, around every heap call but the fast paths ([`Gate::enter`],
//!   [`Gate::leave`]): counts the call in `seq` with a plain store (odd
//!   while inside), then looks at `claimed`; if the purger holds the heap,
//!   it steps out and waits;
//! * the purger ([`Gate::try_claim`], [`Gate::release`]): takes only a heap
//!   whose count it saw even and unchanged since its previous pass (an
//!   owner that went idle: a busy owner purges on its own slow paths): says
//!   `claimed`, then looks at `seq` again; if the owner entered meanwhile,
//!   it steps back. It never waits for an owner.
//!
//! Each side stores its flag and then loads the other's: at least one of the
//! two must see the other's store (Dekker's exclusion), which needs a full
//! fence between the store and the load on both sides. The owner's side is
//! on every slow path, so it takes only a compiler fence
//! ([`Fences::light`]), and the purger makes up for it with
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` ([`Fences::heavy`]): the
//! kernel runs a full barrier on every CPU that runs a thread of the process
//! before the call returns, so an owner between its store and its load has
//! its store ordered before it (the scheme of userspace RCU's membarrier
//! flavour). Where `membarrier` is missing, `heavy` fails and the purger
//! leaves live heaps alone. The data each side wrote under the gate is
//! published by the Release store that opens it and taken by the other's
//! Acquire load.
//!
//! Generic over its atomics and fences, so that the loom model in
//! `loom-tests/tests/gate.rs` runs this code (with `SeqCst` fences on both
//! sides, which is what the pair amounts to).

use crate::sync::{Atomic, Ordering};
use core::sync::atomic::{AtomicBool, AtomicU32};

/// The fences of the two sides (see the module documentation).
pub trait Fences {
    /// The owner's, between its store and its load: on every slow path.
    fn light();
    /// The purger's, between its store and its load: orders the owner's
    /// side too. False when it cannot (no `membarrier`).
    fn heavy() -> bool;
}

/// The process's fences: a compiler fence, and `membarrier`.
pub struct ProcessFences;

/// `MEMBARRIER_CMD_PRIVATE_EXPEDITED` (linux/membarrier.h).
const MEMBARRIER_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
/// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED`.
const MEMBARRIER_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// Registers the process for `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`
/// (the purger does, once it starts); false when the kernel has none.
pub(crate) fn register_membarrier() -> bool {
    // SAFETY: membarrier takes two integers and touches no memory of ours.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            MEMBARRIER_REGISTER_PRIVATE_EXPEDITED,
            0,
        ) == 0
    }
}

impl Fences for ProcessFences {
    #[inline(always)]
    fn light() {
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
    }

    fn heavy() -> bool {
        // SAFETY: as in `register_membarrier`.
        unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_PRIVATE_EXPEDITED, 0) == 0 }
    }
}

/// The gate of one slot (see the module documentation).
pub struct Gate<A = AtomicU32, B = AtomicBool, F = ProcessFences> {
    /// The owner's heap calls so far, twice: odd while it is inside one.
    /// The purger reads it to tell an owner that went idle (the count did
    /// not move since its last pass) from a busy one, which it leaves alone
    /// (the owner does its own purges on its slow paths).
    seq: A,
    /// The purger holds the heap.
    claimed: B,
    _fences: core::marker::PhantomData<F>,
}

// `new` is `const`, for the slots; `Default` cannot be.
#[allow(clippy::new_without_default)]
impl Gate {
    /// Open, over `core`'s atomics and the process's fences.
    pub const fn new() -> Self {
        Gate {
            seq: AtomicU32::new(0),
            claimed: AtomicBool::new(false),
            _fences: core::marker::PhantomData,
        }
    }
}

impl<A: Atomic<u32>, B: Atomic<bool>, F: Fences> Gate<A, B, F> {
    /// Open, over any atomics and fences (the loom models).
    #[cfg(loom)]
    pub fn new_in() -> Self {
        Gate {
            seq: A::new(0),
            claimed: B::new(false),
            _fences: core::marker::PhantomData,
        }
    }

    /// The owner enters a heap call: returns once the purger does not hold
    /// the heap, and it will not take it until [`Gate::leave`]. Only the
    /// owner writes `seq`, so a load and a store count it.
    #[inline(always)]
    pub fn enter(&self) {
        let inside = self.seq.load(Ordering::Relaxed).wrapping_add(1);
        self.seq.store(inside, Ordering::Relaxed);
        F::light();
        if self.claimed.load(Ordering::Acquire) {
            self.wait_for_purger(inside);
        }
    }

    /// [`Gate::enter`] without the wait: true when the owner is inside;
    /// false, and it is not, when the purger holds the heap (then the
    /// caller enters with [`Gate::enter`] on a cold path: the hot one keeps
    /// no state across a wait).
    #[inline(always)]
    pub fn try_enter(&self) -> bool {
        let inside = self.seq.load(Ordering::Relaxed).wrapping_add(1);
        self.seq.store(inside, Ordering::Relaxed);
        F::light();
        if self.claimed.load(Ordering::Acquire) {
            self.seq.store(inside.wrapping_add(1), Ordering::Release);
            return false;
        }
        true
    }

    /// The purger holds the heap: step out, wait until it is done, enter
    /// again.
    #[cold]
    #[inline(never)]
    fn wait_for_purger(&self, mut inside: u32) {
        loop {
            self.seq.store(inside.wrapping_add(1), Ordering::Release);
            while self.claimed.load(Ordering::Acquire) {
                B::yield_now();
            }
            inside = inside.wrapping_add(2);
            self.seq.store(inside, Ordering::Relaxed);
            F::light();
            if !self.claimed.load(Ordering::Acquire) {
                return;
            }
        }
    }

    /// The owner leaves the heap call.
    #[inline(always)]
    pub fn leave(&self) {
        let outside = self.seq.load(Ordering::Relaxed).wrapping_add(1);
        self.seq.store(outside, Ordering::Release);
    }

    /// The owner's count of heap calls, for [`Gate::try_claim`]: an odd
    /// value while it is inside one.
    pub fn seq(&self) -> u32 {
        self.seq.load(Ordering::Acquire)
    }

    /// The purger takes the heap if the owner is in no heap call but a
    /// fast path and made none since [`Gate::seq`] read `seen`; true when
    /// it did (then [`Gate::release`] follows).
    pub fn try_claim(&self, seen: u32) -> bool {
        if seen & 1 != 0 {
            return false;
        }
        self.claimed.store(true, Ordering::Relaxed);
        if F::heavy() && self.seq.load(Ordering::Acquire) == seen {
            return true;
        }
        self.claimed.store(false, Ordering::Release);
        false
    }

    /// The purger is done with the heap.
    pub fn release(&self) {
        self.claimed.store(false, Ordering::Release);
    }

    /// The broken twin of [`Gate::try_claim`] that the loom model catches:
    /// the owner's count is looked at before the claim is said, so an owner
    /// that enters between the two is not seen and does not see the claim.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn broken_try_claim_look_first(&self, seen: u32) -> bool {
        if seen & 1 != 0 || self.seq.load(Ordering::Acquire) != seen {
            return false;
        }
        self.claimed.store(true, Ordering::Relaxed);
        F::heavy()
    }
}
