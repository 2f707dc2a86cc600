# Medians of the per-round values and ratios of a speed*.sh output: python3 med.py FILE ("base" and "new" columns; rename others with sed first)
import collections,statistics,sys
rows=[l.split() for l in open(sys.argv[1]) if not l.startswith('#')]
by=collections.defaultdict(dict)
for r,m,c,v in rows: by[(r,m)][c]=int(v)
for m in sorted({k[1] for k in by}, key=int):
    rs=[by[k] for k in by if k[1]==m and len(by[k])==3]
    med=lambda f: statistics.median(f(x) for x in rs)
    print(f"{m:>6} B  before {med(lambda x:x['base']/1e6):6.1f} M  after {med(lambda x:x['new']/1e6):6.1f} M  talc {med(lambda x:x['talc']/1e6):6.1f} M  before/talc {med(lambda x:x['base']/x['talc']):.3f}  after/talc {med(lambda x:x['new']/x['talc']):.3f}  after/before {med(lambda x:x['new']/x['base']):.3f}  (n={len(rs)})")
