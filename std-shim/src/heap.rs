//! [`Heap`]: a heap that a program creates, allocates from as an
//! `Allocator`, and frees all at once (a request arena).

use crate::lifecycle;
use crate::os::MmapOs;
use crate::pool;
use core::cell::UnsafeCell;
use masu_core::{Counters, Stats};

/// A heap of its own over `mmap`, beside the threads' heaps: collections
/// take `&Heap` as their allocator on stable Rust (it implements
/// `allocator_api2::alloc::Allocator`: `Vec::new_in(&heap)`,
/// `Box::new_in(x, &heap)`, `hashbrown::HashMap::new_in(&heap)`), its
/// blocks are freed one by one as usual, and [`Heap::reset`] or dropping
/// the heap frees all that remain at once, in time proportional to the
/// heap's pages, not its blocks.
///
/// Its blocks borrow it, so none outlives it or a reset. It has its own
/// statistics ([`Heap::stats`]); the process-wide figures ([`crate::stats`])
/// cover the threads' heaps only, while [`crate::os_stats`] counts every
/// byte mapped, this heap's included. It follows the `MASU_*` options
/// and the run-time setters as the threads' heaps do (purge delay, cache
/// bounds, memory limit).
///
/// # Threads
/// A `Heap` is `Send` but not `Sync`: one thread at a time allocates from
/// it, and its blocks, which borrow it, cannot reach another thread in safe
/// code. Unsafe code may still hand a block's address to another thread and
/// free it there with the global allocator, when that is [`crate::Masu`]
/// (or with `libmasu`'s `free`): that free is remote, as for a block of
/// another thread's heap: the freeing thread batches it for the block's
/// page (publishing it at its next slow path or with
/// [`crate::flush_remote_frees`]), and the heap takes the block back in its
/// next allocation slow path or [`Heap::collect`]. The heap must not be
/// reset or dropped before such a free is published: the freeing thread
/// calls `masu::flush_remote_frees()` before it tells the heap's owner it
/// is done (`tests/heap.rs` does this).
///
/// ```
/// use allocator_api2::vec::Vec;
///
/// let mut heap = masu::Heap::new();
/// for request in 0..3 {
///     let mut words = Vec::new_in(&heap);
///     for i in 0..100 {
///         let mut w = Vec::new_in(&heap);
///         w.extend_from_slice(format!("word{i}-{request}").as_bytes());
///         words.push(w);
///     }
///     assert_eq!(words.len(), 100);
///     // No need to drop `words` block by block: the reset frees them all.
///     std::mem::forget(words);
///     heap.reset();
///     assert_eq!(heap.stats().live_bytes, 0);
/// }
/// ```
///
/// A block cannot outlive a reset (nor the heap): the borrow checker
/// refuses this,
///
/// ```compile_fail
/// let mut heap = masu::Heap::new();
/// let v = allocator_api2::vec::Vec::<u8, _>::new_in(&heap);
/// heap.reset(); // error: `heap` is still borrowed by `v`
/// drop(v);
/// ```
///
/// nor can a block go to another thread:
///
/// ```compile_fail
/// let heap = masu::Heap::new();
/// let b = allocator_api2::boxed::Box::new_in(1u32, &heap);
/// std::thread::scope(|s| {
///     s.spawn(move || drop(b)); // error: `&masu::Heap` is not `Send`
/// });
/// ```
pub struct Heap {
    heap: UnsafeCell<masu_core::Heap<MmapOs, Counters>>,
}

impl Heap {
    /// A new heap with the configuration the options give. Takes no memory
    /// until its first allocation.
    pub fn new() -> Heap {
        lifecycle::init();
        Heap {
            heap: UnsafeCell::new(masu_core::Heap::new(MmapOs, pool::new_heap_config())),
        }
    }

    /// Runs `f` on the heap. Private: none of its callers re-enters, so the
    /// `&mut` is the only reference to the heap while `f` runs.
    #[inline(always)]
    fn with_heap<R>(&self, f: impl FnOnce(&mut masu_core::Heap<MmapOs, Counters>) -> R) -> R {
        // SAFETY: `Heap` is `!Sync`, so only this thread reaches the heap,
        // and no closure passed here calls back into `self`.
        f(unsafe { &mut *self.heap.get() })
    }

    /// Frees every block at once, in time proportional to the heap's pages
    /// (see [`masu_core::Heap::reset`]); `&mut self` proves that no block
    /// is borrowed any more. The freed pages stay in the heap's segment
    /// cache for its next blocks (within the `MASU_LARGE_CACHE` bound)
    /// until the purge delay passes.
    pub fn reset(&mut self) {
        // SAFETY: `&mut self`: no block allocated through `&self` is still
        // borrowed. A block freed by another thread was published first
        // (the contract in "Threads" above).
        unsafe { self.heap.get_mut().reset() }
    }

    /// A snapshot of this heap's counters: its blocks, pages and memory.
    pub fn stats(&self) -> Stats {
        self.with_heap(|h| h.stats())
    }

    /// Takes back the blocks other threads freed, frees empty pages and
    /// gives back the memory whose purge delay has passed (all the free
    /// memory with `force`).
    pub fn collect(&self, force: bool) {
        self.with_heap(|h| h.collect(force))
    }
}

impl Default for Heap {
    fn default() -> Heap {
        Heap::new()
    }
}

masu_core::impl_allocator!([] Heap);
