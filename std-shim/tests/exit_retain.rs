//! A thread's exit keeps up to `MASU_EXIT_RETAIN` (default 64 MiB; 16 here) of free
//! committed memory in its heap for the next thread that adopts the heap,
//! and gives everything free back when there is more.

//!
//! One test only: it measures process-wide committed bytes, and which idle
//! heap a new thread adopts depends on which threads exited last, so no
//! other test's thread may exit meanwhile.

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

const MIB: usize = 1 << 20;

fn committed() -> usize {
    masu::os_stats().committed_bytes
}

/// A thread that allocates `bytes` in 24 KiB blocks (small pages), touches
/// them, frees them all and exits.
/// Returns the page faults the thread took.
fn burst_in_a_thread(bytes: usize) -> u64 {
    std::thread::spawn(move || {
        let before = thread_faults();
        // (With `checks`, 16 bytes less: the trailer fills the class.)
        let t = if cfg!(feature = "checks") { 16 } else { 0 };
        let blocks: Vec<Vec<u8>> = (0..bytes / (24 << 10))
            .map(|i| vec![i as u8 | 1; (24 << 10) - t])
            .collect();
        assert!(blocks.iter().all(|b| b[100] != 0));
        let faults = thread_faults() - before;
        drop(blocks);
        faults
    })
    .join()
    .unwrap()
}

/// Minor page faults of the calling thread so far.
fn thread_faults() -> u64 {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { core::mem::zeroed() };
    // SAFETY: `ru` is a valid out-pointer.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) }, 0);
    ru.ru_minflt as u64
}

#[test]
fn exits_keep_memory_up_to_the_bound_for_the_next_thread() {
    masu::init();
    // What the exit keeps, not what the purge delay takes back while the
    // thread runs: a debug build with `checks` (which fills every block it
    // carves and frees) takes longer than the default 10 ms between a
    // page's emptying and the exit, and the purge would give it back first.
    masu::set_purge_delay_ms(Some(1000)).unwrap();
    // The bound the test crosses below with a 48 MiB burst.
    masu::set_exit_retain_bytes(16 * MIB).unwrap();
    masu::collect_abandoned(true);
    let base = committed();
    let f1 = burst_in_a_thread(8 * MIB);
    let kept = committed();
    assert!(
        kept >= base + 6 * MIB,
        "the exit gave back what it may keep: {base} -> {kept}"
    );
    // The next thread adopts the heap and reuses that memory.
    let f2 = burst_in_a_thread(8 * MIB);
    println!("page faults: first thread {f1}, next thread {f2}");
    assert!(
        f1 >= 1000,
        "the first thread touched 8 MiB with {f1} faults"
    );
    assert!(
        f2 * 10 <= f1,
        "the next thread faulted the memory in again: {f2} faults (first {f1})"
    );
    let again = committed();
    assert!(
        again <= kept + MIB,
        "the next thread committed anew: {kept} -> {again}"
    );
    // Trimming the idle heaps gives it back.
    masu::collect_abandoned(true);
    assert!(
        committed() <= base + MIB,
        "trim kept {} of {base}",
        committed()
    );

    // Over the bound, the exit gives everything free back.
    burst_in_a_thread(48 * MIB);
    let after = committed();
    assert!(
        after <= base + MIB,
        "48 MiB freed before exit, {} MiB still committed over {} MiB",
        (after - base) / MIB,
        base / MIB
    );
}
