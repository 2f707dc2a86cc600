#!/bin/bash
# usage: xm2.sh ROUNDS OUT NAME=[VAR=VAL,]LIB...   alternating xmalloc-test runs, rotating order
rounds=$1; out=$2; shift 2
libs=("$@"); n=${#libs[@]}
cd /work/ext/mb/out/bench
for r in $(seq 1 $rounds); do
  for k in $(seq 0 $((n-1))); do
    spec=${libs[$(( (k + r) % n ))]}; name=${spec%%=*}; rest=${spec#*=}
    envs=(); lib=$rest
    if [[ $rest == *,* ]]; then envs=(${rest%%,*}); lib=${rest#*,}; fi
    res=$(env "${envs[@]}" LD_PRELOAD=$lib ./xmalloc-test ${XMARGS:--w 2 -t 5 -s 64} 2>&1 | grep rtime)
    echo "$r $name $res" >> $out
  done
done
