//! [`MmapOs`]: masu-core's [`Os`] over `mmap`, `madvise` and `munmap`.
//!
//! * **reserve** maps `PROT_READ | PROT_WRITE`, `MAP_PRIVATE | MAP_ANONYMOUS
//!   | MAP_NORESERVE`, over-reserving by the alignment and unmapping the
//!   unaligned head and tail. Alignments below [`CHUNK`] (4 MiB) are raised to
//!   it, so no two reservations share a chunk of the commit map (below).
//! * **commit** is free on Linux (it overcommits), but it is *counted*: the
//!   process-wide committed total feeds [`stats`](crate::stats) and refuses
//!   commits past `MASU_MEMORY_LIMIT`.
//! * **decommit** is `madvise(MADV_DONTNEED)`, or `MADV_FREE` with
//!   `MASU_DECOMMIT=free` (then memory committed again is not known to be zero,
//!   so [`Os::fresh_memory_is_zeroed`] says false and `calloc` zeroes).
//! * **release** is `munmap`.
//! * **remap** (a huge block outgrowing its reservation) reserves the larger
//!   range and moves the old pages to its start with `mremap(MREMAP_FIXED)`:
//!   page tables move, memory is neither copied nor faulted in again. Off
//!   with `MASU_REMAP=0`.
//!
//! # The commit map
//! `Os::release` is not told how much of a reservation is committed, and the
//! core may commit a range again that is partly committed (a cached huge
//! segment is committed whole when it is reused). To keep an exact total, each
//! 4 MiB chunk of address space that a reservation covers has one `u32` in a
//! two-level map: the 4 KiB units of the chunk that the reservation covers
//! (its cap) and those committed. A commit raises a chunk's count by the
//! units it covers, capped; a decommit lowers it; a release subtracts what is
//! left. This is exact when commits either cover only uncommitted memory or
//! run to the end of the reservation, which is how masu-core commits.
//! Only the heap that owns a reservation calls `commit` and `decommit` on it,
//! so a chunk's entry has one writer at a time (plain relaxed loads and
//! stores); the totals are shared atomics, touched on slow paths only.
//!
//! The two lock-free protocols here, a leaf's publication in the top table
//! and the committed total under the memory limit, are in [`crate::commit`],
//! which the loom models in `loom-tests/` run as well.

use crate::commit::{self, CommitCounter};
use crate::options;
use core::ptr;
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};
use masu_core::Os;

/// log2 of the commit map's chunk: every reservation is aligned to at least
/// this (masu's segments are 4 MiB anyway).
pub const CHUNK_SHIFT: u32 = 22;
/// Bytes per chunk of the commit map.
pub const CHUNK: usize = 1 << CHUNK_SHIFT;
/// Accounting unit of the commit map (every Linux page size is a multiple).
const UNIT_SHIFT: u32 = 12;
/// Chunk entries per leaf of the map (a leaf is 16 KiB and covers 16 GiB).
const LEAF_BITS: u32 = 12;
const LEAF_LEN: usize = 1 << LEAF_BITS;
/// Leaves: the map covers the 48-bit address space.
const TOP_BITS: u32 = 48 - CHUNK_SHIFT - LEAF_BITS;
const TOP_LEN: usize = 1 << TOP_BITS;
/// Entry layout: committed units in the low half, cap units in the high half.
const HALF: u32 = 16;
const LOW: u32 = (1 << HALF) - 1;

static_assertions::const_assert!(CHUNK >> UNIT_SHIFT <= LOW as usize);

static TOP: [AtomicPtr<AtomicU32>; TOP_LEN] = [const { AtomicPtr::new(ptr::null_mut()) }; TOP_LEN];

/// Bytes committed in all reservations, and their peak, kept under
/// `MASU_MEMORY_LIMIT` (see [`crate::commit`]).
static COMMITTED: CommitCounter = CommitCounter::new();
// Process-wide totals. Not part of any synchronisation protocol: counters.
static RESERVED: AtomicUsize = AtomicUsize::new(0);
static DECOMMITTED: AtomicU64 = AtomicU64::new(0);
static RESERVATIONS: AtomicUsize = AtomicUsize::new(0);
static MMAP_CALLS: AtomicU64 = AtomicU64::new(0);
static MUNMAP_CALLS: AtomicU64 = AtomicU64::new(0);
static MADVISE_CALLS: AtomicU64 = AtomicU64::new(0);
static MREMAP_CALLS: AtomicU64 = AtomicU64::new(0);
static COMMIT_MAP_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIMIT_REFUSALS: AtomicU64 = AtomicU64::new(0);
static MAP_FAILURES: AtomicU64 = AtomicU64::new(0);
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Process-wide figures of the `Os` layer (all heaps together).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OsStats {
    /// Bytes of address space reserved for heaps now.
    pub reserved_bytes: usize,
    /// Bytes committed in those reservations now.
    pub committed_bytes: usize,
    /// The highest `committed_bytes` seen.
    pub peak_committed_bytes: usize,
    /// Total bytes ever decommitted (`madvise`).
    pub decommitted_bytes: u64,
    /// Reservations (segments, cached ones included) alive now.
    pub reservations: usize,
    /// `mmap` calls made for heap memory and metadata.
    pub mmap_calls: u64,
    /// `munmap` calls made.
    pub munmap_calls: u64,
    /// `madvise` calls made.
    pub madvise_calls: u64,
    /// `mremap` calls made (huge blocks moved to a larger reservation).
    pub mremap_calls: u64,
    /// Bytes mapped for the commit map (metadata outside the heaps).
    pub commit_map_bytes: usize,
    /// Commits refused because of `MASU_MEMORY_LIMIT`.
    pub limit_refusals: u64,
    /// `mmap` calls that failed.
    pub map_failures: u64,
}

/// A snapshot of the `Os` layer's totals.
pub fn os_stats() -> OsStats {
    let (committed_bytes, peak_committed_bytes) = COMMITTED.read();
    OsStats {
        reserved_bytes: RESERVED.load(Relaxed),
        committed_bytes,
        peak_committed_bytes,
        decommitted_bytes: DECOMMITTED.load(Relaxed),
        reservations: RESERVATIONS.load(Relaxed),
        mmap_calls: MMAP_CALLS.load(Relaxed),
        munmap_calls: MUNMAP_CALLS.load(Relaxed),
        madvise_calls: MADVISE_CALLS.load(Relaxed),
        mremap_calls: MREMAP_CALLS.load(Relaxed),
        commit_map_bytes: COMMIT_MAP_BYTES.load(Relaxed),
        limit_refusals: LIMIT_REFUSALS.load(Relaxed),
        map_failures: MAP_FAILURES.load(Relaxed),
    }
}

/// The system page size (cached after the first call).
pub fn page_size() -> usize {
    let p = PAGE_SIZE.load(Relaxed);
    if p != 0 {
        return p;
    }
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

/// Maps `len` bytes of fresh, private, anonymous, unreserved memory; null on
/// failure. Used for heap reservations and for masu's own metadata.
pub(crate) fn map(len: usize) -> *mut u8 {
    map_near(0, len)
}

/// As [`map`], at `hint` if that range is free (the kernel's choice
/// otherwise; never over an existing mapping).
fn map_near(hint: usize, len: usize) -> *mut u8 {
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
        options::verbose_event(b"mmap failed");
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

/// The map leaf holding chunk `chunk`'s entry, made on demand when `create`.
fn leaf(chunk: usize, create: bool) -> Option<&'static [AtomicU32; LEAF_LEN]> {
    let top = chunk >> LEAF_BITS;
    if top >= TOP_LEN {
        return None;
    }
    const BYTES: usize = LEAF_LEN * core::mem::size_of::<AtomicU32>();
    let l = commit::publish(
        &TOP[top],
        create,
        || {
            let l = map(BYTES);
            if !l.is_null() {
                COMMIT_MAP_BYTES.fetch_add(BYTES, Relaxed);
            }
            l as *mut AtomicU32
        },
        // SAFETY: `fresh` was mapped above and never published.
        |fresh| unsafe {
            COMMIT_MAP_BYTES.fetch_sub(BYTES, Relaxed);
            unmap(fresh as *mut u8, BYTES)
        },
    )?;
    // SAFETY: a published leaf is a zero-initialised (valid for AtomicU32)
    // mapping of LEAF_LEN entries that is never unmapped.
    Some(unsafe { &*(l as *const [AtomicU32; LEAF_LEN]) })
}

/// The entry of chunk `chunk`, if its leaf exists (or is made).
fn entry(chunk: usize, create: bool) -> Option<&'static AtomicU32> {
    leaf(chunk, create).map(|l| &l[chunk & (LEAF_LEN - 1)])
}

/// Calls `f(entry, units)` for every chunk overlapping `[p, p + len)`, with
/// the number of accounting units of the range inside that chunk. Stops and
/// returns false when an entry is missing (and `create` is false or fails).
fn for_chunks(
    p: usize,
    len: usize,
    create: bool,
    mut f: impl FnMut(&'static AtomicU32, u32),
) -> bool {
    if len == 0 {
        return true;
    }
    let end = p + len;
    let mut chunk = p >> CHUNK_SHIFT;
    let last = (end - 1) >> CHUNK_SHIFT;
    while chunk <= last {
        let lo = p.max(chunk << CHUNK_SHIFT);
        let hi = end.min((chunk + 1) << CHUNK_SHIFT);
        let Some(e) = entry(chunk, create) else {
            return false;
        };
        f(e, ((hi - lo) >> UNIT_SHIFT) as u32);
        chunk += 1;
    }
    true
}

#[inline]
fn committed_of(v: u32) -> u32 {
    v & LOW
}

#[inline]
fn cap_of(v: u32) -> u32 {
    v >> HALF
}

/// Records `[p, p + len)` as committed in the commit map (capped at each
/// chunk's reservation); the total was charged before.
fn record_commit(p: usize, len: usize) {
    for_chunks(p, len, false, |e, units| {
        let v = e.load(Relaxed);
        let now = (committed_of(v) + units).min(cap_of(v));
        e.store((v & !LOW) | now, Relaxed);
    });
}

/// Adds `bytes` to the committed total unless that passes the memory limit.
fn charge(bytes: usize) -> bool {
    if COMMITTED.charge(bytes, options::memory_limit()) {
        return true;
    }
    LIMIT_REFUSALS.fetch_add(1, Relaxed);
    options::verbose_event(b"commit refused: MASU_MEMORY_LIMIT reached");
    false
}

/// Where the next reservation is tried first: just below the last one (the
/// kernel hands out address space top-down), so that most reservations
/// take one `mmap` of exactly their size.
static NEXT_HINT: AtomicUsize = AtomicUsize::new(0);

/// Maps `size` bytes aligned to `align` (both multiples of the page): at
/// the hint, or where the kernel puts `size` bytes if that is aligned, or
/// at the aligned address just below that; only then by mapping `len =
/// size + align - page` bytes and unmapping the unaligned head and tail.
/// The first three never hold more address space than `size` at a time,
/// which matters under `RLIMIT_AS`.
fn map_aligned(size: usize, align: usize, len: usize) -> Option<usize> {
    let done = |p: usize| {
        NEXT_HINT.store(p.saturating_sub(size.next_multiple_of(align)), Relaxed);
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
    let hint = NEXT_HINT.load(Relaxed);
    if hint != 0 && hint % align == 0 {
        if let Ok(p) = exact(hint) {
            return done(p);
        }
    }
    match exact(0) {
        Ok(p) => return done(p),
        // The kernel's choice aligned down: the space below it is most
        // likely free too.
        Err(at) if at != 0 => {
            if let Ok(p) = exact(at & !(align - 1)) {
                return done(p);
            }
        }
        Err(_) => {}
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

/// masu-core's [`Os`] on Linux. It has no state of its own: the totals it
/// keeps are process-wide (see [`os_stats`]), so every heap shares them.
#[derive(Clone, Copy, Debug, Default)]
pub struct MmapOs;

// SAFETY: `reserve` returns a fresh private mapping of `size` bytes aligned to
// `align` (exclusively the caller's until `release` unmaps it) or null;
// `commit` only returns true for memory that is mapped read-write;
// `decommit` returns true only when `madvise` succeeded, after which the
// memory reads as zero unless MADV_FREE is in use, in which case
// `fresh_memory_is_zeroed` says false; `page_size` is the system page size.
unsafe impl Os for MmapOs {
    fn reserve(&self, size: usize, align: usize) -> *mut u8 {
        let page = page_size();
        let align = align.max(CHUNK);
        if !align.is_power_of_two() || size == 0 {
            return ptr::null_mut();
        }
        let Some(size) = size.checked_add(page - 1).map(|s| s & !(page - 1)) else {
            return ptr::null_mut();
        };
        let Some(len) = size.checked_add(align - page) else {
            return ptr::null_mut();
        };
        if len > isize::MAX as usize {
            return ptr::null_mut();
        }
        let Some(aligned) = map_aligned(size, align, len) else {
            return ptr::null_mut();
        };
        // Record the reservation's cap in every chunk it covers.
        let ok = for_chunks(aligned, size, true, |e, units| {
            e.store(units << HALF, Relaxed);
        });
        if !ok {
            for_chunks(aligned, size, false, |e, _| e.store(0, Relaxed));
            // SAFETY: the reservation was never handed out.
            unsafe { unmap(aligned as *mut u8, size) };
            return ptr::null_mut();
        }
        RESERVED.fetch_add(size, Relaxed);
        RESERVATIONS.fetch_add(1, Relaxed);
        aligned as *mut u8
    }

    unsafe fn commit(&self, ptr: *mut u8, size: usize) -> bool {
        let mut delta = 0usize;
        let known = for_chunks(ptr as usize, size, false, |e, units| {
            let v = e.load(Relaxed);
            let now = (committed_of(v) + units).min(cap_of(v));
            delta += (now - committed_of(v)) as usize;
        });
        if !known {
            // Not a reservation of ours: the core never does this.
            return false;
        }
        if !charge(delta << UNIT_SHIFT) {
            return false;
        }
        record_commit(ptr as usize, size);
        true
    }

    unsafe fn decommit(&self, ptr: *mut u8, size: usize) -> bool {
        MADVISE_CALLS.fetch_add(1, Relaxed);
        let advice = if options::decommit_free() {
            libc::MADV_FREE
        } else {
            libc::MADV_DONTNEED
        };
        // SAFETY: the caller guarantees the range is inside one of our
        // reservations and unused; madvise only drops its contents.
        let mut rc = unsafe { libc::madvise(ptr as *mut libc::c_void, size, advice) };
        if rc != 0 && advice == libc::MADV_FREE {
            // Kernels before 4.5 lack MADV_FREE.
            // SAFETY: as above.
            rc = unsafe { libc::madvise(ptr as *mut libc::c_void, size, libc::MADV_DONTNEED) };
        }
        if rc != 0 {
            return false;
        }
        let mut delta = 0usize;
        for_chunks(ptr as usize, size, false, |e, units| {
            let v = e.load(Relaxed);
            let now = committed_of(v).saturating_sub(units);
            delta += (committed_of(v) - now) as usize;
            e.store((v & !LOW) | now, Relaxed);
        });
        COMMITTED.uncharge(delta << UNIT_SHIFT);
        DECOMMITTED.fetch_add(size as u64, Relaxed);
        true
    }

    unsafe fn release(&self, ptr: *mut u8, size: usize, _align: usize) {
        let page = page_size();
        let size = (size + page - 1) & !(page - 1);
        let mut units = 0usize;
        for_chunks(ptr as usize, size, false, |e, _| {
            units += committed_of(e.load(Relaxed)) as usize;
            e.store(0, Relaxed);
        });
        COMMITTED.uncharge(units << UNIT_SHIFT);
        RESERVED.fetch_sub(size, Relaxed);
        RESERVATIONS.fetch_sub(1, Relaxed);
        // SAFETY: the caller gives back a whole reservation it no longer uses.
        unsafe { unmap(ptr, size) };
    }

    fn page_size(&self) -> usize {
        page_size()
    }

    fn can_remap(&self) -> bool {
        options::remap()
    }

    unsafe fn remap(
        &self,
        ptr: *mut u8,
        old_size: usize,
        new_size: usize,
        align: usize,
    ) -> *mut u8 {
        let page = page_size();
        let old_size = (old_size + page - 1) & !(page - 1);
        if !options::remap() || new_size <= old_size {
            return ptr::null_mut();
        }
        let new = self.reserve(new_size, align);
        if new.is_null() {
            return ptr::null_mut();
        }
        // The added part is committed: charge it before anything moves.
        let tail = new_size - old_size;
        if !charge(tail) {
            // SAFETY: the new reservation was never handed out.
            unsafe { self.release(new, new_size, align) };
            return ptr::null_mut();
        }
        MREMAP_CALLS.fetch_add(1, Relaxed);
        // SAFETY: moves the caller's reservation (which nothing else uses)
        // over the start of the reservation just made; MREMAP_FIXED
        // replaces that part of the new mapping.
        let moved = unsafe {
            libc::mremap(
                ptr as *mut libc::c_void,
                old_size,
                old_size,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                new as *mut libc::c_void,
            )
        };
        if moved != new as *mut libc::c_void {
            MAP_FAILURES.fetch_add(1, Relaxed);
            COMMITTED.uncharge(tail);
            // SAFETY: the new reservation was never handed out.
            unsafe { self.release(new, new_size, align) };
            return ptr::null_mut();
        }
        // Both reservations are aligned to at least a chunk, so chunk `i`
        // of the old one moved to chunk `i` of the new one.
        let (old_chunk, new_chunk) = (ptr as usize >> CHUNK_SHIFT, new as usize >> CHUNK_SHIFT);
        let chunks = (old_size + CHUNK - 1) >> CHUNK_SHIFT;
        for i in 0..chunks {
            if let (Some(o), Some(n)) = (entry(old_chunk + i, false), entry(new_chunk + i, false)) {
                let v = n.load(Relaxed);
                n.store((v & !LOW) | committed_of(o.load(Relaxed)), Relaxed);
                o.store(0, Relaxed);
            }
        }
        record_commit(new as usize + old_size, tail);
        RESERVED.fetch_sub(old_size, Relaxed);
        RESERVATIONS.fetch_sub(1, Relaxed);
        new
    }

    fn fresh_memory_is_zeroed(&self) -> bool {
        !options::decommit_free()
    }

    fn may_contain(&self, addr: usize) -> bool {
        entry(addr >> CHUNK_SHIFT, false).is_some_and(|e| cap_of(e.load(Relaxed)) != 0)
    }

    fn clock_ms(&self) -> Option<u64> {
        Some(clock_ms())
    }
}

/// Milliseconds of `CLOCK_MONOTONIC_COARSE` (a vDSO read, no system call; its
/// few-millisecond resolution is plenty for purge delays).
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
