//! The invariant checker: [`Heap::check_invariants`] walks the whole heap
//! and names the first invariant that does not hold. The invariants, as
//! the rest of the crate states them in prose:
//!
//! * the page queues (see `page_queue.rs`): membership flags, links, the
//!   direct table equal to the queue heads, `lone_mask`, `PageFlags::KEEP`, the
//!   full pages' folded bytes;
//! * every page in use is in exactly one queue, owned by this heap (its
//!   owner word is the heap's id, with `OWNER_SLOW` exactly while in
//!   `full`), and `used + |free| + |local_free| + parked = capacity <=
//!   reserved`, with every block on those lists a block start of the page
//!   outside its parked run (`Page::parked_of`);
//! * a normal segment's masks: free slices outside the header, used and
//!   header slices committed, known-zero slices committed; its descriptors
//!   tile the used slices into pages (interior descriptors point back),
//!   and free slices have unused descriptors; segments with no free slice
//!   at the back of the list;
//! * huge segments hold one page, of `PageClass::HUGE`, in use;
//! * cached segments are flagged cached and `cache_bytes` is their
//!   committed bytes; segments are flagged in the purge queue exactly
//!   while in it;
//! * the counts are a recount: `committed_bytes`, `reserved_bytes`,
//!   `pages_per_class`, `large_spans`, `huge_allocs`, `huge_live_bytes`.
//!
//! Work is proportional to the heap's segments, pages and free blocks: for
//! tests, model tests and fuzzing, not for production paths.

use crate::heap::Heap;
use crate::list_walk::ListWalk;
use crate::os::Os;
use crate::page::{Block, Page, PageClass, PageFlags, OWNER_SLOW};
use crate::segment::{all_slices, low_bits, Segment, SegmentKind};
use crate::size_class::CLASS_COUNT;
use crate::stats::CounterSink;
use crate::sync::Ordering;

/// The first invariant found broken, by name.
pub type Broken = &'static str;

/// Recounts of what the heap's counters summarise.
struct Recount {
    committed: usize,
    reserved: usize,
    pages_per_class: [u32; CLASS_COUNT],
    large_spans: usize,
    huge_allocs: usize,
    huge_live: usize,
    cached_committed: usize,
    pages_in_segments: usize,
}

impl Recount {
    const ZERO: Recount = Recount {
        committed: 0,
        reserved: 0,
        pages_per_class: [0; CLASS_COUNT],
        large_spans: 0,
        huge_allocs: 0,
        huge_live: 0,
        cached_committed: 0,
        pages_in_segments: 0,
    };
}

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Checks every invariant of the heap (see `validate.rs`); the error
    /// names the first one broken. Work is proportional to the heap's
    /// segments, pages and free blocks. Call it with no other thread using
    /// the heap's pages' lists (remote frees may run meanwhile).
    pub fn check_invariants(&self) -> Result<(), Broken> {
        let mut count = Recount::ZERO;
        self.check_segments(&mut count)?;
        let mut queued = 0usize;
        let mut err = None;
        self.pages.validate(|page| self.is_live_page(page))?;
        self.for_each_queued_page(|page, in_full| {
            queued += 1;
            if err.is_none() {
                // SAFETY: `validate` above vouched that every queued page is
                // a live page of this heap.
                err = unsafe { self.check_page(page, in_full) }.err();
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
        if queued != count.pages_in_segments {
            return Err("a page in use is in no queue");
        }
        self.check_counts(&count)
    }

    /// [`Heap::check_invariants`], panicking with the broken invariant's
    /// name.
    #[track_caller]
    pub fn assert_valid(&self) {
        if let Err(e) = self.check_invariants() {
            panic!("masu: heap invariant broken: {e}");
        }
    }

    /// True when `page` is the first descriptor of a page in use in one of
    /// this heap's segments.
    fn is_live_page(&self, page: *mut Page) -> bool {
        let seg = Segment::of(page as *const u8, self.segment_base_mask());
        let listed = |mut s: *mut Segment| {
            while !s.is_null() {
                if s == seg {
                    return true;
                }
                // SAFETY: listed segments are live and ours.
                s = unsafe { (*s).next };
            }
            false
        };
        if !listed(self.lists.normal_first()) && !listed(self.lists.huge_first()) {
            return false;
        }
        // SAFETY: `seg` is a live segment of ours; `page` lies in its header
        // when it is one of its descriptors, which the index check confirms.
        unsafe {
            let off = page as usize - (seg as usize + core::mem::size_of::<Segment>());
            let stride = (*seg).page_stride as usize;
            let i = off / stride;
            off % stride == 0
                && i < (*seg).described as usize
                && (*page).class != PageClass::UNUSED
                && (*page).slice_offset == 0
        }
    }

    /// The invariants of one queued page.
    ///
    /// # Safety
    /// `page` is a live page of this heap.
    unsafe fn check_page(&self, page: *mut Page, in_full: bool) -> Result<(), Broken> {
        // SAFETY: guaranteed by the caller; the owner's fields are read
        // through a shared reference for a moment (see "Access" on `Page`).
        let p = unsafe { &*page };
        let owner = p.owner.load(Ordering::Relaxed);
        let expect = if in_full {
            self.id | OWNER_SLOW
        } else {
            self.id
        };
        if owner != expect {
            return Err(
                "a page's owner word is not the heap's id (with OWNER_SLOW exactly in full)",
            );
        }
        // SAFETY: `p` is a live descriptor (a reference to it).
        let used = unsafe { Page::used_of(p) };
        if used > p.capacity || p.capacity > p.reserved {
            return Err("a page's used <= capacity <= reserved does not hold");
        }
        // SAFETY: as above.
        let ((parked_from, parked_len, _), parked) =
            unsafe { (Page::parked_of(p), Page::parked_count(p)) };
        if parked_len != 0 && parked_from + parked_len > p.capacity as usize {
            return Err("a page's parked run reaches past its carved blocks");
        }
        let free = count_list(p, p.free_list())?;
        let local = count_list(p, p.local_list())?;
        let parked_remote = parked_remote_frees(p)?;
        if used as usize + free + local + parked != p.capacity as usize + parked_remote {
            return Err("a page's used + free + local_free + parked differs from its capacity");
        }
        if p.class.is_span() && (p.capacity != 1 || !p.flags.has(PageFlags::IN_FULL)) {
            return Err("a large or huge page is not a one-block page filed full");
        }
        Ok(())
    }

    /// Walks the segment lists: masks, descriptors, flags, and recounts.
    fn check_segments(&self, count: &mut Recount) -> Result<(), Broken> {
        let mut seen_full = false;
        let mut seg = self.lists.normal_first();
        let mut len = 0;
        while !seg.is_null() {
            // SAFETY: listed segments are live and ours.
            unsafe {
                if (*seg).kind != SegmentKind::Normal || (*seg).cached {
                    return Err("the segment list holds a huge or cached segment");
                }
                if (*seg).free_mask == 0 {
                    seen_full = true;
                } else if seen_full {
                    return Err("a segment with free slices sits behind a full one");
                }
                self.check_normal_segment(seg, count)?;
                len += 1;
                seg = (*seg).next;
            }
        }
        if len != self.lists.in_use().0 {
            return Err("the segment list's length is not its count");
        }
        let mut seg = self.lists.huge_first();
        let mut len = 0;
        while !seg.is_null() {
            // SAFETY: listed segments are live and ours.
            unsafe {
                let page = Segment::page(seg, 0);
                if (*seg).kind != SegmentKind::Huge
                    || (*seg).cached
                    || (*page).class != PageClass::HUGE
                {
                    return Err("the huge list holds a segment that is not a huge one in use");
                }
                count.huge_allocs += 1;
                count.huge_live += (*page).block_size;
                count.pages_in_segments += 1;
                count.committed += Segment::committed(seg);
                count.reserved += (*seg).reserved_size;
                len += 1;
                seg = (*seg).next;
            }
        }
        if len != self.lists.in_use().1 {
            return Err("the huge list's length is not its count");
        }
        self.check_arenas(count)?;
        self.check_cache(count)
    }

    /// The arena list: each arena's `Tlsf` and descriptor, and recounts.
    fn check_arenas(&self, count: &mut Recount) -> Result<(), Broken> {
        if !Self::ARENAS {
            return Ok(());
        }
        let mut seg = self.lists.arena_first();
        let mut len = 0;
        while !seg.is_null() {
            // SAFETY: listed arenas are live and ours.
            unsafe {
                if (*seg).kind != SegmentKind::Arena || (*seg).cached {
                    return Err("the arena list holds a segment that is not an arena");
                }
                self.check_arena(seg)?;
                count.committed += Segment::committed(seg);
                count.reserved += (*seg).reserved_size;
                len += 1;
                seg = (*seg).next;
            }
        }
        if len != self.lists.arena_count() {
            return Err("the arena list's length is not its count");
        }
        Ok(())
    }

    /// A normal segment's masks and descriptors.
    ///
    /// # Safety
    /// `seg` is a live normal segment of this heap.
    unsafe fn check_normal_segment(
        &self,
        seg: *mut Segment,
        count: &mut Recount,
    ) -> Result<(), Broken> {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let n = (*seg).slice_count as usize;
            let header = low_bits((*seg).header_slices as usize);
            // The free fast path finds a block's page by the heap's shift and
            // stride, not the segment's (`Heap::fast_page_of`).
            if (*seg).slice_shift != self.slice_shift()
                || (*seg).page_stride as usize != self.page_stride()
            {
                return Err("a segment's slice shift or page stride is not its heap's");
            }
            let (free, committed) = ((*seg).free_mask, (*seg).committed_mask);
            if free & header != 0 || free & !all_slices(n) != 0 {
                return Err("a segment's free_mask covers its header or slices past its end");
            }
            if !free & all_slices(n) & !committed != 0 {
                return Err("a used or header slice of a segment is not committed");
            }
            if (*seg).zero_mask & !committed != 0 {
                return Err("a segment's zero_mask covers uncommitted slices");
            }
            count.committed += Segment::committed(seg);
            count.reserved += (*seg).reserved_size;
            let described = (*seg).described as usize;
            if described > n || described < (*seg).header_slices as usize {
                return Err("a segment's described count lies outside its slices");
            }
            let undescribed = all_slices(n) & !low_bits(described);
            if undescribed & !(free & !committed) != 0 {
                return Err("a slice past the described descriptors is used or committed");
            }
            let mut i = (*seg).header_slices as usize;
            while i < described {
                let d = Segment::page(seg, i);
                if free & (1 << i) != 0 {
                    if (*d).class != PageClass::UNUSED || (*d).slice_offset != 0 {
                        return Err("a free slice's descriptor is not unused");
                    }
                    // `secure`'s free check takes no block there (`check_free`).
                    #[cfg(all(feature = "secure", not(feature = "checks")))]
                    if (*d).span_bytes != 0 {
                        return Err("a free slice's descriptor has a block span");
                    }
                    i += 1;
                    continue;
                }
                let len = (*d).slice_count as usize;
                if (*d).class == PageClass::UNUSED
                    || (*d).slice_offset != 0
                    || len == 0
                    || i + len > n
                {
                    return Err("a used slice does not start a page of its segment");
                }
                for k in 1..len {
                    let inner = Segment::page(seg, i + k);
                    if free & (1 << (i + k)) != 0
                        || (*inner).slice_offset as usize != k * (*seg).page_stride as usize
                    {
                        return Err("a page's interior descriptor does not point back to it");
                    }
                    #[cfg(all(feature = "secure", not(feature = "checks")))]
                    if (*inner).span_bytes != 0 {
                        return Err("a page's interior descriptor has a block span");
                    }
                }
                match (*d).class {
                    PageClass::LARGE => count.large_spans += 1,
                    PageClass::HUGE => return Err("a normal segment holds a huge page"),
                    c => count.pages_per_class[c.index()] += 1,
                }
                count.pages_in_segments += 1;
                i += len;
            }
        }
        Ok(())
    }

    /// The cache and the purge queue.
    fn check_cache(&self, count: &mut Recount) -> Result<(), Broken> {
        let mut seg = self.lists.cache_first();
        let mut len = 0;
        while !seg.is_null() {
            // SAFETY: cached segments are live and ours.
            unsafe {
                if !(*seg).cached {
                    return Err("a segment in the cache is not flagged cached");
                }
                let c = Segment::committed(seg);
                count.cached_committed += c;
                count.committed += c;
                count.reserved += (*seg).reserved_size;
                len += 1;
                seg = (*seg).next;
            }
        }
        if len != self.lists.cached().0 {
            return Err("the cache's length is not its count");
        }
        let mut seg = self.lists.purge_first();
        let mut last_due = None;
        while !seg.is_null() {
            // SAFETY: queued segments are live and ours.
            unsafe {
                if !(*seg).in_purge_queue {
                    return Err("a segment in the purge queue is not flagged in it");
                }
                let due = self.purge_due_at(seg);
                if last_due.is_some_and(|last| crate::segment::due_before(due, last)) {
                    return Err("the purge queue is not in the order its purges fall due");
                }
                last_due = Some(due);
                seg = (*seg).purge_next;
            }
        }
        Ok(())
    }

    /// The heap's counters against the recount.
    fn check_counts(&self, count: &Recount) -> Result<(), Broken> {
        if count.committed != self.store.committed_bytes() {
            return Err("committed_bytes differs from the segments' committed bytes");
        }
        if count.reserved != self.store.reserved_bytes() {
            return Err("reserved_bytes differs from the segments' reservations");
        }
        if count.cached_committed != self.lists.cached().1 {
            return Err("cache_bytes differs from the cached segments' committed bytes");
        }
        let (pages_per_class, large_spans, huge_allocs, huge_live) = self.counts.recountable();
        if count.pages_per_class != *pages_per_class {
            return Err("pages_per_class differs from a recount of the small pages");
        }
        if count.large_spans != large_spans {
            return Err("large_spans differs from a recount of the large pages");
        }
        if count.huge_allocs != huge_allocs {
            return Err("huge_allocs differs from the huge segments in use");
        }
        if count.huge_live != huge_live {
            return Err("huge_live_bytes differs from the huge blocks' sizes");
        }
        Ok(())
    }
}

/// The blocks that the `thread_free` word of `page` counts but its list
/// no longer holds: parked from behind its head (`Page::parked_of`); they
/// are in `used` until the owner's collect subtracts the count.
fn parked_remote_frees(page: &Page) -> Result<usize, Broken> {
    // SAFETY: a live descriptor.
    if !unsafe { Page::counts_remote(page) } {
        return Ok(0);
    }
    let word = page.thread_free.load(Ordering::Acquire);
    let (head, count) = crate::page::remote_word_parts(word, true);
    let listed = count_list(page, head)?;
    (count as usize)
        .checked_sub(listed)
        .ok_or("a page's thread_free list holds more blocks than its word counts")
}

/// The length of the free list of `page` starting at `head`; an error when
/// it holds something other than the page's block starts (a parked block
/// included; the run's hole may be listed) or is longer than the page (a
/// cycle).
fn count_list(page: &Page, head: *mut Block) -> Result<usize, Broken> {
    // SAFETY: a live descriptor, read by the heap's owner.
    let (parked_from, parked_len, hole) = unsafe { Page::parked_of(page) };
    let parked = |b: *mut Block| {
        let i = (b as usize - page.start as usize) / page.block_size;
        (parked_from..parked_from + parked_len).contains(&i) && i != hole
    };
    let mut n = 0usize;
    // SAFETY: the owner walks its own page's list.
    for step in unsafe { ListWalk::new(page, head) } {
        match step {
            Ok(b) if !parked(b) => n += 1,
            _ => return Err("a page's free list holds something other than its free blocks"),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use crate::{Config, FixedRegion, Heap};
    use core::alloc::Layout;

    const ARENA: usize = 1 << 20;

    /// A heap over a fresh, leaked arena with a few blocks of several kinds.
    fn heap_with_blocks() -> (Heap<FixedRegion>, [*mut u8; 4]) {
        let layout = Layout::from_size_align(ARENA, 4096).unwrap();
        // SAFETY: a non-zero size; the arena is never freed.
        let arena = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!arena.is_null());
        let os = FixedRegion::empty();
        // SAFETY: the arena is ours and lives for the rest of the process.
        unsafe { os.init(arena, ARENA) };
        let mut heap = Heap::new(os, Config::SMALL_REGION.with_direct_above(usize::MAX));
        let sizes = [24, 200, 3000, 40_000];
        let blocks = sizes.map(|s| heap.alloc(Layout::from_size_align(s, 8).unwrap()));
        assert!(blocks.iter().all(|b| !b.is_null()));
        heap.assert_valid();
        (heap, blocks)
    }

    #[test]
    fn a_fresh_and_a_busy_heap_are_valid() {
        let (mut heap, blocks) = heap_with_blocks();
        // SAFETY: blocks of this heap, freed once.
        unsafe { heap.dealloc(blocks[1], Layout::from_size_align(200, 8).unwrap()) };
        heap.assert_valid();
        heap.collect(true);
        heap.assert_valid();
    }

    #[test]
    fn each_corruption_is_named() {
        type Corrupt = fn(&mut Heap<FixedRegion>, [*mut u8; 4]);
        fn used(h: &mut Heap<FixedRegion>, b: [*mut u8; 4]) {
            // SAFETY: the page of a live block of this heap.
            unsafe {
                let p = page_of(h, b[0]);
                crate::page::Page::set_used(p, crate::page::Page::used_of(p) + 1);
            }
        }
        fn in_queue(h: &mut Heap<FixedRegion>, b: [*mut u8; 4]) {
            // SAFETY: the page of a live block of this heap.
            unsafe {
                (*page_of(h, b[1]))
                    .flags
                    .remove(crate::page::PageFlags::IN_QUEUE)
            }
        }
        fn committed_mask(h: &mut Heap<FixedRegion>, b: [*mut u8; 4]) {
            let seg = crate::segment::Segment::of(b[2], h.segment_base_mask());
            // SAFETY: the segment of a live block of this heap.
            unsafe { (*seg).committed_mask = 0 }
        }
        fn stride(h: &mut Heap<FixedRegion>, b: [*mut u8; 4]) {
            let seg = crate::segment::Segment::of(b[0], h.segment_base_mask());
            // SAFETY: the segment of a live block of this heap.
            unsafe { (*seg).page_stride += 64 }
        }
        let cases: [(Corrupt, &str); 7] = [
            (|h, _| h.counts.corrupt_page_count(3), "pages_per_class"),
            (|h, _| h.store.corrupt_committed(4096), "committed_bytes"),
            (|h, _| h.counts.corrupt_large_spans(), "large_spans"),
            (used, "used + free + local_free"),
            (in_queue, "flagged in-queue"),
            (committed_mask, "not committed"),
            (stride, "page stride"),
        ];
        for (corrupt, name) in cases {
            let (mut heap, blocks) = heap_with_blocks();
            corrupt(&mut heap, blocks);
            let err = heap.check_invariants().expect_err(name);
            assert!(err.contains(name), "expected {name:?}, got {err:?}");
            // Dropping a corrupted heap may misbehave: leak it.
            core::mem::forget(heap);
        }
    }

    fn page_of(h: &Heap<FixedRegion>, p: *mut u8) -> *mut crate::page::Page {
        let seg = crate::segment::Segment::of(p, h.segment_base_mask());
        // SAFETY: `p` is a live block of the heap.
        unsafe { crate::segment::Segment::page_of(seg, p) }
    }
}
