//! The shim's lock-free protocols, for the loom models in `loom-tests/`.
//!
//! Compiled only under `--cfg loom` and hidden from the documentation: no
//! part of masu's API. Everything here is the code the shim runs, generic
//! over its atomics (see the `sync` module); the models build it over
//! loom's atomics, or over wrappers of them that break one ordering.

pub use crate::commit::{publish, CommitCounter};
pub use crate::deferred_release::{Node, ReleaseStack};
pub use crate::gate::{Fences, Gate};
pub use crate::latch::Latch;
pub use crate::options::{OptionStore, Options, PolicyGeneration};
pub use crate::purger::Starter;
pub use crate::slots::{Idle, IdleList, PoolSlot, SlotCounts, SlotList, SlotPool};
pub use crate::spin::{Once, SpinGuard, SpinLock};
pub use crate::sync::{Atomic, AtomicCount, Ordering};
pub use crate::wakeup::Wakeup;
