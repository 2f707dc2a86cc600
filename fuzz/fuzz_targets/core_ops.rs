//! Arbitrary sequences of alloc / alloc_zeroed / realloc (grow and shrink) /
//! aligned alloc / free / remote free / collect on a `Heap<FixedRegion>`,
//! checked against a model of the live blocks (see `masu_fuzz::Harness`),
//! then everything freed: the heap must be empty and the region whole.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use masu_core::FixedRegion;
use masu_fuzz::{Geometry, Harness, Op, MAX_OPS};
use std::sync::OnceLock;

/// Size of the fixed region the heaps share.
const REGION_BYTES: usize = 4 << 20;

#[derive(Arbitrary, Debug)]
struct Input {
    geometry: Geometry,
    ops: Vec<Op>,
}

/// One region for the whole campaign: every run must give it back whole, so
/// each run starts from the same free space over memory earlier runs dirtied
/// (which is what `alloc_zeroed` must cope with).
fn region() -> &'static FixedRegion {
    static REGION: OnceLock<&'static FixedRegion> = OnceLock::new();
    REGION.get_or_init(|| {
        let memory = Box::leak(vec![0xA5u8; REGION_BYTES].into_boxed_slice());
        Box::leak(Box::new(FixedRegion::from_slice(memory)))
    })
}

fuzz_target!(|input: Input| {
    let region = region();
    assert_eq!(
        region.free_bytes(),
        region.size(),
        "region not whole at start"
    );
    let mut h = Harness::new(region, input.geometry.config());
    for &op in input.ops.iter().take(MAX_OPS) {
        h.apply(op);
    }
    h.finish();
});
