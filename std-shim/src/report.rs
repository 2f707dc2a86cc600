//! The statistics report (`MASU_STATS=1`, [`crate::print_stats`]): formats
//! a [`Snapshot`] handed to it into a stack buffer, written with
//! `write(2)`: it never allocates, and gathers nothing itself.

use crate::fmtbuf::StackWriter;
use crate::snapshot::Snapshot;
use core::fmt::{self, Write};
use masu_core::size_class::class_size;
use masu_core::Counts;

/// The figures of one report: the snapshot, and the resident bytes of the
/// object holding masu, its path and the path's length (None when unknown).
pub(crate) struct Report {
    /// The figures.
    pub snap: Snapshot,
    /// See the type.
    pub own_object: Option<(usize, [u8; 256], usize)>,
}

/// A byte count printed exactly and in binary units.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        let (unit, div) = if v >= 1 << 30 {
            ("GiB", 1u64 << 30)
        } else if v >= 1 << 20 {
            ("MiB", 1 << 20)
        } else if v >= 1 << 10 {
            ("KiB", 1 << 10)
        } else {
            return write!(f, "{v:>14}          ");
        };
        let tenths = (v * 10 + div / 2) / div;
        write!(f, "{v:>14} ({:>4}.{} {unit})", tenths / 10, tenths % 10)
    }
}

/// Writes where the `committed` bytes are, source by source (they add up
/// to it), and the metadata outside the heaps.
fn write_breakdown(w: &mut StackWriter<1024>, r: &Report) {
    let (b, os, pool) = (&r.snap.breakdown, &r.snap.os, &r.snap.pool);
    let committed = os.committed_bytes;
    let _ = writeln!(w, "  where the committed bytes are:");
    let rows = [
        ("live blocks (at block size)", b.live_bytes),
        ("free blocks in pages in use", b.free_in_pages),
        ("free slices, waiting purge", b.empty_waiting),
        ("empty pages kept", b.kept_pages),
        ("segment cache", b.cached),
        ("segment headers", b.headers),
        (
            "other live threads' heaps",
            committed.saturating_sub(b.total()),
        ),
    ];
    for (name, v) in rows {
        let _ = writeln!(w, "    {name:<28}{}", Bytes(v as u64));
    }
    let _ = writeln!(
        w,
        "  outside the heaps: heap slots {}, commit map {}",
        Bytes(pool.metadata_bytes as u64),
        Bytes(os.commit_map_bytes as u64)
    );
    if let Some((bytes, name, len)) = r.own_object {
        let _ = write!(w, "  resident code and data of ");
        w.bytes(&name[..len]);
        let _ = writeln!(w, " (the object holding masu): {}", Bytes(bytes as u64));
    }
}

/// Writes the report `r` to `w`.
pub(crate) fn write_report(w: &mut StackWriter<1024>, r: &Report) {
    let (st, os, pool) = (&r.snap.stats, &r.snap.os, &r.snap.pool);
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let _ = writeln!(w, "masu statistics (pid {pid})");
    let _ = writeln!(w, "  blocks allocated        {:>14}", st.alloc_count);
    let _ = writeln!(w, "  blocks freed            {:>14}", st.free_count);
    let _ = writeln!(
        w,
        "  blocks live             {:>14}",
        st.alloc_count.saturating_sub(st.free_count)
    );
    let _ = writeln!(
        w,
        "  live                    {}",
        Bytes(st.live_bytes as u64)
    );
    let _ = writeln!(
        w,
        "  peak live (sum/heaps)   {}",
        Bytes(st.peak_live_bytes as u64)
    );
    let _ = writeln!(
        w,
        "  committed               {}",
        Bytes(os.committed_bytes as u64)
    );
    let _ = writeln!(
        w,
        "  peak committed          {}",
        Bytes(os.peak_committed_bytes as u64)
    );
    let _ = writeln!(
        w,
        "  reserved                {}",
        Bytes(os.reserved_bytes as u64)
    );
    let _ = writeln!(
        w,
        "  decommitted (total)     {}",
        Bytes(os.decommitted_bytes)
    );
    let _ = writeln!(
        w,
        "  heap metadata           {}",
        Bytes(pool.metadata_bytes as u64)
    );
    let _ = writeln!(
        w,
        "  heaps                   {:>14} made, {} in use, {} adoptions, {} thread exits, {} purger passes ({} pages of live heaps freed, {} of free blocks' insides given back)",
        pool.heaps,
        pool.heaps_in_use,
        pool.adoptions,
        pool.thread_exits,
        r.snap.purger_passes,
        r.snap.purger_live_pages_freed,
        Bytes(r.snap.purger_live_bytes_discarded)
    );
    let _ = writeln!(
        w,
        "  reservations            {:>14} now; mmap {}, munmap {} ({} handed to the purger), madvise {}, mprotect {}, failed mmap {}",
        os.reservations,
        os.mmap_calls,
        os.munmap_calls,
        os.deferred_unmaps,
        os.madvise_calls,
        os.mprotect_calls,
        os.map_failures
    );
    let _ = writeln!(
        w,
        "  limit refusals          {:>14}; orphan frees {}, borrowed allocations {}",
        os.limit_refusals, pool.orphan_frees, pool.borrows
    );
    let _ = writeln!(
        w,
        "  readable heaps (this thread's and idle ones): {} segments, {} cached, {} large spans, {} huge, {} purges, {} remote frees collected",
        st.segments,
        st.cached_segments,
        st.large_spans,
        st.huge_allocs,
        st.purges,
        st.remote_frees_collected
    );
    write_breakdown(w, r);
    let mut any = false;
    for (class, &pages) in st.pages_per_class.iter().enumerate() {
        if pages != 0 {
            if !any {
                let _ = writeln!(w, "    class   block size   pages");
                any = true;
            }
            let _ = writeln!(w, "    {class:>5}   {:>10}   {pages:>5}", class_size(class));
        }
    }
}

/// Writes the verbose report's line of heap slot `n`.
pub(crate) fn write_slot_line(w: &mut StackWriter<1024>, n: usize, held: bool, c: &Counts) {
    let _ = writeln!(
        w,
        "  heap {n:>4}  {}  live {:>12}  allocs {:>12}  frees {:>12}",
        if held { "in use" } else { "idle  " },
        c.live_bytes,
        c.alloc_count,
        c.free_count
    );
}
