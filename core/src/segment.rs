//! Segments: regions aligned to their size, whose header describes every
//! slice, so that any block pointer finds its page by arithmetic alone.
//!
//! ```text
//! segment (aligned to segment_size)
//! +--------------------+---------+---------+---------+-----+
//! | header: Segment +  | slice 1 | slice 2 | slice 3 | ... |
//! | Page[slice_count]  |  page A (class 5)  | large B |     |
//! +--------------------+---------+---------+---------+-----+
//! ```
//!
//! `segment_of(p) = (p - 1) & !(segment_size - 1)`: using `p - 1` lets a huge
//! block with an alignment of a whole segment start exactly one segment past
//! its header. A huge segment has one page and `slice_shift = 63`, so every
//! pointer in it maps to descriptor 0.

use crate::page::{Page, PageClass};
use core::mem::size_of;
use core::ptr;

/// What a segment holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum SegmentKind {
    /// Slices carved into small pages and large spans.
    Normal,
    /// One huge block.
    Huge,
    /// A heap's arena: blocks of many sizes in a `Tlsf` (see `arena.rs`).
    Arena,
}

/// A segment header. The page descriptors follow it directly.
///
/// # Access
/// While a segment holds blocks in use, any thread that frees one reads the
/// header's fixed fields (`slice_shift`, and `cookie` with `checks` or `secure`)
/// through a raw pointer. So its owner writes the header through the raw
/// pointer too (`(*seg).free_mask |= ...`) and forms no `&mut Segment`,
/// which would claim every byte of it and race with those readers; a
/// `&mut Segment` is fine only for a segment with no block in use (being
/// set up, cached or released).
#[repr(C)]
pub(crate) struct Segment {
    /// The header's address negated ([`Segment::cookie_for`]): lets checked
    /// builds reject foreign pointers.
    pub cookie: usize,
    /// log2 of the slice size (63 for huge segments).
    pub slice_shift: u32,
    /// Page descriptors that follow the header.
    pub slice_count: u32,
    /// What it holds.
    pub kind: SegmentKind,
    /// True while the segment sits in the purge queue.
    pub in_purge_queue: bool,
    /// True while the segment sits in the cache.
    pub cached: bool,
    /// Slices taken by the header.
    pub header_slices: u8,
    /// Page descriptors written so far: `[0, described)`. The rest are
    /// written, all at once, before any of their slices is first claimed
    /// (see [`Segment::describe_all`]), so a segment whose pages all lie in
    /// its first slices never touches the header's later memory pages.
    pub described: u8,
    /// Bytes from one page descriptor to the next
    /// ([`page_stride`](crate::config::page_stride)).
    pub page_stride: u16,
    /// Start, size and alignment of the `Os` reservation.
    pub reservation: *mut u8,
    pub reserved_size: usize,
    pub reserved_align: usize,
    /// Slices not in any page or span (bit i: slice i).
    pub free_mask: u64,
    /// Slices currently committed.
    pub committed_mask: u64,
    /// Committed slices known to read as zero.
    pub zero_mask: u64,
    /// Bytes committed (huge segments; normal ones use `committed_mask`).
    pub committed_bytes: usize,
    /// Free-list encoding key for this segment's pages.
    pub key: usize,
    /// While queued for purging: when its longest-waiting free slice was
    /// freed (huge segments: when the block was freed).
    pub dirtied_at: u64,
    /// Links in the heap's segment list or in the cache.
    pub next: *mut Segment,
    pub prev: *mut Segment,
    /// Links in the heap's purge queue.
    pub purge_next: *mut Segment,
    pub purge_prev: *mut Segment,
}

// Page descriptors follow the header directly, so it must keep them aligned.
static_assertions::const_assert!(size_of::<Segment>() % core::mem::align_of::<Page>() == 0);
static_assertions::const_assert!(core::mem::align_of::<Segment>() >= core::mem::align_of::<Page>());

/// The reservation a new segment header describes (see
/// [`Segment::write_normal`], [`Segment::write_huge`]).
pub(crate) struct Reservation {
    /// Start of the `Os` reservation.
    pub base: *mut u8,
    /// Its size and alignment.
    pub size: usize,
    /// See `size`.
    pub align: usize,
}

impl Segment {
    /// Writes the header of a new normal segment at `this` (the start of
    /// `res`) with `slice_count` slices of `1 << slice_shift` bytes, the
    /// first `header_slices` of them (the header's) committed and used, and
    /// resets the page descriptors that lie in its first `page_size` bytes
    /// (all of them with `checks` or `secure`, whose free validates a
    /// pointer into any slice by its descriptor).
    ///
    /// # Safety
    /// The header's slices are committed, ours, and hold no live segment.
    pub unsafe fn write_normal(
        this: *mut Segment,
        res: Reservation,
        geometry: (u32, usize, usize, usize),
        key: usize,
        page_size: usize,
    ) {
        let (slice_shift, slice_count, header_slices, page_stride) = geometry;
        let described = if cfg!(any(feature = "checks", feature = "secure")) {
            slice_count
        } else {
            (page_size.saturating_sub(size_of::<Segment>()) / page_stride)
                .clamp(header_slices, slice_count)
        };
        // SAFETY: guaranteed by the caller.
        unsafe {
            Segment::write(
                this,
                Segment {
                    slice_shift,
                    slice_count: slice_count as u32,
                    kind: SegmentKind::Normal,
                    header_slices: header_slices as u8,
                    described: described as u8,
                    free_mask: low_bits(slice_count) & !low_bits(header_slices),
                    committed_mask: low_bits(header_slices),
                    ..Segment::blank(res, key, page_stride)
                },
                described,
            )
        }
    }

    /// Writes the header of a new segment of one page, a huge segment or an
    /// arena (`kind`), at `this` inside `res`, with `committed` bytes
    /// committed from `this` on, and resets its one page descriptor: every
    /// pointer in it maps to that descriptor (`slice_shift = usize::BITS -
    /// 1`). `page_stride` is the heap's, for [`Segment::point_back`].
    ///
    /// # Safety
    /// The header is committed, ours, and holds no live segment.
    pub unsafe fn write_one_page(
        this: *mut Segment,
        kind: SegmentKind,
        res: Reservation,
        (committed, page_stride): (usize, usize),
        key: usize,
    ) {
        debug_assert!(kind != SegmentKind::Normal);
        // SAFETY: guaranteed by the caller.
        unsafe {
            Segment::write(
                this,
                Segment {
                    slice_shift: usize::BITS - 1,
                    slice_count: 1,
                    kind,
                    described: 1,
                    committed_bytes: committed,
                    ..Segment::blank(res, key, page_stride)
                },
                1,
            )
        }
    }

    /// The fields every new segment starts with (cookie filled in by
    /// `write`).
    fn blank(res: Reservation, key: usize, page_stride: usize) -> Segment {
        debug_assert!(page_stride >= size_of::<Page>() && page_stride <= u16::MAX as usize);
        Segment {
            cookie: 0,
            slice_shift: 0,
            slice_count: 0,
            kind: SegmentKind::Normal,
            in_purge_queue: false,
            cached: false,
            header_slices: 0,
            described: 0,
            page_stride: page_stride as u16,
            reservation: res.base,
            reserved_size: res.size,
            reserved_align: res.align,
            free_mask: 0,
            committed_mask: 0,
            zero_mask: 0,
            committed_bytes: 0,
            key,
            dirtied_at: 0,
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            purge_next: ptr::null_mut(),
            purge_prev: ptr::null_mut(),
        }
    }

    /// Writes `header` at `this` with the cookie of its address, and
    /// `descriptors` unused page descriptors after it.
    ///
    /// # Safety
    /// As for the callers.
    unsafe fn write(this: *mut Segment, header: Segment, descriptors: usize) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            ptr::write(
                this,
                Segment {
                    cookie: Segment::cookie_for(this as usize),
                    ..header
                },
            );
            Segment::reset_pages(this, 0, descriptors);
        }
    }

    /// Usable bytes of the live block at `ptr` (at least the size it was
    /// asked with; with `checks`, that and its redzone);
    /// `base_mask` as for [`Segment::of`].
    ///
    /// # Safety
    /// `ptr` is a live block of a heap with this segment size.
    #[inline]
    pub unsafe fn usable_size(ptr: *const u8, base_mask: usize) -> usize {
        // SAFETY: guaranteed by the caller. Field reads through the raw
        // pointer: the block may be another heap's, whose owner may be
        // writing the page's other fields.
        unsafe {
            let page = Segment::page_of(Segment::of(ptr, base_mask), ptr);
            if (*page).class.is_span() {
                (*page).block_size - (ptr as usize - (*page).start as usize)
            } else if cfg!(feature = "arenas") && (*page).class == PageClass::ARENA {
                crate::tlsf::Tlsf::usable_size(ptr)
            } else {
                (*page).block_size
            }
        }
    }

    /// The segment holding `p`; `base_mask` is `!(segment_size - 1)`.
    #[inline(always)]
    pub fn of(p: *const u8, base_mask: usize) -> *mut Segment {
        ((p as usize).wrapping_sub(1) & base_mask) as *mut Segment
    }

    /// Bytes of the segment committed now.
    ///
    /// # Safety
    /// `this` is a live segment.
    // Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
    #[inline(never)]
    pub unsafe fn committed(this: *const Segment) -> usize {
        // SAFETY: guaranteed by the caller; read through the raw pointer
        // (see "Access" on `Segment`).
        unsafe {
            if (*this).kind == SegmentKind::Normal {
                ((*this).committed_mask.count_ones() as usize) << (*this).slice_shift
            } else {
                (*this).committed_bytes
            }
        }
    }

    /// The expected cookie of a segment at `addr`: the address negated, a
    /// word that memory holds by no natural pattern (a constant mixed in
    /// would be no more secret: the cookie tells a foreign pointer, it is
    /// no secret against forgery), tested with one add: see
    /// [`Segment::has_cookie`].
    #[inline]
    pub fn cookie_for(addr: usize) -> usize {
        addr.wrapping_neg()
    }

    /// Whether `cookie`, read at `addr`, is the cookie of a segment there:
    /// their sum is 0 (an add and a branch on the free paths that check it).
    #[cfg(any(feature = "checks", feature = "secure"))]
    #[inline(always)]
    pub fn has_cookie(addr: usize, cookie: usize) -> bool {
        cookie.wrapping_add(addr) == 0
    }

    /// Descriptor `i`.
    ///
    /// # Safety
    /// `this` is a live segment and `i < slice_count`.
    #[inline(always)]
    pub unsafe fn page(this: *mut Segment, i: usize) -> *mut Page {
        // SAFETY: descriptors follow the header, `page_stride` bytes apart.
        unsafe { (this as *mut u8).add(desc_offset(i, (*this).page_stride as usize)) as *mut Page }
    }

    /// The page holding `p`.
    ///
    /// # Safety
    /// `this` is a live segment holding `p`.
    #[inline(always)]
    pub unsafe fn page_of(this: *mut Segment, p: *const u8) -> *mut Page {
        // SAFETY: the caller guarantees `p` is in this segment, so the slice
        // index is below `slice_count` (huge segments shift everything to 0).
        unsafe { Segment::page_of_with(this, p, (*this).slice_shift, (*this).page_stride as usize) }
    }

    /// [`Segment::page_of`] with the slice shift and the page stride given
    /// instead of read from the header: the free fast path passes its
    /// heap's, which it can load before it knows the segment, so one load
    /// leaves the chain of dependent loads between a pointer and its page's
    /// owner.
    ///
    /// # Safety
    /// `this` is a live segment holding `p`, and descriptor
    /// `(p - this) >> shift`, `stride` bytes apart, lies in its header and
    /// leads back to `p`'s page (every normal segment with `shift` its
    /// `slice_shift` and `stride` its `page_stride`; a huge segment
    /// whose block starts at that descriptor's slice, see
    /// [`Segment::point_back`]).
    #[inline(always)]
    pub unsafe fn page_of_with(
        this: *mut Segment,
        p: *const u8,
        shift: u32,
        stride: usize,
    ) -> *mut Page {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let idx = ((p as usize) - (this as usize)) >> shift;
            // Byte offsets from the segment base, so that the page ends up as
            // the base plus one register (fields are then one addressing
            // mode away): descriptor `idx`, then back by its `slice_offset`.
            let desc = desc_offset(idx, stride);
            let back = *(this as *const u8)
                .add(desc + core::mem::offset_of!(Page, slice_offset))
                .cast::<u16>();
            (this as *mut u8).add(desc - back as usize) as *mut Page
        }
    }

    /// Makes descriptor `idx` of one-page segment `this` lead back to its
    /// page (descriptor 0), for [`Segment::page_of_with`] with a shift under
    /// the header's: only its `slice_offset` is written.
    ///
    /// # Safety
    /// `this` is a one-page segment of ours; the descriptor's bytes are
    /// committed and belong to no block.
    pub unsafe fn point_back(this: *mut Segment, idx: usize) {
        // SAFETY: guaranteed by the caller: a live header.
        let back = idx * unsafe { (*this).page_stride } as usize;
        debug_assert!(back <= u16::MAX as usize, "a back offset fits its field");
        // SAFETY: guaranteed by the caller; the field is written alone,
        // through the raw pointer (see "Access").
        unsafe {
            let desc = (this as *mut u8).add(desc_offset(idx, (*this).page_stride as usize));
            desc.add(core::mem::offset_of!(Page, slice_offset))
                .cast::<u16>()
                .write(back as u16);
        }
    }

    /// The index of descriptor `page` in `this`.
    ///
    /// # Safety
    /// `page` is one of `this`'s descriptors.
    #[inline]
    pub unsafe fn index_of(this: *mut Segment, page: *mut Page) -> usize {
        // SAFETY: both pointers are in the same header, `page_stride` bytes
        // a descriptor apart.
        unsafe { (page as usize - Segment::page(this, 0) as usize) / (*this).page_stride as usize }
    }

    /// Address of slice `i`.
    #[inline]
    pub fn slice_addr(this: *mut Segment, i: usize, slice_shift: u32) -> *mut u8 {
        (this as *mut u8).wrapping_add(i << slice_shift)
    }

    /// Initialises descriptors `[from, to)` to "unused". Out of line: its
    /// three callers (a new segment, one taken from the cache, the first
    /// claim past `described`) are all slow paths.
    ///
    /// # Safety
    /// The header's descriptor area is committed and writable up to `to`.
    #[inline(never)]
    pub unsafe fn reset_pages(this: *mut Segment, from: usize, to: usize) {
        for i in from..to {
            // SAFETY: descriptor `i` is in the committed header.
            unsafe { ptr::write(Segment::page(this, i), Page::new()) };
        }
    }

    /// Writes the descriptors not yet written (see [`Segment::described`]),
    /// before a slice past them is first claimed.
    ///
    /// # Safety
    /// `this` is a live normal segment of the caller's; the slices past
    /// `described` are free and uncommitted, so nothing reads their
    /// descriptors yet.
    #[inline]
    pub unsafe fn describe_all(this: *mut Segment) {
        // SAFETY: guaranteed by the caller; the header is committed up to
        // its last descriptor. Written through the raw pointer (see
        // "Access" on `Segment`).
        unsafe {
            let (from, to) = ((*this).described as usize, (*this).slice_count as usize);
            Segment::reset_pages(this, from, to);
            (*this).described = to as u8;
        }
    }

    /// True when every slice outside the header is free.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.free_mask
            == all_slices(self.slice_count as usize) & !low_bits(self.header_slices as usize)
    }

    /// Marks descriptors of `[first, first + n)` as one page starting at `first`.
    ///
    /// # Safety
    /// The range is inside the segment.
    // Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
    #[inline(never)]
    pub unsafe fn link_interior(this: *mut Segment, first: usize, n: usize) {
        for k in 1..n {
            // SAFETY: `first + k < slice_count` by the caller's guarantee.
            unsafe {
                let d = Segment::page(this, first + k);
                (*d).slice_offset = (k * (*this).page_stride as usize) as u16;
                (*d).class = PageClass::UNUSED;
            }
        }
    }
}

/// The byte offset from a segment's base of its descriptor `i`, with
/// descriptors `stride` bytes apart after the `Segment` fields.
#[inline(always)]
const fn desc_offset(i: usize, stride: usize) -> usize {
    size_of::<Segment>() + i * stride
}

/// Bits `[0, n)`.
#[inline]
pub(crate) const fn low_bits(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// Bits for all slices of a segment with `n` slices.
#[inline]
pub(crate) const fn all_slices(n: usize) -> u64 {
    low_bits(n)
}

/// Bits `[first, first + n)`.
#[inline]
pub(crate) const fn range_bits(first: usize, n: usize) -> u64 {
    low_bits(n) << first
}

/// The runs of set bits of `mask`, lowest first: `(first, len, bits)`, where
/// `bits` is `range_bits(first, len)`.
#[inline]
pub(crate) fn bit_runs(mut mask: u64) -> impl Iterator<Item = (usize, usize, u64)> {
    core::iter::from_fn(move || {
        if mask == 0 {
            return None;
        }
        let first = mask.trailing_zeros() as usize;
        let len = (!(mask >> first)).trailing_zeros() as usize;
        let bits = range_bits(first, len);
        mask &= !bits;
        Some((first, len, bits))
    })
}

/// Positions `i` where bits `[i, i + n)` of `mask` are all set, restricted to
/// multiples of `step`.
#[inline]
pub(crate) fn run_starts(mask: u64, n: usize, step: usize) -> u64 {
    let mut m = mask;
    let mut k = 1;
    while k < n && m != 0 {
        m &= mask >> k;
        k += 1;
    }
    if n > 64 {
        m = 0;
    }
    if step > 1 {
        let mut allowed = 0u64;
        let mut i = 0;
        while i < 64 {
            allowed |= 1 << i;
            i += step;
        }
        m &= allowed;
    }
    m
}

/// A doubly-linked list of segments through `Segment::next`/`prev`.
pub(crate) struct SegmentList {
    pub first: *mut Segment,
    pub last: *mut Segment,
    pub len: usize,
}

impl SegmentList {
    pub const EMPTY: SegmentList = SegmentList {
        first: ptr::null_mut(),
        last: ptr::null_mut(),
        len: 0,
    };

    /// # Safety
    /// `s` is valid and in no list.
    pub unsafe fn push_front(&mut self, s: *mut Segment) {
        // SAFETY: the caller guarantees validity of `s` and the list.
        unsafe {
            (*s).prev = ptr::null_mut();
            (*s).next = self.first;
            if self.first.is_null() {
                self.last = s;
            } else {
                (*self.first).prev = s;
            }
        }
        self.first = s;
        self.len += 1;
    }

    /// # Safety
    /// `s` is valid and in no list.
    pub unsafe fn push_back(&mut self, s: *mut Segment) {
        // SAFETY: the caller guarantees validity of `s` and the list.
        unsafe {
            (*s).next = ptr::null_mut();
            (*s).prev = self.last;
            if self.last.is_null() {
                self.first = s;
            } else {
                (*self.last).next = s;
            }
        }
        self.last = s;
        self.len += 1;
    }

    /// # Safety
    /// `s` is in this list.
    pub unsafe fn remove(&mut self, s: *mut Segment) {
        // SAFETY: the caller guarantees `s` is linked in this list.
        unsafe {
            let (prev, next) = ((*s).prev, (*s).next);
            if prev.is_null() {
                self.first = next;
            } else {
                (*prev).next = next;
            }
            if next.is_null() {
                self.last = prev;
            } else {
                (*next).prev = prev;
            }
            (*s).next = ptr::null_mut();
            (*s).prev = ptr::null_mut();
        }
        self.len -= 1;
    }
}

/// The segments waiting for a purge, through `purge_next`/`purge_prev`,
/// in the order their purges fall due (earliest first; segments due at
/// the same time in the order they came): the heap looks only at the first
/// to know whether any is due.
pub(crate) struct PurgeQueue {
    pub first: *mut Segment,
    pub last: *mut Segment,
}

impl PurgeQueue {
    pub const EMPTY: PurgeQueue = PurgeQueue {
        first: ptr::null_mut(),
        last: ptr::null_mut(),
    };

    /// Queues `s`, unless it is queued already, behind every queued
    /// segment whose purge is not due later than its own (`due`: when a
    /// segment's purge falls due, on a clock that may wrap). The search
    /// starts at the back: a segment's purge is most often due last.
    ///
    /// # Safety
    /// `s` is a live segment.
    pub unsafe fn enqueue(&mut self, s: *mut Segment, due: impl Fn(*mut Segment) -> u64) {
        // SAFETY: the caller guarantees `s` and the queued segments are live.
        unsafe {
            if (*s).in_purge_queue {
                return;
            }
            let at = due(s);
            let mut prev = self.last;
            while !prev.is_null() && due_before(at, due(prev)) {
                prev = (*prev).purge_prev;
            }
            let next = if prev.is_null() {
                core::mem::replace(&mut self.first, s)
            } else {
                core::mem::replace(&mut (*prev).purge_next, s)
            };
            if next.is_null() {
                self.last = s;
            } else {
                (*next).purge_prev = s;
            }
            (*s).in_purge_queue = true;
            (*s).purge_prev = prev;
            (*s).purge_next = next;
        }
    }

    /// Removes `s` if queued.
    ///
    /// # Safety
    /// `s` is a live segment.
    // Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
    #[inline(never)]
    pub unsafe fn remove(&mut self, s: *mut Segment) {
        // SAFETY: the caller guarantees `s` and the queued segments are live.
        unsafe {
            if !(*s).in_purge_queue {
                return;
            }
            let (prev, next) = ((*s).purge_prev, (*s).purge_next);
            if prev.is_null() {
                self.first = next;
            } else {
                (*prev).purge_next = next;
            }
            if next.is_null() {
                self.last = prev;
            } else {
                (*next).purge_prev = prev;
            }
            (*s).in_purge_queue = false;
            (*s).purge_next = ptr::null_mut();
            (*s).purge_prev = ptr::null_mut();
        }
    }
}

/// True when a time `a` comes before `b` on a clock that may wrap (they
/// are less than half its range apart).
pub(crate) fn due_before(a: u64, b: u64) -> bool {
    (b.wrapping_sub(a) as i64) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dues of the queue's segments, front to back (7 of them).
    fn order(q: &PurgeQueue) -> [u64; 7] {
        let mut v = [0; 7];
        let (mut s, mut n) = (q.first, 0);
        while !s.is_null() {
            // SAFETY: the test's segments live until its end.
            unsafe {
                v[n] = (*s).dirtied_at;
                n += 1;
                let next = (*s).purge_next;
                assert_eq!(next.is_null(), s == q.last);
                if !next.is_null() {
                    assert_eq!((*next).purge_prev, s);
                }
                s = next;
            }
        }
        assert_eq!(n, 7);
        v
    }

    #[test]
    fn the_purge_queue_keeps_the_order_purges_fall_due_in() {
        let res = || Reservation {
            base: ptr::null_mut(),
            size: 0,
            align: 0,
        };
        // Dues on a clock about to wrap: `MAX - 1` comes before 2.
        let dues = [7, u64::MAX - 1, 2, 7, 5, 9, u64::MAX - 1];
        let mut segs = dues.map(|_| Segment::blank(res(), 0, size_of::<Page>()));
        // Every pointer from one base, so that none invalidates another.
        let base = segs.as_mut_ptr();
        let seg: [*mut Segment; 7] = core::array::from_fn(|i| base.wrapping_add(i));
        let mut q = PurgeQueue::EMPTY;
        for (&s, &d) in seg.iter().zip(&dues) {
            // SAFETY: live segments, each queued once.
            unsafe {
                (*s).dirtied_at = d;
                q.enqueue(s, |s| (*s).dirtied_at);
            }
        }
        assert_eq!(order(&q), [u64::MAX - 1, u64::MAX - 1, 2, 5, 7, 7, 9]);
        // Equal dues keep the order they came in.
        assert_eq!(q.first, seg[1]);
        // Queued already: nothing moves; removed, it is queued again in place.
        let third = seg[2];
        // SAFETY: as above.
        unsafe {
            q.enqueue(third, |_| 100);
            assert_eq!(order(&q), [u64::MAX - 1, u64::MAX - 1, 2, 5, 7, 7, 9]);
            q.remove(third);
            (*third).dirtied_at = 8;
            q.enqueue(third, |s| (*s).dirtied_at);
        }
        assert_eq!(order(&q), [u64::MAX - 1, u64::MAX - 1, 5, 7, 7, 8, 9]);
    }

    #[test]
    fn run_starts_finds_only_full_runs() {
        let mask = 0b0111_0110u64;
        assert_eq!(run_starts(mask, 1, 1), mask);
        assert_eq!(run_starts(mask, 2, 1), 0b0011_0010);
        assert_eq!(run_starts(mask, 3, 1), 0b0001_0000);
        assert_eq!(run_starts(mask, 4, 1), 0);
        assert_eq!(run_starts(mask, 1, 4), 0b0001_0000);
        assert_eq!(run_starts(u64::MAX, 64, 1), 1);
    }

    #[test]
    fn bit_runs_lists_each_run_once() {
        let runs: [(usize, usize, u64); 3] = [(1, 2, 0b110), (5, 3, 0b1110_0000), (63, 1, 1 << 63)];
        let mask = runs.iter().fold(0, |m, r| m | r.2);
        let mut got = bit_runs(mask);
        for r in runs {
            assert_eq!(got.next(), Some(r));
        }
        assert_eq!(got.next(), None);
        assert_eq!(bit_runs(0).next(), None);
        let mut all = bit_runs(u64::MAX);
        assert_eq!(all.next(), Some((0, 64, u64::MAX)));
        assert_eq!(all.next(), None);
    }

    #[test]
    fn range_and_low_bits() {
        assert_eq!(range_bits(3, 2), 0b11000);
        assert_eq!(low_bits(64), u64::MAX);
        assert_eq!(low_bits(0), 0);
    }
}
