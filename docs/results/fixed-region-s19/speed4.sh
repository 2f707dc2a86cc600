#!/bin/bash
# Alternating rounds: COMPACT_REGION before (fr_base) and after ($NEW: fr_new2 for step 1,
# fr_new for step 2, fr_in for step 3), talc. Usage: NEW=fr_in ./speed4.sh ROUNDS
# fixed_region full machine (200 ms windows, median of 3), one line per run.
# DIR= the folder holding the builds (/tmp/s19 in session 19, /tmp/s20 in
# session 20 with NEW=fr_new); MAXES= and ONLY= narrow the run.
cd "${DIR:-/tmp/s19}"
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
