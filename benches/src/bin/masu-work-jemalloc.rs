//! The workload programs with the `tikv-jemallocator` crate (jemalloc built
//! from source) as the `#[global_allocator]`. Needs the `rust-allocators`
//! feature. See `masu_bench::work`.

#[global_allocator]
static A: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    masu_bench::work::main()
}
