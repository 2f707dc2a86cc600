//! The `allocator_api2::alloc::Allocator` methods over a `&mut Heap`,
//! shared by the types that implement the trait ([`LocalHeap`],
//! [`LockedHeap`](crate::LockedHeap), and the `masu` crate's `Heap`).
//!
//! [`LocalHeap`]: crate::LocalHeap

use crate::heap::Heap;
use crate::os::Os;
use crate::stats::CounterSink;
use allocator_api2::alloc::AllocError;
use core::alloc::Layout;
use core::ptr::{self, NonNull};

/// The block as the slice `Allocator` returns (its length: the size asked).
#[inline(always)]
fn block(p: *mut u8, size: usize) -> Result<NonNull<[u8]>, AllocError> {
    match NonNull::new(p) {
        Some(p) => Ok(NonNull::slice_from_raw_parts(p, size)),
        None => Err(AllocError),
    }
}

/// `Allocator::allocate` (`allocate_zeroed` with `zero`).
#[inline(always)]
pub fn allocate<O: Os, C: CounterSink>(
    heap: &mut Heap<O, C>,
    layout: Layout,
    zero: bool,
) -> Result<NonNull<[u8]>, AllocError> {
    let p = if zero {
        heap.alloc_zeroed(layout)
    } else {
        heap.alloc(layout)
    };
    block(p, layout.size())
}

/// `Allocator::deallocate`.
///
/// # Safety
/// As for `Allocator::deallocate`: `ptr` is a block of `heap` (or of a heap
/// over the same memory) allocated with `layout`.
#[inline(always)]
pub unsafe fn deallocate<O: Os, C: CounterSink>(
    heap: &mut Heap<O, C>,
    ptr: NonNull<u8>,
    layout: Layout,
) {
    // SAFETY: forwarded from the caller.
    unsafe { heap.dealloc(ptr.as_ptr(), layout) }
}

/// `Allocator::grow` and `shrink` (`grow_zeroed` with `zero`): in place
/// when the heap can (see [`Heap::realloc`]); a new alignment moves the
/// block, so that every block is served for the layout it is freed with
/// (`realloc` keeps the old alignment, and `checks` reports a free whose
/// alignment would have picked another class).
///
/// # Safety
/// As for `Allocator::grow` or `shrink`: `ptr` is a block allocated with
/// `old`, and `new` is at least (`grow`) or at most (`shrink`) as large.
#[inline]
pub unsafe fn resize<O: Os, C: CounterSink>(
    heap: &mut Heap<O, C>,
    ptr: NonNull<u8>,
    old: Layout,
    new: Layout,
    zero: bool,
) -> Result<NonNull<[u8]>, AllocError> {
    let p = if new.align() == old.align() {
        // SAFETY: forwarded from the caller; a `Layout`'s size rounded up to
        // its alignment fits `isize`, and the alignment is the old one.
        unsafe { heap.realloc(ptr.as_ptr(), old, new.size()) }
    } else {
        let p = heap.alloc(new);
        if !p.is_null() {
            // SAFETY: both blocks are live and distinct; the caller's block
            // holds `old.size()` bytes and is not used again.
            unsafe {
                ptr::copy_nonoverlapping(ptr.as_ptr(), p, old.size().min(new.size()));
                heap.dealloc(ptr.as_ptr(), old);
            }
        }
        p
    };
    if zero && !p.is_null() && new.size() > old.size() {
        // SAFETY: the block holds `new.size()` bytes.
        unsafe { p.add(old.size()).write_bytes(0, new.size() - old.size()) };
    }
    block(p, new.size())
}

/// Implements `allocator_api2::alloc::Allocator` for a type with a method
/// `with_heap(&self, f)` that runs `f` on its `&mut Heap`.
#[macro_export]
#[doc(hidden)]
macro_rules! impl_allocator {
    ([$($gen:tt)*] $ty:ty) => {
        // SAFETY: every method runs on the type's one heap, which returns
        // blocks of at least the size asked, aligned as asked, disjoint while
        // live, that stay valid until freed or the heap is reset or dropped
        // (which `&self` borrows prevent), and accepts any of its blocks.
        unsafe impl<$($gen)*> $crate::allocator_api2::alloc::Allocator for $ty {
            #[inline(always)]
            fn allocate(
                &self,
                layout: ::core::alloc::Layout,
            ) -> Result<::core::ptr::NonNull<[u8]>, $crate::allocator_api2::alloc::AllocError> {
                self.with_heap(|h| $crate::allocator::allocate(h, layout, false))
            }

            #[inline(always)]
            fn allocate_zeroed(
                &self,
                layout: ::core::alloc::Layout,
            ) -> Result<::core::ptr::NonNull<[u8]>, $crate::allocator_api2::alloc::AllocError> {
                self.with_heap(|h| $crate::allocator::allocate(h, layout, true))
            }

            #[inline(always)]
            unsafe fn deallocate(&self, ptr: ::core::ptr::NonNull<u8>, layout: ::core::alloc::Layout) {
                // SAFETY: forwarded from the caller.
                self.with_heap(|h| unsafe { $crate::allocator::deallocate(h, ptr, layout) })
            }

            #[inline]
            unsafe fn grow(
                &self,
                ptr: ::core::ptr::NonNull<u8>,
                old: ::core::alloc::Layout,
                new: ::core::alloc::Layout,
            ) -> Result<::core::ptr::NonNull<[u8]>, $crate::allocator_api2::alloc::AllocError> {
                // SAFETY: forwarded from the caller.
                self.with_heap(|h| unsafe { $crate::allocator::resize(h, ptr, old, new, false) })
            }

            #[inline]
            unsafe fn grow_zeroed(
                &self,
                ptr: ::core::ptr::NonNull<u8>,
                old: ::core::alloc::Layout,
                new: ::core::alloc::Layout,
            ) -> Result<::core::ptr::NonNull<[u8]>, $crate::allocator_api2::alloc::AllocError> {
                // SAFETY: forwarded from the caller.
                self.with_heap(|h| unsafe { $crate::allocator::resize(h, ptr, old, new, true) })
            }

            #[inline]
            unsafe fn shrink(
                &self,
                ptr: ::core::ptr::NonNull<u8>,
                old: ::core::alloc::Layout,
                new: ::core::alloc::Layout,
            ) -> Result<::core::ptr::NonNull<[u8]>, $crate::allocator_api2::alloc::AllocError> {
                // SAFETY: forwarded from the caller.
                self.with_heap(|h| unsafe { $crate::allocator::resize(h, ptr, old, new, false) })
            }
        }
    };
}
