//! Per-CPU heaps over one shared region (`benches/examples/per_cpu.rs`):
//! blocks freed by another CPU go through the remote-free path, and after a
//! `collect(false)` on every heap nothing is live anywhere.

#[allow(dead_code)] // the example's `main`
#[path = "../examples/per_cpu.rs"]
mod per_cpu;

fn check(cpus: usize, rounds: usize, blocks: usize) {
    let r = per_cpu::run(cpus, rounds, blocks, 1 << 20);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.stats.len(), cpus);
    for (cpu, s) in r.stats.iter().enumerate() {
        assert_eq!(s.live_bytes, 0, "cpu {cpu}: {s:?}");
        assert!(s.alloc_count > 0, "cpu {cpu}");
        assert_eq!(s.alloc_count, s.free_count, "cpu {cpu}");
        // Every block this CPU handed to the next one came back to this
        // heap through its pages' thread_free lists, and only those did.
        assert!(s.remote_frees_collected > 0, "cpu {cpu}");
        assert_eq!(s.remote_frees_collected, r.sent[cpu], "cpu {cpu}");
    }
    // Every heap was dropped with nothing live: the region is whole again.
    assert_eq!(r.region_free_at_end, r.region_size);
}

#[test]
fn per_cpu_heaps_free_remotely_and_end_empty() {
    check(4, 50, 64);
}

#[test]
fn two_cpus_many_rounds() {
    check(2, 300, 32);
}
