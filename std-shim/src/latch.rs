//! [`Latch`]: a yes-or-no decided once, by the first thread that asks, the
//! same for every thread after it (`MmapOs` decides so whether its
//! reservations carry a guard page: every reservation must be released
//! as it was made, whatever the options say later).

use crate::sync::{Atomic, Ordering::Relaxed};
use core::sync::atomic::AtomicU8;

/// Not decided yet.
const OPEN: u8 = 0;
/// Decided: no.
const NO: u8 = 1;
/// Decided: yes.
const YES: u8 = 2;

/// A yes-or-no decided once (see the module documentation). Relaxed
/// orderings suffice: the answer is the whole of what is published, and
/// the compare-and-swap lets one decision in.
pub struct Latch<A = AtomicU8> {
    state: A,
}

// `new` is `const`, for the shim's statics; `Default` cannot be.
#[allow(clippy::new_without_default)]
impl Latch {
    /// An undecided latch, over `core`'s atomics.
    pub const fn new() -> Self {
        Latch {
            state: AtomicU8::new(OPEN),
        }
    }
}

impl<A: Atomic<u8>> Latch<A> {
    /// An undecided latch over any atomics (the loom models).
    #[cfg(loom)]
    pub fn new_in() -> Self {
        Latch {
            state: A::new(OPEN),
        }
    }

    /// The decision: `want()`'s answer if this call decides, else the
    /// answer of the call that did.
    #[inline]
    pub fn decide(&self, want: impl FnOnce() -> bool) -> bool {
        let now = self.state.load(Relaxed);
        if now != OPEN {
            return now == YES;
        }
        let mine = if want() { YES } else { NO };
        match self.state.compare_exchange(OPEN, mine, Relaxed, Relaxed) {
            Ok(_) => mine == YES,
            Err(decided) => decided == YES,
        }
    }
}
