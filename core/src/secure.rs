//! The `secure` feature: production hardening, cheap enough to keep on
//! (without `checks`, which it is a light subset of).
//!
//! * Free-list links are encoded with the segment's key (as with
//!   `checks`), so a heap overflow or a use after free cannot plant a
//!   pointer the allocator follows; a popped link that leads out of its
//!   page is reported (`CorruptFreeList`) instead of followed.
//! * Every free is validated: the pointer lies in memory of the heap's
//!   `Os`, under a segment with its cookie, in a page in use, at a block's
//!   start (`ForeignPointer`); a block whose second word holds the freed
//!   tag is freed twice (`DoubleFree`).
//!   Each freed block gets the tag; a block handed out loses it, and must
//!   still hold it when it is popped (`UseAfterFree` otherwise: it was
//!   written while free). `Heap::check_heap` (at exit in the `masu` crate)
//!   verifies the tag and link of every free block on the owner's lists.
//! * New blocks are carved in a random order within windows of their
//!   batch (`Config::shuffle_window`, the windows in address order), so
//!   that the address of the next block is not the one after the last
//!   (`Page::extend`).

use crate::check::{fault, FaultKind};
use crate::list_walk::{Broken, ListWalk};
use crate::page::{freed_tag, Block, Page, PageClass};
use crate::segment::Segment;

/// Validates the free of `ptr` (see the module documentation); reports the
/// fault otherwise. Inlined into the free fast path: a few loads and
/// compares, and a 32-bit remainder for a small block's boundary. (Unlike
/// `checks`, it does not first ask the `Os` whether the segment address is
/// its memory: a wild pointer whose would-be header is unmapped stops the
/// program with a fault of the hardware instead.)
#[inline(always)]
pub(crate) fn check_free(seg: *mut Segment, ptr: *mut u8) {
    // SAFETY: a pointer the program passed to `free`: its would-be segment
    // header is read (see above); the page descriptor is read only once the
    // cookie proved the header is a segment's.
    unsafe {
        if !Segment::has_cookie(seg as usize, (*seg).cookie) {
            foreign(
                ptr,
                "no masu segment header at its segment address",
                seg as usize,
            );
        }
        let page = Segment::page_of(seg, ptr);
        let start = (*page).start as usize;
        let p = ptr as usize;
        // One test for three faults. A descriptor that does not start a
        // page in use has `span_bytes` 0 (`mark_unused`; checked by
        // `check_invariants`). A span's one block has `reserved` 1, so the
        // only offset below `span_bytes` that is a multiple of the block
        // size its fields were derived from is 0, whatever size it was
        // resized to in place since (past 2^32 bytes, `span_bytes`
        // saturates below the offset).
        let off = p.wrapping_sub(start);
        if off >= (*page).span_bytes as usize || !is_multiple(off, (*page).div_magic) {
            misplaced(ptr, page);
        }
        // The tag alone decides: another thread's free of the block may
        // wait in that thread's batch, on no list yet (a correct program's
        // live block holds the keyed tag only by a 1 in 2^64 chance).
        if (ptr as *const usize).add(1).read() == freed_tag((*page).key) {
            fault(
                FaultKind::DoubleFree,
                p,
                "the block is free (freed already, or never handed out)",
                (*page).block_size,
            );
        }
    }
}

/// Sets the fields `secure` derives from a page's `reserved` and
/// `block_size` (`div_magic`, `span_bytes`); called wherever a page
/// descriptor is written whole, after those two.
pub(crate) fn derive_page_fields(page: &mut Page) {
    page.div_magic = divisor_magic(page.block_size);
    page.span_bytes = span_bytes(page.reserved, page.block_size);
}

/// A page's `span_bytes`: the bytes its `reserved` blocks of `block_size`
/// take, saturated at `u32::MAX` (a huge block's; its checks do not use
/// it).
const fn span_bytes(reserved: u32, block_size: usize) -> u32 {
    let bytes = reserved as u64 * block_size as u64;
    if bytes > u32::MAX as u64 {
        u32::MAX
    } else {
        bytes as u32
    }
}

/// The divisibility constant of `d` (at least 2): `ceil(2^64 / d)`.
/// An offset `n` below 2^32 is a multiple of `d` exactly when
/// `n * magic mod 2^64 < magic` (Lemire, Kaser and Kurz, "Faster remainder
/// by direct computation", 2019): one multiplication where a remainder
/// costs a division on the free path.
const fn divisor_magic(d: usize) -> u64 {
    if d < 2 {
        // Every offset of a 1-byte block is a block's start (`n * 0 < 0`
        // would say none): not used, blocks are at least 16 bytes.
        return 0;
    }
    u64::MAX / d as u64 + 1
}

/// Whether `n` (below 2^32: an offset inside a page) is a multiple of the
/// block size whose [`divisor_magic`] is `magic`.
#[inline(always)]
fn is_multiple(n: usize, magic: u64) -> bool {
    (n as u64).wrapping_mul(magic) < magic
}

/// The number of `block` in `page` (its offset from the page's start over
/// the block size), from the page's `div_magic` without a division: exact
/// for offsets below 2^32 (Lemire, Kaser and Kurz, as for `is_multiple`).
///
/// # Safety
/// `block` is a block of the small page `page`.
#[inline(always)]
pub(crate) unsafe fn block_number(page: &Page, block: *mut Block) -> usize {
    let off = (block as usize).wrapping_sub(page.start as usize) as u64;
    debug_assert!(off < 1 << 32);
    let n = ((off as u128 * page.div_magic as u128) >> 64) as usize;
    debug_assert_eq!(n, off as usize / page.block_size);
    n
}

/// Reports a free that [`check_free`] found at no block's start: of a page
/// not in use, or inside a block.
///
/// # Safety
/// `page` is a page descriptor of a segment of ours.
#[cold]
#[inline(never)]
unsafe fn misplaced(ptr: *mut u8, page: *const Page) -> ! {
    // SAFETY: guaranteed by the caller.
    let (class, start) = unsafe { ((*page).class, (*page).start as usize) };
    if class == PageClass::UNUSED {
        foreign(
            ptr,
            "its page is not in use (freed twice, or never handed out)",
            start,
        );
    }
    foreign(ptr, "not at the start of a block", start)
}

/// A page that goes out of use keeps no block: every free into it is
/// reported (see [`check_free`]).
pub(crate) fn mark_unused(page: &mut Page) {
    page.span_bytes = 0;
}

#[cold]
#[inline(never)]
fn foreign(ptr: *mut u8, detail: &'static str, value: usize) -> ! {
    fault(FaultKind::ForeignPointer, ptr as usize, detail, value)
}

/// Tags a block just validated by [`check_free`] as freed.
///
/// # Safety
/// `ptr` is a block of the live `page`, at least 16 bytes, no longer used.
#[inline]
pub(crate) unsafe fn tag_freed(page: *const Page, ptr: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { (ptr as *mut usize).add(1).write(freed_tag((*page).key)) };
}

/// A block handed out loses its freed tag.
///
/// # Safety
/// `ptr` is a block of at least 16 bytes just taken off a free list.
#[inline(always)]
pub(crate) unsafe fn untag(ptr: *mut u8) {
    // SAFETY: guaranteed by the caller.
    unsafe { (ptr as *mut usize).add(1).write(0) };
}

/// Validates the block `take_block` pops from `page`'s free list and the
/// link it read from it: the link must be null or inside the page (one
/// comparison of the offset from the page's start), and the block must
/// still hold its freed tag (`UseAfterFree` otherwise: its second word was
/// written while it was free). A link that a write after free bent to
/// another address inside the page is caught at the next pop, which finds
/// no tag there. Two loads and two compares on the allocation fast path.
///
/// # Safety
/// `block` is the first block of `page`'s `free` list (at least 16 bytes).
#[inline(always)]
pub(crate) unsafe fn check_popped(page: &Page, block: *mut Block, next: *mut Block) {
    let n = next as usize;
    // Both tests computed first and taken in one branch: a branch on the
    // link being null (the end of a list, which comes at no regular
    // interval) cost `glibc-thread` about 4 % (docs/results/secure/,
    // "Session 29"). A bad link is reported before a bad tag, as before.
    let out = (n.wrapping_sub(page.start as usize) >= page.span_bytes as usize) & (n != 0);
    // SAFETY: guaranteed by the caller: a free block of at least 16 bytes.
    if out | !unsafe { holds_tag(page, block) } {
        if out {
            link_out_of_page(block, n);
        }
        tag_overwritten(block, page.block_size);
    }
}

/// Reports `UseAfterFree` unless the free `block` of `page` still holds
/// its freed tag.
///
/// # Safety
/// `block` is a free block of `page` (at least 16 bytes).
#[inline(always)]
unsafe fn check_tag(page: &Page, block: *mut Block) {
    // SAFETY: guaranteed by the caller.
    if !unsafe { holds_tag(page, block) } {
        tag_overwritten(block, page.block_size);
    }
}

/// Whether the free `block` of `page` still holds its freed tag.
///
/// # Safety
/// `block` is a block of `page` of at least 16 bytes.
#[inline(always)]
unsafe fn holds_tag(page: &Page, block: *mut Block) -> bool {
    // SAFETY: guaranteed by the caller.
    unsafe { (block as *const usize).add(1).read() == freed_tag(page.key) }
}

#[cold]
#[inline(never)]
fn link_out_of_page(block: *mut Block, link: usize) -> ! {
    fault(
        FaultKind::CorruptFreeList,
        block as usize,
        "a free block's link leads out of its page (overwritten after its free, or by an overflow)",
        link,
    )
}

#[cold]
#[inline(never)]
fn list_cycle(block: *mut Block, capacity: u32) -> ! {
    fault(
        FaultKind::CorruptFreeList,
        block as usize,
        "a page's free list runs past its carved blocks: an overwritten link closes a cycle",
        capacity as usize,
    )
}

#[cold]
#[inline(never)]
fn tag_overwritten(block: *mut Block, block_size: usize) -> ! {
    fault(
        FaultKind::UseAfterFree,
        block as usize,
        "a free block's freed tag was overwritten: written after its free, or by an overflow of the block before it",
        block_size,
    )
}

/// Verifies the blocks on `page`'s `free` and `local_free` lists, at most
/// `*budget` of them (each one verified counts it down): each block's freed
/// tag, and a link that is null or leads to the start of one of the page's
/// carved blocks; at most `capacity` blocks per list, so a cycle that an
/// overwritten link made ends the walk (`CorruptFreeList`).
/// Reports the first fault. What [`Heap::check_heap`](crate::Heap::check_heap)
/// runs with `secure`, on demand and (in the `masu` crate) at exit: it
/// finds a write after free or an overflow into a free block that is never
/// handed out again. Blocks other threads freed into the page
/// (`thread_free`) are checked when the owner takes them and pops them.
///
/// # Safety
/// `page` is a live page owned by the caller's heap, in no heap call.
pub(crate) unsafe fn check_page_lists(page: *const Page, budget: &mut usize) {
    // SAFETY: guaranteed by the caller.
    let page = unsafe { &*page };
    for head in [page.free_list(), page.local_list()] {
        // SAFETY: the owner walks its own lists, in no heap call.
        for step in unsafe { ListWalk::new(page, head) } {
            if *budget == 0 {
                return;
            }
            match step {
                Ok(block) => {
                    *budget -= 1;
                    // SAFETY: a carved block of the page, on its list.
                    unsafe { check_tag(page, block) };
                }
                Err(Broken::LinkOut { from, link }) => link_out_of_page(from, link),
                Err(Broken::TooLong) => list_cycle(head, page.capacity),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_divisibility_constant_agrees_with_the_remainder() {
        // Every block size of the classes and then some, offsets across a
        // whole segment and at the edges of 32 bits.
        for d in (16..=4096).chain([24 << 10, 40 << 10, 56 << 10, 64 << 10, (1 << 31) - 8]) {
            let magic = divisor_magic(d);
            let check = |n: usize| {
                if n > u32::MAX as usize {
                    return;
                }
                assert_eq!(is_multiple(n, magic), n % d == 0, "{n} by {d}");
            };
            for n in (0..(4 << 20)).step_by(d.max(4096) / 7 + 1) {
                check(n);
            }
            for k in 0..64 {
                check(d * k);
                check(d * k + 1);
                check((d * k).wrapping_sub(1) & 0xffff_ffff);
                check(u32::MAX as usize - k);
            }
        }
    }
}
