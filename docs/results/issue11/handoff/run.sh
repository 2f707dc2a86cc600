#!/bin/bash
# handoff.c under each allocator (LD_PRELOAD): run.sh BEFORE_LIB AFTER_LIB
# prints "variant allocator burst_kib freed_kib at_0.5s_kib at_1s_kib
# at_2s_kib" for the variants "full" (no argument) and "local".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
gcc -O2 -pthread "$here/handoff.c" -o /tmp/handoff
libs=("masu-before=$1" "masu=$2"
    "mimalloc2=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"
    "jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
    "tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
    "glibc=")
[ -n "${MIMALLOC3_LIB:-}" ] && libs+=("mimalloc3=$MIMALLOC3_LIB")
for variant in full local; do
    arg=
    [ "$variant" = local ] && arg=local
    for l in "${libs[@]}"; do
        name=${l%%=*} lib=${l#*=}
        echo "$variant $name $(env ${lib:+LD_PRELOAD=$lib} /tmp/handoff $arg | grep -o 'rss [0-9]*' | awk '{print $2}' | tr '\n' ' ')"
    done
done
