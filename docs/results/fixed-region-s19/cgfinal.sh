#!/bin/bash
# Callgrind instructions per operation of one build ($BIN, default fr_in: step 3;
# fr_pk: step 4), written as $OUT/cg.$TAG.* (default r3, final).
cd /tmp/s19
for m in 200 1000 3000 10000 30000; do
 for n in masu-core/compact masu-core/small masu-core; do
  f=${OUT:-r3}/cg.${TAG:-final}.$(echo $n|tr / _).$m
  valgrind --tool=callgrind --callgrind-out-file=$f --toggle-collect='*Runner*speed*' ./${BIN:-fr_in} quick machine only=$n max=$m ops=2000000 >/dev/null 2>&1
  t=$(callgrind_annotate $f 2>/dev/null | grep -m1 'PROGRAM TOTALS' | awk '{gsub(",","",$1); print $1}')
  echo "$m ${TAG:-final} $n $t $(python3 -c "print('%.1f' % ($t/2000000))")"
 done
done
