//! Reservations given back while the background purger runs are unmapped
//! by the purger, not by the thread that freed them: `munmap` of a
//! resident reservation frees its pages (1.5–3 ms for 20 MiB on the
//! project's VM), which a program that frees a large buffer should not
//! wait for. The commit map forgets the reservation at once; only the
//! `munmap` waits, for the purger's next wake (at most its sleep between
//! passes, 100 ms).
//!
//! [`ReleaseStack`] holds the ranges: a lock-free stack linked through
//! the ranges' own first bytes (still mapped and no longer used: a node
//! costs nothing else). Any thread pushes with a compare-and-swap; a taker
//! takes the whole stack with another and then owns every node on it.
//! Pushers never read the node they link to, and a node's memory goes
//! only after a taker took it, so an address that comes back (unmapped,
//! mapped again, released again) while a push is in flight links the list
//! correctly: the push compares addresses only.
//!
//! Takers: the purger, at each wake and each pass; a thread whose `mmap`
//! failed (address space short: an `RLIMIT_AS`), before it tries again;
//! the child of a `fork`, at once (it has no purger). Without a running
//! purger, a release unmaps at once, as before. The loom model
//! `loom-tests/tests/deferred_release.rs` runs this stack.

use crate::sync::{Atomic, Ordering};
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr};

/// A released range waiting for its `munmap`, written at its start. The
/// links are untyped (`*mut u8`: a node's address), so that the atomic type
/// can be a parameter (the loom models run the stack on loom's).
pub struct Node<P = AtomicPtr<u8>> {
    /// The node pushed before this one (null: the last).
    next: P,
    /// The range's length in bytes.
    len: usize,
}

/// The stack of released ranges (see the module documentation).
pub struct ReleaseStack<P = AtomicPtr<u8>> {
    head: P,
}

// `new` is `const`, for the shim's static; `Default` cannot be.
#[allow(clippy::new_without_default)]
impl ReleaseStack {
    /// Empty, over `core`'s atomics.
    pub const fn new() -> Self {
        ReleaseStack {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

impl<P: Atomic<*mut u8>> Node<P> {
    /// The range's length in bytes.
    pub fn bytes(&self) -> usize {
        self.len
    }

    /// The node pushed before this one, once a taker owns the stack.
    pub fn next(&self) -> *mut Node<P> {
        self.next.load(Ordering::Relaxed) as *mut Node<P>
    }
}

impl<P: Atomic<*mut u8>> ReleaseStack<P> {
    /// Empty, over any atomics (the loom models).
    #[cfg(loom)]
    pub fn new_in() -> Self {
        ReleaseStack {
            head: P::new(ptr::null_mut()),
        }
    }

    /// Writes a node for the `len` bytes at `at` into their first bytes and
    /// pushes it.
    ///
    /// # Safety
    /// `[at, at + len)` is mapped, writable, aligned for a node, at least a
    /// node long, and nobody uses it any more: from now on it is the
    /// stack's, until a taker takes it.
    pub unsafe fn push(&self, at: *mut u8, len: usize) {
        let node = at as *mut Node<P>;
        let mut head = self.head.load(Ordering::Relaxed);
        // SAFETY: guaranteed by the caller: the memory is ours to write.
        unsafe {
            node.write(Node {
                next: P::new(head),
                len,
            })
        };
        // Release: a taker that sees the node sees its fields.
        while let Err(seen) =
            self.head
                .compare_exchange_weak(head, at, Ordering::Release, Ordering::Relaxed)
        {
            head = seen;
            // SAFETY: the node is still ours alone (not yet on the stack).
            unsafe { (*node).next.store(head, Ordering::Relaxed) };
        }
    }

    /// Takes every node on the stack (null: none); the caller owns them,
    /// linked by [`Node::next`].
    pub fn take_all(&self) -> *mut Node<P> {
        // A look first, so that an empty stack costs no write (the purger
        // takes at every wake and pass).
        if self.head.load(Ordering::Relaxed).is_null() {
            return ptr::null_mut();
        }
        // Acquire: the pushes of every node taken happen before.
        self.head.swap(ptr::null_mut(), Ordering::Acquire) as *mut Node<P>
    }
}

/// The shim's stack.
static STACK: ReleaseStack = ReleaseStack::new();
/// Reservations handed to the purger so far (for `OsStats`).
static DEFERRED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Reservations handed to the purger to unmap so far.
pub(crate) fn deferred() -> u64 {
    DEFERRED.load(core::sync::atomic::Ordering::Relaxed)
}

/// The purger runs and takes what [`defer`] hands it: set by the purger
/// when it starts; false before, and in a `fork` child.
static TAKER: AtomicBool = AtomicBool::new(false);

/// The purger runs and takes what [`defer`] hands it (`true`), or nobody
/// takes any more (`false`: a `fork` child), so releases unmap at once
/// again.
pub(crate) fn set_taker(on: bool) {
    TAKER.store(on, core::sync::atomic::Ordering::Release);
}

/// Hands the reservation `[at, at + len)` to the purger to unmap, if it
/// runs; false when it does not (the caller unmaps now).
///
/// # Safety
/// As for [`ReleaseStack::push`]; `at` is page-aligned.
pub(crate) unsafe fn defer(at: *mut u8, len: usize) -> bool {
    if !TAKER.load(core::sync::atomic::Ordering::Acquire) {
        return false;
    }
    // SAFETY: guaranteed by the caller.
    unsafe { STACK.push(at, len) };
    DEFERRED.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    // The caller is inside a heap call: wake, never start (that could
    // allocate).
    crate::wakeup::wake();
    true
}

/// Unmaps every range waiting; returns how many.
pub(crate) fn unmap_waiting() -> usize {
    let mut node = STACK.take_all();
    let mut n = 0;
    while !node.is_null() {
        // SAFETY: a taken node is ours: read it, then unmap its range
        // (the node goes with it).
        unsafe {
            let (next, len) = ((*node).next(), (*node).bytes());
            crate::platform::unmap(node as *mut u8, len);
            node = next;
        }
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three ranges pushed come back from one take, last pushed first,
    /// with their lengths; the stack is empty after.
    #[test]
    fn a_take_gets_every_range_pushed() {
        let stack = ReleaseStack::new();
        let lens = [4096usize, 3 * 4096, 2 * 4096];
        let ranges = lens.map(|len| {
            let p = crate::platform::map(len);
            assert!(!p.is_null());
            p
        });
        for (&p, &len) in ranges.iter().zip(&lens) {
            // SAFETY: a fresh mapping of `len` bytes, used by nothing else.
            unsafe { stack.push(p, len) };
        }
        let mut node = stack.take_all();
        for i in (0..3).rev() {
            assert_eq!(node as *mut u8, ranges[i], "last pushed first");
            // SAFETY: a taken node: ours; its range is unmapped once, after
            // the node is read.
            unsafe {
                assert_eq!((*node).bytes(), lens[i]);
                let next = (*node).next();
                crate::platform::unmap(node as *mut u8, lens[i]);
                node = next;
            }
        }
        assert!(node.is_null(), "three nodes only");
        assert!(stack.take_all().is_null());
    }
}
