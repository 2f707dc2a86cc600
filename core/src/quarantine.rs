//! The `checks` feature's quarantine: freed small blocks held back before
//! they go onto a free list, so that a freed block is not handed out again
//! at once (a use after free then reads or writes a block nobody else
//! has), and a write into it while it waits is found when it leaves.
//!
//! A ring of up to `SLOTS` blocks per heap, oldest first, bounded by
//! `Config::quarantine_bytes` of block bytes (0: no quarantine). A block
//! enters after its free was checked and its free fill written; its second
//! word holds the quarantine tag (a free of it meanwhile is a double free).
//! It leaves, oldest first, when a new block would pass the bound, or all
//! of them at `collect`, `reset` and the heap's drop; then its fill and tag
//! are verified and it is freed as any block (onto its page's lists, or as
//! a remote free for another heap's block). Small blocks and large spans
//! enter (a span holds its slices meanwhile); huge blocks larger than the
//! bound do not. Until a block leaves, its page counts it in use: the
//! statistics count it as live, and `collect` lets every block go.

use core::ptr;

/// Most blocks in one heap's quarantine.
const SLOTS: usize = 256;

/// One heap's quarantine.
pub(crate) struct Quarantine {
    blocks: [*mut u8; SLOTS],
    sizes: [u32; SLOTS],
    /// Index of the oldest block.
    head: usize,
    len: usize,
    bytes: usize,
}

impl Quarantine {
    /// No block held.
    pub(crate) const EMPTY: Quarantine = Quarantine {
        blocks: [ptr::null_mut(); SLOTS],
        sizes: [0; SLOTS],
        head: 0,
        len: 0,
        bytes: 0,
    };

    /// Whether a block of `size` bytes may enter under `bound`.
    pub(crate) fn admits(size: usize, bound: usize) -> bool {
        size <= bound && size <= u32::MAX as usize
    }

    /// The oldest block, taken out, when a block of `size` bytes would not
    /// fit beside the others under `bound` (or the ring is full); else None.
    pub(crate) fn make_room(&mut self, size: usize, bound: usize) -> Option<*mut u8> {
        if self.len == 0 || (self.len < SLOTS && self.bytes + size <= bound) {
            return None;
        }
        self.take_oldest()
    }

    /// Takes out the oldest block, if any.
    pub(crate) fn take_oldest(&mut self) -> Option<*mut u8> {
        if self.len == 0 {
            return None;
        }
        let p = self.blocks[self.head];
        self.bytes -= self.sizes[self.head] as usize;
        self.head = (self.head + 1) % SLOTS;
        self.len -= 1;
        Some(p)
    }

    /// Holds `p`, a block of `size` bytes; `make_room` made room for it.
    pub(crate) fn push(&mut self, p: *mut u8, size: usize) {
        debug_assert!(self.len < SLOTS);
        let i = (self.head + self.len) % SLOTS;
        self.blocks[i] = p;
        self.sizes[i] = size as u32;
        self.len += 1;
        self.bytes += size;
    }

    /// The blocks held, oldest first.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = *mut u8> + '_ {
        (0..self.len).map(move |i| self.blocks[(self.head + i) % SLOTS])
    }
}
