//! The statistics report (`MASU_STATS=1`, [`crate::print_stats`]): formats
//! a [`Snapshot`] handed to it into a stack buffer, written with
//! `write(2)`: it never allocates, and gathers nothing itself.

use crate::fmtbuf::{StackWriter, Text};
use crate::snapshot::Snapshot;
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

/// Writes byte count `v` exactly (14 columns) and in binary units (or as
/// many spaces).
fn bytes(w: &mut StackWriter, v: u64) {
    w.num_w(v, 14);
    let (unit, div) = if v >= 1 << 30 {
        (" GiB)", 1u64 << 30)
    } else if v >= 1 << 20 {
        (" MiB)", 1 << 20)
    } else if v >= 1 << 10 {
        (" KiB)", 1 << 10)
    } else {
        w.pad(10);
        return;
    };
    let tenths = (v * 10 + div / 2) / div;
    w.s(" (")
        .num_w(tenths / 10, 4)
        .s(".")
        .num(tenths % 10)
        .s(unit);
}

/// Writes a line: `label` (padded to the figures' column), then byte count
/// `v` as [`bytes`] does.
fn row(w: &mut StackWriter, label: &str, v: u64) {
    w.left(label, 26);
    bytes(w, v);
    w.s("\n");
}

/// Writes a line: `label` (padded to the figures' column), then count `v`.
fn count_row(w: &mut StackWriter, label: &str, v: u64) {
    w.left(label, 26).num_w(v, 14).s("\n");
}

/// Writes where the `committed` bytes are, source by source (they add up
/// to it), and the metadata outside the heaps.
fn write_breakdown(w: &mut StackWriter, r: &Report) {
    let (b, os, pool) = (&r.snap.breakdown, &r.snap.os, &r.snap.pool);
    let committed = os.committed_bytes;
    w.s("  where the committed bytes are:\n");
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
        w.s("    ").left(name, 28);
        bytes(w, v as u64);
        w.s("\n");
    }
    w.s("  outside the heaps: heap slots ");
    bytes(w, pool.metadata_bytes as u64);
    w.s(", commit map ");
    bytes(w, os.commit_map_bytes as u64);
    w.s("\n");
    if let Some((resident, name, len)) = r.own_object {
        w.s("  resident code and data of ");
        w.bytes(&name[..len]);
        w.s(" (the object holding masu): ");
        bytes(w, resident as u64);
        w.s("\n");
    }
}

/// Writes `items` (each a label and a count) one after the other, then
/// `end`.
fn items(w: &mut StackWriter, items: &[(&str, u64)], end: &str) {
    for &(label, v) in items {
        w.s(label).num(v);
    }
    w.s(end);
}

/// Writes the report `r` to `w`.
pub(crate) fn write_report(w: &mut StackWriter, r: &Report) {
    let (st, os, pool) = (&r.snap.stats, &r.snap.os, &r.snap.pool);
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    items(w, &[("masu statistics (pid ", pid as u64)], ")\n");
    let counts = [
        ("  blocks allocated", st.alloc_count),
        ("  blocks freed", st.free_count),
        (
            "  blocks live",
            st.alloc_count.saturating_sub(st.free_count),
        ),
    ];
    for (label, v) in counts {
        count_row(w, label, v);
    }
    let rows = [
        ("  live", st.live_bytes as u64),
        ("  peak live (sum/heaps)", st.peak_live_bytes as u64),
        ("  committed", os.committed_bytes as u64),
        ("  peak committed", os.peak_committed_bytes as u64),
        ("  reserved", os.reserved_bytes as u64),
        ("  decommitted (total)", os.decommitted_bytes),
        ("  heap metadata", pool.metadata_bytes as u64),
    ];
    for (label, v) in rows {
        row(w, label, v);
    }
    w.left("  heaps", 26).num_w(pool.heaps as u64, 14);
    let heaps = [
        (" made, ", pool.heaps_in_use as u64),
        (" in use, ", pool.adoptions),
        (" adoptions, ", pool.thread_exits),
        (" thread exits, ", r.snap.purger_passes),
        (" purger passes (", r.snap.purger_live_pages_freed),
    ];
    items(w, &heaps, " pages of live heaps freed, ");
    bytes(w, r.snap.purger_live_bytes_discarded);
    w.s(" of free blocks' insides given back)\n");
    w.left("  reservations", 26)
        .num_w(os.reservations as u64, 14);
    let calls = [
        (" now; mmap ", os.mmap_calls),
        (", munmap ", os.munmap_calls),
        (" (", os.deferred_unmaps),
        (" handed to the purger), madvise ", os.madvise_calls),
        (", mprotect ", os.mprotect_calls),
        (", failed mmap ", os.map_failures),
    ];
    items(w, &calls, "\n");
    w.left("  limit refusals", 26).num_w(os.limit_refusals, 14);
    let limits = [
        ("; orphan frees ", pool.orphan_frees),
        (", borrowed allocations ", pool.borrows),
    ];
    items(w, &limits, "\n");
    let readable = [
        (
            "  readable heaps (this thread's and idle ones): ",
            st.segments as u64,
        ),
        (" segments, ", st.cached_segments as u64),
        (" cached, ", st.large_spans as u64),
        (" large spans, ", st.huge_allocs as u64),
        (" huge, ", st.purges),
        (" purges, ", st.remote_frees_collected),
    ];
    items(w, &readable, " remote frees collected\n");
    write_breakdown(w, r);
    write_classes(w, &st.pages_per_class);
}

/// Writes the table of pages per size class (the classes with pages).
fn write_classes(w: &mut StackWriter, pages_per_class: &[u32]) {
    let mut any = false;
    for (class, &pages) in pages_per_class.iter().enumerate() {
        if pages != 0 {
            if !any {
                w.s("    class   block size   pages\n");
                any = true;
            }
            w.s("    ").num_w(class as u64, 5).s("   ");
            w.num_w(class_size(class) as u64, 10).s("   ");
            w.num_w(pages as u64, 5).s("\n");
        }
    }
}

/// Writes the verbose report's line of heap slot `n`.
pub(crate) fn write_slot_line(w: &mut StackWriter, n: usize, held: bool, c: &Counts) {
    w.s("  heap ").num_w(n as u64, 4);
    w.s(if held { "  in use" } else { "  idle  " });
    w.s("  live ").num_w(c.live_bytes as u64, 12);
    w.s("  allocs ").num_w(c.alloc_count as u64, 12);
    w.s("  frees ").num_w(c.free_count as u64, 12).s("\n");
}
