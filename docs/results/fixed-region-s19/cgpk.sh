#!/bin/bash
cd /tmp/s19
for m in 200 1000 3000 10000 30000; do
 for n in masu-core/compact masu-core/small masu-core; do
  f=r4/cg.pk.$(echo $n|tr / _).$m
  valgrind --tool=callgrind --callgrind-out-file=$f --toggle-collect='*Runner*speed*' ./fr_pk quick machine only=$n max=$m ops=2000000 >/dev/null 2>&1
  t=$(callgrind_annotate $f 2>/dev/null | grep -m1 'PROGRAM TOTALS' | awk '{gsub(",","",$1); print $1}')
  echo "$m pk $n $t $(python3 -c "print('%.1f' % ($t/2000000))")"
 done
done
