//! Formatting without allocating: a fixed buffer on the stack that is written
//! to a file descriptor with `write(2)`. Used for every message masu prints,
//! since printing must not call the allocator it is part of.

use core::fmt;

/// A `fmt::Write` sink of `N` bytes that flushes to `fd` when full and on
/// [`StackWriter::flush`] (and on drop).
pub(crate) struct StackWriter<const N: usize> {
    fd: libc::c_int,
    len: usize,
    buf: [u8; N],
}

impl<const N: usize> StackWriter<N> {
    /// A writer to standard error.
    pub fn stderr() -> Self {
        Self::to_fd(2)
    }

    /// A writer to `fd`.
    pub fn to_fd(fd: libc::c_int) -> Self {
        StackWriter {
            fd,
            len: 0,
            buf: [0; N],
        }
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) {
        write_all(self.fd, &self.buf[..self.len]);
        self.len = 0;
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, mut s: &[u8]) {
        while !s.is_empty() {
            if self.len == N {
                self.flush();
            }
            let n = s.len().min(N - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
            self.len += n;
            s = &s[n..];
        }
    }
}

impl<const N: usize> fmt::Write for StackWriter<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

impl<const N: usize> Drop for StackWriter<N> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Writes all of `bytes` to `fd`, retrying on partial writes and `EINTR`;
/// gives up silently on other errors (there is nowhere to report them).
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
