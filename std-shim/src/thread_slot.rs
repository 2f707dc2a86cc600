//! A thread's slot: its heap, the counters the heap counts into, and the
//! thread-local slot word that finds it (see `pool.rs` for the design:
//! sentinels, attach, exit, adoption).

use crate::gate::Gate;
use crate::os::MmapOs;
use crate::slots::PoolSlot;
use core::cell::{Cell, UnsafeCell};
use core::ptr;
use core::sync::atomic::AtomicBool;
use core::sync::atomic::Ordering::Relaxed;
use masu_core::{Config, CounterSink, Counters, Counts, Heap};

/// Counters of the sentinels' and the scratch heap (they never count: they
/// own no pages).
pub(crate) static SCRATCH_COUNTERS: Counters = Counters::new();

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
    /// The holder's heap calls (all but the fast paths) against the
    /// background purger (see `gate.rs`).
    gate: Gate,
    /// The gate's count when the purger last looked (the purger's alone,
    /// under the pool lock).
    purger_seen: Cell<u32>,
    /// The purger's last look at the heap found nothing to do and the
    /// count has not moved since (the purger's alone, under the pool lock).
    purger_clean: Cell<bool>,
    /// When (`platform::clock_ms`) the purger last saw the count move (the
    /// purger's alone, under the pool lock).
    purger_moved_at: Cell<u64>,
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

impl Slot {
    /// Writes a new slot at `s`, held by the caller (`in_use`), with a heap
    /// of `config` counting into the slot's counters.
    ///
    /// # Safety
    /// `s` is fresh, suitably aligned, writable memory that nobody else
    /// knows about and that is never freed (so the reference to its
    /// counters is `'static`).
    pub(crate) unsafe fn write_new(s: *mut Slot, config: Config) {
        // SAFETY: guaranteed by the caller. The pool links the slot
        // (`next_all`) when it publishes it.
        unsafe {
            ptr::addr_of_mut!((*s).counters).write(Counters::new());
            let counters: &'static Counters = &*ptr::addr_of!((*s).counters);
            ptr::addr_of_mut!((*s).heap).write(UnsafeCell::new(Heap::with_counters(
                MmapOs, config, counters,
            )));
            ptr::addr_of_mut!((*s).in_use).write(AtomicBool::new(true));
            ptr::addr_of_mut!((*s).gate).write(Gate::new());
            ptr::addr_of_mut!((*s).purger_seen).write(Cell::new(u32::MAX));
            ptr::addr_of_mut!((*s).purger_clean).write(Cell::new(false));
            ptr::addr_of_mut!((*s).purger_moved_at).write(Cell::new(0));
            ptr::addr_of_mut!((*s).next_free).write(Cell::new(ptr::null_mut()));
            ptr::addr_of_mut!((*s).next_all).write(ptr::null_mut());
        }
    }

    /// What the heap of `s` has counted (readable from any thread).
    ///
    /// # Safety
    /// `s` is a live slot (slots live forever once made).
    pub(crate) unsafe fn counts(s: *mut Slot) -> Counts {
        // SAFETY: guaranteed by the caller; counters are atomics.
        unsafe { (*s).counters.read() }
    }

    /// True while a thread holds `s`.
    ///
    /// # Safety
    /// As for [`Slot::counts`].
    pub(crate) unsafe fn held(s: *mut Slot) -> bool {
        // SAFETY: guaranteed by the caller; `in_use` is an atomic.
        unsafe { (*s).in_use.load(Relaxed) }
    }
}

/// A sentinel's value. A macro, not a `const fn`: its heap counts into
/// `SCRATCH_COUNTERS`, a static, which a static's initialiser may name but a
/// `const fn` may not before Rust 1.83 (masu's `rust-version` is 1.80).
macro_rules! sentinel {
    () => {
        Sentinel(Slot {
            heap: UnsafeCell::new(Heap::with_counters(
                MmapOs,
                Config::VIRTUAL_MEMORY,
                &SCRATCH_COUNTERS,
            )),
            counters: Counters::new(),
            in_use: AtomicBool::new(false),
            gate: Gate::new(),
            purger_seen: Cell::new(u32::MAX),
            purger_clean: Cell::new(false),
            purger_moved_at: Cell::new(0),
            next_free: Cell::new(ptr::null_mut()),
            next_all: ptr::null_mut(),
        })
    };
}

/// The slot word of a thread that has not attached yet.
pub(crate) static IDLE: Sentinel = sentinel!();
/// The slot word of a thread that has run its exit hook.
pub(crate) static GONE: Sentinel = sentinel!();

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

/// The calling thread's slot word (see `pool.rs`).
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

/// Sets the calling thread's slot word.
#[inline]
pub(crate) fn set_current(s: *mut Slot) {
    tls::set(s)
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

/// Runs `f` on the heap of `s`, held by the calling thread, inside the
/// slot's gate (`gate.rs`): the background purger does not touch the heap
/// meanwhile. Every use of a held slot's heap but the fast paths goes
/// through here.
///
/// # Safety
/// `s` is a real slot held by the calling thread, which is in no heap call.
#[inline(always)]
pub(crate) unsafe fn with_heap<R>(s: *mut Slot, f: impl FnOnce(&mut ShimHeap) -> R) -> R {
    // SAFETY: forwarded from the caller.
    let inside = unsafe { Inside::enter(s) };
    f(inside.heap())
}

/// The calling thread inside its slot's gate (see [`with_heap`]): the
/// allocation paths' form, without a closure. Leaves when dropped.
pub(crate) struct Inside(*mut Slot);

impl Inside {
    /// Enters the gate of `s`.
    ///
    /// # Safety
    /// `s` is a real slot held by the calling thread, which is in no heap
    /// call.
    #[inline(always)]
    pub(crate) unsafe fn enter(s: *mut Slot) -> Inside {
        // SAFETY: guaranteed by the caller; slots live forever.
        unsafe { (*s).gate.enter() };
        Inside(s)
    }

    /// Enters the gate of `s` unless the purger holds the heap now (then
    /// the caller takes a cold path that waits with [`Inside::enter`]).
    ///
    /// # Safety
    /// As for [`Inside::enter`].
    #[inline(always)]
    pub(crate) unsafe fn try_enter(s: *mut Slot) -> Option<Inside> {
        // SAFETY: guaranteed by the caller; slots live forever.
        if unsafe { (*s).gate.try_enter() } {
            Some(Inside(s))
        } else {
            None
        }
    }

    /// The slot's heap: one `&mut` at a time, while inside.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) fn heap(&self) -> &mut ShimHeap {
        // SAFETY: the thread holds the slot and is inside its gate; the
        // callers take one reference for one heap call.
        unsafe { heap_of(self.0) }
    }
}

impl Drop for Inside {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: slots live forever.
        unsafe { (*self.0).gate.leave() };
    }
}

/// What the purger's look at a live heap came to ([`with_idle_heap`]).
pub(crate) enum IdleLook<R> {
    /// The holder is in a heap call, or made one since the purger's
    /// previous look (it purges on its own slow paths), or `membarrier` is
    /// missing.
    Busy,
    /// Idle, but the previous look found nothing to do (not `thorough`).
    Clean,
    /// `f` ran on the heap.
    Done(R),
}

/// Runs `f` on the heap of `s`, held by a thread that went idle: one that
/// made no heap call but fast paths for `idle_ms` at least (as far as the
/// purger's looks tell: since the first look that found the count where it
/// is now), and is in none now (the slot's gate lets the purger in). A
/// thread that pauses for less (a worker between two tasks) is left alone:
/// it would fault the memory back in. `f` returns its result and whether
/// it found nothing to do; a heap found so is passed over until its holder
/// makes a heap call again, unless `thorough`.
///
/// # Safety
/// The caller is the background purger and holds the pool lock, and `s` is
/// held by a thread.
pub(crate) unsafe fn with_idle_heap<R>(
    s: *mut Slot,
    thorough: bool,
    idle_ms: u64,
    f: impl FnOnce(&mut ShimHeap) -> (R, bool),
) -> IdleLook<R> {
    // SAFETY: slots live forever; the `purger_*` fields are the caller's.
    let (gate, seen, clean, moved_at) = unsafe {
        (
            &(*s).gate,
            &(*s).purger_seen,
            &(*s).purger_clean,
            &(*s).purger_moved_at,
        )
    };
    let now = gate.seq();
    let ms = crate::platform::clock_ms();
    if seen.replace(now) != now {
        clean.set(false);
        moved_at.set(ms);
        return IdleLook::Busy;
    }
    if ms.wrapping_sub(moved_at.get()) < idle_ms {
        return IdleLook::Busy;
    }
    if clean.get() && !thorough {
        return IdleLook::Clean;
    }
    if !gate.try_claim(now) {
        return IdleLook::Busy;
    }
    // SAFETY: the gate keeps the holder out of every heap call but its fast
    // paths, which touch only what `release_while_owner_idle` leaves alone;
    // the holder's fast paths read the heap through `&ShimHeap` while this
    // `&mut` lives, on fields that `f` must not write (the direct table,
    // the id, the geometry and the configuration).
    let (r, nothing) = f(unsafe { heap_of(s) });
    gate.release();
    clean.set(nothing);
    IdleLook::Done(r)
}

/// The heap of `s`.
///
/// # Safety
/// `s` is a real slot held by the calling thread and inside its gate (see
/// [`with_heap`]), or an idle slot while the caller holds the pool lock,
/// and no other reference to the heap is live.
#[inline(always)]
#[allow(clippy::mut_from_ref)]
pub(crate) unsafe fn heap_of<'a>(s: *mut Slot) -> &'a mut ShimHeap {
    // SAFETY: guaranteed by the caller.
    unsafe { &mut *(*s).heap.get() }
}
