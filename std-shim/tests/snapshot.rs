//! `Snapshot`: one value with every figure, written as JSON without serde
//! and read back with it (the `serde` feature). One test: the figures are
//! process-wide, and a second test allocating meanwhile would move them.

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

#[test]
fn a_snapshot_is_consistent_and_its_json_reads_back() {
    let v: Vec<Box<[u8; 300]>> = (0..100).map(|_| Box::new([1; 300])).collect();
    let s = masu::snapshot();
    // `stats()` takes its committed bytes from the `Os` layer too.
    assert_eq!(s.stats.committed_bytes, s.os.committed_bytes);
    assert!(s.os.committed_bytes <= s.os.reserved_bytes);
    assert!(s.os.peak_committed_bytes >= s.os.committed_bytes);
    assert!(s.pool.heaps_in_use >= 1);
    assert!(s.breakdown.total() <= s.os.committed_bytes);
    assert!(s.stats.alloc_count >= 100);
    let mut json = String::new();
    s.write_json(&mut json).unwrap();
    assert!(
        json.starts_with("{\"stats\":{") && json.ends_with('}'),
        "{json}"
    );
    #[cfg(feature = "serde")]
    {
        let back: masu::Snapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s, "{json}");
        // And serde's own JSON has the same fields.
        let via_serde: serde_json::Value = serde_json::to_value(s).unwrap();
        let hand: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(via_serde, hand);
    }
    drop(v);
}
