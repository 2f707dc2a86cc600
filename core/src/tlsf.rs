//! [`Tlsf`]: a two-level segregated-fit allocator over one region, with
//! one-word boundary tags, that hands out two kinds of memory side by side:
//!
//! * **blocks**, any size, 8-byte aligned (or more), each behind an 8-byte
//!   header: what [`FixedRegion`](crate::FixedRegion) serves as *direct
//!   blocks* (requests above [`Config::direct_above`](crate::Config)) and
//!   the region's last bytes once no segment fits;
//! * **spans**, whole [`GRANULE`]s aligned to a power of two, with no
//!   header at all: the heap's segments, whose header must sit at their
//!   aligned start.
//!
//! # Layout and invariants
//!
//! The region is `[origin, end)`; the *block area* `[base, limit)` holds
//! blocks and spans, and the rest of the region this allocator's metadata:
//! the free-list heads, the second-level bitmaps and the *span map*, a byte
//! per granule of the block area (see [`Tlsf::span_bit`]). The metadata
//! sits at the region's top (`base == origin`, `limit < end`), or at its
//! bottom (`origin < base`, `limit == end`) when the region's end leaves
//! less room than the metadata takes above its last granule boundary and
//! its start leaves enough below its first: spans are granule-aligned, so
//! metadata in the partial granule at the bottom leaves every whole granule
//! to them, where at the top it would take the last whole one (a segment
//! of a 1 MiB region starting 8 bytes past a 128 KiB boundary: 7 fit, not
//! 6). Bottom metadata stays in `origin`'s granule, so block numbers and
//! the span map count from `origin` either way.
//!
//! A block at address `b` (a multiple of 8) has its header word in the 8
//! bytes before its payload `b + 8`: the block's size in bytes (a multiple
//! of 8, header included), its `USED` bit, and its `PREV_FREE` bit. A free
//! block also keeps its size in its last word (the footer), and, when it
//! has room for them (at least [`MIN_LISTED`] bytes), the links of its free
//! list after the header. Smaller free blocks ("dwarfs", 8–16 bytes, left by
//! carving spans and aligned blocks) are on no list; they join a neighbour
//! when it is freed.
//!
//! 1. The block area is tiled exactly by blocks and spans.
//! 2. No two free blocks are neighbours (freeing coalesces).
//! 3. A block's `PREV_FREE` bit is set exactly when the block before it is
//!    free; for a span, the span map's `PREV_FREE` bit of its first granule
//!    says the same; for the end of the block area, `limit_prev_free`.
//! 4. Every granule a span covers has its `SPAN` bit set, and no other
//!    granule does: so a block is never in a span granule, and `free(p)`
//!    tells a block from a span's memory with one bit (see
//!    [`Tlsf::is_span_memory`]).
//! 5. Every free block of at least [`MIN_LISTED`] bytes is on the list of
//!    its size (first level: the power of two; second level: one of 16
//!    steps within it); a list's bit is set in the bitmaps exactly when the
//!    list is not empty.
//!
//! [`Tlsf::check`] verifies all five (tests and debug builds).
//!
//! Allocation rounds the request up to the next list boundary and takes
//! the first block of the first non-empty list at or above it (two bitmap
//! searches, constant time), the *good fit*; when that list lies further
//! up than the next one, the head of the request's own list goes first if
//! it fits (a closer block, where the good fit would split a larger one).
//! Only when both find nothing does it search the request's own list block
//! by block (the last bytes of a full region).

use core::ptr;
use core::sync::atomic::{AtomicU8, Ordering::Relaxed};

/// Bytes of a machine word.
const W: usize = core::mem::size_of::<usize>();
/// Granularity of every block size and the alignment of every payload.
pub(crate) const ALIGN: usize = 8;
/// Bytes before a block's payload; the header word is the last of them.
pub(crate) const HEAD: usize = 8;
/// Offset of the header word from the block's start.
const HOFF: usize = HEAD - W;
/// Header bit: the block is in use.
const USED: usize = 1;
/// Header bit: the block before this one is free (its footer holds its size).
const PREV_FREE: usize = 2;
/// The header bits that are not the size.
const FLAGS: usize = 7;
/// Smallest free block that goes on a list: header, two 4-byte links
/// (block numbers, see [`Tlsf::number`]), footer.
pub(crate) const MIN_LISTED: usize = (HEAD + 8 + W + ALIGN - 1) & !(ALIGN - 1);
/// Largest region: block numbers are `u32`s counting 8-byte steps.
const MAX_REGION: usize = if usize::BITS > 32 {
    (u32::MAX as usize) << 3
} else {
    usize::MAX
};
/// Second-level lists per power of two (log2).
const SL_SHIFT: u32 = 4;
/// Second-level lists per power of two.
const SL: usize = 1 << SL_SHIFT;
/// Sizes below this map linearly onto first level 0.
const LINEAR: usize = SL * ALIGN;
/// log2 of the span granule.
pub(crate) const GRANULE_SHIFT: u32 = 12;
/// Spans are whole granules at granule-aligned addresses (4 KiB).
pub(crate) const GRANULE: usize = 1 << GRANULE_SHIFT;
/// Span map bit: the granule belongs to a span.
const SPAN: u8 = 1;
/// Span map bit (first granule of a span): the block before the span is free.
const MAP_PREV_FREE: u8 = 2;

/// True when `addr`, an address in the block area of the allocator whose
/// [`Tlsf::span_map`] is `map`, is memory of a span rather than of a block.
/// Lock-free: a live block's granule keeps its bits while the block lives.
///
/// # Safety
/// `map` is non-null and current (no `extend_to` since it was read), and
/// `addr` lies in the block area.
#[inline(always)]
pub(crate) unsafe fn span_memory(map: *const AtomicU8, addr: usize) -> bool {
    // SAFETY: guaranteed by the caller: the biased map, indexed by the
    // granule number, lands in the map for an address of the block area.
    let byte = unsafe { (*map.wrapping_add(addr >> GRANULE_SHIFT)).load(Relaxed) };
    byte & SPAN != 0
}

/// The list (first level, second level) that a free block of `size` bytes
/// goes on, and the log2 of that list's step (the sizes it holds are
/// `1 << step` apart in their range). The one mapping of sizes to lists.
#[inline(always)]
fn list_and_step(size: usize) -> (usize, usize, usize) {
    if size < LINEAR {
        (0, size / ALIGN, ALIGN.trailing_zeros() as usize)
    } else {
        let log = (usize::BITS - 1 - size.leading_zeros()) as usize;
        let step = log - SL_SHIFT as usize;
        (log - (SL_SHIFT as usize + 2), (size >> step) - SL, step)
    }
}

/// The list (first level, second level) that a free block of `size` bytes
/// goes on.
#[inline(always)]
fn list_of(size: usize) -> (usize, usize) {
    let (f, s, _) = list_and_step(size);
    (f, s)
}

/// The index (`f * SL + s`) of the list that a free block of `size` bytes
/// goes on ([`list_of`]), and whether `size` lies inside that list's range
/// rather than at its start: then not every block of the list holds `size`
/// bytes, and the first list whose every block does is the next one up
/// (index + 1, also across a level). One mapping for both, where the
/// allocation path needs both.
#[inline(always)]
fn list_index(size: usize) -> (usize, bool) {
    let (f, s, step) = list_and_step(size);
    (f * SL + s, size & ((1 << step) - 1) != 0)
}

/// Whether the metadata (`bytes` of it) of the region `[base, end)` goes
/// at its bottom: when the room above the region's last granule boundary
/// is too short for it and the room below its first is not (see the module
/// documentation).
fn meta_goes_below(base: usize, end: usize, bytes: usize) -> bool {
    let above = end & (GRANULE - 1);
    let below = base.wrapping_neg() & (GRANULE - 1);
    above < bytes && below >= bytes
}

/// First-level lists needed for free blocks of up to `max` bytes.
fn levels_for(max: usize) -> usize {
    list_of(max.max(LINEAR)).0 + 1
}

/// Rounds `x` up to a multiple of `a` (a power of two); `None` on overflow.
#[inline(always)]
fn round_up(x: usize, a: usize) -> Option<usize> {
    Some(x.checked_add(a - 1)? & !(a - 1))
}

/// The usable bytes of the block a request of `size` bytes gets when no
/// larger free block is split for it (`size` rounded up to 8, at least 8);
/// `None` on overflow. A heap's cache of freed blocks keys its lists by it.
#[inline(always)]
pub(crate) fn usable_for(size: usize) -> Option<usize> {
    round_up(size.max(1), ALIGN)
}

/// The shortest region that can serve a request: the metadata of a region
/// of one size range (the span map's 8 bytes, two levels of two-byte heads
/// and their bitmaps) and one listed free block. Shorter, every allocation
/// fails.
pub(crate) const MIN_REGION: usize =
    ((ALIGN + 2 * SL * 2 + 2 * 2 + ALIGN - 1) & !(ALIGN - 1)) + MIN_LISTED;

/// Largest region whose block numbers fit in a `u16` (then the list heads
/// take two bytes each): 512 KiB less a step.
const NARROW_REGION: usize = (u16::MAX as usize - 1) << 3;

/// Where the metadata of a block area goes, for a region of a given size.
#[derive(Clone, Copy)]
struct MetaLayout {
    levels: usize,
    map_bytes: usize,
    /// The list heads are `u16`s (a region of at most [`NARROW_REGION`]).
    narrow: bool,
    bytes: usize,
}

impl MetaLayout {
    /// The metadata for a region `[base, end)` whose block area ends at
    /// most at `end`.
    fn for_region(base: usize, end: usize) -> MetaLayout {
        let span = end - base;
        let full = Self::with_levels(base, end, levels_for(span));
        // The block area, and so its largest free block, is shorter than
        // the region by the metadata: one level fewer may cover it (it does
        // for a region of a power of two, the usual size: 16 KiB saves 40
        // bytes, 64 KiB 32).
        let fewer = levels_for(span.saturating_sub(full.bytes));
        if fewer < full.levels {
            let meta = Self::with_levels(base, end, fewer);
            if levels_for(span.saturating_sub(meta.bytes)) <= fewer {
                return meta;
            }
        }
        full
    }

    /// The metadata for `[base, end)` with `levels` first-level lists.
    fn with_levels(base: usize, end: usize, levels: usize) -> MetaLayout {
        let granules = (end >> GRANULE_SHIFT) - (base >> GRANULE_SHIFT) + 1;
        // One byte per granule, rounded to 8 for the arrays after it.
        let map_bytes = round_up(granules, ALIGN).unwrap_or(usize::MAX);
        let narrow = end - base <= NARROW_REGION;
        let head_bytes = if narrow { 2 } else { 4 };
        // The map, the heads, then one second-level bitmap per level
        // (`u16`s: `SL` is 16).
        let bytes = map_bytes + levels * SL * head_bytes + levels * 2;
        MetaLayout {
            levels,
            map_bytes,
            narrow,
            bytes: round_up(bytes, ALIGN).unwrap_or(usize::MAX),
        }
    }
}

/// A two-level segregated-fit allocator over one region (see the module
/// documentation). Not synchronised: [`FixedRegion`](crate::FixedRegion)
/// keeps it behind a lock.
pub(crate) struct Tlsf {
    /// First byte of the region, where block numbers count from (0 while
    /// the region has no memory).
    origin: usize,
    /// First byte of the block area: `origin`, or past the metadata when
    /// it sits at the bottom.
    base: usize,
    /// End of the block area: where the metadata starts.
    limit: usize,
    /// End of the region.
    end: usize,
    /// First-level lists.
    levels: usize,
    /// Bit `f` set: some list of level `f` is non-empty.
    fl_bitmap: usize,
    /// `levels` words: bit `s` set when list `(f, s)` is non-empty.
    sl_bitmaps: *mut u16,
    /// `levels * SL` list heads, as block numbers (0: empty): `u16`s when
    /// `narrow`, else `u32`s.
    heads: *mut u8,
    narrow: bool,
    /// The span map: a byte per granule from `base`'s granule on (bits
    /// `SPAN` and `MAP_PREV_FREE`). Atomics: [`span_memory`] reads them
    /// without the lock.
    map: *const AtomicU8,
    map_bytes: usize,
    /// Bytes in free blocks (their headers included).
    free_bytes: usize,
    /// Three quarters of the block area ([`Tlsf::size`]): with fewer free
    /// bytes, a free packs ([`Tlsf::free_packs`]). Set with `base` and
    /// `limit`.
    packs_below: usize,
    /// The last block of the area is free (invariant 3 for `limit`).
    limit_prev_free: bool,
}

// SAFETY: the raw pointers point into the region's own metadata, which the
// `Tlsf` exclusively owns; moving it to another thread moves that ownership.
unsafe impl Send for Tlsf {}

impl Tlsf {
    /// An allocator with no memory: every allocation fails.
    pub(crate) const fn empty() -> Tlsf {
        Tlsf {
            origin: 0,
            base: 0,
            limit: 0,
            end: 0,
            levels: 0,
            fl_bitmap: 0,
            sl_bitmaps: ptr::null_mut(),
            heads: ptr::null_mut(),
            narrow: false,
            map: ptr::null(),
            map_bytes: 0,
            free_bytes: 0,
            packs_below: 0,
            limit_prev_free: false,
        }
    }

    /// True once [`Tlsf::init`] has given it memory.
    pub(crate) fn has_memory(&self) -> bool {
        self.end != 0
    }

    /// Bytes of the block area (the region less its metadata).
    pub(crate) fn size(&self) -> usize {
        self.limit - self.base
    }

    /// Bytes in free blocks, headers included (all of [`Tlsf::size`] when
    /// nothing is allocated).
    pub(crate) fn free_bytes(&self) -> usize {
        self.free_bytes
    }

    /// The region's first byte.
    pub(crate) fn bottom(&self) -> usize {
        self.origin
    }

    /// One past the region's last byte (its metadata's).
    pub(crate) fn top(&self) -> usize {
        self.end
    }

    /// The block area, `[base, limit)`.
    pub(crate) fn block_area(&self) -> (usize, usize) {
        (self.base, self.limit)
    }

    /// True when `addr` lies in the block area.
    pub(crate) fn contains(&self, addr: usize) -> bool {
        addr >= self.base && addr < self.limit
    }

    /// Takes `[start, start + len)`, trimmed to 8-byte boundaries, as the
    /// region: its top or its bottom goes to the metadata (see the module
    /// documentation), the rest becomes one free block. A range too small
    /// to hold the metadata and one block leaves the allocator empty;
    /// returns whether it took the memory.
    ///
    /// # Safety
    /// The range is valid for reads and writes and used by nothing else
    /// while this allocator is; no memory was given before.
    pub(crate) unsafe fn init(&mut self, start: usize, len: usize) -> bool {
        debug_assert!(!self.has_memory());
        let Some(base) = round_up(start, ALIGN) else {
            return false;
        };
        let end = start.saturating_add(len.min(MAX_REGION)) & !(ALIGN - 1);
        if end <= base {
            return false;
        }
        let meta = MetaLayout::for_region(base, end);
        if end - base < meta.bytes + HEAD + ALIGN {
            return false;
        }
        let below = meta_goes_below(base, end, meta.bytes);
        let at = if below { base } else { end - meta.bytes };
        self.origin = base;
        self.end = end;
        // SAFETY: `[at, at + meta.bytes)` lies in the caller's range.
        unsafe { self.place_meta(at, meta, None) };
        (self.base, self.limit) = if below {
            (base + meta.bytes, end)
        } else {
            (base, at)
        };
        self.packs_below = self.size() / 4 * 3;
        // SAFETY: the block area is ours and empty.
        unsafe { self.release_range(self.base, self.limit - self.base, false) };
        true
    }

    /// Points the metadata arrays at `[at, at + meta.bytes)` and fills them:
    /// copied from `old` (the previous arrays and their sizes) where given,
    /// the rest zeroed.
    ///
    /// # Safety
    /// `[at, at + meta.bytes)` is ours and overlaps neither the block area
    /// nor the old arrays.
    unsafe fn place_meta(&mut self, at: usize, meta: MetaLayout, old: Option<(usize, usize)>) {
        // SAFETY: the layout puts the three arrays inside `[at, at + bytes)`,
        // the map first at an 8-byte boundary.
        unsafe {
            let map = at as *const AtomicU8;
            let heads = (at + meta.map_bytes) as *mut u8;
            let head_bytes = if meta.narrow { 2 } else { 4 };
            let sl_bitmaps = heads.add(meta.levels * SL * head_bytes) as *mut u16;
            ptr::write_bytes(at as *mut u8, 0, meta.bytes);
            if let Some((old_levels, old_map_bytes)) = old {
                // Heads one by one: the old and the new width may differ.
                for i in 0..old_levels * SL {
                    let n = self.head_number(i);
                    Self::write_head(heads, meta.narrow, i, n);
                }
                ptr::copy_nonoverlapping(self.sl_bitmaps, sl_bitmaps, old_levels);
                for g in 0..old_map_bytes {
                    (*map.add(g)).store((*self.map.add(g)).load(Relaxed), Relaxed);
                }
            }
            self.heads = heads;
            self.sl_bitmaps = sl_bitmaps;
            self.map = map;
        }
        self.narrow = meta.narrow;
        self.levels = meta.levels;
        self.map_bytes = meta.map_bytes;
    }

    /// Grows the region to `new_end` (trimmed down to 8 bytes): the
    /// metadata moves to the new top and its old place (at the old top or
    /// the bottom) joins the block area with the new memory. Returns false,
    /// changing nothing, when the new memory is too short to hold the moved
    /// metadata.
    ///
    /// # Safety
    /// `[top(), new_end)` is valid for reads and writes and used by nothing
    /// else while this allocator is.
    pub(crate) unsafe fn extend_to(&mut self, new_end: usize) -> bool {
        let new_end = new_end & !(ALIGN - 1);
        if !self.has_memory() || new_end <= self.end {
            return false;
        }
        let meta = MetaLayout::for_region(self.origin, new_end);
        let Some(at) = new_end.checked_sub(meta.bytes) else {
            return false;
        };
        if at < self.end {
            return false;
        }
        let (old_limit, prev_free) = (self.limit, self.limit_prev_free);
        // SAFETY: `[at, new_end)` is new memory, apart from the old arrays.
        unsafe { self.place_meta(at, meta, Some((self.levels, self.map_bytes))) };
        self.end = new_end;
        self.limit = at;
        self.limit_prev_free = false;
        // SAFETY: the old metadata if it was at the top, and the new memory
        // below the new metadata, are ours and unused; `prev_free` says
        // whether the block before them is free.
        unsafe { self.release_range(old_limit, at - old_limit, prev_free) };
        if self.origin < self.base {
            // The old metadata was at the bottom: it becomes the block
            // area's first block (nothing is before it).
            let (b, len) = (self.origin, self.base - self.origin);
            self.base = b;
            // SAFETY: `[b, b + len)` held the old arrays, unused now.
            unsafe { self.release_range(b, len, false) };
        }
        self.packs_below = self.size() / 4 * 3;
        true
    }

    // ----- the span map -----

    /// The span-map byte of the granule holding `addr`.
    #[inline(always)]
    fn map_byte(&self, addr: usize) -> &AtomicU8 {
        let g = (addr >> GRANULE_SHIFT) - (self.origin >> GRANULE_SHIFT);
        debug_assert!(g < self.map_bytes);
        // SAFETY: `addr` lies in the block area, which the map covers.
        unsafe { &*self.map.add(g) }
    }

    /// The span-map bit `bit` of the granule holding `addr`.
    #[inline(always)]
    fn span_bit(&self, addr: usize, bit: u8) -> bool {
        self.map_byte(addr).load(Relaxed) & bit != 0
    }

    /// Where [`span_memory`] finds the span map: the map less the first
    /// granule's number (a biased pointer, indexed by granule number; null
    /// while the allocator has no memory). Valid until the next
    /// `extend_to`.
    pub(crate) fn span_map(&self) -> *const AtomicU8 {
        if self.map.is_null() {
            return ptr::null();
        }
        self.map.wrapping_sub(self.origin >> GRANULE_SHIFT)
    }

    /// Sets or clears span-map bit `bit` of the granule holding `addr`.
    #[inline]
    fn set_span_bit(&mut self, addr: usize, bit: u8, on: bool) {
        // One writer (the lock holder): a load and a store, which
        // `span_memory` readers see either side of.
        let byte = self.map_byte(addr);
        let old = byte.load(Relaxed);
        byte.store(if on { old | bit } else { old & !bit }, Relaxed);
    }

    /// True when `addr` (in the block area) is memory of a span rather
    /// than of a block.
    #[inline(always)]
    pub(crate) fn is_span_memory(&self, addr: usize) -> bool {
        self.span_bit(addr, SPAN)
    }

    /// True when a span starts at `addr` (an address where a block or span
    /// ends, below `limit`).
    #[inline(always)]
    fn span_starts_at(&self, addr: usize) -> bool {
        addr & (GRANULE - 1) == 0 && self.span_bit(addr, SPAN)
    }

    /// True when a block starts at `at` (an address where a block or span
    /// ends): neither the end of the block area nor a span.
    #[inline(always)]
    fn block_starts_at(&self, at: usize) -> bool {
        at != self.limit && !self.span_starts_at(at)
    }

    // ----- headers -----

    /// The header word of the block at `b`.
    #[inline(always)]
    unsafe fn header(b: usize) -> usize {
        // SAFETY: the caller passes a block's start.
        unsafe { *((b + HOFF) as *const usize) }
    }

    #[inline(always)]
    unsafe fn set_header(b: usize, word: usize) {
        // SAFETY: the caller passes a block's start.
        unsafe { *((b + HOFF) as *mut usize) = word }
    }

    /// Sets the `PREV_FREE` state (invariant 3) of whatever starts at
    /// `at`: a block, a span, or the end of the block area.
    #[inline(always)]
    unsafe fn mark_prev(&mut self, at: usize, free: bool) {
        if at == self.limit {
            self.limit_prev_free = free;
        } else if self.span_starts_at(at) {
            self.set_span_bit(at, MAP_PREV_FREE, free);
        } else {
            // SAFETY: a block starts at `at` (invariant 1).
            unsafe {
                let h = Self::header(at);
                Self::set_header(at, if free { h | PREV_FREE } else { h & !PREV_FREE });
            }
        }
    }

    // ----- free lists -----

    /// The block number of block `b` (0 stands for none).
    #[inline(always)]
    fn number(&self, b: usize) -> u32 {
        (((b - self.origin) >> 3) + 1) as u32
    }

    /// The block of number `n` (0 for none).
    #[inline(always)]
    fn block(&self, n: u32) -> usize {
        if n == 0 {
            0
        } else {
            self.block_of(n)
        }
    }

    /// Head `i` (list `(i / SL, i % SL)`) as a block number.
    ///
    /// # Safety
    /// `i < levels * SL`.
    #[inline(always)]
    unsafe fn head_number(&self, i: usize) -> u32 {
        // SAFETY: the caller's bound; the heads have the width `narrow` says.
        unsafe {
            if self.narrow {
                *(self.heads as *const u16).add(i) as u32
            } else {
                *(self.heads as *const u32).add(i)
            }
        }
    }

    /// Writes head `i` of the heads at `heads` (`u16`s if `narrow`).
    ///
    /// # Safety
    /// `heads` holds more than `i` heads of that width.
    #[inline(always)]
    unsafe fn write_head(heads: *mut u8, narrow: bool, i: usize, n: u32) {
        // SAFETY: guaranteed by the caller; a narrow region's numbers fit.
        unsafe {
            if narrow {
                *(heads as *mut u16).add(i) = n as u16;
            } else {
                *(heads as *mut u32).add(i) = n;
            }
        }
    }

    /// The first block of list `(f, s)` (0: empty).
    ///
    /// # Safety
    /// `f < levels`.
    #[inline(always)]
    unsafe fn head(&self, f: usize, s: usize) -> usize {
        // SAFETY: `f < levels` (the caller's bound).
        self.block(unsafe { self.head_number(f * SL + s) })
    }

    /// The next block on a free block's list (0: none).
    ///
    /// # Safety
    /// `b` is a listed free block.
    #[inline(always)]
    unsafe fn next_of(&self, b: usize) -> usize {
        // SAFETY: a listed block has its links after the header.
        self.block(unsafe { *((b + HEAD) as *const u32) })
    }

    /// The previous block on a free block's list (0: none, `b` is the head).
    ///
    /// # Safety
    /// `b` is a listed free block.
    #[inline(always)]
    unsafe fn prev_of(&self, b: usize) -> usize {
        // SAFETY: as above.
        self.block(unsafe { *((b + HEAD + 4) as *const u32) })
    }

    /// The block of number `n`, which is not 0 (no branch, unlike
    /// [`Tlsf::block`]).
    #[inline(always)]
    fn block_of(&self, n: u32) -> usize {
        debug_assert!(n != 0);
        self.origin.wrapping_sub(ALIGN) + ((n as usize) << 3)
    }

    /// The number of the next block on a listed free block's list (0: none).
    ///
    /// # Safety
    /// `b` is a listed free block.
    #[inline(always)]
    unsafe fn next_number(b: usize) -> u32 {
        // SAFETY: a listed block has its links after the header.
        unsafe { *((b + HEAD) as *const u32) }
    }

    /// The number of the previous block on a listed free block's list (0:
    /// none, `b` is the head).
    ///
    /// # Safety
    /// As for [`Tlsf::next_number`].
    #[inline(always)]
    unsafe fn prev_number(b: usize) -> u32 {
        // SAFETY: as above.
        unsafe { *((b + HEAD + 4) as *const u32) }
    }

    /// Sets the forward link of free block `b` to block number `n`.
    ///
    /// # Safety
    /// `b` is a free block of at least `MIN_LISTED` bytes.
    #[inline(always)]
    unsafe fn set_next_number(b: usize, n: u32) {
        // SAFETY: guaranteed by the caller.
        unsafe { *((b + HEAD) as *mut u32) = n }
    }

    /// As [`Tlsf::set_next_number`], for the back link.
    ///
    /// # Safety
    /// As for [`Tlsf::set_next_number`].
    #[inline(always)]
    unsafe fn set_prev_number(b: usize, n: u32) {
        // SAFETY: guaranteed by the caller.
        unsafe { *((b + HEAD + 4) as *mut u32) = n }
    }

    /// Makes `[b, b + size)` a free block (not merged with anything) and
    /// lists it when it is large enough; marks what follows it.
    ///
    /// # Safety
    /// The range is in the block area, unused, and its neighbours are not
    /// free blocks; the block before it is not free.
    #[inline(always)]
    unsafe fn insert_free(&mut self, b: usize, size: usize) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            self.list_free(b, size);
            self.mark_prev(b + size, true);
        }
    }

    /// [`Tlsf::insert_free`] where what follows the range is marked
    /// "previous free" already (invariant 3): the range is the tail of a
    /// free block just taken, or a free block merged with the free block
    /// after it. Skipping the mark saves a look at the span map and a
    /// write on every split and every merging free.
    ///
    /// # Safety
    /// As for [`Tlsf::insert_free`], and what follows the range carries the
    /// "previous free" mark.
    #[inline(always)]
    unsafe fn list_free(&mut self, b: usize, size: usize) {
        debug_assert!(size >= ALIGN && size % ALIGN == 0);
        // SAFETY: the range is ours; a list head is 0 or a listed block.
        unsafe {
            Self::set_header(b, size);
            *((b + size - W) as *mut usize) = size;
            if size >= MIN_LISTED {
                let (f, s) = list_of(size);
                debug_assert!(f < self.levels);
                let i = f * SL + s;
                let first = self.head_number(i);
                let n = self.number(b);
                Self::set_next_number(b, first);
                Self::set_prev_number(b, 0);
                if first != 0 {
                    Self::set_prev_number(self.block_of(first), n);
                }
                Self::write_head(self.heads, self.narrow, i, n);
                self.fl_bitmap |= 1 << f;
                *self.sl_bitmaps.add(f) |= 1 << s;
            }
        }
        self.free_bytes += size;
    }

    /// Takes the free block `[b, b + size)` off its list (if listed). Its
    /// neighbours' marks are the caller's to fix.
    ///
    /// # Safety
    /// A free block of `size` bytes starts at `b`.
    #[inline(always)]
    unsafe fn remove_free(&mut self, b: usize, size: usize) {
        if size >= MIN_LISTED {
            // SAFETY: a listed free block: its links are 0 or listed blocks.
            unsafe {
                let next = Self::next_number(b);
                let prev = Self::prev_number(b);
                if next != 0 {
                    Self::set_prev_number(self.block_of(next), prev);
                }
                if prev != 0 {
                    Self::set_next_number(self.block_of(prev), next);
                } else {
                    let (f, s) = list_of(size);
                    self.set_head(f, s, next);
                }
            }
        }
        self.free_bytes -= size;
    }

    /// Makes block number `n` the head of list `(f, s)`, clearing the
    /// list's bits when `n` is 0 (the list went empty).
    ///
    /// # Safety
    /// `f < levels`; `n` is 0 or a listed free block whose back link is 0.
    #[inline(always)]
    unsafe fn set_head(&mut self, f: usize, s: usize, n: u32) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            Self::write_head(self.heads, self.narrow, f * SL + s, n);
            if n == 0 {
                let sl = &mut *self.sl_bitmaps.add(f);
                *sl &= !(1 << s);
                if *sl == 0 {
                    self.fl_bitmap &= !(1 << f);
                }
            }
        }
    }

    /// A free block holding at least `need` bytes (a multiple of 8), taken
    /// off its list: `(start, size)`.
    #[inline(always)]
    fn take_fitting(&mut self, need: usize) -> Option<(usize, usize)> {
        // The head of `need`'s own list first, when it fits: a block close
        // to the size asked, where the good fit would split a larger one.
        // Not when the good fit is the next list up (or `need`'s own, at a
        // list boundary): its block is as close, and looking at the own
        // list's head would cost a cache miss for nothing.
        let (own, inside) = list_index(need);
        let good = self.first_listed_from(own + inside as usize);
        let own_first = match good {
            Some(i) => i > own + 1,
            None => true,
        };
        if own_first && own < self.levels * SL {
            // SAFETY: `own < levels * SL`; a list head is 0 or a free block.
            unsafe {
                let n = self.head_number(own);
                if n != 0 {
                    let b = self.block_of(n);
                    let size = Self::header(b) & !FLAGS;
                    if size >= need {
                        self.remove_free(b, size);
                        return Some((b, size));
                    }
                }
            }
        }
        let Some(i) = good else {
            return self.take_exact(need);
        };
        // SAFETY: the bitmaps say list `i` is non-empty: pop its head.
        unsafe {
            let b = self.block_of(self.head_number(i));
            let size = Self::header(b) & !FLAGS;
            let next = Self::next_number(b);
            if next != 0 {
                Self::set_prev_number(self.block_of(next), 0);
            }
            self.set_head(i / SL, i % SL, next);
            self.free_bytes -= size;
            Some((b, size))
        }
    }

    /// [`Tlsf::take_fitting`] when the good fit finds nothing: a block of
    /// `need`'s own list, found block by block.
    #[cold]
    fn take_exact(&mut self, need: usize) -> Option<(usize, usize)> {
        let b = self.find_exact(need)?;
        // SAFETY: a listed free block.
        let size = unsafe { Self::header(b) } & !FLAGS;
        // SAFETY: as above.
        unsafe { self.remove_free(b, size) };
        Some((b, size))
    }

    /// The first non-empty list at index `from` (`f * SL + s`) or above.
    #[inline(always)]
    fn first_listed_from(&self, from: usize) -> Option<usize> {
        let (f, s) = (from / SL, from % SL);
        if f >= self.levels {
            return None;
        }
        // SAFETY: `f < levels`.
        let sl = unsafe { *self.sl_bitmaps.add(f) } & (u16::MAX << s);
        if sl != 0 {
            return Some(f * SL + sl.trailing_zeros() as usize);
        }
        let fl = self.fl_bitmap & usize::MAX.checked_shl(f as u32 + 1).unwrap_or(0);
        if fl == 0 {
            return None;
        }
        let f = fl.trailing_zeros() as usize;
        // SAFETY: a set level bit is below `levels`.
        let sl = unsafe { *self.sl_bitmaps.add(f) };
        Some(f * SL + sl.trailing_zeros() as usize)
    }

    /// A block of `need` bytes or more on `need`'s own list (which the
    /// good fit skips), searched block by block.
    #[cold]
    fn find_exact(&self, need: usize) -> Option<usize> {
        let (f, s) = list_of(need);
        if f >= self.levels {
            return None;
        }
        // SAFETY: `f < levels`; list members are free blocks.
        unsafe {
            let mut b = self.head(f, s);
            while b != 0 {
                if Self::header(b) & !FLAGS >= need {
                    return Some(b);
                }
                b = self.next_of(b);
            }
        }
        None
    }

    // ----- blocks -----

    /// Bytes a block for a payload of `size` takes; `None` on overflow.
    #[inline(always)]
    fn block_bytes(size: usize) -> Option<usize> {
        usable_for(size)?.checked_add(HEAD)
    }

    /// A block with at least `size` payload bytes aligned to `align` (a
    /// power of two); null when nothing fits.
    #[inline(always)]
    pub(crate) fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        let Some(need) = Self::block_bytes(size) else {
            return ptr::null_mut();
        };
        if align <= ALIGN {
            let Some((b, got)) = self.take_fitting(need) else {
                return ptr::null_mut();
            };
            // SAFETY: `[b, b + got)` is ours now, its neighbours are used.
            unsafe { self.use_block(b, got, need, false) }
        } else {
            self.alloc_aligned(need, align)
        }
    }

    /// Makes the free block `[b, b + got)` (taken off its list) a used block
    /// of `need` bytes, freeing the rest when a listed block fits there.
    /// `prev_free` says whether the block before it is free.
    ///
    /// # Safety
    /// As for the range just taken by `take_fitting`; `need <= got`.
    #[inline(always)]
    unsafe fn use_block(&mut self, b: usize, got: usize, need: usize, prev_free: bool) -> *mut u8 {
        let rest = got - need;
        let mark = if prev_free { PREV_FREE } else { 0 };
        // SAFETY: the range is ours.
        unsafe {
            if rest >= MIN_LISTED {
                Self::set_header(b, need | USED | mark);
                // Its next neighbour stays marked "previous free".
                self.list_free(b + need, rest);
            } else {
                Self::set_header(b, got | USED | mark);
                self.mark_prev(b + got, false);
            }
        }
        (b + HEAD) as *mut u8
    }

    /// `alloc` for an alignment above 8: takes a block with room to align
    /// the payload and frees the bytes in front of it.
    #[cold]
    fn alloc_aligned(&mut self, need: usize, align: usize) -> *mut u8 {
        // Room for a free block in front, which may be as small as 8 bytes.
        let Some(search) = need.checked_add(align) else {
            return ptr::null_mut();
        };
        let Some((b, got)) = self.take_fitting(search) else {
            return ptr::null_mut();
        };
        // The payload at the first aligned address at least 8 bytes in.
        let Some(p) = round_up(b + HEAD, align) else {
            return ptr::null_mut();
        };
        let start = p - HEAD;
        let front = start - b;
        // SAFETY: `[b, b + got)` is ours; `front` is 0 or a multiple of 8
        // that leaves the rest at least `need`.
        unsafe {
            if front != 0 {
                // The block before was used (invariant 2); `use_block`
                // marks the block at `start` "previous free".
                self.list_free(b, front);
            }
            self.use_block(start, got - front, need, front != 0)
        }
    }

    /// Usable bytes of the block whose payload is at `p`.
    ///
    /// # Safety
    /// `p` is a live block of this allocator.
    #[inline]
    pub(crate) unsafe fn usable_size(p: *const u8) -> usize {
        // SAFETY: guaranteed by the caller.
        (unsafe { Self::header(p as usize - HEAD) } & !FLAGS) - HEAD
    }

    /// The block area's size ([`Tlsf::size`]) while at least three quarters
    /// of it is free (the opposite of [`Tlsf::free_packs`]'s first test:
    /// a block kept for reuse then costs the region's packing nothing at
    /// its first failure); 0 otherwise.
    #[inline(always)]
    pub(crate) fn roomy(&self) -> usize {
        if self.free_bytes >= self.packs_below {
            self.size()
        } else {
            0
        }
    }

    /// True when freeing the live block whose payload is at `p` now would
    /// pack the region better than keeping it for reuse: less than three
    /// quarters of the block area is free, and the block has a free block
    /// before or after it that it would merge with.
    ///
    /// # Safety
    /// `p` is a live block of this allocator.
    #[inline(always)]
    pub(crate) unsafe fn free_packs(&self, p: *const u8) -> bool {
        if self.free_bytes >= self.packs_below {
            return false;
        }
        let b = p as usize - HEAD;
        // SAFETY: guaranteed by the caller; the neighbours are located by
        // invariants 1, 3 and 4.
        unsafe {
            let h = Self::header(b);
            if h & PREV_FREE != 0 {
                return true;
            }
            let next = b + (h & !FLAGS);
            self.block_starts_at(next) && Self::header(next) & USED == 0
        }
    }

    /// Frees the block whose payload is at `p`; returns its usable bytes.
    ///
    /// # Safety
    /// `p` is a live block of this allocator.
    #[inline]
    pub(crate) unsafe fn free(&mut self, p: *mut u8) -> usize {
        let b = p as usize - HEAD;
        // SAFETY: guaranteed by the caller.
        unsafe {
            let h = Self::header(b);
            debug_assert!(h & USED != 0, "freeing a free block");
            self.release_range(b, h & !FLAGS, h & PREV_FREE != 0);
            (h & !FLAGS) - HEAD
        }
    }

    /// Makes `[b, b + size)` free, merged with its free neighbours.
    /// `prev_free` says whether the block before it is free.
    ///
    /// # Safety
    /// The range is in the block area, ours, unused and not free; invariant
    /// 3 holds for what follows it.
    #[inline(always)]
    unsafe fn release_range(&mut self, mut b: usize, mut size: usize, prev_free: bool) -> usize {
        // SAFETY: invariants 1–3 locate the neighbours.
        unsafe {
            if prev_free {
                let prev_size = *((b - W) as *const usize);
                b -= prev_size;
                self.remove_free(b, prev_size);
                size += prev_size;
            }
            let next = b + size;
            let next_is_block = self.block_starts_at(next);
            if next_is_block {
                let h = Self::header(next);
                if h & USED == 0 {
                    // What follows a free block is marked already.
                    self.remove_free(next, h & !FLAGS);
                    size += h & !FLAGS;
                    self.list_free(b, size);
                    return b + size;
                }
            }
            self.list_free(b, size);
            // Marks `next`, known to be a used block, a span or the end.
            if next_is_block {
                Self::set_header(next, Self::header(next) | PREV_FREE);
            } else if next == self.limit {
                self.limit_prev_free = true;
            } else {
                self.set_span_bit(next, MAP_PREV_FREE, true);
            }
        }
        b + size
    }

    /// Frees every block (not the spans): `(blocks, usable bytes)` freed.
    pub(crate) fn free_all_blocks(&mut self) -> (usize, usize) {
        let (mut at, mut n, mut bytes) = (self.base, 0, 0);
        while at < self.limit {
            if self.span_starts_at(at) {
                while at < self.limit && self.is_span_memory(at) {
                    at += GRANULE;
                }
                continue;
            }
            // SAFETY: a block starts at `at` (invariant 1).
            let h = unsafe { Self::header(at) };
            let size = h & !FLAGS;
            if h & USED == 0 {
                at += size;
                continue;
            }
            n += 1;
            bytes += size - HEAD;
            // SAFETY: a used block, freed as by `free`; the walk goes on
            // after the free block it became part of.
            at = unsafe { self.release_range(at, size, h & PREV_FREE != 0) };
        }
        (n, bytes)
    }

    /// Grows or shrinks the block at `p` in place to hold `size` payload
    /// bytes, taking from or giving to the free block after it. Returns
    /// false, changing nothing, when it cannot grow there.
    ///
    /// # Safety
    /// `p` is a live block of this allocator.
    #[inline(always)]
    pub(crate) unsafe fn resize(&mut self, p: *mut u8, size: usize) -> bool {
        let Some(need) = Self::block_bytes(size) else {
            return false;
        };
        let b = p as usize - HEAD;
        // SAFETY: guaranteed by the caller; the neighbour is located by
        // invariants 1 and 4.
        unsafe {
            let h = Self::header(b);
            let have = h & !FLAGS;
            let next = b + have;
            let mut avail = have;
            let mut next_free = 0;
            if self.block_starts_at(next) {
                let nh = Self::header(next);
                if nh & USED == 0 {
                    next_free = nh & !FLAGS;
                    avail += next_free;
                }
            }
            if need > avail {
                return false;
            }
            if next_free == 0 && need <= have && have - need < MIN_LISTED {
                return true; // shrinking by too little to free a listed block
            }
            if next_free != 0 {
                self.remove_free(next, next_free);
            }
            // Left over: 0, or at least 8 bytes (a free block, perhaps a
            // dwarf after a merged neighbour).
            let rest = avail - need;
            if rest != 0 {
                Self::set_header(b, need | USED | (h & PREV_FREE));
                if next_free != 0 {
                    // What followed the merged neighbour is marked already.
                    self.list_free(b + need, rest);
                } else {
                    self.insert_free(b + need, rest);
                }
            } else {
                Self::set_header(b, avail | USED | (h & PREV_FREE));
                self.mark_prev(b + avail, false);
            }
        }
        true
    }

    // ----- spans -----

    /// A span of `size` bytes aligned to `align` (both multiples of
    /// [`GRANULE`], `align` a power of two); null when none fits.
    pub(crate) fn alloc_span(&mut self, size: usize, align: usize) -> *mut u8 {
        debug_assert!(size % GRANULE == 0 && align % GRANULE == 0 && align.is_power_of_two());
        let Some(search) = size.checked_add(align - ALIGN) else {
            return ptr::null_mut();
        };
        let Some((b, got)) = self
            .take_fitting(search)
            .or_else(|| self.find_span_room(size, align))
        else {
            return ptr::null_mut();
        };
        let Some(s) = round_up(b, align) else {
            return ptr::null_mut();
        };
        let (front, back) = (s - b, b + got - (s + size));
        // SAFETY: `[b, b + got)` is ours and holds `[s, s + size)`; the map
        // covers the block area.
        unsafe {
            let mut g = s;
            while g < s + size {
                self.set_span_bit(g, SPAN, true);
                g += GRANULE;
            }
            self.set_span_bit(s, MAP_PREV_FREE, false);
            if front != 0 {
                // Marks the span "previous free".
                self.insert_free(b, front);
            }
            if back != 0 {
                // The tail of the free block taken: what follows is marked.
                self.list_free(s + size, back);
            } else {
                self.mark_prev(s + size, false);
            }
        }
        s as *mut u8
    }

    /// A free block that holds an aligned span of `size` although it is
    /// smaller than `size + align` (the good fit asks for that much), taken
    /// off its list: searches every list from `size`'s up. Slow; only when
    /// the region is nearly full.
    #[cold]
    fn find_span_room(&mut self, size: usize, align: usize) -> Option<(usize, usize)> {
        let (f0, s0) = list_of(size);
        for f in f0.min(self.levels)..self.levels {
            for s in if f == f0 { s0 } else { 0 }..SL {
                // SAFETY: `f < levels`; list members are free blocks.
                let mut b = unsafe { self.head(f, s) };
                while b != 0 {
                    // SAFETY: as above.
                    let got = unsafe { Self::header(b) } & !FLAGS;
                    let fits = round_up(b, align).is_some_and(|a| a + size <= b + got);
                    if fits {
                        // SAFETY: as above.
                        unsafe { self.remove_free(b, got) };
                        return Some((b, got));
                    }
                    // SAFETY: as above.
                    b = unsafe { self.next_of(b) };
                }
            }
        }
        None
    }

    /// Gives back the span `[s, s + size)` made by [`Tlsf::alloc_span`].
    ///
    /// # Safety
    /// The span is live, made with this `size`, and not used afterwards.
    pub(crate) unsafe fn free_span(&mut self, s: *mut u8, size: usize) {
        let s = s as usize;
        let prev_free = self.span_bit(s, MAP_PREV_FREE);
        let mut g = s;
        while g < s + size {
            self.set_span_bit(g, SPAN | MAP_PREV_FREE, false);
            g += GRANULE;
        }
        // SAFETY: the span's memory is ours again; what follows it is
        // marked as after a used neighbour.
        unsafe { self.release_range(s, size, prev_free) };
    }

    // ----- checking -----

    /// Walks the block area and the lists and panics with a message at the
    /// first broken invariant (see the module documentation); returns the
    /// number of used blocks (spans not counted).
    pub(crate) fn check(&self) -> usize {
        if !self.has_memory() {
            return 0;
        }
        assert_eq!(self.packs_below, self.size() / 4 * 3, "packs_below");
        let (mut at, mut prev_free, mut free, mut listed, mut used) = (self.base, false, 0, 0, 0);
        while at < self.limit {
            if self.span_starts_at(at) {
                assert_eq!(
                    self.span_bit(at, MAP_PREV_FREE),
                    prev_free,
                    "span {at:#x} mark"
                );
                while at < self.limit && self.is_span_memory(at) {
                    at += GRANULE;
                }
                prev_free = false;
                continue;
            }
            assert!(!self.is_span_memory(at), "block {at:#x} in a span granule");
            // SAFETY: invariant 1 under test: a block starts here.
            let h = unsafe { Self::header(at) };
            let size = h & !FLAGS;
            assert!(
                size >= ALIGN && at + size <= self.limit,
                "block {at:#x} size {size}"
            );
            assert_eq!(h & PREV_FREE != 0, prev_free, "block {at:#x} PREV_FREE");
            let is_free = h & USED == 0;
            used += !is_free as usize;
            if is_free {
                assert!(!prev_free, "free neighbours at {at:#x}");
                // SAFETY: a free block has its footer.
                let foot = unsafe { *((at + size - W) as *const usize) };
                assert_eq!(foot, size, "footer of {at:#x}");
                free += size;
                listed += (size >= MIN_LISTED) as usize;
            }
            let mut g = at & !(GRANULE - 1);
            while g < at + size {
                assert!(!self.is_span_memory(g.max(at)), "block {at:#x} over a span");
                g += GRANULE;
            }
            prev_free = is_free;
            at += size;
        }
        assert_eq!(at, self.limit, "blocks overrun the area");
        assert_eq!(prev_free, self.limit_prev_free, "limit mark");
        assert_eq!(free, self.free_bytes, "free bytes");
        assert_eq!(self.count_listed(), listed, "listed blocks");
        used
    }

    /// Free blocks on the lists, each checked to be on the right list and
    /// linked both ways.
    fn count_listed(&self) -> usize {
        let mut n = 0;
        for f in 0..self.levels {
            // SAFETY: `f < levels`.
            let sl = unsafe { *self.sl_bitmaps.add(f) };
            assert_eq!(self.fl_bitmap & (1 << f) != 0, sl != 0, "level {f} bit");
            for s in 0..SL {
                // SAFETY: `f < levels`; list members are free blocks.
                let (mut b, mut prev) = (unsafe { self.head(f, s) }, 0);
                assert_eq!(sl & (1 << s) != 0, b != 0, "list ({f},{s}) bit");
                while b != 0 {
                    // SAFETY: as above.
                    let (h, back) = unsafe { (Self::header(b), self.prev_of(b)) };
                    assert_eq!(h & USED, 0, "used block {b:#x} on a list");
                    assert_eq!(list_of(h & !FLAGS), (f, s), "block {b:#x} listed");
                    assert_eq!(back, prev, "back link of {b:#x}");
                    n += 1;
                    prev = b;
                    // SAFETY: as above.
                    b = unsafe { self.next_of(b) };
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    /// A 64-bit splitmix generator (deterministic tests).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// A region of `len` bytes starting `skew` bytes past a 1 MiB boundary.
    fn region(len: usize, skew: usize) -> (Vec<u8>, usize) {
        let buf = std::vec![0u8; len + (1 << 20) + skew];
        let start = ((buf.as_ptr() as usize + (1 << 20) - 1) & !((1 << 20) - 1)) + skew;
        (buf, start)
    }

    /// What the test holds: (payload or span start, bytes, tag, is span).
    type Live = Vec<(usize, usize, u8, bool)>;

    fn fill(p: usize, n: usize, tag: u8) {
        // SAFETY: a live block or span of the test of `n` bytes.
        unsafe { ptr::write_bytes(p as *mut u8, tag, n) };
    }

    fn verify(live: &Live) {
        for &(p, n, tag, _) in live {
            // SAFETY: as in `fill`.
            let s = unsafe { core::slice::from_raw_parts(p as *const u8, n) };
            assert!(s.iter().all(|&b| b == tag), "block {p:#x} overwritten");
        }
    }

    /// Random blocks (any size and alignment), resizes and spans, with
    /// every invariant checked after each step and every byte of every live
    /// block verified: an overlap or a broken tag fails.
    fn random_ops(len: usize, skew: usize, seed: u64, steps: usize) {
        let (_buf, start) = region(len, skew);
        let mut t = Tlsf::empty();
        // SAFETY: the buffer outlives `t`.
        assert!(unsafe { t.init(start, len) });
        let total = t.size();
        assert_eq!(t.free_bytes(), total);
        let mut rng = Rng(seed);
        let mut live: Live = Vec::new();
        for step in 0..steps {
            let r = rng.below(100);
            if r < 45 || live.is_empty() {
                let max = if rng.below(8) == 0 { 20_000 } else { 600 };
                let size = 1 + rng.below(max);
                if rng.below(10) == 0 {
                    let (n, align) = (GRANULE << rng.below(3), GRANULE << rng.below(3));
                    let s = t.alloc_span(n, align);
                    if !s.is_null() {
                        assert_eq!(s as usize % align, 0);
                        assert!(
                            t.is_span_memory(s as usize) && t.is_span_memory(s as usize + n - 1)
                        );
                        fill(s as usize, n, step as u8);
                        live.push((s as usize, n, step as u8, true));
                    }
                } else {
                    let align = 1 << rng.below(8);
                    let p = t.alloc(size, align);
                    if !p.is_null() {
                        assert_eq!(p as usize % align.max(ALIGN), 0);
                        // SAFETY: a live block.
                        assert!(unsafe { Tlsf::usable_size(p) } >= size);
                        assert!(!t.is_span_memory(p as usize));
                        fill(p as usize, size, step as u8);
                        live.push((p as usize, size, step as u8, false));
                    }
                }
            } else if r < 85 {
                let (p, n, _, span) = live.swap_remove(rng.below(live.len()));
                // SAFETY: live, made as recorded.
                unsafe {
                    if span {
                        t.free_span(p as *mut u8, n);
                    } else {
                        t.free(p as *mut u8);
                    }
                }
            } else {
                let i = rng.below(live.len());
                let (p, n, tag, span) = live[i];
                if !span {
                    let new = 1 + rng.below(3000);
                    // SAFETY: a live block.
                    if unsafe { t.resize(p as *mut u8, new) } {
                        // SAFETY: as above.
                        assert!(unsafe { Tlsf::usable_size(p as *const u8) } >= new);
                        fill(p + n.min(new), new.saturating_sub(n), tag);
                        live[i].1 = new;
                    }
                }
            }
            t.check();
            if step % 64 == 0 {
                verify(&live);
            }
        }
        verify(&live);
        for (p, n, _, span) in live.drain(..) {
            // SAFETY: live, made as recorded.
            unsafe {
                if span {
                    t.free_span(p as *mut u8, n);
                } else {
                    t.free(p as *mut u8);
                }
            }
        }
        t.check();
        assert_eq!(t.free_bytes(), total, "region whole again");
    }

    #[test]
    fn random_blocks_and_spans_keep_every_invariant() {
        // Fewer and shorter under miri, where each step's full check is slow.
        let (seeds, steps, len) = if cfg!(miri) {
            (2, 200, 256 << 10)
        } else {
            (6, 3000, 1 << 20)
        };
        for seed in 0..seeds {
            random_ops(len, 8 * seed as usize, seed, steps);
        }
    }

    #[test]
    fn a_small_region_fills_to_its_last_bytes() {
        random_ops(20_000, 24, 7, if cfg!(miri) { 300 } else { 3000 });
        // Fill a 16 KiB region with 24-byte blocks: all but the metadata,
        // the headers and the absorbed tail are handed out.
        let (_buf, start) = region(16 << 10, 0);
        let mut t = Tlsf::empty();
        // SAFETY: the buffer outlives `t`.
        assert!(unsafe { t.init(start, 16 << 10) });
        let mut n = 0;
        while !t.alloc(24, 8).is_null() {
            n += 1;
        }
        assert!(t.free_bytes() < 32, "left {}", t.free_bytes());
        // The last block may have taken a tail too short to list.
        let slack = t.size() - (n * 32 + t.free_bytes());
        assert!(slack < MIN_LISTED, "slack {slack}");
        t.check();
    }

    #[test]
    fn list_mapping_rounds_searches_up() {
        // The smallest size a list `i` holds.
        let lower = |i: usize| {
            let (f, s) = (i / SL, i % SL);
            if f == 0 {
                s * ALIGN
            } else {
                (SL + s) << (f + 2)
            }
        };
        let top = if cfg!(miri) { 5_000 } else { 100_000 };
        for size in 1..top {
            let (f, s) = list_of(size);
            assert!(s < SL);
            let (own, inside) = list_index(size);
            assert_eq!(own, f * SL + s);
            // Its own list starts at or below `size`, the next one above.
            assert!(lower(own) <= size && lower(own + 1) > size, "size {size}");
            // The good fit is the first list whose every size is at least
            // `size`: its own when `size` is where the list starts.
            let good = own + inside as usize;
            assert!(
                lower(good) >= size,
                "size {size}: list {good} from {}",
                lower(good)
            );
            assert_eq!(inside, lower(own) < size, "size {size}");
        }
    }

    #[test]
    fn extending_moves_the_metadata_and_keeps_blocks() {
        let (_buf, start) = region(3 << 20, 0);
        let mut t = Tlsf::empty();
        // SAFETY: the buffer outlives `t`.
        assert!(unsafe { t.init(start, 1 << 20) });
        let a = t.alloc(500_000, 8);
        let s = t.alloc_span(128 << 10, 128 << 10);
        assert!(!a.is_null() && !s.is_null());
        let before = t.size();
        // SAFETY: the buffer holds 3 MiB from `start`.
        let short = unsafe { t.extend_to(start + (1 << 20) + 16) };
        assert!(!short, "too short for the metadata");
        // SAFETY: as above.
        let grown = unsafe { t.extend_to(start + (3 << 20)) };
        assert!(grown);
        assert!(t.size() > before + (2 << 20) - 4096);
        assert!(t.is_span_memory(s as usize));
        t.check();
        let b = t.alloc(2 << 20, 8);
        assert!(!b.is_null(), "the new memory serves a large block");
        // SAFETY: live blocks and span.
        unsafe {
            t.free(a);
            t.free(b);
            t.free_span(s, 128 << 10);
        }
        t.check();
        assert_eq!(t.free_bytes(), t.size());
    }

    /// Spans of `size` bytes aligned to `size` that the region takes.
    fn spans_that_fit(t: &mut Tlsf, size: usize) -> Vec<*mut u8> {
        core::iter::from_fn(|| Some(t.alloc_span(size, size)))
            .take_while(|s| !s.is_null())
            .collect()
    }

    /// A region starting 8 bytes past a 64 KiB boundary and ending 8 bytes
    /// past one has its metadata at the bottom, where it takes no whole
    /// granule: four 64 KiB spans fit (three with the metadata at the top,
    /// which takes the last one's room). Extending it moves the metadata to
    /// the new top and gives the bottom's room to blocks.
    #[test]
    fn metadata_goes_to_the_bottom_when_the_top_has_no_room_for_it() {
        let (_buf, base) = region(2 << 20, 0);
        let start = base + 8;
        let mut t = Tlsf::empty();
        // SAFETY: the buffer outlives `t` and holds 2 MiB from `base`.
        assert!(unsafe { t.init(start, 5 * (64 << 10)) });
        assert!(
            t.origin < t.base && t.limit == t.end,
            "metadata at the bottom"
        );
        assert_eq!(t.bottom(), start);
        t.check();
        let spans = spans_that_fit(&mut t, 64 << 10);
        assert_eq!(spans.len(), 4, "every whole 64 KiB slot holds a span");
        let a = t.alloc(1000, 8);
        assert!(!a.is_null(), "the bottom granule's rest serves blocks");
        t.check();
        // SAFETY: the buffer holds 2 MiB from `base`.
        assert!(unsafe { t.extend_to(start + (1 << 20)) });
        assert!(t.origin == t.base && t.limit < t.end, "metadata at the top");
        t.check();
        let b = t.alloc(500 << 10, 8);
        assert!(!b.is_null(), "the new memory serves a large block");
        // SAFETY: live blocks and spans, freed once.
        unsafe {
            t.free(a);
            t.free(b);
            for s in spans {
                t.free_span(s, 64 << 10);
            }
        }
        t.check();
        assert_eq!(t.free_bytes(), t.size());
        assert_eq!(t.size() + (t.end - t.limit), 1 << 20, "the whole region");
    }

    /// With room above its last granule boundary (or none below its
    /// first), the metadata stays at the top.
    #[test]
    fn metadata_stays_at_the_top_when_it_fits_there() {
        let (_buf, base) = region(1 << 20, 0);
        for (skew, len) in [(0, 256 << 10), (8, (256 << 10) + 4000), (4000, 256 << 10)] {
            let mut t = Tlsf::empty();
            // SAFETY: the buffer outlives `t` and holds the range.
            assert!(unsafe { t.init(base + skew, len) });
            assert!(
                t.origin == t.base && t.limit < t.end,
                "skew {skew}, len {len}"
            );
            t.check();
        }
    }

    #[test]
    fn extending_past_512_kib_widens_the_list_heads() {
        let (_buf, start) = region(2 << 20, 0);
        let mut t = Tlsf::empty();
        // SAFETY: the buffer outlives `t`.
        assert!(unsafe { t.init(start, 256 << 10) });
        assert!(t.narrow);
        // Free blocks on several lists, then the heads change width.
        let blocks: Vec<*mut u8> = (0..40).map(|i| t.alloc(100 + i * 300, 8)).collect();
        for b in blocks.iter().step_by(2) {
            // SAFETY: live blocks, freed once.
            unsafe { t.free(*b) };
        }
        t.check();
        // SAFETY: the buffer holds 2 MiB from `start`.
        let grown = unsafe { t.extend_to(start + (2 << 20)) };
        assert!(grown && !t.narrow);
        t.check();
        for b in blocks.iter().skip(1).step_by(2) {
            // SAFETY: as above.
            unsafe { t.free(*b) };
        }
        t.check();
        assert_eq!(t.free_bytes(), t.size());
    }

    #[test]
    fn the_levels_cover_the_block_area_not_the_region() {
        // A power-of-two region needs a level fewer than its size maps to,
        // since the metadata shortens the block area.
        assert_eq!(levels_for(16 << 10), 9);
        assert_eq!(MetaLayout::for_region(0, 16 << 10).levels, 8);
        assert_eq!(MetaLayout::for_region(0, 16 << 10).bytes, 280);
        assert_eq!(MetaLayout::for_region(0, 64 << 10).bytes, 368);
        // Around every power of two, the whole block area as one free block
        // is on a list of a level that exists (`check`, and `insert_free`'s
        // assertion), and can be handed out whole and taken back.
        let (_buf, start) = region(1 << 20, 0);
        // Under miri every third power of two (every one natively).
        for k in (7..=20).step_by(if cfg!(miri) { 3 } else { 1 }) {
            for len in ((1usize << k) - 48..=(1 << k) + 48).step_by(8) {
                if !(MIN_REGION..=1 << 20).contains(&len) {
                    continue;
                }
                let mut t = Tlsf::empty();
                // SAFETY: the buffer outlives `t`.
                if !unsafe { t.init(start, len) } {
                    continue;
                }
                t.check();
                let whole = t.size() - HEAD;
                let p = t.alloc(whole, 8);
                assert!(!p.is_null(), "a {len}-byte region serves {whole}");
                // SAFETY: the block just allocated.
                unsafe { t.free(p) };
                t.check();
            }
        }
    }

    #[test]
    fn the_shortest_region_serves_a_request_and_a_shorter_one_none() {
        let (_buf, start) = region(4096, 0);
        let mut t = Tlsf::empty();
        // SAFETY: the buffer outlives `t`.
        assert!(unsafe { t.init(start, MIN_REGION) });
        assert!(!t.alloc(8, 8).is_null(), "{MIN_REGION} bytes serve 8");
        let mut t = Tlsf::empty();
        // SAFETY: as above.
        let took = unsafe { t.init(start, MIN_REGION - ALIGN) };
        assert!(
            !took || t.alloc(1, 8).is_null(),
            "{} bytes serve",
            MIN_REGION - ALIGN
        );
    }

    /// In a full region, `free_packs` sees a free block on either side, a
    /// span or the end of the block area on neither; in a region three
    /// quarters free, never.
    #[test]
    fn a_free_packs_next_to_free_memory_in_a_region_short_of_it() {
        let (_buf, start) = region(64 << 10, 0);
        let mut t = Tlsf::empty();
        // SAFETY: the buffer outlives `t`.
        assert!(unsafe { t.init(start, 64 << 10) });
        let [a, b, c, d] = [64, 64, 64, 64].map(|n| t.alloc(n, 8));
        let rest = t.free_bytes();
        let tail = t.alloc(rest - HEAD, 8);
        assert!(!tail.is_null() && t.free_bytes() == 0, "region full");
        // SAFETY: live blocks of `t`, each freed once.
        unsafe {
            assert!(!t.free_packs(b) && !t.free_packs(tail));
            t.free(a);
            assert!(t.free_packs(b), "free block before");
            assert!(!t.free_packs(c));
            t.free(d);
            assert!(t.free_packs(c), "free block after");
            assert!(t.free_packs(tail), "free block before the last");
            t.free(tail);
            assert!(t.free_bytes() >= t.size() / 4 * 3);
            assert!(!t.free_packs(c), "plenty free");
        }
        t.check();
    }
}
