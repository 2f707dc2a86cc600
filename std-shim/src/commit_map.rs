//! The commit map and the process-wide accounting of heap memory: what is
//! reserved and committed, under `MASU_MEMORY_LIMIT`.
//!
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
//! A reservation's entries are written after its range is mapped and
//! cleared before the range is unmapped or moved away (`MmapOs::release`,
//! `MmapOs::remap`): the kernel may give a freed range to another thread's
//! new reservation at once, and a late clear would wipe that one's entries.
//!
//! The two lock-free protocols here, a leaf's publication in the top table
//! and the committed total under the memory limit, are in [`crate::commit`],
//! which the loom models in `loom-tests/` run as well.

use crate::commit::{self, CommitCounter};
use crate::options;
use crate::platform;
use core::ptr;
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};

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
static COMMIT_MAP_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIMIT_REFUSALS: AtomicU64 = AtomicU64::new(0);

/// The process-wide totals (see [`crate::OsStats`] for each).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Totals {
    pub reserved: usize,
    pub committed: usize,
    pub peak_committed: usize,
    pub decommitted: u64,
    pub reservations: usize,
    pub commit_map_bytes: usize,
    pub limit_refusals: u64,
}

/// The totals now.
pub(crate) fn totals() -> Totals {
    let (committed, peak_committed) = COMMITTED.read();
    Totals {
        reserved: RESERVED.load(Relaxed),
        committed,
        peak_committed,
        decommitted: DECOMMITTED.load(Relaxed),
        reservations: RESERVATIONS.load(Relaxed),
        commit_map_bytes: COMMIT_MAP_BYTES.load(Relaxed),
        limit_refusals: LIMIT_REFUSALS.load(Relaxed),
    }
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
            let l = platform::map(BYTES);
            if !l.is_null() {
                COMMIT_MAP_BYTES.fetch_add(BYTES, Relaxed);
            }
            l as *mut AtomicU32
        },
        // SAFETY: `fresh` was mapped above and never published.
        |fresh| unsafe {
            COMMIT_MAP_BYTES.fetch_sub(BYTES, Relaxed);
            platform::unmap(fresh as *mut u8, BYTES)
        },
    )?;
    // SAFETY: a published leaf is a zero-initialised (valid for AtomicU32)
    // mapping of LEAF_LEN entries that is never unmapped.
    Some(unsafe { &*(l as *const [AtomicU32; LEAF_LEN]) })
}

/// The entry of chunk `chunk`, if its leaf exists (or is made).
// Out of line: inlined, each caller had a copy (libmasu.so's text, issue 11).
#[inline(never)]
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
pub(crate) fn charge(bytes: usize) -> bool {
    if COMMITTED.charge(bytes, options::memory_limit()) {
        return true;
    }
    LIMIT_REFUSALS.fetch_add(1, Relaxed);
    options::verbose_event(b"commit refused: MASU_MEMORY_LIMIT reached");
    false
}

/// Gives back `bytes` of the committed total.
pub(crate) fn uncharge(bytes: usize) {
    COMMITTED.uncharge(bytes);
}

/// Records a new reservation `[base, base + size)` (aligned to a chunk):
/// its cap in every chunk it covers. False (nothing recorded) when a leaf
/// of the map cannot be made.
pub(crate) fn add_reservation(base: usize, size: usize) -> bool {
    let ok = for_chunks(base, size, true, |e, units| {
        e.store(units << HALF, Relaxed);
    });
    if !ok {
        for_chunks(base, size, false, |e, _| e.store(0, Relaxed));
        return false;
    }
    RESERVED.fetch_add(size, Relaxed);
    RESERVATIONS.fetch_add(1, Relaxed);
    true
}

/// Forgets the reservation `[base, base + size)` and uncharges what of it
/// is committed.
pub(crate) fn remove_reservation(base: usize, size: usize) {
    let mut units = 0usize;
    for_chunks(base, size, false, |e, _| {
        units += committed_of(e.load(Relaxed)) as usize;
        e.store(0, Relaxed);
    });
    COMMITTED.uncharge(units << UNIT_SHIFT);
    RESERVED.fetch_sub(size, Relaxed);
    RESERVATIONS.fetch_sub(1, Relaxed);
}

/// Charges and records a commit of `[p, p + len)`: only the part not yet
/// committed counts. False (nothing changed) when the range is not in a
/// reservation or the memory limit refuses it.
pub(crate) fn commit(p: usize, len: usize) -> bool {
    let mut delta = 0usize;
    let known = for_chunks(p, len, false, |e, units| {
        let v = e.load(Relaxed);
        let now = (committed_of(v) + units).min(cap_of(v));
        delta += (now - committed_of(v)) as usize;
    });
    if !known || !charge(delta << UNIT_SHIFT) {
        return false;
    }
    record_commit(p, len);
    true
}

/// Records that `[p, p + len)` was decommitted.
pub(crate) fn decommitted(p: usize, len: usize) {
    let mut delta = 0usize;
    for_chunks(p, len, false, |e, units| {
        let v = e.load(Relaxed);
        let now = committed_of(v).saturating_sub(units);
        delta += (committed_of(v) - now) as usize;
        e.store((v & !LOW) | now, Relaxed);
    });
    COMMITTED.uncharge(delta << UNIT_SHIFT);
    DECOMMITTED.fetch_add(len as u64, Relaxed);
}

/// Hands the records of reservation `old` (`old_size` bytes) to the start
/// of reservation `new` (both aligned to a chunk, `new` already added, its
/// next `tail` bytes committed and charged): chunk `i` of the old one
/// becomes chunk `i` of the new one, and the old one is forgotten.
///
/// Called *before* the mapping moves: once it has, the kernel may hand the
/// old range to another thread's new reservation at once, and clearing the
/// old records then would wipe that reservation's (whose blocks `checks`
/// would take for foreign pointers, and whose committed bytes would never be
/// uncharged). [`unmove_records`] undoes this when the move fails.
pub(crate) fn move_records(old: usize, old_size: usize, new: usize, tail: usize) {
    for_chunk_pairs(old, old_size, new, |o, n| {
        let v = n.load(Relaxed);
        n.store((v & !LOW) | committed_of(o.load(Relaxed)), Relaxed);
        o.store(0, Relaxed);
    });
    record_commit(new + old_size, tail);
    RESERVED.fetch_sub(old_size, Relaxed);
    RESERVATIONS.fetch_sub(1, Relaxed);
}

/// Undoes [`move_records`] for a mapping that could not move: the old
/// reservation's records come back and the new one (`new_size` bytes) has
/// nothing committed (the caller uncharges `tail` and releases it).
pub(crate) fn unmove_records(old: usize, old_size: usize, new: usize, new_size: usize) {
    for_chunk_pairs(old, old_size, new, |o, n| {
        o.store(committed_of(n.load(Relaxed)), Relaxed)
    });
    // Each chunk's cap, as `add_reservation` set it.
    for_chunks(old, old_size, false, |e, units| {
        e.store((units << HALF) | e.load(Relaxed), Relaxed)
    });
    for_chunks(new, new_size, false, |e, _| {
        e.store(e.load(Relaxed) & !LOW, Relaxed)
    });
    RESERVED.fetch_add(old_size, Relaxed);
    RESERVATIONS.fetch_add(1, Relaxed);
}

/// Calls `f(old entry, new entry)` for chunk `i` of the reservations `old`
/// and `new`, for every chunk of the first `size` bytes of `old`.
fn for_chunk_pairs(
    old: usize,
    size: usize,
    new: usize,
    mut f: impl FnMut(&'static AtomicU32, &'static AtomicU32),
) {
    let (old_chunk, new_chunk) = (old >> CHUNK_SHIFT, new >> CHUNK_SHIFT);
    for i in 0..size.div_ceil(CHUNK) {
        if let (Some(o), Some(n)) = (entry(old_chunk + i, false), entry(new_chunk + i, false)) {
            f(o, n);
        }
    }
}

/// True when `addr` lies in a chunk of a live reservation.
pub(crate) fn contains(addr: usize) -> bool {
    entry(addr >> CHUNK_SHIFT, false).is_some_and(|e| cap_of(e.load(Relaxed)) != 0)
}
