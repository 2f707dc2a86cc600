//! [`Masu`], the Rust global allocator: the shared entry paths
//! (`entry.rs`) behind `GlobalAlloc`.

use crate::entry::{alloc, dealloc, realloc};
use core::alloc::{GlobalAlloc, Layout};

/// masu as a Rust global allocator: each thread allocates from its own heap.
///
/// ```
/// #[global_allocator]
/// static A: masu::Masu = masu::Masu::new();
///
/// fn main() {
///     let v: Vec<u64> = (0..1000).collect();
///     assert_eq!(v.iter().sum::<u64>(), 999 * 1000 / 2);
///     assert!(masu::stats().alloc_count > 0);
/// }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Masu {
    _private: (),
}

impl Masu {
    /// The allocator. All `Masu` values share the same per-thread heaps.
    pub const fn new() -> Self {
        Masu { _private: () }
    }
}

// SAFETY: blocks come from masu-core heaps, which hand out disjoint blocks of
// at least `layout.size()` bytes aligned to `layout.align()`, or null. A
// thread's heap is only used by that thread (see `pool`); blocks freed by
// another thread go through the page's atomic `thread_free` list.
unsafe impl GlobalAlloc for Masu {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        alloc(layout, false)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        alloc(layout, true)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from `GlobalAlloc`'s contract.
        unsafe { dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded from `GlobalAlloc`'s contract.
        unsafe { realloc(ptr, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::alloc::GlobalAlloc;

    #[test]
    fn alloc_free_realloc_roundtrip() {
        let m = Masu::new();
        let l = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: valid layout; blocks are used within their size and freed
        // with the layout (or size) they have.
        unsafe {
            let p = m.alloc(l);
            assert!(!p.is_null());
            p.write_bytes(0xab, 100);
            let q = m.realloc(p, l, 5000);
            assert!(!q.is_null());
            assert!((0..100).all(|i| *q.add(i) == 0xab));
            let l2 = Layout::from_size_align(5000, 8).unwrap();
            m.dealloc(q, l2);
            let z = m.alloc_zeroed(Layout::from_size_align(1 << 20, 4096).unwrap());
            assert_eq!(z as usize % 4096, 0);
            assert!((0..1 << 20).step_by(997).all(|i| *z.add(i) == 0));
            m.dealloc(z, Layout::from_size_align(1 << 20, 4096).unwrap());
        }
    }
}
