import csv,sys,statistics,math,collections
rows=list(csv.DictReader(open(sys.argv[1])))
base=sys.argv[2]; others=sys.argv[3:]
t=collections.defaultdict(dict)
for r in rows:
    try: v=float(r['time'])
    except: continue
    t[(r['test'],r['allocator'])][int(r['rep'])]=v
tests=sorted({k[0] for k in t},key=lambda x:[r['test'] for r in rows].index(x))
def pm(a,b):
    reps=sorted(set(t[(x,a)]) & set(t[(x,b)]))
    return statistics.median(t[(x,a)][i]/t[(x,b)][i] for i in reps)
print('test', *[f'{o}/{base}' for o in others], *( [f'{others[1]}/{others[0]}'] if len(others)>1 else []))
g=collections.defaultdict(list)
for x in tests:
    vals=[pm(o,base) for o in others]
    if len(others)>1: vals.append(pm(others[1],others[0]))
    for i,v in enumerate(vals): g[i].append(v)
    print(x, *[f'{v:.3f}' for v in vals])
print('geomean', *[f'{math.exp(sum(map(math.log,g[i]))/len(g[i])):.3f}' for i in sorted(g)])
