//! Reservations released while the background purger runs are unmapped by
//! the purger (`deferred_release.rs`): a huge block freed by a thread that
//! then sleeps leaves the address space and the resident set within the
//! purger's next wake, and `collect(true)` unmaps what waits at once.

use std::time::{Duration, Instant};

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

/// The tests share the process's heaps and purger: they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const HUGE: usize = 24 << 20;

/// True when `addr` lies in a mapping of the process (`/proc/self/maps`).
fn mapped(addr: usize) -> bool {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.split_once('-'))
        .any(|(a, b)| {
            let (a, b) = (
                usize::from_str_radix(a, 16).unwrap(),
                usize::from_str_radix(b, 16).unwrap(),
            );
            (a..b).contains(&addr)
        })
}

/// Starts the purger: a free on a slow path (another thread's block) wakes
/// it, starting it the first time; waits for its first pass.
fn start_purger() {
    let v = std::thread::spawn(|| vec![7u8; 1000]).join().unwrap();
    drop(v);
    let t = Instant::now();
    while masu::purger_passes() == 0 && t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(masu::purger_passes() > 0, "the purger did not start");
}

/// A heap of its own gets a huge block, every page written; the block is
/// freed and the heap collected with `force`, which releases the cached
/// reservation. Returns the block's address.
fn release_a_huge_block() -> usize {
    let heap = masu::Heap::new();
    let mut v: allocator_api2::vec::Vec<u8, &masu::Heap> =
        allocator_api2::vec::Vec::with_capacity_in(HUGE, &heap);
    v.resize(HUGE, 1);
    std::hint::black_box(&mut v);
    let addr = v.as_ptr() as usize;
    assert!(mapped(addr));
    drop(v);
    heap.collect(true);
    addr
}

#[test]
fn a_released_huge_block_is_unmapped_by_the_purger_while_the_program_sleeps() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    start_purger();
    let deferred = masu::os_stats().deferred_unmaps;
    let addr = release_a_huge_block();
    // The purger runs: the release was handed to it.
    assert!(masu::os_stats().deferred_unmaps > deferred);
    // Nothing allocates from here on: the purger unmaps it.
    let t = Instant::now();
    while mapped(addr) && t.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("unmapped after {:?}", t.elapsed());
    assert!(!mapped(addr), "the released reservation is still mapped");
}

#[test]
fn collect_unmaps_what_waits_for_the_purger_at_once() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    start_purger();
    let addr = release_a_huge_block();
    // Whether the purger got to it yet or not, it is unmapped once
    // `collect(true)` returns.
    masu::collect(true);
    assert!(!mapped(addr), "the released reservation is still mapped");
}
