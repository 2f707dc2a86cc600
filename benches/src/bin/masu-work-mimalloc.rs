//! The workload programs with the `mimalloc` crate (its bundled mimalloc,
//! built from source) as the `#[global_allocator]`. Needs the
//! `rust-allocators` feature. See `masu_bench::work`.

#[global_allocator]
static A: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    masu_bench::work::main()
}
