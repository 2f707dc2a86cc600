//! The `checks` feature's redzone: the bytes after every block's end.
//!
//! With `checks` a request of `s` bytes takes `s + TRAILER` bytes of its
//! class or span. The block's last `TRAILER` bytes, at `U - TRAILER` where
//! `U` is the block's usable size (its class size, or its span's usable
//! bytes), hold the trailer: a fixed byte, [`SLACK_BYTE`]; the allocation
//! site (a return address in the program, 0 when unknown; 56 bits); `s`
//! (40 bits) with a 16-bit check mixed from the block's address, `s`, the
//! site and its segment's key; and the fixed byte again. The site and the
//! size words are stored masked with values mixed from the address and
//! the key, so that they cannot be predicted or forged. The fixed bytes
//! sit where one-byte overflows and underflows land: the first byte past a
//! request that fills its block, and the last byte before the block after
//! it. A masked byte there would let a one-byte write through whenever the
//! byte written happened to equal it (1 time in 256, at random); the fixed
//! byte lets through only a write of that byte, as the slack does. A
//! freed block keeps its trailer (see `block_check.rs`), so the messages
//! about a freed block can name its size and site too. The bytes between
//! the request's end and the trailer (the slack of the class's rounding; at
//! most `SLACK_CHECKED` of them) hold `SLACK_BYTE`. A free, a `realloc` and
//! a heap check verify both: a write past the request's end, even by one
//! byte, changes the slack or the trailer (a changed `s` no longer matches
//! its check word). A write before a block's start lands in the trailer of
//! the block before it, or in a free block's fill (see `block_check.rs`).

use crate::check::{report, Fault, FaultKind};
use crate::page::Page;
use crate::segment::Segment;

/// The trailer's bytes: a fixed byte, the allocation site, the requested
/// size and its check, a fixed byte.
pub(crate) const TRAILER: usize = 16;

/// What the slack between a request's end and its trailer holds.
pub(crate) const SLACK_BYTE: u8 = 0xbd;

/// The slack bytes written and verified (beyond them, up to the trailer,
/// a large span's slack is neither: an overflow that far reaches other
/// blocks' redzones or unmapped memory).
const SLACK_CHECKED: usize = 4096;

/// Bits of the trailer's second word that hold the check.
const CHECK_BITS: u32 = 16;

/// The masked bits of each trailer word (the eighth byte is fixed).
const WORD_BITS: u32 = 56;
const WORD_MASK: u64 = (1 << WORD_BITS) - 1;

/// Requests of this many bytes or more get no block with `checks` (the
/// trailer keeps 40 bits of size).
const MAX_SIZE: u64 = 1 << (WORD_BITS - CHECK_BITS);

/// splitmix64's finaliser.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The check of a block at `p` of `size` bytes allocated at `site` in a
/// segment with `key`.
#[inline]
fn check_of(p: usize, size: u64, site: u64, key: usize) -> u64 {
    mix((p as u64) ^ size.rotate_left(29) ^ site.rotate_left(41) ^ key as u64)
        & ((1 << CHECK_BITS) - 1)
}

/// The masks of the trailer's two words for a block at `p` with `key`.
#[inline]
fn masks(p: usize, key: usize) -> (u64, u64) {
    let a = mix(p as u64 ^ (key as u64).rotate_left(13));
    (a, mix(a))
}

/// The trailer's second word: the size in the low 40 bits, the check above.
#[inline]
fn meta_of(size: u64, check: u64) -> u64 {
    check << (WORD_BITS - CHECK_BITS) | size
}

/// The trailer's first word as stored: the fixed byte first (lowest
/// address), then the masked site.
#[inline]
fn first_word(site: u64, m0: u64) -> u64 {
    (((site ^ m0) & WORD_MASK) << 8 | SLACK_BYTE as u64).to_le()
}

/// The trailer's second word as stored: the masked size and check, then the
/// fixed byte (highest address).
#[inline]
fn second_word(meta: u64, m1: u64) -> u64 {
    ((meta ^ m1) & WORD_MASK | (SLACK_BYTE as u64) << WORD_BITS).to_le()
}

/// The site of a stored first word; None when its fixed byte changed.
#[inline]
fn site_of(stored: u64, m0: u64) -> Option<u64> {
    let w = u64::from_le(stored);
    (w as u8 == SLACK_BYTE).then_some(((w >> 8) ^ m0) & WORD_MASK)
}

/// The size and check of a stored second word, unverified; None when its
/// fixed byte changed.
#[inline]
fn meta_from(stored: u64, m1: u64) -> Option<u64> {
    let w = u64::from_le(stored);
    ((w >> WORD_BITS) as u8 == SLACK_BYTE).then_some((w ^ m1) & WORD_MASK)
}

/// The usable bytes of the block at `p` in `page` and the key: what the
/// trailer's place and check depend on.
///
/// # Safety
/// `page` is the live page of the block at `p` (its fixed fields are read
/// through the raw pointer).
#[inline]
pub(crate) unsafe fn block_of(page: *const Page, p: usize) -> (usize, usize) {
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

/// The smallest block with `checks`: a free block's link and tag (16
/// bytes) and the trailer it keeps after its free.
const MIN_CHECKED_BLOCK: usize = 16 + TRAILER;

/// The request size to ask the classes for: `size` and the trailer, at
/// least [`MIN_CHECKED_BLOCK`]; None when that overflows or the trailer
/// cannot hold `size`.
#[inline(always)]
pub(crate) fn with_trailer(size: usize) -> Option<usize> {
    if size as u64 >= MAX_SIZE {
        return None;
    }
    size.checked_add(TRAILER).map(|n| n.max(MIN_CHECKED_BLOCK))
}

/// Writes the slack and the trailer of a block just handed out for `size`
/// bytes, allocated at `site` (null passes through). Returns `p`.
///
/// # Safety
/// `p` is null or a block handed out for at least `size + TRAILER` bytes by
/// a heap whose segments are `base_mask`-aligned; `size < MAX_SIZE`.
pub(crate) unsafe fn arm(p: *mut u8, size: usize, base_mask: usize, site: usize) -> *mut u8 {
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
        let t = p.add(end) as *mut u64;
        let (size, site) = (size as u64, site as u64);
        let (m0, m1) = masks(p as usize, key);
        let check = check_of(p as usize, size, site, key);
        t.write_unaligned(first_word(site, m0));
        t.add(1)
            .write_unaligned(second_word(meta_of(size, check), m1));
    }
    p
}

/// The size and site in the trailer of the block at `p`, if its check
/// holds (else the trailer was overwritten).
///
/// # Safety
/// `page` is the live page of the block at `p`, a block of it.
pub(crate) unsafe fn read(page: *const Page, p: *const u8) -> Option<(usize, usize)> {
    // SAFETY: guaranteed by the caller: the block's bytes are readable.
    unsafe {
        let (usable, key) = block_of(page, p as usize);
        let t = p.add(usable - TRAILER) as *const u64;
        let (m0, m1) = masks(p as usize, key);
        let site = site_of(t.read_unaligned(), m0)?;
        let meta = meta_from(t.add(1).read_unaligned(), m1)?;
        let size = meta & (MAX_SIZE - 1);
        let ok = size <= (usable - TRAILER) as u64
            && meta >> (WORD_BITS - CHECK_BITS) == check_of(p as usize, size, site, key);
        ok.then_some((size as usize, site as usize))
    }
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
        let (usable, key) = block_of(page, p as usize);
        let stored = (p.add(usable - 8) as *const u64).read_unaligned();
        let meta = (u64::from_le(stored) ^ masks(p as usize, key).1) & WORD_MASK;
        (meta & (MAX_SIZE - 1)) as usize
    }
}

/// Verifies the trailer and the slack of the block at `p`; returns the size
/// it was allocated with and its site, or reports a `BufferOverflow`.
///
/// # Safety
/// `page` is the live page of the block at `p`, which `check_live` has
/// validated as a block in use.
pub(crate) unsafe fn verify(page: *const Page, p: *mut u8) -> (usize, usize) {
    // SAFETY: guaranteed by the caller: the block's bytes are readable.
    unsafe {
        let (usable, _) = block_of(page, p as usize);
        let end = usable - TRAILER;
        let Some((size, site)) = read(page, p) else {
            overflow(
                p,
                "the block's trailer was overwritten (a write past its end, or before the block after it)",
                end,
                None,
            );
        };
        let slack = (end - size).min(SLACK_CHECKED);
        let bytes = core::slice::from_raw_parts(p.add(size), slack);
        if let Some(i) = crate::fill::first_other(bytes, SLACK_BYTE) {
            overflow(
                p,
                "a byte past the block's end was overwritten (at this offset)",
                size + i,
                Some((size, site)),
            );
        }
        (size, site)
    }
}

#[cold]
fn overflow(p: *mut u8, detail: &'static str, value: usize, block: Option<(usize, usize)>) -> ! {
    report(Fault {
        kind: FaultKind::BufferOverflow,
        ptr: p as usize,
        detail,
        value,
        size: block.map(|b| b.0),
        site: block.and_then(|b| (b.1 != 0).then_some(b.1)),
    })
}
