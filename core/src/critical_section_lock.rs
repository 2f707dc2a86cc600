//! [`CriticalSectionLock`]: a [`LockedHeap`](crate::LockedHeap) lock that
//! holds a critical section of the `critical-section` crate (on a
//! single-core microcontroller: interrupts disabled) for as long as the
//! heap is locked, so an interrupt handler can allocate and free through
//! the same heap without the deadlock a spin lock risks. The platform
//! provides the critical section (for Cortex-M, `cortex-m`'s
//! `critical-section-single-core` feature; on multi-core chips an
//! implementation that also excludes the other cores).
//!
//! Locking it again from inside its own critical section (the heap's code
//! never does; a nested use of the guard would) is a bug that would
//! deadlock any other lock: it panics with a message instead.

use core::cell::Cell;
use critical_section::RestoreState;

/// A [`lock_api::RawMutex`] over a critical section.
pub struct CriticalSectionLock {
    /// Held: set and cleared inside the critical section only.
    locked: Cell<bool>,
    /// What `critical_section::acquire` returned, for the release.
    restore: Cell<RestoreState>,
}

// SAFETY: both cells are read and written only while this lock's critical
// section is held, which excludes every other context that could touch them
// (interrupts, and other cores under a multi-core implementation).
unsafe impl Sync for CriticalSectionLock {}

// SAFETY: `try_lock` succeeds only inside a newly acquired critical section
// with `locked` false, and sets it; `unlock` clears it and releases that
// section. So at most one holder exists at a time, and the holder runs with
// the critical section held.
unsafe impl lock_api::RawMutex for CriticalSectionLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = CriticalSectionLock {
        locked: Cell::new(false),
        restore: Cell::new(RestoreState::invalid()),
    };

    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        if !self.try_lock() {
            panic!("masu: LockedHeap locked again inside its own critical section");
        }
    }

    fn try_lock(&self) -> bool {
        // SAFETY: released in `unlock`, or below when the lock is held, in
        // the reverse order of acquisition.
        let state = unsafe { critical_section::acquire() };
        if self.locked.get() {
            // SAFETY: releases the section acquired just above.
            unsafe { critical_section::release(state) };
            return false;
        }
        self.locked.set(true);
        self.restore.set(state);
        true
    }

    unsafe fn unlock(&self) {
        let state = self.restore.replace(RestoreState::invalid());
        self.locked.set(false);
        // SAFETY: the caller holds the lock, so `state` is what the
        // acquisition in `try_lock` returned, released once.
        unsafe { critical_section::release(state) };
    }
}
