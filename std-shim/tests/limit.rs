//! The memory limit: past it, allocation fails (null, so `try_reserve`
//! reports an error) instead of committing more; freeing makes room again.

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

#[test]
fn allocation_fails_past_the_memory_limit() {
    masu::init();
    masu::collect(true);
    let base = masu::os_stats().committed_bytes;
    let refusals = masu::os_stats().limit_refusals;
    masu::set_memory_limit(base + (32 << 20)).unwrap();
    let mut held: Vec<Vec<u8>> = Vec::with_capacity(100);
    let mut failed = false;
    for _ in 0..100 {
        let mut v: Vec<u8> = Vec::new();
        if v.try_reserve_exact(1 << 20).is_err() {
            failed = true;
            break;
        }
        v.resize(1 << 20, 1);
        held.push(v);
    }
    let committed_at_limit = masu::os_stats().committed_bytes;
    let got = held.len();
    drop(held);
    masu::collect(true);
    // With room again, the same request succeeds.
    let mut again: Vec<u8> = Vec::new();
    let ok_again = again.try_reserve_exact(16 << 20).is_ok();
    masu::set_memory_limit(0).unwrap();
    drop(again);
    println!("limit: {got} blocks of 1 MiB under a limit of base + 32 MiB");
    assert!(failed, "no allocation failed under the limit");
    assert!(
        (24..=32).contains(&got),
        "{got} MiB allocated under a 32 MiB limit"
    );
    assert!(committed_at_limit <= base + (32 << 20));
    assert!(masu::os_stats().limit_refusals > refusals);
    assert!(
        ok_again,
        "memory freed under the limit could not be used again"
    );
}
