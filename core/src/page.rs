//! Pages: a run of slices holding blocks of one size class, with three free
//! lists (the "sharded" free list).
//!
//! * `free`: the owner pops blocks here on the fast path;
//! * `local_free`: the owner pushes blocks it frees here (no read-modify-write:
//!   a plain store, Release so that the background purger may walk it);
//! * `thread_free`: other threads push blocks they free here with one CAS.
//!
//! The owner swaps `local_free` and `thread_free` into `free` in its slow path
//! ([`Page::merge_frees`]). A fresh page is carved lazily: [`Page::extend`] threads
//! at most [`EXTEND_BYTES`] of new blocks onto `free` at a time.

use crate::sync::{AtomicPtr, AtomicU32, AtomicUsize, Ordering, UntrackedAtomicPtr};
use core::ptr;

/// A free block: its first word links to the next free block (encoded with
/// the `checks` feature).
#[repr(C)]
pub(crate) struct Block {
    pub next: usize,
}

/// Bytes of new blocks threaded onto `free` by one [`Page::extend`].
pub(crate) const EXTEND_BYTES: usize = 4096;

/// What a page descriptor describes: blocks of a size class (its index), one
/// large span, a huge segment's one block, or nothing (free slices, or the
/// interior descriptors of a page).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
pub(crate) struct PageClass(u8);

impl PageClass {
    /// An arena segment's descriptor: blocks of many sizes in a `Tlsf`
    /// (see `arena.rs`).
    pub const ARENA: PageClass = PageClass(252);
    /// A descriptor of free slices or of a page's interior.
    pub const UNUSED: PageClass = PageClass(253);
    /// A page holding one large span.
    pub const LARGE: PageClass = PageClass(254);
    /// A huge segment's single page.
    pub const HUGE: PageClass = PageClass(255);

    /// Size class `class` (below `CLASS_COUNT`).
    #[inline(always)]
    pub const fn small(class: usize) -> PageClass {
        debug_assert!(class < crate::size_class::CLASS_COUNT);
        PageClass(class as u8)
    }

    /// True for a size class.
    #[inline(always)]
    pub const fn is_small(self) -> bool {
        self.0 < PageClass::ARENA.0
    }

    /// True for a large or huge page (one block).
    #[inline(always)]
    pub const fn is_span(self) -> bool {
        self.0 >= PageClass::LARGE.0
    }

    /// The size class index of a small page.
    #[inline(always)]
    pub const fn index(self) -> usize {
        debug_assert!(self.is_small());
        self.0 as usize
    }

    /// The raw byte (for fault messages).
    #[inline]
    #[cfg_attr(not(feature = "checks"), allow(dead_code))]
    pub const fn raw(self) -> u8 {
        self.0
    }
}

/// A page's state bits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
pub(crate) struct PageFlags(u8);

impl PageFlags {
    /// No bit.
    pub const EMPTY: PageFlags = PageFlags(0);
    /// The page is in the heap's `full` queue (small page with no free
    /// block, or a large or huge page). Set and cleared with
    /// [`Page::enter_full`] and [`Page::leave_full`], which also mark the
    /// owner word.
    pub const IN_FULL: PageFlags = PageFlags(1);
    /// Every block on `free` is fresh: never handed out, memory known zero
    /// except its link word.
    pub const FREE_IS_ZERO: PageFlags = PageFlags(2);
    /// The page's memory was known zero when the page was made.
    pub const FRESH: PageFlags = PageFlags(4);
    /// The page is in a class queue.
    pub const IN_QUEUE: PageFlags = PageFlags(8);
    /// The page is alone in its class queue and the heap keeps it when it
    /// empties (its purge delay is not 0): the owner's free of its last
    /// block only stamps it (see `Heap::dealloc`). Kept up to date by
    /// `PageQueues`.
    pub const KEEP: PageFlags = PageFlags(16);

    /// True when every bit of `f` is set.
    #[inline(always)]
    pub const fn has(self, f: PageFlags) -> bool {
        self.0 & f.0 == f.0
    }

    /// Sets the bits of `f`.
    #[inline(always)]
    pub fn insert(&mut self, f: PageFlags) {
        self.0 |= f.0;
    }

    /// Clears the bits of `f`.
    #[inline(always)]
    pub fn remove(&mut self, f: PageFlags) {
        self.0 &= !f.0;
    }

    /// The bits of both.
    #[inline(always)]
    pub const fn with(self, f: PageFlags) -> PageFlags {
        PageFlags(self.0 | f.0)
    }
}

/// True where a page can park a run of its carved blocks
/// ([`Page::parked_of`]): on 64-bit targets (where the field costs no
/// descriptor bytes with `stats`), and not with `checks` or `secure`, whose
/// freed blocks carry fills and tags that must stay (the background
/// purger, which parks, leaves their blocks alone).
pub(crate) const PAGES_PARK: bool = cfg!(all(
    target_pointer_width = "64",
    not(any(feature = "checks", feature = "secure"))
));

// `Page::parked` costs no descriptor bytes in the build the std shim uses:
// it fills the hole before `block_size` that `stats` leaves (112 bytes,
// as before the field).
#[cfg(all(
    feature = "stats",
    target_pointer_width = "64",
    not(any(feature = "checks", feature = "secure", loom))
))]
static_assertions::const_assert_eq!(core::mem::size_of::<Page>(), 112);
// The fast paths' fields lie in the first 48 bytes (see "Layout" on `Page`).
#[cfg(all(
    feature = "stats",
    target_pointer_width = "64",
    not(any(loom, all(feature = "secure", not(feature = "checks"))))
))]
static_assertions::const_assert!(core::mem::offset_of!(Page, stat_allocs) + 8 <= 48);
// With `secure`, the free's fields lie in the first 64 bytes (`div_magic`
// last of them; see "Layout" on `Page`), and the descriptor stays within
// two cache lines.
#[cfg(all(
    feature = "secure",
    not(feature = "checks"),
    target_pointer_width = "64",
    not(loom)
))]
static_assertions::const_assert!(
    core::mem::offset_of!(Page, div_magic) + 8 <= 64
        && core::mem::offset_of!(Page, retired_at) < 64
        && core::mem::size_of::<Page>() <= 128
);

/// `Page::parked_hole` when the parked run has no hole.
pub(crate) const NO_HOLE: u16 = u16::MAX;

/// `Page::retired_at` of a kept empty page that the epoch tick has not yet
/// stamped with the time.
pub(crate) const RETIRED_UNSTAMPED: u32 = u32::MAX;

/// Set in `Page::owner` (beside the heap id) while a free of one of its
/// blocks needs the slow path even for its owner: while the page is in the
/// full queue, and in every unused descriptor (whose owner word is this bit
/// alone). So the owner's free fast path tells "my page, nothing else to
/// do" from everything else with one comparison: such a word matches no
/// heap's id, not even the 0 of a heap that owns nothing. Heap ids never
/// reach this bit.
pub(crate) const OWNER_SLOW: usize = 1 << (usize::BITS - 1);

/// A page descriptor. One exists per slice in a segment header; only the one
/// of a page's first slice describes the page, the others hold
/// `slice_offset`, the distance back to it.
///
/// # Access
/// While a page has blocks in use, threads that do not own it read its
/// fixed fields (`slice_offset`, `class`, `block_size`, `start`, `key`,
/// `reserved`, and with `secure` `div_magic` and `span_bytes`) and use its
/// atomics (`owner`, `thread_free`). So no code forms a `&mut Page` of a
/// live page, not even its owner: a unique reference claims every byte of
/// the page and races with those readers.
/// The owner writes its fields through the raw pointer (`(*page).free =
/// ...`) and the functions that change a page take `*mut Page`; a shared
/// `&Page` is fine for a moment (other threads only read the bytes it
/// covers, and write only atomics). Only [`Heap::init_page`], before any
/// block of the page exists, writes the whole descriptor.
///
/// # Layout
/// The fields the fast paths touch come first (`free` to `flags`, and
/// `stat_allocs` with `stats`: 48 bytes on 64-bit targets), so that an
/// allocation or a free reads one or two cache lines of the descriptor
/// rather than two or three; `thread_free`, which other threads write, lies
/// behind the fields the owner writes on every operation.
/// With `secure`, whose fast paths also read `start`, `span_bytes` and
/// (the free) `div_magic`, those come right after `flags`, with
/// `retired_at` (which a free that empties a kept page writes), and
/// `stat_allocs` goes behind them: a free then reads and writes only the
/// first 64 bytes, one cache line when descriptors are line-aligned
/// ([`Config::line_pages`]). Behind them, a free missed the descriptor's
/// second line as often as its first (`perf` on `glibc-thread`,
/// docs/results/secure/, "Session 31").
///
/// [`Config::line_pages`]: crate::Config::line_pages
///
/// [`Heap::init_page`]: crate::Heap
#[repr(C)]
pub(crate) struct Page {
    /// Blocks ready for the owner's fast path. Written by the owner only
    /// ([`Page::set_free`]; its allocation fast path pops with
    /// [`Page::publish_free`], after it counted the block in `used`); an
    /// atomic so that the background purger may read it while the owner
    /// runs its fast paths ([`Page::free_acquire`], `idle_release.rs`).
    pub free: UntrackedAtomicPtr<Block>,
    /// Blocks the owner freed since the last collect. Written by the owner
    /// only ([`Page::local_free_of`], [`Page::set_local_free`], and
    /// [`Page::push_local`], which publishes the block with Release); an
    /// atomic so that the background purger may walk the list while the
    /// owner frees on its fast path (`Page::local_free_acquire`,
    /// `idle_release.rs`).
    pub local_free: AtomicPtr<Block>,
    /// Free-list encoding key (a copy of the segment's).
    pub key: usize,
    /// Id of the owning heap (0: none), with [`OWNER_SLOW`] while the
    /// page is in the heap's full queue or unused. Written by the owner
    /// only; read by any thread that frees a block of the page (a word that
    /// is not its own heap's id means a remote free).
    pub owner: AtomicUsize,
    /// Blocks handed out and not known freed (includes pending remote frees).
    /// Written by the owner only, with plain (relaxed) loads and stores
    /// ([`Page::used_of`], [`Page::set_used`]); an atomic so that the
    /// background purger may read it while the owner runs its fast paths
    /// (see [`Page::used_acquire`] and `idle_release.rs`).
    pub used: AtomicU32,
    /// Distance, in bytes, back to the page's first descriptor (at most
    /// `MAX_SLICES - 1` descriptors: it fits 16 bits).
    pub slice_offset: u16,
    /// Size class, or one of the markers.
    pub class: PageClass,
    /// State bits.
    pub flags: PageFlags,
    /// Blocks the owner's allocation paths handed out since the page's
    /// counts were last folded into the heap's sink (`Heap::flush_page`);
    /// with `used` and `stat_used` it gives the frees too. Owner only.
    #[cfg(all(
        feature = "stats",
        not(all(feature = "secure", not(feature = "checks")))
    ))]
    pub stat_allocs: usize,
    /// With `secure`: `reserved * block_size` (saturated), the bytes from
    /// `start` where the page's blocks lie, so that a block's range check
    /// is one compare (`secure.rs`).
    #[cfg(all(feature = "secure", not(feature = "checks")))]
    pub span_bytes: u32,
    /// With `secure` (here, on the free's cache line; see "Layout"): as
    /// below.
    #[cfg(all(feature = "secure", not(feature = "checks")))]
    pub retired_at: u32,
    /// With `secure` (here, on the free's cache line; see "Layout"): the
    /// first block.
    #[cfg(all(feature = "secure", not(feature = "checks")))]
    pub start: *mut u8,
    /// With `secure`: `block_size`'s divisibility constant, which tells a
    /// block's start with a multiplication instead of a division
    /// (`secure::divisor_magic`).
    #[cfg(all(feature = "secure", not(feature = "checks")))]
    pub div_magic: u64,
    /// With `secure` (behind the free's cache line; see "Layout"): as
    /// above.
    #[cfg(all(feature = "stats", feature = "secure", not(feature = "checks")))]
    pub stat_allocs: usize,
    /// `used` when the page's counts were last folded in. Owner only.
    #[cfg(feature = "stats")]
    pub stat_used: u32,
    /// Blocks carved so far (lazy extension).
    pub capacity: u32,
    /// Blocks the page can hold.
    pub reserved: u32,
    /// Slices in the page (first descriptor only).
    pub slice_count: u16,
    /// The block inside the parked run that is not parked (a list's head
    /// the run was parked around), or [`NO_HOLE`]; see [`Page::parked_of`].
    pub parked_hole: u16,
    /// Low 32 bits of `Heap::now()` when a kept page became empty, or, in
    /// the descriptor of a free slice, when that slice was freed.
    #[cfg(not(all(feature = "secure", not(feature = "checks"))))]
    pub retired_at: u32,
    /// The parked run (see [`Page::parked_of`]): its first block's index in
    /// the low 16 bits, its length in the high 16. Only where pages park
    /// ([`PAGES_PARK`]): there, with `stats`, it fills the hole before
    /// `block_size`.
    #[cfg(all(
        target_pointer_width = "64",
        not(any(feature = "checks", feature = "secure"))
    ))]
    pub parked: u32,
    /// Bytes per block (for large and huge pages: the usable span).
    pub block_size: usize,
    /// First block.
    #[cfg(not(all(feature = "secure", not(feature = "checks"))))]
    pub start: *mut u8,
    /// Blocks other threads freed: a Treiber stack of (encoded) links.
    pub thread_free: AtomicUsize,
    /// Links in the heap's queue.
    pub next: *mut Page,
    pub prev: *mut Page,
}

impl Page {
    /// A descriptor for free slices.
    pub fn new() -> Page {
        Page {
            free: UntrackedAtomicPtr::new(ptr::null_mut()),
            #[cfg(feature = "stats")]
            stat_allocs: 0,
            used: AtomicU32::new(0),
            #[cfg(feature = "stats")]
            stat_used: 0,
            capacity: 0,
            reserved: 0,
            class: PageClass::UNUSED,
            flags: PageFlags::EMPTY,
            slice_count: 0,
            slice_offset: 0,
            parked_hole: NO_HOLE,
            retired_at: 0,
            #[cfg(all(
                target_pointer_width = "64",
                not(any(feature = "checks", feature = "secure"))
            ))]
            parked: 0,
            #[cfg(all(feature = "secure", not(feature = "checks")))]
            span_bytes: 0,
            block_size: 0,
            start: ptr::null_mut(),
            local_free: AtomicPtr::new(ptr::null_mut()),
            thread_free: AtomicUsize::new(0),
            owner: AtomicUsize::new(OWNER_SLOW),
            key: 0,
            #[cfg(all(feature = "secure", not(feature = "checks")))]
            div_magic: 0,
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
        }
    }

    /// `used`, read by the owner (or by a thread that excludes the owner's
    /// slow paths and knows the page is out of its fast paths' reach).
    ///
    /// # Safety
    /// `this` points to a live page descriptor.
    #[inline(always)]
    pub unsafe fn used_of(this: *const Page) -> u32 {
        // SAFETY: guaranteed by the caller; `used` is an atomic.
        unsafe { (*this).used.load(Ordering::Relaxed) }
    }

    /// Sets `used` (owner only).
    ///
    /// # Safety
    /// `this` points to a live page descriptor owned by the caller's heap.
    #[inline(always)]
    pub unsafe fn set_used(this: *const Page, used: u32) {
        // SAFETY: guaranteed by the caller; `used` is an atomic.
        unsafe { (*this).used.store(used, Ordering::Relaxed) }
    }

    /// Sets `used` after an owner's free pushed the block on `local_free`,
    /// with Release: a purger that reads this value with
    /// [`Page::used_acquire`] sees the push (`idle_release.rs`). A plain
    /// store on x86-64.
    ///
    /// # Safety
    /// As for [`Page::set_used`].
    #[inline(always)]
    pub unsafe fn publish_used(this: *const Page, used: u32) {
        // SAFETY: guaranteed by the caller; `used` is an atomic.
        unsafe { (*this).used.store(used, Ordering::Release) }
    }

    /// `used` as the background purger reads it, from another thread, while
    /// the owner may be freeing blocks of the page on its fast path: pairs
    /// with [`Page::publish_used`].
    ///
    /// # Safety
    /// `this` points to a live page descriptor.
    #[inline(always)]
    pub unsafe fn used_acquire(this: *const Page) -> u32 {
        // SAFETY: guaranteed by the caller; `used` is an atomic.
        unsafe { (*this).used.load(Ordering::Acquire) }
    }

    /// The owner word ([`OWNER_SLOW`] included) through a raw pointer, for
    /// any thread: only the atomic field is referenced, never the page.
    ///
    /// # Safety
    /// `this` points to a page descriptor in a live segment header.
    #[inline(always)]
    pub unsafe fn owner_word_of(this: *const Page) -> usize {
        // SAFETY: guaranteed by the caller; `owner` is an atomic.
        unsafe { (*this).owner.load(Ordering::Relaxed) }
    }

    /// The owning heap's id (0: none), without [`OWNER_SLOW`], through a raw
    /// pointer (see [`Page::owner_word_of`]).
    ///
    /// # Safety
    /// As for [`Page::owner_word_of`].
    #[inline(always)]
    pub unsafe fn owner_id_of(this: *const Page) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { Page::owner_word_of(this) & !OWNER_SLOW }
    }

    /// Files the page as full: `PageFlags::IN_FULL` and [`OWNER_SLOW`], with
    /// `PageFlags::IN_QUEUE` and `PageFlags::KEEP` cleared (owner only; the caller moves
    /// it to the `full` queue).
    ///
    /// # Safety
    /// `this` is a live page owned by the caller.
    #[inline]
    pub unsafe fn enter_full(this: *mut Page) {
        // SAFETY: guaranteed by the caller (see "Access" on [`Page`]).
        unsafe {
            (*this)
                .flags
                .remove(PageFlags::IN_QUEUE.with(PageFlags::KEEP));
            (*this).flags.insert(PageFlags::IN_FULL);
            let o = (*this).owner.load(Ordering::Relaxed);
            (*this).owner.store(o | OWNER_SLOW, Ordering::Relaxed);
        }
    }

    /// Takes the page out of the full state (owner only; the caller moves it
    /// out of the `full` queue and sets `PageFlags::IN_QUEUE` if it queues it).
    ///
    /// # Safety
    /// `this` is a live page owned by the caller.
    #[inline]
    pub unsafe fn leave_full(this: *mut Page) {
        // SAFETY: guaranteed by the caller (see "Access" on [`Page`]).
        unsafe {
            (*this).flags.remove(PageFlags::IN_FULL);
            let o = (*this).owner.load(Ordering::Relaxed);
            (*this).owner.store(o & !OWNER_SLOW, Ordering::Relaxed);
        }
    }

    /// Decodes a link made by [`encode_link`] for this page.
    #[inline(always)]
    pub fn decode(&self, raw: usize) -> *mut Block {
        decode_link(self.key, raw)
    }

    /// True when `p` is the start of one of this page's carved blocks
    /// (owner only: `capacity` grows as the owner carves).
    #[cfg_attr(not(feature = "checks"), allow(dead_code))]
    #[inline]
    pub fn is_block_start(&self, p: usize) -> bool {
        block_start_within(self.start as usize, self.block_size, self.capacity, p)
    }

    /// True when `p` is the start of one of the blocks the page can hold,
    /// carved or not, through a raw pointer: for threads that do not own the
    /// page, which read only the fields fixed while it is in use (not
    /// `capacity`, which its owner writes).
    ///
    /// # Safety
    /// `this` points to a page descriptor in a live segment header.
    #[cfg_attr(not(feature = "checks"), allow(dead_code))]
    #[inline]
    pub unsafe fn is_slot_start_of(this: *const Page, p: usize) -> bool {
        // SAFETY: guaranteed by the caller; field reads through the raw
        // pointer form no reference to the whole page.
        let (start, block_size, reserved) =
            unsafe { ((*this).start as usize, (*this).block_size, (*this).reserved) };
        block_start_within(start, block_size, reserved, p)
    }

    /// Pushes `block` onto `local_free` (owner only).
    ///
    /// # Safety
    /// `this` is a live page owned by the caller; `block` is a block of it
    /// that is no longer in use.
    #[inline(always)]
    pub unsafe fn push_local(this: *mut Page, block: *mut Block) {
        // SAFETY: the caller guarantees the page is ours and the block is
        // ours and unused, so its first word is ours to write.
        unsafe {
            (*block).next = encode_link((*this).key, Page::local_free_of(this));
            // Release: a purger that reads the list with
            // `local_free_acquire` sees the link written above (and every
            // earlier push's). A plain store on x86-64.
            (*this).local_free.store(block, Ordering::Release);
        }
    }

    /// `free`'s first block (the owner, or a thread that excludes its slow
    /// paths and knows its fast paths cannot reach the page).
    ///
    /// # Safety
    /// `this` points to a live page descriptor.
    #[inline(always)]
    pub unsafe fn free_of(this: *const Page) -> *mut Block {
        // SAFETY: guaranteed by the caller; an atomic.
        unsafe { (*this).free.load(Ordering::Relaxed) }
    }

    /// The parked run: `(index of its first block, length, hole)`, length 0
    /// when the page has none. Its blocks are carved (below `capacity`) but
    /// on no list and not in `used`, but for the hole (a block index inside
    /// the run, or [`NO_HOLE`]): a list's head that the run was parked
    /// around, which stays on its list. The background purger took them off
    /// the lists and gave their memory pages back
    /// (`idle_discard::park_run`), and [`Page::extend`] carves them again
    /// before any block past `capacity`. Read and written by the owner's
    /// slow paths and the purger, which excludes them; never by a fast
    /// path.
    ///
    /// # Safety
    /// `this` points to a live page descriptor; the caller holds the page's
    /// slow paths.
    #[inline]
    pub unsafe fn parked_of(this: *const Page) -> (usize, usize, usize) {
        #[cfg(all(
            target_pointer_width = "64",
            not(any(feature = "checks", feature = "secure"))
        ))]
        // SAFETY: guaranteed by the caller.
        let (v, hole) = unsafe { ((*this).parked as usize, (*this).parked_hole as usize) };
        #[cfg(not(all(
            target_pointer_width = "64",
            not(any(feature = "checks", feature = "secure"))
        )))]
        let (v, hole) = {
            let _ = this;
            (0, NO_HOLE as usize)
        };
        (v & 0xffff, v >> 16, hole)
    }

    /// The blocks the parked run holds: its length less the hole.
    ///
    /// # Safety
    /// As for [`Page::parked_of`].
    #[inline]
    pub unsafe fn parked_count(this: *const Page) -> usize {
        // SAFETY: forwarded from the caller.
        let (from, len, hole) = unsafe { Page::parked_of(this) };
        len - (from..from + len).contains(&hole) as usize
    }

    /// Sets the parked run (see [`Page::parked_of`]).
    ///
    /// # Safety
    /// As for [`Page::parked_of`]; `from + len <= capacity < u16::MAX`,
    /// `hole` is [`NO_HOLE`] or below `u16::MAX`, and `len` is 0 where
    /// pages do not park.
    #[inline]
    pub unsafe fn set_parked(this: *mut Page, from: usize, len: usize, hole: usize) {
        debug_assert!(from + len < 0xffff && hole <= 0xffff && (PAGES_PARK || len == 0));
        #[cfg(all(
            target_pointer_width = "64",
            not(any(feature = "checks", feature = "secure"))
        ))]
        // SAFETY: guaranteed by the caller.
        unsafe {
            (*this).parked = (from | len << 16) as u32;
        }
        // SAFETY: as above.
        unsafe { (*this).parked_hole = hole as u16 };
    }

    /// Sets `free` (owner only: its slow paths).
    ///
    /// # Safety
    /// `this` points to a live page descriptor owned by the caller's heap.
    #[inline(always)]
    pub unsafe fn set_free(this: *const Page, list: *mut Block) {
        // SAFETY: guaranteed by the caller; an atomic.
        unsafe { (*this).free.store(list, Ordering::Relaxed) }
    }

    /// Sets `free` as the owner's allocation fast path does after a pop,
    /// with Release, as its last write to the page: a purger that reads
    /// `free` with [`Page::free_acquire`] and finds the list empty sees the
    /// pop's count in `used` too. A plain store on x86-64.
    ///
    /// # Safety
    /// As for [`Page::set_free`].
    #[inline(always)]
    pub unsafe fn publish_free(this: *const Page, list: *mut Block) {
        // SAFETY: guaranteed by the caller; an atomic.
        unsafe { (*this).free.store(list, Ordering::Release) }
    }

    /// `free` as the background purger reads it while the owner may run
    /// its fast paths: pairs with [`Page::publish_free`]. An empty list
    /// stays empty until the owner's next slow path (a pop needs a block).
    ///
    /// # Safety
    /// `this` points to a live page descriptor.
    #[inline]
    pub unsafe fn free_acquire(this: *const Page) -> *mut Block {
        // SAFETY: guaranteed by the caller; an atomic.
        unsafe { (*this).free.load(Ordering::Acquire) }
    }

    /// `free`'s first block, through a shared reference (the checks and
    /// the validation, on the owner's thread).
    #[inline]
    pub fn free_list(&self) -> *mut Block {
        self.free.load(Ordering::Relaxed)
    }

    /// `local_free`'s first block (owner only, or a thread that excludes
    /// the owner's slow paths and fast frees).
    ///
    /// # Safety
    /// `this` points to a live page descriptor.
    #[inline(always)]
    pub unsafe fn local_free_of(this: *const Page) -> *mut Block {
        // SAFETY: guaranteed by the caller; an atomic.
        unsafe { (*this).local_free.load(Ordering::Relaxed) }
    }

    /// `local_free`'s first block, through a shared reference (the checks
    /// and the validation, which run on the owner's thread).
    #[inline]
    pub fn local_list(&self) -> *mut Block {
        self.local_free.load(Ordering::Relaxed)
    }

    /// Sets `local_free` (owner only: the slow paths, which take or clear
    /// the list).
    ///
    /// # Safety
    /// `this` points to a live page descriptor owned by the caller's heap.
    #[inline(always)]
    pub unsafe fn set_local_free(this: *const Page, list: *mut Block) {
        // SAFETY: guaranteed by the caller; an atomic.
        unsafe { (*this).local_free.store(list, Ordering::Relaxed) }
    }

    /// `local_free`'s first block as the background purger reads it while
    /// the owner may push onto the list on its fast path: pairs with the
    /// Release of [`Page::push_local`], so the links from it on are
    /// visible, and stay put until the owner's next slow path.
    ///
    /// # Safety
    /// `this` points to a live page descriptor.
    #[inline]
    pub unsafe fn local_free_acquire(this: *const Page) -> *mut Block {
        // SAFETY: guaranteed by the caller; an atomic.
        unsafe { (*this).local_free.load(Ordering::Acquire) }
    }

    /// Pushes `block` onto `thread_free` (any thread): one CAS when uncontended.
    ///
    /// # Safety
    /// `block` is a block of this page that is no longer in use.
    ///
    /// It takes a raw pointer, not `&self`: the caller does not own the page,
    /// whose owner may be writing its other fields meanwhile, so no reference
    /// to the whole page may exist on this side. It reads `key` (fixed while
    /// the page is in use) and touches `thread_free` only.
    #[cfg(loom)]
    #[inline]
    pub unsafe fn push_remote(this: *const Page, block: *mut Block) {
        // SAFETY: forwarded from the caller; a chain of one block.
        unsafe { Page::push_remote_chain(this, block, block, 1) }
    }

    /// Pushes a chain of `count` blocks onto `thread_free` (any thread) with
    /// one CAS when uncontended: `head` first, linked (encoded with this
    /// page's key) down to `tail`, whose link this sets. On a page that
    /// [counts its remote frees](Page::counts_remote), the same CAS adds
    /// `count` to the number the word carries. See `remote_buffer.rs`.
    ///
    /// # Safety
    /// The chain's blocks are `count` blocks of this page that are no longer
    /// in use, linked from `head` to `tail` (the same block for a chain of
    /// one), and given up by the caller. Raw pointer, as for
    /// [`Page::push_remote`].
    #[inline]
    pub unsafe fn push_remote_chain(
        this: *const Page,
        head: *mut Block,
        tail: *mut Block,
        count: u32,
    ) {
        // SAFETY: the caller guarantees a live page; `key`, `start` and
        // `reserved` are not written while it has a block in use, and
        // `thread_free` is an atomic, so a reference to that field alone is
        // shared with the owner soundly.
        let (key, thread_free, counted) =
            unsafe { ((*this).key, &(*this).thread_free, Page::counts_remote(this)) };
        let mut old = thread_free.load(Ordering::Relaxed);
        loop {
            let (old_head, old_count) = remote_word_parts(old, counted);
            // SAFETY: the chain is ours to write until the CAS publishes it.
            unsafe { (*tail).next = encode_link(key, old_head) };
            let new = remote_word(head, old_count + count, counted);
            // Release: the owner's Acquire swap in `take_remote` must see
            // every link of the chain (written before this point) and the
            // tail's link written above.
            match thread_free.compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => old = now,
            }
        }
    }

    /// Takes the whole `thread_free` list (owner only): its first block and
    /// the number of blocks on it where that is known without walking it: on
    /// a page that [counts its remote frees](Page::counts_remote), and when
    /// the list is empty (0); else `None`.
    #[inline]
    pub fn take_remote(&self) -> (*mut Block, Option<u32>) {
        if self.thread_free.load(Ordering::Relaxed) == 0 {
            return (ptr::null_mut(), Some(0));
        }
        let word = self.thread_free.swap(0, Ordering::Acquire);
        // SAFETY: `self` is a live page.
        let counted = unsafe { Page::counts_remote(self) };
        let (head, count) = remote_word_parts(word, counted);
        (head, counted.then_some(count))
    }

    /// True when the page's `thread_free` word carries, beside the list's
    /// first block, the number of blocks on the list ([`REMOTE_COUNT_SHIFT`]
    /// and up), so that the owner can take the list without walking it.
    /// Decided by fixed fields alone, so every thread agrees: 64-bit
    /// targets, no `checks` (which validates each remote block as it
    /// collects it, walking the list anyway), blocks below 2^47 (user-space
    /// addresses on x86-64 and AArch64; not a higher-half kernel heap), at
    /// most 65535 blocks.
    ///
    /// # Safety
    /// `this` is a live page descriptor.
    #[inline(always)]
    pub unsafe fn counts_remote(this: *const Page) -> bool {
        if cfg!(feature = "checks") || usize::BITS != 64 {
            return false;
        }
        // SAFETY: guaranteed by the caller; fixed fields.
        let (start, reserved) = unsafe { ((*this).start as u64, (*this).reserved) };
        start >> 47 == 0 && reserved <= 0xffff
    }

    /// The number of blocks on `thread_free`, read with Acquire, on a page
    /// that [counts its remote frees](Page::counts_remote); None on one
    /// that does not.
    ///
    /// # Safety
    /// `this` is a live page descriptor.
    #[inline]
    pub unsafe fn remote_count_acquire(this: *const Page) -> Option<u32> {
        // SAFETY: guaranteed by the caller; `thread_free` is an atomic.
        unsafe {
            if !Page::counts_remote(this) {
                return None;
            }
            let word = (*this).thread_free.load(Ordering::Acquire);
            Some(remote_word_parts(word, true).1)
        }
    }

    /// True when other threads have freed blocks the owner has not collected.
    #[inline]
    pub fn has_remote(&self) -> bool {
        self.thread_free.load(Ordering::Relaxed) != 0
    }

    /// Collects `thread_free` and `local_free` (owner only) so that `free`
    /// is non-empty if either was. Returns the number of remote-freed blocks
    /// collected, which are no longer `used`: the count in the `thread_free`
    /// word where the page keeps one, which includes blocks parked from the
    /// list (see [`Page::parked_of`]). `validate` is called on every
    /// collected remote block.
    ///
    /// Where the page counts its remote frees and `free` is empty, no list
    /// is walked: `local_free` becomes `free` and the remote list waits on
    /// `local_free` (or becomes `free` if `local_free` was empty). Otherwise
    /// every list ends on `free`.
    ///
    /// # Safety
    /// `this` is in use and owned by the caller.
    pub unsafe fn merge_frees(
        this: *mut Page,
        mut validate: impl FnMut(*mut Page, *mut Block),
    ) -> u32 {
        // SAFETY: guaranteed by the caller (see "Access" on [`Page`]); blocks
        // on `thread_free` belong to this page and were published with
        // Release, which `take_remote` acquired, so they are ours now.
        unsafe {
            let key = (*this).key;
            let (mut remote, count) = (*this).take_remote();
            if let (Some(n), true) = (count, Page::free_of(this).is_null()) {
                // The list's length is known: take it without touching its
                // blocks (another core wrote each of them: walking the list
                // would take a cache miss per block, one after another). Nor
                // is `local_free` walked for its tail (the owner's frees,
                // scattered over the page: a miss per block too): it becomes
                // `free`, and the remote blocks wait on `local_free` until
                // `free` runs dry again. Either way `free` is empty only if
                // both lists were.
                let local = Page::local_free_of(this);
                if !local.is_null() {
                    Page::set_free(this, local);
                    Page::set_local_free(this, remote);
                    (*this).flags.remove(PageFlags::FREE_IS_ZERO);
                } else if !remote.is_null() {
                    Page::set_free(this, remote);
                    (*this).flags.remove(PageFlags::FREE_IS_ZERO);
                }
                Page::set_used(this, Page::used_of(this) - n);
                return n;
            }
            let mut collected = 0u32;
            while !remote.is_null() {
                validate(this, remote);
                let next = decode_link(key, (*remote).next);
                Page::push_local(this, remote);
                remote = next;
                collected += 1;
            }
            // The count may exceed the list: blocks the background purger
            // parked from behind the list's head stay counted until now
            // (`idle_discard::park_run`).
            debug_assert!(count.map_or(true, |n| n >= collected));
            let collected = count.unwrap_or(collected);
            Page::set_used(this, Page::used_of(this) - collected);
            let local = Page::local_free_of(this);
            if !local.is_null() {
                if Page::free_of(this).is_null() {
                    Page::set_free(this, local);
                } else {
                    // Append `free` behind `local_free` (rare: collect with a
                    // non-empty free list only happens on `collect`). Every
                    // block on `local_free` was linked by `push_local`.
                    (*Page::tail_of(this, local)).next = encode_link(key, Page::free_of(this));
                    Page::set_free(this, local);
                }
                Page::set_local_free(this, ptr::null_mut());
                (*this).flags.remove(PageFlags::FREE_IS_ZERO);
            }
            collected
        }
    }

    /// The last block of the list of `this`'s blocks that starts at
    /// `first`. With `checks`, a link that leads out of the page (a write
    /// after free overwrote it) is reported.
    ///
    /// # Safety
    /// `first` starts a null-terminated list of free blocks of `this`, a page
    /// the caller owns.
    #[inline]
    unsafe fn tail_of(this: *mut Page, first: *mut Block) -> *mut Block {
        // SAFETY: guaranteed by the caller.
        let key = unsafe { (*this).key };
        let mut tail = first;
        loop {
            // SAFETY: guaranteed by the caller.
            let next = decode_link(key, unsafe { (*tail).next });
            if next.is_null() {
                return tail;
            }
            // SAFETY: as above; a shared look at the page's fixed fields.
            #[cfg(feature = "checks")]
            if unsafe { !(*this).is_block_start(next as usize) } {
                crate::check::fault(
                    crate::check::FaultKind::UseAfterFree,
                    tail as usize,
                    "a free block's link was overwritten: written after it was freed (or past the end of the block before it)",
                    next as usize,
                );
            }
            tail = next;
        }
    }

    /// Carves up to [`EXTEND_BYTES`] of not-yet-used blocks onto `free`:
    /// from the parked run first (see [`Page::parked_of`]), then past
    /// `capacity`. Returns false when the page is fully carved.
    ///
    /// # Safety
    /// The page is in use, owned by the caller, committed, and `free` is empty.
    pub unsafe fn extend(this: *mut Page, shuffle_window: usize) -> bool {
        // SAFETY: guaranteed by the caller (see "Access" on [`Page`]); the
        // carved blocks lie in the committed, uncarved part of the page, or
        // in the parked run, whose blocks are on no list.
        unsafe {
            debug_assert!(Page::free_of(this).is_null());
            if PAGES_PARK && Self::unpark(this, shuffle_window) {
                return true;
            }
            let (block_size, capacity) = ((*this).block_size, (*this).capacity);
            let left = ((*this).reserved - capacity) as usize;
            if left == 0 {
                return false;
            }
            let n = (EXTEND_BYTES / block_size).clamp(1, left);
            let first = (*this).start.wrapping_add(capacity as usize * block_size) as *mut Block;
            Page::set_free(this, Self::link_batch(this, first, n, shuffle_window));
            (*this).capacity = capacity + n as u32;
            // With `checks`, carved blocks hold their free fill, not zeros.
            if (*this).flags.has(PageFlags::FRESH) && !cfg!(feature = "checks") {
                (*this).flags.insert(PageFlags::FREE_IS_ZERO);
            } else {
                (*this).flags.remove(PageFlags::FREE_IS_ZERO);
            }
            true
        }
    }

    /// [`Page::extend`] from the parked run: up to [`EXTEND_BYTES`] of its
    /// first blocks onto `free`; false when the page has no parked run.
    /// Their memory reads as zero or as old contents: not `FREE_IS_ZERO`.
    ///
    /// # Safety
    /// As for [`Page::extend`].
    unsafe fn unpark(this: *mut Page, shuffle_window: usize) -> bool {
        // SAFETY: guaranteed by the caller; the run's blocks are carved,
        // committed and on no list (the hole is skipped).
        unsafe {
            let (mut from, mut len, hole) = Page::parked_of(this);
            if len != 0 && from == hole {
                (from, len) = (from + 1, len - 1);
            }
            if len == 0 {
                Page::set_parked(this, 0, 0, NO_HOLE as usize);
                return false;
            }
            let upto = if (from..from + len).contains(&hole) {
                hole
            } else {
                from + len
            };
            let block_size = (*this).block_size;
            let n = (EXTEND_BYTES / block_size).clamp(1, upto - from);
            let first = (*this).start.wrapping_add(from * block_size) as *mut Block;
            Page::set_free(this, Self::link_batch(this, first, n, shuffle_window));
            Page::set_parked(this, from + n, len - n, hole);
            (*this).flags.remove(PageFlags::FREE_IS_ZERO);
            true
        }
    }

    /// Links the `n` blocks just carved from `first` into a list and
    /// returns its head: in address order, or with `secure` in a random
    /// order within windows of `shuffle_window` bytes, the windows in
    /// address order (see [`window_blocks`]; the page's first block, if in
    /// the batch, last); with `checks` each block gets its carved mark,
    /// with `secure` the freed tag.
    ///
    /// # Safety
    /// As for [`Page::extend`]; the `n` blocks from `first` are the
    /// committed, uncarved ones it carves.
    #[inline(always)]
    unsafe fn link_batch(
        this: *mut Page,
        first: *mut Block,
        n: usize,
        shuffle_window: usize,
    ) -> *mut Block {
        #[cfg(not(all(feature = "secure", not(feature = "checks"))))]
        let _ = shuffle_window;
        // SAFETY: guaranteed by the caller.
        unsafe {
            let (key, block_size) = ((*this).key, (*this).block_size);
            #[cfg(all(feature = "secure", not(feature = "checks")))]
            if n > 1 && n <= SHUFFLE_MAX {
                // The page's first block goes last in its batch: its address
                // is the start of the slices the page took, which a freed
                // large block (or another page's first block) had, so a
                // double free of that stale pointer finds it free, with
                // its tag, for as long as possible.
                let last = if first == (*this).start as *mut Block {
                    first
                } else {
                    ptr::null_mut()
                };
                let (from, m) = if last.is_null() {
                    (first, n)
                } else {
                    (first.wrapping_byte_add(block_size), n - 1)
                };
                // Link the blocks window by window, each window's in a
                // shuffled order, each block tagged freed.
                let per = window_blocks(shuffle_window, block_size);
                let mut buf = [core::mem::MaybeUninit::<u16>::uninit(); SHUFFLE_MAX];
                let (mut head, mut at) = (ptr::null_mut::<Block>(), ptr::null_mut::<Block>());
                let mut done = 0;
                while done < m {
                    let k = per.min(m - done);
                    let from = from.wrapping_byte_add(done * block_size);
                    for &off in shuffled(&mut buf, k, block_size, key ^ from as usize) {
                        let next = from.wrapping_byte_add(off as usize);
                        if at.is_null() {
                            head = next;
                        } else {
                            (*at).next = encode_link(key, next);
                            tag_carved(key, at as *mut u8);
                        }
                        at = next;
                    }
                    done += k;
                }
                (*at).next = encode_link(key, last);
                tag_carved(key, at as *mut u8);
                if !last.is_null() {
                    (*last).next = encode_link(key, ptr::null_mut());
                    tag_carved(key, last as *mut u8);
                }
                return head;
            }
            let mut b = first;
            for _ in 1..n {
                let next = (b as *mut u8).wrapping_add(block_size) as *mut Block;
                (*b).next = encode_link(key, next);
                #[cfg(feature = "checks")]
                mark_carved(&*this, b as *mut u8);
                #[cfg(all(feature = "secure", not(feature = "checks")))]
                tag_carved(key, b as *mut u8);
                b = next;
            }
            (*b).next = encode_link(key, ptr::null_mut());
            #[cfg(feature = "checks")]
            mark_carved(&*this, b as *mut u8);
            #[cfg(all(feature = "secure", not(feature = "checks")))]
            tag_carved(key, b as *mut u8);
            first
        }
    }
}

/// Encodes a free-list link for a page with `key`.
/// With `checks` the link is mixed with the key so that a scribbled list is
/// detected when decoded.
#[inline(always)]
pub(crate) fn encode_link(key: usize, next: *mut Block) -> usize {
    if cfg!(any(feature = "checks", feature = "secure")) {
        (next as usize ^ key).rotate_left(17)
    } else {
        next as usize
    }
}

/// Where the block count starts in a `thread_free` word of a page that
/// [counts its remote frees](Page::counts_remote); the list's first block is
/// in the bits below.
pub(crate) const REMOTE_COUNT_SHIFT: u32 = 48;

/// A `thread_free` word: the list starting at `head`, holding `count`
/// blocks, with the count in the word if `counted`.
#[inline(always)]
pub(crate) fn remote_word(head: *mut Block, count: u32, counted: bool) -> usize {
    if counted {
        debug_assert!((head as u64) >> REMOTE_COUNT_SHIFT == 0 && count <= 0xffff);
        (head as u64 | (count as u64) << REMOTE_COUNT_SHIFT) as usize
    } else {
        head as usize
    }
}

/// The list head and block count of a `thread_free` word (the count is 0
/// when the page does not count).
#[inline(always)]
pub(crate) fn remote_word_parts(word: usize, counted: bool) -> (*mut Block, u32) {
    if counted {
        let w = word as u64;
        let head = w & ((1u64 << REMOTE_COUNT_SHIFT) - 1);
        (
            head as usize as *mut Block,
            (w >> REMOTE_COUNT_SHIFT) as u32,
        )
    } else {
        (word as *mut Block, 0)
    }
}

/// Decodes a link made by [`encode_link`] with the same `key`.
#[inline(always)]
pub(crate) fn decode_link(key: usize, raw: usize) -> *mut Block {
    if cfg!(any(feature = "checks", feature = "secure")) {
        (raw.rotate_right(17) ^ key) as *mut Block
    } else {
        raw as *mut Block
    }
}

/// True when `p` is the start of one of the first `count` blocks of
/// `block_size` bytes from `start`.
#[inline]
pub(crate) fn block_start_within(start: usize, block_size: usize, count: u32, p: usize) -> bool {
    if p < start || block_size == 0 {
        return false;
    }
    let off = p - start;
    off % block_size == 0 && off / block_size < count as usize
}

/// With `checks` or `secure`, a freed block carries this in its second word:
/// the page's secret key itself. The free path compares the word with the
/// key it loads anyway and writes the key back, and the allocation path
/// compares the popped block's word with the key it decodes the link with:
/// no instruction to derive the tag. A tag derived from the key (its
/// complement, say) would be no more secret: whoever reads a freed block's
/// tag learns the key either way. The key is never 0 (`Heap::new_key`), so
/// a zeroed word is never a freed tag; it is unlike any encoded link (the
/// key mixed with an address and rotated).
#[cfg(any(feature = "checks", feature = "secure"))]
#[inline]
pub(crate) fn freed_tag(key: usize) -> usize {
    debug_assert!(key != 0);
    key
}

/// Tags a block `Page::extend` just carved (never handed out) as free, so
/// that a free of it (an interior or neighbouring pointer that happens to
/// fall on a block's start) is caught as one of a free block.
///
/// # Safety
/// `block` is a carved, unused block of a page with `key`, at least 16
/// bytes.
#[cfg(all(feature = "secure", not(feature = "checks")))]
#[inline(always)]
unsafe fn tag_carved(key: usize, block: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { (block as *mut usize).add(1).write(freed_tag(key)) };
}

/// With `checks`, a block in a heap's quarantine (see `quarantine.rs`)
/// carries this in its second word.
#[cfg(feature = "checks")]
#[inline]
pub(crate) fn quarantine_tag(key: usize) -> usize {
    freed_tag(key).rotate_left(7) ^ 0x0a11_0c47_e0b5_ea1d_u64 as usize
}

/// With `checks`, a carved block that was never handed out carries this in
/// its second word.
#[cfg(feature = "checks")]
#[inline]
pub(crate) fn carved_tag(key: usize) -> usize {
    freed_tag(key).rotate_left(19) ^ 0x6361_7276_6564_0001_u64 as usize
}

/// What a free block holds after its link and its tag (see
/// `block_check.rs`).
#[cfg(feature = "checks")]
pub(crate) const FREE_BYTE: u8 = 0xdf;

/// Whether freed and carved blocks get the fill (and have it verified): not
/// under loom, whose models keep a loom-tracked payload in a block across
/// its free and reuse, to check the order of its users (`loom-tests/`).
#[cfg(feature = "checks")]
pub(crate) const FILL_BLOCKS: bool = !cfg!(loom);

/// The bytes of a carved block that hold the fill: all after its link and
/// tag (none under loom, see [`FILL_BLOCKS`]).
#[cfg(feature = "checks")]
#[inline]
pub(crate) fn carved_fill(block_size: usize) -> usize {
    if FILL_BLOCKS {
        block_size.saturating_sub(16)
    } else {
        0
    }
}

/// Marks a block that `Page::extend` just carved: the carved tag, and the
/// fill in every byte after it (a carved block has no trailer yet).
///
/// # Safety
/// `block` is a carved, unused block of `page` (at least 16 bytes).
#[cfg(feature = "checks")]
pub(crate) unsafe fn mark_carved(page: &Page, block: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        (block as *mut usize).add(1).write(carved_tag(page.key));
        block
            .add(16)
            .write_bytes(FREE_BYTE, carved_fill(page.block_size));
    }
}

/// With `secure`: the most blocks of one carved batch that are linked in a
/// random order (a batch is at most `EXTEND_BYTES` of blocks of at least
/// 16 bytes).
#[cfg(all(feature = "secure", not(feature = "checks")))]
const SHUFFLE_MAX: usize = EXTEND_BYTES / 16;

/// With `secure`: the fewest blocks a shuffle window holds (unless the
/// batch holds fewer).
#[cfg(all(feature = "secure", not(feature = "checks")))]
const SHUFFLE_WINDOW_MIN_BLOCKS: usize = 16;

/// With `secure`: the blocks of `block_size` bytes that one window of a
/// carved batch shuffles among, for a window of `window` bytes
/// ([`Config::shuffle_window`](crate::Config)): at least
/// [`SHUFFLE_WINDOW_MIN_BLOCKS`]. The batch's windows follow each other in
/// address order, and the blocks of each are linked in a random order:
/// consecutive allocations stay in one window at a time, so a program that
/// walks the blocks it got in the order it got them (a producer and a
/// consumer: mimalloc-bench's `xmalloc-test`) still walks memory upward at
/// the scale the hardware prefetcher follows, while no block's address
/// follows from the last one's within the window. A window of a whole
/// batch (`EXTEND_BYTES`) or more shuffles the batch at once.
#[cfg(all(feature = "secure", not(feature = "checks")))]
#[inline(always)]
fn window_blocks(window: usize, block_size: usize) -> usize {
    (window / block_size).max(SHUFFLE_WINDOW_MIN_BLOCKS)
}

/// The byte offsets `0, size, 2 * size, ..., (n - 1) * size` of `n` blocks
/// of `size` bytes (`n <= SHUFFLE_MAX`, the last offset below 2^16: a
/// carved batch spans at most `EXTEND_BYTES`) in a random order drawn from
/// `seed`, written into `buf[..n]` and returned. Fisher-Yates "inside out"
/// (each entry is written before it is read, so `buf` needs no zeroing),
/// with xorshift64 and a multiply-shift in place of a remainder, no branch
/// on the draw, and offsets rather than indices (so the caller's linking
/// needs no multiply): this runs for every block `Page::extend` carves.
#[cfg(all(feature = "secure", not(feature = "checks")))]
#[inline(always)]
fn shuffled(
    buf: &mut [core::mem::MaybeUninit<u16>; SHUFFLE_MAX],
    n: usize,
    size: usize,
    seed: usize,
) -> &[u16] {
    let n = n.min(SHUFFLE_MAX);
    debug_assert!(n == 0 || (n - 1) * size <= u16::MAX as usize);
    let mut x = (seed as u64) | 1;
    let mut off = 0usize;
    // Step `i` of the shuffle with the 32 random bits `r`: entry `i` takes
    // entry `j` (drawn from `0..=i`), which takes block `i`'s offset.
    let mut place = |i: usize, r: u32| {
        let j = ((r as u64 * (i as u64 + 1)) >> 32) as usize;
        // SAFETY: `j <= i < n <= SHUFFLE_MAX`; entry `i` is written before
        // entry `j` is read, so both are initialised (when `j == i` the
        // read sees the offset just written, which stays).
        unsafe {
            buf.get_unchecked_mut(i).write(off as u16);
            let moved = buf.get_unchecked(j).assume_init();
            buf.get_unchecked_mut(i).write(moved);
            buf.get_unchecked_mut(j).write(off as u16);
        }
        off += size;
    };
    // One xorshift64 step for two steps of the shuffle: its low half, then
    // its high half.
    let mut i = 0;
    while i < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        place(i, x as u32);
        if i + 1 < n {
            place(i + 1, (x >> 32) as u32);
        }
        i += 2;
    }
    // SAFETY: every entry below `n` was written above.
    unsafe { core::slice::from_raw_parts(buf.as_ptr() as *const u16, n) }
}

#[cfg(all(test, feature = "secure", not(feature = "checks")))]
mod tests {
    use super::*;

    #[test]
    fn a_shuffled_batch_is_a_permutation_and_seldom_in_order() {
        let mut in_place = 0;
        for n in 1..=SHUFFLE_MAX {
            let size = EXTEND_BYTES / n;
            for seed in [1usize, 0x1234_5678, usize::MAX, n * 7919] {
                let mut buf = [core::mem::MaybeUninit::<u16>::uninit(); SHUFFLE_MAX];
                let offsets = shuffled(&mut buf, n, size, seed);
                let mut seen = [false; SHUFFLE_MAX];
                for &o in offsets {
                    let o = o as usize;
                    assert!(
                        o % size == 0 && o / size < n && !seen[o / size],
                        "n {n}: offset {o} twice, out of range or not a block's"
                    );
                    seen[o / size] = true;
                }
                assert_eq!(offsets.len(), n);
                in_place += offsets
                    .iter()
                    .enumerate()
                    .filter(|&(i, &o)| i * size == o as usize)
                    .count();
            }
        }
        // A random permutation leaves about one entry in place: 4 per size.
        assert!(
            in_place < 4 * SHUFFLE_MAX * 2,
            "{in_place} entries left in place"
        );
    }
}

#[cfg(test)]
mod collect_tests {
    use super::*;

    /// Four 64-byte blocks, all handed out, of a small page over `mem`.
    fn page_over(mem: &mut [u64; 32]) -> Page {
        let mut page = Page::new();
        page.class = PageClass::small(0);
        page.start = mem.as_mut_ptr() as *mut u8;
        page.block_size = 64;
        page.capacity = 4;
        page.reserved = 4;
        page.used = AtomicU32::new(4);
        page.slice_count = 1;
        page
    }

    #[test]
    fn a_collect_takes_both_lists_without_writing_a_block() {
        let mut mem = [0u64; 32];
        let mut page = page_over(&mut mem);
        let p: *mut Page = &mut page;
        let base = page.start as usize;
        let block = |i: usize| (base + 64 * i) as *mut Block;
        // SAFETY: the test owns the page and its blocks; blocks 0 and 1 are
        // freed by the owner, 2 and 3 by "another thread" as one chain.
        unsafe {
            if !Page::counts_remote(p) {
                return; // `checks`: the collect walks (and validates) anyway.
            }
            Page::push_local(p, block(0));
            Page::push_local(p, block(1));
            Page::set_used(p, 2);
            (*block(3)).next = encode_link((*p).key, block(2));
            Page::push_remote_chain(p, block(3), block(2), 2);
            let links = [0, 1, 2, 3].map(|i| (*block(i)).next);
            assert_eq!(Page::merge_frees(p, |_, _| {}), 2);
            // No block was touched: walking either list for its tail costs
            // a cache miss per block (the `server` workload's slow paths).
            assert_eq!(links, [0, 1, 2, 3].map(|i| (*block(i)).next));
            assert_eq!(Page::used_of(p), 0);
            // The owner's frees first; the remote chain waits on
            // `local_free` and is `free` after the next collect.
            assert_eq!(Page::free_of(p), block(1));
            assert_eq!(Page::local_free_of(p), block(3));
            Page::set_free(p, ptr::null_mut());
            assert_eq!(Page::merge_frees(p, |_, _| {}), 0);
            assert_eq!(Page::free_of(p), block(3));
            assert!(Page::local_free_of(p).is_null());
        }
    }
}
