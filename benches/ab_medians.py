#!/usr/bin/env python3
"""Medians of `benches/ab.sh fr-time` or `fr-env` output:
python3 benches/ab_medians.py FILE.

fr-time: each round ran builds `a` and `b` and talc once per size. For
every size this prints the median of each one's ops/s and the medians of
the per-round ratios b/a, a/talc and b/talc (ratios of runs made next to
each other, which the machine's drift between rounds does not move), with
the first and third quartiles of b/a. Rounds that miss a run are left out.

fr-env (names other than `a` and `b`): for every size, each name's median
ratio over talc in the same round, with its quartiles.
"""
import collections
import statistics
import sys


def quartiles(xs):
    """First quartile, median, third quartile."""
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4)
    return q[0], q[1], q[2]


def main(path):
    runs = collections.defaultdict(dict)
    for line in open(path):
        parts = line.split()
        if len(parts) != 4 or line.startswith("#") or not parts[3].isdigit():
            continue
        rnd, size, name, ops = parts
        runs[(rnd, int(size))][name] = int(ops)
    names = {n for v in runs.values() for n in v} - {"talc"}
    if names != {"a", "b"}:
        env_medians(runs, names)
        return
    for size in sorted({s for _, s in runs}):
        rounds = [v for (_, s), v in runs.items() if s == size and len(v) == 3]
        if not rounds:
            continue
        med = lambda f: statistics.median(f(r) for r in rounds)
        lo, mid, hi = quartiles([r["b"] / r["a"] for r in rounds])
        print(
            f"{size:>6} B  a {med(lambda r: r['a']) / 1e6:6.1f} M  b {med(lambda r: r['b']) / 1e6:6.1f} M"
            f"  talc {med(lambda r: r['talc']) / 1e6:6.1f} M  a/talc {med(lambda r: r['a'] / r['talc']):.3f}"
            f"  b/talc {med(lambda r: r['b'] / r['talc']):.3f}  b/a {mid:.3f} ({lo:.3f}-{hi:.3f})  n={len(rounds)}"
        )


def env_medians(runs, names):
    """fr-env: each name's median ratio over talc, per size."""
    for size in sorted({s for _, s in runs}):
        line = [f"{size:>6} B"]
        for name in sorted(names):
            ratios = [
                v[name] / v["talc"]
                for (_, s), v in runs.items()
                if s == size and name in v and v.get("talc")
            ]
            if ratios:
                lo, mid, hi = quartiles(ratios)
                line.append(f"{name}/talc {mid:.3f} ({lo:.3f}-{hi:.3f}) n={len(ratios)}")
        print("  ".join(line))


if __name__ == "__main__":
    main(sys.argv[1])
