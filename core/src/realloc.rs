//! [`Heap::realloc`]: in place when the block's class does not change or a
//! large span or huge block can grow or shrink where it is (see `large.rs`),
//! else allocate, copy and free.

use crate::heap::Heap;
use crate::os::Os;
use crate::page::{Page, PageClass};
use crate::segment::Segment;
use crate::stats::CounterSink;
use core::alloc::Layout;
use core::ptr;

impl<O: Os, C: CounterSink> Heap<O, C> {
    /// Resizes the block at `ptr` to `new_size` bytes, in place when the class
    /// does not change or a large span can grow or shrink where it is; else
    /// moves it. Returns null (leaving the block untouched) when out of memory.
    ///
    /// # Safety
    /// As for [`Heap::dealloc`]; `new_size` rounded up to `layout.align()`
    /// does not overflow `isize`.
    pub unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` is a live block.
        if unsafe { self.is_direct(ptr) } {
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                return ptr::null_mut();
            };
            // SAFETY: as above: a live direct block with `layout`.
            return unsafe { self.realloc_direct(ptr, layout, new_layout) };
        }
        let seg = Segment::of(ptr, self.segment_base_mask());
        // With `checks`, the size the block was allocated with (from its
        // verified trailer; the caller's layout may leave it unknown).
        #[cfg(feature = "checks")]
        let (_, old_size, old_site) = self.check_block(seg, ptr, layout);
        #[cfg(not(feature = "checks"))]
        let (old_size, old_site) = (layout.size(), 0);
        #[cfg(all(feature = "secure", not(feature = "checks")))]
        crate::secure::check_free(seg, ptr);
        let align = layout.align();
        // A size that cannot form a `Layout` fails here, before any rounding
        // could wrap around and pass for a small size.
        let Ok(new_layout) = Layout::from_size_align(new_size, align) else {
            return ptr::null_mut();
        };
        // The bytes the block must hold (with `checks`, its trailer too).
        #[cfg(feature = "checks")]
        let Some(need) = crate::redzone::with_trailer(new_size) else {
            return ptr::null_mut();
        };
        #[cfg(not(feature = "checks"))]
        let need = new_size;
        // SAFETY: `ptr` is a live block, so its page is live.
        let page = unsafe { Segment::page_of(seg, ptr) };
        // SAFETY: as above.
        let (owned, class) = unsafe { (Page::owner_id_of(page) == self.id, (*page).class) };
        if owned && Self::ARENAS && class == PageClass::ARENA {
            // SAFETY: a live block of one of our arenas.
            if self.arena_serves(need, align) && unsafe { self.resize_arena_block(page, ptr, need) }
            {
                return ptr;
            }
        } else if owned {
            let new_class = self.geometry.small_class(need, align);
            if class.is_small() {
                if new_class == Some(class.index()) {
                    // SAFETY: the block stays live and holds `need` bytes.
                    return unsafe { self.rearm(ptr, new_size, old_site) };
                }
            } else if new_class.is_none() {
                // SAFETY: the page is a live large or huge page of ours.
                if unsafe { self.resize_in_place(seg, page, need) } {
                    // SAFETY: the block stays live and holds `need` bytes.
                    return unsafe { self.rearm(ptr, new_size, old_site) };
                }
                // SAFETY: as above; the block is the caller's alone.
                let moved = unsafe { self.remap_huge(seg, page, need) };
                if !moved.is_null() {
                    // SAFETY: as above.
                    return unsafe { self.rearm(moved, new_size, old_site) };
                }
            }
        }
        let new = self.alloc(new_layout);
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct; the old one holds at
            // least `old_size` bytes and the new one `new_size`.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new, old_size.min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }

    /// A block that `realloc` kept (or remapped) for `size` bytes: with
    /// `checks`, its redzone is written for the new size, with the site set
    /// for this call or else the block's `old_site`.
    ///
    /// # Safety
    /// `p` is a live block of this heap of at least `size` bytes (and its
    /// trailer, with `checks`).
    #[inline]
    unsafe fn rearm(&self, p: *mut u8, size: usize, old_site: usize) -> *mut u8 {
        #[cfg(feature = "checks")]
        {
            let site = match self.take_site() {
                0 => old_site,
                s => s,
            };
            // SAFETY: guaranteed by the caller.
            unsafe { crate::redzone::arm(p, size, self.segment_base_mask(), site) }
        }
        #[cfg(not(feature = "checks"))]
        {
            let _ = (size, old_site);
            p
        }
    }
}
