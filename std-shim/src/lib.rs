//! # masu
//!
//! masu on Linux: a thread-local masu-core [`Heap`](masu_core::Heap) per
//! thread over `mmap`, usable as a Rust `#[global_allocator]` and, through the
//! `masu-capi` crate (`libmasu.so`), as the C `malloc` family.
//!
//! ```
//! #[global_allocator]
//! static A: masu::Masu = masu::Masu::new();
//!
//! fn main() {
//!     let s = String::from("masu measures memory into boxes");
//!     assert_eq!(s.split(' ').count(), 5);
//!     // Change an option at run time, read every figure at once.
//!     masu::set_purge_delay_ms(Some(50)).unwrap();
//!     let snap = masu::snapshot();
//!     assert!(snap.stats.alloc_count > 0);
//!     let mut json = String::new();
//!     snap.write_json(&mut json).unwrap();
//!     assert!(json.starts_with("{\"stats\":"));
//! }
//! ```
//!
//! * [`Masu`]: the global allocator.
//! * [`Heap`]: heaps of your own, as `Allocator`s, freed all at once.
//! * [`MmapOs`]: masu-core's `Os` over `mmap`/`madvise`/`munmap`.
//! * [`stats`], [`os_stats`], [`pool_stats`], [`print_stats`]: observation.
//! * [`collect`], [`collect_abandoned`]: release memory on demand.
//! * [`c`]: the C allocation functions with POSIX semantics, exported by
//!   `masu-capi`.
//! * Options come from the environment (`MASU_*`, see [`Options`]).
//!
//! See `docs/std-shim.md` for the design (thread exit, adoption, fork).
//!
//! The shim's lock-free protocols (the pool lock and slot lists, the
//! one-time initialisation, the commit map's leaves, the committed total)
//! are small types generic over their atomics (`sync`, `spin`, `slots`,
//! `commit`); under `--cfg loom` the hidden module `protocol` exports them
//! for the loom models in `loom-tests/`, which run them over loom's atomics.
//!
//! The crate is `#![no_std]` (it needs only `core` and `libc`), so that
//! `libmasu.so` does not carry Rust's standard library (its panic,
//! formatting and backtrace machinery); programs that use [`Masu`] as their
//! global allocator bring `std` themselves. `std` is linked only for the
//! tests and, off x86-64, for the thread-local slot word.
#![no_std]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "the `masu` crate supports Linux only (it maps memory with mmap and reads /proc); \
     on other systems use `masu-core` with an `Os` of your own"
);

#[cfg(any(test, not(target_arch = "x86_64")))]
extern crate std;

// The layers, bottom to top: a module uses only modules of lower layers
// (or, in layer 7, `report` and `purger` from `process_stats`); the test
// `tests/layers.rs` checks that no two modules use each other, and
// `docs/design.md` draws the layers.
// 1. protocols and helpers: sync, spin, slots, commit, fmtbuf, self_resident
// 2. options: the MASU_* values and their parsing
// 3. platform, wakeup, deferred_release: the system calls and the clock, the
//    purger's notices and futex, the releases waiting for it to unmap them
// 4. commit_map: the commit map and the accounting under the memory limit
// 5. os: MmapOs
// 6. thread_slot, pool: a thread's slot, the pool of heaps
// 7. process_stats, purger, report, fault, heap_check: observation, checks and
//    release over the pool
// 8. lifecycle: start-up, attach, thread exit, fork, the exit report
// 9. entry, global, c, heap: the allocation paths, Masu, the C functions,
//    first-class heaps
#[cfg(target_os = "linux")]
pub mod c;
#[cfg(target_os = "linux")]
mod commit;
#[cfg(target_os = "linux")]
mod commit_map;
#[cfg(target_os = "linux")]
mod deferred_release;
#[cfg(target_os = "linux")]
mod entry;
#[cfg(target_os = "linux")]
mod fault;
#[cfg(target_os = "linux")]
mod fmtbuf;
#[cfg(target_os = "linux")]
mod gate;
#[cfg(target_os = "linux")]
mod global;
#[cfg(target_os = "linux")]
mod heap;
#[cfg(target_os = "linux")]
mod heap_check;
#[cfg(all(target_os = "linux", any(feature = "secure", loom)))]
mod latch;
#[cfg(target_os = "linux")]
mod lifecycle;
#[cfg(target_os = "linux")]
mod options;
#[cfg(target_os = "linux")]
mod os;
#[cfg(target_os = "linux")]
mod platform;
#[cfg(target_os = "linux")]
mod pool;
#[cfg(target_os = "linux")]
mod process_stats;
#[cfg(loom)]
#[doc(hidden)]
#[cfg(target_os = "linux")]
pub mod protocol;
#[cfg(target_os = "linux")]
mod purger;
#[cfg(target_os = "linux")]
mod report;
#[cfg(target_os = "linux")]
mod self_resident;
#[cfg(target_os = "linux")]
mod slots;
#[cfg(target_os = "linux")]
mod snapshot;
#[cfg(target_os = "linux")]
mod spin;
#[cfg(target_os = "linux")]
mod sync;
#[cfg(target_os = "linux")]
mod thread_slot;
#[cfg(target_os = "linux")]
mod wakeup;

#[cfg(target_os = "linux")]
pub use fault::report_panic;
/// Text output without `core::fmt`, for `libmasu.so`'s reports (not a
/// stable interface).
#[doc(hidden)]
#[cfg(target_os = "linux")]
pub use fmtbuf::Text;
#[cfg(target_os = "linux")]
pub use global::Masu;
#[cfg(target_os = "linux")]
pub use heap::Heap;
#[cfg(target_os = "linux")]
pub use heap_check::{check_heap, check_quarantine};
#[cfg(target_os = "linux")]
pub use lifecycle::{init, register_hooks};
#[cfg(target_os = "linux")]
pub use masu_core;
#[cfg(target_os = "linux")]
pub use options::{
    options, set_background, set_decommit_free, set_exit_hold_ms, set_exit_retain_bytes,
    set_huge_purge_delay_ms, set_idle_discard, set_idle_hold_ms, set_large_cache_bytes,
    set_memory_limit, set_purge_delay_ms, OptionError, Options, DEFAULT_EXIT_HOLD_MS,
    DEFAULT_EXIT_RETAIN, DEFAULT_IDLE_HOLD_MS, DEFAULT_LARGE_CACHE, DEFAULT_PURGE_DELAY_MS,
    MAX_BOUND_BYTES, MAX_DELAY_MS, MIN_MEMORY_LIMIT,
};
#[cfg(target_os = "linux")]
pub use os::{os_stats, page_size, MmapOs, OsStats, CHUNK};
#[cfg(target_os = "linux")]
pub use pool::{collect, collect_abandoned, flush_remote_frees, pool_stats, PoolStats};
#[cfg(target_os = "linux")]
pub use process_stats::{committed_breakdown, print_stats, snapshot, stats};
#[cfg(target_os = "linux")]
pub use purger::{
    live_bytes_discarded as purger_live_bytes_discarded,
    live_pages_freed as purger_live_pages_freed, passes as purger_passes,
};
#[cfg(target_os = "linux")]
pub use snapshot::Snapshot;
#[cfg(target_os = "linux")]
pub use thread_slot::ShimHeap;

// The README's examples, run as doctests.
#[cfg(all(doctest, target_os = "linux"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
