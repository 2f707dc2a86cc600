#!/bin/bash
# A/B runs of two builds of masu, the measurements the session notes quote:
# one runner instead of a script per session (README.md, under the
# benchmarks' table).
#
#   benches/ab.sh build REV DIR   the programs of git revision REV (a commit,
#                                 a branch, or "." for the working tree)
#                                 into DIR: fixed_region, pairs, masu-work,
#                                 libmasu.so
#   benches/ab.sh fr-time A B N   N rounds of fixed_region's speed, builds A
#                                 and B (folders made by `build`) and talc,
#                                 alternating in each round; one line per
#                                 run: "round max_B name ops_per_s"
#   benches/ab.sh fr-env DIR N NAME=VAR=VAL[,VAR=VAL]...
#                                 N rounds of fixed_region's speed, one build
#                                 under environment settings (the example's
#                                 CACHE_LARGE, CACHE_BYTES, ...; "NAME=" for
#                                 none) and talc, alternating: the same
#                                 binary, so no code layout moves between
#                                 them; same lines as fr-time
#   benches/ab.sh fr-cg DIR...    callgrind instructions per operation of
#                                 fixed_region (2,000,000 operations):
#                                 "build config max_B instructions per_op"
#   benches/ab.sh pairs DIR...    callgrind instructions of the shim's
#                                 alloc/free pairs through `Masu` (200,000
#                                 pairs at 32 B, 1000 B and 16 KiB):
#                                 "build size instructions per_pair"
#
# Narrowing: MAXES="200 1000" (fr-*), ONLY=masu-core/compact (fr-time: the
# config timed; fr-cg: the configs counted, space-separated; add talc or
# rlsf for the rivals), SIZES="32 1000" (pairs).
# benches/ab_medians.py FILE summarises fr-time's and fr-env's output.
set -euo pipefail

MAXES=${MAXES:-200 1000 3000 10000 30000}
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)

build() {
    local rev=$1 out=$2 src target
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    if [ "$rev" = . ]; then
        src=$repo
        target=${CARGO_TARGET_DIR:-$repo/target}
    else
        src=$(mktemp -d)/src
        git -C "$repo" worktree add -q --detach "$src" "$rev"
        # One target folder for every revision built: the dependencies
        # compile once.
        target=$repo/target/ab
    fi
    (
        cd "$src"
        export CARGO_TARGET_DIR=$target
        cargo build -q --release -p masu-bench --example fixed_region
        cargo build -q --release -p masu --example pairs
        cargo build -q --release -p masu-bench -p masu-capi
        cp "$target"/release/examples/fixed_region "$target"/release/examples/pairs \
            "$target"/release/masu-work "$target"/release/libmasu.so "$out/"
    )
    if [ "$rev" != . ]; then
        git -C "$repo" worktree remove --force "$src"
        rmdir "$(dirname "$src")"
    fi
    if [ "$rev" = . ]; then
        # The working tree: HEAD, and whether it had changes.
        echo "$(git -C "$repo" rev-parse HEAD)$(git -C "$repo" diff --quiet HEAD || echo ' with changes')" > "$out/REV"
    else
        git -C "$repo" rev-parse "$rev" > "$out/REV"
    fi
    echo "built $(cat "$out/REV") into $out"
}

# ops_per_s of one fixed_region run: BIN CONFIG MAX
fr_run() {
    "$1/fixed_region" full machine only="$2" max="$3" trials=1 2>&1 |
        grep -o 'ops_per_s=[0-9]*' | cut -d= -f2
}

fr_time() {
    local a=$1 b=$2 rounds=$3 only=${ONLY:-masu-core/compact}
    for r in $(seq 1 "$rounds"); do
        for m in $MAXES; do
            # The order rotates with the round, so that neither build
            # always runs right after talc.
            local order=("a $a" "b $b" "talc $a")
            for k in 0 1 2; do
                local pick=${order[$(((k + r) % 3))]}
                local name=${pick%% *} dir=${pick#* }
                local cfg=$only
                [ "$name" = talc ] && cfg=talc
                echo "$r $m $name $(fr_run "$dir" "$cfg" "$m")"
            done
        done
    done
}

fr_env() {
    local dir=$1 rounds=$2 only=${ONLY:-masu-core/compact}
    shift 2
    for r in $(seq 1 "$rounds"); do
        for m in $MAXES; do
            echo "$r $m talc $(fr_run "$dir" talc "$m")"
            for v in "$@"; do
                local name=${v%%=*} vars=${v#*=}
                # shellcheck disable=SC2086 # the settings split at commas
                echo "$r $m $name $(env ${vars//,/ } "$dir/fixed_region" full machine only="$only" max="$m" trials=1 2>&1 |
                    grep -o 'ops_per_s=[0-9]*' | cut -d= -f2)"
            done
        done
    done
}

# Instructions counted inside the benchmark's timed loop.
callgrind_count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect="$1" "${@:2}" 2>&1 |
        grep -o 'Collected : [0-9]*' | grep -o '[0-9]*$'
}

fr_cg() {
    local configs=${ONLY:-masu-core/compact masu-core masu-core/small}
    for dir in "$@"; do
        for c in $configs; do
            for m in $MAXES; do
                local n
                n=$(callgrind_count '*Runner*speed*' "$dir/fixed_region" quick machine only="$c" max="$m" ops=2000000)
                echo "$(basename "$dir") $c $m $n $(python3 -c "print(round($n / 2e6, 1))")"
            done
        done
    done
}

pairs() {
    for dir in "$@"; do
        for s in ${SIZES:-32 1000 16384}; do
            local n
            n=$(callgrind_count 'masu_pairs_*' "$dir/pairs" call "$s" 200000)
            echo "$(basename "$dir") $s $n $(python3 -c "print(round($n / 2e5, 1))")"
        done
    done
}

case ${1:-} in
build) build "$2" "$3" ;;
fr-time) fr_time "$2" "$3" "$4" ;;
fr-env) shift; fr_env "$@" ;;
fr-cg) shift; fr_cg "$@" ;;
pairs) shift; pairs "$@" ;;
*)
    sed -n '2,/^set -e/p' "$0" | sed '$d'
    exit 2
    ;;
esac
