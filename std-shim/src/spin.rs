//! The shim's two waiting primitives: [`SpinLock`] (the pool lock, taken at
//! thread start and exit, by `stats` and around `fork`) and [`Once`] (the
//! one-time initialisation that reads the options).
//!
//! Both are generic over their atomic (see [`crate::sync`]) so that the loom
//! models in `loom-tests/` run this code over loom's atomics; the shim uses
//! the defaults, `core`'s atomics.

use crate::sync::{Atomic, Ordering};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU8};

/// A spin lock around a `T`. Acquiring is a `compare_exchange_weak(false,
/// true, Acquire)` (a few dozen `spin_loop`s, then `sched_yield` between
/// tries); releasing is a `store(false, Release)`, so everything a holder
/// did happens-before what the next holder does.
pub struct SpinLock<T, F = AtomicBool> {
    locked: F,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, which exists only while
// the lock is held, so at most one thread touches it at a time; the lock's
// acquire/release orders one holder's accesses before the next one's. (No
// `T: Send` bound: the pool's value holds raw pointers to slots that are
// shared on purpose.)
unsafe impl<T, F: Sync> Sync for SpinLock<T, F> {}

/// Access to a [`SpinLock`]'s value while it is held; releases it when
/// dropped.
pub struct SpinGuard<'a, T, F: Atomic<bool> = AtomicBool> {
    lock: &'a SpinLock<T, F>,
}

impl<T> SpinLock<T> {
    /// An unlocked lock around `value`, over `core`'s atomics.
    pub const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }
}

impl<T, F: Atomic<bool>> SpinLock<T, F> {
    /// An unlocked lock around `value`, over any atomic (the loom models).
    #[cfg(loom)]
    pub fn new_in(value: T) -> Self {
        SpinLock {
            locked: F::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, spinning until it is free.
    #[inline]
    pub fn raw_lock(&self) {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
    }

    /// [`SpinLock::raw_lock`] once the first try failed: spins, then yields.
    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins < 64 {
                F::pause();
            } else {
                F::yield_now();
            }
        }
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The caller holds the lock (or, in a forked child, held it at `fork`)
    /// and no guard of it is alive.
    #[inline]
    pub unsafe fn raw_unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }

    /// Takes the lock; it is released when the guard is dropped.
    #[inline]
    pub fn lock(&self) -> SpinGuard<'_, T, F> {
        self.raw_lock();
        SpinGuard { lock: self }
    }
}

impl<T, F: Atomic<bool>> core::ops::Deref for SpinGuard<'_, T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T, F: Atomic<bool>> core::ops::DerefMut for SpinGuard<'_, T, F> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T, F: Atomic<bool>> Drop for SpinGuard<'_, T, F> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the lock.
        unsafe { self.lock.raw_unlock() }
    }
}

/// Not started.
const NEW: u8 = 0;
/// One thread is running the initialisation.
const RUNNING: u8 = 1;
/// Done: everything the initialisation wrote is visible to whoever sees
/// this state (`Release` store, `Acquire` loads).
const DONE: u8 = 2;

/// A one-time initialisation that allocates nothing and needs no lock: the
/// first caller of [`Once::call`] runs the function, concurrent callers spin
/// until it is done, and everything it wrote (the options, relaxed) is
/// visible to every thread that sees it done.
pub struct Once<A = AtomicU8> {
    state: A,
}

// `new` is `const`, for the shim's statics; `Default` cannot be.
#[allow(clippy::new_without_default)]
impl Once {
    /// Not yet run, over `core`'s atomics.
    pub const fn new() -> Self {
        Once {
            state: AtomicU8::new(NEW),
        }
    }
}

impl<A: Atomic<u8>> Once<A> {
    /// Not yet run, over any atomic (the loom models).
    #[cfg(loom)]
    pub fn new_in() -> Self {
        Once { state: A::new(NEW) }
    }

    /// True when the initialisation has finished; its writes are then
    /// visible to the caller.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// Runs `f` if no thread has started it yet, else waits until the thread
    /// that did is done. Either way, on return everything `f` wrote is
    /// visible to the caller. `f` must not call `call` on the same `Once`.
    pub fn call(&self, f: impl FnOnce()) {
        if self
            .state
            .compare_exchange(NEW, RUNNING, Ordering::Acquire, Ordering::Acquire)
            .is_ok()
        {
            f();
            self.state.store(DONE, Ordering::Release);
        } else {
            while self.state.load(Ordering::Acquire) != DONE {
                A::pause();
            }
        }
    }
}
