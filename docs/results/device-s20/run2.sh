#!/bin/bash
# Device run 2 (session 20): mimalloc-bench's single-threaded tests, secure
# vs default (#14), then a small thread-scaling series beside glibc,
# Debian's mimalloc 2.0.9 and jemalloc 5.3.0.
set -u
D=$PWD/.dev
OUT=${OUT:-/tmp/devout2}; mkdir -p "$OUT"
[ -x /usr/bin/time ] || cp "$D/time" /usr/bin/time
S() { python3 "$D/suite.py" --bench-dir "$D/bench" --src-dir "$D/src" --no-debian --masu "$D/lib/libmasu-default.so" "$@"; }
echo "phase D: single-threaded tests $(date -u +%T)"
S --tests single --runs ${ST_RUNS:-4} --alloc "masu-secure=$D/lib/libmasu-secure.so" --out "$OUT/single" 2>&1 | tee "$OUT/single.log" | grep -v " rep "
for p in ${PROCS:-1 4 16}; do
  echo "phase E: procs $p $(date -u +%T)"
  S --tests ${SC_TESTS:-rptestN,mstressN,xmalloc-testN} --runs 1 --procs $p --alloc glibc= \
    --alloc "mimalloc2=$D/lib/libmimalloc.so.2" --alloc "jemalloc=$D/lib/libjemalloc.so.2" \
    --out "$OUT/scale$p" 2>&1 | tee "$OUT/scale$p.log" | grep -v " rep "
done
echo "done $(date -u +%T)"
