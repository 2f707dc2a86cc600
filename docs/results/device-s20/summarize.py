# Medians and ratios of run.sh's outputs: python3 summarize.py (in this folder).
import collections, csv, math, re, statistics as st


def geo(xs):
    return math.exp(sum(map(math.log, xs)) / len(xs))


def fixed_region(path="fixed_region.txt"):
    """Each stream-round's ops/s over talc's in the same round, per size."""
    by = collections.defaultdict(dict)
    for line in open(path):
        s, r, m, a, o = line.split()
        by[(s, r, int(m))][a] = int(o)
    print("fixed_region, ops/s x talc (median [quartiles]) over the rounds")
    for m in sorted({k[2] for k in by}):
        keys = [k for k in by if k[2] == m and len(by[k]) == 4]
        cells = []
        for a in ["masu-core", "masu-core/compact", "rlsf"]:
            rs = [by[k][a] / by[k]["talc"] for k in keys]
            q = st.quantiles(rs, n=4)
            cells.append(f"{a} {st.median(rs):.3f} [{q[0]:.3f}-{q[2]:.3f}]")
        talc = st.median(by[k]["talc"] for k in keys) / 1e6
        print(f"{m:>6} B n={len(keys)}  " + "  ".join(cells) + f"  talc {talc:.1f} M/s")


def pair_table(title, runs, key_a, key_b):
    """runs: {(test, lib): [values]}; prints medians and the b/a ratio."""
    print(title)
    ratios = []
    for test in dict.fromkeys(t for t, _ in runs):
        a, b = runs[(test, key_a)], runs[(test, key_b)]
        r = st.median(b) / st.median(a)
        ratios.append(r)
        print(f"{test:>16} {key_a} {st.median(a):8.3f}  {key_b} {st.median(b):8.3f}  x {r:.3f}  (n={len(a)}/{len(b)})")
    print(f"{'geometric mean':>16} x {geo(ratios):.3f}  worst x {max(ratios):.3f}")


def masu_bench(path="masu_bench.csv"):
    runs = collections.defaultdict(list)
    for row in csv.DictReader(open(path)):
        runs[(row["workload"], row["lib"])].append(float(row["secs"]))
    pair_table("masu-bench workloads (masu-work WORKLOAD full, wall s), secure / default", runs, "default", "secure")


def suite(path="suite.log"):
    runs = collections.defaultdict(list)
    for line in open(path):
        m = re.match(r"\s*(\S+)\s+(\S+) rep \d+: time ([0-9.]+)", line)
        if m:
            runs[(m[1], {"masu": "default", "masu-secure": "secure"}[m[2]])].append(float(m[3]))
    pair_table("mimalloc-bench (16 threads), secure / default", runs, "default", "secure")


fixed_region()
print()
masu_bench()
print()
suite()
