//! [`check_heap`]: with the `checks` or `secure` feature, the calling
//! thread's heap verified on demand, and at exit (`lifecycle.rs` registers
//! it, unless `MASU_EXIT_CHECK=0`).

use crate::thread_slot::{current, is_slot, with_heap};

/// With the `checks` feature, verifies every block of the calling thread's
/// heap (see [`masu_core::Heap::check_heap`]): the redzone of every live
/// block, so that an overflow of a block that is never freed is found too,
/// and the fill of every free or quarantined block, so that a write after
/// free is found before the block is reused. With `secure` (without
/// `checks`), the freed tag and the link of every free block on the heap's
/// pages: a write after free or an overflow into a free block's first 16
/// bytes. A fault prints its message and aborts. Without either feature,
/// nothing.
///
/// With `checks` or `secure`, masu runs it once more at exit (an `atexit`
/// handler), on the exiting thread's heap, unless `MASU_EXIT_CHECK=0`.
pub fn check_heap() {
    check_heap_bounded(usize::MAX);
}

/// Free blocks the exit check verifies at most with `secure` (each costs
/// about a cache miss: 65,536 take a few milliseconds; measured in
/// docs/results/secure/).
#[cfg(any(feature = "checks", feature = "secure"))]
pub(crate) const EXIT_CHECK_FREE_BLOCKS: usize = 1 << 16;

/// [`check_heap`] with at most `max_free_blocks` free blocks verified with
/// `secure` (see [`masu_core::Heap::check_heap_bounded`]).
pub(crate) fn check_heap_bounded(max_free_blocks: usize) {
    let s = current();
    if is_slot(s) {
        // SAFETY: the thread holds its slot, in no heap call.
        unsafe { with_heap(s, |h| h.check_heap_bounded(max_free_blocks)) };
    }
}

/// With the `checks` feature, verifies the blocks the calling thread's heap
/// holds in quarantine (the most recently freed, up to `MASU_QUARANTINE`
/// bytes; see [`masu_core::Heap::check_quarantine`]): a write into a block
/// freed a moment ago is reported, at a cost bounded by the quarantine,
/// not the heap. A fault prints its message and aborts. Without `checks`,
/// nothing. What a fuzz target calls after every input (docs/fuzzing.md).
pub fn check_quarantine() {
    let s = current();
    if is_slot(s) {
        // SAFETY: the thread holds its slot, in no heap call.
        unsafe { with_heap(s, |h| h.check_quarantine()) };
    }
}
