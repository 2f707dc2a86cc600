//! Release boundaries: the only places where memory goes back.
//!
//! * a page becomes empty → its slices return to the segment (still
//!   committed) and the segment joins the purge queue;
//! * the purge queue is worked a little at every slow-path event (the epoch):
//!   free slices idle for `purge_delay` events are decommitted;
//! * a segment becomes empty → the segment cache (bounded by count and bytes,
//!   see `segment_cache.rs`), then the `Os`;
//! * the only page of a class, kept when it empties, is freed by the epoch
//!   tick once idle for `purge_delay` events;
//! * the epoch tick checks a few pages of the `full` queue or behind the
//!   first of a class queue for other threads' frees, and frees those that
//!   emptied (`Config::full_rescan`);
//! * [`Heap::collect`] on demand (see `collect.rs`); out of memory flushes
//!   the cache and retries;
//! * a hold ([`Heap::hold_purges`], the std shim's thread exit) keeps due
//!   purges waiting until it ends (`collect(true)` purges regardless).
//!
//! Every event does bounded work: at most [`PURGE_PER_EVENT`] segments are
//! examined per slow-path event and the tick scans one queue head per class.
//!
//! A heap waking (`Config::wake_keep`): the delay is counted from the time
//! a slice was freed, so after a pause longer than the delay everything
//! the heap freed before it is due at its first slow path, just when a new
//! burst is about to take that memory again: purging it then only makes
//! the burst fault it back in. So when the owner's slow path finds that it
//! last looked at the purge queue more than a delay ago, it leaves the
//! queue alone for one more delay from now; what the burst does not take
//! back by then goes as before, and what was due at the second waking
//! before goes at a waking (slow paths spaced more than a delay apart are
//! each a waking: without that they would hold the queue for ever). A
//! pause is also longer than two of the clock's ticks
//! ([`Os::clock_tick_ms`]), which a busy heap's looks at a coarse clock
//! straddle. (The background purger's passes over an
//! idle heap are not held: they run only once its owner has been idle for
//! `MASU_IDLE_HOLD`, and purge what is due.)

use crate::heap::Heap;
use crate::os::Os;
use crate::page::{Page, PageClass, PageFlags, OWNER_SLOW, RETIRED_UNSTAMPED};
use crate::segment::{bit_runs, range_bits, Segment, SegmentKind};
use crate::stats::CounterSink;
use crate::sync::Ordering;
use core::ptr;

/// Segments examined in the purge queue per slow-path event.
pub(crate) const PURGE_PER_EVENT: usize = 2;
/// Slow-path events between scans for idle kept pages.
pub(crate) const TICK_EVENTS: u64 = 64;

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Counts a slow-path event and does the release work that is due.
    /// (Always inlined: called out of line it cost the 1000-byte pair of
    /// the callgrind benchmark 3.5 instructions, a quarter of them slow.)
    #[inline(always)]
    pub(crate) fn on_slow_event(&mut self) {
        self.count_event();
        self.remote.get_mut().flush();
        if !self.lists.purge_first().is_null() {
            self.purge_due_unless_waking(PURGE_PER_EVENT);
        }
        if self.epoch % TICK_EVENTS == 0 {
            self.tick();
        }
    }

    /// The epoch tick's work, every [`TICK_EVENTS`] slow-path events. (Out
    /// of line: inlined, it made `on_slow_event` too large to be inlined
    /// into the slow paths, which then paid a call on every event.)
    #[inline(never)]
    fn tick(&mut self) {
        self.follow_policy();
        self.free_idle_pages(false);
        // Other threads' frees into pages the owner's allocations do not
        // reach: the full queue and the class queues, in turn.
        if (self.epoch / TICK_EVENTS) % 2 == 0 {
            self.rescan_full(usize::MAX, self.config.full_rescan);
        } else {
            self.rescan_queues(self.config.full_rescan);
        }
    }

    /// Counts an event of the epoch (a slow path, a `collect`): the only
    /// place the epoch changes.
    #[inline(always)]
    pub(crate) fn count_event(&mut self) {
        self.epoch += 1;
    }

    /// The time that purge delays are measured in: the `Os` clock in
    /// milliseconds if it has one, else the count of slow-path events.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.store.clock_ms().unwrap_or(self.epoch)
    }

    /// True when something that went idle at `since` had waited `delay`
    /// already `lag` before `now` (0: by `now`).
    pub(crate) fn delay_passed_by(delay: u32, now: u64, since: u64, lag: u64) -> bool {
        delay != u32::MAX && now.wrapping_sub(since) >= (delay as u64).saturating_add(lag)
    }

    /// The purge delay of `seg`: `huge_purge_delay` for a huge segment
    /// (only cached ones are purged), `purge_delay` for the others.
    fn delay_of(&self, seg: *mut Segment) -> u32 {
        delay_for(seg, self.purge_delays())
    }

    /// `purge_delay` and `huge_purge_delay`.
    fn purge_delays(&self) -> (u32, u32) {
        (self.config.purge_delay, self.config.huge_purge_delay)
    }

    /// When the purge of `seg` falls due: `dirtied_at` plus its delay (the
    /// purge queue's order).
    pub(crate) fn purge_due_at(&self, seg: *mut Segment) -> u64 {
        due_at(seg, self.purge_delays())
    }

    /// The owner's [`Heap::purge_due`], which leaves the queue alone for a
    /// purge delay after a pause (see "A heap waking" above). (Out of
    /// line: inlined, it would weigh on every slow path's registers.)
    #[inline(never)]
    fn purge_due_unless_waking(&mut self, limit: usize) {
        // Without a clock the delay counts the heap's own slow paths, and a
        // heap that makes none does not age: nothing to hold.
        let Some(now) = self.store.clock_ms() else {
            return self.purge_due(self.epoch, 0, limit);
        };
        if let Some(lag) = self.look_at_purge_queue(now) {
            self.purge_due(now, lag, limit);
        }
    }

    /// Notes the owner's look at the purge queue at `now` (milliseconds)
    /// and says what it purges: `None` while the queue is held (a hold, or
    /// a pause longer than the purge delay that ended now), else how long
    /// before `now` what goes had to be due: 0, or at a waking, the time
    /// since the second waking before it. What was due then has been left
    /// through two holds and the work after each, which did not take it
    /// back; it goes now. Without that, a heap whose slow paths came
    /// regularly more than a delay apart (a program that does a little work
    /// every 50 ms) took each for a waking and never purged what an earlier
    /// burst left. (Not what was due at the waking just before: a program
    /// whose bursts alternate between two sets of memory pages would then
    /// fault one set in again at every burst.)
    fn look_at_purge_queue(&mut self, now: u64) -> Option<u64> {
        let delay = self.config.purge_delay;
        if !self.config.wake_keep || delay == u32::MAX {
            return (!self.purges_held(now)).then_some(0);
        }
        let last = core::mem::replace(&mut self.purge_looked_at, now);
        // A pause is also longer than two of the clock's ticks: a coarse
        // clock (the std shim's ticks every 4 ms) jumps by a tick between
        // looks only microseconds apart, and under a delay shorter than its
        // tick every tick looked like a pause, so the queue stayed held and
        // nothing was ever purged. (The tick is asked only past the delay:
        // a busy heap's looks are a tick apart at most.)
        let gap = now.wrapping_sub(last);
        // A longer hold (`hold_purges`) is kept.
        if gap > delay as u64
            && gap > 2 * self.store.clock_tick_ms()
            && !self.purges_held(now.wrapping_add(delay as u64))
        {
            self.purge_held_until = now.wrapping_add(delay as u64);
            let [second_last, last_waking] = self.purge_woke_at;
            self.purge_woke_at = [last_waking, now];
            return Some(now.wrapping_sub(second_last));
        }
        (!self.purges_held(now)).then_some(0)
    }

    /// True while the purge queue is held at `now` (see
    /// [`Heap::hold_purges`] and "A heap waking" above). Wrapping: the
    /// clock may start anywhere.
    fn purges_held(&self, now: u64) -> bool {
        (self.purge_held_until.wrapping_sub(now) as i64) > 0
    }

    /// True while a hold ([`Heap::hold_purges`]) keeps the purge queue
    /// waiting (never for a heap without a clock).
    pub fn purges_held_now(&self) -> bool {
        self.purge_hold_left_ms().is_some()
    }

    /// How many milliseconds the hold that keeps the purge queue waiting
    /// has left ([`Heap::hold_purges`]); `None` when none does (nor ever
    /// for a heap without a clock). For a purger that sleeps until then.
    pub fn purge_hold_left_ms(&self) -> Option<u64> {
        let now = self.store.clock_ms()?;
        let left = self.purge_held_until.wrapping_sub(now);
        self.purges_held(now).then_some(left)
    }

    /// Leaves the purge queue alone for `ms` milliseconds from now: no
    /// due purge of free slices (`collect(false)`, slow paths) until then,
    /// unless forced (`collect(true)`). For the std shim's thread exit
    /// (`MASU_EXIT_HOLD`): the next thread to adopt the heap, if it comes
    /// within the hold, takes the exited thread's memory as it was instead
    /// of faulting it in again. Does nothing for a heap without a clock.
    pub fn hold_purges(&mut self, ms: u32) {
        if let Some(now) = self.store.clock_ms() {
            self.purge_looked_at = now;
            if !self.purges_held(now.wrapping_add(ms as u64)) {
                self.purge_held_until = now.wrapping_add(ms as u64);
            }
        }
    }

    /// Examines up to `limit` segments at the front of the purge queue,
    /// decommitting the free slices whose delay had passed `lag` before
    /// `now`.
    fn purge_due(&mut self, now: u64, lag: u64, limit: usize) {
        for _ in 0..limit {
            let seg = self.lists.purge_first();
            if seg.is_null() {
                return;
            }
            // SAFETY: queued segments are live and ours.
            let dirtied_at = unsafe { (*seg).dirtied_at };
            if !Self::delay_passed_by(self.delay_of(seg), now, dirtied_at, lag) {
                // The queue is in the order purges fall due: none behind
                // the first is due before it.
                return;
            }
            self.purge_segment_lagging(seg, false, lag);
        }
    }

    /// Queues every segment of the purge queue again, in the order its
    /// purges fall due under the delays now configured.
    pub(crate) fn requeue_purges(&mut self) {
        let mut queued = self.lists.purge_first();
        self.lists.purge_clear();
        while !queued.is_null() {
            // SAFETY: the segments that were queued are live and ours; the
            // link is read before the segment is queued again.
            let next = unsafe { (*queued).purge_next };
            // SAFETY: as above.
            unsafe { (*queued).in_purge_queue = false };
            self.queue_purge(queued);
            queued = next;
        }
    }

    /// Queues `seg` for purging (unless it is queued) where its purge falls
    /// due ([`Heap::purge_due_at`]).
    pub(crate) fn queue_purge(&mut self, seg: *mut Segment) {
        let delays = self.purge_delays();
        // SAFETY: `seg` is a live segment of ours, as are the queued ones
        // that `due_at` reads.
        unsafe { self.lists.purge_enqueue(seg, |s| due_at(s, delays)) };
    }

    /// Examines every segment of the purge queue once (`collect(false)`,
    /// the purger's look at an idle owner's heap): [`Heap::purge_due`] over
    /// the whole queue.
    pub(crate) fn purge_queue_due(&mut self) {
        if self.purges_held_now() {
            return;
        }
        let mut n = 0;
        let mut seg = self.lists.purge_first();
        while !seg.is_null() {
            n += 1;
            // SAFETY: queued segments are live and ours.
            seg = unsafe { (*seg).purge_next };
        }
        self.purge_due(self.now(), 0, n);
    }

    /// Decommits the free, committed slices of `seg` that have been free for
    /// the purge delay (all of them when `force`), and keeps the segment
    /// queued while others are still waiting.
    pub(crate) fn purge_segment(&mut self, seg: *mut Segment, force: bool) {
        self.purge_segment_lagging(seg, force, 0);
    }

    /// [`Heap::purge_segment`] of what was due `lag` before now.
    fn purge_segment_lagging(&mut self, seg: *mut Segment, force: bool, lag: u64) {
        let now = self.now();
        // SAFETY: `seg` is a live segment of ours.
        unsafe {
            self.lists.purge_remove(seg);
            // Through the raw pointer: other threads read the header of a
            // segment with live blocks (see "Access" on `Segment`).
            if (*seg).kind == SegmentKind::Arena {
                return self.purge_arena(seg, force, now, lag);
            }
            let page_size = self.store.page_size();
            if (*seg).kind == SegmentKind::Huge {
                // A cached one keeps its header; one in use (queued for the
                // slack past its block, `huge_keep_slack`) keeps its block.
                if !force
                    && !Self::delay_passed_by(
                        self.config.huge_purge_delay,
                        now,
                        (*seg).dirtied_at,
                        lag,
                    )
                {
                    self.queue_purge(seg);
                    return;
                }
                let keep = if (*seg).cached {
                    crate::large::huge_kept_bytes(page_size)
                } else {
                    crate::large::huge_block_end(seg, page_size)
                };
                let committed = (*seg).committed_bytes;
                if committed > keep {
                    let len = committed - keep;
                    if self.store.decommit((seg as *mut u8).add(keep), len) {
                        if (*seg).cached {
                            self.lists.cache_decommitted(len);
                        }
                        (*seg).committed_bytes = keep;
                        self.counts.purged();
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
                if force || (delay != u32::MAX && age as u64 >= (delay as u64).saturating_add(lag))
                {
                    due |= 1 << i;
                } else {
                    oldest_waiting = Some(oldest_waiting.map_or(age, |a| a.max(age)));
                }
            }
            let mut any = false;
            for (first, run, bits) in bit_runs(due) {
                let len = run << g.slice_shift;
                if self
                    .store
                    .decommit(Segment::slice_addr(seg, first, g.slice_shift), len)
                {
                    (*seg).committed_mask &= !bits;
                    (*seg).zero_mask &= !bits;
                    if (*seg).cached {
                        self.lists.cache_decommitted(len);
                    }
                    any = true;
                }
            }
            if any {
                self.counts.purged();
            }
            if let Some(age) = oldest_waiting {
                (*seg).dirtied_at = now.wrapping_sub(age as u64);
                self.queue_purge(seg);
            }
        }
    }

    /// Decommits the committed memory past the block of every huge segment
    /// in use (`Config::huge_keep_slack`), whatever the delay.
    fn purge_huge_slack(&mut self) {
        let mut seg = self.lists.huge_first();
        while !seg.is_null() {
            // SAFETY: listed huge segments are live and ours.
            let next = unsafe { (*seg).next };
            self.purge_segment(seg, true);
            seg = next;
        }
    }

    /// Returns the slices of an empty page (small or large) to its segment.
    ///
    /// # Safety
    /// `page` is an empty page of this heap in no queue.
    // Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
    #[inline(never)]
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
            #[cfg(all(feature = "secure", not(feature = "checks")))]
            crate::secure::mark_unused(&mut *page);
            (*page).flags = PageFlags::EMPTY;
            Page::set_free(page, ptr::null_mut());
            Page::set_local_free(page, ptr::null_mut());
            (*page).owner.store(OWNER_SLOW, Ordering::Relaxed);
            (*seg).free_mask |= range_bits(idx, n);
            self.note_slices_freed(seg, idx, n);
        }
    }

    /// Bookkeeping after slices `[idx, idx + n)` of `seg` became free: stamp
    /// their free time, move the segment forward, queue the purge.
    pub(crate) fn note_slices_freed(&mut self, seg: *mut Segment, idx: usize, n: usize) {
        let now = self.now();
        // SAFETY: `seg` is a live normal segment in use.
        unsafe {
            for i in idx..idx + n {
                (*Segment::page(seg, i)).retired_at = now as u32;
            }
            if !(*seg).in_purge_queue {
                (*seg).dirtied_at = now;
            }
            if (*seg).is_empty() {
                self.lists.remove_normal(seg);
                self.cache_put(seg);
                return;
            }
            self.lists.normal_got_free(seg);
            self.schedule_purge(seg);
        }
    }

    /// Queues `seg` for purging, or purges it now when the delay is 0.
    pub(crate) fn schedule_purge(&mut self, seg: *mut Segment) {
        if !O::DECOMMITS {
            return;
        }
        match self.delay_of(seg) {
            0 => self.purge_segment(seg, true),
            u32::MAX => {}
            // SAFETY: `seg` is live and ours.
            _ => self.queue_purge(seg),
        }
    }

    /// Out of memory (a refused commit or reservation): frees kept empty
    /// pages, purges every queued segment regardless of the delay and releases
    /// the cache, so that memory merely waiting for its delay is used before
    /// the heap reports out of memory. True when anything was given back.
    pub(crate) fn relieve_memory_pressure(&mut self) -> bool {
        let pages_before = self.counts.pages();
        let before = (self.store.decommitted_bytes(), self.store.reserved_bytes());
        self.free_idle_pages(true);
        self.free_empty_queued_pages(false);
        let pages_freed = self.counts.pages() != pages_before;
        self.purge_waiting_now();
        pages_freed || (self.store.decommitted_bytes(), self.store.reserved_bytes()) != before
    }

    /// Gives back, whatever the delays, what waits for them: the slack past
    /// huge blocks in use, every queued segment's free slices, and the
    /// segment cache (`collect(true)` and memory pressure).
    pub(crate) fn purge_waiting_now(&mut self) {
        self.purge_huge_slack();
        while !self.lists.purge_first().is_null() {
            self.purge_segment(self.lists.purge_first(), true);
        }
        self.release_cache();
    }

    /// Commits `[ptr, ptr + len)`, relieving memory pressure and trying once
    /// more if the `Os` refuses.
    pub(crate) fn commit_or_relieve(&mut self, ptr: *mut u8, len: usize) -> bool {
        // SAFETY: callers pass a range inside one of our reservations.
        unsafe {
            self.store.commit(ptr, len)
                || (self.relieve_memory_pressure() && self.store.commit(ptr, len))
        }
    }

    /// True when the empty page `page` has stayed empty for the purge delay
    /// by `now`; one not yet stamped (`RETIRED_UNSTAMPED`: the first look to
    /// see it empty) is stamped `now` and is not.
    ///
    /// # Safety
    /// `page` is a live page of this heap that no fast path writes.
    pub(crate) unsafe fn empty_for_delay(&self, page: *mut Page, now: u64) -> bool {
        // SAFETY: guaranteed by the caller.
        unsafe {
            if (*page).retired_at == RETIRED_UNSTAMPED {
                (*page).retired_at = retire_stamp(now);
                return false;
            }
            // `retired_at` keeps the low 32 bits of `now()`.
            let idle = (now as u32).wrapping_sub((*page).retired_at) as u64;
            let delay = self.config.purge_delay;
            delay != u32::MAX && idle >= delay as u64
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
                if Page::used_of(page) != 0 || !(*page).next.is_null() {
                    continue;
                }
                let now = *now.get_or_insert_with(|| self.now());
                if force || self.empty_for_delay(page, now) {
                    self.free_any_page(page);
                }
            }
        }
    }
}

/// `now` as an empty page's stamp in `Page::retired_at`: its low 32 bits,
/// never `RETIRED_UNSTAMPED`.
pub(crate) fn retire_stamp(now: u64) -> u32 {
    (now as u32).min(RETIRED_UNSTAMPED - 1)
}

/// The purge delay of `seg` under `(purge_delay, huge_purge_delay)`.
fn delay_for(seg: *mut Segment, (delay, huge_delay): (u32, u32)) -> u32 {
    // SAFETY: callers pass a live segment of the heap.
    if unsafe { (*seg).kind } == SegmentKind::Huge {
        huge_delay
    } else {
        delay
    }
}

/// When the purge of `seg` falls due under `delays` (see [`delay_for`]).
fn due_at(seg: *mut Segment, delays: (u32, u32)) -> u64 {
    // SAFETY: callers pass a live segment of the heap.
    let at = unsafe { (*seg).dirtied_at };
    at.wrapping_add(delay_for(seg, delays) as u64)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use crate::{Config, FixedRegion, Heap};
    use core::alloc::Layout;
    use std::vec::Vec;

    #[test]
    fn a_region_that_cannot_decommit_queues_nothing_for_purging() {
        let mut buf = std::vec![0u8; (1 << 20) + (1 << 17)];
        let start = (buf.as_mut_ptr() as usize + (1 << 17) - 1) & !((1 << 17) - 1);
        let mut heap = Heap::new(FixedRegion::empty(), Config::FIXED_REGION);
        // SAFETY: the buffer outlives the heap and is used by nothing else.
        unsafe { heap.os().init(start as *mut u8, 1 << 20) };
        let layout = Layout::from_size_align(64, 8).unwrap();
        // Three 4 KiB pages' worth of one class, then all freed: every page
        // but the one kept for the class goes back to its segment.
        let blocks: Vec<*mut u8> = (0..3 * 4096 / 64).map(|_| heap.alloc(layout)).collect();
        assert!(blocks.iter().all(|p| !p.is_null()));
        for p in blocks {
            // SAFETY: a live block of this layout, freed once.
            unsafe { heap.dealloc(p, layout) };
        }
        assert!(heap.counts.pages() >= 1);
        assert!(
            heap.lists.purge_first().is_null(),
            "a segment was queued for a purge the region cannot do"
        );
        drop(heap);
        drop(buf);
    }
}
