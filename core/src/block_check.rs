//! The block checks of the `checks` feature: every free and `realloc`
//! validates its pointer and the block's redzone (`check_live`, see
//! `redzone.rs`), freed blocks carry a tag that exposes double frees and a
//! fill that exposes writes after the free (verified when the block is
//! handed out again), and free-list links are decoded and validated before
//! use. Each failure reports a [`Fault`](crate::check::Fault).

use crate::check::{fault, FaultKind};
use crate::config::Geometry;
use crate::list_walk::{Broken, ListWalk};
use crate::os::Os;
use crate::page::{
    carved_fill, carved_tag, freed_tag, quarantine_tag, Block, Page, PageClass, FILL_BLOCKS,
    FREE_BYTE,
};
use crate::redzone::TRAILER;
use crate::segment::Segment;
use core::alloc::Layout;

/// Clears the freed tag of a large or huge block being handed out.
#[inline]
pub(crate) fn clear_freed_tag(page: &Page, block: *mut u8) {
    if page.block_size >= 16 {
        // SAFETY: the block is ours and at least 16 bytes.
        unsafe { (block as *mut usize).add(1).write(0) };
    }
}

/// The bytes of a freed block that hold the fill: all but its link, its
/// tag and its trailer (kept, so that the block's size and site can still
/// be named).
#[inline]
fn freed_fill(usable: usize) -> usize {
    if FILL_BLOCKS {
        usable.saturating_sub(16 + TRAILER)
    } else {
        0
    }
}

/// Reports `kind` about the block at `p`, with its size and site when its
/// trailer still holds them.
#[cold]
fn report_block(
    kind: FaultKind,
    page: *const Page,
    p: usize,
    detail: &'static str,
    value: usize,
) -> ! {
    // SAFETY: `page` is the live page of the block at `p` (the callers).
    let block = unsafe { crate::redzone::read(page, p as *const u8) };
    crate::check::report(crate::check::Fault {
        kind,
        ptr: p,
        detail,
        value,
        size: block.map(|b| b.0),
        site: block.and_then(|b| (b.1 != 0).then_some(b.1)),
    })
}

/// A freed block enters a quarantine: its tag says so, and its link word
/// holds the fill too (a large block's span is filled here as well), so
/// that any write while it waits is found.
///
/// # Safety
/// `block` is a block of the live `page` (small, or a span's), just freed
/// (`tag_freed`), of `size` usable bytes.
pub(crate) unsafe fn enter_quarantine(page: *const Page, block: *mut u8, size: usize) {
    // SAFETY: guaranteed by the caller; the block is at least 16 bytes.
    unsafe {
        block.write_bytes(FREE_BYTE, 8);
        (block as *mut usize)
            .add(1)
            .write(quarantine_tag((*page).key));
        // A small block's fill was written by `tag_freed`.
        if (*page).class.is_span() {
            block.add(16).write_bytes(FREE_BYTE, freed_fill(size));
        }
    }
}

/// A block leaves the quarantine: its tag and fill must be intact (a write
/// while it waited changed them), then it carries the freed tag.
///
/// # Safety
/// As for [`enter_quarantine`], for a block that entered it.
pub(crate) unsafe fn leave_quarantine(page: *const Page, block: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        check_quarantined(page, block);
        (block as *mut usize).add(1).write(freed_tag((*page).key));
    }
}

/// The tag, fill and trailer of a block in a quarantine are intact.
///
/// # Safety
/// As for [`leave_quarantine`].
pub(crate) unsafe fn check_quarantined(page: *const Page, block: *mut u8) {
    // SAFETY: guaranteed by the caller; fixed fields through the raw pointer.
    let key = unsafe { (*page).key };
    // SAFETY: as above.
    let tag = unsafe { (block as *const usize).add(1).read() };
    // SAFETY: the block's bytes are the quarantine's.
    let head = unsafe { core::slice::from_raw_parts(block, 8) };
    let bad = match crate::fill::first_other(head, FREE_BYTE) {
        Some(i) => Some(i),
        // SAFETY: as above.
        None if tag == quarantine_tag(key) => unsafe { first_unfilled(page, block) },
        None => Some(8),
    };
    if let Some(i) = bad {
        report_block(
            FaultKind::UseAfterFree,
            page,
            block as usize,
            "the block was written after it was freed, while in quarantine (at this offset)",
            i,
        );
    }
}

/// The offset of the first byte of a freed block's fill that is not
/// [`FREE_BYTE`], or of its trailer when that no longer holds.
///
/// # Safety
/// `block` is a freed block of the live `page`.
unsafe fn first_unfilled(page: *const Page, block: *mut u8) -> Option<usize> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let (usable, _) = crate::redzone::block_of(page, block as usize);
        let bytes = core::slice::from_raw_parts(block.add(16), freed_fill(usable));
        if let Some(i) = crate::fill::first_other(bytes, FREE_BYTE) {
            return Some(16 + i);
        }
        match crate::redzone::read(page, block) {
            Some(_) => None,
            None => Some(usable - TRAILER),
        }
    }
}

/// A block on its page's free list is as it was left: a freed block holds
/// the freed tag, the fill and its trailer; a carved one the carved tag and
/// the fill in every byte after it.
///
/// # Safety
/// `block` is a free block of `page` (at least 16 bytes).
unsafe fn check_free(page: &Page, block: *mut u8) {
    // SAFETY: guaranteed by the caller.
    let tag = unsafe { (block as *const usize).add(1).read() };
    let bad = if tag == freed_tag(page.key) {
        // SAFETY: as above.
        unsafe { first_unfilled(page, block) }
    } else if tag == carved_tag(page.key) {
        // SAFETY: as above.
        let bytes =
            unsafe { core::slice::from_raw_parts(block.add(16), carved_fill(page.block_size)) };
        crate::fill::first_other(bytes, FREE_BYTE).map(|i| 16 + i)
    } else {
        Some(8)
    };
    if let Some(i) = bad {
        report_block(
            FaultKind::UseAfterFree,
            page,
            block as usize,
            "the block was written after it was freed (at this offset)",
            i,
        );
    }
}

/// Every block of `page` checked (`Heap::check_heap`): the blocks on its
/// own free lists (`free`, `local_free`) as [`check_free`] does, and the
/// redzone of every block whose tag says it is in use. (Blocks with the
/// freed or the quarantine tag outside those lists wait on `thread_free`
/// or in a quarantine, which is checked on its own.)
///
/// # Safety
/// `page` is a live page owned by the caller, which no one else changes
/// meanwhile (other threads may free its blocks; see `check_heap`).
pub(crate) unsafe fn check_page(page: *mut Page) {
    // SAFETY: guaranteed by the caller: a shared look at an owned page.
    let pg = unsafe { &*page };
    let (freed, held, carved) = (
        freed_tag(pg.key),
        quarantine_tag(pg.key),
        carved_tag(pg.key),
    );
    if pg.class.is_span() {
        // SAFETY: the span's block is at least 16 bytes.
        let tag = unsafe { (pg.start as *const usize).add(1).read() };
        // SAFETY: `page` is live (the caller).
        if unsafe { Page::used_of(page) } != 0 && tag != held && tag != freed {
            // SAFETY: the span's block is in use.
            unsafe { crate::redzone::verify(page, pg.start) };
        }
        return;
    }
    for head in [pg.free_list(), pg.local_list()] {
        // SAFETY: the owner walks its own page's lists.
        for step in unsafe { ListWalk::new(pg, head) } {
            match step {
                // SAFETY: a carved block of the page, on its list.
                Ok(b) => unsafe { check_free(pg, b as *mut u8) },
                Err(Broken::LinkOut { from, link }) => validate_link(pg, from, link as *mut Block),
                // (A cycle: the page's blocks were all looked at.)
                Err(Broken::TooLong) => break,
            }
        }
    }
    for i in 0..pg.capacity as usize {
        let b = pg.start.wrapping_add(i * pg.block_size);
        // SAFETY: a carved block of the page, at least 16 bytes.
        let tag = unsafe { (b as *const usize).add(1).read() };
        if tag != freed && tag != held && tag != carved {
            // SAFETY: a block in use.
            unsafe { crate::redzone::verify(page, b) };
        }
    }
}

/// A small block leaves its page's free list: its fill must be intact (a
/// write after its free changed it), then its tag is cleared.
#[inline]
pub(crate) fn take_small(page: &Page, block: *mut u8) {
    // SAFETY: a free block of the page, `block_size` bytes long.
    unsafe { check_free(page, block) };
    clear_freed_tag(page, block);
}

/// A link popped from `free` must be null or a block of the same page.
#[inline]
pub(crate) fn validate_link(page: &Page, block: *mut Block, next: *mut Block) {
    if !next.is_null() && !page.is_block_start(next as usize) {
        fault(
            FaultKind::UseAfterFree,
            block as usize,
            "a free block's link was overwritten: written after it was freed (or past the end of the block before it)",
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

/// Checks that `ptr` is a live block of a masu segment, not free, with its
/// redzone intact, allocated with `layout` (see [`check_layout`]), for the
/// heap with id `heap_id` over `os` whose geometry is `geometry`; reports
/// the fault otherwise. Returns the block's page, the size it was
/// allocated with and its allocation site (0: unknown).
pub(crate) fn check_live<O: Os>(
    os: &O,
    geometry: &Geometry,
    heap_id: usize,
    seg: *mut Segment,
    ptr: *mut u8,
    layout: Layout,
) -> (*mut Page, usize, usize) {
    let p = ptr as usize;
    crate::pointer_check::check_segment(os, seg, ptr);
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
    crate::pointer_check::check_in_use(seg, page, class, p);
    crate::pointer_check::check_boundary(page, (class, start), p);
    if block_size >= 16 {
        // SAFETY: the block is at least 16 bytes inside a live page.
        let tag = unsafe { (ptr as *const usize).add(1).read() };
        if tag == quarantine_tag(key) {
            report_block(
                FaultKind::DoubleFree,
                page,
                p,
                "the block is already free (held in quarantine)",
                block_size,
            );
        }
        if tag == freed_tag(key)
            && crate::pointer_check::is_on_free_list(heap_id, page, ptr as *mut Block)
        {
            report_block(
                FaultKind::DoubleFree,
                page,
                p,
                "the block is already free",
                block_size,
            );
        }
        if tag == carved_tag(key) {
            fault(
                FaultKind::ForeignPointer,
                p,
                "a block that was never handed out",
                block_size,
            );
        }
    }
    // SAFETY: a block in use of the live page `page` (checked above).
    let (size, site) = unsafe { crate::redzone::verify(page, ptr) };
    check_layout(geometry, class, (p, size, site), layout);
    (page, size, site)
}

/// Whether a request of `size` bytes at alignment `align` is served from
/// `class`: a small class's own index, or (for a span's block) no small
/// class at all.
fn serves_from(geometry: &Geometry, class: PageClass, size: usize, align: usize) -> bool {
    let served =
        crate::redzone::with_trailer(size).and_then(|need| geometry.small_class(need, align));
    if class.is_small() {
        served == Some(class.index())
    } else {
        served.is_none()
    }
}

/// Checks that a live block of `class`, allocated with `size` bytes at
/// `site`, is freed with the layout it was allocated with: the same size,
/// and an alignment that serves that size from the block's own class (or
/// from a large span, for a span's block), since a size check alone passes
/// a block allocated at another alignment. A layout of size 0 means
/// unknown (C's `free` does not say): nothing to check.
fn check_layout(
    geometry: &Geometry,
    class: PageClass,
    (p, size, site): (usize, usize, usize),
    layout: Layout,
) {
    if layout.size() == 0 {
        return;
    }
    let (detail, value) = if layout.size() != size {
        (
            "the layout's size differs from the size the block was allocated with",
            layout.size(),
        )
    } else if serves_from(geometry, class, size, layout.align()) {
        return;
    } else {
        (
            "the layout's alignment differs from the one the block was allocated with",
            layout.align(),
        )
    };
    crate::check::report(crate::check::Fault {
        kind: FaultKind::LayoutMismatch,
        ptr: p,
        detail,
        value,
        size: Some(size),
        site: (site != 0).then_some(site),
    });
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
    let (block_size, key, small) =
        unsafe { ((*page).block_size, (*page).key, (*page).class.is_small()) };
    if block_size >= 16 {
        // SAFETY: the block is ours until freed, and at least 16 bytes.
        unsafe { (block as *mut usize).add(1).write(freed_tag(key)) };
    }
    if small {
        // SAFETY: as above: the block's bytes are ours to write. Its trailer
        // stays (see `freed_fill`).
        unsafe { block.add(16).write_bytes(FREE_BYTE, freed_fill(block_size)) };
    }
}
