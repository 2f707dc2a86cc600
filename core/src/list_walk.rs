//! One bounded walk of a page's free list, for every reader that must not
//! trust the links blindly: a write after a free (or an overflow) may have
//! bent a link out of the page or closed a cycle. The `secure` heap check,
//! the `checks` page check, the invariant checker, the lookup of a block on
//! the lists, and the background purger's walks (`idle_discard.rs`) all
//! walk with it, and each decides what a broken list means to it (a fault,
//! an error, or leaving the page alone).
//!
//! The walk yields each block of the list that is a carved block of the
//! page, decoding the links with the page's key; a link that leads
//! anywhere else ends it with [`Broken::LinkOut`] after the block that holds
//! it, and a list longer than the page's carved blocks (a cycle) ends with
//! [`Broken::TooLong`].

use crate::page::{block_start_within, decode_link, Block, Page};

/// Why a walk ended before the list's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Broken {
    /// The link in `from` (null for the list's head itself) leads to
    /// `link`, which is no carved block of the page.
    LinkOut { from: *mut Block, link: usize },
    /// The list holds more blocks than the page has carved: a cycle.
    TooLong,
}

/// The walk over a page's list: an iterator of its blocks, then at most
/// one [`Broken`].
pub(crate) struct ListWalk {
    start: usize,
    block_size: usize,
    capacity: u32,
    key: usize,
    cur: *mut Block,
    steps: u32,
    broken: Option<Broken>,
}

impl ListWalk {
    /// A walk of the list of `page`'s blocks that starts at `head`.
    ///
    /// # Safety
    /// `page` is a live page whose `start`, `block_size`, `capacity` and
    /// `key` nobody writes during the walk, and nobody writes the links of
    /// the list's blocks meanwhile (the owner walks its own lists; the
    /// background purger, the ones behind heads that only it may relink).
    pub(crate) unsafe fn new(page: *const Page, head: *mut Block) -> ListWalk {
        // SAFETY: guaranteed by the caller; field reads through the raw
        // pointer form no reference to the whole page.
        let (start, block_size, capacity, key) = unsafe {
            (
                (*page).start as usize,
                (*page).block_size,
                (*page).capacity,
                (*page).key,
            )
        };
        let mut walk = ListWalk {
            start,
            block_size,
            capacity,
            key,
            cur: head,
            steps: 0,
            broken: None,
        };
        if !head.is_null() && !walk.is_carved(head) {
            walk.cur = core::ptr::null_mut();
            walk.broken = Some(Broken::LinkOut {
                from: core::ptr::null_mut(),
                link: head as usize,
            });
        }
        walk
    }

    /// True when `b` is the start of one of the page's carved blocks.
    fn is_carved(&self, b: *mut Block) -> bool {
        block_start_within(self.start, self.block_size, self.capacity, b as usize)
    }
}

impl Iterator for ListWalk {
    type Item = Result<*mut Block, Broken>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.cur;
        if b.is_null() {
            return self.broken.take().map(Err);
        }
        if self.steps == self.capacity {
            self.cur = core::ptr::null_mut();
            return Some(Err(Broken::TooLong));
        }
        self.steps += 1;
        // SAFETY: `b` is a carved block of the page (the head was checked
        // by `new`, every link below), whose link nobody writes meanwhile
        // (the contract of `new`).
        let link = decode_link(self.key, unsafe { (*b).next });
        if link.is_null() || self.is_carved(link) {
            self.cur = link;
        } else {
            self.cur = core::ptr::null_mut();
            self.broken = Some(Broken::LinkOut {
                from: b,
                link: link as usize,
            });
        }
        Some(Ok(b))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::page::encode_link;
    use std::vec::Vec;

    /// A page over `blocks` carved blocks of 32 bytes in `memory`, linked
    /// in the order `order` (indices), the last to `end` (raw).
    fn page_with(memory: &mut [u64], blocks: u32, order: &[usize], end: usize) -> Page {
        let mut page = Page::new();
        page.start = memory.as_mut_ptr() as *mut u8;
        page.block_size = 32;
        page.capacity = blocks;
        page.reserved = blocks;
        page.key = 0x1234_5678_9abc_def1;
        let at = |i: usize| page.start.wrapping_add(i * 32) as *mut Block;
        for w in order.windows(2) {
            // SAFETY: blocks of `memory`.
            unsafe { (*at(w[0])).next = encode_link(page.key, at(w[1])) };
        }
        // SAFETY: as above.
        unsafe { (*at(*order.last().unwrap())).next = end };
        page
    }

    fn walk(page: &Page, head: usize) -> Vec<Result<usize, Broken>> {
        let at = |i: usize| page.start.wrapping_add(i * 32) as *mut Block;
        let index = |b: *mut Block| (b as usize - page.start as usize) / 32;
        // SAFETY: the page's memory lives; nothing else writes it.
        unsafe { ListWalk::new(page, at(head)) }
            .map(|r| r.map(index))
            .collect()
    }

    #[test]
    fn a_sound_list_yields_its_blocks_in_order() {
        let mut memory = [0u64; 4 * 8];
        let end = encode_link(0x1234_5678_9abc_def1, core::ptr::null_mut());
        let page = page_with(&mut memory, 8, &[3, 1, 6], end);
        assert_eq!(walk(&page, 3), [Ok(3), Ok(1), Ok(6)]);
    }

    #[test]
    fn a_bent_link_ends_the_walk_after_its_block() {
        let mut memory = [0u64; 4 * 8];
        let page = page_with(&mut memory, 8, &[2, 5], 0xdead_beef);
        let got = walk(&page, 2);
        assert_eq!(got.len(), 3);
        assert_eq!(got[..2], [Ok(2), Ok(5)]);
        assert!(matches!(got[2], Err(Broken::LinkOut { .. })), "{got:?}");
    }

    #[test]
    fn a_cycle_ends_the_walk_after_as_many_blocks_as_are_carved() {
        let mut memory = [0u64; 4 * 8];
        let key = 0x1234_5678_9abc_def1;
        let start = memory.as_mut_ptr() as usize;
        let page = page_with(
            &mut memory,
            8,
            &[4, 7],
            encode_link(key, (start + 4 * 32) as *mut Block),
        );
        let got = walk(&page, 4);
        assert_eq!(got.len(), 9);
        assert_eq!(got[8], Err(Broken::TooLong));
    }

    #[test]
    fn a_head_outside_the_carved_blocks_is_broken_at_once() {
        let mut memory = [0u64; 4 * 8];
        let end = encode_link(0x1234_5678_9abc_def1, core::ptr::null_mut());
        let page = page_with(&mut memory, 4, &[1], end);
        // Block 6 lies past the four carved ones.
        let got = walk(&page, 6);
        assert!(matches!(got[..], [Err(Broken::LinkOut { .. })]), "{got:?}");
    }
}
