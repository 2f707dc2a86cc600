//! Purge delays shorter than the clock's tick: the std shim's clock
//! (`CLOCK_MONOTONIC_COARSE`) ticks every few milliseconds, and a heap must
//! not take each tick for a pause (`Config::wake_keep`), or under such a
//! delay it never purges while it is busy.

use std::time::{Duration, Instant};

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

#[test]
fn a_busy_thread_purges_under_a_delay_shorter_than_the_clocks_tick() {
    masu::init();
    masu::set_purge_delay_ms(Some(1)).unwrap();
    let before = masu::stats().purges;
    let t = Instant::now();
    // Bursts of 6000-byte blocks: their pages empty at each drop and queue
    // their slices for purging; the next burst's slow paths look at the
    // queue, ticks of the clock apart.
    while t.elapsed() < Duration::from_secs(2) && masu::stats().purges == before {
        let blocks: Vec<Vec<u8>> = (0..300).map(|i| vec![i as u8; 6000]).collect();
        assert!(blocks.iter().enumerate().all(|(i, b)| b[5999] == i as u8));
        drop(blocks);
        let big = vec![7u8; 200_000];
        assert_eq!(big[199_999], 7);
    }
    let purges = masu::stats().purges - before;
    masu::set_purge_delay_ms(Some(masu::DEFAULT_PURGE_DELAY_MS)).unwrap();
    assert!(
        purges > 0,
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
