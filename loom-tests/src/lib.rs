//! loom models of masu-core's concurrent protocols.
//!
//! Run with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p masu-loom-tests --release
//! ```
//!
//! (add `--features checks` to check masu-core built with its `checks`
//! feature; `LOOM_MAX_PREEMPTIONS=N` overrides each model's preemption bound).
//! Without `--cfg loom` this crate and its tests compile to nothing.
//!
//! Under `--cfg loom`, masu-core's `sync` module takes its atomics from loom,
//! so the models run masu-core's own code:
//!
//! * `tests/remote_free.rs`: threads push blocks onto one page's
//!   `thread_free` list (`Page::push_remote`) while the owner collects them
//!   (`Page::take_remote`, `Page::collect`), reached through the hidden
//!   `masu_core::protocol` hooks;
//! * `tests/handoff.rs`: real [`masu_core::Heap`]s over one [`Region`]: a
//!   heap handed whole from an exiting thread to an adopting one, as the std
//!   shim does, while other threads free its blocks.
//!
//! Each model has a twin with a deliberate bug that loom must catch.
//!
//! loom checks atomics itself; plain memory it does not see. To make a
//! missing happens-before edge visible, the models put a loom-tracked
//! [`Payload`] cell in every block they free: the freeing thread writes it
//! just before the free (the last use of the block), and whoever receives the
//! block next writes it again (the next use). If the free did not
//! synchronise with the reuse, loom reports a causality violation on that
//! cell — the data race a real program would have on the block.
#![cfg(loom)]

use core::mem::size_of;
use masu_core::{FixedRegion, Os};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;

/// Runs `f` under loom with `preemption_bound` unless `LOOM_MAX_PREEMPTIONS`
/// sets another one.
pub fn model<F>(preemption_bound: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemption_bound);
    }
    builder.check(f);
}

/// Counts, over all executions of one model, how often the interleavings it
/// exists for actually happened, so that a model which stopped exploring
/// them (a changed bound, a loom scheduling quirk) fails instead of passing
/// vacuously.
pub struct Coverage {
    name: &'static str,
    executions: AtomicUsize,
    hits: AtomicUsize,
}

impl Coverage {
    /// A counter for the model `name`.
    pub const fn new(name: &'static str) -> Coverage {
        Coverage {
            name,
            executions: AtomicUsize::new(0),
            hits: AtomicUsize::new(0),
        }
    }

    /// Counts one execution, and whether the interesting interleaving
    /// happened in it.
    pub fn count(&self, hit: bool) {
        self.executions.fetch_add(1, Relaxed);
        if hit {
            self.hits.fetch_add(1, Relaxed);
        }
    }

    /// Prints the counts and checks the interleaving happened at least
    /// `min_hits` times; returns (executions, hits).
    pub fn check(&self, what: &str, min_hits: usize) -> (usize, usize) {
        let (n, h) = (self.executions.load(Relaxed), self.hits.load(Relaxed));
        println!("{}: {n} executions, {h} with {what}", self.name);
        assert!(
            h >= min_hits,
            "{}: only {h} of {n} executions had {what} (want {min_hits})",
            self.name
        );
        (n, h)
    }
}

/// Where a [`Payload`] sits in a block: past the link word and the word the
/// `checks` feature tags freed blocks with.
pub const PAYLOAD_OFFSET: usize = 32;

/// A loom-tracked cell standing for a block's contents.
pub type Payload = loom::cell::UnsafeCell<u64>;

/// Smallest block that holds a [`Payload`].
pub const fn payload_block_size() -> usize {
    PAYLOAD_OFFSET + size_of::<Payload>()
}

/// Places a fresh [`Payload`] in `block`.
///
/// # Safety
/// `block` is valid for writes of [`payload_block_size`] bytes, aligned to 8,
/// and no payload placed there before is in use.
pub unsafe fn install_payload(block: *mut u8) {
    // SAFETY: forwarded from the caller.
    unsafe { (block.add(PAYLOAD_OFFSET) as *mut Payload).write(Payload::new(0)) };
}

/// Writes `value` into `block`'s payload: a use of the block that loom
/// orders against every other use.
///
/// # Safety
/// `block` holds a payload placed by [`install_payload`].
pub unsafe fn use_block(block: *mut u8, value: u64) {
    // SAFETY: forwarded from the caller.
    let cell = unsafe { &*(block.add(PAYLOAD_OFFSET) as *const Payload) };
    // SAFETY: loom checks that no other access to the cell is concurrent.
    cell.with_mut(|p| unsafe { *p = value });
}

/// Reads `block`'s payload.
///
/// # Safety
/// `block` holds a payload placed by [`install_payload`].
pub unsafe fn read_block(block: *mut u8) -> u64 {
    // SAFETY: forwarded from the caller.
    let cell = unsafe { &*(block.add(PAYLOAD_OFFSET) as *const Payload) };
    // SAFETY: loom checks that no write to the cell is concurrent.
    cell.with(|p| unsafe { *p })
}

/// Word-aligned memory owned by a model, freed when dropped.
pub struct Memory {
    ptr: *mut u64,
    words: usize,
}

// SAFETY: the memory is a plain allocation; who may touch which part of it is
// the business of the allocator code under test.
unsafe impl Send for Memory {}
// SAFETY: as above.
unsafe impl Sync for Memory {}

impl Memory {
    /// `bytes` (rounded up to a word) of zeroed memory.
    pub fn new(bytes: usize) -> Memory {
        let words = bytes.div_ceil(8);
        let ptr = Box::into_raw(vec![0u64; words].into_boxed_slice()) as *mut u64;
        Memory { ptr, words }
    }

    /// The first byte.
    pub fn start(&self) -> *mut u8 {
        self.ptr as *mut u8
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.words * 8
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.words == 0
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `Box::into_raw` of a slice of `words` words.
        drop(unsafe { Box::from_raw(core::ptr::slice_from_raw_parts_mut(self.ptr, self.words)) });
    }
}

struct RegionInner {
    // Dropped before `memory`, which it points into.
    os: FixedRegion,
    memory: Memory,
}

/// A [`FixedRegion`] over memory the model owns, shared by several heaps
/// (as per-CPU heaps share one region) and freed with the last of them.
#[derive(Clone)]
pub struct Region(std::sync::Arc<RegionInner>);

impl Region {
    /// A region of `bytes` bytes.
    pub fn new(bytes: usize) -> Region {
        let memory = Memory::new(bytes);
        let os = FixedRegion::empty();
        // SAFETY: the memory is ours, lives as long as `os` (it is dropped
        // after it) and is given to nothing else.
        unsafe { os.init(memory.start(), memory.len()) };
        Region(std::sync::Arc::new(RegionInner { os, memory }))
    }

    /// Bytes of the region not handed out to heaps.
    pub fn free_bytes(&self) -> usize {
        self.0.os.free_bytes()
    }

    /// The region's size.
    pub fn size(&self) -> usize {
        self.0.memory.len()
    }
}

// SAFETY: forwards every call to the `FixedRegion`, which upholds the
// contract.
unsafe impl Os for Region {
    fn reserve(&self, size: usize, align: usize) -> *mut u8 {
        self.0.os.reserve(size, align)
    }
    unsafe fn commit(&self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.os.commit(ptr, size) }
    }
    unsafe fn decommit(&self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.os.decommit(ptr, size) }
    }
    unsafe fn release(&self, ptr: *mut u8, size: usize, align: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.os.release(ptr, size, align) }
    }
    fn page_size(&self) -> usize {
        self.0.os.page_size()
    }
    fn fresh_memory_is_zeroed(&self) -> bool {
        self.0.os.fresh_memory_is_zeroed()
    }
    fn may_contain(&self, addr: usize) -> bool {
        self.0.os.may_contain(addr)
    }
}

/// A value whose every use loom orders: a single-owner structure (a heap)
/// moved between threads. A handoff that does not synchronise shows up as a
/// causality violation on the first use after it.
pub struct Tracked<T>(loom::cell::UnsafeCell<T>);

// SAFETY: `T` is only reached through `with`, whose accesses loom checks to
// be ordered; a `T: Send` may be used from any thread in turn.
unsafe impl<T: Send> Sync for Tracked<T> {}

impl<T> Tracked<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Tracked<T> {
        Tracked(loom::cell::UnsafeCell::new(value))
    }

    /// Uses the value; loom panics if another thread's use is concurrent.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: loom checks this access is ordered after every other.
        self.0.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}
