#!/usr/bin/env bash
# Counts instructions per malloc/free pair with callgrind for masu (as the
# Rust global allocator and as LD_PRELOAD=libmasu.so), glibc and mimalloc
# (Debian's libmimalloc2.0, if installed), and lists the atomic
# read-modify-write instructions that masu's LD_PRELOAD run executed.
#
#   std-shim/tools/callgrind-pairs.sh [SIZE] [COUNT] [KEEP]
#
# KEEP blocks stay live during the loop (default 8; 0: every free empties
# the class's only page).
#
# Needs valgrind and objdump. Results: docs/std-shim.md, "Speed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
size=${1:-32}
count=${2:-1000000}
keep=${3:-8}
cargo build --release --quiet -p masu-capi
cargo build --release --quiet -p masu --example pairs
pairs=$PWD/target/release/examples/pairs
lib=$PWD/target/release/libmasu.so
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

measure() { # name, then the command (environment first, via env)
    local name=$1
    shift
    env "$@" valgrind --tool=callgrind --toggle-collect='masu_pairs_*' \
        --dump-instr=yes --compress-pos=no --compress-strings=no \
        --callgrind-out-file="$out/$name.out" "$pairs" "${mode}" "$size" "$count" "$keep" \
        >/dev/null 2>"$out/$name.err"
    local ir
    ir=$(awk '/^totals:/ {print $2}' "$out/$name.out")
    printf '%-16s %12s Ir  %7.1f per pair\n' "$name" "$ir" "$(echo "$ir / $count" | bc -l)"
}

echo "malloc/free pairs of $size bytes, $count times, $keep other blocks live (the loop included):"
mode=global measure "masu GlobalAlloc"
mode=call measure "masu GA, called"
mode=malloc measure "masu LD_PRELOAD" LD_PRELOAD="$lib"
mode=malloc measure "glibc"
mimalloc=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2
if [ -e "$mimalloc" ]; then
    mode=malloc measure "mimalloc" LD_PRELOAD="$mimalloc"
else
    echo "mimalloc: not installed (apt-get install libmimalloc2.0)"
fi
echo
echo "atomic read-modify-write instructions executed by masu (LD_PRELOAD run):"
python3 std-shim/tools/atomics_in_callgrind.py "$out/masu LD_PRELOAD.out"
