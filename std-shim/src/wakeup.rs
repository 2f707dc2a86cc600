//! How the background purger sleeps and who wakes it: notices of work
//! ([`Wakeup`]) and the futex word it sleeps on. Anyone with work for the
//! purger gives a notice and wakes it (`purger.rs` when memory waits in a
//! heap, `deferred_release.rs` when a reservation waits for its `munmap`);
//! the purger takes the notice, or sleeps until the next one.
//!
//! [`Wakeup`] is a lock-free protocol, generic over its atomics so that the
//! loom model `loom-tests/tests/purger.rs` runs this code: a notice given
//! while the purger decides to sleep is never lost.

use crate::sync::{Atomic, AtomicCount, Ordering};
use core::sync::atomic::{AtomicBool, AtomicUsize};

/// Notices of work for the purger and the sequence it sleeps on.
pub struct Wakeup<B = AtomicBool, S = AtomicUsize> {
    pending: B,
    seq: S,
}

// `new` is `const`, for the shim's statics; `Default` cannot be.
#[allow(clippy::new_without_default)]
impl Wakeup {
    /// No notice, over `core`'s atomics.
    pub const fn new() -> Self {
        Wakeup {
            pending: AtomicBool::new(false),
            seq: AtomicUsize::new(0),
        }
    }
}

impl<B: Atomic<bool>, S: AtomicCount> Wakeup<B, S> {
    /// No notice, over any atomics (the loom models).
    #[cfg(loom)]
    pub fn new_in() -> Self {
        Wakeup {
            pending: B::new(false),
            seq: S::new(0),
        }
    }

    /// Gives a notice: work is waiting. The caller then wakes the sleeper
    /// (a futex wake on [`Wakeup::seq_word`]).
    pub fn notify(&self) {
        self.pending.store(true, Ordering::Release);
        self.seq.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes the notice: `Ok` if one was given since the last take, else
    /// `Err(seq)`, the sequence to sleep on: the sleeper may sleep only
    /// while the sequence still reads `seq` (a futex wait on it), so a
    /// notice given after this call ends the sleep. The sequence is read
    /// before the notice is taken; the other order loses a notice given
    /// between the two.
    pub fn take(&self) -> Result<(), usize> {
        let seq = self.seq.load(Ordering::Acquire);
        match self
            .pending
            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            Err(_) => Err(seq),
        }
    }

    /// The buggy twin of [`Wakeup::take`] that the loom models catch: the
    /// sequence read after the notice is taken, so a notice given between
    /// the two is lost (the sleeper sleeps on a sequence already past it).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn twin_take_reading_seq_last(&self) -> Result<(), usize> {
        match self
            .pending
            .compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            Err(_) => Err(self.seq.load(Ordering::Acquire)),
        }
    }

    /// True when the sequence moved past `seq` (a notice came).
    pub fn moved(&self, seq: usize) -> bool {
        self.seq.load(Ordering::Acquire) != seq
    }
}

impl Wakeup {
    /// The futex word: the low 32 bits of the sequence.
    fn seq_word(&self) -> *const u32 {
        let base = &self.seq as *const AtomicUsize as *const u32;
        if cfg!(target_endian = "big") && usize::BITS == 64 {
            base.wrapping_add(1)
        } else {
            base
        }
    }
}

/// The shim's notices.
static WAKEUP: Wakeup = Wakeup::new();

/// Gives a notice: work waits for the purger (then [`wake_sleeper`], or
/// start it).
pub(crate) fn give() {
    WAKEUP.notify();
}

/// Wakes the purger if it sleeps.
pub(crate) fn wake_sleeper() {
    futex_wake(WAKEUP.seq_word());
}

/// Gives a notice and wakes the purger if it sleeps. Never starts it;
/// allocates nothing.
pub(crate) fn wake() {
    give();
    wake_sleeper();
}

/// Takes the notice (see [`Wakeup::take`]).
pub(crate) fn take() -> Result<(), usize> {
    WAKEUP.take()
}

/// True when a notice came since [`take`] returned `Err(seq)`.
pub(crate) fn moved(seq: usize) -> bool {
    WAKEUP.moved(seq)
}

/// Sleeps until a notice comes after [`take`] returned `Err(seq)`, at most
/// `ms` milliseconds.
pub(crate) fn sleep(seq: usize, ms: u64) {
    futex_wait(WAKEUP.seq_word(), seq, ms);
}

/// Sleeps while `*word` holds the low 32 bits of `seq`, at most `ms`
/// milliseconds.
fn futex_wait(word: *const u32, seq: usize, ms: u64) {
    let ts = crate::platform::timespec_ms(ms);
    // SAFETY: `word` is a static futex word; FUTEX_WAIT_PRIVATE only reads
    // it and returns at once if it no longer holds `seq`.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            seq as u32,
            &ts as *const libc::timespec,
        )
    };
}

/// Wakes the purger if it sleeps on `word`.
fn futex_wake(word: *const u32) {
    // SAFETY: `word` is a static futex word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        )
    };
}
