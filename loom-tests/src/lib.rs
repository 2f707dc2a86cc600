//! loom models of masu-core's and the std shim's concurrent protocols.
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
//!   (`Page::take_remote`, `Page::merge_frees`), reached through the hidden
//!   `masu_core::protocol` hooks;
//! * `tests/handoff.rs`: real [`masu_core::Heap`]s over one [`Region`]: a
//!   heap abandoned with live blocks by an exiting thread and adopted whole
//!   by another through the std shim's pool (`masu::protocol::SlotPool`),
//!   while other threads free its blocks.
//!
//! and, under `--cfg loom`, the std shim's protocols are generic over their
//! atomics (`masu::protocol`), so the shim's models run its code over loom's
//! atomics:
//!
//! * `tests/slot_pool.rs`: the heap pool: slots claimed and given back under
//!   the pool's spin lock, the list of all slots published to lock-free
//!   readers, the slot counts;
//! * `tests/commit_map.rs`: the commit map's leaf published by a CAS, the
//!   committed total kept under the memory limit and its peak;
//! * `tests/init.rs`: the one-time initialisation that publishes the
//!   options;
//! * `tests/idle_release.rs`, `tests/idle_discard.rs`: the background
//!   purger's look at a page of a live, idle heap (taking it whole, or
//!   discarding the insides of its free blocks) against the owner's fast
//!   paths and a remote free, over a [`PageFixture`].
//!
//! Each model has a twin with a deliberate bug that loom must catch. The
//! shim's twins run the same code over the broken atomics of [`broken`].
//!
//! loom checks atomics itself; plain memory it does not see. To make a
//! missing happens-before edge visible, the models put a loom-tracked
//! [`Payload`] cell in every block they free: the freeing thread writes it
//! just before the free (the last use of the block), and whoever receives the
//! block next writes it again (the next use). If the free did not
//! synchronise with the reuse, loom reports a causality violation on that
//! cell — the data race a real program would have on the block.
#![cfg(loom)]

pub mod broken;

use core::cell::Cell;
use core::mem::size_of;
use masu::protocol::PoolSlot;
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

/// Every block on `page`'s lists, reclaimed the way the owner's slow path
/// does (`Page::merge_frees`, which takes the remote list with
/// `Page::take_remote`, then every block popped off `free`), collecting
/// again until a collect leaves `free` empty: a collect may leave the remote
/// blocks on `local_free` for the next one, but never an empty `free` while
/// either list holds a block. A model calls it from the one thread that
/// holds the page's slow paths at that point (the owner, or the purger
/// standing in for it).
pub fn collect_and_pop(page: &masu_core::protocol::ProtocolPage) -> Vec<*mut u8> {
    let mut out = Vec::new();
    // SAFETY: the model calls this from the thread that holds the page's
    // slow paths (see above).
    unsafe {
        loop {
            page.merge_frees();
            let popped = out.len();
            loop {
                let b = page.pop_free();
                if b.is_null() {
                    break;
                }
                out.push(b);
            }
            if out.len() == popped {
                break;
            }
        }
    }
    out
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

/// A value shared between a model's threads that holds raw pointers on
/// purpose (the shim's pool: slots are shared by design, and who may touch
/// what is the business of the protocol under test).
pub struct Shared<T>(pub T);

// SAFETY: see the type's documentation: the protocol under test decides who
// touches what, and loom checks it.
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Shared<T> {}

impl<T> core::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A slot of the shim's pool for the models: what `masu::protocol::SlotPool`
/// needs of a slot (over loom's atomics and cells), a heap `H`, and checks.
pub struct ModelSlot<H> {
    in_use: loom::sync::atomic::AtomicBool,
    next_idle: Cell<*mut ModelSlot<H>>,
    /// A loom cell, so that reading it unordered after its write is caught.
    next_all: loom::cell::UnsafeCell<*mut ModelSlot<H>>,
    /// Written when the slot is made, read by whoever walks the list of all
    /// slots: stands for the slot's counters, initialised before publication.
    made: loom::cell::UnsafeCell<u64>,
    /// The slot's heap: used by the slot's holder only, or under the pool
    /// lock while the slot is idle.
    pub heap: Tracked<H>,
    /// Threads holding the slot now (a check of the model, not part of the
    /// protocol, so not a loom atomic: loom runs one thread at a time).
    holders: AtomicUsize,
}

// SAFETY: `in_use`, `next_idle` and `next_all` are fields of the slot;
// `next_all` is touched only through these two functions.
unsafe impl<H> PoolSlot for ModelSlot<H> {
    type Flag = loom::sync::atomic::AtomicBool;

    fn in_use(&self) -> &Self::Flag {
        &self.in_use
    }

    fn next_idle(&self) -> &Cell<*mut Self> {
        &self.next_idle
    }

    unsafe fn set_next_all(this: *mut Self, next: *mut Self) {
        // SAFETY: `this` is a live slot (the caller); loom checks the access.
        unsafe { (*this).next_all.with_mut(|p| *p = next) }
    }

    unsafe fn next_all(this: *mut Self) -> *mut Self {
        // SAFETY: `this` is a live slot (the caller); loom checks the access.
        unsafe { (*this).next_all.with(|p| *p) }
    }
}

/// The value [`ModelSlot::made`] holds once the slot is made.
pub const MADE: u64 = 0x5107;

impl<H> ModelSlot<H> {
    /// A new slot holding `heap`, in use (as the pool's `make` must return
    /// it; whoever gets it from the pool calls [`ModelSlot::hold`]), leaked:
    /// free it with [`ModelSlot::free`].
    pub fn new_held(heap: H) -> *mut ModelSlot<H> {
        let s = Box::into_raw(Box::new(ModelSlot {
            in_use: loom::sync::atomic::AtomicBool::new(true),
            next_idle: Cell::new(core::ptr::null_mut()),
            next_all: loom::cell::UnsafeCell::new(core::ptr::null_mut()),
            made: loom::cell::UnsafeCell::new(0),
            heap: Tracked::new(heap),
            holders: AtomicUsize::new(0),
        }));
        // SAFETY: just made; the write is the slot's initialisation.
        unsafe { (*s).made.with_mut(|m| *m = MADE) };
        s
    }

    /// Frees a slot made by [`ModelSlot::new_held`], returning its heap.
    ///
    /// # Safety
    /// No thread uses the slot any more, and it is freed once.
    pub unsafe fn free(this: *mut ModelSlot<H>) -> H {
        // SAFETY: guaranteed by the caller.
        unsafe { Box::from_raw(this) }.heap.into_inner()
    }

    /// Reads the slot's initialisation (what a stats reader reads of a slot
    /// it finds on the list of all slots); loom catches a read unordered
    /// after the write.
    pub fn made(&self) -> u64 {
        // SAFETY: loom checks the access.
        self.made.with(|m| unsafe { *m })
    }

    /// Counts the caller as a holder of the slot; panics if another thread
    /// holds it.
    pub fn hold(&self) {
        let others = self.holders.fetch_add(1, Relaxed);
        assert_eq!(others, 0, "a slot claimed by two threads");
    }

    /// The caller no longer holds the slot.
    pub fn unhold(&self) {
        self.holders.fetch_sub(1, Relaxed);
    }
}

/// A page of blocks that the model lays out itself (a
/// [`masu_core::protocol::ProtocolPage`] over [`Memory`]), every block
/// holding a [`Payload`], all of them handed out.
pub struct PageFixture {
    /// The page descriptor.
    pub page: masu_core::protocol::ProtocolPage,
    block_size: usize,
    memory: Memory,
}

// SAFETY: the page is shared as a descriptor in a segment header is; the
// memory holds blocks that the threads hand to each other.
unsafe impl Sync for PageFixture {}
// SAFETY: as above.
unsafe impl Send for PageFixture {}

impl PageFixture {
    /// The free-list key of the fixtures' pages.
    pub const KEY: usize = 0x5bd1_e995_1234_5679;
    /// The id of the heap that owns them.
    pub const OWNER: usize = 7;

    /// A page of `blocks` blocks of the smallest size that holds a payload.
    pub fn new(blocks: u32) -> PageFixture {
        let block_size = payload_block_size().next_multiple_of(16);
        let memory = Memory::new(block_size * blocks as usize);
        // SAFETY: the memory holds the blocks and lives in the fixture.
        let page = unsafe {
            masu_core::protocol::ProtocolPage::new(
                memory.start(),
                block_size,
                blocks,
                Self::OWNER,
                Self::KEY,
            )
        };
        let f = PageFixture {
            page,
            block_size,
            memory,
        };
        for i in 0..blocks as usize {
            // SAFETY: block `i` lies in the fixture's memory.
            unsafe { install_payload(f.block(i)) };
        }
        f
    }

    /// Block `i`.
    pub fn block(&self, i: usize) -> *mut u8 {
        self.memory.start().wrapping_add(i * self.block_size)
    }

    /// The bytes of a block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// The index of the block `p` lies in, and the offset of `p` in it.
    pub fn locate(&self, p: *mut u8) -> (usize, usize) {
        let off = p as usize - self.memory.start() as usize;
        (off / self.block_size, off % self.block_size)
    }
}

/// Spawns the page's owner, which uses block `i` of `fixture` (writing
/// `value` in its payload) and frees it on its fast path
/// (`Page::push_local`, then the count).
pub fn spawn_owner_free(
    fixture: &loom::sync::Arc<PageFixture>,
    i: usize,
    value: u64,
) -> loom::thread::JoinHandle<()> {
    // SAFETY: the owner frees its own block (the contract of `spawn_free`).
    spawn_free(fixture, i, value, |page, b| unsafe { page.free_local(b) })
}

/// Spawns the thread that uses block `i` of `fixture` (writing `value` in
/// its payload) and frees it remotely (`Page::push_remote`), as a thread
/// that was handed the block does.
pub fn spawn_remote_free(
    fixture: &loom::sync::Arc<PageFixture>,
    i: usize,
    value: u64,
) -> loom::thread::JoinHandle<()> {
    // SAFETY: a block handed to this thread (the contract of `spawn_free`).
    spawn_free(fixture, i, value, |page, b| unsafe { page.push_remote(b) })
}

/// Spawns a thread that uses block `i` of `fixture` and then frees it with
/// `free`, which must be a free that thread may make of a block it holds.
fn spawn_free(
    fixture: &loom::sync::Arc<PageFixture>,
    i: usize,
    value: u64,
    free: fn(&masu_core::protocol::ProtocolPage, *mut u8),
) -> loom::thread::JoinHandle<()> {
    let f = fixture.clone();
    loom::thread::spawn(move || {
        let b = f.block(i);
        // SAFETY: block `i` was handed to this thread, which is done with
        // it after the free.
        unsafe { use_block(b, value) };
        free(&f.page, b);
    })
}
