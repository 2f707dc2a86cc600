//! Huge blocks on Linux: a block that outgrows its reservation moves with
//! `mremap` (no copy, its pages stay resident), keeps its contents, and the
//! process-wide commit accounting follows it; under the memory limit a
//! growth that would pass it fails and leaves the block where it was.

use std::alloc::{alloc, dealloc, realloc, Layout};

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

const MIB: usize = 1 << 20;

/// The memory limit is process-wide: the tests take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Writes a byte derived from the offset every 4 KiB of `len` bytes at `p`.
unsafe fn stamp(p: *mut u8, len: usize) {
    for off in (0..len).step_by(4096) {
        // SAFETY: the caller passes `len` writable bytes.
        unsafe { p.add(off).write((off >> 12) as u8) };
    }
}

/// Checks what `stamp` wrote.
unsafe fn check(p: *const u8, len: usize) {
    for off in (0..len).step_by(4096) {
        // SAFETY: the caller passes `len` readable bytes.
        assert_eq!(unsafe { p.add(off).read() }, (off >> 12) as u8, "at {off}");
    }
}

#[test]
fn a_huge_block_grows_by_remap_and_keeps_its_contents() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    let remaps = masu::os_stats().mremap_calls;
    let l = Layout::from_size_align(8 * MIB, 16).unwrap();
    // SAFETY: a valid layout; the block is used within its size.
    unsafe {
        let p = alloc(l);
        assert!(!p.is_null());
        stamp(p, 8 * MIB);
        let committed = masu::os_stats().committed_bytes;
        let q = realloc(p, l, 64 * MIB);
        assert!(!q.is_null());
        assert!(
            masu::os_stats().mremap_calls > remaps,
            "grew without mremap"
        );
        check(q, 8 * MIB);
        // The growth is committed and counted once.
        let grown = masu::os_stats().committed_bytes - committed;
        assert!((56 * MIB..=57 * MIB).contains(&grown), "{grown}");
        q.add(64 * MIB - 1).write(3);
        let l64 = Layout::from_size_align(64 * MIB, 16).unwrap();
        // Growing again moves again; shrinking stays in place.
        let r = realloc(q, l64, 100 * MIB);
        check(r, 8 * MIB);
        assert_eq!(r.add(64 * MIB - 1).read(), 3);
        let l100 = Layout::from_size_align(100 * MIB, 16).unwrap();
        let s = realloc(r, l100, 40 * MIB);
        assert_eq!(s, r, "a shrink moved the block");
        check(s, 8 * MIB);
        dealloc(s, Layout::from_size_align(40 * MIB, 16).unwrap());
    }
    masu::collect(true);
    let os = masu::os_stats();
    assert!(os.committed_bytes < 16 * MIB, "{}", os.committed_bytes);
}

#[test]
fn a_move_by_remap_counts_one_block_handed_out_and_one_freed() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    let l = Layout::from_size_align(8 * MIB, 16).unwrap();
    let l64 = Layout::from_size_align(64 * MIB, 16).unwrap();
    // As a copying realloc does. The counts are process-wide, and the test
    // harness's threads fold theirs in whenever their heaps take a slow
    // path, which can only add to them: a move shows exactly one of each
    // in at least one of a few tries, and never fewer.
    let mut exact = false;
    for _ in 0..8 {
        // SAFETY: a valid layout; the block is used within its size.
        unsafe {
            let p = alloc(l);
            assert!(!p.is_null());
            stamp(p, 8 * MIB);
            let remaps = masu::os_stats().mremap_calls;
            let before = masu::stats();
            let q = realloc(p, l, 64 * MIB);
            let after = masu::stats();
            assert!(!q.is_null());
            assert!(
                masu::os_stats().mremap_calls > remaps,
                "grew without mremap"
            );
            let d = (
                after.alloc_count - before.alloc_count,
                after.free_count - before.free_count,
            );
            assert!(d.0 >= 1 && d.1 >= 1, "a move counted {d:?}");
            exact |= d == (1, 1);
            dealloc(q, l64);
        }
        if exact {
            break;
        }
    }
    assert!(exact, "no move counted exactly one allocation and one free");
    masu::collect(true);
}

#[test]
fn a_growth_past_the_memory_limit_fails_and_keeps_the_block() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    masu::init();
    let l = Layout::from_size_align(8 * MIB, 16).unwrap();
    // SAFETY: a valid layout; the block is used within its size.
    unsafe {
        let p = alloc(l);
        assert!(!p.is_null());
        stamp(p, 8 * MIB);
        let base = masu::os_stats().committed_bytes;
        masu::set_memory_limit(base + 16 * MIB).unwrap();
        let q = realloc(p, l, 64 * MIB);
        masu::set_memory_limit(0).unwrap();
        assert!(q.is_null(), "grew past the limit");
        check(p, 8 * MIB);
        assert!(masu::os_stats().committed_bytes <= base + 16 * MIB);
        dealloc(p, l);
    }
}
