//! Formatting without allocating: a fixed buffer on the stack that is written
//! to a file descriptor with `write(2)`, and the few number formats masu's
//! messages and reports need. Used for every message masu prints, since
//! printing must not call the allocator it is part of.
//!
//! Not `core::fmt`: its machinery (argument lists, padding, the integer
//! impls of every width) took about 10 KB of `libmasu.so`'s text for the
//! handful of formats here (issue 11 item 3, the library's size).

/// Bytes written by one `write(2)` at most (the writer's buffer).
const BUF_LEN: usize = 512;

/// Text output: the sink [`Text::put`], and numbers and padded strings
/// written through it.
pub trait Text {
    /// Appends raw bytes.
    fn put(&mut self, b: &[u8]);

    /// Appends `s`.
    #[inline(never)]
    fn s(&mut self, s: &str) -> &mut Self {
        self.put(s.as_bytes());
        self
    }

    /// Appends `v` in decimal.
    fn num(&mut self, v: u64) -> &mut Self {
        self.num_w(v, 0)
    }

    /// Appends `v` in decimal, right-aligned in `width` columns.
    #[inline(never)]
    fn num_w(&mut self, v: u64, width: usize) -> &mut Self {
        let (d, from) = digits(v, 10);
        self.pad(width.saturating_sub(d.len() - from));
        self.put(&d[from..]);
        self
    }

    /// Appends `v` in hexadecimal after `0x`.
    #[inline(never)]
    fn hex(&mut self, v: u64) -> &mut Self {
        let (d, from) = digits(v, 16);
        self.put(b"0x");
        self.put(&d[from..]);
        self
    }

    /// Appends `s`, left-aligned in `width` columns.
    #[inline(never)]
    fn left(&mut self, s: &str, width: usize) -> &mut Self {
        self.put(s.as_bytes());
        self.pad(width.saturating_sub(s.len()));
        self
    }

    /// Appends `n` spaces.
    #[inline(never)]
    fn pad(&mut self, mut n: usize) {
        while n > 0 {
            let k = n.min(16);
            self.put(&[b' '; 16][..k]);
            n -= k;
        }
    }
}

/// The digits of `v` in `base` (10 or 16, lower case): the buffer and
/// where they start in it.
#[inline(never)]
fn digits(mut v: u64, base: u64) -> ([u8; 20], usize) {
    let mut d = [0u8; 20];
    let mut i = d.len();
    loop {
        i -= 1;
        d[i] = b"0123456789abcdef"[(v % base) as usize];
        v /= base;
        if v == 0 {
            return (d, i);
        }
    }
}

/// A [`Text`] sink of [`BUF_LEN`] bytes that flushes to `fd` when full and
/// on [`StackWriter::flush`] (and on drop).
pub(crate) struct StackWriter {
    fd: libc::c_int,
    len: usize,
    buf: [u8; BUF_LEN],
}

impl StackWriter {
    /// A writer to standard error.
    pub fn stderr() -> Self {
        Self::to_fd(2)
    }

    /// A writer to `fd`.
    pub fn to_fd(fd: libc::c_int) -> Self {
        StackWriter {
            fd,
            len: 0,
            buf: [0; BUF_LEN],
        }
    }

    /// Writes out what is buffered.
    // Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
    #[inline(never)]
    pub fn flush(&mut self) {
        write_all(self.fd, &self.buf[..self.len]);
        self.len = 0;
    }

    /// Appends raw bytes.
    // Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
    #[inline(never)]
    pub fn bytes(&mut self, mut s: &[u8]) {
        while !s.is_empty() {
            if self.len == BUF_LEN {
                self.flush();
            }
            let n = s.len().min(BUF_LEN - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
            self.len += n;
            s = &s[n..];
        }
    }
}

impl Text for StackWriter {
    fn put(&mut self, b: &[u8]) {
        self.bytes(b);
    }
}

impl Drop for StackWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Writes all of `bytes` to `fd`, retrying on partial writes and `EINTR`;
/// gives up silently on other errors (there is nowhere to report them).
// Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
#[inline(never)]
pub(crate) fn write_all(fd: libc::c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid readable slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr() as *const libc::c_void, bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && errno() == libc::EINTR {
            continue;
        } else {
            return;
        }
    }
}

/// The calling thread's `errno`.
pub(crate) fn errno() -> libc::c_int {
    // SAFETY: `__errno_location` always returns the thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
pub(crate) fn set_errno(e: libc::c_int) {
    // SAFETY: `__errno_location` always returns the thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

#[cfg(test)]
mod tests {
    use super::Text;
    use std::string::String;
    use std::vec::Vec;

    /// A [`Text`] sink into a vector, to compare with `format!`.
    struct Out(Vec<u8>);

    impl Text for Out {
        fn put(&mut self, b: &[u8]) {
            self.0.extend_from_slice(b);
        }
    }

    /// What `f` writes.
    fn text(f: impl FnOnce(&mut Out) -> &mut Out) -> String {
        let mut o = Out(Vec::new());
        f(&mut o);
        String::from_utf8(o.0).unwrap()
    }

    #[test]
    fn numbers_and_padding_read_as_core_fmt_writes_them() {
        let values = [
            0u64,
            1,
            9,
            10,
            99,
            4096,
            123_456_789,
            u32::MAX as u64,
            u64::MAX,
        ];
        for v in values {
            assert_eq!(text(|o| o.num(v)), std::format!("{v}"));
            assert_eq!(text(|o| o.hex(v)), std::format!("{v:#x}"));
            for w in [0, 1, 5, 14, 25] {
                assert_eq!(text(|o| o.num_w(v, w)), std::format!("{v:>w$}"));
            }
        }
        let labels = [
            ("", 3),
            ("live", 26),
            ("a label longer than its column", 10),
        ];
        for (s, w) in labels {
            assert_eq!(text(|o| o.left(s, w)), std::format!("{s:<w$}"));
        }
        let mut o = Out(Vec::new());
        o.pad(40);
        assert_eq!(o.0, [b' '; 40]);
        assert_eq!(text(|o| o.s("a").num(1).s("b").hex(255)), "a1b0xff");
    }
}
