import statistics as st, collections, math, sys
t=collections.defaultdict(lambda: collections.defaultdict(dict))
for l in open(sys.argv[1]):
    r,wl,name,v=l.split(); t[wl][name][int(r)]=float(v)
gm=[];gb=[]
for wl in t:
    d=t[wl]['def']; s=t[wl]['secure']
    pm=st.median(s[r]/d[r] for r in d); b=min(s.values())/min(d.values())
    gm.append(pm); gb.append(b)
    print(f"{wl:18} def med {st.median(d.values()):.2f} best {min(d.values()):.2f}  secure med {st.median(s.values()):.2f} best {min(s.values()):.2f}  paired {pm:.3f}  best-of {b:.3f}")
g=lambda v: math.exp(sum(map(math.log,v))/len(v))
print(f"geomean paired {g(gm):.3f} best-of {g(gb):.3f}")
