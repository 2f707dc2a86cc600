//! [`BlockSet`]: a set of block numbers of one page (a bitmap), taken out in
//! ascending order.
//!
//! With `secure`, a heap's chain of remote frees to one page
//! (`remote_buffer.rs`) is kept as such a set and linked in address order
//! when it is published, whatever order the program freed its blocks in.
//! The page's owner pops the chain's blocks in that order: each pop loads
//! the link of a block that the freeing thread's core wrote last, and in
//! address order those loads run ahead in the hardware prefetcher, where in
//! the order of `secure`'s randomly carved blocks every one waits for its
//! line to cross from the other core (mimalloc-bench `xmalloc-test`;
//! `docs/results/secure/`).
//!
//! # Invariants
//! * A bit is set exactly for the block numbers inserted since the set was
//!   last drained; each is below [`SET_BLOCKS`].
//! * `lo` and `hi` bound the words with a bit set (`lo > hi` when none is).

/// Block numbers a set holds: the blocks of a 64 KiB page of 16-byte blocks.
pub(crate) const SET_BLOCKS: usize = 4096;

/// Words of the bitmap.
const WORDS: usize = SET_BLOCKS / 64;

/// A set of block numbers below [`SET_BLOCKS`] (see the module
/// documentation).
pub(crate) struct BlockSet {
    bits: [u64; WORDS],
    lo: usize,
    hi: usize,
}

impl BlockSet {
    /// The empty set.
    pub const EMPTY: BlockSet = BlockSet {
        bits: [0; WORDS],
        lo: WORDS,
        hi: 0,
    };

    /// Adds block number `n`; false, changing nothing, when `n` is not below
    /// [`SET_BLOCKS`].
    #[inline(always)]
    pub fn insert(&mut self, n: usize) -> bool {
        let w = n / 64;
        if w >= WORDS {
            return false;
        }
        debug_assert!(
            self.bits[w] & (1 << (n % 64)) == 0,
            "block {n} inserted twice"
        );
        self.bits[w] |= 1 << (n % 64);
        self.lo = self.lo.min(w);
        self.hi = self.hi.max(w);
        true
    }

    /// Calls `f` with every block number of the set in ascending order and
    /// empties the set.
    #[inline(always)]
    pub fn drain(&mut self, mut f: impl FnMut(usize)) {
        let (lo, hi) = (self.lo, self.hi);
        for w in lo..=hi.min(WORDS - 1) {
            let mut word = self.bits[w];
            self.bits[w] = 0;
            while word != 0 {
                f(w * 64 + word.trailing_zeros() as usize);
                word &= word - 1;
            }
        }
        self.lo = WORDS;
        self.hi = 0;
    }

    /// True when the set holds no block number.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.bits.iter().all(|&w| w == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(set: &mut BlockSet) -> [usize; 8] {
        let mut out = [usize::MAX; 8];
        let mut k = 0;
        set.drain(|n| {
            out[k] = n;
            k += 1;
        });
        out
    }

    #[test]
    fn numbers_come_out_in_ascending_order_and_the_set_empties() {
        let mut set = BlockSet::EMPTY;
        for n in [4000, 3, 64, 63, 65, 0, 1000] {
            assert!(set.insert(n));
        }
        assert_eq!(
            drained(&mut set),
            [0, 3, 63, 64, 65, 1000, 4000, usize::MAX]
        );
        assert!(set.is_empty());
        // Drained sets take new numbers below the old bounds.
        assert!(set.insert(5));
        assert_eq!(drained(&mut set)[..2], [5, usize::MAX]);
    }

    #[test]
    fn a_number_past_the_set_is_refused() {
        let mut set = BlockSet::EMPTY;
        assert!(!set.insert(SET_BLOCKS));
        assert!(set.insert(SET_BLOCKS - 1));
        assert_eq!(drained(&mut set)[..2], [SET_BLOCKS - 1, usize::MAX]);
    }

    #[test]
    fn an_empty_set_drains_nothing() {
        let mut set = BlockSet::EMPTY;
        assert_eq!(drained(&mut set)[0], usize::MAX);
    }
}
