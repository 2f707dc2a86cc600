//! The protocol of the heap pool ([`crate::pool`]): claiming and giving
//! back slots under the pool lock, the list of every slot ever made (pushed
//! under the lock, walked without it) and the slot counts.
//!
//! * [`SlotPool::take`] claims the most recently released slot (adopting its
//!   heap, live blocks and all) or makes one; [`SlotPool::give`] gives it
//!   back. Both run under the pool's [`SpinLock`], whose release/acquire
//!   orders everything the last holder of a slot did before everything the
//!   next one does; a slot's `in_use` flag is written only under the lock.
//! * A new slot is published on the list of all slots ([`SlotList`]) with a
//!   `Release` store after it is fully initialised; readers (statistics)
//!   walk the list from an `Acquire` load without the lock.
//! * [`SlotCounts`]: slots made and slots in use, changed under the lock
//!   and read without it. A reading never shows more slots in use than
//!   made: `in_use` is read first, with `Acquire`, and changed with
//!   `Release`, so the reader also sees every slot made before.
//!
//! Everything is generic over the slot type and the atomics so that the loom
//! models in `loom-tests/` run this code (see [`crate::sync`]); the shim uses
//! its `Slot` and `core`'s atomics.

use crate::spin::{SpinGuard, SpinLock};
use crate::sync::{Atomic, AtomicCount, Ordering};
use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize};

/// What the pool needs of a slot.
///
/// # Safety
/// `next_idle` and `in_use` return fields of the slot itself, and
/// [`PoolSlot::set_next_all`] and [`PoolSlot::next_all`] write and read one
/// field of it that nothing else touches.
pub unsafe trait PoolSlot: Sized {
    /// The atomic of the `in_use` flag.
    type Flag: Atomic<bool>;
    /// True while a thread holds the slot. Written only under the pool lock.
    fn in_use(&self) -> &Self::Flag;
    /// The next idle slot (under the pool lock).
    fn next_idle(&self) -> &Cell<*mut Self>;
    /// Sets the slot's link in the list of all slots.
    ///
    /// # Safety
    /// `this` is a live slot not yet published.
    unsafe fn set_next_all(this: *mut Self, next: *mut Self);
    /// The slot's link in the list of all slots.
    ///
    /// # Safety
    /// `this` is a published slot, seen through an `Acquire` load that
    /// synchronises with its publication.
    unsafe fn next_all(this: *mut Self) -> *mut Self;
}

/// Idle slots, most recently released first. Only reached under the pool
/// lock (it is inside the lock's value).
pub struct IdleList<S> {
    head: *mut S,
}

// `new` is `const`, for the shim's statics; `Default` cannot be.
#[allow(clippy::new_without_default)]
impl<S> IdleList<S> {
    /// No idle slot.
    pub const fn new() -> Self {
        IdleList {
            head: ptr::null_mut(),
        }
    }
}

impl<S: PoolSlot> IdleList<S> {
    /// Claims the most recently released slot (marked in use); null when
    /// none is idle.
    pub fn claim(&mut self) -> *mut S {
        let s = self.head;
        if !s.is_null() {
            // SAFETY: slots on the idle list are live (`release`'s contract)
            // and ours to change: the caller holds the pool lock.
            unsafe {
                self.head = (*s).next_idle().get();
                (*s).next_idle().set(ptr::null_mut());
                (*s).in_use().store(true, Ordering::Relaxed);
            }
        }
        s
    }

    /// Puts `s` at the head of the idle list, marked idle.
    ///
    /// # Safety
    /// `s` is a live slot, held by the caller, who does not use it again,
    /// and it stays live as long as the pool.
    pub unsafe fn release(&mut self, s: *mut S) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            (*s).in_use().store(false, Ordering::Relaxed);
            (*s).next_idle().set(self.head);
        }
        self.head = s;
    }

    /// Detaches the whole idle list, marking each of its slots in use, so
    /// that they are the caller's until it gives them back with
    /// [`IdleList::put_back`]: meanwhile [`IdleList::claim`] does not hand
    /// them out and [`SlotPool::for_each_idle`] (the background purger)
    /// does not visit them. Null when no slot is idle.
    pub fn take_all(&mut self) -> *mut S {
        let head = core::mem::replace(&mut self.head, ptr::null_mut());
        // SAFETY: slots on the idle list are live; the caller holds the pool
        // lock, under which alone `in_use` and the idle links change.
        unsafe { Self::mark_list(head, true) };
        head
    }

    /// The buggy twin of [`IdleList::take_all`] that the loom models catch:
    /// the slots detached but left marked idle, so the purger's walk of the
    /// idle slots uses their heaps while the detaching thread does (a bug
    /// the stress test hit once: a purge decommitted a heap's memory twice).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn twin_take_all_unmarked(&mut self) -> *mut S {
        core::mem::replace(&mut self.head, ptr::null_mut())
    }

    /// Puts a list detached by [`IdleList::take_all`] back in front of the
    /// idle slots, marked idle again.
    ///
    /// # Safety
    /// `head` is null or a list taken by `take_all`, unchanged since.
    pub unsafe fn put_back(&mut self, head: *mut S) {
        if head.is_null() {
            return;
        }
        // SAFETY: guaranteed by the caller: a list of live slots, which the
        // caller gives back under the pool lock (it holds `self`).
        let tail = unsafe { Self::mark_list(head, false) };
        // SAFETY: as above.
        unsafe { (*tail).next_idle().set(self.head) };
        self.head = head;
    }

    /// Sets `in_use` on every slot of the list from `head` along the idle
    /// links; returns the last slot (null for an empty list).
    ///
    /// # Safety
    /// `head` is null or a list of live slots along their `next_idle`
    /// links, and the caller holds the pool lock.
    unsafe fn mark_list(head: *mut S, in_use: bool) -> *mut S {
        let (mut s, mut last) = (head, ptr::null_mut());
        while !s.is_null() {
            // SAFETY: guaranteed by the caller.
            unsafe {
                (*s).in_use().store(in_use, Ordering::Relaxed);
                last = s;
                s = (*s).next_idle().get();
            }
        }
        last
    }

    /// The slot after `s` on a list detached by [`IdleList::take_all`]
    /// (null at its end).
    ///
    /// # Safety
    /// `s` is on such a list, which the caller holds.
    pub unsafe fn next_detached(s: *mut S) -> *mut S {
        // SAFETY: guaranteed by the caller; the detached list's links change
        // only when it is put back.
        unsafe { (*s).next_idle().get() }
    }
}

/// Every slot ever made, newest first: pushed under the pool lock, read
/// without it. Slots are never removed.
pub struct SlotList<S, P = AtomicPtr<S>> {
    head: P,
    _slots: PhantomData<*mut S>,
}

// SAFETY: the list only holds pointers to slots, which the pool shares
// between threads on purpose; its head is an atomic.
unsafe impl<S, P: Sync> Sync for SlotList<S, P> {}

// `new` is `const`, for the shim's statics; `Default` cannot be.
#[allow(clippy::new_without_default)]
impl<S> SlotList<S> {
    /// Empty, over `core`'s atomics.
    pub const fn new() -> Self {
        SlotList {
            head: AtomicPtr::new(ptr::null_mut()),
            _slots: PhantomData,
        }
    }
}

impl<S: PoolSlot, P: Atomic<*mut S>> SlotList<S, P> {
    /// Empty, over any atomic (the loom models).
    #[cfg(loom)]
    pub fn new_in() -> Self {
        SlotList {
            head: P::new(ptr::null_mut()),
            _slots: PhantomData,
        }
    }

    /// Publishes `s`: links it to the current head, then makes it the head
    /// with a `Release` store, so a reader that finds it also sees its
    /// initialisation.
    ///
    /// # Safety
    /// `s` is a fully initialised slot that lives as long as the list; the
    /// caller holds the lock that serialises pushes (the pool lock).
    pub unsafe fn push(&self, s: *mut S) {
        // SAFETY: `s` is not published yet.
        unsafe { S::set_next_all(s, self.head.load(Ordering::Relaxed)) };
        self.head.store(s, Ordering::Release);
    }

    /// Calls `f` on every slot published so far.
    pub fn for_each(&self, mut f: impl FnMut(*mut S)) {
        let mut s = self.head.load(Ordering::Acquire);
        while !s.is_null() {
            f(s);
            // SAFETY: published slots live as long as the list, and their
            // link was written before publication (Release/Acquire on the
            // head, then the links of older slots, published before).
            s = unsafe { S::next_all(s) };
        }
    }
}

/// Slots made and slots held: changed under the pool lock, read by anyone.
pub struct SlotCounts<C = AtomicUsize> {
    made: C,
    in_use: C,
}

// `new` is `const`, for the shim's statics; `Default` cannot be.
#[allow(clippy::new_without_default)]
impl SlotCounts {
    /// All zero, over `core`'s atomics.
    pub const fn new() -> Self {
        SlotCounts {
            made: AtomicUsize::new(0),
            in_use: AtomicUsize::new(0),
        }
    }
}

impl<C: AtomicCount> SlotCounts<C> {
    /// All zero, over any atomic (the loom models).
    #[cfg(loom)]
    pub fn new_in() -> Self {
        SlotCounts {
            made: C::new(0),
            in_use: C::new(0),
        }
    }

    /// A slot was made (and is held). Under the pool lock.
    fn made(&self) {
        self.made.fetch_add(1, Ordering::Relaxed);
        // Release: a reader that sees this count sees the slot made.
        self.in_use.fetch_add(1, Ordering::Release);
    }

    /// An idle slot was claimed. Under the pool lock.
    fn claimed(&self) {
        self.in_use.fetch_add(1, Ordering::Release);
    }

    /// A slot was given back. Under the pool lock.
    fn released(&self) {
        self.in_use.fetch_sub(1, Ordering::Release);
    }

    /// (slots made, slots in use), with in use ≤ made.
    pub fn read(&self) -> (usize, usize) {
        // In use first, with Acquire: the slot counts of the lock holders up
        // to the change read are then visible, so `made` is at least as new.
        let in_use = self.in_use.load(Ordering::Acquire);
        let made = self.made.load(Ordering::Relaxed);
        (made, in_use)
    }
}

/// The pool: idle slots and the pool's own state `E` under a spin lock, the
/// list of all slots and the counts.
pub struct SlotPool<S, E, F = AtomicBool, P = AtomicPtr<S>, C = AtomicUsize> {
    lock: SpinLock<Idle<S, E>, F>,
    all: SlotList<S, P>,
    counts: SlotCounts<C>,
}

/// What the pool lock protects: the idle slots and the pool's own state.
pub struct Idle<S, E> {
    /// Idle slots.
    pub list: IdleList<S>,
    /// The pool's own state (the shim's slot arena).
    pub state: E,
}

impl<S, E> SlotPool<S, E> {
    /// An empty pool with state `state`, over `core`'s atomics.
    pub const fn new(state: E) -> Self {
        SlotPool {
            lock: SpinLock::new(Idle {
                list: IdleList::new(),
                state,
            }),
            all: SlotList::new(),
            counts: SlotCounts::new(),
        }
    }
}

impl<S, E, F, P, C> SlotPool<S, E, F, P, C>
where
    S: PoolSlot,
    F: Atomic<bool>,
    P: Atomic<*mut S>,
    C: AtomicCount,
{
    /// An empty pool, over any atomics (the loom models).
    #[cfg(loom)]
    pub fn new_in(state: E) -> Self {
        SlotPool {
            lock: SpinLock::new_in(Idle {
                list: IdleList::new(),
                state,
            }),
            all: SlotList::new_in(),
            counts: SlotCounts::new_in(),
        }
    }

    /// Claims an idle slot, or makes one with `make` and publishes it. `make`
    /// runs under the lock with the pool's state; it returns a fully
    /// initialised slot marked in use that lives as long as the pool, or
    /// null when out of memory. Returns the slot (null when none could be
    /// had) and whether it was claimed from the idle ones (adopted: its heap
    /// may hold live blocks).
    pub fn take(&self, make: impl FnOnce(&mut E) -> *mut S) -> (*mut S, bool) {
        let mut idle = self.lock.lock();
        let s = idle.list.claim();
        if !s.is_null() {
            self.counts.claimed();
            return (s, true);
        }
        let s = make(&mut idle.state);
        if s.is_null() {
            return (s, false);
        }
        // SAFETY: `make` returns a fully initialised slot that lives as long
        // as the pool; we hold the pool lock.
        unsafe { self.all.push(s) };
        self.counts.made();
        (s, false)
    }

    /// Gives `s` back: the next [`SlotPool::take`] may claim it.
    ///
    /// # Safety
    /// `s` came from this pool's `take`, the caller holds it and does not
    /// use it afterwards.
    pub unsafe fn give(&self, s: *mut S) {
        let mut idle = self.lock.lock();
        // SAFETY: forwarded from the caller; the pool's slots live as long
        // as the pool.
        unsafe { idle.list.release(s) };
        self.counts.released();
    }

    /// The pool lock, for what the caller does with idle slots and the
    /// pool's state.
    pub fn lock(&self) -> SpinGuard<'_, Idle<S, E>, F> {
        self.lock.lock()
    }

    /// Takes the pool lock with no guard (`fork`).
    pub fn raw_lock(&self) {
        self.lock.raw_lock()
    }

    /// Releases the pool lock taken by [`SlotPool::raw_lock`].
    ///
    /// # Safety
    /// As for [`SpinLock::raw_unlock`].
    pub unsafe fn raw_unlock(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.lock.raw_unlock() }
    }

    /// Calls `f` on every slot made so far, without the lock.
    pub fn for_each(&self, f: impl FnMut(*mut S)) {
        self.all.for_each(f)
    }

    /// Calls `f` on every idle slot, under the lock: no thread holds those
    /// slots while `f` runs, so `f` may use what only a holder may.
    pub fn for_each_idle(&self, mut f: impl FnMut(*mut S)) {
        let _idle = self.lock.lock();
        self.all.for_each(|s| {
            // SAFETY: published slots live as long as the pool; `in_use` is
            // written only under the lock, which we hold.
            if unsafe { !(*s).in_use().load(Ordering::Relaxed) } {
                f(s)
            }
        });
    }

    /// Calls `f` on every slot a thread holds, under the lock: no slot is
    /// taken or given back while `f` runs (the background purger's pass
    /// over live heaps, which then goes through each slot's gate).
    pub fn for_each_held(&self, mut f: impl FnMut(*mut S)) {
        let _idle = self.lock.lock();
        self.all.for_each(|s| {
            // SAFETY: as in `for_each_idle`.
            if unsafe { (*s).in_use().load(Ordering::Relaxed) } {
                f(s)
            }
        });
    }

    /// (slots made, slots in use), in use ≤ made.
    pub fn counts(&self) -> (usize, usize) {
        self.counts.read()
    }
}
