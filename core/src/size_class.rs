//! Size classes: the boxes that small and medium requests are measured into.
//!
//! * 8-byte steps from 8 to 128 bytes (16 classes);
//! * above 128 bytes, eight classes per power of two up to [`MAX_CLASS_SIZE`].
//!
//! A request of `n` bytes gets the smallest class `>= n`, so the waste is at
//! most one step: under 12.5 % of the request for every request of 64 bytes or
//! more. The lookup is a few shifts, with no search loop.
//!
//! Every class size is a multiple of the step of its power-of-two band. That
//! gives the alignment rule the heap relies on: if `n` is a multiple of a power
//! of two `a`, then `class_size(class_of(n))` is a multiple of `a` too, so a
//! request rounded up to its alignment lands in a class whose blocks, laid end
//! to end from an `a`-aligned page start, are all `a`-aligned.

use static_assertions::const_assert;

/// Number of size classes.
pub const CLASS_COUNT: usize = 16 + 8 * 9;
/// The largest request served from a size class (64 KiB); larger ones take spans.
pub const MAX_CLASS_SIZE: usize = 1 << 16;
/// Requests up to this size use the exact 8-byte steps.
const TINY_MAX: usize = 128;

/// Smallest block handed out: with `checks`, 16 bytes so a freed block can
/// carry a tag in its second word.
pub(crate) const MIN_BLOCK: usize = if cfg!(any(feature = "checks", feature = "secure")) {
    16
} else {
    1
};

/// `size` raised to the smallest block a request gets with `checks` (16
/// bytes, room for the freed tag); unchanged without (a size of 0 stays 0).
#[inline(always)]
pub(crate) const fn size_or_min(size: usize) -> usize {
    if MIN_BLOCK > 1 && size < MIN_BLOCK {
        MIN_BLOCK
    } else {
        size
    }
}

/// The bytes a request of `size` aligned to `align` (a power of two) takes
/// before its class is chosen: at least [`MIN_BLOCK`] and at least 1 (a zero
/// size rounds up to a whole aligned block), rounded up to `align`. The one
/// rule that the allocation, `realloc` and the checks share.
///
/// `size + align - 1` must not overflow (a `Layout` guarantees it).
#[inline(always)]
pub(crate) const fn request_bytes(size: usize, align: usize) -> usize {
    let s = if size < MIN_BLOCK { MIN_BLOCK } else { size };
    let s = if s == 0 { 1 } else { s };
    (s + align - 1) & !(align - 1)
}

/// The class index for a request of `size` bytes (`1..=MAX_CLASS_SIZE`).
///
/// `size == 0` is treated as 1. Sizes above [`MAX_CLASS_SIZE`] are a caller bug
/// (checked in debug builds).
#[inline(always)]
pub const fn class_of(size: usize) -> usize {
    debug_assert!(size <= MAX_CLASS_SIZE);
    if size <= TINY_MAX {
        // 1..=8 -> 0, 9..=16 -> 1, ... ; size 0 wraps to class 0 as well.
        size.saturating_sub(1) >> 3
    } else {
        let m = size - 1;
        // floor(log2(m)); m >= 128 so band >= 7.
        let band = (usize::BITS - 1 - m.leading_zeros()) as usize;
        let sub = (m >> (band - 3)) & 7;
        16 + (band - 7) * 8 + sub
    }
}

/// The block size of class `class`.
#[inline(always)]
pub const fn class_size(class: usize) -> usize {
    CLASS_SIZES[class] as usize
}

const fn build_class_sizes() -> [u32; CLASS_COUNT] {
    let mut t = [0u32; CLASS_COUNT];
    let mut c = 0;
    while c < CLASS_COUNT {
        t[c] = if c < 16 {
            ((c + 1) * 8) as u32
        } else {
            let band = 7 + (c - 16) / 8;
            let sub = (c - 16) % 8;
            ((1usize << band) + (sub + 1) * (1usize << (band - 3))) as u32
        };
        c += 1;
    }
    t
}

/// Requests up to this size (after rounding up to an alignment of at most
/// 16) find their class in [`CLASS_BY_WORDS`].
pub const DIRECT_MAX: usize = 1024;

const fn build_class_by_words() -> [u8; DIRECT_MAX / 8 + 1] {
    let mut t = [0u8; DIRECT_MAX / 8 + 1];
    let mut i = 0;
    while i <= DIRECT_MAX / 8 {
        // A request below the smallest block (with `checks` or `secure`)
        // gets the smallest block's class, so that the fast paths need not
        // raise the size first.
        let bytes = if i * 8 < MIN_BLOCK { MIN_BLOCK } else { i * 8 };
        t[i] = class_of(bytes) as u8;
        i += 1;
    }
    // A zero-size request gets a 16-byte block, aligned for any alignment up
    // to 16 (the table serves those).
    t[0] = class_of(16) as u8;
    t
}

/// `class_of(max(8 * i, MIN_BLOCK))` for every `1 <= i <= DIRECT_MAX / 8`,
/// and the 16-byte class for `i == 0`: the class of a request of `n` bytes
/// (after rounding up to an alignment of at most 16) is
/// `CLASS_BY_WORDS[(n + 7) / 8]`, one load, whether or not `n` was first
/// raised to `MIN_BLOCK` (16 bytes with `checks` or `secure`, else 1).
pub const CLASS_BY_WORDS: [u8; DIRECT_MAX / 8 + 1] = build_class_by_words();

/// Block size of every class, smallest first.
pub const CLASS_SIZES: [u32; CLASS_COUNT] = build_class_sizes();

/// True when the table is strictly increasing, 8-byte aligned, ends at
/// [`MAX_CLASS_SIZE`], and `class_of` maps every class size to itself and the
/// byte after it to the next class.
const fn table_is_consistent() -> bool {
    let mut c = 0;
    while c < CLASS_COUNT {
        let s = CLASS_SIZES[c] as usize;
        if s % 8 != 0 || class_of(s) != c {
            return false;
        }
        if c > 0
            && (CLASS_SIZES[c - 1] as usize >= s || class_of(CLASS_SIZES[c - 1] as usize + 1) != c)
        {
            return false;
        }
        c += 1;
    }
    CLASS_SIZES[CLASS_COUNT - 1] as usize == MAX_CLASS_SIZE
}

/// True when, for every class, the worst request it serves (one byte above the
/// previous class) wastes at most 1/8 of the request, for requests >= 64 B.
const fn waste_is_bounded() -> bool {
    let mut c = 1;
    while c < CLASS_COUNT {
        let worst_request = CLASS_SIZES[c - 1] as usize + 1;
        let waste = CLASS_SIZES[c] as usize - worst_request;
        if worst_request >= 64 && waste * 8 > worst_request {
            return false;
        }
        c += 1;
    }
    true
}

/// True when every class size is a multiple of the largest power of two that
/// divides the step of its band (the alignment rule in the module docs).
const fn alignment_rule_holds() -> bool {
    // For every power of two a <= MAX_CLASS_SIZE and every multiple n of a in a
    // sample of the range, class_size(class_of(n)) % a == 0.
    let mut a = 8;
    while a <= MAX_CLASS_SIZE {
        let mut n = a;
        while n <= MAX_CLASS_SIZE {
            if class_size(class_of(n)) % a != 0 {
                return false;
            }
            // Step through the whole range for small a, sparsely for large a.
            n += if a < 64 { a * 7 } else { a };
        }
        a *= 2;
    }
    true
}

const_assert!(table_is_consistent());
const_assert!(waste_is_bounded());
const_assert!(alignment_rule_holds());
const_assert!(CLASS_COUNT <= u8::MAX as usize);

/// True when the table agrees with `class_of` for every size it covers
/// (raised to [`MIN_BLOCK`], as every allocation path raises it).
const fn class_by_words_is_exact() -> bool {
    if CLASS_BY_WORDS[0] as usize != class_of(16) {
        return false;
    }
    let mut n = 1;
    while n <= DIRECT_MAX {
        if CLASS_BY_WORDS[n.div_ceil(8)] as usize != class_of(size_or_min(n)) {
            return false;
        }
        n += 1;
    }
    true
}
const_assert!(class_by_words_is_exact());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_maps_to_the_smallest_class_that_fits() {
        // Arithmetic only: under miri a sample (every size in the native
        // run) keeps the CI step short.
        for size in (1..=MAX_CLASS_SIZE).step_by(if cfg!(miri) { 11 } else { 1 }) {
            let c = class_of(size);
            assert!(class_size(c) >= size, "size {size} -> class {c}");
            if c > 0 {
                assert!(
                    class_size(c - 1) < size,
                    "size {size} could use class {}",
                    c - 1
                );
            }
            if size >= 64 {
                assert!(
                    (class_size(c) - size) * 8 <= size,
                    "size {size} wastes too much"
                );
            }
        }
    }

    #[test]
    fn aligned_sizes_get_aligned_classes() {
        let mut align = 8;
        while align <= MAX_CLASS_SIZE {
            for n in (align..=MAX_CLASS_SIZE).step_by(align * if cfg!(miri) { 5 } else { 1 }) {
                assert_eq!(class_size(class_of(n)) % align, 0, "n={n} align={align}");
            }
            align *= 2;
        }
    }
}
