//! [`Snapshot`]: every figure masu reports, in one value — what
//! [`crate::snapshot`] returns, what the `MASU_STATS` report prints (as
//! text, or as one JSON object with `MASU_STATS=json`), and, with the
//! `serde` feature, what serialises.

use crate::os::OsStats;
use crate::pool::PoolStats;
use core::fmt;
use masu_core::{CommittedBreakdown, Stats};

/// All of masu's figures at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Snapshot {
    /// All heaps together (see [`crate::stats`]).
    pub stats: Stats,
    /// The `Os` layer (see [`crate::os_stats`]).
    pub os: OsStats,
    /// The heap pool (see [`crate::pool_stats`]).
    pub pool: PoolStats,
    /// Where the committed bytes of the heaps this thread can read are
    /// (see [`crate::committed_breakdown`]).
    pub breakdown: CommittedBreakdown,
    /// Passes of the background purger (see [`crate::purger_passes`]).
    pub purger_passes: u64,
}

impl Snapshot {
    /// Writes the snapshot as one JSON object (no newline), with the field
    /// names and nesting of its `serde` form (the `serde` feature), so that
    /// `serde_json::from_str::<masu::Snapshot>` reads it back equal. Needs
    /// neither `serde` nor an allocation (it formats piecewise into `w`):
    /// the `MASU_STATS=json` report writes it from inside the allocator.
    pub fn write_json(&self, w: &mut impl fmt::Write) -> fmt::Result {
        let snap = self;
        let st = &snap.stats;
        write!(
            w,
            "{{\"stats\":{{\"live_bytes\":{},\"peak_live_bytes\":{},\"alloc_count\":{},\"free_count\":{},\
             \"committed_bytes\":{},\"reserved_bytes\":{},\"decommitted_bytes\":{},\"segments\":{},\
             \"cached_segments\":{},\"remote_frees_collected\":{},\"pages_per_class\":[",
            st.live_bytes,
            st.peak_live_bytes,
            st.alloc_count,
            st.free_count,
            st.committed_bytes,
            st.reserved_bytes,
            st.decommitted_bytes,
            st.segments,
            st.cached_segments,
            st.remote_frees_collected,
        )?;
        for (i, n) in st.pages_per_class.iter().enumerate() {
            write!(w, "{}{n}", if i == 0 { "" } else { "," })?;
        }
        write!(
            w,
            "],\"large_spans\":{},\"huge_allocs\":{},\"purges\":{},\"remaps\":{}}},",
            st.large_spans, st.huge_allocs, st.purges, st.remaps
        )?;
        let os = &snap.os;
        write!(
            w,
            "\"os\":{{\"reserved_bytes\":{},\"committed_bytes\":{},\"peak_committed_bytes\":{},\
             \"decommitted_bytes\":{},\"reservations\":{},\"mmap_calls\":{},\"munmap_calls\":{},\
             \"madvise_calls\":{},\"mremap_calls\":{},\"commit_map_bytes\":{},\"limit_refusals\":{},\
             \"map_failures\":{}}},",
            os.reserved_bytes,
            os.committed_bytes,
            os.peak_committed_bytes,
            os.decommitted_bytes,
            os.reservations,
            os.mmap_calls,
            os.munmap_calls,
            os.madvise_calls,
            os.mremap_calls,
            os.commit_map_bytes,
            os.limit_refusals,
            os.map_failures,
        )?;
        let p = &snap.pool;
        write!(
            w,
            "\"pool\":{{\"heaps\":{},\"heaps_in_use\":{},\"adoptions\":{},\"thread_exits\":{},\
             \"borrows\":{},\"orphan_frees\":{},\"forks\":{},\"metadata_bytes\":{}}},",
            p.heaps,
            p.heaps_in_use,
            p.adoptions,
            p.thread_exits,
            p.borrows,
            p.orphan_frees,
            p.forks,
            p.metadata_bytes,
        )?;
        let b = &snap.breakdown;
        write!(
            w,
            "\"breakdown\":{{\"live_bytes\":{},\"free_in_pages\":{},\"empty_waiting\":{},\
             \"kept_pages\":{},\"cached\":{},\"headers\":{}}},\"purger_passes\":{}}}",
            b.live_bytes,
            b.free_in_pages,
            b.empty_waiting,
            b.kept_pages,
            b.cached,
            b.headers,
            snap.purger_passes,
        )?;
        Ok(())
    }
}
