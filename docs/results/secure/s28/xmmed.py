import sys,re,statistics,collections
d=collections.defaultdict(dict)
for l in open(sys.argv[1]):
    m=re.match(r'(\d+) (\S+) rtime: ([\d.]+)',l)
    if m: d[m.group(2)][int(m.group(1))]=float(m.group(3))
names=list(d)
base=sys.argv[2] if len(sys.argv)>2 else names[0]
for n in names:
    v=list(d[n].values())
    rs=[d[n][r]/d[base][r] for r in d[n] if r in d[base]]
    rs.sort()
    q=lambda p: rs[min(len(rs)-1,int(p*len(rs)))]
    print(f"{n:10s} n={len(v)} median {statistics.median(v):.3f}  min {min(v):.3f} max {max(v):.3f}  paired/{base} median {statistics.median(rs):.3f} q25 {q(0.25):.3f} q75 {q(0.75):.3f}")
