//! [`Snapshot`]: every figure masu reports, in one value — what
//! [`crate::snapshot`] returns, what the `MASU_STATS` report prints (as
//! text, or as one JSON object with `MASU_STATS=json`), and, with the
//! `serde` feature, what serialises.

use crate::fmtbuf::Text;
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
    /// Pages of live threads' heaps the purger freed (see
    /// [`crate::purger_live_pages_freed`]).
    pub purger_live_pages_freed: u64,
    /// Bytes of free blocks' insides in live threads' heaps the purger
    /// gave back (see [`crate::purger_live_bytes_discarded`]).
    pub purger_live_bytes_discarded: u64,
}

/// The JSON text before each number of [`Snapshot::write_json`], in order:
/// the keys with the punctuation that leads to them. `pages_per_class`
/// comes after the first `STATS_HEAD` numbers.
const KEYS: [&str; 49] = [
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
    ",\"direct_blocks\":",
    ",\"direct_bytes\":",
    ",\"direct_cached_bytes\":",
    "},\"os\":{\"reserved_bytes\":",
    ",\"committed_bytes\":",
    ",\"peak_committed_bytes\":",
    ",\"decommitted_bytes\":",
    ",\"reservations\":",
    ",\"mmap_calls\":",
    ",\"munmap_calls\":",
    ",\"madvise_calls\":",
    ",\"mremap_calls\":",
    ",\"mprotect_calls\":",
    ",\"commit_map_bytes\":",
    ",\"limit_refusals\":",
    ",\"map_failures\":",
    ",\"deferred_unmaps\":",
    "},\"pool\":{\"heaps\":",
    ",\"heaps_in_use\":",
    ",\"adoptions\":",
    ",\"thread_exits\":",
    ",\"borrows\":",
    ",\"orphan_frees\":",
    ",\"forks\":",
    ",\"fork_handlers\":",
    ",\"metadata_bytes\":",
    "},\"breakdown\":{\"live_bytes\":",
    ",\"free_in_pages\":",
    ",\"empty_waiting\":",
    ",\"kept_pages\":",
    ",\"cached\":",
    ",\"headers\":",
    "},\"purger_passes\":",
    ",\"purger_live_pages_freed\":",
    ",\"purger_live_bytes_discarded\":",
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
        /// [`Text`] over a `fmt::Write`, keeping its first error.
        struct Adapter<'a>(&'a mut dyn fmt::Write, fmt::Result);
        impl Text for Adapter<'_> {
            fn put(&mut self, b: &[u8]) {
                if self.1.is_ok() {
                    // The JSON text is ASCII: never an error here.
                    self.1 = match core::str::from_utf8(b) {
                        Ok(t) => self.0.write_str(t),
                        Err(_) => Err(fmt::Error),
                    };
                }
            }
        }
        let mut a = Adapter(w, Ok(()));
        self.write_json_text(&mut a);
        a.1
    }

    /// [`Snapshot::write_json`] into any [`Text`] sink (the exit report's
    /// form: without `core::fmt`).
    pub(crate) fn write_json_text(&self, w: &mut impl Text) {
        let v = self.numbers();
        for (i, (key, n)) in KEYS.iter().zip(v).enumerate() {
            if i == STATS_HEAD {
                w.s(",\"pages_per_class\":[");
                for (k, &p) in self.stats.pages_per_class.iter().enumerate() {
                    w.s(if k == 0 { "" } else { "," }).num(p as u64);
                }
            }
            // Every field is a `u64`, `usize` or `isize`: its magnitude fits
            // a `u64`.
            w.s(key);
            if n < 0 {
                w.s("-");
            }
            w.num(n.unsigned_abs() as u64);
        }
        w.s("}");
    }

    /// The numbers of [`Snapshot::write_json`], in the order of [`KEYS`].
    fn numbers(&self) -> [i128; KEYS.len()] {
        let (st, os, p, b) = (&self.stats, &self.os, &self.pool, &self.breakdown);
        [
            st.live_bytes as i128,
            st.peak_live_bytes as i128,
            st.alloc_count as i128,
            st.free_count as i128,
            st.committed_bytes as i128,
            st.reserved_bytes as i128,
            st.decommitted_bytes as i128,
            st.segments as i128,
            st.cached_segments as i128,
            st.remote_frees_collected as i128,
            st.large_spans as i128,
            st.huge_allocs as i128,
            st.purges as i128,
            st.remaps as i128,
            st.direct_blocks as i128,
            st.direct_bytes as i128,
            st.direct_cached_bytes as i128,
            os.reserved_bytes as i128,
            os.committed_bytes as i128,
            os.peak_committed_bytes as i128,
            os.decommitted_bytes as i128,
            os.reservations as i128,
            os.mmap_calls as i128,
            os.munmap_calls as i128,
            os.madvise_calls as i128,
            os.mremap_calls as i128,
            os.mprotect_calls as i128,
            os.commit_map_bytes as i128,
            os.limit_refusals as i128,
            os.map_failures as i128,
            os.deferred_unmaps as i128,
            p.heaps as i128,
            p.heaps_in_use as i128,
            p.adoptions as i128,
            p.thread_exits as i128,
            p.borrows as i128,
            p.orphan_frees as i128,
            p.forks as i128,
            p.fork_handlers as i128,
            p.metadata_bytes as i128,
            b.live_bytes as i128,
            b.free_in_pages as i128,
            b.empty_waiting as i128,
            b.kept_pages as i128,
            b.cached as i128,
            b.headers as i128,
            self.purger_passes as i128,
            self.purger_live_pages_freed as i128,
            self.purger_live_bytes_discarded as i128,
        ]
    }
}
