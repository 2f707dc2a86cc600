//! [`LockedHeap`]: one [`Heap`] behind a lock, usable as the
//! `#[global_allocator]` of a `no_std` program. The lock is any
//! [`lock_api::RawMutex`]: a spin lock by default, or
//! [`CriticalSectionLock`](crate::CriticalSectionLock) (feature
//! `critical-section`) next to interrupt handlers.

use crate::config::Config;
use crate::fixed_region::FixedRegion;
use crate::heap::Heap;
use crate::os::Os;
use crate::stats::Stats;
use core::alloc::{GlobalAlloc, Layout};
use lock_api::{Mutex, MutexGuard, RawMutex};

/// The default lock of a [`LockedHeap`]: `spin`'s mutex.
pub type SpinLock = spin::Mutex<()>;

/// A heap shared behind a lock `R` (a spin lock unless said otherwise).
///
/// ```
/// use core::alloc::{GlobalAlloc, Layout};
/// use masu_core::{FixedRegion, LockedHeap};
///
/// // In firmware: `#[global_allocator] static HEAP: ... = LockedHeap::empty();`
/// static HEAP: LockedHeap<FixedRegion> = LockedHeap::empty();
///
/// #[repr(align(4096))]
/// struct Region([u8; 1 << 20]);
/// static mut REGION: Region = Region([0; 1 << 20]);
///
/// // At start-up, once: the heap takes the region.
/// // SAFETY: the region is ours alone, for the rest of the program.
/// unsafe { HEAP.init(core::ptr::addr_of_mut!(REGION).cast(), 1 << 20) };
/// let layout = Layout::from_size_align(100, 8).unwrap();
/// // SAFETY: a valid layout; the block is freed once, with it.
/// unsafe {
///     let p = HEAP.alloc(layout);
///     assert!(!p.is_null());
///     HEAP.dealloc(p, layout);
/// }
/// ```
///
/// A spin lock deadlocks when an interrupt handler allocates while the code
/// it interrupted holds the lock; on such systems use
/// `LockedHeap<FixedRegion, CriticalSectionLock>` (docs/embedded.md).
pub struct LockedHeap<O: Os, R: RawMutex = SpinLock> {
    heap: Mutex<R, Heap<O>>,
}

impl<O: Os, R: RawMutex> LockedHeap<O, R> {
    /// A locked heap over `os`.
    pub const fn new(os: O, config: Config) -> Self {
        LockedHeap {
            heap: Mutex::const_new(R::INIT, Heap::new(os, config)),
        }
    }

    /// Locks the heap for direct use.
    pub fn lock(&self) -> MutexGuard<'_, R, Heap<O>> {
        self.heap.lock()
    }

    /// A snapshot of the heap's counters.
    pub fn stats(&self) -> Stats {
        self.heap.lock().stats()
    }

    /// Runs [`Heap::collect`].
    pub fn collect(&self, force: bool) {
        self.heap.lock().collect(force)
    }

    /// Frees every block at once (see [`Heap::reset`]); `&mut self` proves
    /// that no block allocated through `&self` (as an `Allocator`) is
    /// borrowed any more.
    ///
    /// # Safety
    /// No block allocated through [`GlobalAlloc`] (whose blocks do not
    /// borrow the heap) is used afterwards.
    pub unsafe fn reset(&mut self) {
        // SAFETY: forwarded from the caller; `&mut self` for the others.
        unsafe { self.heap.get_mut().reset() }
    }

    /// Runs `f` on the locked heap (the `Allocator` methods).
    #[inline(always)]
    fn with_heap<T>(&self, f: impl FnOnce(&mut Heap<O>) -> T) -> T {
        f(&mut self.heap.lock())
    }
}

crate::impl_allocator!([O: Os, R: RawMutex] LockedHeap<O, R>);

impl<R: RawMutex> LockedHeap<FixedRegion, R> {
    /// A locked heap over a region that is given memory later by
    /// [`LockedHeap::init`]; allocation returns null until then.
    pub const fn empty() -> Self {
        Self::new(FixedRegion::empty(), Config::FIXED_REGION)
    }

    /// Like [`LockedHeap::empty`] with another configuration.
    pub const fn empty_with(config: Config) -> Self {
        Self::new(FixedRegion::empty(), config)
    }

    /// Gives the region `[start, start + len)` to the heap.
    ///
    /// # Safety
    /// As for [`FixedRegion::init`].
    pub unsafe fn init(&self, start: *mut u8, len: usize) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.heap.lock().os().init(start, len) }
    }

    /// Grows the heap's region up to `new_end`; false when it did not grow
    /// (see [`FixedRegion::extend_to`]).
    ///
    /// # Safety
    /// As for [`FixedRegion::extend_to`] (the heap's lock is held during
    /// the call, so this heap is not used meanwhile).
    pub unsafe fn extend_to(&self, new_end: *mut u8) -> bool {
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.heap.lock().os().extend_to(new_end) }
    }
}

// SAFETY: every call locks the heap, which upholds `GlobalAlloc`'s contract:
// blocks are at least `layout.size()` bytes, aligned to `layout.align()`,
// disjoint while live, and null is returned on failure.
unsafe impl<O: Os + Send, R: RawMutex + Sync> GlobalAlloc for LockedHeap<O, R> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.heap.lock().alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.heap.lock().alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `GlobalAlloc`'s caller guarantees `ptr` came from us with `layout`.
        unsafe { self.heap.lock().dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` is valid per `GlobalAlloc`.
        unsafe { self.heap.lock().realloc(ptr, layout, new_size) }
    }
}
