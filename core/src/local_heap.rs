//! [`LocalHeap`]: a heap that one thread uses through shared references,
//! so that it can be an `Allocator` (`Vec::new_in(&heap)`), and that frees
//! everything at once ([`LocalHeap::reset`], or dropping it).

use crate::config::Config;
use crate::heap::Heap;
use crate::os::Os;
use crate::stats::{CounterSink, Counters, Stats};
use core::cell::UnsafeCell;

/// A [`Heap`] for one thread, used through `&self`: it implements
/// `allocator_api2::alloc::Allocator` for `&LocalHeap`, so collections take
/// it as their allocator on stable Rust, and their blocks borrow it: they
/// cannot outlive it, nor a [`LocalHeap::reset`].
///
/// It is `!Sync`: its blocks cannot reach another thread in safe code
/// (their allocator, a `&LocalHeap`, is not `Send`). It is `Send` when its
/// `Os` is: the heap may move to another thread while nothing borrows it.
///
/// ```
/// use allocator_api2::vec::Vec;
/// use masu_core::{Config, FixedRegion, LocalHeap};
///
/// let region = Box::leak(vec![0u8; 1 << 20].into_boxed_slice());
/// let os = FixedRegion::empty();
/// // SAFETY: the region is ours alone and lives forever.
/// unsafe { os.init(region.as_mut_ptr(), region.len()) };
/// let mut heap = LocalHeap::new(os, Config::FIXED_REGION);
/// for request in 0..3 {
///     let mut v = Vec::new_in(&heap);
///     v.extend(0..1000 * (request + 1));
///     assert_eq!(heap.stats().live_bytes >= v.len() * 4, cfg!(feature = "stats"));
///     core::mem::forget(v); // the reset frees it
///     heap.reset();
///     assert_eq!(heap.stats().live_bytes, 0);
/// }
/// ```
pub struct LocalHeap<O: Os, C: CounterSink = Counters> {
    heap: UnsafeCell<Heap<O, C>>,
}

impl<O: Os> LocalHeap<O, Counters> {
    /// A heap over `os` that keeps its counters inside. Takes no memory until
    /// the first allocation.
    pub const fn new(os: O, config: Config) -> Self {
        LocalHeap::from_heap(Heap::new(os, config))
    }
}

impl<O: Os, C: CounterSink> LocalHeap<O, C> {
    /// Wraps `heap`.
    pub const fn from_heap(heap: Heap<O, C>) -> Self {
        LocalHeap {
            heap: UnsafeCell::new(heap),
        }
    }

    /// Runs `f` on the heap. Private: none of its callers re-enters, so the
    /// `&mut` is the only reference to the heap while `f` runs.
    #[inline(always)]
    fn with_heap<R>(&self, f: impl FnOnce(&mut Heap<O, C>) -> R) -> R {
        // SAFETY: `LocalHeap` is `!Sync`, so only this thread reaches the
        // heap, and no closure passed here calls back into `self`.
        f(unsafe { &mut *self.heap.get() })
    }

    /// The heap itself.
    pub fn heap_mut(&mut self) -> &mut Heap<O, C> {
        self.heap.get_mut()
    }

    /// Frees every block at once, in time proportional to the heap's pages
    /// (see [`Heap::reset`]); `&mut self` proves that no block is borrowed
    /// any more. The memory stays with the heap's segment cache for the
    /// next blocks, within the cache's bounds, until its purge delay.
    pub fn reset(&mut self) {
        // SAFETY: `&mut self`: nothing allocated from `&self` is still
        // borrowed, so no block is used again. Another thread can free a
        // block only through unsafe code, whose contract (see the `masu`
        // crate's `Heap`) requires the free to be complete first.
        unsafe { self.heap.get_mut().reset() }
    }

    /// A snapshot of the heap's counters (see [`Heap::stats`]).
    pub fn stats(&self) -> Stats {
        self.with_heap(|h| h.stats())
    }

    /// Runs [`Heap::collect`]: collects other threads' frees, gives back
    /// what waits for its purge delay (everything free with `force`).
    pub fn collect(&self, force: bool) {
        self.with_heap(|h| h.collect(force))
    }
}

crate::impl_allocator!([O: Os, C: CounterSink] LocalHeap<O, C>);
