#!/bin/bash
# dist / dist-touch full, mean RSS (10 ms samples) and time, alternating:
# glibc, masu, mimalloc (Debian 2.0), masu with 2049-32768 B requests sent to glibc
# (hybrid.patch), the same with glibc's trimming off. Usage: ROUNDS=5 hybrid.sh > hybrid.txt
W=${W:-/work/main/target/release/masu-work}
MASU=${MASU:-/tmp/new/libmasu.so}
HYB=${HYB:-/tmp/exp/target/release/libmasu.so}
MI=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2
NOTRIM="GLIBC_TUNABLES=glibc.malloc.trim_threshold=1000000000:glibc.malloc.mmap_threshold=1000000000"
for r in $(seq 1 ${ROUNDS:-5}); do
 for wl in dist dist-touch; do
  for a in glibc masu mimalloc hybrid hybrid-notrim; do
   case $a in
    glibc) e="";;
    masu) e="LD_PRELOAD=$MASU";;
    mimalloc) e="LD_PRELOAD=$MI";;
    hybrid) e="LD_PRELOAD=$HYB EXP_LO=2048";;
    hybrid-notrim) e="LD_PRELOAD=$HYB EXP_LO=2048 $NOTRIM";;
   esac
   echo "$r $wl $a $(python3 "$(dirname "$0")/rss_mean.py" $e -- $W $wl)"
  done
 done
done
