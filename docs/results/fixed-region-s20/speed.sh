#!/bin/bash
# Alternating rounds: COMPACT_REGION before (fr_base, bb8dc03) and after ($NEW), talc.
# Usage: NEW=fr_new ./speed4.sh ROUNDS (MAXES=, ONLY= optional)
# fixed_region full machine (200 ms windows, median of 3), one line per run.
cd /tmp/s20
for r in $(seq 1 $1); do
 for m in ${MAXES:-200 1000 3000 10000 30000}; do
  for c in base new talc; do
   case $c in
    talc) o=$(./fr_base full machine only=talc max=$m trials=1 2>&1 | grep -o 'ops_per_s=[0-9]*');;
    base) o=$(./fr_base full machine only=${ONLY:-masu-core/compact} max=$m trials=1 2>&1 | grep -o 'ops_per_s=[0-9]*');;
    new) o=$(./${NEW:-fr_new2} full machine only=${ONLY:-masu-core/compact} max=$m trials=1 2>&1 | grep -o 'ops_per_s=[0-9]*');;
   esac
   echo "$r $m $c ${o#ops_per_s=}"
  done
 done
done
