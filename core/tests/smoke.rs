use core::alloc::Layout;
use masu_core::{Config, FixedRegion, Heap};

fn region(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; len].into_boxed_slice())
}

#[test]
fn smoke() {
    let mut h = Heap::new(
        FixedRegion::from_slice(region(16 << 20)),
        Config::FIXED_REGION,
    );
    let mut v = Vec::new();
    for i in 1..5000usize {
        let size = (i * 37) % 3000 + 1;
        let l = Layout::from_size_align(size, 8).unwrap();
        let p = h.alloc(l);
        assert!(
            !p.is_null(),
            "oom at {i}: {:?} free {}",
            h.stats(),
            h.os().free_bytes()
        );
        unsafe { p.write_bytes(i as u8, size) };
        v.push((p, l, i as u8));
    }
    for (p, l, b) in v.drain(..) {
        for k in 0..l.size() {
            assert_eq!(unsafe { *p.add(k) }, b);
        }
        unsafe { h.dealloc(p, l) };
    }
    let s = h.stats();
    assert_eq!(s.live_bytes, 0);
    h.collect(true);
    let s = h.stats();
    assert_eq!(s.reserved_bytes, 0, "{s:?}");
}
