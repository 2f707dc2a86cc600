#!/bin/bash
# masu-bench workloads under libmasu.so, MASU_ARENA_ABOVE=0 and =2048 alternating:
# mean RSS (10 ms samples), secs, checksum. Usage: ROUNDS=3 SCALE=full arena-ab.sh WORKLOAD...
# D= a folder with libmasu.so built with `cargo build --release -p masu-capi --features arenas`
# and masu-work (`cargo build --release -p masu-bench`).
D=${D:-/tmp/s21/arena}
R=$(dirname "$0")/rss_mean.py
for r in $(seq 1 ${ROUNDS:-3}); do
 for wl in "$@"; do
  for a in 0 2048; do
   echo "$r $wl arena=$a $(python3 $R LD_PRELOAD=$D/libmasu.so MASU_ARENA_ABOVE=$a -- $D/masu-work $wl ${SCALE:-full})"
  done
 done
done
