//! The one door through which masu-core reaches atomics.
//!
//! Under `--cfg loom` every atomic that takes part in a concurrent protocol
//! (a page's `thread_free` list, a page's owner) comes from loom, so the loom
//! models in `loom-tests/` check the real code rather than a copy of it.
//! Process-wide statics that are not part of any protocol (the heap-id
//! generator, the fault handler) use `core` atomics directly because loom's
//! atomics cannot be built in a `const` context; each such use says so.

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicUsize, Ordering};

#[cfg(not(loom))]
pub use core::sync::atomic::{AtomicUsize, Ordering};
