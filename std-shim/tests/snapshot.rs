//! `Snapshot`: one value with every figure, written as JSON without serde
//! and read back with it (the `serde` feature).

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

#[test]
fn a_snapshot_is_consistent() {
    let v: Vec<u64> = (0..1000).collect();
    let s = masu::snapshot();
    assert_eq!(s.stats.committed_bytes, s.os.committed_bytes);
    assert!(s.os.committed_bytes <= s.os.reserved_bytes);
    assert!(s.pool.heaps_in_use >= 1);
    assert!(s.breakdown.total() <= s.os.committed_bytes);
    drop(v);
}

#[cfg(feature = "serde")]
#[test]
fn the_json_of_a_snapshot_reads_back_equal() {
    let v: Vec<Box<[u8; 300]>> = (0..100).map(|_| Box::new([1; 300])).collect();
    let s = masu::snapshot();
    let mut json = String::new();
    s.write_json(&mut json).unwrap();
    let back: masu::Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s, "{json}");
    // And serde's own JSON has the same fields.
    let via_serde: serde_json::Value = serde_json::to_value(s).unwrap();
    let hand: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(via_serde, hand);
    drop(v);
}
