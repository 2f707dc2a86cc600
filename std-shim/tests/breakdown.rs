//! `masu::committed_breakdown`: the calling thread's heap and the idle heaps
//! of exited threads, split by source, never more than the process commits,
//! and following what the thread does.

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

#[test]
fn the_breakdown_follows_a_threads_blocks() {
    std::thread::spawn(|| {
        let before = masu::committed_breakdown();
        let blocks: Vec<Vec<u8>> = (0..4000).map(|_| vec![1u8; 1000]).collect();
        let during = masu::committed_breakdown();
        assert!(during.total() <= masu::os_stats().committed_bytes);
        assert!(
            during.live_bytes >= before.live_bytes + 4000 * 1000,
            "{before:?} -> {during:?}"
        );
        drop(blocks);
        masu::collect(false);
        let after = masu::committed_breakdown();
        assert!(after.live_bytes + 4000 * 1000 <= during.live_bytes);
        assert!(after.empty_waiting + after.kept_pages + after.cached + after.free_in_pages > 0);
        masu::collect(true);
        let forced = masu::committed_breakdown();
        assert_eq!(
            forced.empty_waiting + forced.kept_pages + forced.cached,
            0,
            "{forced:?}"
        );
    })
    .join()
    .unwrap();
}
