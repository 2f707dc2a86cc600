//! The two lock-free protocols of the commit accounting ([`crate::os`]):
//!
//! * [`publish`]: a leaf of the commit map is made on demand and published
//!   in its slot of the top table by one `compare_exchange` (`AcqRel`);
//!   readers load the slot with `Acquire`, so whoever finds a leaf finds it
//!   initialised; a thread that loses the race discards its own leaf and
//!   uses the winner's.
//! * [`CommitCounter`]: the process-wide committed bytes and their peak. A
//!   charge past the memory limit is refused by a `compare_exchange` loop,
//!   so the total never exceeds the limit and no update is lost; a reading
//!   never shows more committed than the peak, nor a peak lower than an
//!   earlier reading's.
//!
//! Both are generic over their atomics so that the loom models in
//! `loom-tests/` run this code (see [`crate::sync`]); the shim uses `core`'s.

use crate::sync::{Atomic, AtomicCount, Ordering};
use core::ptr;
use core::sync::atomic::AtomicUsize;

/// The object published in `slot`, made with `make` and published if the
/// slot is empty and `create` is set. `make` returns a fully initialised
/// object or null (out of memory); a made object that loses the race to
/// publish is handed to `discard`, never published. None when the slot is
/// empty and nothing was published (`create` unset or `make` failed).
#[inline]
pub fn publish<T, A: Atomic<*mut T>>(
    slot: &A,
    create: bool,
    make: impl FnOnce() -> *mut T,
    discard: impl FnOnce(*mut T),
) -> Option<*mut T> {
    let found = slot.load(Ordering::Acquire);
    if !found.is_null() {
        return Some(found);
    }
    if !create {
        return None;
    }
    let fresh = make();
    if fresh.is_null() {
        return None;
    }
    match slot.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Some(fresh),
        Err(other) => {
            discard(fresh);
            Some(other)
        }
    }
}

/// Bytes committed now and the most ever committed.
pub struct CommitCounter<C = AtomicUsize> {
    committed: C,
    peak: C,
}

// `new` is `const`, for the shim's statics; `Default` cannot be.
#[allow(clippy::new_without_default)]
impl CommitCounter {
    /// Nothing committed, over `core`'s atomics.
    pub const fn new() -> Self {
        CommitCounter {
            committed: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }
}

impl<C: AtomicCount> CommitCounter<C> {
    /// Nothing committed, over any atomic (the loom models).
    #[cfg(loom)]
    pub fn new_in() -> Self {
        CommitCounter {
            committed: C::new(0),
            peak: C::new(0),
        }
    }

    /// Adds `bytes` to the committed total, unless that would pass `limit`
    /// (0: no limit); false when refused.
    #[inline]
    pub fn charge(&self, bytes: usize, limit: usize) -> bool {
        if limit == 0 {
            let now = self.committed.fetch_add(bytes, Ordering::Relaxed) + bytes;
            self.peak.fetch_max(now, Ordering::Relaxed);
            return true;
        }
        let mut cur = self.committed.load(Ordering::Relaxed);
        loop {
            let Some(next) = cur.checked_add(bytes).filter(|&n| n <= limit) else {
                return false;
            };
            match self.committed.compare_exchange_weak(
                cur,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.peak.fetch_max(next, Ordering::Relaxed);
                    return true;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Takes `bytes` (charged before) off the committed total.
    #[inline]
    pub fn uncharge(&self, bytes: usize) {
        self.committed.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// (committed, peak), with committed ≤ peak, and the peak never lower
    /// than in an earlier reading.
    ///
    /// A charge raises the peak only after it has added to the total, so a
    /// reading taken in between would see more committed than the peak, and
    /// a later reading, after the total went down again, a lower peak. So
    /// the reader raises the peak to the total it read (which was committed
    /// at that moment) before it reads the peak.
    pub fn read(&self) -> (usize, usize) {
        let committed = self.committed.load(Ordering::Relaxed);
        let peak = self.peak.fetch_max(committed, Ordering::Relaxed);
        (committed, peak.max(committed))
    }
}
