//! Validating a freed pointer, for the `checks` feature: it
//! lies in memory of the heap's `Os`, under a segment header with its
//! cookie, in a page in use, at a block's start; and whether a tagged block
//! is on its page's free lists (a double free).

use crate::check::{fault, FaultKind};
use crate::list_walk::ListWalk;
use crate::os::Os;
use crate::page::Block;
use crate::page::{Page, PageClass};
use crate::segment::Segment;
use crate::sync::Ordering;

/// `ptr` lies in memory of `os` under a masu segment header at `seg`.
pub(crate) fn check_segment<O: Os>(os: &O, seg: *mut Segment, ptr: *mut u8) {
    let p = ptr as usize;
    if ptr.is_null() || !os.may_contain(seg as usize) {
        fault(
            FaultKind::ForeignPointer,
            p,
            "not inside memory this heap's Os handed out",
            seg as usize,
        );
    }
    // SAFETY: `seg` lies in memory of our `Os`, which is readable.
    let cookie = unsafe { (*seg).cookie };
    if !Segment::has_cookie(seg as usize, cookie) {
        fault(
            FaultKind::ForeignPointer,
            p,
            "no masu segment header at its segment address (not masu's, or freed twice after its segment was given back)",
            seg as usize,
        );
    }
}

/// The page of the block at `p` is in use.
pub(crate) fn check_in_use(seg: *mut Segment, page: *mut Page, class: PageClass, p: usize) {
    // SAFETY: `page` is a descriptor of the live segment `seg` (checked by
    // `check_segment`); its owner word is an atomic.
    if class == PageClass::UNUSED || unsafe { Page::owner_id_of(page) } == 0 {
        // A large span starts on a slice boundary; once freed, its
        // slices are free. Anything else in a free slice is foreign.
        // SAFETY: the cookie proves `seg` is a live segment header.
        let slice_shift = unsafe { (*seg).slice_shift }.min(usize::BITS - 1);
        if (p - seg as usize) & ((1usize << slice_shift) - 1) == 0 {
            fault(
                FaultKind::DoubleFree,
                p,
                "it starts a span whose slices are free (a large block freed twice, or a pointer into free memory)",
                class.raw() as usize,
            );
        }
        fault(
            FaultKind::ForeignPointer,
            p,
            "its page is not in use (never handed out, or freed twice after its page was given back)",
            class.raw() as usize,
        );
    }
}

/// The pointer `p` starts a block of its page (small) or its span (large
/// and huge).
pub(crate) fn check_boundary(page: *mut Page, (class, start): (PageClass, usize), p: usize) {
    if class.is_span() {
        if p != start {
            fault(
                FaultKind::ForeignPointer,
                p,
                "not the start of a large block",
                start,
            );
        }
    // SAFETY: `page` is a descriptor of a live segment (see `check_live`);
    // its fixed fields are read through the raw pointer.
    } else if unsafe { !Page::is_slot_start_of(page, p) } {
        fault(
            FaultKind::ForeignPointer,
            p,
            "not at a block boundary of its page",
            start,
        );
    }
}

/// True when `block` is free. The owner searches its lists; another
/// heap relies on the freed tag alone (and forms no reference to a
/// page whose owner may be writing it).
pub(crate) fn is_on_free_list(heap_id: usize, page: *mut Page, block: *mut Block) -> bool {
    // SAFETY: `check_live` passes a page of a live segment.
    if unsafe { Page::owner_id_of(page) } != heap_id {
        return true;
    }
    // SAFETY: as above, and the page is ours: no one else writes
    // its non-atomic fields.
    let page = unsafe { &*page };
    list_contains(page, page.free_list(), block)
        || list_contains(page, page.local_list(), block)
        || list_contains(
            page,
            page.thread_free.load(Ordering::Acquire) as *mut Block,
            block,
        )
}

/// True when `block` is on the list starting at `head` (owner only); a
/// broken list holds it only if it lies before the break.
pub(crate) fn list_contains(page: &Page, head: *mut Block, block: *mut Block) -> bool {
    // SAFETY: the owner walks its own page's list.
    unsafe { ListWalk::new(page, head) }
        .map_while(Result::ok)
        .any(|b| b == block)
}
