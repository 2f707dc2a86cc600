//! glibc's statistics calls answered from masu's figures: `mallinfo2`,
//! `malloc_stats` and `malloc_info`. Programs (and tools such as
//! `malloc_stats`-printing servers) that call them under `LD_PRELOAD` see
//! masu's memory, not glibc's unused arena.

use core::ffi::{c_char, c_int, c_void};
use masu_shim::Text;

/// glibc's `struct mallinfo2` (glibc 2.33 and later).
#[repr(C)]
pub struct MallInfo2 {
    /// Bytes committed by masu's heaps (glibc: non-mmapped space).
    pub arena: usize,
    /// Free chunks: not tracked by masu, 0.
    pub ordblks: usize,
    /// Free fastbin blocks: none in masu, 0.
    pub smblks: usize,
    /// Reservations (segments, huge blocks, cached ones) mapped now.
    pub hblks: usize,
    /// Bytes reserved in those mappings.
    pub hblkhd: usize,
    /// Unused by glibc, 0.
    pub usmblks: usize,
    /// Bytes in freed fastbin blocks: none, 0.
    pub fsmblks: usize,
    /// Bytes in live blocks (at block size).
    pub uordblks: usize,
    /// Committed bytes not in live blocks.
    pub fordblks: usize,
    /// Releasable top-most space: not tracked, 0.
    pub keepcost: usize,
}

/// The figures, from `masu::stats` and `masu::os_stats`.
fn figures() -> MallInfo2 {
    let st = masu_shim::stats();
    let os = masu_shim::os_stats();
    MallInfo2 {
        arena: os.committed_bytes,
        ordblks: 0,
        smblks: 0,
        hblks: os.reservations,
        hblkhd: os.reserved_bytes,
        usmblks: 0,
        fsmblks: 0,
        uordblks: st.live_bytes,
        fordblks: os.committed_bytes.saturating_sub(st.live_bytes),
        keepcost: 0,
    }
}

/// glibc's `mallinfo2`, from masu's figures (see [`MallInfo2`]).
#[no_mangle]
pub extern "C" fn mallinfo2() -> MallInfo2 {
    figures()
}

/// glibc's `malloc_stats`: masu's statistics report on stderr.
#[no_mangle]
pub extern "C" fn malloc_stats() {
    masu_shim::print_stats();
}

/// A fixed buffer that text is written into (what does not fit is cut).
struct Buf {
    bytes: [u8; 512],
    len: usize,
}

impl Text for Buf {
    fn put(&mut self, s: &[u8]) {
        let room = self.bytes.len() - 1 - self.len;
        let n = s.len().min(room);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }
}

/// glibc's `malloc_info`: masu's figures as XML on `stream`. `options` must
/// be 0 (else -1 with `EINVAL`, as glibc); -1 also when the write fails.
///
/// # Safety
/// `stream` is an open `FILE *`.
#[no_mangle]
pub unsafe extern "C" fn malloc_info(options: c_int, stream: *mut c_void) -> c_int {
    if options != 0 || stream.is_null() {
        // SAFETY: errno is this thread's.
        unsafe { *libc::__errno_location() = libc::EINVAL };
        return -1;
    }
    let f = figures();
    let mut b = Buf {
        bytes: [0; 512],
        len: 0,
    };
    b.s("<malloc version=\"masu-1\">\n<total type=\"committed\" size=\"");
    b.num(f.arena as u64);
    b.s("\"/>\n<total type=\"live\" size=\"")
        .num(f.uordblks as u64);
    b.s("\"/>\n<total type=\"free\" size=\"")
        .num(f.fordblks as u64);
    b.s("\"/>\n<total type=\"reserved\" count=\"")
        .num(f.hblks as u64);
    b.s("\" size=\"").num(f.hblkhd as u64);
    b.s("\"/>\n</malloc>\n");
    // The buffer keeps its last byte 0: a C string.
    // SAFETY: a NUL-terminated string and the caller's open stream.
    let rc = unsafe { libc::fputs(b.bytes.as_ptr() as *const c_char, stream as *mut libc::FILE) };
    if rc < 0 {
        -1
    } else {
        0
    }
}
