#!/bin/bash
# callgrind instructions per operation (2,000,000 operations), before/after
cd /tmp/s19
for m in 200 1000 3000 10000 30000; do
 for a in base:masu-core/compact new:masu-core/compact base:masu-core new:masu-core base:masu-core/small new:masu-core/small base:talc base:rlsf; do
  b=${a%%:*}; n=${a#*:}; f=r/cg.$b.$(echo $n|tr / _).$m
  valgrind --tool=callgrind --callgrind-out-file=$f --toggle-collect='*Runner*speed*' ./fr_$b quick machine only=$n max=$m ops=2000000 >/dev/null 2>&1
  t=$(callgrind_annotate $f 2>/dev/null | grep -m1 'PROGRAM TOTALS' | awk '{gsub(",","",$1); print $1}')
  echo "$m $b $n $t $(python3 -c "print('%.1f' % ($t/2000000))")"
 done
done
