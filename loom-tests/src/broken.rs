//! Deliberately broken atomics for the twins of the std shim's models.
//!
//! The shim's protocols (`masu::protocol`) are generic over their atomics,
//! so a twin runs the *same* protocol code over a wrapper of a loom atomic
//! that breaks it the way a slip in the code would:
//!
//! * [`NoAcquire`]: every `Acquire` is `Relaxed` (an `AcqRel` is
//!   `Release`), as if the code said `Relaxed` where it needs `Acquire`;
//! * [`NoRelease`]: every `Release` is `Relaxed` (an `AcqRel` is
//!   `Acquire`), as if it said `Relaxed` where it needs `Release`;
//! * [`Torn`]: every read-modify-write (`compare_exchange`, `swap`,
//!   `fetch_add`, ...) is a separate load and store, so an update another thread makes
//!   in between is lost, as with a CAS loop that does not retry or a
//!   "lock" taken by a load and a store.
//!
//! Each wrapper is meant for one atomic of a protocol (the protocols take
//! one type parameter per atomic), so a twin says which atomic it breaks.

use masu::protocol::{Atomic, AtomicCount, Ordering};
use Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};

/// `order` without its acquire half.
fn drop_acquire(order: Ordering) -> Ordering {
    match order {
        Acquire => Relaxed,
        AcqRel => Release,
        o => o,
    }
}

/// `order` without its release half.
fn drop_release(order: Ordering) -> Ordering {
    match order {
        Release => Relaxed,
        AcqRel => Acquire,
        o => o,
    }
}

/// The part of a read-modify-write's ordering a plain load may have.
fn load_part(order: Ordering) -> Ordering {
    match order {
        Acquire | AcqRel => Acquire,
        SeqCst => SeqCst,
        _ => Relaxed,
    }
}

/// The part of a read-modify-write's ordering a plain store may have.
fn store_part(order: Ordering) -> Ordering {
    match order {
        Release | AcqRel => Release,
        SeqCst => SeqCst,
        _ => Relaxed,
    }
}

/// A loom atomic whose acquire orderings are weakened to `Relaxed`.
pub struct NoAcquire<A>(A);

/// A loom atomic whose release orderings are weakened to `Relaxed`.
pub struct NoRelease<A>(A);

/// A loom atomic whose read-modify-writes are a load and a separate store.
pub struct Torn<A>(A);

/// Implements `Atomic` for a wrapper that maps each ordering with `$weak`.
macro_rules! weakened {
    ($wrapper:ident, $weak:ident) => {
        impl<T: Copy, A: Atomic<T>> Atomic<T> for $wrapper<A> {
            fn new(value: T) -> Self {
                $wrapper(A::new(value))
            }
            fn load(&self, order: Ordering) -> T {
                self.0.load($weak(order))
            }
            fn store(&self, value: T, order: Ordering) {
                self.0.store(value, $weak(order))
            }
            fn swap(&self, value: T, order: Ordering) -> T {
                self.0.swap(value, $weak(order))
            }
            fn compare_exchange(
                &self,
                current: T,
                new: T,
                success: Ordering,
                failure: Ordering,
            ) -> Result<T, T> {
                self.0
                    .compare_exchange(current, new, $weak(success), $weak(failure))
            }
            fn compare_exchange_weak(
                &self,
                current: T,
                new: T,
                success: Ordering,
                failure: Ordering,
            ) -> Result<T, T> {
                self.0
                    .compare_exchange_weak(current, new, $weak(success), $weak(failure))
            }
            fn pause() {
                A::pause()
            }
            fn yield_now() {
                A::yield_now()
            }
        }

        impl<A: AtomicCount> AtomicCount for $wrapper<A> {
            fn fetch_add(&self, value: usize, order: Ordering) -> usize {
                self.0.fetch_add(value, $weak(order))
            }
            fn fetch_sub(&self, value: usize, order: Ordering) -> usize {
                self.0.fetch_sub(value, $weak(order))
            }
            fn fetch_max(&self, value: usize, order: Ordering) -> usize {
                self.0.fetch_max(value, $weak(order))
            }
        }
    };
}

weakened!(NoAcquire, drop_acquire);
weakened!(NoRelease, drop_release);

impl<T: Copy + PartialEq, A: Atomic<T>> Atomic<T> for Torn<A> {
    fn new(value: T) -> Self {
        Torn(A::new(value))
    }
    fn load(&self, order: Ordering) -> T {
        self.0.load(order)
    }
    fn store(&self, value: T, order: Ordering) {
        self.0.store(value, order)
    }
    fn swap(&self, value: T, order: Ordering) -> T {
        // BROKEN on purpose: another thread may store between the two.
        let seen = self.0.load(load_part(order));
        self.0.store(value, store_part(order));
        seen
    }
    fn compare_exchange(
        &self,
        current: T,
        new: T,
        success: Ordering,
        failure: Ordering,
    ) -> Result<T, T> {
        // BROKEN on purpose: another thread may store between the two.
        let seen = self.0.load(load_part(success).max_with(failure));
        if seen != current {
            return Err(seen);
        }
        self.0.store(new, store_part(success));
        Ok(seen)
    }
    fn compare_exchange_weak(
        &self,
        current: T,
        new: T,
        success: Ordering,
        failure: Ordering,
    ) -> Result<T, T> {
        self.compare_exchange(current, new, success, failure)
    }
    fn pause() {
        A::pause()
    }
    fn yield_now() {
        A::yield_now()
    }
}

impl<A: AtomicCount> AtomicCount for Torn<A> {
    fn fetch_add(&self, value: usize, order: Ordering) -> usize {
        let seen = self.0.load(load_part(order));
        self.0.store(seen.wrapping_add(value), store_part(order));
        seen
    }
    fn fetch_sub(&self, value: usize, order: Ordering) -> usize {
        let seen = self.0.load(load_part(order));
        self.0.store(seen.wrapping_sub(value), store_part(order));
        seen
    }
    fn fetch_max(&self, value: usize, order: Ordering) -> usize {
        let seen = self.0.load(load_part(order));
        self.0.store(seen.max(value), store_part(order));
        seen
    }
}

/// The stronger of two load orderings.
trait MaxWith {
    fn max_with(self, other: Ordering) -> Ordering;
}

impl MaxWith for Ordering {
    fn max_with(self, other: Ordering) -> Ordering {
        match (self, other) {
            (SeqCst, _) | (_, SeqCst) => SeqCst,
            (Acquire, _) | (_, Acquire) => Acquire,
            _ => Relaxed,
        }
    }
}
