//! [`check_heap`]: with the `checks` feature, the calling thread's heap
//! verified on demand, and at exit (`lifecycle.rs` registers it).

use crate::thread_slot::{current, is_slot, with_heap};

/// With the `checks` feature, verifies every block of the calling thread's
/// heap (see [`masu_core::Heap::check_heap`]): the redzone of every live
/// block, so that an overflow of a block that is never freed is found too,
/// and the fill of every free or quarantined block, so that a write after
/// free is found before the block is reused. A fault prints its message and
/// aborts. Without `checks`, nothing.
///
/// With `checks`, masu runs it once more at exit (an `atexit` handler), on
/// the exiting thread's heap.
pub fn check_heap() {
    let s = current();
    if is_slot(s) {
        // SAFETY: the thread holds its slot, in no heap call.
        unsafe { with_heap(s, |h| h.check_heap()) };
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
