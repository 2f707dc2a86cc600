//! masu as the `#[global_allocator]` of a Rust program: ordinary std use,
//! memory given back after a burst, allocations and frees during thread
//! teardown (after masu's exit hook), zeroed memory. The tests share the
//! process-wide heaps, so each one only asserts about its own effects.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

/// The tests run one at a time: some measure process-wide figures.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * masu::page_size()
}

#[test]
fn std_collections_and_threads_work() {
    let _serial = serial();
    let before = masu::stats().alloc_count;
    let mut map = std::collections::HashMap::new();
    for i in 0..10_000 {
        map.insert(format!("key {i}"), vec![i; i % 50]);
    }
    let total: usize = map.values().map(|v| v.len()).sum();
    assert_eq!(total, (0..10_000).map(|i| i % 50).sum::<usize>());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || (0..1000).map(|i| format!("{t}-{i}")).collect::<Vec<_>>())
        })
        .collect();
    let strings: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(strings.len(), 4000);
    if cfg!(feature = "stats") {
        assert!(masu::stats().alloc_count >= before + 10_000 + 4000);
    }
}

#[test]
fn a_burst_is_given_back() {
    let _serial = serial();
    masu::collect(true);
    let base_committed = masu::os_stats().committed_bytes;
    let base_rss = rss();
    // 96 MiB in 24 KiB blocks, all touched, then all freed.
    let blocks: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8 | 1; 24 << 10]).collect();
    let peak_committed = masu::os_stats().committed_bytes;
    let peak_rss = rss();
    // (absolute: another test's thread may still be giving memory back)
    assert!(
        peak_committed >= 96 << 20,
        "committed {peak_committed} at the peak"
    );
    drop(blocks);
    masu::collect(true);
    let committed = masu::os_stats().committed_bytes;
    let after_rss = rss();
    println!(
        "burst: committed {:.1} → {:.1} → {:.1} MiB, RSS {:.1} → {:.1} → {:.1} MiB",
        base_committed as f64 / 1048576.0,
        peak_committed as f64 / 1048576.0,
        committed as f64 / 1048576.0,
        base_rss as f64 / 1048576.0,
        peak_rss as f64 / 1048576.0,
        after_rss as f64 / 1048576.0
    );
    assert!(
        committed <= base_committed + (8 << 20),
        "committed {committed} after the burst (was {base_committed})"
    );
    assert!(
        after_rss + (64 << 20) <= peak_rss,
        "RSS {after_rss} after the burst, {peak_rss} at its peak"
    );
}

#[test]
fn zeroed_memory_is_zero_after_reuse() {
    let _serial = serial();
    for &size in &[8usize, 100, 4000, 60_000, 200_000, 5 << 20] {
        for _ in 0..3 {
            let mut v = vec![0xffu8; size];
            v[size - 1] = 0xfe;
            drop(v);
            let z = vec![0u8; size];
            assert!(z.iter().all(|&b| b == 0), "size {size}");
        }
    }
}

#[test]
fn realloc_keeps_contents_across_classes() {
    let _serial = serial();
    let mut v: Vec<u32> = Vec::new();
    for i in 0..3_000_000u32 {
        v.push(i);
    }
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
    v.truncate(10);
    v.shrink_to_fit();
    assert_eq!(v, (0..10).collect::<Vec<u32>>());
}

static LATE_OK: AtomicUsize = AtomicUsize::new(0);

/// A pthread key destructor that runs after masu's (its key is created
/// later): the thread has given its heap back, yet still allocates and frees.
unsafe extern "C" fn late_destructor(value: *mut libc::c_void) {
    // SAFETY: `value` is the Box<Vec<u8>> leaked by the thread below.
    let early = unsafe { Box::from_raw(value as *mut Vec<u8>) };
    let layout = Layout::from_size_align(333, 16).unwrap();
    // SAFETY: a valid layout; the block is freed with it.
    unsafe {
        let p = A.alloc(layout);
        if !p.is_null() && p as usize % 16 == 0 {
            p.write_bytes(5, 333);
            A.dealloc(p, layout);
            LATE_OK.fetch_add(1, Relaxed);
        }
    }
    assert!(early.iter().all(|&b| b == 7));
    drop(early);
}

#[test]
fn threads_allocate_and_free_after_the_exit_hook() {
    let _serial = serial();
    masu::init();
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: valid out-pointer and destructor.
    let rc = unsafe { libc::pthread_key_create(&mut key, Some(late_destructor)) };
    assert_eq!(rc, 0);
    let before = masu::pool_stats();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let v = Box::new(vec![7u8; 1000]);
                // SAFETY: the key is valid; the destructor takes the box back.
                unsafe { libc::pthread_setspecific(key, Box::into_raw(v) as *const libc::c_void) };
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let after = masu::pool_stats();
    assert_eq!(LATE_OK.load(Relaxed), 8);
    assert!(
        after.borrows >= before.borrows + 8,
        "{before:?} → {after:?}"
    );
    assert!(
        after.orphan_frees >= before.orphan_frees + 16,
        "{before:?} → {after:?}"
    );
    // SAFETY: no thread uses the key any more.
    unsafe { libc::pthread_key_delete(key) };
}

#[test]
fn huge_and_aligned_blocks() {
    let _serial = serial();
    for &(size, align) in &[
        (1usize, 1usize << 16),
        (10, 1 << 17),
        (100_000, 1 << 20),
        (9 << 20, 4096),
        (3 << 20, 8 << 20),
    ] {
        let layout = Layout::from_size_align(size, align).unwrap();
        // SAFETY: a valid layout; freed with it.
        unsafe {
            let p = A.alloc(layout);
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "{layout:?}");
            p.write_bytes(1, size);
            let q = A.realloc(p, layout, size * 2);
            assert!(!q.is_null());
            assert_eq!(*q.add(size - 1), 1);
            A.dealloc(q, Layout::from_size_align(size * 2, align).unwrap());
        }
    }
}
