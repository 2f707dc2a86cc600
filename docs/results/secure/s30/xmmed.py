import sys,statistics,re
rows=[]
for l in open(sys.argv[1]):
    d=dict(re.findall(r'(\S+) ([0-9.]+) \|',l))
    if d: rows.append({k:float(v) for k,v in d.items()})
base=sys.argv[2]
for other in sys.argv[3:]:
    r=[x[other]/x[base] for x in rows if other in x and base in x]
    print(f"{other}/{base}: median {statistics.median(r):.3f} over {len(r)} rounds ({' '.join(f'{v:.2f}' for v in r)})")
