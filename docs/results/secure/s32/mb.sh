#!/bin/bash
# usage: mb.sh ROUNDS OUT NAME=LIB...  masu-work WORKLOAD full under each lib, alternating, GNU time
rounds=$1; out=$2; shift 2
libs=("$@"); n=${#libs[@]}
W=/work/tmp/s32/base/masu-work
for r in $(seq 1 $rounds); do
  for wl in dist server random-mt producer-consumer thread-churn realloc-grow large; do
    for k in $(seq 0 $((n-1))); do
      spec=${libs[$(( (k + r) % n ))]}; name=${spec%%=*}; lib=${spec#*=}
      /usr/bin/time -f %e -o /tmp/mb.t env LD_PRELOAD=$lib $W $wl full >/dev/null 2>/dev/null; t=$(tail -1 /tmp/mb.t)
      echo "$r $wl $name $t" >> $out
    done
  done
done
