#!/usr/bin/env bash
# Counts instructions per alloc/free pair on a bare masu_core::Heap (no std
# shim, no thread-local lookup), with and without masu-core's `stats`
# feature, using callgrind as std-shim/tools/callgrind-pairs.sh does.
#
#   std-shim/tools/bare-core-pairs.sh [SIZE] [COUNT] [KEEP]
#
# It builds a throwaway crate outside the workspace (in a temporary folder)
# that depends on masu-core by path: a Heap<FixedRegion> over a 64 MiB
# region with Config::VIRTUAL_MEMORY, KEEP (default 8) blocks of SIZE live,
# then COUNT pairs of `Heap::alloc`/`Heap::dealloc`, each called through a
# function the compiler may not inline (`#[inline(never)]`), in the loop
# `masu_pairs_core` that callgrind counts (the loop included, about 11
# instructions). Needs valgrind. Results: docs/std-shim.md, "Speed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
size=${1:-32}
count=${2:-1000000}
keep=${3:-8}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/src"
cat >"$dir/Cargo.toml" <<EOF
[package]
name = "bare-core-pairs"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
masu-core = { path = "$root/core", default-features = false }

[features]
stats = ["masu-core/stats"]

[profile.release]
debug = 1
panic = "abort"

[workspace]
EOF
cat >"$dir/src/main.rs" <<'EOF'
use core::alloc::Layout;
use masu_core::{Config, FixedRegion, Heap};
use std::hint::black_box;

#[no_mangle]
#[inline(never)]
pub extern "C" fn bare_alloc(h: &mut Heap<FixedRegion>, size: usize, align: usize) -> *mut u8 {
    // SAFETY: the caller passes a valid size and alignment.
    unsafe { h.alloc(Layout::from_size_align_unchecked(size, align)) }
}

/// # Safety
/// `p` is a live block of `h` of this size and alignment.
#[no_mangle]
#[inline(never)]
pub unsafe extern "C" fn bare_dealloc(h: &mut Heap<FixedRegion>, p: *mut u8, size: usize, align: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { h.dealloc(p, Layout::from_size_align_unchecked(size, align)) }
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn masu_pairs_core(h: &mut Heap<FixedRegion>, count: usize, size: usize) {
    for _ in 0..count {
        let p = bare_alloc(h, size, 8);
        black_box(p);
        // SAFETY: the block just allocated, with its size and alignment.
        unsafe { bare_dealloc(h, p, size, 8) };
    }
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (size, count, keep) = (args[0], args[1], args[2]);
    let region: &'static mut [u8] = Box::leak(vec![0u8; 64 << 20].into_boxed_slice());
    let mut h = Heap::new(FixedRegion::from_slice(region), Config::VIRTUAL_MEMORY);
    let l = Layout::from_size_align(size, 8).unwrap();
    let kept: Vec<*mut u8> = (0..keep).map(|_| h.alloc(l)).collect();
    masu_pairs_core(&mut h, count, size);
    for p in kept {
        // SAFETY: live blocks of this layout.
        unsafe { h.dealloc(p, l) }
    }
    assert_eq!(h.stats().live_bytes, 0);
}
EOF
echo "alloc/free pairs of $size bytes on a bare masu_core::Heap, $count times, $keep other blocks live (the loop included):"
for feature in stats nostats; do
    flags=()
    if [ "$feature" = stats ]; then flags=(--features stats); fi
    cargo build --release --quiet --manifest-path "$dir/Cargo.toml" \
        --target-dir "$dir/target-$feature" "${flags[@]}"
    valgrind --tool=callgrind --toggle-collect='masu_pairs_*' \
        --callgrind-out-file="$dir/$feature.out" \
        "$dir/target-$feature/release/bare-core-pairs" "$size" "$count" "$keep" \
        >/dev/null 2>"$dir/$feature.err"
    ir=$(awk '/^totals:/ {print $2}' "$dir/$feature.out")
    printf '%-16s %12s Ir  %7.1f per pair\n' "masu-core $feature" "$ir" "$(echo "$ir / $count" | bc -l)"
done
