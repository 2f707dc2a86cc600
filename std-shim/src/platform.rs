//! The platform calls masu makes, and nothing else: `mmap`, `munmap`,
//! `madvise`, `mremap`, `mprotect` (guard pages), the page size and the
//! clock, each counted (see [`Syscalls`]). Everything above (the commit
//! map, [`MmapOs`](crate::MmapOs)) goes through here.

use core::ptr;
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicU64, AtomicUsize};

static MMAP_CALLS: AtomicU64 = AtomicU64::new(0);
static MUNMAP_CALLS: AtomicU64 = AtomicU64::new(0);
static MADVISE_CALLS: AtomicU64 = AtomicU64::new(0);
static MREMAP_CALLS: AtomicU64 = AtomicU64::new(0);
static MPROTECT_CALLS: AtomicU64 = AtomicU64::new(0);
static MAP_FAILURES: AtomicU64 = AtomicU64::new(0);
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Counts of the platform calls made so far.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Syscalls {
    pub mmap: u64,
    pub munmap: u64,
    pub madvise: u64,
    pub mremap: u64,
    pub mprotect: u64,
    /// `mmap` and `mremap` calls that failed.
    pub map_failures: u64,
}

/// The counts so far.
pub(crate) fn syscalls() -> Syscalls {
    Syscalls {
        mmap: MMAP_CALLS.load(Relaxed),
        munmap: MUNMAP_CALLS.load(Relaxed),
        madvise: MADVISE_CALLS.load(Relaxed),
        mremap: MREMAP_CALLS.load(Relaxed),
        mprotect: MPROTECT_CALLS.load(Relaxed),
        map_failures: MAP_FAILURES.load(Relaxed),
    }
}

/// The system page size (cached after the first call).
#[inline]
pub fn page_size() -> usize {
    let p = PAGE_SIZE.load(Relaxed);
    if p != 0 {
        return p;
    }
    page_size_first()
}

/// [`page_size`]'s first call: asks the system and caches the answer.
#[cold]
#[inline(never)]
fn page_size_first() -> usize {
    // SAFETY: sysconf has no preconditions and does not allocate.
    let raw = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let p = if raw >= 4096 && (raw as usize).is_power_of_two() {
        raw as usize
    } else {
        4096
    };
    PAGE_SIZE.store(p, Relaxed);
    p
}

/// True while the process has one thread, as far as the C library can
/// tell: glibc's `__libc_single_threaded`, which `pthread_create` sets
/// false before the new thread runs (so a thread other than the process's
/// first always reads false). False where the C library cannot tell.
pub(crate) fn single_threaded() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            static __libc_single_threaded: core::ffi::c_char;
        }
        // SAFETY: glibc (2.32 and later, as `pthread_sigmask` here already
        // needs) defines the byte; a volatile read of it is what
        // `<sys/single_threaded.h>` asks of its readers.
        unsafe { ptr::read_volatile(ptr::addr_of!(__libc_single_threaded)) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// Maps `len` bytes of fresh, private, anonymous, unreserved memory; null on
/// failure. Used for heap reservations and for masu's own metadata.
pub(crate) fn map(len: usize) -> *mut u8 {
    map_near(0, len)
}

/// As [`map`], at `hint` if that range is free (the kernel's choice
/// otherwise; never over an existing mapping).
pub(crate) fn map_near(hint: usize, len: usize) -> *mut u8 {
    MMAP_CALLS.fetch_add(1, Relaxed);
    // SAFETY: an anonymous mapping without MAP_FIXED (the hint is only
    // taken where nothing is mapped) touches no existing memory.
    let p = unsafe {
        libc::mmap(
            hint as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        MAP_FAILURES.fetch_add(1, Relaxed);
        crate::options::verbose_event(b"mmap failed");
        ptr::null_mut()
    } else {
        p as *mut u8
    }
}

/// Unmaps `[p, p + len)`.
///
/// # Safety
/// The range was mapped by [`map`] and nothing uses it any more.
pub(crate) unsafe fn unmap(p: *mut u8, len: usize) {
    if len == 0 {
        return;
    }
    MUNMAP_CALLS.fetch_add(1, Relaxed);
    // SAFETY: guaranteed by the caller.
    unsafe { libc::munmap(p as *mut libc::c_void, len) };
}

/// Makes `[p, p + len)` inaccessible (`mprotect(PROT_NONE)`): a guard
/// page. False when the kernel refused (out of mappings).
///
/// # Safety
/// The range is page-aligned, inside a mapping of ours, and unused.
#[cfg(feature = "secure")]
pub(crate) unsafe fn protect_none(p: *mut u8, len: usize) -> bool {
    MPROTECT_CALLS.fetch_add(1, Relaxed);
    // SAFETY: guaranteed by the caller.
    unsafe { libc::mprotect(p as *mut libc::c_void, len, libc::PROT_NONE) == 0 }
}

/// Without `secure` there are no guard pages (never called).
#[cfg(not(feature = "secure"))]
pub(crate) unsafe fn protect_none(_p: *mut u8, _len: usize) -> bool {
    false
}

/// The start of the last reservation: the next one is tried first just
/// below it (the kernel hands out address space top-down), so that most
/// reservations take one `mmap` of exactly their size.
static LAST_BASE: AtomicUsize = AtomicUsize::new(0);

/// Maps `size` bytes aligned to `align` (both multiples of the page): just
/// below the last reservation, or where the kernel puts `size` bytes if
/// that is aligned, or at the aligned address just below that; only then
/// by mapping `len = size + align - page` bytes and unmapping the unaligned
/// head and tail. The first three never hold more address space than
/// `size` at a time, which matters under `RLIMIT_AS`.
pub(crate) fn map_aligned(size: usize, align: usize, len: usize) -> Option<usize> {
    let done = |p: usize| {
        LAST_BASE.store(p, Relaxed);
        Some(p)
    };
    // A mapping of `size` bytes near `hint`: its address when aligned, else
    // unmapped again; `Err` with where the kernel put it (0: nowhere).
    let exact = |hint: usize| -> Result<usize, usize> {
        let p = map_near(hint, size);
        if p.is_null() || p as usize % align == 0 {
            return if p.is_null() { Err(0) } else { Ok(p as usize) };
        }
        // SAFETY: the mapping was just made and is not handed out.
        unsafe { unmap(p, size) };
        Err(p as usize)
    };
    // Below the last reservation, far enough for this size: a hint whose
    // range is taken makes the kernel choose as for no hint, so a refused
    // hint also says where the kernel would put the mapping.
    let below = LAST_BASE
        .load(Relaxed)
        .checked_sub(size.next_multiple_of(align))
        .filter(|&h| h != 0);
    let kernel = match below.map(exact) {
        Some(Ok(p)) => return done(p),
        Some(Err(at)) => at,
        None => match exact(0) {
            Ok(p) => return done(p),
            Err(at) => at,
        },
    };
    // The kernel's choice aligned down: the space below it is most likely
    // free too.
    if kernel != 0 {
        if let Ok(p) = exact(kernel & !(align - 1)) {
            return done(p);
        }
    }
    let raw = map(len);
    if raw.is_null() {
        return None;
    }
    let start = raw as usize;
    let aligned = (start + align - 1) & !(align - 1);
    let head = aligned - start;
    let tail = len - head - size;
    // SAFETY: the head and tail are parts of the mapping just made that we
    // do not hand out.
    unsafe {
        unmap(raw, head);
        unmap((aligned + size) as *mut u8, tail);
    }
    done(aligned)
}

/// Drops the contents of `[p, p + len)`: `MADV_FREE` when `lazy` (falling
/// back to `MADV_DONTNEED` on kernels before 4.5), else `MADV_DONTNEED`.
/// False when `madvise` fails.
///
/// # Safety
/// The range is mapped and nothing uses its contents any more.
pub(crate) unsafe fn discard(p: *mut u8, len: usize, lazy: bool) -> bool {
    MADVISE_CALLS.fetch_add(1, Relaxed);
    let advice = if lazy {
        libc::MADV_FREE
    } else {
        libc::MADV_DONTNEED
    };
    // SAFETY: guaranteed by the caller; madvise only drops the contents.
    let mut rc = unsafe { libc::madvise(p as *mut libc::c_void, len, advice) };
    if rc != 0 && lazy {
        // SAFETY: as above.
        rc = unsafe { libc::madvise(p as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    }
    rc == 0
}

/// Moves the `len` bytes mapped at `from` to `to` (`mremap` with
/// `MREMAP_FIXED`, replacing what is mapped there): page tables move,
/// memory is neither copied nor faulted in again. False when it fails.
///
/// # Safety
/// Both ranges are mappings of ours that nothing else uses.
pub(crate) unsafe fn move_mapping(from: *mut u8, len: usize, to: *mut u8) -> bool {
    MREMAP_CALLS.fetch_add(1, Relaxed);
    // SAFETY: guaranteed by the caller.
    let moved = unsafe {
        libc::mremap(
            from as *mut libc::c_void,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            to as *mut libc::c_void,
        )
    };
    if moved != to as *mut libc::c_void {
        MAP_FAILURES.fetch_add(1, Relaxed);
        return false;
    }
    true
}

/// [`clock_ms`]'s tick in milliseconds (cached after the first call; 0:
/// not asked yet).
static CLOCK_TICK_MS: AtomicU64 = AtomicU64::new(0);

/// How far [`clock_ms`] moves at each tick, in milliseconds (at least 1):
/// `CLOCK_MONOTONIC_COARSE` advances with the kernel's timer interrupt (4 ms
/// at Debian's `HZ=250`).
#[inline]
pub fn clock_tick_ms() -> u64 {
    let t = CLOCK_TICK_MS.load(Relaxed);
    if t != 0 {
        return t;
    }
    clock_tick_ms_first()
}

/// [`clock_tick_ms`]'s first call: asks the system and caches the answer.
#[cold]
#[inline(never)]
fn clock_tick_ms_first() -> u64 {
    let mut res = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `res` is a valid out-pointer. Where the coarse clock is
    // missing `clock_ms` reads `CLOCK_MONOTONIC`, of 1 ms here.
    let t = if unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) } == 0 {
        (res.tv_sec as u64 * 1000 + (res.tv_nsec as u64).div_ceil(1_000_000)).max(1)
    } else {
        1
    };
    CLOCK_TICK_MS.store(t, Relaxed);
    t
}

/// `ms` milliseconds as a `timespec` (for sleeps and futex waits).
pub(crate) fn timespec_ms(ms: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
    }
}

/// Milliseconds of `CLOCK_MONOTONIC_COARSE` (a vDSO read, no system call; its
/// few-millisecond resolution is plenty for purge delays). Out of line: only
/// slow paths read the clock.
#[inline(never)]
pub fn clock_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    if rc != 0 {
        // SAFETY: as above.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    }
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}
