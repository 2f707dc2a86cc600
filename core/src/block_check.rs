//! The block checks of the `checks` feature: every free and `realloc`
//! validates its pointer (`check_live`), freed blocks carry a tag that
//! exposes double frees, and free-list links are decoded and validated
//! before use. Each failure reports a [`Fault`](crate::check::Fault).

use crate::check::{fault, FaultKind};
use crate::config::Geometry;
use crate::os::Os;
use crate::page::{Block, Page, PageClass};
use crate::segment::Segment;
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

/// Checks that `ptr` is a live block of a masu segment whose class matches
/// `layout`, for the heap with id `heap_id` over `os` with geometry `g`;
/// reports the fault otherwise.
pub(crate) fn check_live<O: Os>(
    os: &O,
    g: &Geometry,
    heap_id: usize,
    seg: *mut Segment,
    ptr: *mut u8,
    layout: Layout,
) -> *mut Page {
    let p = ptr as usize;
    check_segment(os, seg, ptr);
    // SAFETY: `check_segment` proved `seg` is a live segment header.
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
    check_in_use(seg, page, class, p);
    check_layout(g, page, (class, start, block_size), p, layout);
    if block_size >= 16 {
        // SAFETY: the block is at least 16 bytes inside a live page.
        let tag = unsafe { (ptr as *const usize).add(1).read() };
        if tag == freed_tag(key) && is_on_free_list(heap_id, page, ptr as *mut Block) {
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

/// `ptr` lies in memory of `os` under a masu segment header at `seg`.
fn check_segment<O: Os>(os: &O, seg: *mut Segment, ptr: *mut u8) {
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
    if cookie != Segment::cookie_for(seg as usize) {
        fault(
            FaultKind::ForeignPointer,
            p,
            "no masu segment header at its segment address (not masu's, or freed twice after its segment was given back)",
            seg as usize,
        );
    }
}

/// The page of the block at `p` is in use.
fn check_in_use(seg: *mut Segment, page: *mut Page, class: PageClass, p: usize) {
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
                "it starts a span whose slices are already free (a large block freed twice)",
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

/// The block at `p` starts a block of its page, and `layout` maps to the
/// page's class (small) or fits the span (large and huge).
fn check_layout(
    g: &Geometry,
    page: *mut Page,
    (class, start, block_size): (PageClass, usize, usize),
    p: usize,
    layout: Layout,
) {
    if class.is_span() {
        if p != start {
            fault(
                FaultKind::ForeignPointer,
                p,
                "not the start of a large block",
                start,
            );
        }
        let small = g.small_class(layout.size(), layout.align()).is_some();
        if layout.size() > block_size || small {
            fault(
                FaultKind::LayoutMismatch,
                p,
                "layout size does not match the large block",
                layout.size(),
            );
        }
    } else {
        // SAFETY: `page` is a descriptor of a live segment (see
        // `check_live`); its fixed fields are read through the raw pointer.
        if unsafe { !Page::is_slot_start_of(page, p) } {
            fault(
                FaultKind::ForeignPointer,
                p,
                "not at a block boundary of its page",
                start,
            );
        }
        if g.small_class(layout.size(), layout.align()) != Some(class.index()) {
            fault(
                FaultKind::LayoutMismatch,
                p,
                "layout size maps to another class than the block's",
                layout.size(),
            );
        }
    }
}

/// True when `block` is free. The owner searches its lists; another
/// heap relies on the freed tag alone (and forms no reference to a
/// page whose owner may be writing it).
fn is_on_free_list(heap_id: usize, page: *mut Page, block: *mut Block) -> bool {
    // SAFETY: `check_live` passes a page of a live segment.
    if unsafe { Page::owner_id_of(page) } != heap_id {
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
