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

/// The JSON text before each number of [`Snapshot::write_json`], in order:
/// the keys with the punctuation that leads to them. `pages_per_class`
/// comes after the first `STATS_HEAD` numbers.
const KEYS: [&str; 41] = [
    "{\"stats\":{\"live_bytes\":",
    ",\"peak_live_bytes\":",
    ",\"alloc_count\":",
    ",\"free_count\":",
    ",\"committed_bytes\":",
    ",\"reserved_bytes\":",
    ",\"decommitted_bytes\":",
    ",\"segments\":",
    ",\"cached_segments\":",
    ",\"remote_frees_collected\":",
    "],\"large_spans\":",
    ",\"huge_allocs\":",
    ",\"purges\":",
    ",\"remaps\":",
    "},\"os\":{\"reserved_bytes\":",
    ",\"committed_bytes\":",
    ",\"peak_committed_bytes\":",
    ",\"decommitted_bytes\":",
    ",\"reservations\":",
    ",\"mmap_calls\":",
    ",\"munmap_calls\":",
    ",\"madvise_calls\":",
    ",\"mremap_calls\":",
    ",\"commit_map_bytes\":",
    ",\"limit_refusals\":",
    ",\"map_failures\":",
    "},\"pool\":{\"heaps\":",
    ",\"heaps_in_use\":",
    ",\"adoptions\":",
    ",\"thread_exits\":",
    ",\"borrows\":",
    ",\"orphan_frees\":",
    ",\"forks\":",
    ",\"metadata_bytes\":",
    "},\"breakdown\":{\"live_bytes\":",
    ",\"free_in_pages\":",
    ",\"empty_waiting\":",
    ",\"kept_pages\":",
    ",\"cached\":",
    ",\"headers\":",
    "},\"purger_passes\":",
];

/// Numbers of `stats` before `pages_per_class`.
const STATS_HEAD: usize = 10;

impl Snapshot {
    /// Writes the snapshot as one JSON object (no newline), with the field
    /// names and nesting of its `serde` form (the `serde` feature), so that
    /// `serde_json::from_str::<masu::Snapshot>` reads it back equal. Needs
    /// neither `serde` nor an allocation (it formats number by number into
    /// `w`): the `MASU_STATS=json` report writes it from inside the
    /// allocator.
    pub fn write_json(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        let v = self.numbers();
        for (i, (key, n)) in KEYS.iter().zip(v).enumerate() {
            if i == STATS_HEAD {
                w.write_str(",\"pages_per_class\":[")?;
                for (k, p) in self.stats.pages_per_class.iter().enumerate() {
                    write!(w, "{}{p}", if k == 0 { "" } else { "," })?;
                }
            }
            write!(w, "{key}{n}")?;
        }
        w.write_str("}")
    }

    /// The numbers of [`Snapshot::write_json`], in the order of [`KEYS`].
    fn numbers(&self) -> [u64; KEYS.len()] {
        let (st, os, p, b) = (&self.stats, &self.os, &self.pool, &self.breakdown);
        [
            st.live_bytes as u64,
            st.peak_live_bytes as u64,
            st.alloc_count,
            st.free_count,
            st.committed_bytes as u64,
            st.reserved_bytes as u64,
            st.decommitted_bytes,
            st.segments as u64,
            st.cached_segments as u64,
            st.remote_frees_collected,
            st.large_spans as u64,
            st.huge_allocs as u64,
            st.purges,
            st.remaps,
            os.reserved_bytes as u64,
            os.committed_bytes as u64,
            os.peak_committed_bytes as u64,
            os.decommitted_bytes,
            os.reservations as u64,
            os.mmap_calls,
            os.munmap_calls,
            os.madvise_calls,
            os.mremap_calls,
            os.commit_map_bytes as u64,
            os.limit_refusals,
            os.map_failures,
            p.heaps as u64,
            p.heaps_in_use as u64,
            p.adoptions,
            p.thread_exits,
            p.borrows,
            p.orphan_frees,
            p.forks,
            p.metadata_bytes as u64,
            b.live_bytes as u64,
            b.free_in_pages as u64,
            b.empty_waiting as u64,
            b.kept_pages as u64,
            b.cached as u64,
            b.headers as u64,
            self.purger_passes,
        ]
    }
}
