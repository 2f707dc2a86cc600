//! What the process's heaps hold, all together: [`stats`],
//! [`committed_breakdown`], and the report's snapshot ([`print_stats`],
//! `MASU_STATS=1`), which `report.rs` formats.

use crate::fmtbuf::StackWriter;
use crate::pool;
use crate::report::{self, Report};
use crate::snapshot::Snapshot;
use crate::thread_slot::{current, is_slot, with_heap, Slot};
use masu_core::Stats;

/// Statistics of all heaps of the process together.
///
/// Exact process-wide: `live_bytes`, `alloc_count`, `free_count` (summed over
/// every heap's counters; a block freed by another thread counts as freed
/// once its owner heap collects it), `committed_bytes`, `reserved_bytes`,
/// `decommitted_bytes` (from [`MmapOs`](crate::MmapOs)), with one lag: the allocation and
/// free fast paths count in the page they use, and a heap folds a page's
/// counts into its counters on some slow paths with that page (filing it
/// full, freeing it, collecting its remote frees, refilling from it once it
/// has handed out 1024 blocks since) and at a flush. This call flushes the
/// calling thread's heap first, so a thread sees its own activity exactly; a
/// thread that exited was flushed by the [`collect`](crate::collect) it did then. Another
/// live thread's latest activity may not be in yet: per page of its heap,
/// fewer than 1024 plus the page's block count allocations and the frees
/// that go with them, and in live bytes at most what its small pages that
/// are not full hold.
///
/// `peak_live_bytes` is the sum of the heaps' peaks, an upper bound of the
/// process's peak (each heap's peak is raised on its slow paths and
/// flushes, see [`masu_core::Stats::peak_live_bytes`]), and never below
/// `live_bytes`. The detail that only a heap itself knows (`segments`,
/// `cached_segments`, `pages_per_class`, `large_spans`, `huge_allocs`,
/// `purges`, `remote_frees_collected`) covers the calling thread's heap and
/// the idle heaps of exited threads, not other live threads' heaps.
pub fn stats() -> masu_core::Stats {
    let s = current();
    if is_slot(s) {
        // SAFETY: the thread holds its slot and is not inside a heap call
        // (this is no allocation path).
        unsafe { with_heap(s, |h| h.flush_stats()) };
    }
    let mut st = sum_of_heaps();
    // Another live heap's counters may have frees not yet folded in, which
    // can leave its live bytes above its peak for a while.
    st.peak_live_bytes = st.peak_live_bytes.max(st.live_bytes);
    st
}

/// Adds the per-heap detail of `h` (what only the heap itself knows).
fn merge_detail(into: &mut Stats, h: &Stats) {
    into.segments += h.segments;
    into.cached_segments += h.cached_segments;
    into.remote_frees_collected += h.remote_frees_collected;
    for (a, b) in into
        .pages_per_class
        .iter_mut()
        .zip(h.pages_per_class.iter())
    {
        *a += *b;
    }
    into.large_spans += h.large_spans;
    into.huge_allocs += h.huge_allocs;
    into.purges += h.purges;
}

/// Statistics of all heaps together (see [`stats`]), without flushing the
/// calling thread's heap first.
fn sum_of_heaps() -> Stats {
    let mut st = Stats::ZERO;
    pool::for_each_slot(|s| {
        // SAFETY: slots are live forever.
        let c = unsafe { Slot::counts(s) };
        st.live_bytes = st.live_bytes.wrapping_add(c.live_bytes);
        st.peak_live_bytes += c.peak_live_bytes;
        st.alloc_count += c.alloc_count as u64;
        st.free_count += c.free_count as u64;
    });
    let own = current();
    if is_slot(own) {
        // SAFETY: the thread holds its slot and is not inside a heap call.
        merge_detail(&mut st, &unsafe { with_heap(own, |h| h.stats()) });
    }
    pool::for_each_idle_heap(|h| merge_detail(&mut st, &h.stats()));
    let o = crate::os::os_stats();
    st.committed_bytes = o.committed_bytes;
    st.reserved_bytes = o.reserved_bytes;
    st.decommitted_bytes = o.decommitted_bytes;
    st
}

/// Where the committed bytes of the heaps this thread can read are (its
/// own and the idle heaps of exited threads; see
/// [`masu_core::CommittedBreakdown`]). Other live threads' heaps are not
/// readable from here: their share is the process's committed bytes
/// ([`crate::os_stats`]) less this total.
pub fn committed_breakdown() -> masu_core::CommittedBreakdown {
    let mut b = masu_core::CommittedBreakdown::default();
    let own = current();
    if is_slot(own) {
        // SAFETY: the thread holds its slot and is not inside a heap call.
        b.merge(&unsafe { with_heap(own, |h| h.committed_breakdown()) });
    }
    pool::for_each_idle_heap(|h| b.merge(&h.committed_breakdown()));
    b
}

/// Every figure masu reports, gathered now: [`stats`] (which flushes the
/// calling thread's heap first), [`crate::os_stats`],
/// [`crate::pool_stats`], [`committed_breakdown`] and the purger's passes.
pub fn snapshot() -> Snapshot {
    Snapshot {
        stats: stats(),
        os: crate::os::os_stats(),
        pool: pool::pool_stats(),
        breakdown: committed_breakdown(),
        purger_passes: crate::purger::passes(),
        purger_live_pages_freed: crate::purger::live_pages_freed(),
        purger_live_bytes_discarded: crate::purger::live_bytes_discarded(),
    }
}

/// Prints the report on stderr.
pub fn print_stats() {
    print_to(2);
}

/// Prints the report on `fd`: one JSON object with `MASU_STATS=json`, else
/// the text report, with a line per heap slot when verbose.
pub(crate) fn print_to(fd: libc::c_int) {
    let mut w = StackWriter::to_fd(fd);
    // This flushes the calling thread's heap (at exit: the exiting
    // thread's) into its counters first, so they and the per-heap lines
    // include its last fast-path allocations and frees.
    let snap = snapshot();
    if crate::options::options().stats_json {
        snap.write_json_text(&mut w);
        w.bytes(b"\n");
        return;
    }
    let r = Report {
        snap,
        own_object: crate::self_resident::own_object_resident(),
    };
    report::write_report(&mut w, &r);
    if crate::options::options().verbose {
        let mut n = 0usize;
        pool::for_each_slot(|s| {
            // SAFETY: slots are live forever.
            let (held, counts) = unsafe { (Slot::held(s), Slot::counts(s)) };
            report::write_slot_line(&mut w, n, held, &counts);
            n += 1;
        });
    }
}
