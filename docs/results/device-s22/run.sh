#!/bin/bash
# Session 22 device run: #14 item 2's cost split (default / secure / secure
# without the shuffle), then masu beside its rivals, mimalloc-bench threaded
# tests at all cores.
set -u
D=$PWD/.dev
OUT=${OUT:-/tmp/devout}; mkdir -p "$OUT"
[ -x /usr/bin/time ] || cp "$D/time" /usr/bin/time
{ date -u; uname -a; nproc; lscpu 2>/dev/null | grep -E 'Model name|MHz|L2|L3|Socket|NUMA node0'; } > "$OUT/machine.txt"
L=$D/lib
echo "phase S $(date -u +%T)"
python3 benches/suite/suite.py --bench-dir "$D/bench" --src-dir "$D/src" \
  --tests xmalloc-testN,glibc-thread,larsonN,rptestN,mstressN-long --runs 2 --timeout 60 --no-debian \
  --masu "$L/libmasu-default.so" --alloc "masu-secure=$L/libmasu-secure.so" \
  --alloc "masu-noshuf=$L/libmasu-noshuf.so" --out "$OUT/secure" > "$OUT/secure.log" 2>&1
echo "phase R $(date -u +%T)"
python3 benches/suite/suite.py --bench-dir "$D/bench" --src-dir "$D/src" \
  --tests rptestN,xmalloc-testN,larsonN,larsonN-sized,glibc-thread,alloc-testN,mstressN --runs 2 --timeout 60 --no-debian \
  --masu "$L/libmasu-default.so" --alloc "mimalloc2=$L/libmimalloc2.so" --alloc "mimalloc3=$L/libmimalloc3.so" \
  --alloc "snmalloc=$L/libsnmallocshim.so" --alloc "jemalloc=$L/libjemalloc.so.2" --out "$OUT/rivals" > "$OUT/rivals.log" 2>&1
echo "done $(date -u +%T)"
