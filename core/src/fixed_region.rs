//! [`FixedRegion`]: an [`Os`] over one caller-given block of memory, for bare
//! metal and kernels.
//!
//! The region is one [`Tlsf`] (two-level segregated fit, see `tlsf.rs`): it
//! carves the heap's segments out of the region as headerless spans aligned
//! to their size, and serves *direct blocks* (see [`Os::direct_alloc`]) side
//! by side with them, so that requests above
//! [`Config::direct_above`](crate::Config) take their size rounded to 8
//! bytes plus an 8-byte header rather than whole slices of a segment.
//! Freeing everything returns the region whole. Running out of region makes
//! `reserve` and `direct_alloc` return null.

use crate::os::Os;
use crate::tlsf::{self, Tlsf, GRANULE};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering::Relaxed};
use spin::Mutex;

/// An [`Os`] over a fixed memory region.
///
/// `commit` always succeeds and `decommit` keeps the contents (there is no
/// platform to give memory back to), so the core never counts memory of a
/// fixed region as decommitted.
///
/// A few hundred bytes to a few KiB of the region hold its own metadata
/// (free-list heads and a byte-per-4-KiB map of where segments are): at its
/// top, or at its bottom when its start leaves room for them below the
/// first 4 KiB boundary and its end does not above the last, so that they
/// never take a whole 4 KiB granule a segment could use.
/// [`FixedRegion::size`] is what is left for blocks and segments.
pub struct FixedRegion {
    blocks: Mutex<Tlsf>,
    /// The span map (see `tlsf.rs`), biased to be indexed by granule
    /// number, for [`Os::is_direct`] (which takes no lock).
    map: AtomicPtr<AtomicU8>,
    /// Set once the region has handed out a direct block: until then every
    /// block is a segment's, and [`Os::is_direct`] answers without the map.
    served_direct: AtomicBool,
}

impl FixedRegion {
    /// The granularity the region reports as its page size.
    pub const PAGE_SIZE: usize = 256;

    /// A region with no memory yet; give it memory with [`FixedRegion::init`].
    /// Until then every reservation fails (the heap returns null).
    pub const fn empty() -> Self {
        FixedRegion {
            blocks: Mutex::new(Tlsf::empty()),
            map: AtomicPtr::new(ptr::null_mut()),
            served_direct: AtomicBool::new(false),
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

    /// Hands `[start, start + len)` to the region, trimmed to 8-byte
    /// boundaries. A range too short for the metadata and one block leaves
    /// the region empty or unable to serve anything (see
    /// [`FixedRegion::MIN_LEN`]).
    ///
    /// # Safety
    /// The range is valid for reads and writes, is used by nothing else for
    /// as long as the region is used, and `init` is called at most once.
    pub unsafe fn init(&self, start: *mut u8, len: usize) {
        let mut blocks = self.blocks.lock();
        assert!(!blocks.has_memory(), "FixedRegion::init called twice");
        // SAFETY: forwarded from the caller.
        if unsafe { blocks.init(start as usize, len) } {
            self.publish_map(&blocks);
        }
    }

    /// Makes the span map readable by [`Os::is_direct`].
    fn publish_map(&self, blocks: &Tlsf) {
        self.map.store(blocks.span_map() as *mut AtomicU8, Relaxed);
    }

    /// Grows the region up to `new_end`: the memory from the region's
    /// current end (its last byte plus one, [`FixedRegion::top`]) to
    /// `new_end` joins it, and later reservations may use it (talc's
    /// `extend`, for memory that becomes available after start-up, such as
    /// RAM freed by a bootloader). The region's metadata moves to the new
    /// top. Returns false, changing nothing, when `new_end` is not above the
    /// top or the new memory is too short to hold the moved metadata (less
    /// than a few hundred bytes to a few KiB, see
    /// [`FixedRegion::metadata_bytes`]). Panics if the region was never
    /// given memory.
    ///
    /// # Safety
    /// `[top(), new_end)` is valid for reads and writes and used by nothing
    /// else for as long as the region is used (the part below the end given
    /// to `init` already was). No other thread uses the region, or a heap
    /// over it, during the call.
    pub unsafe fn extend_to(&self, new_end: *mut u8) -> bool {
        let mut blocks = self.blocks.lock();
        assert!(blocks.has_memory(), "FixedRegion::extend_to before init");
        // SAFETY: forwarded from the caller.
        let grown = unsafe { blocks.extend_to(new_end as usize) };
        if grown {
            self.publish_map(&blocks);
        }
        grown
    }

    /// One past the region's last byte (where [`FixedRegion::extend_to`]
    /// grows it); null before `init`.
    pub fn top(&self) -> *mut u8 {
        self.blocks.lock().top() as *mut u8
    }

    /// Shortest range (8-byte aligned) over which an allocation can
    /// succeed: the metadata of a small region and one free block (104
    /// bytes on 64-bit and 32-bit targets).
    pub const MIN_LEN: usize = crate::tlsf::MIN_REGION;

    /// Bytes of the region not handed out as blocks or segments.
    pub fn free_bytes(&self) -> usize {
        self.blocks.lock().free_bytes()
    }

    /// Bytes of the region that blocks and segments can use: all of it but
    /// its metadata. [`FixedRegion::free_bytes`] equals it when nothing is
    /// allocated.
    pub fn size(&self) -> usize {
        let blocks = self.blocks.lock();
        if blocks.has_memory() {
            blocks.size()
        } else {
            0
        }
    }

    /// Bytes of the region's own metadata (at its top or its bottom).
    pub fn metadata_bytes(&self) -> usize {
        let blocks = self.blocks.lock();
        if blocks.has_memory() {
            blocks.top() - blocks.bottom() - blocks.size()
        } else {
            0
        }
    }

    /// Lowest address of the region.
    pub fn bottom(&self) -> *mut u8 {
        self.blocks.lock().bottom() as *mut u8
    }

    /// Panics with a message if the region's blocks, spans or free lists
    /// break an invariant (see `tlsf.rs`). Walks the whole region: for
    /// tests and debugging.
    pub fn check(&self) {
        self.blocks.lock().check();
    }
}

impl FixedRegion {
    /// Records that direct block `p` (when not null) was handed out.
    #[inline(always)]
    fn note_direct(&self, p: *mut u8) {
        if !p.is_null() && !self.served_direct.load(Relaxed) {
            self.served_direct.store(true, Relaxed);
        }
    }
}

/// `size` rounded up to whole span granules.
fn span_bytes(size: usize) -> Option<usize> {
    Some(size.checked_add(GRANULE - 1)? & !(GRANULE - 1))
}

// SAFETY: segments are the `Tlsf`'s spans and direct blocks its blocks: it
// hands out disjoint ranges of the region with the requested alignment and
// takes them back with the size they were given with; commit and decommit do
// not touch memory; `is_direct` reads the span map, whose bit for a live
// block's granule does not change while the block lives.
unsafe impl Os for FixedRegion {
    const DIRECT_BLOCKS: bool = true;
    const DECOMMITS: bool = false;

    fn reserve(&self, size: usize, align: usize) -> *mut u8 {
        let (Some(size), true) = (span_bytes(size), align.is_power_of_two()) else {
            return ptr::null_mut();
        };
        self.blocks.lock().alloc_span(size, align.max(GRANULE))
    }

    unsafe fn commit(&self, _ptr: *mut u8, _size: usize) -> bool {
        true
    }

    unsafe fn decommit(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    unsafe fn release(&self, ptr: *mut u8, size: usize, _align: usize) {
        let Some(size) = span_bytes(size) else {
            return;
        };
        // SAFETY: the caller gives back a span that `reserve` handed out
        // with this size.
        unsafe { self.blocks.lock().free_span(ptr, size) };
    }

    fn page_size(&self) -> usize {
        Self::PAGE_SIZE
    }

    fn fresh_memory_is_zeroed(&self) -> bool {
        false
    }

    fn may_contain(&self, addr: usize) -> bool {
        self.blocks.lock().contains(addr)
    }

    fn direct_alloc_shared(&self, size: usize, align: usize) -> *mut u8 {
        let p = self.blocks.lock().alloc(size, align);
        self.note_direct(p);
        p
    }

    #[inline(always)]
    fn direct_alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        let p = self.blocks.get_mut().alloc(size, align);
        self.note_direct(p);
        p
    }

    unsafe fn direct_free_shared(&self, ptr: *mut u8) -> usize {
        // SAFETY: the caller passes a live direct block.
        unsafe { self.blocks.lock().free(ptr) }
    }

    #[inline(always)]
    unsafe fn direct_free(&mut self, ptr: *mut u8) -> usize {
        // SAFETY: the caller passes a live direct block.
        unsafe { self.blocks.get_mut().free(ptr) }
    }

    #[inline(always)]
    unsafe fn is_direct(&self, ptr: *const u8) -> bool {
        // A direct block was handed out after the flag was set, and the
        // caller got it through whatever ordered that hand-out before
        // this call.
        if !self.served_direct.load(Relaxed) {
            return false;
        }
        let map = self.map.load(Relaxed);
        // SAFETY: the caller passes a live block of a heap over this region,
        // so the region has memory (a non-null map, published before the
        // block was handed out) and `ptr` lies in its block area.
        unsafe { !tlsf::span_memory(map, ptr as usize) }
    }

    unsafe fn direct_size(&self, ptr: *const u8) -> usize {
        // SAFETY: the caller passes a live direct block.
        unsafe { Tlsf::usable_size(ptr) }
    }

    #[inline(always)]
    unsafe fn direct_free_packs(&mut self, ptr: *const u8) -> bool {
        // SAFETY: the caller passes a live direct block.
        unsafe { self.blocks.get_mut().free_packs(ptr) }
    }

    #[inline(always)]
    fn direct_roomy(&mut self) -> usize {
        self.blocks.get_mut().roomy()
    }

    unsafe fn direct_free_all(&mut self) -> Option<(usize, usize)> {
        Some(self.blocks.get_mut().free_all_blocks())
    }

    unsafe fn direct_resize_shared(&self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: the caller passes a live direct block.
        unsafe { self.blocks.lock().resize(ptr, size) }
    }

    #[inline(always)]
    unsafe fn direct_resize(&mut self, ptr: *mut u8, size: usize) -> bool {
        // SAFETY: the caller passes a live direct block.
        unsafe { self.blocks.get_mut().resize(ptr, size) }
    }
}
