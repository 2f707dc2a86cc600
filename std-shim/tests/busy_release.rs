//! How a live thread that keeps working gives memory back (the background
//! purger takes only idle threads' heaps): under a purge delay shorter than
//! the clock's tick (the std shim's `CLOCK_MONOTONIC_COARSE` ticks every few
//! milliseconds), when it does a little work at intervals longer than the
//! delay after a burst (`Config::wake_keep`, "A heap waking" in
//! docs/design.md), and when another thread freed its burst.

use std::time::{Duration, Instant};

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

/// The tests share the process's options: they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_busy_thread_purges_under_a_delay_shorter_than_the_clocks_tick() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    masu::set_purge_delay_ms(Some(1)).unwrap();
    // The process's decommits (`masu::stats()` sums the heaps it can read,
    // which other tests' threads change: not monotonic).
    let decommitted = || masu::os_stats().decommitted_bytes;
    let before = decommitted();
    let t = Instant::now();
    // Bursts of 6000-byte blocks: their pages empty at each drop and queue
    // their slices for purging; the next burst's slow paths look at the
    // queue, ticks of the clock apart.
    while t.elapsed() < Duration::from_secs(10) && decommitted() == before {
        let blocks: Vec<Vec<u8>> = (0..300).map(|i| vec![i as u8; 6000]).collect();
        assert!(blocks.iter().enumerate().all(|(i, b)| b[5999] == i as u8));
        drop(blocks);
        let big = vec![7u8; 200_000];
        assert_eq!(big[199_999], 7);
    }
    let purged = decommitted() - before;
    masu::set_purge_delay_ms(Some(masu::DEFAULT_PURGE_DELAY_MS)).unwrap();
    assert!(
        purged > 0,
        "no purge in {:?} of bursts under a 1 ms purge delay (the clock ticks every {} ms)",
        t.elapsed(),
        tick_ms()
    );
}

/// The coarse clock's resolution, for the message.
fn tick_ms() -> f64 {
    let mut res = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) };
    res.tv_sec as f64 * 1e3 + res.tv_nsec as f64 / 1e6
}

/// What a burst of 8000 blocks of 6000 bytes left committed: the burst is
/// made, handed to `free` (which drops it), then `work` runs in a loop, at
/// most 10 s, until the committed bytes are back within 8 MiB of where they
/// started. Returns the bytes committed before the burst, at its peak and
/// at the end, and how long the work ran.
fn committed_after_burst(
    free: impl FnOnce(Vec<Vec<u8>>),
    mut work: impl FnMut(),
) -> (usize, usize, usize, Duration) {
    let base = masu::os_stats().committed_bytes;
    let burst: Vec<Vec<u8>> = (0..8000).map(|i| vec![i as u8; 6000]).collect();
    let peak = masu::os_stats().committed_bytes;
    assert!(
        peak > base + (32 << 20),
        "the burst committed too little: {base} then {peak}"
    );
    free(burst);
    let t = Instant::now();
    let mut last = peak;
    while t.elapsed() < Duration::from_secs(10) && last >= base + (8 << 20) {
        work();
        last = masu::os_stats().committed_bytes;
    }
    (base, peak, last, t.elapsed())
}

#[test]
fn a_thread_that_works_a_little_every_50_ms_gives_back_what_a_burst_left() {
    // Each bit of work comes more than a purge delay after the last: a
    // waking, which holds what is due for the work after it. Before
    // session 23 every waking held the queue again, the purger never saw
    // the thread idle for `MASU_IDLE_HOLD`, and the burst's memory stayed
    // for good (LD_PRELOAD, a C program: 34.0 of 48.7 MiB after 3 s;
    // docs/results/issue11/periodic-work/).
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    let (base, peak, last, took) = committed_after_burst(drop, || {
        std::thread::sleep(Duration::from_millis(50));
        // A little work that reaches slow paths.
        let work: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 2000 + i * 16]).collect();
        assert!(work.iter().enumerate().all(|(i, w)| w[0] == i as u8));
    });
    assert!(
        last < base + (8 << 20),
        "kept {} KiB of the burst's {} KiB after {took:?} of work every 50 ms",
        (last - base) >> 10,
        (peak - base) >> 10,
    );
}

#[test]
fn a_busy_thread_gives_back_a_burst_another_thread_freed() {
    // The burst's pages went to the owner's `full` queue; the other
    // thread's frees wait on their `thread_free` lists. The owner, busy with
    // small blocks, never ran out of pages of the burst's class, and so
    // never looked at them: before session 23 it kept the burst for good
    // (docs/results/issue11/handoff/: 44.3 of 48.6 MiB after 2 s). The
    // epoch tick now checks a few full pages for other threads' frees.
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    // For the message only: `masu::stats()` sums the heaps it can read.
    let before = masu::stats().remote_frees_collected;
    let mut k = 0usize;
    let freer = |burst| std::thread::spawn(move || drop(burst)).join().unwrap();
    let (base, peak, last, took) = committed_after_burst(freer, || {
        for _ in 0..100_000 {
            let v: Vec<u8> = Vec::with_capacity(16 + (k & 63) * 8);
            std::hint::black_box(&v);
            k += 1;
        }
    });
    let collected = masu::stats().remote_frees_collected.saturating_sub(before);
    assert!(
        last < base + (8 << 20),
        "kept {} KiB of the burst's {} KiB after {took:?} of work ({collected} of its blocks collected)",
        (last - base) >> 10,
        (peak - base) >> 10,
    );
}
