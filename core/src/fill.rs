//! Filled memory for the `checks` feature: finding the first byte of a
//! fill that was changed, a word at a time (the fills of free blocks and
//! of redzones are verified on every allocation and free).

/// The offset of the first byte of `bytes` that is not `byte`.
#[inline]
pub(crate) fn first_other(bytes: &[u8], byte: u8) -> Option<usize> {
    const W: usize = core::mem::size_of::<u64>();
    let pattern = u64::from_ne_bytes([byte; W]);
    let mut chunks = bytes.chunks_exact(W);
    for (k, chunk) in chunks.by_ref().enumerate() {
        let mut word = [0u8; W];
        word.copy_from_slice(chunk);
        let diff = u64::from_ne_bytes(word) ^ pattern;
        if diff != 0 {
            // The first differing byte in memory order.
            let in_word = if cfg!(target_endian = "little") {
                diff.trailing_zeros()
            } else {
                diff.leading_zeros()
            } as usize
                / 8;
            return Some(k * W + in_word);
        }
    }
    let done = bytes.len() - chunks.remainder().len();
    chunks
        .remainder()
        .iter()
        .position(|&b| b != byte)
        .map(|i| done + i)
}

#[cfg(test)]
mod tests {
    use super::first_other;

    #[test]
    fn finds_the_first_changed_byte_at_every_offset() {
        for len in 0..40 {
            let mut v = [0xdfu8; 40];
            assert_eq!(first_other(&v[..len], 0xdf), None);
            for at in 0..len {
                v[at] = 0;
                if at + 1 < len {
                    v[len - 1] = 1;
                }
                assert_eq!(first_other(&v[..len], 0xdf), Some(at), "len {len}, at {at}");
                v = [0xdfu8; 40];
            }
        }
    }
}
