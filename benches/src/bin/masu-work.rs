//! The workload programs with the system allocator (`malloc`): glibc's, or
//! whichever allocator `LD_PRELOAD` puts in front. See `masu_bench::work`.

fn main() {
    masu_bench::work::main()
}
