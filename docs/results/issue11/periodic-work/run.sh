#!/bin/bash
# periodic.c under each allocator (LD_PRELOAD), work every PERIOD ms:
#   run.sh BEFORE_LIB AFTER_LIB [PERIOD...]
# prints "allocator period burst_kib after_50ms_kib at_550ms_kib end_kib".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
gcc -O2 "$here/periodic.c" -o /tmp/periodic
before=$1 after=$2
shift 2
libs=("masu-before=$before" "masu=$after"
    "mimalloc2=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"
    "jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
    "tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
    "glibc=")
[ -n "${MIMALLOC3_LIB:-}" ] && libs+=("mimalloc3=$MIMALLOC3_LIB")
for period in "${@:-50}"; do
    for l in "${libs[@]}"; do
        name=${l%%=*} lib=${l#*=}
        out=$(env ${lib:+LD_PRELOAD=$lib} /tmp/periodic "$period")
        echo "$name $period $(echo "$out" | grep -o 'rss [0-9]*' | awk '{print $2}' | sed -n '1p;2p;3p;$p' | tr '\n' ' ')"
    done
done
