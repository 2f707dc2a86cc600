//! The statistics report (`MASU_STATS=1`, [`crate::print_stats`]) and the
//! fault reporter of checked builds. Both format into a stack buffer and
//! write with `write(2)`: they never allocate.

use crate::fmtbuf::StackWriter;
use core::fmt::{self, Write};
use core::sync::atomic::AtomicI32;
use core::sync::atomic::Ordering::Relaxed;
use masu_core::size_class::class_size;

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
fn write_breakdown(
    w: &mut StackWriter<1024>,
    committed: usize,
    os: &crate::OsStats,
    pool: &crate::PoolStats,
) {
    let b = crate::committed_breakdown();
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
    if let Some((bytes, name, len)) = crate::self_resident::own_object_resident() {
        let _ = write!(w, "  resident code and data of ");
        w.bytes(&name[..len]);
        let _ = writeln!(w, " (the object holding masu): {}", Bytes(bytes as u64));
    }
}

/// Writes the report of all heaps to `w`.
pub(crate) fn write_report(w: &mut StackWriter<1024>) {
    // This flushes the calling thread's heap (at exit: the exiting thread's)
    // into its counters first, so they and the per-heap lines below include
    // its last fast-path allocations and frees.
    let st = crate::stats();
    let os = crate::os_stats();
    let pool = crate::pool_stats();
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
        "  heaps                   {:>14} made, {} in use, {} adoptions, {} thread exits, {} purger passes",
        pool.heaps,
        pool.heaps_in_use,
        pool.adoptions,
        pool.thread_exits,
        crate::purger_passes()
    );
    let _ = writeln!(
        w,
        "  reservations            {:>14} now; mmap {}, munmap {}, madvise {}, failed mmap {}",
        os.reservations, os.mmap_calls, os.munmap_calls, os.madvise_calls, os.map_failures
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
    write_breakdown(w, os.committed_bytes, &os, &pool);
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

/// Prints the report on stderr.
pub fn print_stats() {
    print_to(2);
}

fn print_to(fd: libc::c_int) {
    let mut w = StackWriter::<1024>::to_fd(fd);
    write_report(&mut w);
    if crate::options().verbose {
        crate::pool::write_slots(&mut w);
    }
}

/// A copy of stderr taken at start-up for the exit report: programs often
/// close stderr in their own exit handlers (coreutils' `close_stdout`),
/// which run before ours.
static EXIT_FD: AtomicI32 = AtomicI32::new(-1);

/// Keeps a private copy of stderr for the exit report (no allocation).
pub(crate) fn keep_stderr_for_exit() {
    // SAFETY: fcntl on fd 2 has no memory-safety preconditions.
    let fd = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3) };
    EXIT_FD.store(fd, Relaxed);
}

/// The `atexit` handler of `MASU_STATS=1`.
pub(crate) extern "C" fn print_at_exit() {
    let fd = EXIT_FD.load(Relaxed);
    print_to(if fd >= 0 { fd } else { 2 });
}

/// The fault handler of checked builds: prints the fault and aborts (no
/// unwinding out of the allocator, no allocation).
#[cfg_attr(not(feature = "checks"), allow(dead_code))]
pub(crate) fn fault_abort(fault: &masu_core::check::Fault) -> ! {
    let mut w = StackWriter::<512>::stderr();
    let _ = writeln!(w, "{fault}");
    w.flush();
    // SAFETY: abort has no preconditions and does not return.
    unsafe { libc::abort() }
}

/// Prints a panic's message and location on stderr (without allocating)
/// and aborts: the panic handler of `libmasu.so`, which carries no `std`.
pub fn report_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut w = StackWriter::<512>::stderr();
    let _ = writeln!(w, "masu: panic: {info}");
    w.flush();
    // SAFETY: abort has no preconditions and does not return.
    unsafe { libc::abort() }
}
