//! Release boundaries: the only places where memory goes back.
//!
//! * a page becomes empty → its slices return to the segment (still
//!   committed) and the segment joins the purge queue;
//! * the purge queue is worked a little at every slow-path event (the epoch):
//!   free slices idle for `purge_delay` events are decommitted;
//! * a segment becomes empty → the segment cache (bounded by count and bytes),
//!   then the `Os`;
//! * the only page of a class, kept when it empties, is freed by the epoch
//!   tick once idle for `purge_delay` events;
//! * [`Heap::collect`] on demand; out of memory flushes the cache and retries.
//!
//! Every event does bounded work: at most [`PURGE_PER_EVENT`] segments are
//! examined per slow-path event and the tick scans one queue head per class.

use crate::heap::Heap;
use crate::os::Os;
use crate::page::{Page, PageClass, PageFlags, OWNER_SLOW, RETIRED_UNSTAMPED};
use crate::page_queue::End;
use crate::segment::{range_bits, run_starts, Segment, SegmentKind};
use crate::size_class::CLASS_COUNT;
use crate::stats::CounterSink;
use crate::sync::Ordering;
use core::ptr;

/// Segments examined in the purge queue per slow-path event.
pub(crate) const PURGE_PER_EVENT: usize = 2;
/// Slow-path events between scans for idle kept pages.
pub(crate) const TICK_EVENTS: u64 = 64;

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Counts a slow-path event and does the release work that is due.
    #[inline]
    pub(crate) fn on_slow_event(&mut self) {
        self.epoch += 1;
        self.remote.flush();
        if !self.purge.first.is_null() {
            self.purge_due(PURGE_PER_EVENT);
        }
        if self.epoch % TICK_EVENTS == 0 {
            self.free_idle_pages(false);
        }
    }

    /// The time that purge delays are measured in: the `Os` clock in
    /// milliseconds if it has one, else the count of slow-path events.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.os.clock_ms().unwrap_or(self.epoch)
    }

    /// True when something that went idle at `since` has waited `delay`.
    fn delay_passed(delay: u32, now: u64, since: u64) -> bool {
        delay != u32::MAX && now.wrapping_sub(since) >= delay as u64
    }

    /// The purge delay of `seg`: `huge_purge_delay` for a huge segment
    /// (only cached ones are purged), `purge_delay` for the others.
    fn delay_of(&self, seg: *mut Segment) -> u32 {
        // SAFETY: callers pass a live segment of ours.
        if unsafe { (*seg).kind } == SegmentKind::Huge {
            self.config.huge_purge_delay
        } else {
            self.config.purge_delay
        }
    }

    /// Examines up to `limit` segments at the front of the purge queue,
    /// decommitting the free slices whose delay has passed. (Out of line:
    /// inlined, it would weigh on every slow path's registers.)
    #[inline(never)]
    pub(crate) fn purge_due(&mut self, limit: usize) {
        let now = self.now();
        for _ in 0..limit {
            let seg = self.purge.first;
            if seg.is_null() {
                return;
            }
            // SAFETY: queued segments are live and ours.
            let dirtied_at = unsafe { (*seg).dirtied_at };
            if Self::delay_passed(self.delay_of(seg), now, dirtied_at) {
                self.purge_segment(seg, false);
            } else {
                // Nothing in it is due yet: move it behind the others.
                // SAFETY: as above.
                unsafe {
                    self.purge.remove(seg);
                    self.purge.enqueue(seg);
                }
            }
        }
    }

    /// Decommits the free, committed slices of `seg` that have been free for
    /// the purge delay (all of them when `force`), and keeps the segment
    /// queued while others are still waiting.
    pub(crate) fn purge_segment(&mut self, seg: *mut Segment, force: bool) {
        let now = self.now();
        // SAFETY: `seg` is a live segment of ours.
        unsafe {
            self.purge.remove(seg);
            // Through the raw pointer: other threads read the header of a
            // segment with live blocks (see "Access" on `Segment`).
            let page_size = self.os.page_size();
            if (*seg).kind == SegmentKind::Huge {
                // Only cached huge segments are purged: keep the header.
                if !force
                    && !Self::delay_passed(self.config.huge_purge_delay, now, (*seg).dirtied_at)
                {
                    self.purge.enqueue(seg);
                    return;
                }
                let keep = crate::large::huge_kept_bytes(page_size);
                let committed = (*seg).committed_bytes;
                if committed > keep {
                    let len = committed - keep;
                    if self.os.decommit((seg as *mut u8).add(keep), len) {
                        self.decommitted_bytes += len as u64;
                        self.committed_bytes -= len;
                        self.cache_bytes -= len;
                        (*seg).committed_bytes = keep;
                        self.purges += 1;
                    }
                }
                return;
            }
            let g = self.geometry;
            if g.slice_size % page_size != 0 {
                return; // slices finer than the Os page: never decommitted
            }
            // Free slices carry the time they were freed in `retired_at`.
            let dirty = (*seg).free_mask & (*seg).committed_mask;
            let now32 = now as u32;
            let delay = self.config.purge_delay;
            let mut due = 0u64;
            let mut oldest_waiting = None::<u32>;
            let mut bits = dirty;
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let age = now32.wrapping_sub((*Segment::page(seg, i)).retired_at);
                if force || (delay != u32::MAX && age as u64 >= delay as u64) {
                    due |= 1 << i;
                } else {
                    oldest_waiting = Some(oldest_waiting.map_or(age, |a| a.max(age)));
                }
            }
            let mut any = false;
            while due != 0 {
                let first = due.trailing_zeros() as usize;
                let run = (!(due >> first)).trailing_zeros() as usize;
                let bits = range_bits(first, run);
                due &= !bits;
                let len = run << g.slice_shift;
                if self
                    .os
                    .decommit(Segment::slice_addr(seg, first, g.slice_shift), len)
                {
                    (*seg).committed_mask &= !bits;
                    (*seg).zero_mask &= !bits;
                    self.committed_bytes -= len;
                    if (*seg).cached {
                        self.cache_bytes -= len;
                    }
                    self.decommitted_bytes += len as u64;
                    any = true;
                }
            }
            if any {
                self.purges += 1;
            }
            if let Some(age) = oldest_waiting {
                (*seg).dirtied_at = now.wrapping_sub(age as u64);
                self.purge.enqueue(seg);
            }
        }
    }

    /// Returns the slices of an empty page (small or large) to its segment.
    ///
    /// # Safety
    /// `page` is an empty page of this heap in no queue.
    pub(crate) unsafe fn release_page_slices(&mut self, page: *mut Page) {
        // SAFETY: page descriptors live in their segment's header.
        unsafe {
            let seg = Segment::of(page as *const u8, self.segment_base_mask());
            let idx = Segment::index_of(seg, page);
            let n = (*page).slice_count as usize;
            for k in 1..n {
                (*Segment::page(seg, idx + k)).slice_offset = 0;
            }
            (*page).class = PageClass::UNUSED;
            (*page).flags = PageFlags::EMPTY;
            (*page).free = ptr::null_mut();
            (*page).local_free = ptr::null_mut();
            (*page).owner.store(OWNER_SLOW, Ordering::Relaxed);
            (*seg).free_mask |= range_bits(idx, n);
            self.note_slices_freed(seg, idx, n);
        }
    }

    /// Bookkeeping after slices `[idx, idx + n)` of `seg` became free: stamp
    /// their free time, move the segment forward, queue the purge.
    pub(crate) fn note_slices_freed(&mut self, seg: *mut Segment, idx: usize, n: usize) {
        let now = self.now();
        // SAFETY: `seg` is a live normal segment in `self.segments`.
        unsafe {
            for i in idx..idx + n {
                (*Segment::page(seg, i)).retired_at = now as u32;
            }
            if !(*seg).in_purge_queue {
                (*seg).dirtied_at = now;
            }
            if (*seg).is_empty() {
                self.segments.remove(seg);
                self.cache_put(seg);
                return;
            }
            if self.segments.first != seg {
                self.segments.remove(seg);
                self.segments.push_front(seg);
            }
            self.schedule_purge(seg);
        }
    }

    /// Queues `seg` for purging, or purges it now when the delay is 0.
    fn schedule_purge(&mut self, seg: *mut Segment) {
        match self.delay_of(seg) {
            0 => self.purge_segment(seg, true),
            u32::MAX => {}
            // SAFETY: `seg` is live and ours.
            _ => unsafe { self.purge.enqueue(seg) },
        }
    }

    /// Puts an empty normal or freed huge segment into the cache, evicting the
    /// oldest entries to stay within the bounds; releases it if it can't fit.
    /// The byte bound counts committed bytes: a purged segment in the cache
    /// holds address space only.
    pub(crate) fn cache_put(&mut self, seg: *mut Segment) {
        // SAFETY: `seg` is live, ours, and in no segment list.
        unsafe {
            let size = Segment::committed(seg);
            let max_count = self.config.segment_cache_count as usize;
            let max_bytes = self.cache_bound();
            if max_count == 0 || size > max_bytes {
                self.release_segment(seg);
                return;
            }
            while self.cache.len >= max_count || self.cache_bytes + size > max_bytes {
                let oldest = self.cache.last;
                self.cache.remove(oldest);
                (*oldest).cached = false;
                self.cache_bytes -= Segment::committed(oldest);
                self.release_segment(oldest);
            }
            (*seg).cached = true;
            self.cache.push_front(seg);
            self.cache_bytes += size;
            self.schedule_purge(seg);
        }
    }

    /// The byte bound of the segment cache: `segment_cache_bytes`, or the
    /// live huge bytes when more and `cache_follows_huge`.
    fn cache_bound(&self) -> usize {
        let fixed = self.config.segment_cache_bytes;
        if self.config.cache_follows_huge && fixed != 0 {
            fixed.max(self.huge_live_bytes)
        } else {
            fixed
        }
    }

    /// Takes a cached normal segment, or null.
    pub(crate) fn cache_take_normal(&mut self) -> *mut Segment {
        let mut seg = self.cache.first;
        while !seg.is_null() {
            // SAFETY: cached segments are live and ours.
            unsafe {
                if (*seg).kind == SegmentKind::Normal {
                    self.cache_remove(seg);
                    return seg;
                }
                seg = (*seg).next;
            }
        }
        ptr::null_mut()
    }

    /// Takes the cached huge segment that serves a block ending `need`
    /// bytes after its header with the fewest new commits, or null (also
    /// when that would commit more than a quarter of `need` though the
    /// segment holds more than that committed, while the cache has room to
    /// grow). A segment qualifies when its reservation is at
    /// least `need` and at most eight times that, or, when `grow` (the `Os` can remap), smaller but
    /// with at least a quarter of `need` still committed; among equals the
    /// one that needs no remap, then the smaller. Segments reserved with a
    /// larger alignment (whose header is not at the reservation's start) are
    /// not reused.
    pub(crate) fn cache_take_huge(&mut self, need: usize, grow: bool) -> *mut Segment {
        let mut best: *mut Segment = ptr::null_mut();
        let mut best_key = (usize::MAX, true, usize::MAX, usize::MAX);
        let mut seg = self.cache.first;
        while !seg.is_null() {
            // SAFETY: cached segments are live and ours.
            unsafe {
                let s = &*seg;
                let (size, committed) = (s.reserved_size, s.committed_bytes);
                let fits = size >= need && size / 8 <= need;
                let growable = grow && size < need && committed >= need / 4;
                if s.kind == SegmentKind::Huge
                    && s.reservation == seg as *mut u8
                    && (fits || growable)
                {
                    let key = (need.saturating_sub(committed), !fits, committed, size);
                    if key < best_key {
                        best = seg;
                        best_key = key;
                    }
                }
                seg = s.next;
            }
        }
        // A poor fit that still holds committed memory, while the cache has
        // room: a new reservation lets the cache grow to the working set,
        // where later requests find committed memory that fits. (A purged
        // segment is reused: a new reservation would fault as much.)
        let room = self.cache.len < self.config.segment_cache_count as usize
            && self.cache_bytes < self.cache_bound();
        if best.is_null() || (best_key.0 > need / 4 && best_key.2 > need / 4 && room) {
            return ptr::null_mut();
        }
        self.cache_remove(best);
        best
    }

    /// Takes `seg` out of the cache (and the purge queue); a normal
    /// segment's page descriptors are reset, its slices keep their state.
    fn cache_remove(&mut self, seg: *mut Segment) {
        // SAFETY: `seg` is a live cached segment of ours.
        unsafe {
            self.cache.remove(seg);
            self.purge.remove(seg);
            (*seg).cached = false;
            self.cache_bytes -= Segment::committed(seg);
            if (*seg).kind == SegmentKind::Normal {
                Segment::reset_pages(seg, (*seg).slice_count as usize);
            }
        }
    }

    /// Takes out of the cache a normal segment that has a run of `n` free,
    /// committed slices (index a multiple of `step`), and lists it as in use;
    /// null when none has.
    pub(crate) fn cache_take_committed_run(&mut self, n: usize, step: usize) -> *mut Segment {
        let mut seg = self.cache.first;
        while !seg.is_null() {
            // SAFETY: cached segments are live and ours.
            unsafe {
                let s = &*seg;
                if s.kind == SegmentKind::Normal
                    && run_starts(s.free_mask & s.committed_mask, n, step) != 0
                {
                    self.cache_remove(seg);
                    self.segments.push_front(seg);
                    return seg;
                }
                seg = s.next;
            }
        }
        ptr::null_mut()
    }

    /// Out of memory (a refused commit or reservation): frees kept empty
    /// pages, purges every queued segment regardless of the delay and releases
    /// the cache, so that memory merely waiting for its delay is used before
    /// the heap reports out of memory. True when anything was given back.
    pub(crate) fn relieve_memory_pressure(&mut self) -> bool {
        let pages_before: u32 = self.pages_per_class.iter().sum();
        let before = (self.decommitted_bytes, self.reserved_bytes);
        self.free_idle_pages(true);
        let pages_freed = self.pages_per_class.iter().sum::<u32>() != pages_before;
        while !self.purge.first.is_null() {
            self.purge_segment(self.purge.first, true);
        }
        self.release_cache();
        pages_freed || (self.decommitted_bytes, self.reserved_bytes) != before
    }

    /// Commits `[ptr, ptr + len)`, relieving memory pressure and trying once
    /// more if the `Os` refuses.
    pub(crate) fn commit_or_relieve(&mut self, ptr: *mut u8, len: usize) -> bool {
        // SAFETY: callers pass a range inside one of our reservations.
        unsafe {
            self.os.commit(ptr, len) || (self.relieve_memory_pressure() && self.os.commit(ptr, len))
        }
    }

    /// Releases every cached segment; true when any was released.
    pub(crate) fn release_cache(&mut self) -> bool {
        let mut any = false;
        while !self.cache.first.is_null() {
            let seg = self.cache.first;
            // SAFETY: cached segments are live and ours.
            unsafe {
                self.cache.remove(seg);
                (*seg).cached = false;
                self.cache_bytes -= Segment::committed(seg);
            }
            self.release_segment(seg);
            any = true;
        }
        any
    }

    /// Gives a segment (in no list) back to the `Os`.
    pub(crate) fn release_segment(&mut self, seg: *mut Segment) {
        // SAFETY: `seg` is live, ours, and in no segment list.
        unsafe {
            self.purge.remove(seg);
            let committed = Segment::committed(seg);
            let s = &*seg;
            self.committed_bytes -= committed;
            self.reserved_bytes -= s.reserved_size;
            let (base, size, align) = (s.reservation, s.reserved_size, s.reserved_align);
            self.os.release(base, size, align);
        }
    }

    /// Frees kept empty pages: those idle for the purge delay, or all when
    /// `force`.
    #[inline(never)]
    pub(crate) fn free_idle_pages(&mut self, force: bool) {
        // The clock is read only if a lone page is empty.
        let mut now = None;
        // Only classes with a lone page (`free_any_page` below clears bits,
        // so iterate over a copy).
        let mut lone = self.pages.lone_mask();
        while lone != 0 {
            let c = lone.trailing_zeros() as usize;
            lone &= lone - 1;
            let page = self.pages.first(c);
            if page.is_null() {
                continue;
            }
            // SAFETY: queued pages are live and ours.
            unsafe {
                // Through the raw pointer (see "Access" on `Page`).
                if (*page).used != 0 || !(*page).next.is_null() {
                    continue;
                }
                let now = *now.get_or_insert_with(|| self.now());
                let due = if force {
                    true
                } else if (*page).retired_at == RETIRED_UNSTAMPED {
                    // First tick to see it empty: start its idle time now.
                    (*page).retired_at = (now as u32).min(RETIRED_UNSTAMPED - 1);
                    false
                } else {
                    // `retired_at` keeps the low 32 bits of `now()`.
                    let idle = (now as u32).wrapping_sub((*page).retired_at) as u64;
                    let delay = self.config.purge_delay;
                    delay != u32::MAX && idle >= delay as u64
                };
                if due {
                    self.free_any_page(page);
                }
            }
        }
    }

    /// True when memory of this heap waits for its purge delay: a segment
    /// in the purge queue (free slices, or a cached segment not yet
    /// purged) or an empty page kept for its class. What `collect(false)`
    /// calls made after the delay would give back. Work is proportional to
    /// the classes with a lone page.
    pub fn has_pending_release(&self) -> bool {
        if !self.purge.first.is_null() {
            return true;
        }
        let mut lone = self.pages.lone_mask();
        while lone != 0 {
            let c = lone.trailing_zeros() as usize;
            lone &= lone - 1;
            let page = self.pages.first(c);
            // SAFETY: queued pages are live and ours (read through the raw
            // pointer, see "Access" on `Page`).
            if !page.is_null() && unsafe { (*page).used } == 0 {
                return true;
            }
        }
        false
    }

    /// Publishes the remote frees this heap has batched (blocks it freed to
    /// another heap's page, see `remote_buffer.rs`), so that their owner can
    /// reuse them. Every slow path, `collect` and `Drop` do this already; call
    /// it when a heap that may have freed other heaps' blocks goes unused for
    /// a while without either.
    pub fn flush_remote_frees(&mut self) {
        self.remote.flush();
    }

    /// Collects remote frees from every page, frees empty pages and does the
    /// due purges. With `force`, also frees kept pages, purges regardless of
    /// the delay, and releases the segment cache.
    ///
    /// Also folds every page's pending counts into the heap's sink (see
    /// [`Heap::flush_stats`]).
    ///
    /// Work is proportional to the heap's pages: call it at quiet moments
    /// (idle, thread exit, low memory), not per operation.
    pub fn collect(&mut self, force: bool) {
        self.epoch += 1;
        self.remote.flush();
        for c in 0..CLASS_COUNT {
            let mut page = self.pages.first(c);
            while !page.is_null() {
                // SAFETY: queued pages are live and ours.
                unsafe {
                    let next = (*page).next;
                    self.merge_and_fold(page);
                    let only = self.pages.first(c) == page && next.is_null();
                    if (*page).used == 0 && (force || !only) {
                        self.free_any_page(page);
                    }
                    page = next;
                }
            }
        }
        self.reclaim_full_pages();
        // Every page's pending counts reach the sink (the collection above
        // folded in those of the queued pages already).
        self.flush_stats();
        if force {
            self.free_idle_pages(true);
            let mut seg = self.segments.first;
            while !seg.is_null() {
                // SAFETY: listed segments are live and ours.
                let next = unsafe { (*seg).next };
                self.purge_segment(seg, true);
                seg = next;
            }
            while !self.purge.first.is_null() {
                self.purge_segment(self.purge.first, true);
            }
            self.release_cache();
        } else {
            self.free_idle_pages(false);
            let mut n = 0;
            let mut seg = self.purge.first;
            while !seg.is_null() {
                n += 1;
                // SAFETY: queued segments are live.
                seg = unsafe { (*seg).purge_next };
            }
            self.purge_due(n);
        }
    }

    /// Bytes this heap keeps committed that hold no block: free slices of its
    /// segments that are still committed, and the committed memory of its
    /// cached segments. This is what `collect(true)` would give back beyond
    /// `collect(false)` (apart from kept pages and the free blocks inside
    /// pages in use). Work is proportional to the heap's segments.
    pub fn free_committed_bytes(&self) -> usize {
        let mut bytes = 0;
        let mut seg = self.segments.first;
        while !seg.is_null() {
            // SAFETY: listed segments are live and ours; read through the raw
            // pointer (see "Access" on `Segment`).
            unsafe {
                let idle = (*seg).free_mask & (*seg).committed_mask;
                bytes += (idle.count_ones() as usize) << (*seg).slice_shift;
                seg = (*seg).next;
            }
        }
        let mut seg = self.cache.first;
        while !seg.is_null() {
            // SAFETY: cached segments are live and ours.
            unsafe {
                bytes += Segment::committed(seg);
                seg = (*seg).next;
            }
        }
        bytes
    }

    /// Collects the remote frees of every page in the `full` queue: pages that
    /// became empty are freed, small pages with free blocks are queued again.
    /// True when any page changed. Work is proportional to the full pages.
    pub(crate) fn reclaim_full_pages(&mut self) -> bool {
        let mut any = false;
        let mut page = self.pages.full_first();
        while !page.is_null() {
            // SAFETY: pages in `full` are live and ours.
            unsafe {
                let next = (*page).next;
                if (*page).has_remote() {
                    self.merge_and_fold(page);
                    // Through the raw pointer only: the queues reach the
                    // page through it too.
                    if (*page).used == 0 {
                        self.pages.leave_full(page);
                        self.free_any_page(page);
                        any = true;
                    } else if (*page).class.is_small() && !(*page).free.is_null() {
                        self.pages.leave_full(page);
                        self.pages.push((*page).class.index(), page, End::Back);
                        any = true;
                    }
                }
                page = next;
            }
        }
        any
    }

    /// Gives every segment back to the `Os` (on drop).
    pub(crate) fn release_everything(&mut self) {
        // Counts pending in pages reach the sink, which may outlive the heap.
        self.flush_stats();
        self.release_cache();
        for list in [0, 1] {
            loop {
                let seg = if list == 0 {
                    self.segments.first
                } else {
                    self.huge.first
                };
                if seg.is_null() {
                    break;
                }
                // SAFETY: listed segments are live and ours.
                unsafe {
                    if list == 0 {
                        self.segments.remove(seg);
                    } else {
                        self.huge.remove(seg);
                    }
                }
                self.release_segment(seg);
            }
        }
        self.pages.clear();
        self.huge_live_bytes = 0;
    }
}

impl<O: Os, C: CounterSink> Drop for Heap<O, C> {
    fn drop(&mut self) {
        self.remote.flush();
        self.release_everything();
    }
}
