#!/bin/bash
# Session 30 device run: #14 item 2 (secure x default, threaded tests and
# masu-bench at 16 threads, masu at f613e94), then masu beside Debian's
# rivals on three threaded tests (mstressN after MASU_EXIT_HOLD).
set -u
D=$PWD/.dev
OUT=${OUT:-/tmp/devout}; mkdir -p "$OUT"
[ -x /usr/bin/time ] || cp "$D/time" /usr/bin/time
{ date -u; uname -a; nproc; lscpu 2>/dev/null | grep -E 'Model name|MHz|L2|L3|Socket|NUMA node0'; } > "$OUT/machine.txt"
L=$D/lib
echo "phase C $(date -u +%T)"
python3 benches/suite/suite.py --bench-dir "$D/bench" --tests threaded --runs 4 --timeout 60 --no-debian \
  --masu "$L/libmasu-default.so" --alloc "masu-secure=$L/libmasu-secure.so" \
  --out "$OUT/suite" > "$OUT/suite.log" 2>&1
echo "phase B $(date -u +%T)"
echo "round,workload,lib,secs,rss_kib" > "$OUT/masu_bench.csv"
for r in 1 2 3 4 5; do
  for w in dist server random-mt producer-consumer thread-churn realloc-grow large; do
    if [ $((r % 2)) = 1 ]; then libs="default secure"; else libs="secure default"; fi
    for l in $libs; do
      t=$(/usr/bin/time -f "%e,%M" env LD_PRELOAD="$L/libmasu-$l.so" "$D/masu-work" $w full 2>&1 >/dev/null | tail -1)
      echo "$r,$w,$l,$t" >> "$OUT/masu_bench.csv"
    done
  done
done
echo "phase R $(date -u +%T)"
python3 benches/suite/suite.py --bench-dir "$D/bench" --tests mstressN,xmalloc-testN,larsonN --runs 2 --timeout 60 --no-debian \
  --masu "$L/libmasu-default.so" --alloc "mimalloc2=$L/libmimalloc2.so" --alloc "jemalloc=$L/libjemalloc.so.2" \
  --alloc "tcmalloc=$L/libtcmalloc_minimal.so.4" --out "$OUT/rivals" > "$OUT/rivals.log" 2>&1
echo "done $(date -u +%T)"
