//! Fail fast: the faults masu detects and the handler that reports them.
//!
//! With the `checks` feature the heap validates every free and every free-list
//! pop; a fault calls the installed handler, which must not return. The
//! default handler panics with a message naming the pointer and the fault.

use core::fmt;
use core::sync::atomic::{AtomicPtr, Ordering};

/// What kind of misuse was detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A block was freed while already free.
    DoubleFree,
    /// A pointer that this heap did not hand out (outside its segments, not at
    /// a block boundary, or in a page that is not in use).
    ForeignPointer,
    /// The layout passed to `dealloc`/`realloc` does not match the block.
    LayoutMismatch,
    /// A free-list link decoded to an address outside its page.
    CorruptFreeList,
}

impl FaultKind {
    /// A short, stable description used in fault messages.
    pub const fn describe(self) -> &'static str {
        match self {
            FaultKind::DoubleFree => "double free",
            FaultKind::ForeignPointer => "foreign pointer",
            FaultKind::LayoutMismatch => "layout mismatch",
            FaultKind::CorruptFreeList => "corrupted free list",
        }
    }
}

/// A detected fault: what happened, to which pointer, and the evidence.
#[derive(Clone, Copy, Debug)]
pub struct Fault {
    /// The fault's kind.
    pub kind: FaultKind,
    /// The pointer the fault is about.
    pub ptr: usize,
    /// Why masu concluded this.
    pub detail: &'static str,
    /// A number that goes with `detail` (a size, a class, an address).
    pub value: usize,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "masu: {} of {:#x}: {} ({:#x})",
            self.kind.describe(),
            self.ptr,
            self.detail,
            self.value
        )
    }
}

/// A fault handler: reports the fault and never returns.
pub type FaultHandler = fn(&Fault) -> !;

fn panic_handler(fault: &Fault) -> ! {
    panic!("{fault}")
}

// Not part of a concurrent protocol, only a process-wide setting, so a core
// atomic (see `sync`).
static HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Installs `handler` for all heaps in the process. The default panics.
pub fn set_fault_handler(handler: FaultHandler) {
    HANDLER.store(handler as *mut (), Ordering::Release);
}

/// Reports `fault` through the installed handler.
#[cold]
#[inline(never)]
pub fn report(fault: Fault) -> ! {
    let raw = HANDLER.load(Ordering::Acquire);
    if raw.is_null() {
        panic_handler(&fault)
    }
    // SAFETY: the only non-null values stored are `FaultHandler`s cast to
    // pointers by `set_fault_handler`; a pointer keeps the function's
    // provenance, and fn pointers and data pointers have the same size here.
    let handler: FaultHandler = unsafe { core::mem::transmute::<*mut (), FaultHandler>(raw) };
    handler(&fault)
}

/// Shorthand for `report(Fault { .. })`.
#[cfg_attr(not(feature = "checks"), allow(dead_code))]
#[cold]
pub(crate) fn fault(kind: FaultKind, ptr: usize, detail: &'static str, value: usize) -> ! {
    report(Fault {
        kind,
        ptr,
        detail,
        value,
    })
}

// ---------------------------------------------------------------------------
// Validation used by the heap when the `checks` feature is on.

#[cfg(feature = "checks")]
mod validate {
    use super::{fault, FaultKind};
    use crate::heap::{Heap, MIN_BLOCK};
    use crate::os::Os;
    use crate::page::{Block, Page, CLASS_LARGE, CLASS_UNUSED};
    use crate::segment::Segment;
    use crate::size_class::class_of;
    use crate::stats::CounterSink;
    use crate::sync::Ordering;
    use core::alloc::Layout;

    /// A freed block carries this in its second word.
    #[inline]
    fn freed_tag(key: usize) -> usize {
        key.rotate_left(31) ^ 0x5a5a_f4ee_d0b1_0c4b_u64 as usize
    }

    /// Clears the freed tag of a block being handed out.
    #[inline]
    pub(crate) fn clear_freed_tag(page: &Page, block: *mut u8) {
        if page.block_size >= 16 {
            // SAFETY: the block is ours and at least 16 bytes.
            unsafe { (block as *mut usize).add(1).write(0) };
        }
    }

    /// A link popped from `free` must be null or a block of the same page.
    #[inline]
    pub(crate) fn validate_link(page: &Page, block: *mut Block, next: *mut Block) {
        if !next.is_null() && !page.is_block_start(next as usize) {
            fault(
                FaultKind::CorruptFreeList,
                block as usize,
                "its free-list link points outside its page",
                next as usize,
            );
        }
    }

    /// A block taken from `thread_free` must be a block of the page.
    pub(crate) fn validate_remote(page: &Page, block: *mut Block) {
        if !page.is_block_start(block as usize) {
            fault(
                FaultKind::CorruptFreeList,
                block as usize,
                "remote free list holds a pointer outside its page",
                page.start as usize,
            );
        }
    }

    /// True when `block` is on the list starting at `head` (owner only).
    fn list_contains(page: &Page, mut cur: *mut Block, block: *mut Block) -> bool {
        let mut steps = 0usize;
        while !cur.is_null() && steps <= page.reserved as usize {
            if cur == block {
                return true;
            }
            if !page.is_block_start(cur as usize) {
                return false;
            }
            // SAFETY: `cur` is a free block of the page.
            cur = page.decode(unsafe { (*cur).next });
            steps += 1;
        }
        false
    }

    impl<O: Os, C: CounterSink> Heap<O, C> {
        /// Checks that `ptr` is a live block of a masu segment whose class
        /// matches `layout`; reports the fault otherwise.
        pub(crate) fn check_live(
            &self,
            seg: *mut Segment,
            ptr: *mut u8,
            layout: Layout,
        ) -> *mut Page {
            let p = ptr as usize;
            if ptr.is_null() || !self.os.may_contain(seg as usize) {
                fault(
                    FaultKind::ForeignPointer,
                    p,
                    "not inside memory this heap's Os handed out",
                    seg as usize,
                );
            }
            // SAFETY: `seg` lies in memory of our `Os`, which is readable.
            let cookie = unsafe { (*seg).cookie };
            if cookie != Segment::cookie_for(seg as usize) {
                fault(
                    FaultKind::ForeignPointer,
                    p,
                    "no masu segment header at its segment address (not masu's, or freed twice after its segment was given back)",
                    seg as usize,
                );
            }
            // SAFETY: the cookie proves `seg` is a live segment header.
            let page = unsafe { Segment::page_of(seg, ptr) };
            // The page may be another heap's, whose owner writes its lists
            // and counts meanwhile: no reference to it is formed here, only
            // reads of the fields that stay fixed while a block is in use.
            // (After a misuse they may not be, and the verdict is then a
            // best effort; a correct program is never misjudged.)
            // SAFETY: as above.
            let (class, start, block_size, key) = unsafe {
                (
                    (*page).class,
                    (*page).start as usize,
                    (*page).block_size,
                    (*page).key,
                )
            };
            // SAFETY: as above.
            if class == CLASS_UNUSED || unsafe { Page::owner_id_of(page) } == 0 {
                // A large span starts on a slice boundary; once freed, its
                // slices are free. Anything else in a free slice is foreign.
                // SAFETY: the cookie proves `seg` is a live segment header.
                let slice_shift = unsafe { (*seg).slice_shift }.min(usize::BITS - 1);
                if (p - seg as usize) & ((1usize << slice_shift) - 1) == 0 {
                    fault(
                        FaultKind::DoubleFree,
                        p,
                        "it starts a span whose slices are already free (a large block freed twice)",
                        class as usize,
                    );
                }
                fault(
                    FaultKind::ForeignPointer,
                    p,
                    "its page is not in use (never handed out, or freed twice after its page was given back)",
                    class as usize,
                );
            }
            if class >= CLASS_LARGE {
                if p != start {
                    fault(
                        FaultKind::ForeignPointer,
                        p,
                        "not the start of a large block",
                        start,
                    );
                }
                let rounded =
                    (layout.size().max(MIN_BLOCK) + layout.align() - 1) & !(layout.align() - 1);
                let small = rounded <= self.geometry.max_small_size
                    && layout.align() <= self.geometry.slice_size;
                if layout.size() > block_size || small {
                    fault(
                        FaultKind::LayoutMismatch,
                        p,
                        "layout size does not match the large block",
                        layout.size(),
                    );
                }
            } else {
                // SAFETY: as above.
                if unsafe { !Page::is_slot_start_of(page, p) } {
                    fault(
                        FaultKind::ForeignPointer,
                        p,
                        "not at a block boundary of its page",
                        start,
                    );
                }
                let rounded =
                    (layout.size().max(MIN_BLOCK) + layout.align() - 1) & !(layout.align() - 1);
                if rounded > self.geometry.max_small_size || class_of(rounded) != class as usize {
                    fault(
                        FaultKind::LayoutMismatch,
                        p,
                        "layout size maps to another class than the block's",
                        layout.size(),
                    );
                }
            }
            if block_size >= 16 {
                // SAFETY: the block is at least 16 bytes inside a live page.
                let tag = unsafe { (ptr as *const usize).add(1).read() };
                if tag == freed_tag(key) && self.is_on_free_list(page, ptr as *mut Block) {
                    fault(
                        FaultKind::DoubleFree,
                        p,
                        "the block is already free",
                        block_size,
                    );
                }
            }
            page
        }

        /// True when `block` is free. The owner searches its lists; another
        /// heap relies on the freed tag alone (and forms no reference to a
        /// page whose owner may be writing it).
        fn is_on_free_list(&self, page: *mut Page, block: *mut Block) -> bool {
            // SAFETY: `check_live` passes a page of a live segment.
            if unsafe { Page::owner_id_of(page) } != self.id {
                return true;
            }
            // SAFETY: as above, and the page is ours: no one else writes
            // its non-atomic fields.
            let page = unsafe { &*page };
            list_contains(page, page.free, block)
                || list_contains(page, page.local_free, block)
                || list_contains(
                    page,
                    page.thread_free.load(Ordering::Acquire) as *mut Block,
                    block,
                )
        }
    }

    /// Tags a block that passed `check_live` as free, just before it goes
    /// onto a free list.
    #[inline]
    ///
    /// Any thread may call it: it reads the page's fixed fields through the
    /// raw pointer.
    pub(crate) fn tag_freed(page: *const Page, block: *mut u8) {
        // SAFETY: the caller passes the live page of a block in use, whose
        // `block_size` and `key` are fixed meanwhile.
        let (block_size, key) = unsafe { ((*page).block_size, (*page).key) };
        if block_size >= 16 {
            // SAFETY: the block is ours until freed, and at least 16 bytes.
            unsafe { (block as *mut usize).add(1).write(freed_tag(key)) };
        }
    }
}

#[cfg(feature = "checks")]
pub(crate) use validate::{clear_freed_tag, tag_freed, validate_link, validate_remote};
