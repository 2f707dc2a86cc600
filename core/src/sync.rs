//! The one door through which masu-core reaches atomics.
//!
//! Under `--cfg loom` every atomic that takes part in a concurrent protocol
//! (a page's `thread_free` list, a page's owner, a page's `used` and
//! `local_free`) comes from loom, so the loom
//! models in `loom-tests/` check the real code rather than a copy of it.
//! Process-wide statics that are not part of any protocol (the heap-id
//! generator, the fault handler) use `core` atomics directly because loom's
//! atomics cannot be built in a `const` context; each such use says so.

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

#[cfg(all(not(loom), target_has_atomic = "ptr"))]
pub use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

// Cores without compare-and-swap: `portable-atomic`'s types, whose
// read-modify-writes take a critical section (see core/Cargo.toml).
#[cfg(all(not(loom), not(target_has_atomic = "ptr")))]
pub use portable_atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

/// The atomic of process-wide statics outside every protocol (the heap-id
/// counter): `core`'s, or `portable-atomic`'s on cores without
/// compare-and-swap. Never loom's, which cannot be built in a `const`.
#[cfg(target_has_atomic = "ptr")]
pub(crate) use core::sync::atomic::AtomicUsize as StaticAtomicUsize;
#[cfg(not(target_has_atomic = "ptr"))]
pub(crate) use portable_atomic::AtomicUsize as StaticAtomicUsize;

/// The atomic pointer of a page's `free` list: `core`'s (or
/// `portable-atomic`'s on cores without compare-and-swap) even under loom,
/// which sees it as plain memory. The fast path reads `free` of the zeroed
/// `EMPTY_PAGE` (`page_queue.rs`), which holds no loom object; the models
/// check the protocol through the loom-tracked `used` next to it and the
/// blocks' payloads (`loom-tests/tests/idle_reset.rs`).
#[cfg(target_has_atomic = "ptr")]
pub(crate) use core::sync::atomic::AtomicPtr as UntrackedAtomicPtr;
#[cfg(not(target_has_atomic = "ptr"))]
pub(crate) use portable_atomic::AtomicPtr as UntrackedAtomicPtr;
