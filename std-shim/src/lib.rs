//! # masu
//!
//! masu on Linux: a thread-local masu-core [`Heap`](masu_core::Heap) per
//! thread over `mmap`, usable as a Rust `#[global_allocator]` and, through the
//! `masu-capi` crate (`libmasu.so`), as the C `malloc` family.
//!
//! ```ignore
//! #[global_allocator]
//! static A: masu::Masu = masu::Masu::new();
//! ```
//!
//! * [`Masu`]: the global allocator.
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

#[cfg(any(test, not(target_arch = "x86_64")))]
extern crate std;

// The layers, bottom to top: a module uses only modules of lower layers
// (or, in layer 7, `report` and `purger` from `process_stats`); the test
// `tests/layers.rs` checks that no two modules use each other, and
// `docs/design.md` draws the layers.
// 1. protocols and helpers: sync, spin, slots, commit, fmtbuf, self_resident
// 2. options: the MASU_* values and their parsing
// 3. platform: the system calls and the clock
// 4. commit_map: the commit map and the accounting under the memory limit
// 5. os: MmapOs
// 6. thread_slot, pool: a thread's slot, the pool of heaps
// 7. process_stats, purger, report, fault: observation and release over the pool
// 8. lifecycle: start-up, attach, thread exit, fork, the exit report
// 9. entry, global, c: the allocation paths, Masu, the C functions
pub mod c;
mod commit;
mod commit_map;
mod entry;
mod fault;
mod fmtbuf;
mod global;
mod lifecycle;
mod options;
mod os;
mod platform;
mod pool;
mod process_stats;
#[cfg(loom)]
#[doc(hidden)]
pub mod protocol;
mod purger;
mod report;
mod self_resident;
mod slots;
mod snapshot;
mod spin;
mod sync;
mod thread_slot;

pub use fault::report_panic;
pub use global::Masu;
pub use lifecycle::{init, register_hooks};
pub use masu_core;
pub use options::{
    options, set_background, set_decommit_free, set_exit_retain_bytes, set_huge_purge_delay_ms,
    set_large_cache_bytes, set_memory_limit, set_purge_delay_ms, OptionError, Options,
    DEFAULT_LARGE_CACHE, DEFAULT_PURGE_DELAY_MS, MAX_BOUND_BYTES, MAX_DELAY_MS, MIN_MEMORY_LIMIT,
};
pub use os::{os_stats, page_size, MmapOs, OsStats, CHUNK};
pub use pool::{collect, collect_abandoned, flush_remote_frees, pool_stats, PoolStats};
pub use process_stats::{committed_breakdown, print_stats, snapshot, stats};
pub use purger::passes as purger_passes;
pub use snapshot::Snapshot;
pub use thread_slot::ShimHeap;
