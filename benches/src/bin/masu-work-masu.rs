//! The workload programs with `masu::Masu` as the `#[global_allocator]`.
//! See `masu_bench::work`.

#[global_allocator]
static A: masu::Masu = masu::Masu::new();

fn main() {
    masu_bench::work::main()
}
