//! masu doing its job, side by side with two other allocators.
//!
//! `cargo run --release -p masu-bench --bin demo`
//!
//! Runs the same deterministic mixed-size workload ([`Dist::DEMO`]) on
//! masu-core over a 64 MiB fixed region, on `linked_list_allocator` over an
//! equal region and on the system allocator; prints throughput, memory held
//! and masu's stats; exits non-zero if any allocator returned null, lost
//! contents, misaligned a block, or produced another checksum than the rest,
//! or if masu did not give its region back whole.

use masu_bench::subjects::{leak_region, LinkedList, MasuFixed, System};
use masu_bench::{Dist, Outcome, Subject, SAMPLE_EVERY};
use masu_core::size_class::CLASS_SIZES;
use masu_core::{FixedRegion, Stats};
use std::process::ExitCode;
use std::time::Instant;

/// Bytes of each fixed region.
const REGION: usize = 64 << 20;
/// Runs per allocator; the table shows the median.
const RUNS: usize = 3;

struct Row {
    name: &'static str,
    runs: Vec<(Outcome, f64)>,
}

impl Row {
    fn median_ops_per_sec(&self) -> f64 {
        let mut rates: Vec<f64> = self.runs.iter().map(|(o, s)| o.ops as f64 / s).collect();
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    }
}

fn timed<S: Subject>(work: &Dist, subject: &mut S) -> (Outcome, f64) {
    let t = Instant::now();
    let out = work.run(subject);
    (out, t.elapsed().as_secs_f64())
}

fn mib(bytes: usize) -> String {
    format!("{:.2} MiB", bytes as f64 / (1 << 20) as f64)
}

fn opt_mib(bytes: Option<usize>) -> String {
    bytes.map_or_else(|| "n/a".to_string(), mib)
}

fn main() -> ExitCode {
    let work = Dist::DEMO;
    print_intro(&work);
    let region: &'static FixedRegion =
        Box::leak(Box::new(FixedRegion::from_slice(leak_region(REGION))));
    let (rows, mut failures, masu_stats) = run_all(&work, region);
    let reference = rows[2].runs[0].0;
    check_agreement(&rows, &reference, &mut failures);
    print_table(&rows, &reference, masu_stats);
    if let Some((at, end)) = masu_stats {
        print_masu_stats(&at, &end, region);
    }
    verdict(&failures, rows.len(), &reference)
}

/// What the demo runs.
fn print_intro(work: &Dist) {
    println!(
        "masu demo: {} ops on {} slots, seed {:#x}",
        work.ops, work.slots, work.seed
    );
    println!(
        "  sizes 80% 16-256 B, 15% 257-2048 B, 5% 2049-32768 B; align 8 (1 in 16: 16, 1 in 32: 64);"
    );
    println!("  1 op in 8 on a live block is a Vec-style realloc (x2, or /2 at 32 KiB);");
    println!("  every block is filled when allocated and probed when reallocated or freed.");
    println!("  each allocator runs the workload {RUNS} times, interleaved; ops/s is the median.");
    println!();
}

/// The workload under each allocator, `RUNS` times, interleaved; the
/// failures seen; masu's statistics at the checkpoint and at the end of its
/// last run.
fn run_all(
    work: &Dist,
    region: &'static FixedRegion,
) -> ([Row; 3], Vec<String>, Option<(Stats, Stats)>) {
    let mut lla = LinkedList::new(leak_region(REGION));
    let mut rows = [
        Row {
            name: "masu-core Heap<FixedRegion>",
            runs: Vec::new(),
        },
        Row {
            name: "linked_list_allocator Heap",
            runs: Vec::new(),
        },
        Row {
            name: "std::alloc::System",
            runs: Vec::new(),
        },
    ];
    let mut failures: Vec<String> = Vec::new();
    let mut masu_stats: Option<(Stats, Stats)> = None;

    for _ in 0..RUNS {
        // masu: a fresh heap over the same region each run.
        let mut masu = MasuFixed::new(region);
        rows[0].runs.push(timed(work, &mut masu));
        let end = masu.heap.stats();
        if end.live_bytes != 0 || end.alloc_count != end.free_count {
            failures.push(format!("masu: blocks left after freeing all: {end:?}"));
        }
        masu_stats = Some((masu.at_checkpoint.unwrap_or_default(), end));
        drop(masu);
        if region.free_bytes() != region.size() {
            failures.push(format!(
                "masu: region not whole after the heap was dropped: {} of {} bytes free",
                region.free_bytes(),
                region.size()
            ));
        }

        // linked_list_allocator: one heap, empty again after every run.
        rows[1].runs.push(timed(work, &mut lla));
        if lla.heap.used() != 0 {
            failures.push(format!(
                "linked_list_allocator: {} bytes used after freeing all",
                lla.heap.used()
            ));
        }

        rows[2].runs.push(timed(work, &mut System));
    }

    (rows, failures, masu_stats)
}

/// Every run must be clean and agree with the system allocator's checksum.
fn check_agreement(rows: &[Row], reference: &Outcome, failures: &mut Vec<String>) {
    for row in rows {
        for (out, _) in &row.runs {
            if !out.is_clean() {
                failures.push(format!("{}: {out:?}", row.name));
            }
            if out.checksum != reference.checksum {
                failures.push(format!(
                    "{}: checksum {:#018x}, system allocator {:#018x}",
                    row.name, out.checksum, reference.checksum
                ));
            }
        }
    }
}

/// The table of medians, and notes on the figures.
fn print_table(rows: &[Row], reference: &Outcome, masu_stats: Option<(Stats, Stats)>) {
    let sys_rate = rows[2].median_ops_per_sec();
    println!(
        "{:<28} {:>12} {:>9} {:>14} {:>14} {:>20}",
        "allocator", "ops/s", "vs System", "peak reserved", "peak in use", "checksum"
    );
    for (i, row) in rows.iter().enumerate() {
        let rate = row.median_ops_per_sec();
        let mut out = row.runs[0].0;
        if let (0, Some((at, _))) = (i, masu_stats) {
            // masu counts its peak exactly; no need for the sampled one.
            out.peak_in_use = Some(at.peak_live_bytes);
        }
        println!(
            "{:<28} {:>10.2} M {:>8.2}x {:>14} {:>14} {:>#20x}",
            row.name,
            rate / 1e6,
            rate / sys_rate,
            opt_mib(out.peak_reserved),
            opt_mib(out.peak_in_use),
            out.checksum
        );
    }
    println!();
    println!(
        "workload: peak requested {} ({} B, exact); {} allocs, {} reallocs, {} frees",
        mib(reference.peak_requested),
        reference.peak_requested,
        reference.allocs,
        reference.reallocs,
        reference.frees
    );
    println!(
        "peak reserved: masu's segments taken from its region, sampled every {SAMPLE_EVERY} ops;\n\
         peak in use: bytes in live blocks, masu's exact Stats::peak_live_bytes (block sizes),\n\
         linked_list_allocator's used() sampled every {SAMPLE_EVERY} ops."
    );
    println!(
        "run times (s): {}",
        rows.iter()
            .map(|r| format!(
                "{} [{}]",
                r.name,
                r.runs
                    .iter()
                    .map(|(_, s)| format!("{s:.3}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

/// masu's statistics at the checkpoint and after the final frees.
fn print_masu_stats(at: &Stats, end: &Stats, region: &FixedRegion) {
    println!();
    println!("masu Heap::stats() at the end of the op loop (before the final frees):");
    print_stats(at);
    println!(
        "after freeing the rest: live {} B, {} allocs = {} frees, {} segments, {} cached; \
         heap dropped: region {} of {} B free",
        end.live_bytes,
        end.alloc_count,
        end.free_count,
        end.segments,
        end.cached_segments,
        region.free_bytes(),
        region.size()
    );
}

/// OK, or every failure.
fn verdict(failures: &[String], allocators: usize, reference: &Outcome) -> ExitCode {
    println!();
    if failures.is_empty() {
        println!(
            "OK: all {} runs agree on checksum {:#018x}; no null, no lost byte, no misaligned block.",
            RUNS * allocators,
            reference.checksum
        );
        ExitCode::SUCCESS
    } else {
        for f in failures {
            eprintln!("FAIL: {f}");
        }
        ExitCode::FAILURE
    }
}

fn print_stats(s: &Stats) {
    println!(
        "  live {} B, peak live {} B; allocs {}, frees {}",
        s.live_bytes, s.peak_live_bytes, s.alloc_count, s.free_count
    );
    println!(
        "  committed {} B, reserved {} B, decommitted {} B; purges {}",
        s.committed_bytes, s.reserved_bytes, s.decommitted_bytes, s.purges
    );
    println!(
        "  segments {} (+{} cached), large spans {}, huge blocks {}, remote frees collected {}",
        s.segments, s.cached_segments, s.large_spans, s.huge_allocs, s.remote_frees_collected
    );
    let pages: Vec<String> = s
        .pages_per_class
        .iter()
        .zip(CLASS_SIZES.iter())
        .filter(|(n, _)| **n != 0)
        .map(|(n, size)| format!("{size}:{n}"))
        .collect();
    println!(
        "  pages in use: {} in {} classes (block size:pages)",
        s.pages_per_class.iter().sum::<u32>(),
        pages.len()
    );
    for line in pages.chunks(12) {
        println!("    {}", line.join(" "));
    }
}
