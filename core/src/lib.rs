//! # masu-core
//!
//! The `no_std` core of masu, a size-class allocator: it measures memory into
//! boxes. It needs no `alloc` crate and reaches the platform only through the
//! [`Os`] trait, so it runs over a fixed region ([`FixedRegion`]) on bare metal
//! or in a kernel, and under the `masu` crate on Linux.
//!
//! * [`size_class`]: the class table (≤ 12.5 % waste from 64 B up).
//! * [`Heap`]: a single-owner heap of segments → pages → blocks, with three
//!   free lists per page (`free`, `local_free`, atomic `thread_free`).
//! * [`LockedHeap`]: a heap behind a lock (a spin lock, or with the
//!   `critical-section` feature `CriticalSectionLock`), a `#[global_allocator]`.
//! * [`Stats`]: one snapshot of a heap's counters; [`CommittedBreakdown`]:
//!   where its committed bytes are.
//! * [`check`]: fail-fast faults (`checks` feature) and their handler.
//!
//! The allocation and free fast paths never call the `Os` and never lock;
//! memory goes back only at release boundaries (see `release.rs`).
#![no_std]

mod alloc;
#[doc(hidden)]
pub mod allocator;
mod arena;
#[cfg(feature = "checks")]
mod block_check;
#[cfg(all(feature = "secure", not(feature = "checks")))]
mod block_set;
mod breakdown;
pub mod check;
mod collect;
mod config;
#[cfg(feature = "critical-section")]
mod critical_section_lock;
mod direct;
mod direct_cache;
#[cfg(feature = "checks")]
mod fill;
mod fixed_region;
mod free;
mod heap;
mod heap_check;
mod heap_stats;
mod idle_discard;
mod idle_release;
mod large;
mod list_walk;
mod local_heap;
mod locked;
mod os;
mod page;
mod page_queue;
mod page_search;
#[cfg(feature = "checks")]
mod pointer_check;
#[cfg(feature = "checks")]
mod quarantine;
// Hooks for the loom models in `loom-tests/`; no part of the API.
#[cfg(loom)]
#[doc(hidden)]
pub mod protocol;
mod realloc;
#[cfg(feature = "checks")]
mod redzone;
mod release;
mod remote_buffer;
mod reset;
#[cfg(all(feature = "secure", not(feature = "checks")))]
mod secure;
mod segment;
mod segment_cache;
mod segment_lists;
mod segment_store;
pub mod size_class;
mod stats;
mod store;
mod sync;
mod tlsf;
mod validate;

/// The `Allocator` trait that [`LocalHeap`] and [`LockedHeap`] implement
/// (stable Rust's stand-in for `core::alloc::Allocator`).
pub use allocator_api2;
pub use breakdown::CommittedBreakdown;
pub use config::{Config, ARENA_MAX, MAX_SLICES, MIN_BLOCKS_PER_PAGE, MIN_SLICE_SHIFT};
#[cfg(feature = "critical-section")]
pub use critical_section_lock::CriticalSectionLock;
pub use fixed_region::FixedRegion;
pub use heap::Heap;
pub use idle_release::IdleRelease;
pub use local_heap::LocalHeap;
pub use locked::{LockedHeap, SpinLock};
pub use os::Os;
pub use stats::{CounterSink, Counters, Counts, Stats};

// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
