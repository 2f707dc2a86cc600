//! `masu::Heap`: heaps a program creates and resets, as `allocator_api2`
//! allocators, beside `Masu` as the global allocator; blocks freed by
//! another thread.

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

use allocator_api2::boxed::Box as ABox;
use allocator_api2::vec::Vec as AVec;
use std::alloc::Layout;
use std::sync::mpsc;

#[test]
fn a_reset_frees_every_block_and_keeps_the_memory_for_the_next_request() {
    let mut heap = masu::Heap::new();
    let mut committed = Vec::new();
    for request in 0..30u32 {
        {
            let mut parts = AVec::new_in(&heap);
            for i in 0..2_000u32 {
                let mut w = AVec::with_capacity_in((i % 60) as usize + 1, &heap);
                w.extend((0..=i % 60).map(|b| b as u8 ^ request as u8));
                parts.push(w);
            }
            let big = ABox::new_in([request; 100_000], &heap);
            let mut huge = AVec::new_in(&heap);
            huge.resize(3 << 20, 1u8);
            let want: usize = (0..2_000).map(|i| i % 60 + 1).sum();
            assert_eq!(parts.iter().map(|w| w.len()).sum::<usize>(), want);
            assert_eq!(big[99_999], request);
            assert_eq!(huge.len(), 3 << 20);
            std::mem::forget((parts, big, huge));
        }
        let s = heap.stats();
        assert!(s.live_bytes > 3 << 20, "{s:?}");
        heap.reset();
        let s = heap.stats();
        assert_eq!((s.live_bytes, s.alloc_count), (0, s.free_count), "{s:?}");
        assert!(s.pages_per_class.iter().all(|&n| n <= 1), "{s:?}");
        committed.push(s.committed_bytes);
    }
    // The memory is reused: no growth from one request to the next.
    assert!(committed[29] <= committed[1], "{committed:?}");
    // Dropping gives everything back to the OS.
    let before = masu::os_stats().committed_bytes;
    drop(heap);
    assert!(masu::os_stats().committed_bytes < before);
}

#[test]
fn heaps_are_independent_of_each_other_and_of_the_thread_heap() {
    let mut a = masu::Heap::new();
    let b = masu::Heap::new();
    let thread_vec: Vec<u64> = (0..10_000).collect();
    let mut va = AVec::new_in(&a);
    let mut vb = AVec::new_in(&b);
    va.extend(0..10_000u64);
    vb.extend(0..10_000u64);
    assert!(a.stats().live_bytes >= 80_000 && b.stats().live_bytes >= 80_000);
    std::mem::forget(va);
    a.reset();
    // b's blocks and the thread's are untouched.
    assert_eq!(vb.iter().sum::<u64>(), thread_vec.iter().sum::<u64>());
    assert_eq!(a.stats().live_bytes, 0);
    drop(vb);
    // (With `checks`, the freed buffer waits in the quarantine, counted live,
    // until `collect` lets it go.)
    b.collect(false);
    assert_eq!(b.stats().live_bytes, 0);
}

#[test]
fn blocks_freed_by_another_thread_come_back_to_the_heap() {
    let mut heap = masu::Heap::new();
    let layout = Layout::from_size_align(48, 8).unwrap();
    let blocks: Vec<usize> = (0..10_000)
        .map(|_| {
            let b = ABox::new_in([0u8; 48], &heap);
            ABox::into_raw(b) as *mut u8 as usize
        })
        .collect();
    let live = heap.stats().live_bytes;
    assert!(live >= 10_000 * 48);
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for p in blocks {
            // SAFETY: a block of `heap` with `layout`, not used elsewhere;
            // `Masu`, the global allocator, frees blocks of any masu heap.
            unsafe { std::alloc::dealloc(p as *mut u8, layout) };
        }
        // Publish the batched remote frees before the owner may reset.
        masu::flush_remote_frees();
        done_tx.send(()).unwrap();
    });
    done_rx.recv().unwrap();
    heap.collect(false);
    assert_eq!(heap.stats().live_bytes, 0);
    // The blocks are reused by the heap.
    let again = ABox::new_in([1u8; 48], &heap);
    assert_eq!(again[47], 1);
    std::mem::forget(again);
    heap.reset();
    assert_eq!(heap.stats().live_bytes, 0);
}

#[test]
fn zeroed_blocks_after_a_reset_are_zero() {
    use allocator_api2::alloc::Allocator;
    let mut heap = masu::Heap::new();
    for round in 0..3 {
        for size in [24, 48, 200, 1000, 5000] {
            let l = Layout::from_size_align(size, 8).unwrap();
            for _ in 0..300 {
                let p = heap.allocate_zeroed(l).unwrap().cast::<u8>().as_ptr();
                // SAFETY: a live block of `size` bytes, never freed but by
                // the reset.
                unsafe {
                    let bytes = std::slice::from_raw_parts(p, size);
                    assert!(bytes.iter().all(|&b| b == 0), "round {round}, {size} B");
                    p.write_bytes(0xff, size);
                }
            }
        }
        heap.reset();
    }
}
