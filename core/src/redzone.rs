//! The `checks` feature's redzone: the bytes after every block's end.
//!
//! With `checks` a request of `s` bytes takes `s + TRAILER` bytes of its
//! class or span. The block's last `TRAILER` bytes, at `U - TRAILER` where
//! `U` is the block's usable size (its class size, or its span's usable
//! bytes), hold the trailer: `s` and a check word mixed from the block's
//! address, `s` and its segment's key. The bytes between the request's end
//! and the trailer (the slack of the class's rounding; at most
//! `SLACK_CHECKED` of them) hold `SLACK_BYTE`. A free, a `realloc` and a
//! heap check verify both: a write past the request's end, even by one
//! byte, changes the slack or the trailer (a changed `s` no longer matches
//! its check word). A write before a block's start lands in the trailer of
//! the block before it, or in a free block's fill (see `block_check.rs`).

use crate::check::{report, Fault, FaultKind};
use crate::page::Page;
use crate::segment::Segment;

/// The trailer's bytes: the requested size and its check word.
pub(crate) const TRAILER: usize = 16;

/// What the slack between a request's end and its trailer holds.
pub(crate) const SLACK_BYTE: u8 = 0xbd;

/// The slack bytes written and verified (beyond them, up to the trailer,
/// a large span's slack is neither: an overflow that far reaches other
/// blocks' redzones or unmapped memory).
const SLACK_CHECKED: usize = 4096;

/// The check word of a block at `p` of `size` bytes in a segment with `key`.
#[inline]
fn check_word(p: usize, size: usize, key: usize) -> usize {
    let mut z = (p ^ size.rotate_left(29) ^ key) as u64;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as usize
}

/// The usable bytes of the block at `p` in `page` and the key: what the
/// trailer's place and check depend on.
///
/// # Safety
/// `page` is the live page of the block at `p` (its fixed fields are read
/// through the raw pointer).
#[inline]
unsafe fn block_of(page: *const Page, p: usize) -> (usize, usize) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let usable = if (*page).class.is_span() {
            (*page).block_size - (p - (*page).start as usize)
        } else {
            (*page).block_size
        };
        (usable, (*page).key)
    }
}

/// The request size to ask the classes for: `size` and the trailer; None
/// when that overflows.
#[inline(always)]
pub(crate) fn with_trailer(size: usize) -> Option<usize> {
    size.checked_add(TRAILER)
}

/// Writes the slack and the trailer of a block just handed out for `size`
/// bytes (null passes through). Returns `p`.
///
/// # Safety
/// `p` is null or a block handed out for at least `size + TRAILER` bytes by
/// a heap whose segments are `base_mask`-aligned.
pub(crate) unsafe fn arm(p: *mut u8, size: usize, base_mask: usize) -> *mut u8 {
    if p.is_null() {
        return p;
    }
    // SAFETY: a live block (the caller), so its segment and page are live;
    // the block holds `usable >= size + TRAILER` bytes.
    unsafe {
        let page = Segment::page_of(Segment::of(p, base_mask), p);
        let (usable, key) = block_of(page, p as usize);
        let end = usable - TRAILER;
        debug_assert!(size <= end);
        let slack = (end - size).min(SLACK_CHECKED);
        p.add(size).write_bytes(SLACK_BYTE, slack);
        let t = p.add(end) as *mut usize;
        t.write_unaligned(size);
        t.add(1).write_unaligned(check_word(p as usize, size, key));
    }
    p
}

/// The size the live block at `p` was allocated with, from its trailer,
/// unverified (for `usable_size`).
///
/// # Safety
/// `p` is a live block of a heap whose segments are `base_mask`-aligned.
pub(crate) unsafe fn requested_size(p: *const u8, base_mask: usize) -> usize {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let page = Segment::page_of(Segment::of(p, base_mask), p);
        let (usable, _) = block_of(page, p as usize);
        (p.add(usable - TRAILER) as *const usize).read_unaligned()
    }
}

/// Verifies the trailer and the slack of the block at `p`; returns the size
/// it was allocated with, or reports a `BufferOverflow`.
///
/// # Safety
/// `page` is the live page of the block at `p`, which `check_live` has
/// validated as a block in use.
pub(crate) unsafe fn verify(page: *const Page, p: *mut u8) -> usize {
    // SAFETY: guaranteed by the caller: the block's bytes are readable.
    unsafe {
        let (usable, key) = block_of(page, p as usize);
        let end = usable - TRAILER;
        let t = p.add(end) as *const usize;
        let size = t.read_unaligned();
        if size > end || t.add(1).read_unaligned() != check_word(p as usize, size, key) {
            overflow(p, "the block's trailer was overwritten", end, None);
        }
        let slack = (end - size).min(SLACK_CHECKED);
        let bytes = core::slice::from_raw_parts(p.add(size), slack);
        if let Some(i) = crate::fill::first_other(bytes, SLACK_BYTE) {
            overflow(
                p,
                "a byte past the block's end was overwritten (at this offset)",
                size + i,
                Some(size),
            );
        }
        size
    }
}

#[cold]
fn overflow(p: *mut u8, detail: &'static str, value: usize, size: Option<usize>) -> ! {
    report(Fault {
        kind: FaultKind::BufferOverflow,
        ptr: p as usize,
        detail,
        value,
        size,
        site: None,
    })
}
