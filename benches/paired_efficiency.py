#!/usr/bin/env python3
"""Paired comparison of heap efficiencies from fixed_region's trials.

    benches/paired_efficiency.py A.csv[:NAME] B.csv[:NAME] [MAX...]

Each file is an `efficiency-trials.csv` written by
`fixed_region ... csv=DIR` (allocator,max,trial,efficiency), or the same
gzipped (`.gz`). Trial `t`
runs the same seed for every allocator, so the difference of two
allocators' trial `t` is one paired sample: the standard error of the mean
difference is far below either mean's own (the seeds' spread cancels).

With NAME, the rows of that allocator only (so one file can hold both
sides: `trials.csv:masu-core/compact trials.csv:talc`); without, the file
must hold one allocator. Prints, per largest request size: the two means
and the mean difference A - B with its standard error, in points of the
region.
"""
import csv
import gzip
import math
import statistics
import sys


def load(spec):
    path, _, name = spec.partition(":")
    rows = {}
    names = set()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        for r in csv.DictReader(f):
            if name and r["allocator"] != name:
                continue
            names.add(r["allocator"])
            rows[(int(r["max"]), int(r["trial"]))] = float(r["efficiency"])
    if len(names) != 1:
        sys.exit(f"{spec}: {len(names)} allocators ({sorted(names)}); name one")
    return names.pop(), rows


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    (na, a), (nb, b) = load(sys.argv[1]), load(sys.argv[2])
    wanted = {int(m) for m in sys.argv[3:]}
    maxes = sorted({m for m, _ in a} & {m for m, _ in b})
    print(f"max_B mean_A mean_B A-B sem trials  (A = {na}, B = {nb}; points)")
    for m in maxes:
        if wanted and m not in wanted:
            continue
        keys = sorted(k for k in a if k[0] == m and k in b)
        if len(keys) < 2:
            continue
        d = [100 * (a[k] - b[k]) for k in keys]
        sem = statistics.stdev(d) / math.sqrt(len(d))
        ma = 100 * statistics.mean(a[k] for k in keys)
        mb = 100 * statistics.mean(b[k] for k in keys)
        print(f"{m} {ma:.3f} {mb:.3f} {statistics.mean(d):+.3f} {sem:.3f} {len(d)}")


main()
