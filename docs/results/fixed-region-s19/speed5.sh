#!/bin/bash
# Alternating rounds: A=$A, B=$B (binaries fr_$A, fr_$B), talc; COMPACT_REGION.
cd /tmp/s19
for r in $(seq 1 $1); do
 for m in ${MAXES:-200 1000 3000}; do
  for c in $A $B talc; do
   if [ $c = talc ]; then o=$(./fr_base full machine only=talc max=$m trials=1 2>&1 | grep -o 'ops_per_s=[0-9]*');
   else o=$(./fr_$c full machine only=${ONLY:-masu-core/compact} max=$m trials=1 2>&1 | grep -o 'ops_per_s=[0-9]*'); fi
   echo "$r $m $c ${o#ops_per_s=}"
  done
 done
done
