//! Arenas: a heap's coalescing store for medium requests.
//!
//! A size class keeps the blocks of one size: a program with few live
//! blocks of many medium sizes keeps, for each size, as many blocks as it
//! ever had live of it, and the sum of those peaks can be several times the
//! peak of all of them together (`docs/results/issue11/medium-store/`). An
//! arena keeps the blocks of every size in one [`Tlsf`], which merges
//! neighbours as they are freed, so its memory follows the live bytes of
//! all sizes together.
//!
//! * **Which requests.** With [`Config::arena_above`](crate::Config) not 0,
//!   those of more than that many bytes, up to [`ARENA_MAX`], aligned to at
//!   most 16 (`alloc_above_arena_lo`, reached from the allocation path
//!   above the direct table by one compare: neither fast path sees them).
//!   Only with the `arenas` feature (the `masu` crate's `arenas` turns
//!   it on); with
//!   `checks` or `secure` there are no arenas: their checks read a block's
//!   class geometry from its page.
//! * **Layout.** An arena is a segment of its own (a reservation of the
//!   segment size, aligned to it, so that `Segment::of` finds its header),
//!   of which the first [`ARENA_BYTES`] (at most the segment) are
//!   committed: the header, one page descriptor of class
//!   `PageClass::ARENA` (every pointer in the segment maps to it, as in a
//!   huge segment), the `Tlsf` itself, then its region. Every block is a
//!   multiple of 16 bytes and starts 8 bytes past a 16-byte boundary, so
//!   every payload is 16-aligned (`malloc`'s promise).
//! * **Frees.** The descriptor's owner word is the heap's id with
//!   `OWNER_SLOW`, so the free fast path declines; the owner's slow free
//!   gives the block back to the `Tlsf`; another heap's free pushes it onto
//!   the descriptor's `thread_free` through the same remote path as any
//!   page's (no new protocol). The owner takes those back ([`Heap::drain_arena`])
//!   when its arenas cannot serve a request, and in `collect`.
//! * **Counts.** The descriptor's `used` is the number of blocks handed out
//!   and not yet given back to the `Tlsf` (remote frees not yet drained
//!   count as used). The statistics count each block with its usable size
//!   when it is handed out and when it goes back to the `Tlsf`; the page's
//!   pending counts stay zero.
//! * **Memory that goes back.** An arena that empties while the heap has
//!   another is given back to the `Os` at once; `collect(true)` gives back
//!   every empty one. The heap's only arena stays when it empties, for the next
//!   medium request, and joins the purge queue: once it has stayed empty
//!   for the purge delay, the inside of its one free block is discarded
//!   (`Os::discard_contents`; it stays committed, and reads as zero when
//!   touched again). The free memory of an arena that holds live blocks
//!   is not given back until it empties.

use crate::config::ARENA_MAX;
use crate::heap::Heap;
use crate::os::Os;
use crate::page::{decode_link, Page, PageClass, PageFlags, OWNER_SLOW};
use crate::segment::{Reservation, Segment, SegmentKind};
use crate::stats::CounterSink;
use crate::sync::Ordering;
use crate::tlsf::Tlsf;
use core::mem::{align_of, size_of};
use core::ptr;

/// Bytes of an arena segment that are committed and serve blocks (less its
/// header), when the segment is at least that large.
pub(crate) const ARENA_BYTES: usize = 1 << 20;

/// Alignment of every arena payload.
const ARENA_ALIGN: usize = 16;

/// Where an arena's `Tlsf` sits: right after its one page descriptor.
const TLSF_OFFSET: usize =
    (size_of::<Segment>() + size_of::<Page>() + align_of::<Tlsf>() - 1) & !(align_of::<Tlsf>() - 1);

/// The `Tlsf` of arena segment `seg`.
///
/// # Safety
/// `seg` is a live arena segment of the caller's, which no other reference
/// to its `Tlsf` is held across.
#[inline(always)]
unsafe fn tlsf<'a>(seg: *mut Segment) -> &'a mut Tlsf {
    // SAFETY: guaranteed by the caller; the `Tlsf` was written there when
    // the arena was made.
    unsafe { &mut *((seg as *mut u8).add(TLSF_OFFSET) as *mut Tlsf) }
}

/// A block of at least `size` bytes from arena `seg`'s `Tlsf`, or null.
/// Out of line, as are the other calls into the `Tlsf` here: inlined at
/// each call site, the arenas took 13.7 KB of `libmasu.so`'s text, 10.3 KB
/// this way.
///
/// # Safety
/// As for [`tlsf`].
#[inline(never)]
unsafe fn take_block(seg: *mut Segment, size: usize) -> *mut u8 {
    // SAFETY: forwarded from the caller.
    unsafe { tlsf(seg) }.alloc(request_for(size), 8)
}

/// Gives block `p` back to arena `seg`'s `Tlsf`; returns its usable bytes.
///
/// # Safety
/// As for [`tlsf`]; `p` is a live block of the arena.
#[inline(never)]
unsafe fn give_back_block(seg: *mut Segment, p: *mut u8) -> usize {
    // SAFETY: forwarded from the caller.
    unsafe { tlsf(seg).free(p) }
}

/// The size to ask the `Tlsf` for so that a block holds `size` bytes and
/// stays a multiple of 16 bytes (8-byte header included).
#[inline(always)]
fn request_for(size: usize) -> usize {
    ((size + 8 + ARENA_ALIGN - 1) & !(ARENA_ALIGN - 1)) - 8
}

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// True when this heap can have arenas (a constant: false compiles
    /// every arena path away).
    pub(crate) const ARENAS: bool =
        cfg!(feature = "arenas") && !cfg!(any(feature = "checks", feature = "secure"));

    /// True when a request of `size` bytes aligned to `align` goes to the
    /// arenas.
    #[inline(always)]
    pub(crate) fn arena_serves(&self, size: usize, align: usize) -> bool {
        Self::ARENAS && size >= self.arena_lo && size <= ARENA_MAX && align <= ARENA_ALIGN
    }

    /// A block of at least `size` bytes (16-aligned) from the heap's first
    /// arena, zeroed if `zero`; else from another arena or a new one; null
    /// when out of memory.
    #[inline]
    pub(crate) fn alloc_arena(&mut self, size: usize, zero: bool) -> *mut u8 {
        let seg = self.lists.arena_first();
        if !seg.is_null() {
            // SAFETY: listed arenas are live and ours.
            unsafe {
                // Other heaps' frees first (one load when there are none):
                // left on the list, they would keep memory from this
                // allocation and the ones after it.
                if (*Segment::page(seg, 0)).has_remote() {
                    self.drain_arena(seg);
                }
                let p = take_block(seg, size);
                if !p.is_null() {
                    // SAFETY: a block just taken from `seg`'s `Tlsf`.
                    return self.hand_out_arena_block(seg, p, size, zero);
                }
            }
        }
        self.alloc_arena_slow(size, zero)
    }

    /// [`Heap::alloc_arena`] when the first arena has no room: every arena's
    /// remote frees are taken back and each is tried in turn (the one that
    /// serves moves to the front); then a new arena.
    #[cold]
    #[inline(never)]
    fn alloc_arena_slow(&mut self, size: usize, zero: bool) -> *mut u8 {
        self.on_slow_event();
        let mut seg = self.lists.arena_first();
        while !seg.is_null() {
            // SAFETY: listed arenas are live and ours.
            unsafe {
                let next = (*seg).next;
                self.drain_arena(seg);
                if Page::used_of(Segment::page(seg, 0)) == 0 && self.lists.arena_count() > 1 {
                    // Emptied by other heaps' frees: not kept beside another.
                    self.release_arena(seg);
                    seg = next;
                    continue;
                }
                let p = take_block(seg, size);
                if !p.is_null() {
                    self.lists.remove_arena(seg);
                    self.lists.add_arena_first(seg);
                    return self.hand_out_arena_block(seg, p, size, zero);
                }
                seg = next;
            }
        }
        let seg = self.new_arena();
        if seg.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: a new arena of ours, listed first, empty.
        unsafe {
            let p = take_block(seg, size);
            if p.is_null() {
                // Too small for the request (a region's short segment):
                // not kept, or every such request would map one more.
                self.release_arena(seg);
                return p;
            }
            self.hand_out_arena_block(seg, p, size, zero)
        }
    }

    /// Counts block `p` of arena `seg` as handed out, zeroing its first
    /// `size` bytes if `zero`.
    ///
    /// # Safety
    /// `p` is a block just taken from `seg`'s `Tlsf`, of at least `size`
    /// bytes.
    #[inline]
    unsafe fn hand_out_arena_block(
        &mut self,
        seg: *mut Segment,
        p: *mut u8,
        size: usize,
        zero: bool,
    ) -> *mut u8 {
        debug_assert_eq!(p as usize % ARENA_ALIGN, 0);
        // SAFETY: guaranteed by the caller.
        unsafe {
            let page = Segment::page(seg, 0);
            Page::set_used(page, Page::used_of(page) + 1);
            if zero {
                ptr::write_bytes(p, 0, size);
            }
            self.counters.on_alloc(Tlsf::usable_size(p));
        }
        p
    }

    /// A new arena segment, listed first; null when out of memory.
    fn new_arena(&mut self) -> *mut Segment {
        self.ensure_id();
        let size = self.geometry.segment_size;
        let mut base = self.store.reserve(size, size);
        if base.is_null() && self.relieve_memory_pressure() {
            base = self.store.reserve(size, size);
        }
        if base.is_null() {
            return ptr::null_mut();
        }
        let committed = ARENA_BYTES.min(size);
        if !self.commit_or_relieve(base, committed) {
            // SAFETY: giving back the reservation just made.
            unsafe { self.store.release(base, size, size, 0) };
            return ptr::null_mut();
        }
        let seg = base as *mut Segment;
        let res = Reservation {
            base,
            size,
            align: size,
        };
        // SAFETY: the header is committed and ours; the `Tlsf` and its
        // region lie in the committed bytes after it.
        unsafe {
            Segment::write_one_page(
                seg,
                SegmentKind::Arena,
                res,
                (committed, self.page_stride()),
                self.new_key(base as usize),
            );
            let start =
                (base as usize + TLSF_OFFSET + size_of::<Tlsf>()).next_multiple_of(ARENA_ALIGN) + 8;
            let end = base as usize + committed;
            if !Self::init_arena_tlsf(seg, start, end) {
                self.release_segment(seg);
                return ptr::null_mut();
            }
            let page = Segment::page(seg, 0);
            self.init_page(
                seg,
                page,
                0,
                1,
                PageClass::ARENA,
                end - start,
                u16::MAX as u32,
                start as *mut u8,
                false,
            );
            (*page).flags = PageFlags::EMPTY;
            // The free fast path declines: the owner's frees take the slow
            // path, which gives the block to the `Tlsf`.
            (*page).owner.store(self.id | OWNER_SLOW, Ordering::Relaxed);
            self.lists.add_arena_first(seg);
        }
        seg
    }

    /// Writes arena `seg`'s `Tlsf` over `[start, end)`, shortened at its end
    /// until the block area is a multiple of 16 bytes that starts 8 bytes
    /// past a 16-byte boundary; false when the range is too short. Up to 24
    /// bytes: where the range ends on a 4 KiB boundary the `Tlsf` puts its
    /// metadata at the bottom (the top's last granule has no room for it),
    /// which moves the block area's start, and 8 bytes less moves the
    /// metadata back to the top (the 128 KiB arenas of
    /// `Config::FIXED_REGION`, which 8 bytes left without any arena).
    ///
    /// # Safety
    /// `seg` is a new arena segment of ours; the range is committed, past
    /// its `Tlsf`, and used by nothing.
    unsafe fn init_arena_tlsf(seg: *mut Segment, start: usize, end: usize) -> bool {
        for trim in [0, 8, 16, 24] {
            // SAFETY: guaranteed by the caller.
            unsafe {
                let t = (seg as *mut u8).add(TLSF_OFFSET) as *mut Tlsf;
                ptr::write(t, Tlsf::empty());
                if !(*t).init(start, end - start - trim) {
                    return false;
                }
                let (base, limit) = (*t).block_area();
                if base % ARENA_ALIGN == 8 && (limit - base) % ARENA_ALIGN == 0 {
                    return true;
                }
            }
        }
        false
    }

    /// The owner's free of block `ptr` of arena page `page`: back to the
    /// `Tlsf`; an arena that empties goes back to the `Os` when the heap
    /// has another.
    ///
    /// # Safety
    /// `ptr` is a live block of `page`, the descriptor of one of this
    /// heap's arenas; not used afterwards.
    #[inline(never)]
    pub(crate) unsafe fn free_arena_block(&mut self, page: *mut Page, ptr: *mut u8) {
        let seg = Segment::of(page as *const u8, self.segment_base_mask());
        // SAFETY: guaranteed by the caller.
        unsafe {
            let usable = give_back_block(seg, ptr);
            let used = Page::used_of(page) - 1;
            Page::set_used(page, used);
            self.counters.on_free(usable);
            if used == 0 {
                self.arena_emptied(seg);
            }
        }
    }

    /// Arena `seg` holds no block any more: it goes back to the `Os` when
    /// the heap has another; else it stays for the next medium request and
    /// its memory goes back once it has stayed empty for the purge delay.
    ///
    /// # Safety
    /// `seg` is a listed arena of this heap with no block in use.
    unsafe fn arena_emptied(&mut self, seg: *mut Segment) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            if self.lists.arena_count() > 1 {
                self.release_arena(seg);
            } else if !(*seg).in_purge_queue {
                (*seg).dirtied_at = self.now();
                self.queue_purge(seg);
            }
        }
    }

    /// Gives the blocks that other heaps freed into arena `seg` back to its
    /// `Tlsf`.
    ///
    /// # Safety
    /// `seg` is a live arena segment of this heap.
    pub(crate) unsafe fn drain_arena(&mut self, seg: *mut Segment) {
        // SAFETY: guaranteed by the caller; blocks on `thread_free` were
        // published with Release, which `take_remote` acquired: ours now.
        unsafe {
            let page = Segment::page(seg, 0);
            let (mut b, _) = (*page).take_remote();
            let (mut n, mut bytes) = (0usize, 0usize);
            while !b.is_null() {
                let next = decode_link((*page).key, (*b).next);
                bytes += give_back_block(seg, b as *mut u8);
                n += 1;
                b = next;
            }
            if n != 0 {
                Page::set_used(page, Page::used_of(page) - n as u32);
                self.counters.on_blocks(0, n, 0, bytes);
                self.counts.remote_collected(n as u64);
            }
        }
    }

    /// Takes back every arena's remote frees; empty arenas go back to the
    /// `Os`, all of them with `force`, else all but one, which stays as
    /// when its last block is freed (`collect`; a thread's exit collects
    /// without `force`, and the next thread that takes its heap finds the
    /// arena instead of mapping one).
    pub(crate) fn collect_arenas(&mut self, force: bool) {
        if !Self::ARENAS {
            return;
        }
        let mut seg = self.lists.arena_first();
        while !seg.is_null() {
            // SAFETY: listed arenas are live and ours.
            unsafe {
                let next = (*seg).next;
                self.drain_arena(seg);
                if Page::used_of(Segment::page(seg, 0)) == 0 {
                    if force {
                        self.release_arena(seg);
                    } else {
                        self.arena_emptied(seg);
                    }
                }
                seg = next;
            }
        }
    }

    /// Gives every arena back to the `Os`, counting the blocks still in
    /// them as freed (`reset`, whose caller vouches that none is used, and
    /// `Drop`).
    pub(crate) fn release_all_arenas(&mut self) {
        while Self::ARENAS {
            let seg = self.lists.arena_first();
            if seg.is_null() {
                return;
            }
            // SAFETY: a listed arena, live and ours.
            unsafe {
                let page = Segment::page(seg, 0);
                let (_, live, _) = Self::arena_bytes(seg);
                self.counters
                    .on_blocks(0, Page::used_of(page) as usize, 0, live);
                Page::set_used(page, 0);
                self.release_arena(seg);
            }
        }
    }

    /// The purge of arena `seg`, taken out of the purge queue: when it has
    /// stayed empty for the purge delay (or with `force`), the inside of
    /// its free block is discarded; while the delay runs it goes back in
    /// the queue; an arena in use again leaves it.
    ///
    /// # Safety
    /// `seg` is a listed arena of this heap, in no purge queue.
    pub(crate) unsafe fn purge_arena(
        &mut self,
        seg: *mut Segment,
        force: bool,
        now: u64,
        lag: u64,
    ) {
        if !Self::ARENAS {
            return;
        }
        // SAFETY: guaranteed by the caller.
        unsafe {
            if Page::used_of(Segment::page(seg, 0)) != 0 {
                return;
            }
            if !force
                && !Self::delay_passed_by(self.config.purge_delay, now, (*seg).dirtied_at, lag)
            {
                self.queue_purge(seg);
                return;
            }
            // The free block's header, links and footer stay.
            let page_size = self.store.page_size();
            let (base, limit) = tlsf(seg).block_area();
            let from = (base + 64).next_multiple_of(page_size);
            let to = (limit - 16) & !(page_size - 1);
            if to > from && self.store.os().discard_contents(from as *mut u8, to - from) {
                self.counts.purged();
            }
        }
    }

    /// Takes arena `seg` out of the list and gives it back to the `Os`.
    ///
    /// # Safety
    /// `seg` is a listed arena of this heap with no block in use and no
    /// remote free pending.
    unsafe fn release_arena(&mut self, seg: *mut Segment) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.lists.remove_arena(seg) };
        self.release_segment(seg);
    }

    /// Resizes arena block `ptr` to hold `size` bytes where it is; false
    /// (nothing changed) when it cannot.
    ///
    /// # Safety
    /// `ptr` is a live block of `page`, one of this heap's arenas.
    pub(crate) unsafe fn resize_arena_block(
        &mut self,
        page: *mut Page,
        ptr: *mut u8,
        size: usize,
    ) -> bool {
        let seg = Segment::of(page as *const u8, self.segment_base_mask());
        // SAFETY: guaranteed by the caller.
        unsafe {
            let old = Tlsf::usable_size(ptr);
            if !tlsf(seg).resize(ptr, request_for(size)) {
                return false;
            }
            self.counters.on_resize(old, Tlsf::usable_size(ptr));
        }
        true
    }

    /// Where arena `seg`'s committed bytes are (the breakdown; its live
    /// bytes are what `release_all_arenas` counts freed): its
    /// header, `Tlsf` metadata and block headers; its blocks in use (their
    /// usable bytes); its free blocks.
    ///
    /// # Safety
    /// `seg` is a live arena segment of this heap.
    pub(crate) unsafe fn arena_bytes(seg: *mut Segment) -> (usize, usize, usize) {
        // SAFETY: guaranteed by the caller; read only.
        unsafe {
            let t = tlsf(seg);
            let heads = Page::used_of(Segment::page(seg, 0)) as usize * crate::tlsf::HEAD;
            let (committed, area, free) = ((*seg).committed_bytes, t.size(), t.free_bytes());
            (committed - area + heads, area - free - heads, free)
        }
    }

    /// Checks arena `seg`'s `Tlsf` (panics at a broken invariant) and its
    /// descriptor.
    ///
    /// # Safety
    /// `seg` is a live arena segment of this heap.
    pub(crate) unsafe fn check_arena(
        &self,
        seg: *mut Segment,
    ) -> Result<(), crate::validate::Broken> {
        // SAFETY: guaranteed by the caller; read only.
        unsafe {
            let page = Segment::page(seg, 0);
            if (*page).class != PageClass::ARENA
                || Page::owner_word_of(page) != self.id | OWNER_SLOW
            {
                return Err("an arena's descriptor is not an arena of this heap");
            }
            if tlsf(seg).check() != Page::used_of(page) as usize {
                return Err("an arena's used count is not its number of used blocks");
            }
        }
        Ok(())
    }
}
