#!/bin/bash
# Callgrind instructions per operation, fixed_region 2,000,000 operations:
# BIN=fr_base|fr_new ./cg.sh > cg-BIN.txt
cd /tmp/s20
for a in masu-core/compact masu-core masu-core/small; do
  for m in 200 1000 3000 10000 30000; do
    n=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*Runner*speed*' ./$BIN quick machine only=$a max=$m ops=2000000 2>&1 | grep -o 'Collected : [0-9]*' | grep -o '[0-9]*$')
    echo "$BIN $a $m $n $(python3 -c "print(round($n/2e6,1))")"
  done
done
