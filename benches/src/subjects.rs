//! The allocators the demo puts side by side, as [`Subject`]s.

use crate::{Footprint, Subject};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
use masu_core::{Config, FixedRegion, Heap, Stats};

/// `len` zeroed bytes that live for the rest of the process.
pub fn leak_region(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; len].into_boxed_slice())
}

/// masu-core: a [`Heap`] over a [`FixedRegion`] with [`Config::FIXED_REGION`].
///
/// The region is borrowed, so a new heap can run over the same memory after
/// the last one is dropped (a dropped heap gives all its segments back).
pub struct MasuFixed {
    /// The heap under test.
    pub heap: Heap<&'static FixedRegion>,
    /// The heap's stats at [`Subject::checkpoint`].
    pub at_checkpoint: Option<Stats>,
}

impl MasuFixed {
    /// A heap over `region`.
    pub fn new(region: &'static FixedRegion) -> Self {
        MasuFixed {
            heap: Heap::new(region, Config::FIXED_REGION),
            at_checkpoint: None,
        }
    }
}

impl Subject for MasuFixed {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.heap.alloc(layout)
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.heap.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.heap.realloc(ptr, layout, new_size) }
    }

    fn footprint(&self) -> Footprint {
        let s = self.heap.stats();
        Footprint {
            reserved: Some(s.reserved_bytes),
            in_use: Some(s.live_bytes),
        }
    }

    fn checkpoint(&mut self) {
        self.at_checkpoint = Some(self.heap.stats());
    }
}

/// `linked_list_allocator::Heap` over a region of its own.
pub struct LinkedList {
    /// The heap under test.
    pub heap: linked_list_allocator::Heap,
}

impl LinkedList {
    /// A heap over `region`.
    pub fn new(region: &'static mut [u8]) -> Self {
        let mut heap = linked_list_allocator::Heap::empty();
        // SAFETY: `region` is an exclusive `'static` borrow, given to the heap
        // for good.
        unsafe { heap.init(region.as_mut_ptr(), region.len()) };
        LinkedList { heap }
    }
}

impl Subject for LinkedList {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.heap
            .allocate_first_fit(layout)
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block of this heap with its layout.
        unsafe { self.heap.deallocate(NonNull::new_unchecked(ptr), layout) }
    }

    /// `linked_list_allocator` has no realloc: allocate, copy, free (what
    /// `GlobalAlloc::realloc` does by default).
    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        let new = self.alloc(new_layout);
        if !new.is_null() {
            // SAFETY: both blocks are live and distinct, each at least as long
            // as the copy.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }

    fn footprint(&self) -> Footprint {
        Footprint {
            reserved: None,
            in_use: Some(self.heap.used()),
        }
    }
}

/// The system allocator (`std::alloc::System`: glibc malloc on Linux).
pub struct System;

impl Subject for System {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        if layout.size() == 0 {
            return ptr::null_mut();
        }
        // SAFETY: the layout is not zero-sized.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded from the caller's contract.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}
