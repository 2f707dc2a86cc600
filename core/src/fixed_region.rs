//! [`FixedRegion`]: an [`Os`] over one caller-given block of memory, for bare
//! metal and kernels.
//!
//! Spans (segments) are carved out of the region and given back to it by
//! `linked_list_allocator::Heap`, which coalesces neighbouring free spans, so
//! freeing everything returns the region whole. Running out of region makes
//! `reserve` return null.

use crate::os::Os;
use core::alloc::Layout;
use core::ptr::{self, NonNull};
use linked_list_allocator::Heap as SpanList;
use spin::Mutex;

/// An [`Os`] over a fixed memory region.
///
/// `commit` always succeeds and `decommit` keeps the contents (there is no
/// platform to give memory back to), so the core never counts memory of a
/// fixed region as decommitted.
pub struct FixedRegion {
    spans: Mutex<SpanList>,
}

impl FixedRegion {
    /// The granularity the region reports as its page size.
    pub const PAGE_SIZE: usize = 256;

    /// A region with no memory yet; give it memory with [`FixedRegion::init`].
    /// Until then every reservation fails (the heap returns null).
    pub const fn empty() -> Self {
        FixedRegion {
            spans: Mutex::new(SpanList::empty()),
        }
    }

    /// A region over `memory`.
    pub fn from_slice(memory: &'static mut [u8]) -> Self {
        let region = Self::empty();
        // SAFETY: `memory` is an exclusive `'static` borrow, so the range is
        // valid, writable and ours forever.
        unsafe { region.init(memory.as_mut_ptr(), memory.len()) };
        region
    }

    /// Hands `[start, start + len)` to the region.
    ///
    /// # Safety
    /// The range is valid for reads and writes, is used by nothing else for
    /// as long as the region is used, and `init` is called at most once.
    pub unsafe fn init(&self, start: *mut u8, len: usize) {
        let mut spans = self.spans.lock();
        assert!(spans.size() == 0, "FixedRegion::init called twice");
        // The span list needs 16-byte granularity: a hole shorter than 16
        // bytes cannot exist, so a span that would leave one fails. Trimming
        // both ends to 16-byte boundaries makes every remainder 0 or >= 16.
        let first = (start as usize)
            .checked_add(Self::GRAIN - 1)
            .map(|a| a & !(Self::GRAIN - 1));
        let end = (start as usize).saturating_add(len) & !(Self::GRAIN - 1);
        let Some(first) = first.filter(|&f| end >= f + Self::MIN_LEN) else {
            return; // too small to hold anything: the region stays empty
        };
        // SAFETY: `[first, end)` lies within the caller's range.
        unsafe { spans.init(start.wrapping_add(first - start as usize), end - first) };
    }

    /// Grows the region up to `new_end`: the memory from the region's
    /// current end (its last byte plus one, [`FixedRegion::top`]) to
    /// `new_end` joins it, and later reservations may use it (talc's
    /// `extend`, for memory that becomes available after start-up, such as
    /// RAM freed by a bootloader). `new_end` is trimmed down to the region's
    /// 16-byte grain; an end at or below the top changes nothing. Panics if
    /// the region was never given memory.
    ///
    /// # Safety
    /// `[top(), new_end)` is valid for reads and writes and used by nothing
    /// else for as long as the region is used (the part below the end given
    /// to `init` already was).
    pub unsafe fn extend_to(&self, new_end: *mut u8) {
        let mut spans = self.spans.lock();
        assert!(spans.size() != 0, "FixedRegion::extend_to before init");
        let top = spans.top() as usize;
        let end = (new_end as usize) & !(Self::GRAIN - 1);
        if end > top {
            // SAFETY: the caller guarantees the memory directly after the
            // region's top, which is where the span list grows.
            unsafe { spans.extend(end - top) };
        }
    }

    /// One past the region's last byte (where [`FixedRegion::extend_to`]
    /// grows it).
    pub fn top(&self) -> *mut u8 {
        self.spans.lock().top()
    }

    /// Shortest region `init` accepts after trimming (shorter ones stay empty).
    pub const MIN_LEN: usize = 64;

    /// Granularity of the span list: `init` trims the region to it.
    const GRAIN: usize = 16;

    /// Bytes of the region not handed out as spans.
    pub fn free_bytes(&self) -> usize {
        self.spans.lock().free()
    }

    /// The region's size in bytes.
    pub fn size(&self) -> usize {
        self.spans.lock().size()
    }

    /// Lowest address of the region.
    pub fn bottom(&self) -> *mut u8 {
        self.spans.lock().bottom()
    }
}

// SAFETY: spans come from `linked_list_allocator`, which hands out disjoint
// ranges of the region with the requested alignment; commit and decommit do not
// touch memory; release gives a span back with the layout it was taken with.
unsafe impl Os for FixedRegion {
    fn reserve(&self, size: usize, align: usize) -> *mut u8 {
        let Ok(layout) = Layout::from_size_align(size, align) else {
            return ptr::null_mut();
        };
        match self.spans.lock().allocate_first_fit(layout) {
            Ok(p) => p.as_ptr(),
            Err(()) => ptr::null_mut(),
        }
    }

    unsafe fn commit(&self, _ptr: *mut u8, _size: usize) -> bool {
        true
    }

    unsafe fn decommit(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    unsafe fn release(&self, ptr: *mut u8, size: usize, align: usize) {
        let (Some(p), Ok(layout)) = (NonNull::new(ptr), Layout::from_size_align(size, align))
        else {
            return;
        };
        // SAFETY: the caller gives back a span that `reserve` handed out with
        // this size and alignment.
        unsafe { self.spans.lock().deallocate(p, layout) };
    }

    fn page_size(&self) -> usize {
        Self::PAGE_SIZE
    }

    fn fresh_memory_is_zeroed(&self) -> bool {
        false
    }

    fn may_contain(&self, addr: usize) -> bool {
        let spans = self.spans.lock();
        let bottom = spans.bottom() as usize;
        addr >= bottom && addr < bottom + spans.size()
    }
}
