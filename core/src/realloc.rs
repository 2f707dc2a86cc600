//! [`Heap::realloc`]: in place when the block's class does not change or a
//! large span or huge block can grow or shrink where it is (see `large.rs`),
//! else allocate, copy and free.

use crate::heap::Heap;
use crate::os::Os;
use crate::page::Page;
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
        let seg = Segment::of(ptr, self.segment_base_mask());
        #[cfg(feature = "checks")]
        crate::block_check::check_live(self.store.os(), &self.geometry, self.id, seg, ptr, layout);
        let align = layout.align();
        // A size that cannot form a `Layout` fails here, before any rounding
        // could wrap around and pass for a small size.
        let Ok(new_layout) = Layout::from_size_align(new_size, align) else {
            return ptr::null_mut();
        };
        // SAFETY: `ptr` is a live block, so its page is live.
        let page = unsafe { Segment::page_of(seg, ptr) };
        // SAFETY: as above.
        let (owned, class) = unsafe { (Page::owner_id_of(page) == self.id, (*page).class) };
        if owned {
            let new_class = self.geometry.small_class(new_size, align);
            if class.is_small() {
                if new_class == Some(class.index()) {
                    return ptr;
                }
            } else if new_class.is_none() {
                // SAFETY: the page is a live large or huge page of ours.
                if unsafe { self.resize_in_place(seg, page, new_size) } {
                    return ptr;
                }
                // SAFETY: as above; the block is the caller's alone.
                let moved = unsafe { self.remap_huge(seg, page, new_size) };
                if !moved.is_null() {
                    return moved;
                }
            }
        }
        let new = self.alloc(new_layout);
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct; the old one holds at
            // least `layout.size()` bytes and the new one `new_size`.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}
