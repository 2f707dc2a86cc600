//! `LockedHeap` over `CriticalSectionLock` (feature `critical-section`),
//! here with the `std` implementation of a critical section (a process-wide
//! lock): a `GlobalAlloc` that threads share, whose lock is held inside the
//! critical section, and that refuses to be locked again from inside it.
#![cfg(feature = "critical-section")]

mod common;

use core::alloc::{GlobalAlloc, Layout};
use masu_core::{Config, CriticalSectionLock, FixedRegion, LockedHeap};

static HEAP: LockedHeap<FixedRegion, CriticalSectionLock> =
    LockedHeap::empty_with(Config::FIXED_REGION);

fn init_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let r = common::region(32 << 20);
        // SAFETY: a leaked region given to the heap once.
        unsafe { HEAP.init(r.as_mut_ptr(), r.len()) };
    });
}

#[test]
fn threads_share_a_heap_behind_a_critical_section() {
    init_once();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut live = Vec::new();
                for i in 0..common::scaled(1000, 50) {
                    let l = Layout::from_size_align(16 + (i * 37) % 3000, 8).unwrap();
                    // SAFETY: a valid layout; blocks freed with it below.
                    let p = unsafe { HEAP.alloc(l) };
                    assert!(!p.is_null());
                    // SAFETY: the block holds `l.size()` bytes.
                    unsafe { p.write_bytes(t, l.size()) };
                    live.push((p, l));
                    if i % 3 == 0 {
                        let (p, l) = live.swap_remove(live.len() / 2);
                        // SAFETY: each block is checked while live, then freed once.
                        unsafe {
                            assert!((0..l.size()).all(|k| *p.add(k) == t), "block overwritten");
                            HEAP.dealloc(p, l);
                        }
                    }
                }
                for (p, l) in live {
                    // SAFETY: as above.
                    unsafe { HEAP.dealloc(p, l) };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(HEAP.stats().alloc_count, HEAP.stats().free_count);
}

#[test]
fn the_lock_is_held_inside_a_critical_section() {
    init_once();
    let guard = HEAP.lock();
    // The `std` implementation's critical section is a re-entrant global
    // lock: another thread cannot enter one while this one holds the heap.
    let entered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let e = entered.clone();
    let t = std::thread::spawn(move || {
        critical_section::with(|_| e.store(true, std::sync::atomic::Ordering::SeqCst))
    });
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(
        !entered.load(std::sync::atomic::Ordering::SeqCst),
        "critical section not held"
    );
    drop(guard);
    t.join().unwrap();
    assert!(entered.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
#[should_panic(expected = "locked again inside its own critical section")]
fn locking_it_again_inside_its_critical_section_panics() {
    static NESTED: LockedHeap<FixedRegion, CriticalSectionLock> = LockedHeap::empty();
    let _outer = NESTED.lock();
    let _inner = NESTED.lock();
}
