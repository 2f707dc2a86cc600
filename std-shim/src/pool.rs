//! Heap slots: one masu-core [`Heap`] per thread, kept in a process-wide pool.
//!
//! # Design
//! * A [`Slot`] holds a heap, the [`Counters`] it counts into (readable from
//!   any thread) and pool bookkeeping. Slots are carved from `mmap`ed arenas,
//!   never from `malloc`, and are never unmapped: the pool only grows to the
//!   most threads that used masu at once.
//! * A thread's slot pointer lives in a thread-local word with a constant
//!   initial value and no destructor, so reading it never allocates or
//!   registers anything. Its values: [`IDLE`] (not attached yet), [`GONE`]
//!   (the thread has gone through its exit hook), or the slot. `IDLE` and
//!   `GONE` are static slots whose heaps own nothing and never change, so
//!   the fast paths run on them without a check: they find no block to hand
//!   out and no page of their own, and fall through to the slow paths,
//!   which tell the three apart.
//! * On its first allocation a thread *attaches*: it takes an idle slot from
//!   the pool (adopting the heap whole, live blocks and all) or makes a new
//!   one, under a spin lock that is only taken at thread start and exit.
//!   The pool's protocol (the lock, the idle list, the list of all slots,
//!   the slot counts) is [`crate::slots`], which the loom models in
//!   `loom-tests/` run as well.
//! * The exit hook is a `pthread_key_create` destructor, not a Rust TLS
//!   destructor: glibc's `__cxa_thread_atexit_impl` may call `calloc`, and
//!   key destructors run after every C++/Rust TLS destructor, so nearly all
//!   of a thread's frees still reach its own heap. The hook runs
//!   `collect(true)` (purging what is empty) and gives the slot back to the
//!   pool, where the next new thread adopts it. Blocks still live in it stay
//!   valid; other threads' frees of them go to the pages' `thread_free` lists
//!   and are collected by the adopter.
//! * After the hook (later key destructors, glibc freeing the thread's
//!   dynamic TLS), a free is pushed as a remote free through a scratch heap
//!   that owns nothing, and an allocation borrows an idle slot for the one
//!   call. A thread whose first call is a free attaches like one whose first
//!   call is an allocation.
//! * `fork`: `pthread_atfork` handlers hold the pool lock across `fork`. In
//!   the child only the forking thread exists; the slots of the parent's other
//!   threads stay marked in use (their heaps may have been caught in the
//!   middle of an operation), so they are never adopted: their live blocks
//!   stay valid and frees of them are remote frees that are never collected.

use crate::fmtbuf::StackWriter;
use crate::options;
use crate::os::{self, MmapOs};
use crate::slots::{PoolSlot, SlotPool};
use crate::spin::Once;
use core::cell::{Cell, UnsafeCell};
use core::fmt::Write;
use core::mem::ManuallyDrop;
use core::ptr;
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};
use masu_core::{Config, Counters, Heap, Stats};

/// A thread's heap: masu-core's heap over `mmap`, counting into its slot.
pub type ShimHeap = Heap<MmapOs, &'static Counters>;

/// One heap and its bookkeeping. Lives forever once made.
#[repr(C, align(64))]
pub(crate) struct Slot {
    /// Used only by the thread holding the slot (or under the pool lock for
    /// an idle slot).
    heap: UnsafeCell<ShimHeap>,
    /// The heap's allocation counters, read by anyone.
    counters: Counters,
    /// True while a thread holds the slot. Changed only under the pool lock.
    in_use: AtomicBool,
    /// Next idle slot (under the pool lock).
    next_free: Cell<*mut Slot>,
    /// Next slot ever made; written before the slot is published.
    next_all: *mut Slot,
}

// SAFETY: the accessors return the slot's own fields; `next_all` is touched
// only through `set_next_all` and `next_all`.
unsafe impl PoolSlot for Slot {
    type Flag = AtomicBool;

    #[inline]
    fn in_use(&self) -> &AtomicBool {
        &self.in_use
    }

    #[inline]
    fn next_idle(&self) -> &Cell<*mut Slot> {
        &self.next_free
    }

    #[inline]
    unsafe fn set_next_all(this: *mut Slot, next: *mut Slot) {
        // SAFETY: `this` is a live slot not yet published (the caller).
        unsafe { ptr::addr_of_mut!((*this).next_all).write(next) }
    }

    #[inline]
    unsafe fn next_all(this: *mut Slot) -> *mut Slot {
        // SAFETY: `this` is a published slot (the caller); the link does not
        // change after publication.
        unsafe { (*this).next_all }
    }
}

/// A slot that no thread holds and whose heap never allocates: the slot
/// word's value before a thread attaches ([`IDLE`]) and after its exit hook
/// ([`GONE`]). Only ever read, by any number of threads at once.
#[repr(transparent)]
pub(crate) struct Sentinel(Slot);

// SAFETY: nothing writes to a sentinel: its heap has never allocated, so the
// fast paths only read it (`Heap::alloc_fast` and `Heap::dealloc_fast` say
// so), and the slow paths never use it as a heap (`is_slot`).
unsafe impl Sync for Sentinel {}

impl Sentinel {
    const fn new() -> Sentinel {
        Sentinel(Slot {
            heap: UnsafeCell::new(Heap::with_counters(
                MmapOs,
                Config::VIRTUAL_MEMORY,
                &SCRATCH_COUNTERS,
            )),
            counters: Counters::new(),
            in_use: AtomicBool::new(false),
            next_free: Cell::new(ptr::null_mut()),
            next_all: ptr::null_mut(),
        })
    }
}

/// The slot word of a thread that has not attached yet.
pub(crate) static IDLE: Sentinel = Sentinel::new();
/// The slot word of a thread that has run its exit hook.
pub(crate) static GONE: Sentinel = Sentinel::new();

/// [`IDLE`] as a slot pointer.
#[inline(always)]
pub(crate) fn idle() -> *mut Slot {
    &IDLE as *const Sentinel as *mut Slot
}

/// [`GONE`] as a slot pointer.
#[inline(always)]
pub(crate) fn gone() -> *mut Slot {
    &GONE as *const Sentinel as *mut Slot
}

/// The calling thread's slot word (see the module documentation).
///
/// On x86-64 it is a thread-local word of our own in `.tdata` (initially the
/// address of [`IDLE`]; the dynamic linker relocates the TLS image before it
/// copies it for any thread), read with the
/// initial-exec TLS model (`%fs`-relative through one GOT entry): stable Rust
/// cannot choose a TLS model, and `thread_local!` in a `cdylib` uses the
/// general-dynamic model, a `__tls_get_addr` call per access (22 of the 137
/// instructions of a malloc/free pair under LD_PRELOAD, measured). Static TLS
/// is what an `LD_PRELOAD` library or an executable gets anyway, so reading it
/// never allocates. Elsewhere, a `thread_local!` with a `const` initialiser
/// and no destructor.
#[cfg(target_arch = "x86_64")]
mod tls {
    use super::Slot;

    core::arch::global_asm!(
        ".pushsection .tdata,\"awT\",@progbits",
        ".p2align 3",
        ".globl __masu_slot_0_1",
        ".hidden __masu_slot_0_1",
        ".type __masu_slot_0_1,@object",
        ".size __masu_slot_0_1,8",
        "__masu_slot_0_1:",
        ".quad {idle}",
        ".popsection",
        idle = sym super::IDLE,
    );

    #[inline(always)]
    pub(crate) fn get() -> *mut Slot {
        let v: *mut Slot;
        // SAFETY: reads this thread's 8-byte TLS word defined above; the
        // GOT entry holds its offset from the thread pointer (%fs).
        unsafe {
            core::arch::asm!(
                "mov {off}, qword ptr [rip + __masu_slot_0_1@GOTTPOFF]",
                "mov {v}, qword ptr fs:[{off}]",
                off = out(reg) _,
                v = lateout(reg) v,
                options(nostack, readonly, preserves_flags, pure),
            );
        }
        v
    }

    #[inline(always)]
    pub(crate) fn set(v: *mut Slot) {
        // SAFETY: writes this thread's TLS word (see `get`).
        unsafe {
            core::arch::asm!(
                "mov {off}, qword ptr [rip + __masu_slot_0_1@GOTTPOFF]",
                "mov qword ptr fs:[{off}], {v}",
                off = out(reg) _,
                v = in(reg) v,
                options(nostack, preserves_flags),
            );
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod tls {
    use super::Slot;
    use core::cell::Cell;

    // Null stands for `IDLE` (a `const` initialiser cannot name a static
    // before Rust 1.83).
    std::thread_local! {
        static CURRENT: Cell<*mut Slot> = const { Cell::new(core::ptr::null_mut()) };
    }

    #[inline(always)]
    pub(crate) fn get() -> *mut Slot {
        let s = CURRENT.with(Cell::get);
        if s.is_null() {
            super::idle()
        } else {
            s
        }
    }

    #[inline(always)]
    pub(crate) fn set(v: *mut Slot) {
        CURRENT.with(|c| c.set(v))
    }
}

/// The calling thread's slot, [`IDLE`] or [`GONE`]: never null.
#[inline(always)]
pub(crate) fn current() -> *mut Slot {
    tls::get()
}

/// True for a real slot (not null, [`IDLE`] or [`GONE`]).
#[inline(always)]
pub(crate) fn is_slot(s: *mut Slot) -> bool {
    !s.is_null() && s != idle() && s != gone()
}

/// The heap of `s` for the fast paths ([`Heap::alloc_fast`],
/// [`Heap::dealloc_fast`]), which take it shared.
///
/// # Safety
/// `s` is [`current`]'s value, and the thread is not inside a heap call.
#[inline(always)]
pub(crate) unsafe fn fast_heap<'a>(s: *mut Slot) -> &'a ShimHeap {
    // SAFETY: a sentinel's heap is never written; a real slot's is this
    // thread's, and no `&mut` to it is live (not inside a heap call).
    unsafe { &*(*s).heap.get() }
}

/// The heap of `s`.
///
/// # Safety
/// `s` is a real slot held by the calling thread (or an idle slot while the
/// caller holds the pool lock), and no other reference to the heap is live.
#[inline(always)]
#[allow(clippy::mut_from_ref)]
pub(crate) unsafe fn heap_of<'a>(s: *mut Slot) -> &'a mut ShimHeap {
    // SAFETY: guaranteed by the caller.
    unsafe { &mut *(*s).heap.get() }
}

// ---------------------------------------------------------------------------
// The pool.

/// The pool's own state, under the pool lock (the idle slots are beside
/// it, see [`crate::slots`]).
struct Arena {
    /// Unused part of the current slot arena.
    arena: usize,
    arena_end: usize,
}

/// Bytes mapped at a time for slots.
const ARENA_BYTES: usize = 256 << 10;
const SLOT_BYTES: usize = core::mem::size_of::<Slot>();
static_assertions::const_assert!(SLOT_BYTES <= ARENA_BYTES);

/// Idle slots under the pool lock, every slot ever made (pushed under the
/// lock, read without it), and the slot counts.
static POOL: SlotPool<Slot, Arena> = SlotPool::new(Arena {
    arena: 0,
    arena_end: 0,
});

// Counters only, not part of a synchronisation protocol.
static ADOPTIONS: AtomicU64 = AtomicU64::new(0);
static THREAD_EXITS: AtomicU64 = AtomicU64::new(0);
static BORROWS: AtomicU64 = AtomicU64::new(0);
static ORPHAN_FREES: AtomicU64 = AtomicU64::new(0);
static FORKS: AtomicU64 = AtomicU64::new(0);
static METADATA_BYTES: AtomicUsize = AtomicUsize::new(0);
static SEED: AtomicU64 = AtomicU64::new(0);

/// Figures about the heap pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Heaps ever made (the most threads that used masu at once).
    pub heaps: usize,
    /// Heaps held by a live thread now.
    pub heaps_in_use: usize,
    /// Times a new thread adopted an idle heap.
    pub adoptions: u64,
    /// Thread exits that gave a heap back.
    pub thread_exits: u64,
    /// Allocations by exiting threads after their exit hook (borrowed heap).
    pub borrows: u64,
    /// Frees by threads without a heap (remote frees through a scratch heap).
    pub orphan_frees: u64,
    /// `fork` calls seen in a child.
    pub forks: u64,
    /// Bytes mapped for heap slots.
    pub metadata_bytes: usize,
}

/// A snapshot of the pool's figures.
pub fn pool_stats() -> PoolStats {
    let (heaps, heaps_in_use) = POOL.counts();
    PoolStats {
        heaps,
        heaps_in_use,
        adoptions: ADOPTIONS.load(Relaxed),
        thread_exits: THREAD_EXITS.load(Relaxed),
        borrows: BORROWS.load(Relaxed),
        orphan_frees: ORPHAN_FREES.load(Relaxed),
        forks: FORKS.load(Relaxed),
        metadata_bytes: METADATA_BYTES.load(Relaxed),
    }
}

/// Takes an idle slot or makes one; null when no memory is left. The bool
/// tells whether the slot was adopted (it may hold live blocks).
fn take_slot() -> (*mut Slot, bool) {
    let (s, adopted) = POOL.take(|pool| {
        if pool.arena_end - pool.arena < SLOT_BYTES {
            let m = crate::platform::map(ARENA_BYTES);
            if m.is_null() {
                return ptr::null_mut();
            }
            METADATA_BYTES.fetch_add(ARENA_BYTES, Relaxed);
            pool.arena = m as usize;
            pool.arena_end = m as usize + ARENA_BYTES;
        }
        let s = pool.arena as *mut Slot;
        pool.arena += SLOT_BYTES;
        let config = options::heap_config(SEED.load(Relaxed));
        // SAFETY: `s` is fresh, suitably aligned (arena chunks are
        // page-aligned and SLOT_BYTES is a multiple of the slot's alignment),
        // writable memory that nobody else knows about; slots are never
        // freed, so the reference to its counters is `'static`. The pool
        // links it (`next_all`) when it publishes it.
        unsafe {
            ptr::addr_of_mut!((*s).counters).write(Counters::new());
            let counters: &'static Counters = &*ptr::addr_of!((*s).counters);
            ptr::addr_of_mut!((*s).heap).write(UnsafeCell::new(Heap::with_counters(
                MmapOs, config, counters,
            )));
            ptr::addr_of_mut!((*s).in_use).write(AtomicBool::new(true));
            ptr::addr_of_mut!((*s).next_free).write(Cell::new(ptr::null_mut()));
            ptr::addr_of_mut!((*s).next_all).write(ptr::null_mut());
        }
        s
    });
    if adopted {
        ADOPTIONS.fetch_add(1, Relaxed);
    }
    (s, adopted)
}

/// Gives `s` back to the pool.
///
/// # Safety
/// The caller holds `s` and does not use it afterwards.
unsafe fn release_slot(s: *mut Slot) {
    // SAFETY: forwarded from the caller; `s` came from `take_slot`.
    unsafe { POOL.give(s) }
}

/// Calls `f` on every slot ever made.
fn for_each_slot(f: impl FnMut(*mut Slot)) {
    POOL.for_each(f)
}

// ---------------------------------------------------------------------------
// Initialisation.

static INIT: Once = Once::new();
static HOOKS: AtomicBool = AtomicBool::new(false);
static KEY: AtomicU32 = AtomicU32::new(0);
static KEY_OK: AtomicBool = AtomicBool::new(false);

/// Reads the options and creates the thread-exit key, once. Allocates
/// nothing, so it is safe to run inside the first `malloc`.
#[inline]
pub fn init() {
    if !INIT.is_done() {
        init_slow();
    }
}

#[cold]
#[inline(never)]
fn init_slow() {
    INIT.call(|| {
        options::load_from_env();
        if options::stats_at_exit() {
            crate::report::keep_stderr_for_exit();
        }
        os::page_size();
        SEED.store(make_seed(), Relaxed);
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is a valid out-pointer; the destructor has the
        // required signature. glibc's pthread_key_create does not allocate.
        if unsafe { libc::pthread_key_create(&mut key, Some(on_thread_exit)) } == 0 {
            KEY.store(key, Relaxed);
            KEY_OK.store(true, Relaxed);
        } else {
            options::verbose_event(
                b"pthread_key_create failed: heaps of exited threads are not reused",
            );
        }
        #[cfg(feature = "checks")]
        masu_core::check::set_fault_handler(crate::report::fault_abort);
    });
}

/// Registers the `fork` handlers and the exit report, once. These calls may
/// allocate, so they run after the calling thread is attached.
pub fn register_hooks() {
    if HOOKS.load(Relaxed) || HOOKS.swap(true, Relaxed) {
        return;
    }
    // SAFETY: the handlers are `extern "C" fn()` that never unwind.
    unsafe {
        libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child));
        if options::stats_at_exit() {
            libc::atexit(crate::report::print_at_exit);
        }
    }
}

/// A per-process seed for the checks' free-list encoding.
fn make_seed() -> u64 {
    let local = 0u8;
    let addr = &local as *const u8 as u64;
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u64;
    let mut z = addr ^ pid.rotate_left(32) ^ os::clock_ms().wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------
// Thread life cycle.

/// Gives the calling thread a heap; returns its slot (null when out of
/// memory). Called when [`current`] is [`IDLE`].
#[cold]
#[inline(never)]
pub(crate) fn attach() -> *mut Slot {
    init();
    let s = current();
    if s != idle() {
        return s;
    }
    let (s, adopted) = take_slot();
    if s.is_null() {
        return s;
    }
    tls::set(s);
    if KEY_OK.load(Relaxed) {
        // SAFETY: the key is valid. With a high key number glibc may calloc
        // here; that call finds the slot already set and uses it.
        unsafe { libc::pthread_setspecific(KEY.load(Relaxed), s as *const libc::c_void) };
    }
    if adopted {
        // SAFETY: the thread holds `s` now.
        unsafe { heap_of(s).collect(false) };
    }
    register_hooks();
    s
}

/// What a thread's exit does to its heap before the pool takes it back:
/// collect remote frees, free empty pages and do the due purges; then, if
/// the free memory still committed exceeds `MASU_EXIT_RETAIN`, give all of
/// it back (`collect(true)`). Below the bound the memory stays for the next
/// thread that adopts the heap, which then allocates without page faults:
/// programs that start and end threads all the time (mimalloc-bench's
/// mstress, masu-bench's thread-churn) paid a fault for every page of every
/// thread when the exit decommitted everything.
fn retire_heap(h: &mut ShimHeap) {
    h.collect(false);
    if h.free_committed_bytes() > options::exit_retain_bytes() {
        h.collect(true);
    }
}

/// The `pthread_key_create` destructor: collect and give the heap back.
unsafe extern "C" fn on_thread_exit(value: *mut libc::c_void) {
    let s = value as *mut Slot;
    if !is_slot(s) {
        return;
    }
    // SAFETY: the key's value is the slot this thread holds.
    let waiting = unsafe {
        retire_heap(heap_of(s));
        heap_of(s).has_pending_release()
    };
    if tls::get() == s {
        tls::set(gone());
    }
    // SAFETY: the thread gives up `s` and no longer reaches it (its slot word is GONE).
    unsafe { release_slot(s) };
    THREAD_EXITS.fetch_add(1, Relaxed);
    if waiting {
        crate::purger::notify();
    }
}

/// One pass of the background purger (`purger.rs`) over the idle heaps:
/// `collect(false)` on each, under the pool lock. True when any of them
/// still has memory waiting for its purge delay afterwards.
pub(crate) fn purge_idle_heaps() -> bool {
    let mut waiting = false;
    POOL.for_each_idle(|s| {
        // SAFETY: an idle slot's heap is only touched under the pool lock,
        // which `for_each_idle` holds.
        let h = unsafe { heap_of(s) };
        h.collect(false);
        waiting |= h.has_pending_release();
    });
    waiting
}

/// Runs `f` on an idle heap borrowed for the call (for threads past their
/// exit hook); None when no heap can be had.
pub(crate) fn with_borrowed<R>(f: impl FnOnce(&mut ShimHeap) -> R) -> Option<R> {
    init();
    let (s, _) = take_slot();
    if s.is_null() {
        return None;
    }
    BORROWS.fetch_add(1, Relaxed);
    // SAFETY: we hold `s` until `release_slot`.
    let r = f(unsafe { heap_of(s) });
    // An idle heap must not hold back other heaps' blocks.
    // SAFETY: we still hold `s`.
    unsafe { heap_of(s).flush_remote_frees() };
    // SAFETY: we are done with `s`.
    unsafe { release_slot(s) };
    Some(r)
}

/// Counters of the scratch heap (it never counts: it owns no pages).
static SCRATCH_COUNTERS: Counters = Counters::new();

/// Frees `ptr` from a thread that has no heap (past its exit hook): a
/// remote free.
///
/// # Safety
/// As for [`Heap::dealloc`].
#[cold]
#[inline(never)]
pub(crate) unsafe fn free_without_heap(ptr: *mut u8, layout: core::alloc::Layout) {
    ORPHAN_FREES.fetch_add(1, Relaxed);
    // A heap that never took memory has id 0, which no page has as its
    // owner, so `dealloc` pushes the block on its page's `thread_free` list
    // and touches nothing of the scratch heap itself.
    let mut scratch = ManuallyDrop::new(ShimHeap::with_counters(
        MmapOs,
        Config::VIRTUAL_MEMORY,
        &SCRATCH_COUNTERS,
    ));
    // SAFETY: forwarded from the caller.
    unsafe { scratch.dealloc(ptr, layout) };
    // The scratch heap is forgotten: publish the free now.
    scratch.flush_remote_frees();
}

// ---------------------------------------------------------------------------
// Collection and statistics across heaps.

/// Collects the calling thread's heap (see [`Heap::collect`]).
pub fn collect(force: bool) {
    let s = current();
    if is_slot(s) {
        // SAFETY: the thread holds `s`; no heap call is in progress.
        unsafe { heap_of(s).collect(force) };
    }
}

/// Publishes the remote frees the calling thread's heap has batched (blocks
/// it freed to pages of other threads' heaps, see masu-core's
/// `Heap::flush_remote_frees`), so that their owners can reuse them. The
/// heap does this itself at its slow paths, at `collect` and at thread
/// exit; a thread that frees other threads' blocks and then blocks for a
/// long time (a consumer waiting on a queue) can call it first: up to 63
/// blocks of one page may wait otherwise.
pub fn flush_remote_frees() {
    let s = current();
    if is_slot(s) {
        // SAFETY: the thread holds `s`; no heap call is in progress.
        unsafe { heap_of(s).flush_remote_frees() };
    }
}

/// Collects every idle heap (those left by exited threads): remote frees that
/// reached them since are taken in, empty pages freed and, with `force`,
/// purged and their segment caches released.
pub fn collect_abandoned(force: bool) {
    // Take the idle list whole so the collection runs without the lock.
    let mut list = POOL.lock().list.take_all();
    let mut last: *mut Slot = ptr::null_mut();
    let head = list;
    while !list.is_null() {
        // SAFETY: we hold every slot of the detached list.
        unsafe {
            heap_of(list).collect(force);
            last = list;
            list = (*list).next_free.get();
        }
    }
    if !last.is_null() {
        // SAFETY: `head..=last` is the detached list, unchanged.
        unsafe { POOL.lock().list.put_back(head, last) };
    }
}

/// Adds the per-heap detail of `h` (what only the heap itself knows).
fn merge_detail(into: &mut Stats, h: &Stats) {
    into.segments += h.segments;
    into.cached_segments += h.cached_segments;
    into.remote_frees_collected += h.remote_frees_collected;
    for (a, b) in into
        .pages_per_class
        .iter_mut()
        .zip(h.pages_per_class.iter())
    {
        *a += *b;
    }
    into.large_spans += h.large_spans;
    into.huge_allocs += h.huge_allocs;
    into.purges += h.purges;
}

/// Statistics of all heaps together; see [`crate::stats`].
pub fn stats() -> Stats {
    let mut st = Stats::ZERO;
    for_each_slot(|s| {
        // SAFETY: slots are live forever; counters are readable by anyone.
        let c = masu_core::CounterSink::read(unsafe { &(*s).counters });
        st.live_bytes = st.live_bytes.wrapping_add(c.live_bytes);
        st.peak_live_bytes += c.peak_live_bytes;
        st.alloc_count += c.alloc_count as u64;
        st.free_count += c.free_count as u64;
    });
    let own = current();
    if is_slot(own) {
        // SAFETY: the thread holds its slot and is not inside a heap call.
        merge_detail(&mut st, &unsafe { heap_of(own) }.stats());
    }
    POOL.for_each_idle(|s| {
        // SAFETY: an idle slot's heap is only touched under the pool lock,
        // which `for_each_idle` holds.
        merge_detail(&mut st, &unsafe { heap_of(s) }.stats());
    });
    let o = os::os_stats();
    st.committed_bytes = o.committed_bytes;
    st.reserved_bytes = o.reserved_bytes;
    st.decommitted_bytes = o.decommitted_bytes;
    st
}

/// Where the committed bytes of the heaps this thread can read are (its
/// own and the idle heaps of exited threads; see
/// [`masu_core::CommittedBreakdown`]). Other live threads' heaps are not
/// readable from here: their share is the process's committed bytes
/// ([`crate::os_stats`]) less this total.
pub fn committed_breakdown() -> masu_core::CommittedBreakdown {
    let mut b = masu_core::CommittedBreakdown::default();
    let own = current();
    if is_slot(own) {
        // SAFETY: the thread holds its slot and is not inside a heap call.
        b.merge(&unsafe { heap_of(own) }.committed_breakdown());
    }
    POOL.for_each_idle(|s| {
        // SAFETY: an idle slot's heap is only touched under the pool lock,
        // which `for_each_idle` holds.
        b.merge(&unsafe { heap_of(s) }.committed_breakdown());
    });
    b
}

// ---------------------------------------------------------------------------
// fork.

extern "C" fn fork_prepare() {
    POOL.raw_lock();
}

extern "C" fn fork_parent() {
    // SAFETY: `fork_prepare` took the lock in this process.
    unsafe { POOL.raw_unlock() };
}

extern "C" fn fork_child() {
    // SAFETY: the lock was taken by `fork_prepare` in the parent's forking
    // thread, which is this thread in the child.
    unsafe { POOL.raw_unlock() };
    crate::purger::after_fork_in_child();
    FORKS.fetch_add(1, Relaxed);
}

/// Writes a line per heap slot (for the verbose report).
pub(crate) fn write_slots(w: &mut StackWriter<1024>) {
    let mut n = 0usize;
    for_each_slot(|s| {
        // SAFETY: slots are live forever; counters are readable by anyone.
        let c = masu_core::CounterSink::read(unsafe { &(*s).counters });
        // SAFETY: as above; `in_use` is an atomic.
        let used = unsafe { (*s).in_use.load(Relaxed) };
        let _ = writeln!(
            w,
            "  heap {n:>4}  {}  live {:>12}  allocs {:>12}  frees {:>12}",
            if used { "in use" } else { "idle  " },
            c.live_bytes,
            c.alloc_count,
            c.free_count
        );
        n += 1;
    });
}
