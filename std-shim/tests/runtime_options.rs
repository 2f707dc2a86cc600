//! Options changed at run time: refused out of range with an error naming
//! the option (nothing changes), taken by a live thread's heap at its next
//! allocation slow path, and safe while other threads allocate.

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The options are process-wide: the tests here take turns.
static TURN: Mutex<()> = Mutex::new(());

const MIB: usize = 1 << 20;

#[test]
fn out_of_range_values_are_refused_and_change_nothing() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let before = masu::options();
    let e = masu::set_purge_delay_ms(Some(masu::MAX_DELAY_MS + 1)).unwrap_err();
    assert_eq!(e.option, "MASU_PURGE_DELAY");
    assert!(e.to_string().contains("MASU_PURGE_DELAY") && e.to_string().contains("86400000"));
    let e = masu::set_huge_purge_delay_ms(Some(u32::MAX - 1)).unwrap_err();
    assert_eq!(e.option, "MASU_HUGE_PURGE_DELAY");
    let e = masu::set_large_cache_bytes(masu::MAX_BOUND_BYTES + 1).unwrap_err();
    assert_eq!(e.option, "MASU_LARGE_CACHE");
    let e = masu::set_exit_retain_bytes(usize::MAX).unwrap_err();
    assert_eq!(e.option, "MASU_EXIT_RETAIN");
    let e = masu::set_memory_limit(4096).unwrap_err();
    assert_eq!(e.option, "MASU_MEMORY_LIMIT");
    assert!(e.accepted.contains("1 MiB"));
    let e = masu::set_idle_hold_ms(Some(masu::MAX_DELAY_MS + 1)).unwrap_err();
    assert_eq!(e.option, "MASU_IDLE_HOLD");
    let e = masu::set_exit_hold_ms(Some(masu::MAX_DELAY_MS + 1)).unwrap_err();
    assert_eq!(e.option, "MASU_EXIT_HOLD");
    assert_eq!(masu::options(), before, "a refused value changed an option");
}

#[test]
fn the_idle_hold_is_set_and_read_back() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let before = masu::options().idle_hold_ms;
    assert_eq!(before, masu::DEFAULT_IDLE_HOLD_MS);
    masu::set_idle_hold_ms(Some(1234)).unwrap();
    assert_eq!(masu::options().idle_hold_ms, 1234);
    masu::set_idle_hold_ms(None).unwrap();
    assert_eq!(masu::options().idle_hold_ms, u32::MAX);
    masu::set_idle_hold_ms(Some(before)).unwrap();
}

/// A 32 MiB block freed goes to the heap's segment cache (64 MiB by
/// default); once the cache bound is set to 0 at run time, the heap takes
/// the new policy at its next epoch tick (every 64 slow-path events; here 64
/// large allocations) and a freed block's segment goes straight back to the
/// `Os`.
#[test]
fn a_live_heap_takes_a_new_cache_bound() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let reserved = || masu::os_stats().reserved_bytes;
    // On a thread of its own, so that other tests' heaps do not interfere.
    std::thread::spawn(move || {
        let v = vec![1u8; 32 * MIB];
        drop(v);
        let cached = reserved();
        masu::set_large_cache_bytes(0).unwrap();
        for _ in 0..64 {
            // A large block: a slow-path event each.
            drop(vec![3u8; MIB]);
        }
        let w = vec![2u8; 24 * MIB];
        drop(w);
        let after = reserved();
        assert!(
            after + 24 * MIB <= cached + MIB,
            "the freed 24 MiB block stayed reserved: {cached} then {after}"
        );
        masu::set_large_cache_bytes(masu::DEFAULT_LARGE_CACHE).unwrap();
    })
    .join()
    .unwrap();
}

/// Options flipped over and over while four threads allocate, free and
/// reallocate blocks of every kind: no crash, contents intact, and the
/// counts add up at the end.
#[test]
fn changes_while_threads_allocate_are_safe() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t);
                let mut live: Vec<Vec<u8>> = Vec::new();
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) || rounds < 1000 {
                    let size = match rng.u32(..100) {
                        0..=79 => rng.usize(1..=512),
                        80..=97 => rng.usize(513..=128 << 10),
                        _ => rng.usize(MIB..=4 * MIB),
                    };
                    let tag = rng.u8(..);
                    live.push(vec![tag; size]);
                    if live.len() > 64 {
                        let v = live.swap_remove(rng.usize(..live.len()));
                        assert!(v.iter().all(|&b| b == v[0]), "a block changed");
                    }
                    if let Some(v) = live.last_mut() {
                        let x = v[0];
                        v.resize(v.len() + rng.usize(0..=4096), x);
                    }
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    for i in 0..2000u32 {
        masu::set_purge_delay_ms(if i % 7 == 0 { None } else { Some(i % 50) }).unwrap();
        masu::set_huge_purge_delay_ms(Some(i % 1000)).unwrap();
        masu::set_large_cache_bytes((i as usize % 4) * 16 * MIB).unwrap();
        masu::set_decommit_free(i % 2 == 0);
        masu::set_exit_retain_bytes((i as usize % 3) * 8 * MIB).unwrap();
        masu::set_background(i % 3 != 0);
        if i % 100 == 0 {
            std::thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let rounds: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(rounds >= 4000);
    masu::set_purge_delay_ms(Some(masu::DEFAULT_PURGE_DELAY_MS)).unwrap();
    masu::set_decommit_free(false);
    masu::set_background(true);
    let s = masu::stats();
    assert!(s.free_count <= s.alloc_count, "{s:?}");
    assert!(s.committed_bytes <= s.reserved_bytes, "{s:?}");
}

/// Memory discarded with `MADV_FREE` keeps its contents until the kernel
/// needs it: switching the decommit mode back to `MADV_DONTNEED` must not
/// make masu take such memory for zeroed when it is committed again
/// (`alloc_zeroed` would hand out old bytes). The test flips the mode
/// between the discard and the reuse.
#[test]
fn zeroed_blocks_stay_zero_when_the_decommit_mode_changes() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    std::thread::spawn(|| {
        masu::set_decommit_free(true);
        masu::set_purge_delay_ms(Some(0)).unwrap();
        // Pages of 2 KiB blocks filled with a pattern, freed, and their
        // slices discarded at once (`MADV_FREE`: the bytes stay).
        // (A block kept live keeps their segment in use: an empty one would
        // go back to the system at the collect, and come back zeroed.)
        let keep = Box::new([1u8; 100]);
        let blocks: Vec<Vec<u8>> = (0..1000).map(|_| vec![0xa5u8; 2000]).collect();
        drop(blocks);
        masu::collect(true);
        masu::set_decommit_free(false);
        let zeroed: Vec<Vec<u8>> = (0..1000).map(|_| vec![0u8; 2000]).collect();
        for (i, v) in zeroed.iter().enumerate() {
            assert!(
                v.iter().all(|&b| b == 0),
                "block {i} of vec![0; 2000] is not zero"
            );
        }
        assert_eq!(keep[99], 1);
        masu::set_purge_delay_ms(Some(masu::DEFAULT_PURGE_DELAY_MS)).unwrap();
    })
    .join()
    .unwrap();
}
