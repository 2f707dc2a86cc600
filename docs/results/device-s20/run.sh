#!/bin/bash
# Device run (session 20): fixed_region timing (#13), masu-bench and
# mimalloc-bench secure vs default (#14), on a quiet 16-core machine.
set -u
D=$PWD/.dev
OUT=${OUT:-/tmp/devout}; mkdir -p "$OUT"
FR_ROUNDS=${FR_ROUNDS:-5}; MB_ROUNDS=${MB_ROUNDS:-5}; SUITE_RUNS=${SUITE_RUNS:-4}
SUITE_TESTS=${SUITE_TESTS:-issue10}
[ -x /usr/bin/time ] || cp "$D/time" /usr/bin/time
{ date -u; uname -a; nproc; lscpu 2>/dev/null | grep -E 'Model name|MHz|L2|L3|Socket|NUMA node0'; } > "$OUT/machine.txt"
NP=$(( $(nproc) / 2 )); [ "$NP" -lt 1 ] && NP=1
pin() { if command -v taskset >/dev/null; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }
echo "phase A: fixed_region, $NP streams x $FR_ROUNDS rounds $(date -u +%T)"
A=(masu-core masu-core/compact talc rlsf)
for s in $(seq 1 "$NP"); do
  (
    for r in $(seq 1 "$FR_ROUNDS"); do
      for m in 200 1000 3000 10000 30000; do
        for i in 0 1 2 3; do
          a=${A[$(( (i + s + r) % 4 ))]}
          o=$(pin "$(( 2 * s - 2 ))" "$D/fixed_region" full machine only=$a max=$m trials=1 2>&1 | grep -o 'ops_per_s=[0-9]*')
          echo "$s $r $m $a ${o#ops_per_s=}"
        done
      done
    done > "$OUT/fr.$s"
  ) &
done
wait
cat "$OUT"/fr.* > "$OUT/fixed_region.txt"; rm -f "$OUT"/fr.*
echo "phase B: masu-bench workloads $(date -u +%T)"
echo "round,workload,lib,secs,rss_kib" > "$OUT/masu_bench.csv"
for r in $(seq 1 "$MB_ROUNDS"); do
  for w in dist server random-mt producer-consumer thread-churn realloc-grow large; do
    if [ $((r % 2)) = 1 ]; then libs="default secure"; else libs="secure default"; fi
    for l in $libs; do
      t=$(/usr/bin/time -f "%e,%M" env LD_PRELOAD="$D/lib/libmasu-$l.so" "$D/masu-work" $w full 2>&1 >/dev/null | tail -1)
      echo "$r,$w,$l,$t" >> "$OUT/masu_bench.csv"
    done
  done
done
echo "phase C: mimalloc-bench $SUITE_TESTS x $SUITE_RUNS $(date -u +%T)"
python3 "$D/suite.py" --bench-dir "$D/bench" --src-dir "$D/src" --tests "$SUITE_TESTS" \
  --runs "$SUITE_RUNS" --no-debian --masu "$D/lib/libmasu-default.so" \
  --alloc "masu-secure=$D/lib/libmasu-secure.so" --out "$OUT/suite" 2>&1 | tee "$OUT/suite.log"
echo "done $(date -u +%T)"
