//! The one door through which the shim's concurrent protocols reach atomics.
//!
//! Every protocol in which threads meet without a lock of masu's own — the
//! pool's spin lock, the slot lists and counts ([`crate::slots`]), the
//! one-time initialisation ([`crate::spin::Once`]), the commit map's leaf
//! table and the committed-bytes counter ([`crate::commit`]) — is a small
//! type or function generic over the atomics it runs on, through the traits
//! here. The shim instantiates each with `core`'s atomics, the default type
//! parameters, in `static`s built in a `const` context; after inlining the
//! code is what it would be with `core`'s atomics written in (the traits
//! only forward, with the same orderings).
//!
//! Under `--cfg loom` this module also implements the traits for loom's
//! atomics, and the models in `loom-tests/` build the *same* types over
//! loom's atomics (through the hidden `masu::protocol` module), so loom
//! checks the shim's code, not a copy of it. (The shim's statics cannot hold
//! loom's atomics: those cannot be built in a `const` context and belong to
//! one loom execution; the models make fresh ones in every execution.) The
//! models' deliberately broken twins wrap loom's atomics in types that
//! weaken an ordering or split a read-modify-write in two, which they can
//! do because the protocols take any implementation of these traits.
//!
//! Counters that take part in no protocol (figures such as `mmap` calls,
//! options read with `Relaxed`) use `core`'s atomics directly.

pub use core::sync::atomic::Ordering;

/// An atomic cell holding a `T`: the operations the shim's protocols use.
///
/// Each method does what the method of the same name of `core`'s atomics
/// does.
pub trait Atomic<T: Copy>: Sized {
    /// A new cell holding `value` (at run time: the models build theirs in
    /// each loom execution; the shim's statics use the `const` constructors
    /// of `core`'s atomics).
    #[cfg_attr(not(loom), allow(dead_code))]
    fn new(value: T) -> Self;
    /// Loads the value.
    fn load(&self, order: Ordering) -> T;
    /// Stores `value`.
    fn store(&self, value: T, order: Ordering);
    /// Stores `value`, returning the previous value.
    fn swap(&self, value: T, order: Ordering) -> T;
    /// Stores `new` if the value is `current`; returns the previous value,
    /// `Ok` if it was `current`.
    fn compare_exchange(
        &self,
        current: T,
        new: T,
        success: Ordering,
        failure: Ordering,
    ) -> Result<T, T>;
    /// As [`Atomic::compare_exchange`], but may fail spuriously.
    fn compare_exchange_weak(
        &self,
        current: T,
        new: T,
        success: Ordering,
        failure: Ordering,
    ) -> Result<T, T>;
    /// One short wait of a spin loop on this cell (`spin_loop`; a yield to
    /// loom's scheduler under loom, which would otherwise never let the
    /// awaited thread run).
    fn pause();
    /// A long wait of a spin loop: gives the CPU away (`sched_yield`; a yield
    /// to loom's scheduler under loom).
    fn yield_now();
}

/// An atomic `usize` counter.
pub trait AtomicCount: Atomic<usize> {
    /// Adds `value`, returning the previous value.
    fn fetch_add(&self, value: usize, order: Ordering) -> usize;
    /// Subtracts `value`, returning the previous value.
    fn fetch_sub(&self, value: usize, order: Ordering) -> usize;
    /// Stores the maximum of the value and `value`, returning the previous
    /// value.
    fn fetch_max(&self, value: usize, order: Ordering) -> usize;
}

/// Implements [`Atomic`] for an atomic type of `core` or loom by forwarding.
macro_rules! forward_atomic {
    ([$($g:ident)?] $atomic:ty, $t:ty, $pause:expr, $yield_now:expr) => {
        impl<$($g)?> Atomic<$t> for $atomic {
            #[inline(always)]
            fn new(value: $t) -> Self {
                <$atomic>::new(value)
            }
            #[inline(always)]
            fn load(&self, order: Ordering) -> $t {
                <$atomic>::load(self, order)
            }
            #[inline(always)]
            fn store(&self, value: $t, order: Ordering) {
                <$atomic>::store(self, value, order)
            }
            #[inline(always)]
            fn swap(&self, value: $t, order: Ordering) -> $t {
                <$atomic>::swap(self, value, order)
            }
            #[inline(always)]
            fn compare_exchange(
                &self,
                current: $t,
                new: $t,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$t, $t> {
                <$atomic>::compare_exchange(self, current, new, success, failure)
            }
            #[inline(always)]
            fn compare_exchange_weak(
                &self,
                current: $t,
                new: $t,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$t, $t> {
                <$atomic>::compare_exchange_weak(self, current, new, success, failure)
            }
            #[inline(always)]
            fn pause() {
                $pause
            }
            #[inline(always)]
            fn yield_now() {
                $yield_now
            }
        }
    };
}

/// Implements [`AtomicCount`] for an atomic `usize` of `core` or loom.
macro_rules! forward_count {
    ($atomic:ty) => {
        impl AtomicCount for $atomic {
            #[inline(always)]
            fn fetch_add(&self, value: usize, order: Ordering) -> usize {
                <$atomic>::fetch_add(self, value, order)
            }
            #[inline(always)]
            fn fetch_sub(&self, value: usize, order: Ordering) -> usize {
                <$atomic>::fetch_sub(self, value, order)
            }
            #[inline(always)]
            fn fetch_max(&self, value: usize, order: Ordering) -> usize {
                <$atomic>::fetch_max(self, value, order)
            }
        }
    };
}

/// `core`'s atomics: what the shim runs on.
mod native {
    use super::{Atomic, AtomicCount, Ordering};
    use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, AtomicUsize};

    #[inline(always)]
    fn sched_yield() {
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
    }

    forward_atomic!([] AtomicBool, bool, core::hint::spin_loop(), sched_yield());
    forward_atomic!([] AtomicU8, u8, core::hint::spin_loop(), sched_yield());
    forward_atomic!([] AtomicU32, u32, core::hint::spin_loop(), sched_yield());
    forward_atomic!([] AtomicUsize, usize, core::hint::spin_loop(), sched_yield());
    forward_atomic!([T] AtomicPtr<T>, *mut T, core::hint::spin_loop(), sched_yield());
    forward_count!(AtomicUsize);
}

/// loom's atomics: what the models run the same protocols on.
#[cfg(loom)]
mod model {
    use super::{Atomic, AtomicCount, Ordering};
    use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, AtomicUsize};

    forward_atomic!([] AtomicBool, bool, loom::thread::yield_now(), loom::thread::yield_now());
    forward_atomic!([] AtomicU8, u8, loom::thread::yield_now(), loom::thread::yield_now());
    forward_atomic!([] AtomicU32, u32, loom::thread::yield_now(), loom::thread::yield_now());
    forward_atomic!([] AtomicUsize, usize, loom::thread::yield_now(), loom::thread::yield_now());
    forward_atomic!([T] AtomicPtr<T>, *mut T, loom::thread::yield_now(), loom::thread::yield_now());
    forward_count!(AtomicUsize);
}
